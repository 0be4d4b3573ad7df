"""One exchange of a Web Connector session: the message set sent to QuickBooks, and what its answer does
to each job. Called by qbwc_service.sessions, inside its transaction; it decides nothing about tickets or
leases, and nothing about a job's kind: it asks the kind registry, and hands each settlement to the queue.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from lxml import etree
from sqlalchemy.orm import Session as DbSession

from qbwc_service.clock import Clock
from qbwc_service.connections import company_date
from qbwc_service.db import rows
from qbwc_service.db.enums import EventKind
from qbwc_service.db.faults import is_transient
from qbwc_service.db.models import Connection, Event, Job, WebConnectorSession
from qbwc_service.errors import InvalidInput
from qbwc_service.kinds import REGISTRY, Registry
from qbwc_service.kinds.base import Answer, BuildContext, SettleContext
from qbwc_service.qbxml.envelope import Request, build_message_set
from qbwc_service.qbxml.errors import QbxmlError
from qbwc_service.qbxml.limits import make_safe
from qbwc_service.qbxml.response import materialize
from qbwc_service.qbxml.schema import request_validator
from qbwc_service.qbxml.status import SetFailure, hresult_hint, hresult_key, set_failure
from qbwc_service.qbxml.stream import iter_responses
from qbwc_service.qbxml.versions import Version, parse_version
from qbwc_service.queue import JobQueue
from qbwc_service.settings import Settings
from qbwc_service.settlements import Continue, Dead, Lost

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Live:
    """A session whose ticket is valid, with its connection."""

    session: WebConnectorSession
    connection: Connection


class SettlingFailed(Exception):
    """Settling a message set's answers failed unexpectedly (not the database): what the call wrote is to be rolled
    back, and the call made again with each job settled on its own (:meth:`Exchange.apply`, ``one_by_one``)."""

    def __init__(self, ticket: str) -> None:
        super().__init__(f"settling the answers of session {ticket} failed")
        self.ticket = ticket


class Outgoing(NamedTuple):
    """A claimed job's requests, as its kind built them, with what the queue records when they are sent."""

    job: Job
    requests: list[etree._Element]
    progress: Any
    warnings: list[str]
    looks_up: bool


