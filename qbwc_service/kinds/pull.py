"""Pull jobs: page through a QuickBooks query with an iterator, inside one Web Connector session.

A pull reads every record of an entity modified since the stream's high-water mark. Each page's records
are stored as deliveries as they stream by (once per QuickBooks version of a record). The iterator is
continued in the same session; if the session ends or QuickBooks forgets the iterator (3391), the pull
restarts from the same high-water mark, and the records read twice are recognised, not stored again. The
mark moves forward only when a pull has read everything.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lxml import etree

from qbwc_service import deliveries
from qbwc_service.db.models import Job
from qbwc_service.errors import InvalidJobPayload
from qbwc_service.kinds.base import (
    Answer,
    BuildContext,
    Built,
    Progress,
    ResolveContext,
    SettleContext,
    by_policy,
)
from qbwc_service.kinds.raw import Prepared
from qbwc_service.qbxml.queries import QuerySpec, build_query, later_mark
from qbwc_service.qbxml.status import StatusCode, answered
from qbwc_service.settlements import Continue, Done, Settlement

log = logging.getLogger(__name__)

MAX_RESTARTS = 3
_CHUNK = 500


class PullProgress(Progress):
    started: bool = False  # from_modified is set: the pull keeps it until it completes
    from_modified: str | None = None  # the mark this run of the pull started from
    iterator_id: str | None = None
    ticket: str | None = None  # the session the iterator belongs to
    records: int = 0
    new: int = 0
    pages: int = 0
    mark: str | None = None  # the latest TimeModified read so far
    restarts: int = 0


@dataclass
class Page:
    records: int = 0
    new: int = 0
    mark: str | None = None


def prepare_pull(entity: str, *, max_returned: int = 100, since: str | None = None,
                 stream: str | None = None) -> Prepared:
    """A validated pull. ``since`` overrides the stream's high-water mark (a manual pull)."""
    try:
        QuerySpec(entity, from_modified=since, max_returned=max_returned)
    except ValueError as exc:
        raise InvalidJobPayload(str(exc), "entity") from exc
    payload = {"entity": entity, "max_returned": max_returned, "since": since, "stream": stream or entity}
    return Prepared(PullKind.name, payload, read_only=True)


class PullKind:
    name = "pull"
    streams = True

    def reads_only(self, payload: dict[str, Any]) -> bool:
        return True

    def progress(self, job: Job) -> PullProgress:
        return PullProgress.model_validate(job.cursor or {})

    def build(self, job: Job, ctx: BuildContext) -> Built:
        """The next page: continue this session's iterator, or start one from the mark."""
        progress = self.progress(job)
        payload = job.payload
        mark = progress.from_modified if progress.started else deliveries.high_water(
            ctx.db, job.connection_id, _stream(job))
        spec = QuerySpec(payload["entity"], from_modified=payload.get("since") or mark,
                         max_returned=int(payload.get("max_returned", 100)))
        iterator_id = progress.iterator_id if progress.ticket == ctx.ticket else None
        if iterator_id is None and progress.iterator_id:
            log.info("pull restarts: the iterator belonged to an earlier session",
                     extra={"job": job.id, "ticket": ctx.ticket})
        return Built([build_query(spec, ctx.version, iterator_id)], progress.model_copy(update={
            "started": True, "from_modified": spec.from_modified, "iterator_id": iterator_id,
            "ticket": ctx.ticket if iterator_id else progress.ticket}))

    def consume(self, job: Job, records: Iterable[etree._Element], ctx: SettleContext) -> Page:
        """Store a page's records as they stream by, a chunk at a time."""
        page = Page()
        chunk: list[deliveries.PulledRecord] = []
        for child in records:
            if not (isinstance(child.tag, str) and child.tag.endswith("Ret")):
                continue
            record = deliveries.record_from(child)
            if record is None:
                continue
            page.records += 1
            page.mark = later_mark(page.mark, record.time_modified)
            chunk.append(record)
            if len(chunk) >= _CHUNK:
                page.new += deliveries.store(ctx.db, job.connection_id, job.id, chunk, ctx.clock.now())
                chunk.clear()
        page.new += deliveries.store(ctx.db, job.connection_id, job.id, chunk, ctx.clock.now())
        return page

    def settle(self, job: Job, answer: Answer, ctx: SettleContext) -> Settlement:
        header, page = answer.header, answer.page
        if header is None or not isinstance(page, Page):
            # The pull's own answer was missing from the set: read it again (a pull only reads).
            return Continue("QuickBooks returned no answer to this page; reading it again.")
        before = self.progress(job)
        progress = before.model_copy(update={
            "records": before.records + page.records, "new": before.new + page.new, "pages": before.pages + 1,
            "mark": later_mark(before.mark, page.mark)})
        if header.status_code == StatusCode.INVALID_ITERATOR and progress.restarts < MAX_RESTARTS:
            return Continue("QuickBooks no longer knows the iterator; restarting the pull", progress.model_copy(
                update={"iterator_id": None, "ticket": None, "restarts": progress.restarts + 1}))
        if not answered(header.status_code):
            return by_policy(header.status_code, header.status_severity, header.status_message, None, progress)
        if header.iterator_remaining and header.iterator_id:
            return Continue(f"{header.iterator_remaining} records left to read",
                            progress.model_copy(update={"iterator_id": header.iterator_id, "ticket": ctx.ticket}))
        if not job.payload.get("since"):
            deliveries.advance(ctx.db, job.connection_id, _stream(job), progress.mark, ctx.clock.now())
        return Done(result={"records": progress.records, "new": progress.new, "pages": progress.pages,
                            "high_water": progress.mark, "entity": job.payload["entity"]},
                    status_code=header.status_code, status_message=header.status_message, progress=progress)

    def progress_when_lost(self, job: Job) -> Progress | None:
        return None

    def landed(self, job: Job, txn_id: str | None, ctx: ResolveContext) -> dict[str, Any]:
        return {}  # a read is never left unknown: its lost answer is simply asked again

    def progress_when_not_landed(self, job: Job) -> Progress | None:
        return self.progress_on_retry(job)

    def progress_on_retry(self, job: Job) -> Progress | None:
        return self.progress(job)


def _stream(job: Job) -> str:
    return str(job.payload.get("stream") or job.payload["entity"])


PULL = PullKind()
KINDS = (PULL,)
