"""The Web Connector protocol state machine.

authenticate -> (sendRequestXML -> receiveResponseXML)* -> closeConnection, with connectionError and
getLastError on the side. Every method returns the protocol value the Web Connector expects; state
lives in the database (sessions, the connection's live-session lease, jobs), never in memory.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from qbwc_service import editions, processes, queue, retrieve
from qbwc_service.authentication import Authenticator, AuthLimits
from qbwc_service.clock import SYSTEM_CLOCK, Clock
from qbwc_service.db import rows
from qbwc_service.db.enums import EventKind, SessionState
from qbwc_service.db.models import Connection, Event, WebConnectorSession
from qbwc_service.exchange import Exchange, Live, SettlingFailed
from qbwc_service.kinds import REGISTRY, Registry
from qbwc_service.outages import CUT_OFF_REASON, CutOffSessions, retried, retried_for_session
from qbwc_service.processes import ProcessIdentity
from qbwc_service.qbxml.errors import QbxmlError
from qbwc_service.qbxml.response import parse_host_info
from qbwc_service.qbxml.status import hresult_hint
from qbwc_service.qbxml.versions import format_version, negotiate, parse_version
from qbwc_service.settings import Settings

log = logging.getLogger(__name__)

OPEN, IDLE, CLOSED, EXPIRED = SessionState.OPEN, SessionState.IDLE, SessionState.CLOSED, SessionState.EXPIRED
IDLE_RETENTION = timedelta(days=1)
PROGRESS_HORIZON = 200
"""receiveResponseXML's percentage counts the jobs still due up to this many."""
# connectionError hresults of a company file the Web Connector could not open (another mode or file; not found).
_FILE_NOT_OPENED = frozenset({"0x80040410", "0x80040417"})
UNKNOWN_TICKET = (
    "Unknown or expired session ticket. The Web Connector will start a new session on its next run."
)


