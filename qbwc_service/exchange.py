"""One exchange of a Web Connector session: the message set sent to QuickBooks, and what its answer does
to each job (the status policy, pulls, requeries, flows). Called by qbwc_service.sessions, inside its
transaction; it decides nothing about tickets or leases.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from lxml import etree
from sqlalchemy.orm import Session as DbSession

from qbwc_service import deliveries, jobkinds, pulls, queue, sync
from qbwc_service.db.engine import utcnow
from qbwc_service.db.models import Connection, Event, Job, Session
from qbwc_service.errors import InvalidJobPayload
from qbwc_service.qbxml.envelope import Request, build_message_set
from qbwc_service.qbxml.errors import QbxmlError
from qbwc_service.qbxml.limits import make_safe
from qbwc_service.qbxml.response import Response, materialize
from qbwc_service.qbxml.schema import request_validator
from qbwc_service.qbxml.status import Action, explain, verdict_for
from qbwc_service.qbxml.stream import ResponseHeader, iter_responses
from qbwc_service.qbxml.versions import Version, parse_version
from qbwc_service.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Live:
    """A session whose ticket is valid, with its connection."""

    session: Session
    connection: Connection


class Exchange:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.our_version = parse_version(settings.max_qbxml_version) or (13, 0)
        self.validator = request_validator(settings.qbxml_schema_dir, enabled=settings.qbxml_schema_gate)

    def next_message_set(self, db: DbSession, live: Live, version: Version) -> str:
        refused: list[str] = []
        while True:
            text = self._build_message_set(db, live, version, refused)
            if text is not None:
                return text

    def _build_message_set(self, db: DbSession, live: Live, version: Version, refused: list[str]) -> str | None:
        """One message set of the next claimable jobs; None when every claimed job was refused (claim
        again); "" when nothing is left."""
        jobs = queue.claim_batch(db, live.connection.id, live.session.ticket, self.settings.batch_size)
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
        built = self._valid_only(db, built, refused, version)
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
        self, db: DbSession, built: list[tuple[Job, list[etree._Element]]], refused: list[str], version: Version
    ) -> list[tuple[Job, list[etree._Element]]]:
        """With the schema gate on, a job whose request is invalid for ``version`` is dead and never sent."""
        if self.validator is None or not built:
            return built
        flat = [(job, element) for job, elements in built for element in elements]
        problems = self.validator.problems([element for _, element in flat], version)
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

    def apply(self, db: DbSession, live: Live, in_flight: list[Job], text: str) -> None:
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
        try:
            with db.begin_nested():  # the usual case: every answer settles, in one savepoint
                for job in in_flight:
                    self._apply_one(db, live, job, pages.get(job.id), answers.get(job.id) or [])
        except Exception:
            log.exception("processing an answer failed; settling the jobs one by one",
                          extra={"ticket": live.session.ticket})
            for job in in_flight:
                self._apply_alone(db, live, job, pages.get(job.id), answers.get(job.id) or [])
        for request_id in unmatched:
            db.add(Event(at=utcnow(), connection_id=live.connection.id, ticket=live.session.ticket,
                         kind="response-unmatched", detail=f"requestID {request_id!r} matches no job in flight"))

    def _apply_alone(self, db: DbSession, live: Live, job: Job, page: tuple[ResponseHeader, pulls.Page] | None,
                     answers: list[Response]) -> None:
        """Settle one job in its own savepoint; an unexpected error makes it dead, with the answer kept."""
        try:
            with db.begin_nested():
                self._apply_one(db, live, job, page, answers)
        except Exception as exc:
            log.exception("processing an answer failed", extra={"job": job.id, "ticket": live.session.ticket})
            reason = f"The service could not process QuickBooks' answer ({exc})."
            queue.kill(db, job, response_xml="\n".join(a.text() for a in answers) or None, status_code=None,
                       status_message=f"{reason} QuickBooks may hold the result: check it there before "
                       "retrying or cancelling this job.")

    def _apply_one(self, db: DbSession, live: Live, job: Job, page: tuple[ResponseHeader, pulls.Page] | None,
                   answers: list[Response]) -> None:
        if page is not None:
            header, read = page
            if pulls.finish_page(db, job, header, read, live.session.ticket) == "failed":
                self._settle(db, live, job, header.status_code, header.status_severity, header.status_message, None)
            elif job.status == queue.DONE:
                live.session.jobs_done += 1
        elif answers:
            self._answered(db, live, job, answers)
        else:
            self._no_answer(db, job)

    def _answered(self, db: DbSession, live: Live, job: Job, answers: list[Response]) -> None:
        if (job.cursor or {}).get("requery"):
            self._requeried(db, job, answers)
            return
        if (job.cursor or {}).get("link_existing"):
            self._linked_existing(db, live, job, answers)
            return
        if job.kind in sync.KINDS:
            version = parse_version(live.connection.qbxml_version or "") or self.our_version
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
            self.after_done(db, live.connection, job)
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
        if verdict.action is Action.LINK_EXISTING:
            cursor = jobkinds.plan_link_existing(job, message)
            if cursor is not None:
                queue.continue_later(db, job, cursor, f"{message.strip()} Reading the existing entry to link to it.")
                return
        if verdict.action is Action.REQUERY:
            cursor = jobkinds.plan_requery(job)
            if cursor is not None:
                queue.continue_later(db, job, cursor, f"{message.strip()} Reading the record again first.")
                return
        live.session.jobs_failed += 1
        if verdict.action is Action.RETRY:
            queue.fail(db, job, response_xml=response_xml, status_code=code, status_message=text,
                       max_attempts=self.settings.max_attempts,
                       backoff_seconds=self.settings.retry_backoff_seconds)
        else:
            queue.kill(db, job, response_xml=response_xml, status_code=code, status_message=text)

    def _linked_existing(self, db: DbSession, live: Live, job: Job, answers: list[Response]) -> None:
        """The answer to reading the entry whose name was in use: the job is done, linked to it."""
        found = next((a for a in answers if a.ok and a.first_ret() is not None), None)
        name = (job.cursor or {}).get("link_existing")
        if found is None:
            queue.kill(db, job, response_xml="\n".join(a.text() for a in answers), status_code="3100",
                       status_message=f"The name {name!r} is in use in QuickBooks by another kind of list entry "
                       "(customer, vendor, employee or other name share one namespace); rename one of them.")
            live.session.jobs_failed += 1
            return
        queue.complete(db, job, response_xml=found.text(), status_code="3100",
                       status_message=f"{name!r} already existed in QuickBooks; linked to it.",
                       result={**found.ids(), "existed": True})
        live.session.jobs_done += 1

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
                       max_attempts=self.settings.max_attempts,
                       backoff_seconds=self.settings.retry_backoff_seconds)
        else:
            queue.mark_unknown(db, job, reason)

    def after_done(self, db: DbSession, connection: Connection, job: Job) -> None:
        if job.kind == jobkinds.PROBE and job.result:
            result = job.result
            connection.company_name = result.get("company_name") or connection.company_name
            connection.qb_product = result.get("product") or connection.qb_product
            connection.qb_major_version = result.get("major_version") or connection.qb_major_version
            connection.qb_country = result.get("country") or connection.qb_country
            if result.get("supported_versions"):
                connection.qbxml_versions = result["supported_versions"]