class Exchange:
    def __init__(self, settings: Settings, clock: Clock, job_queue: JobQueue, registry: Registry = REGISTRY) -> None:
        self.settings = settings
        self.clock = clock
        self.queue = job_queue
        self.registry = registry
        self.our_version = parse_version(settings.max_qbxml_version) or (13, 0)
        self.validator = request_validator(settings.qbxml_schema_dir, enabled=settings.qbxml_schema_gate)

    # ---------------------------------------------------------------- out

    def next_message_set(self, db: DbSession, live: Live, version: Version) -> str:
        refused: list[str] = []
        while True:
            text = self._build_message_set(db, live, version, refused)
            if text is not None:
                return text

    def _build_message_set(self, db: DbSession, live: Live, version: Version, refused: list[str]) -> str | None:
        """One message set of the next claimable jobs; None when every claimed job was refused (claim
        again); "" when nothing is left."""
        jobs = self.queue.claim_batch(db, live.connection.id, live.session.ticket, self.settings.batch_size)
        if not jobs:
            live.session.last_error = (
                f"Nothing was sent: {len(refused)} job(s) refused before sending. First: {refused[0]}"
                if refused else None
            )
            return ""
        context = BuildContext(db=db, connection=live.connection, version=version, ticket=live.session.ticket,
                               sync_date=company_date(live.connection, self.clock))
        built: list[Outgoing] = []
        transliterate = bool((live.connection.options or {}).get("transliterate_names"))
        for job in jobs:
            try:
                made = self.registry.of(job).build(job, context)
                warnings = [*made.warnings, *(w.message for element in made.requests for w in make_safe(
                    element, version, transliterate_names=transliterate))]
            except (InvalidInput, QbxmlError) as exc:  # a bad payload, or a refusal (non-US company)
                self._refuse(db, live, job, str(exc), refused)
                continue
            built.append(Outgoing(job, made.requests, made.progress, warnings, made.looks_up))
        built = self._valid_only(db, live, built, refused, version)
        room = self.settings.max_message_set_bytes
        sent: list[tuple[Job, list[etree._Element]]] = []
        for index, (job, elements, progress, warnings, looks_up) in enumerate(built):
            text = "\n".join(etree.tostring(e, encoding="unicode") for e in elements)
            size = len(text.encode("utf-8"))
            if size > self.settings.max_message_set_bytes:
                self._refuse(db, live, job, f"The request is {size} bytes; a message set holds at most "
                             f"{self.settings.max_message_set_bytes} (max_message_set_bytes), so it was not sent. "
                             "Split the document, or raise the setting if QuickBooks can take it.", refused)
                continue
            if size > room and sent:
                self.queue.release([entry.job for entry in built[index:]])  # the next message set takes them
                break
            room -= size
            self.queue.record_sent(job, text, warnings, progress, looks_up=looks_up)
            sent.append((job, elements))
        if not sent:
            return None
        live.session.message_sets += 1
        log.info("message set sent",
                 extra={"ticket": live.session.ticket, "connection": live.connection.name, "jobs": len(sent)})
        return build_message_set([Request(str(job.id), e) for job, elements in sent for e in elements], version)

    def _valid_only(self, db: DbSession, live: Live, built: list[Outgoing], refused: list[str],
                    version: Version) -> list[Outgoing]:
        """With the schema gate on, a job whose request is invalid for ``version`` is dead and never sent."""
        if self.validator is None or not built:
            return built
        flat = [(entry.job, element) for entry in built for element in entry.requests]
        problems = self.validator.problems([element for _, element in flat], version)
        invalid: dict[int, str] = {}
        for (job, _element), problem in zip(flat, problems, strict=True):
            if problem is not None and job.id not in invalid:
                invalid[job.id] = problem
        for entry in built:
            if entry.job.id in invalid:
                self._refuse(db, live, entry.job, "The request does not match Intuit's qbXML schema, so it was not "
                             f"sent: {invalid[entry.job.id]}", refused)
        return [entry for entry in built if entry.job.id not in invalid]

    def _refuse(self, db: DbSession, live: Live, job: Job, reason: str, refused: list[str]) -> None:
        self.queue.settle(db, job, Dead(reason), live.session)
        refused.append(reason)

    # ---------------------------------------------------------------- back

    def apply(self, db: DbSession, live: Live, in_flight: list[Job], text: str, *, one_by_one: bool = False) -> None:
        """Settle the jobs in flight from QuickBooks' answer. Usually all at once, with no savepoint: an unexpected
        error raises :class:`SettlingFailed`, on which the caller rolls its transaction back and makes the call
        again with ``one_by_one``, each job then settled in a savepoint of its own."""
        by_request_id = {str(job.id): job for job in in_flight}
        answers: dict[int, Answer] = defaultdict(Answer)
        unmatched: list[str | None] = []
        version = parse_version(live.connection.qbxml_version or "") or self.our_version
        context = SettleContext(db=db, connection=live.connection, version=version, ticket=live.session.ticket,
                                sync_date=company_date(live.connection, self.clock), queue=self.queue,
                                clock=self.clock)
        try:
            for header, children in iter_responses(text):
                job = by_request_id.get(header.request_id or "")
                if job is None:
                    unmatched.append(header.request_id)
                    continue
                kind, answer = self.registry.of(job), answers[job.id]
                if kind.streams and answer.header is None:
                    answer.header, answer.page = header, kind.consume(job, children, context)
                else:
                    answer.responses.append(materialize(header, children))
        except QbxmlError as exc:
            live.session.last_error = f"The response from QuickBooks could not be read: {exc}"
            log.warning("unreadable response", extra={"ticket": live.session.ticket, "error": str(exc)})
        if one_by_one:
            for job in in_flight:
                self._settle_alone(db, live, job, answers.get(job.id), context)
        else:
            try:
                # The usual case: every answer settles, their events written together.
                with self.queue.events_together(db):
                    for job in in_flight:
                        self._settle(db, live, job, answers.get(job.id), context)
            except Exception as exc:
                if is_transient(exc):
                    raise  # the database failed, not this answer: the whole call is made again (outages.retried)
                raise SettlingFailed(live.session.ticket) from exc
        for request_id in unmatched:
            db.add(Event(at=self.clock.now(), connection_id=live.connection.id, ticket=live.session.ticket,
                         kind=EventKind.RESPONSE_UNMATCHED,
                         detail=f"requestID {request_id!r} matches no job in flight"))

    def _settle(self, db: DbSession, live: Live, job: Job, answer: Answer | None, context: SettleContext) -> None:
        if answer is None or (not answer.responses and answer.header is None):
            # QuickBooks answered the set but not this request (stopOnError, or an answer lost in it).
            self.lose(db, [job], "QuickBooks returned no answer to this request", live.session)
            return
        self.queue.settle(db, job, self.registry.of(job).settle(job, answer, context), live.session)

    def _settle_alone(self, db: DbSession, live: Live, job: Job, answer: Answer | None,
                      context: SettleContext) -> None:
        """Settle one job in its own savepoint; an unexpected error makes it dead, with the answer kept (a database
        failure that may pass is no such error: it is raised, and the call made again)."""
        try:
            with rows.savepoint(db), self.queue.events_together(db):
                self._settle(db, live, job, answer, context)
        except Exception as exc:
            if is_transient(exc):
                raise
            log.exception("processing an answer failed", extra={"job": job.id, "ticket": live.session.ticket})
            kept = "\n".join(r.text() for r in answer.responses) if answer is not None else ""
            self.queue.settle(db, job, Dead(
                f"The service could not process QuickBooks' answer ({exc}). QuickBooks may hold the result: "
                "check it there before retrying or cancelling this job.", response_xml=kept or None), live.session)

    def set_failed(self, db: DbSession, live: Live, in_flight: list[Job], hresult: str, message: str) -> None:
        """QuickBooks answered the whole message set with an hresult. A set it could not read applied nothing:
        its requests go out again one per message set, so the one to blame ends dead with QuickBooks' message
        and the others go through; a set that never reached QuickBooks goes out again as it was; otherwise
        the outcome is lost."""
        failure = set_failure(hresult)
        said = f"{hresult}: {message}".strip()
        with self.queue.events_together(db):
            self._set_failed(db, live, in_flight, hresult, failure, said)

    def _set_failed(self, db: DbSession, live: Live, in_flight: list[Job], hresult: str, failure: SetFailure,
                    said: str) -> None:
        if failure is SetFailure.UNREADABLE and len(in_flight) == 1:
            self.queue.settle(db, in_flight[0], Dead(
                f"QuickBooks could not read this request and applied nothing ({said}). {hresult_hint(hresult)}",
                hresult_key(hresult)), live.session)
        elif failure is SetFailure.UNREADABLE:
            for job in in_flight:
                self.queue.settle(db, job, Continue(f"QuickBooks could not read its message set ({said}) and applied "
                                                    "none of it; sending this request in a set of its own.",
                                                    alone=True), live.session)
        elif failure is SetFailure.NOT_REACHED:
            self.not_reached(db, in_flight, said, live.session)
        else:
            self.lose(db, in_flight, f"the message set failed with {said}", live.session)

    def not_reached(self, db: DbSession, jobs: Iterable[Job], said: str, tally: WebConnectorSession | None) -> None:
        """QuickBooks never saw these requests: they go back to the queue, no attempt spent."""
        with self.queue.events_together(db):
            for job in jobs:
                self.queue.settle(db, job, Continue(f"QuickBooks was not reached ({said}); nothing was applied, so "
                                                    "the request is sent again."), tally)

    def lose(self, db: DbSession, jobs: Iterable[Job], reason: str, tally: WebConnectorSession | None) -> None:
        """The outcome of these sent jobs is lost: each kind says what to remember, the queue applies the
        one rule (reads go back to the queue, writes wait as unknown)."""
        with self.queue.events_together(db):
            for job in jobs:
                self.queue.settle(db, job, Lost(reason, self.registry.of(job).progress_when_lost(job)), tally)
