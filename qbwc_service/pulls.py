"""Pull jobs: page through a QuickBooks query with an iterator, inside one Web Connector session.

A pull reads every record of an entity modified since the stream's high-water mark. Each page's
records are stored as deliveries (once per QuickBooks version of a record). The iterator is
continued in the same session; if the session ends or QuickBooks forgets the iterator (3391), the
pull restarts from the same high-water mark, and the records read twice are recognised, not stored
again. The mark moves forward only when a pull has read everything.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lxml import etree
from sqlalchemy.orm import Session

from qbwc_service import deliveries, queue
from qbwc_service.db.models import Job
from qbwc_service.errors import InvalidJobPayload
from qbwc_service.qbxml.queries import LISTS, TRANSACTIONS, QuerySpec, build_query, later_mark
from qbwc_service.qbxml.stream import ResponseHeader
from qbwc_service.qbxml.versions import Version

log = logging.getLogger(__name__)

PULL = "pull"
INVALID_ITERATOR = "3391"
MAX_RESTARTS = 3
_CHUNK = 500


def prepare_pull(entity: str, *, max_returned: int = 100, since: str | None = None,
                 stream: str | None = None) -> dict[str, Any]:
    """A validated pull payload. ``since`` overrides the stream's high-water mark (a manual pull)."""
    try:
        QuerySpec(entity, from_modified=since, max_returned=max_returned)
    except ValueError as exc:
        raise InvalidJobPayload(str(exc)) from exc
    return {"entity": entity, "max_returned": max_returned, "since": since, "stream": stream or entity}


def spec_of(job: Job, mark: str | None) -> QuerySpec:
    payload = job.payload
    return QuerySpec(payload["entity"], from_modified=payload.get("since") or mark,
                     max_returned=int(payload.get("max_returned", 100)))


def build_pull(job: Job, version: Version, ticket: str, mark: str | None) -> etree._Element:
    """The next page: continue this session's iterator, or start one from the mark."""
    cursor = job.cursor or {}
    spec = spec_of(job, cursor.get("from_modified", mark))
    iterator_id = cursor.get("iterator_id") if cursor.get("ticket") == ticket else None
    if iterator_id is None and cursor.get("iterator_id"):
        log.info("pull restarts: the iterator belonged to an earlier session",
                 extra={"job": job.id, "ticket": ticket})
    element = build_query(spec, version, iterator_id)
    job.cursor = {**cursor, "from_modified": spec.from_modified,
                  "iterator_id": iterator_id, "ticket": ticket if iterator_id else cursor.get("ticket")}
    return element


@dataclass
class Page:
    records: int = 0
    new: int = 0
    mark: str | None = None


def consume(db: Session, job: Job, children: Iterable[etree._Element]) -> Page:
    """Store a page's records as they stream by, a chunk at a time."""
    page = Page()
    chunk: list[deliveries.PulledRecord] = []
    for child in children:
        if not (isinstance(child.tag, str) and child.tag.endswith("Ret")):
            continue
        record = deliveries.record_from(child)
        if record is None:
            continue
        page.records += 1
        page.mark = later_mark(page.mark, record.time_modified)
        chunk.append(record)
        if len(chunk) >= _CHUNK:
            page.new += deliveries.store(db, job.connection_id, job.id, chunk)
            chunk.clear()
    page.new += deliveries.store(db, job.connection_id, job.id, chunk)
    return page


def finish_page(db: Session, job: Job, header: ResponseHeader, page: Page, ticket: str) -> str:
    """What the page means for the job: 'continue', 'done', 'restart' or 'failed'. The caller
    handles 'failed' with the status policy; the others are settled here."""
    cursor = dict(job.cursor or {})
    cursor["records"] = int(cursor.get("records", 0)) + page.records
    cursor["new"] = int(cursor.get("new", 0)) + page.new
    cursor["pages"] = int(cursor.get("pages", 0)) + 1
    cursor["mark"] = later_mark(cursor.get("mark"), page.mark)
    if header.status_code == INVALID_ITERATOR:
        restarts = int(cursor.get("restarts", 0)) + 1
        if restarts > MAX_RESTARTS:
            job.cursor = cursor
            return "failed"
        cursor.update(iterator_id=None, ticket=None, restarts=restarts)
        queue.continue_later(db, job, cursor, "QuickBooks no longer knows the iterator; restarting the pull")
        return "restart"
    if header.status_code not in ("0", "1"):
        job.cursor = cursor
        return "failed"
    if header.iterator_remaining and header.iterator_id:
        cursor.update(iterator_id=header.iterator_id, ticket=ticket)
        queue.continue_later(db, job, cursor, f"{header.iterator_remaining} records left to read")
        return "continue"
    stream = job.payload.get("stream") or job.payload["entity"]
    if not job.payload.get("since"):
        deliveries.advance(db, job.connection_id, stream, cursor.get("mark"))
    job.cursor = cursor
    queue.complete(db, job, response_xml=None, status_code=header.status_code,
                   status_message=header.status_message,
                   result={"records": cursor["records"], "new": cursor["new"], "pages": cursor["pages"],
                           "high_water": cursor.get("mark"), "entity": job.payload["entity"]})
    return "done"


KNOWN_ENTITIES = sorted(TRANSACTIONS | LISTS)
