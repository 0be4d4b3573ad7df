"""The Web Connector protocol state machine.

authenticate -> (sendRequestXML -> receiveResponseXML)* -> closeConnection, with connectionError and
getLastError on the side. Every method returns the protocol value the Web Connector expects; state
lives in the database (sessions, the connection's live-session lease, jobs), never in memory.
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from lxml import etree
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from qbwc_service import connections, deliveries, jobkinds, pulls, queue, sync
from qbwc_service.db.engine import utcnow
from qbwc_service.db.models import Connection, Event, Job, Session
from qbwc_service.errors import InvalidJobPayload
from qbwc_service.qbxml.envelope import Request, build_message_set
from qbwc_service.qbxml.errors import QbxmlError
from qbwc_service.qbxml.limits import make_safe
from qbwc_service.qbxml.response import Response, materialize, parse_host_info
from qbwc_service.qbxml.schema import RequestValidator
from qbwc_service.qbxml.status import Action, explain, hresult_hint, verdict_for
from qbwc_service.qbxml.stream import ResponseHeader, iter_responses
from qbwc_service.qbxml.versions import Version, format_version, negotiate, parse_version
from qbwc_service.settings import Settings

log = logging.getLogger(__name__)

OPEN, IDLE, CLOSED, EXPIRED = "open", "idle", "closed", "expired"
UNKNOWN_TICKET = (
    "Unknown or expired session ticket. The Web Connector will start a new session on its next run."
)


@dataclass(frozen=True)
class Live:
    session: Session
    connection: Connection


class WebConnectorSessions:
    """The protocol, over a database. One instance serves every connection."""

    def __init__(self, sessions: sessionmaker[DbSession], settings: Settings) -> None:
        self._db = sessions
        self._settings = settings
        self._timeout = timedelta(seconds=settings.session_timeout_seconds)
        self._our_version = parse_version(settings.max_qbxml_version) or (13, 0)
        self._validator = RequestValidator(settings.qbxml_schema_dir) if settings.qbxml_schema_dir else None

    @contextmanager
    def _tx(self) -> Iterator[DbSession]:
        with self._db.begin() as db:
            yield db

    # ---------------------------------------------------------------- before a session

    def server_version(self) -> str:
        from qbwc_service import __version__

        return f"qbwc-service {__version__}"

    def client_version(self, version: str | None) -> str:
        """'' to go on, 'W:' below the recommended version, 'E:' below the minimum."""
        seen = _version_tuple(version or "")
        if seen is None:
            return ""
        if seen < _version_tuple(self._settings.minimum_client_version):  # type: ignore[operator]
            return (
                f"E:This service needs QuickBooks Web Connector {self._settings.minimum_client_version} "
                f"or newer (this is {version}). Please update the Web Connector."
            )
        if seen < _version_tuple(self._settings.recommended_client_version):  # type: ignore[operator]
            return (
                f"W:QuickBooks Web Connector {self._settings.recommended_client_version} or newer is "
                f"recommended (this is {version}). Continue, then update when you can."
            )
        return ""

    def authenticate(self, username: str | None, password: str | None, client_version: str | None = None) -> list[str]:
        with self._tx() as db:
            now = utcnow()
            connection = connections.find_by_username(db, username or "")
            if connection is None or not connections.token_matches(password or "", connection.token_hash):
                if connection is not None:
                    outcome = "revoked" if connection.revoked_at else "wrong-password"
                    connection.last_auth_at = connection.last_contact_at = now
                    connection.last_auth_outcome = outcome
                    db.add(Event(at=now, connection_id=connection.id, kind="auth-refused", detail=outcome))
                log.warning("authenticate refused", extra={"username": username})
                return ["", "nvu"]
            connection.last_auth_at = connection.last_contact_at = now
            connection.last_auth_outcome = "ok"
            if client_version:
                connection.client_version = client_version
            self._expire_stale(db, connection, now)
            ticket = secrets.token_hex(16)
            if queue.due_count(db, connection.id, now) == 0:
                self._new_session(db, connection, ticket, IDLE, now)
                db.add(Event(at=now, connection_id=connection.id, ticket=ticket, kind="session-idle"))
                return [ticket, "none", "", str(self._settings.idle_min_run_seconds)]
            if not self._take_lease(db, connection, ticket, now):
                self._new_session(db, connection, ticket, IDLE, now)
                db.add(Event(at=now, connection_id=connection.id, ticket=ticket, kind="session-busy"))
                return [ticket, "busy"]
            self._new_session(db, connection, ticket, OPEN, now)
            db.add(Event(at=now, connection_id=connection.id, ticket=ticket, kind="session-opened"))
            log.info("session opened", extra={"ticket": ticket, "connection": connection.name})
            return [ticket, connection.company_file or ""]

    # ---------------------------------------------------------------- the exchange loop

    def send_request_xml(
        self,
        ticket: str | None,
        hcp_response: str | None,
        company_file_name: str | None,
        country: str | None,
        major: int | None,
        minor: int | None,
    ) -> str:
        with self._tx() as db:
            live = self._live(db, ticket)
            if live is None:
                return ""
            session, connection = live.session, live.connection
            if hcp_response:
                refusal = self._learn_host(db, connection, hcp_response)
                if refusal:
                    return self._refuse(db, live, refusal)
            if country and not connection.qb_country:
                connection.qb_country = country
            refusal = self._pin_company_file(db, connection, company_file_name)
            if refusal:
                return self._refuse(db, live, refusal)
            reported = (major, minor) if major is not None and minor is not None else None
            version = negotiate(self._our_version, connection.qbxml_versions or [], reported)
            connection.qbxml_version = format_version(version)
            session.company_file = company_file_name or session.company_file
            return self._next_message_set(db, live, version)

    def _next_message_set(self, db: DbSession, live: Live, version: Version) -> str:
        refused: list[str] = []
        while True:
            text = self._build_message_set(db, live, version, refused)
            if text is not None:
                return text

    def _build_message_set(self, db: DbSession, live: Live, version: Version, refused: list[str]) -> str | None:
        """One message set of the next claimable jobs; None when every claimed job was refused (claim
        again); "" when nothing is left."""
        jobs = queue.claim_batch(db, live.connection.id, live.session.ticket, self._settings.batch_size)
        if not jobs:
            live.session.last_error = (
                f"Nothing was sent: {len(refused)} job(s) refused before sending. First: {refused[0]}"
                if refused else None
            )
            return ""
        context = jobkinds.BuildContext(
            version=version,
            ticket=live.session.ticket,
            mark=lambda job: deliveries.high_water(db, job.connection_id, job.payload.get("stream") or ""),
            db=db,
            connection=live.connection,
            sync_date=date.today(),
        )
        built: list[tuple[Job, list[etree._Element]]] = []
        for job in jobs:
            try:
                elements = jobkinds.build_requests(job, context)
                warnings = [w.message for element in elements for w in make_safe(element, version)]
            except (InvalidJobPayload, QbxmlError) as exc:
                queue.kill(db, job, response_xml=None, status_code=None, status_message=str(exc))
                refused.append(str(exc))
                continue
            job.warnings = warnings or None
            built.append((job, elements))
        built = self._valid_only(db, built, refused)
        requests = [Request(str(job.id), element) for job, elements in built for element in elements]
        queue.record_request(db, [job for job, _ in built], {
            job.id: "\n".join(etree.tostring(e, encoding="unicode") for e in elements) for job, elements in built
        })
        if not requests:
            return None
        live.session.message_sets += 1
        log.info(
            "message set sent",
            extra={"ticket": live.session.ticket, "connection": live.connection.name, "jobs": len(built)},
        )
        return build_message_set(requests, version)

    def _valid_only(
        self, db: DbSession, built: list[tuple[Job, list[etree._Element]]], refused: list[str]
    ) -> list[tuple[Job, list[etree._Element]]]:
        """With a schema configured, a job whose request does not validate is dead and never sent."""
        if self._validator is None or not built:
            return built
        flat = [(job, element) for job, elements in built for element in elements]
        problems = self._validator.problems([element for _, element in flat])
        invalid: dict[int, str] = {}
        for (job, _element), problem in zip(flat, problems, strict=True):
            if problem is not None and job.id not in invalid:
                invalid[job.id] = problem
        for job, _elements in built:
            if job.id in invalid:
                message = f"The request does not match Intuit's qbXML schema, so it was not sent: {invalid[job.id]}"
                queue.kill(db, job, response_xml=None, status_code=None, status_message=message)
                refused.append(message)
        return [(job, elements) for job, elements in built if job.id not in invalid]

    def receive_response_xml(
        self, ticket: str | None, response: str | None, hresult: str | None, message: str | None
    ) -> int:
        with self._tx() as db:
            live = self._live(db, ticket)
            if live is None:
                return -1
            session, connection = live.session, live.connection
            in_flight = queue.sent_under(db, session.ticket)
            if hresult:
                hint = hresult_hint(hresult)
                session.last_error = f"{hresult}: {message or ''} {hint}".strip()
                connection.last_connection_error = session.last_error
                for job in in_flight:
                    queue.mark_unknown(db, job, f"the message set failed with {hresult}: {message or ''}")
                db.add(Event(at=utcnow(), connection_id=connection.id, ticket=session.ticket,
                             kind="message-set-failed", detail=session.last_error))
                return -1
            self._apply(db, live, in_flight, response or "")
            connection.last_exchange_at = utcnow()
            return self._percent(db, live)

    def _apply(self, db: DbSession, live: Live, in_flight: list[Job], text: str) -> None:
        by_request_id = {str(job.id): job for job in in_flight}
        answers: dict[int, list[Response]] = defaultdict(list)
        pages: dict[int, tuple[ResponseHeader, pulls.Page]] = {}
        unmatched: list[str | None] = []
        try:
            for header, children in iter_responses(text):
                job = by_request_id.get(header.request_id or "")
                if job is None:
                    unmatched.append(header.request_id)
                elif job.kind == pulls.PULL and job.id not in pages:
                    pages[job.id] = (header, pulls.consume(db, job, children))
                else:
                    answers[job.id].append(materialize(header, children))
        except QbxmlError as exc:
            live.session.last_error = f"The response from QuickBooks could not be read: {exc}"
            log.warning("unreadable response", extra={"ticket": live.session.ticket, "error": str(exc)})
        for job in in_flight:
            if job.id in pages:
                header, page = pages[job.id]
                if pulls.finish_page(db, job, header, page, live.session.ticket) == "failed":
                    self._settle(db, live, job, header.status_code, header.status_severity,
                                 header.status_message, None)
                elif job.status == queue.DONE:
                    live.session.jobs_done += 1
            elif answers.get(job.id):
                self._answered(db, live, job, answers[job.id])
            else:
                self._no_answer(db, job)
        for request_id in unmatched:
            db.add(Event(at=utcnow(), connection_id=live.connection.id, ticket=live.session.ticket,
                         kind="response-unmatched", detail=f"requestID {request_id!r} matches no job in flight"))

    def _answered(self, db: DbSession, live: Live, job: Job, answers: list[Response]) -> None:
        if (job.cursor or {}).get("requery"):
            self._requeried(db, job, answers)
            return
        if job.kind in sync.KINDS:
            version = parse_version(live.connection.qbxml_version or "") or self._our_version
            if sync.settle(db, job, live.connection, answers, version, date.today()):
                if job.status == queue.DONE:
                    live.session.jobs_done += 1
                return
        outcome = jobkinds.summarize(job, answers)
        response_xml = "\n".join(a.text() for a in answers)
        decisive = outcome.decisive
        if decisive is None:
            first = answers[0]
            queue.complete(db, job, response_xml=response_xml, status_code=first.status_code,
                           status_message=first.status_message, result=outcome.result)
            live.session.jobs_done += 1
            self._after_done(db, live.connection, job)
            return
        self._settle(db, live, job, decisive.status_code, decisive.status_severity, decisive.status_message,
                     response_xml, outcome.result)

    def _settle(
        self,
        db: DbSession,
        live: Live,
        job: Job,
        code: str,
        severity: str,
        message: str,
        response_xml: str | None,
        result: dict[str, Any] | None = None,
    ) -> None:
        """Apply the status policy to a job QuickBooks answered with a non-OK status."""
        verdict = verdict_for(code, severity)
        text = explain(code, message, verdict)
        if verdict.action is Action.DONE:
            queue.complete(db, job, response_xml=response_xml, status_code=code, status_message=message,
                           result=result)
            live.session.jobs_done += 1
            return
        if verdict.action is Action.REQUERY:
            cursor = jobkinds.plan_requery(job)
            if cursor is not None:
                queue.continue_later(db, job, cursor, f"{message.strip()} Reading the record again first.")
                return
        live.session.jobs_failed += 1
        if verdict.action is Action.RETRY:
            queue.fail(db, job, response_xml=response_xml, status_code=code, status_message=text,
                       max_attempts=self._settings.max_attempts,
                       backoff_seconds=self._settings.retry_backoff_seconds)
        else:
            queue.kill(db, job, response_xml=response_xml, status_code=code, status_message=text)

    def _requeried(self, db: DbSession, job: Job, answers: list[Response]) -> None:
        """The answer to the read that follows a stale EditSequence: retry the Mod with the fresh one."""
        fresh = jobkinds.fresh_edit_sequence(answers)
        cursor = {**(job.cursor or {}), "requery": False}
        if fresh is None:
            first = answers[0]
            queue.kill(db, job, response_xml="\n".join(a.text() for a in answers), status_code=first.status_code,
                       status_message="The record this request modifies could not be read back from QuickBooks "
                       f"(it may have been deleted): {first.status_message}")
            job.cursor = cursor
            return
        cursor["edit_sequence"] = fresh
        queue.continue_later(db, job, cursor, f"Read EditSequence {fresh}; sending the change again.")

    def _no_answer(self, db: DbSession, job: Job) -> None:
        """QuickBooks answered the set but not this request (stopOnError, or an answer lost in it)."""
        reason = "QuickBooks returned no answer to this request"
        if job.read_only:
            queue.fail(db, job, response_xml=None, status_code=None, status_message=reason,
                       max_attempts=self._settings.max_attempts,
                       backoff_seconds=self._settings.retry_backoff_seconds)
        else:
            queue.mark_unknown(db, job, reason)

    def _after_done(self, db: DbSession, connection: Connection, job: Job) -> None:
        if job.kind == jobkinds.PROBE and job.result:
            result = job.result
            connection.company_name = result.get("company_name") or connection.company_name
            connection.qb_product = result.get("product") or connection.qb_product
            connection.qb_major_version = result.get("major_version") or connection.qb_major_version
            connection.qb_country = result.get("country") or connection.qb_country
            if result.get("supported_versions"):
                connection.qbxml_versions = result["supported_versions"]

    def _percent(self, db: DbSession, live: Live) -> int:
        remaining = queue.due_count(db, live.connection.id)
        if remaining == 0:
            return 100
        handled = live.session.jobs_done + live.session.jobs_failed
        return max(0, min(99, (100 * handled) // (handled + remaining)))

    # ---------------------------------------------------------------- the side calls

    def connection_error(self, ticket: str | None, hresult: str | None, message: str | None) -> str:
        with self._tx() as db:
            session = _session(db, ticket)
            hint = hresult_hint(hresult or "")
            text = f"{hresult or ''}: {message or ''} {hint}".strip()
            if session is None:
                return "done"
            connection = db.get(Connection, session.connection_id)
            assert connection is not None
            session.last_error = text
            connection.last_connection_error = text
            connection.last_contact_at = utcnow()
            db.add(Event(at=utcnow(), connection_id=connection.id, ticket=session.ticket,
                         kind="connection-error", detail=text))
            log.warning("connection error", extra={"ticket": session.ticket, "hresult": hresult})
            self._end(db, session, connection, CLOSED, "the Web Connector could not reach QuickBooks")
            return "done"

    def get_last_error(self, ticket: str | None) -> str:
        with self._tx() as db:
            session = _session(db, ticket)
            if session is None:
                return UNKNOWN_TICKET
            if session.last_error:
                return session.last_error
            if session.state != OPEN or session.expires_at < utcnow():
                return UNKNOWN_TICKET
            return "Nothing left to send to QuickBooks."

    def close_connection(self, ticket: str | None) -> str:
        with self._tx() as db:
            session = _session(db, ticket)
            if session is None:
                return UNKNOWN_TICKET
            connection = db.get(Connection, session.connection_id)
            assert connection is not None
            connection.last_contact_at = utcnow()
            if session.state in (OPEN, IDLE):
                self._end(db, session, connection, CLOSED, "the session closed before QuickBooks answered")
            if session.last_error:
                return f"Finished with an error: {session.last_error}"[:1000]
            return f"OK: {session.jobs_done} done, {session.jobs_failed} failed"

    # ---------------------------------------------------------------- session bookkeeping

    def _new_session(self, db: DbSession, connection: Connection, ticket: str, state: str, now: datetime) -> None:
        db.add(Session(ticket=ticket, connection_id=connection.id, state=state, created_at=now,
                       last_activity_at=now, expires_at=now + self._timeout, message_sets=0,
                       jobs_done=0, jobs_failed=0))

    def _take_lease(self, db: DbSession, connection: Connection, ticket: str, now: datetime) -> bool:
        """One live session per connection: a conditional update, atomic on every engine."""
        result = db.execute(
            update(Connection)
            .where(Connection.id == connection.id,
                   or_(Connection.live_ticket.is_(None), Connection.live_until < now))
            .values(live_ticket=ticket, live_until=now + self._timeout)
            .execution_options(synchronize_session=False)
        )
        db.refresh(connection)
        return bool(getattr(result, "rowcount", 0) == 1)

    def _expire_stale(self, db: DbSession, connection: Connection, now: datetime) -> None:
        if connection.live_ticket and connection.live_until and connection.live_until < now:
            stale = _session(db, connection.live_ticket)
            if stale is not None:
                self._end(db, stale, connection, EXPIRED, "the session expired before QuickBooks answered")

    def _live(self, db: DbSession, ticket: str | None) -> Live | None:
        session = _session(db, ticket)
        if session is None or session.state != OPEN:
            return None
        connection = db.get(Connection, session.connection_id)
        assert connection is not None
        now = utcnow()
        if connection.live_ticket != session.ticket:
            # The token was rotated or revoked, or another session took over.
            self._end(db, session, connection, EXPIRED, "the session was ended by the service")
            return None
        if session.expires_at < now:
            self._end(db, session, connection, EXPIRED, "the session expired before QuickBooks answered")
            return None
        session.last_activity_at = connection.last_contact_at = now
        session.expires_at = connection.live_until = now + self._timeout
        return Live(session, connection)

    def _end(self, db: DbSession, session: Session, connection: Connection, state: str, reason: str) -> None:
        queue.release_lost(db, queue.sent_under(db, session.ticket), reason)
        session.state = state
        session.closed_at = utcnow()
        if connection.live_ticket == session.ticket:
            connection.live_ticket = None
            connection.live_until = None
        db.add(Event(at=utcnow(), connection_id=connection.id, ticket=session.ticket, kind=f"session-{state}"))

    def _refuse(self, db: DbSession, live: Live, reason: str) -> str:
        live.session.last_error = reason
        db.add(Event(at=utcnow(), connection_id=live.connection.id, ticket=live.session.ticket,
                     kind="session-refused", detail=reason))
        log.warning("session refused", extra={"ticket": live.session.ticket, "reason": reason})
        return ""

    def _learn_host(self, db: DbSession, connection: Connection, hcp_response: str) -> str | None:
        try:
            info = parse_host_info(hcp_response)
        except QbxmlError as exc:
            log.warning("unreadable strHCPResponse", extra={"connection": connection.name, "error": str(exc)})
            return None
        connection.qb_product = info.product or connection.qb_product
        connection.qb_major_version = info.major_version or connection.qb_major_version
        connection.qb_country = info.country or connection.qb_country
        connection.company_name = info.company_name or connection.company_name
        if info.supported_versions:
            connection.qbxml_versions = info.supported_versions
        return None

    def _pin_company_file(self, db: DbSession, connection: Connection, company_file: str | None) -> str | None:
        """The first company file seen is pinned; a different one is refused, never written to."""
        if not company_file:
            return None
        if connection.company_file is None:
            connection.company_file = company_file
            db.add(Event(at=utcnow(), connection_id=connection.id, kind="company-file-pinned", detail=company_file))
            return None
        if _same_path(connection.company_file, company_file):
            return None
        return (
            f"This Web Connector has company file {company_file!r} open, but connection "
            f"{connection.name!r} is pinned to {connection.company_file!r}. Nothing was sent. Open the "
            "pinned company file in QuickBooks, or pair the other file as a connection of its own."
        )


def _session(db: DbSession, ticket: str | None) -> Session | None:
    if not ticket or len(ticket) > 64:
        return None
    return db.scalar(select(Session).where(Session.ticket == ticket))


def _same_path(a: str, b: str) -> bool:
    return a.replace("/", "\\").strip().lower() == b.replace("/", "\\").strip().lower()


def _version_tuple(text: str) -> tuple[int, ...] | None:
    parts = text.strip().split(".")
    if not parts or not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)