class WebConnectorSessions:
    """The protocol, over a database. One instance serves every connection."""

    def __init__(self, sessions: sessionmaker[DbSession], settings: Settings, clock: Clock = SYSTEM_CLOCK,
                 registry: Registry = REGISTRY, process: ProcessIdentity | None = None) -> None:
        self.process = process or processes.this_process()
        """This process, as the sessions it serves record it (see processes.py)."""
        self.cut_off = CutOffSessions()
        """Sessions whose end the database kept from being recorded (outages.py)."""
        self._db = sessions
        self._settings = settings
        self._clock = clock
        self._timeout = timedelta(seconds=settings.session_timeout_seconds)
        self._renew_after = renewal_interval(settings)
        self._our_version = parse_version(settings.max_qbxml_version) or (13, 0)
        self._queue = queue.JobQueue.for_settings(settings, clock)
        self._exchange = Exchange(settings, clock, self._queue, registry)
        self._authenticator = Authenticator(AuthLimits.for_settings(settings))

    @property
    def database_retry_seconds(self) -> float:
        return self._settings.database_retry_seconds

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

    @retried
    def authenticate(
        self, username: str | None, password: str | None, client_version: str | None = None, address: str = ""
    ) -> list[str]:
        with self._tx() as db:
            now = self._clock.now()
            connection = self._authenticator.admit(db, username or "", password or "", address, now)
            if connection is None:
                return ["", "nvu"]
            if client_version:
                connection.client_version = client_version
            self._expire_stale(db, connection, now, address)
            if connection.live_ticket is None:
                # No session is live: whatever an ended one left in flight lost its answer.
                self._exchange.lose(db, queue.orphaned(db, connection.id, None), "its session ended without an "
                                    "answer (token rotated, or the session replaced)", None)
            # An automatic retrieve due now is queued before the session takes any work, so it is part of it.
            retrieve.queue_automatic(db, self._queue, connection, now)
            ticket = secrets.token_hex(16)
            if self._queue.due_at_most(db, connection.id, 1) == 0:
                # The Web Connector polls every few minutes: an idle poll leaves a session row (its
                # closeConnection needs it) but no event, and idle rows older than a day are dropped.
                self._prune_idle(db, connection, now)
                self._new_session(db, connection, ticket, IDLE, now)
                return [ticket, "none", "", str(self._settings.idle_min_run_seconds)]
            if not self._take_lease(db, connection, ticket, now):
                self._new_session(db, connection, ticket, IDLE, now)
                db.add(Event(at=now, connection_id=connection.id, ticket=ticket, kind=EventKind.SESSION_BUSY))
                return [ticket, "busy"]
            self._new_session(db, connection, ticket, OPEN, now, address)
            db.add(Event(at=now, connection_id=connection.id, ticket=ticket, kind=EventKind.SESSION_OPENED))
            log.info("session opened", extra={"ticket": ticket, "connection": connection.name})
            return [ticket, connection.company_file or ""]

    # ---------------------------------------------------------------- the exchange loop

    @retried_for_session
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
            # The company file is checked first: a wrong file must not teach the connection anything.
            refusal = self._pin_company_file(db, connection, company_file_name)
            if refusal:
                return self._refuse(db, live, refusal)
            if hcp_response:
                self._learn_host(connection, hcp_response)
            editions.learn_client_country(connection, country)
            reported = (major, minor) if major is not None and minor is not None else None
            version = negotiate(self._our_version, connection.qbxml_versions or [], reported)
            connection.qbxml_version = format_version(version)
            session.company_file = company_file_name or session.company_file
            return self._exchange.next_message_set(db, live, version)

    @retried_for_session
    def receive_response_xml(
        self, ticket: str | None, response: str | None, hresult: str | None, message: str | None
    ) -> int:
        try:
            return self._receive(ticket, response, hresult, message, one_by_one=False)
        except SettlingFailed as failed:
            log.error("processing an answer failed; settling the jobs one by one", exc_info=failed.__cause__,
                      extra={"ticket": failed.ticket})
            return self._receive(ticket, response, hresult, message, one_by_one=True)

    def _receive(self, ticket: str | None, response: str | None, hresult: str | None, message: str | None, *,
                 one_by_one: bool) -> int:
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
                self._exchange.set_failed(db, live, in_flight, hresult, message or "")
                db.add(Event(at=self._clock.now(), connection_id=connection.id, ticket=session.ticket,
                             kind=EventKind.MESSAGE_SET_FAILED, detail=session.last_error))
                return -1
            self._exchange.apply(db, live, in_flight, response or "", one_by_one=one_by_one)
            now = self._clock.now()
            if connection.last_exchange_at is None or now - connection.last_exchange_at >= self._renew_after:
                connection.last_exchange_at = now  # as fresh as the lease: an UPDATE now and then, not every call
            return self._percent(db, live)

    def _percent(self, db: DbSession, live: Live) -> int:
        """The share of the session's work done: the jobs it settled against those still due, counted up to
        :data:`PROGRESS_HORIZON` (a deep queue shows slow progress, and a call never counts the whole queue)."""
        remaining = self._queue.due_at_most(db, live.connection.id, PROGRESS_HORIZON)
        if remaining == 0:
            return 100
        handled = live.session.jobs_done + live.session.jobs_failed
        return max(0, min(99, (100 * handled) // (handled + remaining)))

    # ---------------------------------------------------------------- the side calls

    @retried_for_session
    def connection_error(self, ticket: str | None, hresult: str | None, message: str | None) -> str:
        with self._tx() as db:
            found = _session_and_connection(db, ticket)
            hint = hresult_hint(hresult or "")
            text = f"{hresult or ''}: {message or ''} {hint}".strip()
            if found is None:
                return "done"
            session, connection = found
            if connection.company_file and (hresult or "").strip().lower() in _FILE_NOT_OPENED:
                text = f"{text} The connection is pinned to {connection.company_file!r}. {_moved_hint(connection)}"
            session.last_error = text
            connection.last_connection_error = text
            connection.last_contact_at = self._clock.now()
            db.add(Event(at=self._clock.now(), connection_id=connection.id, ticket=session.ticket,
                         kind=EventKind.CONNECTION_ERROR, detail=text))
            log.warning("connection error", extra={"ticket": session.ticket, "hresult": hresult})
            # The Web Connector opens QuickBooks before it asks for requests: nothing sent under this ticket
            # reached QuickBooks.
            self._exchange.not_reached(db, queue.sent_under(db, session.ticket), text, session)
            self._end(db, session, connection, CLOSED, "the Web Connector could not reach QuickBooks")
            return "done"

    @retried_for_session
    def get_last_error(self, ticket: str | None) -> str:
        with self._tx() as db:
            session = _session(db, ticket)
            if session is None:
                return UNKNOWN_TICKET
            if session.last_error:
                return session.last_error
            if session.state != OPEN or session.expires_at < self._clock.now():
                return UNKNOWN_TICKET
            return "Nothing left to send to QuickBooks."

    def holds_session(self, ticket: str | None) -> bool:
        """Whether ``ticket`` is an open session's that has not expired. Only reads (the SOAP transport asks
        before it reads a large body)."""
        with self._db() as db:
            session = _session(db, ticket)
            return session is not None and session.state == OPEN and session.expires_at >= self._clock.now()

    @retried_for_session
    def close_connection(self, ticket: str | None) -> str:
        with self._tx() as db:
            found = _session_and_connection(db, ticket)
            if found is None:
                return UNKNOWN_TICKET
            session, connection = found
            connection.last_contact_at = self._clock.now()
            if session.state == IDLE:
                session.state, session.closed_at = CLOSED, self._clock.now()
            elif session.state == OPEN:
                self._end(db, session, connection, CLOSED, "the session closed before QuickBooks answered")
            if session.last_error:
                return f"Finished with an error: {session.last_error}"[:1000]
            return f"OK: {session.jobs_done} done, {session.jobs_failed} failed"

    # ---------------------------------------------------------------- session bookkeeping

    def _new_session(
        self, db: DbSession, connection: Connection, ticket: str, state: SessionState, now: datetime, address: str = ""
    ) -> None:
        db.add(WebConnectorSession(ticket=ticket, connection_id=connection.id, state=state, created_at=now,
                       client_address=address or None, process_id=self.process.id,
                       last_activity_at=now, expires_at=now + self._timeout, message_sets=0,
                       jobs_done=0, jobs_failed=0))

    def _prune_idle(self, db: DbSession, connection: Connection, now: datetime) -> None:
        db.execute(
            delete(WebConnectorSession)
            .where(WebConnectorSession.connection_id == connection.id, WebConnectorSession.message_sets == 0,
                   WebConnectorSession.state.in_((IDLE, CLOSED)), WebConnectorSession.last_error.is_(None),
                   WebConnectorSession.created_at < now - IDLE_RETENTION)
            .execution_options(synchronize_session=False)
        )

    def _take_lease(self, db: DbSession, connection: Connection, ticket: str, now: datetime) -> bool:
        """One live session per connection: a conditional update, atomic on every engine. When it took the lease, the
        loaded connection is told what it wrote (as read from the database, so not written again); when it did not,
        the connection is read again."""
        until = now + self._timeout
        result = db.execute(
            update(Connection)
            .where(Connection.id == connection.id,
                   or_(Connection.live_ticket.is_(None), Connection.live_until < now))
            .values(live_ticket=ticket, live_until=until)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) != 1:
            db.refresh(connection)
            return False
        set_committed_value(connection, "live_ticket", ticket)
        set_committed_value(connection, "live_until", until)
        return True

    def _expire_stale(self, db: DbSession, connection: Connection, now: datetime, address: str) -> None:
        """End the live session when it cannot be alive any more: it expired; the database failed it (its Web
        Connector was told it failed, see outages.py); or the same Web Connector (same address) comes
        back, which runs one session at a time, after the session went quiet or while the process that served it
        is gone. Another Web Connector gets 'busy' until the session expires or is known to have failed."""
        if not connection.live_ticket:
            return
        live = _session(db, connection.live_ticket)
        if connection.live_until and connection.live_until < now:
            if live is not None:
                self._end(db, live, connection, EXPIRED, "the session expired before QuickBooks answered")
            return
        if live is None:
            return
        if live.ticket in self.cut_off:  # forgotten once its end is committed (end_cut_off_sessions)
            self._end(db, live, connection, EXPIRED, CUT_OFF_REASON)
            return
        if not address or live.client_address != address:
            return
        if live.last_activity_at <= now - timedelta(seconds=self._settings.session_takeover_seconds):
            self._end(db, live, connection, EXPIRED, "the same Web Connector started a new session")
        elif processes.is_gone(db, live.process_id, self.process, now):
            self._end(db, live, connection, EXPIRED, "the same Web Connector started a new session, and the "
                      "service process that served the old one is gone")

    def end_cut_off_sessions(self) -> int:
        """Record the end of the sessions the database cut off (outages.py), now that it answers;
        how many were still open. A ticket stays noted while its end cannot be recorded."""
        ended = 0
        for ticket in self.cut_off.tickets():
            with self._tx() as db:
                found = _session_and_connection(db, ticket)
                if found is not None and found[0].state == OPEN:
                    self._end(db, *found, EXPIRED, CUT_OFF_REASON)
                    ended += 1
            self.cut_off.forget(ticket)
        return ended

    def _live(self, db: DbSession, ticket: str | None) -> Live | None:
        found = _session_and_connection(db, ticket)
        if found is None:
            return None
        session, connection = found
        if session.state != OPEN:
            return None
        now = self._clock.now()
        if connection.live_ticket != session.ticket:
            # The token was rotated or revoked, or another session took over.
            self._end(db, session, connection, EXPIRED, "the session was ended by the service")
            return None
        if session.expires_at < now:
            self._end(db, session, connection, EXPIRED, "the session expired before QuickBooks answered")
            return None
        if now - session.last_activity_at >= self._renew_after or session.process_id != self.process.id:
            # Renewed when a fraction of its lifetime has passed, not on every call: two UPDATEs a call otherwise.
            session.last_activity_at = connection.last_contact_at = now
            session.expires_at = connection.live_until = now + self._timeout
            session.process_id = self.process.id
        return Live(session, connection)

    def _end(self, db: DbSession, session: WebConnectorSession, connection: Connection, state: SessionState,
             reason: str) -> None:
        in_flight = queue.sent_under(db, session.ticket)
        self._exchange.lose(db, in_flight, reason, session)
        session.state = state
        session.closed_at = self._clock.now()
        if connection.live_ticket == session.ticket:
            connection.live_ticket = None
            connection.live_until = None
        db.add(Event(at=self._clock.now(), connection_id=connection.id, ticket=session.ticket,
                     kind=EventKind.session_ended(state)))
        cut_short = state != CLOSED or bool(in_flight)
        log.log(logging.WARNING if cut_short else logging.INFO,
                "session %s: %d message sets, %d jobs done, %d failed, %d without an answer", state,
                session.message_sets, session.jobs_done, session.jobs_failed, len(in_flight),
                extra={"ticket": session.ticket, "connection": connection.name,
                       "reason": reason if cut_short else None})

    def _refuse(self, db: DbSession, live: Live, reason: str) -> str:
        live.session.last_error = reason
        db.add(Event(at=self._clock.now(), connection_id=live.connection.id, ticket=live.session.ticket,
                     kind=EventKind.SESSION_REFUSED, detail=reason))
        log.warning("session refused", extra={"ticket": live.session.ticket, "reason": reason})
        return ""

    def _learn_host(self, connection: Connection, hcp_response: str) -> None:
        try:
            info = parse_host_info(hcp_response)
        except QbxmlError as exc:
            log.warning("unreadable strHCPResponse", extra={"connection": connection.name, "error": str(exc)})
            return
        connection.qb_product = info.product or connection.qb_product
        connection.qb_major_version = info.major_version or connection.qb_major_version
        editions.learn_host_country(connection, info.country)
        connection.company_name = info.company_name or connection.company_name
        if info.supported_versions:
            connection.qbxml_versions = info.supported_versions

    def _pin_company_file(self, db: DbSession, connection: Connection, company_file: str | None) -> str | None:
        """The first company file seen is pinned; a different one is refused, never written to."""
        if not company_file:
            return None
        if connection.company_file is None:
            connection.company_file = company_file
            db.add(Event(at=self._clock.now(), connection_id=connection.id, kind=EventKind.COMPANY_FILE_PINNED,
                         detail=company_file))
            return None
        if _same_path(connection.company_file, company_file):
            return None
        return (
            f"This Web Connector has company file {company_file!r} open, but connection "
            f"{connection.name!r} is pinned to {connection.company_file!r}. Nothing was sent. Open the "
            "pinned company file in QuickBooks, or pair the other file as a connection of its own. "
            + _moved_hint(connection)
        )


RENEWAL_FRACTION = 8
"""A live session's lease (and its activity time) is written again once an eighth of the shorter of its lifetime
and the takeover time has passed (15 s with the defaults), instead of on every call."""


def renewal_interval(settings: Settings) -> timedelta:
    """How old a lease may be before a call renews it: never so old that the session could expire or be taken over
    while its Web Connector is busy with it."""
    spans = [settings.session_timeout_seconds, settings.session_takeover_seconds or settings.session_timeout_seconds]
    return timedelta(seconds=min(spans) / RENEWAL_FRACTION)


_SESSIONS, _CONNECTIONS = rows.table_of(WebConnectorSession), rows.table_of(Connection)
_SESSION_NAMES = tuple(column.name for column in _SESSIONS.c)
_CONNECTION_NAMES = tuple(column.name for column in _CONNECTIONS.c)
_SESSION_WIDTH = len(_SESSION_NAMES)
_SESSION_AND_CONNECTION = (
    select(*_SESSIONS.c, *_CONNECTIONS.c)
    .join_from(_SESSIONS, _CONNECTIONS, _CONNECTIONS.c.id == _SESSIONS.c.connection_id)
    .where(_SESSIONS.c.ticket == bindparam("live_ticket"))
)
"""A call naming a ticket reads its session and the connection in one statement, as row records (db/rows.py)."""


def _session_and_connection(db: DbSession, ticket: str | None) -> tuple[WebConnectorSession, Connection] | None:
    """A ticket's session and its connection, in one statement, as row records (db/rows.py); None for a ticket that
    names no session."""
    if not ticket or len(ticket) > 64:
        return None
    rows.write(db)
    found = db.connection().execute(_SESSION_AND_CONNECTION, {"live_ticket": ticket}).first()
    if found is None:
        return None
    (session,) = rows.records(db, WebConnectorSession, [found[:_SESSION_WIDTH]], _SESSION_NAMES)
    (connection,) = rows.records(db, Connection, [found[_SESSION_WIDTH:]], _CONNECTION_NAMES)
    return session, connection


def _session(db: DbSession, ticket: str | None) -> WebConnectorSession | None:
    if not ticket or len(ticket) > 64:
        return None
    return db.scalar(select(WebConnectorSession).where(WebConnectorSession.ticket == ticket))


def _moved_hint(connection: Connection) -> str:
    return (f"If this is the same company on another computer (or at another path), run `qbwc-service "
            f"connection unpin {connection.name!r}` or make a new token: the next session pins the file it opens.")


def _same_path(a: str, b: str) -> bool:
    return a.replace("/", "\\").strip().lower() == b.replace("/", "\\").strip().lower()


def _version_tuple(text: str) -> tuple[int, ...] | None:
    parts = text.strip().split(".")
    if not parts or not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)
