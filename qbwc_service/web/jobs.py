"""The queue (filters by connection, kind and status; a page of jobs newest first, and a cursor to the next) and
each job's page: its timeline, its request, lookup and response XML (escaped, the first 64 KiB of each, the whole a
click away as plain text), QuickBooks' message in plain words, and the retry, cancel and resolve buttons, which
call the same use cases as the API."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from qbwc_service import connections, job_columns, job_reads, usecases
from qbwc_service.api.context import ApiContext
from qbwc_service.api.jobs import JobId
from qbwc_service.api.problems import describe
from qbwc_service.db.enums import JobStatus
from qbwc_service.db.models import Job
from qbwc_service.errors import QbwcError
from qbwc_service.kinds import REGISTRY
from qbwc_service.qbxml.status import hresult_hint, verdict_for
from qbwc_service.web.base import Action, PageRefused, actor, pages_of, redirect, viewer
from qbwc_service.web.session import Visitor

router = APIRouter(include_in_schema=False)

HRESULT = re.compile(r"0x8004[0-9a-fA-F]{4}")
PAGE_SIZE = 50
HEAD_BYTES = 64 * 1024
CHUNK_BYTES = 1024 * 1024
XML_COLUMNS = (("request_xml", "Request sent"), ("lookup_xml", "Lookup (what an earlier attempt did)"),
               ("response_xml", "QuickBooks' answer"))


@router.get("/jobs")
def queue_page(request: Request, visitor: Annotated[Visitor, Depends(viewer)],
               connection: str = "", kind: str = "", status: Annotated[list[str] | None, Query()] = None,
               before: Annotated[int | None, Query(ge=1)] = None) -> Response:
    pages = pages_of(request)
    chosen = [s for s in (status or []) if s]
    unknown = [s for s in chosen if s not in set(JobStatus)]
    filters = {"connection": connection, "kind": kind, "status": chosen}
    with pages.context.read() as db:
        names = connections.names_by_id(db)
        values: dict[str, Any] = {"filters": filters, "names": names, "statuses": list(JobStatus),
                                  "kinds": REGISTRY.names(), "jobs": [], "next_before": None}
        if unknown:
            return pages.render(request, "jobs.html", 422, error=f"no such status: {', '.join(unknown)}", **values)
        selection = usecases.JobSelection(connection or None, tuple(JobStatus(s) for s in chosen), kind or None)
        try:
            page = usecases.list_jobs(db, selection, before=before, limit=PAGE_SIZE)
        except QbwcError as exc:
            return pages.render(request, "jobs.html", describe(exc).status, error=str(exc), **values)
        return pages.render(request, "jobs.html", **{**values, "jobs": page.jobs, "next_before": page.next_before})


@dataclass(frozen=True)
class Shown:
    """One large column as the page shows it: its start, and how much was left out."""

    label: str
    which: str
    text: str
    left_out: int


def plain_words(job: Job) -> str | None:
    """What QuickBooks' status code means for a person, when the stored message does not say it already."""
    code = job.status_code
    if not code:
        # a failed message set names the Web Connector's hresult in the message alone
        named = HRESULT.search(job.status_message or "")
        if named is None:
            return None
        code = named.group(0)
    hint = hresult_hint(code) if code.lower().startswith("0x") else verdict_for(code).hint
    return None if not hint or hint in (job.status_message or "") else hint


def _job_page(request: Request, job_id: int, *, status: int = 200, error: str | None = None,
              done: str | None = None) -> Response:
    pages = pages_of(request)
    with pages.context.read() as db:
        try:
            job = job_columns.get_job_summary(db, job_id)
        except QbwcError as exc:
            raise PageRefused(describe(exc).status, "Not found", str(exc)) from exc
        heads = job_columns.heads(db, job_id, HEAD_BYTES)
        shown = [Shown(label, column.removesuffix("_xml"), heads[column].text or "", heads[column].left_out)
                 for column, label in XML_COLUMNS if heads[column].text is not None]
        names = connections.names_by_id(db)
        return pages.render(request, "job.html", status, job=job, connection=names.get(job.connection_id),
                            events=job_reads.events_of_job(db, job_id), shown=shown, meaning=plain_words(job),
                            error=error, done=ACTIONS.get(done or ""))


@router.get("/jobs/{job_id}")
def job_page(job_id: JobId, request: Request, visitor: Annotated[Visitor, Depends(viewer)],
             done: str | None = None) -> Response:
    return _job_page(request, job_id, done=done if done in ACTIONS else None)


@router.get("/jobs/{job_id}/{which}.xml")
def job_xml(job_id: JobId, which: Literal["request", "lookup", "response"], request: Request,
            visitor: Annotated[Visitor, Depends(viewer)]) -> Response:
    """The whole XML, streamed as plain text (a browser shows it and runs nothing in it)."""
    context = pages_of(request).context
    column = f"{which}_xml"
    with context.read() as db:
        try:
            job_columns.get_job_summary(db, job_id)
        except QbwcError as exc:
            raise PageRefused(404, "Not found", str(exc)) from exc
        if job_columns.large_column_size(db, job_id, column) is None:
            raise PageRefused(404, "Not found", f"job {job_id} has no {which} XML yet")
    return StreamingResponse(_stream(context, job_id, column), media_type="text/plain; charset=utf-8")


def _stream(context: ApiContext, job_id: int, column: str) -> Iterator[bytes]:
    with context.read() as db:
        for chunk in job_columns.read_large_column(db, job_id, column, CHUNK_BYTES):
            yield chunk.encode("utf-8")


ACTIONS = {"retried": "The job is back on the queue.", "cancelled": "The job is cancelled.",
           "landed": "Resolved: the write is in QuickBooks, and the job is done.",
           "not-landed": "Resolved: the write is not in QuickBooks; the job is queued to be sent again."}


@router.post("/jobs/{job_id}/retry")
def retry(job_id: JobId, request: Request, action: Annotated[Action, Depends(actor)]) -> Response:
    context = pages_of(request).context
    return _act(request, job_id, "retried", lambda db: usecases.retry_job(db, context.job_queue, job_id))


@router.post("/jobs/{job_id}/cancel")
def cancel(job_id: JobId, request: Request, action: Annotated[Action, Depends(actor)]) -> Response:
    context = pages_of(request).context
    return _act(request, job_id, "cancelled", lambda db: usecases.cancel_job(db, context.job_queue, job_id))


@router.post("/jobs/{job_id}/resolve")
def resolve(job_id: JobId, request: Request, action: Annotated[Action, Depends(actor)]) -> Response:
    context = pages_of(request).context
    landed = action.form.get("landed")
    if landed not in ("yes", "no"):
        return _job_page(request, job_id, status=422, error="Say whether the write landed in QuickBooks.")
    txn_id = str(action.form.get("txn_id") or "").strip() or None
    return _act(request, job_id, "landed" if landed == "yes" else "not-landed",
                lambda db: usecases.resolve_job(db, context.job_queue, job_id, landed=landed == "yes",
                                                txn_id=txn_id if landed == "yes" else None))


def _act(request: Request, job_id: int, done: str, use_case: Callable[[Session], Job]) -> Response:
    context = pages_of(request).context
    try:
        with context.write() as db:
            use_case(db)
    except QbwcError as exc:
        return _job_page(request, job_id, status=describe(exc).status, error=str(exc))
    return redirect(f"/jobs/{job_id}", done=done)
