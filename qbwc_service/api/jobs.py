"""/jobs: list with filters and a cursor, show (bounded, with the whole XML a request away), retry, cancel and
resolve, one by one or by filter."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse

from qbwc_service import connections, job_columns, job_reads, usecases
from qbwc_service.api.context import ApiContext, context_of
from qbwc_service.api.schemas import (
    JobBriefOut,
    JobDetailOut,
    JobOut,
    JobPageOut,
    RefusedOut,
    ResolveIn,
    ResolveManyIn,
    SelectionIn,
    StatusSelectionIn,
    SteeredOut,
    naive_utc,
)
from qbwc_service.db.enums import MAX_INTEGER, JobStatus
from qbwc_service.errors import NotFound

router = APIRouter(prefix="/jobs", tags=["jobs"])

MAX_PAGE = 500
HEAD_BYTES = 64 * 1024
CHUNK_BYTES = 1024 * 1024
JobId = Annotated[int, Path(ge=1, le=MAX_INTEGER)]


def encode_cursor(before: int) -> str:
    return base64.urlsafe_b64encode(f"before:{before}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, _, value = text.partition(":")
        if tag == "before" and value.isdigit():
            return int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise RequestValidationError([{"loc": ("query", "cursor"), "msg": "not a cursor this API gave",
                                   "type": "value_error"}])


@router.get("", response_model=JobPageOut, summary="List jobs", description=(
    "Newest first. Filters combine; `status` may be given several times. The answer's `next_cursor` gives the "
    "next page (with the same filters)."))
def list_jobs(
    request: Request,
    connection: Annotated[str | None, Query(description="Only this connection's jobs.")] = None,
    status: Annotated[list[JobStatus] | None, Query(description="Only jobs of these statuses.")] = None,
    kind: Annotated[str | None, Query(description="Only jobs of this kind (raw, probe, pull, sales_order, ...).")]
    = None,
    created_from: Annotated[datetime | None, Query(description="Created at or after (UTC unless a zone is given).")]
    = None,
    created_to: Annotated[datetime | None, Query(description="Created before.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Jobs per page.")] = 50,
    cursor: Annotated[str | None, Query(description="From the previous page's next_cursor.")] = None,
) -> JobPageOut:
    selection = usecases.JobSelection(connection, tuple(status or ()), kind, naive_utc(created_from),
                                      naive_utc(created_to))
    before = decode_cursor(cursor) if cursor is not None else None
    with context_of(request).read() as db:
        page = usecases.list_jobs(db, selection, before=before, limit=limit)
        names = connections.names_by_id(db)
        return JobPageOut(jobs=[JobOut.of(job, names) for job in page.jobs],
                          next_cursor=encode_cursor(page.next_before) if page.next_before is not None else None)


@router.get("/{job_id}", response_model=JobDetailOut, summary="Show a job", description=(
    "The job, its audit trail, and the first 64 KiB of its payload, warnings, request and response XML (`cut` says "
    "what was left out): the whole XML is at request.xml and response.xml."))
def show_job(job_id: JobId, request: Request) -> JobDetailOut:
    with context_of(request).read() as db:
        job = job_columns.get_job_summary(db, job_id)
        return JobDetailOut.detail(job, connections.names_by_id(db), job_columns.heads(db, job_id, HEAD_BYTES),
                                   job_reads.events_of_job(db, job_id))


@router.get("/{job_id}/{which}.xml", response_class=StreamingResponse, summary="A job's whole request or response XML",
            responses={200: {"content": {"application/xml": {}}, "description": "The XML, streamed."}})
def job_xml(job_id: JobId, which: Literal["request", "response"], request: Request) -> StreamingResponse:
    context = context_of(request)
    column = f"{which}_xml"
    with context.read() as db:
        job_columns.get_job_summary(db, job_id)
        if job_columns.large_column_size(db, job_id, column) is None:
            raise NotFound(f"{which} XML", job_id, f"job {job_id} has no {which} XML yet")
    return StreamingResponse(_stream(context, job_id, column), media_type="application/xml")


def _stream(context: ApiContext, job_id: int, column: str) -> Iterator[bytes]:
    with context.read() as db:
        for chunk in job_columns.read_large_column(db, job_id, column, CHUNK_BYTES):
            yield chunk.encode("utf-8")


@router.post("/{job_id}/retry", response_model=JobOut, summary="Retry a job", description=(
    "A failed, dead, unknown or cancelled job goes back to the queue. An unknown write that QuickBooks cannot be "
    "asked about is refused (409 resolve-first): resolve it."))
def retry_job(job_id: JobId, request: Request) -> JobOut:
    context = context_of(request)
    with context.write() as db:
        return JobOut.of(usecases.retry_job(db, context.job_queue, job_id), connections.names_by_id(db))


@router.post("/{job_id}/cancel", response_model=JobOut, summary="Cancel a job")
def cancel_job(job_id: JobId, request: Request) -> JobOut:
    context = context_of(request)
    with context.write() as db:
        return JobOut.of(usecases.cancel_job(db, context.job_queue, job_id), connections.names_by_id(db))


@router.post("/{job_id}/resolve", response_model=JobOut, summary="Resolve an unknown job", description=(
    "After checking QuickBooks: it landed (done, keeping the TxnID given) or it did not (queued to be sent again)."))
def resolve_job(job_id: JobId, body: ResolveIn, request: Request) -> JobOut:
    context = context_of(request)
    with context.write() as db:
        return JobOut.of(usecases.resolve_job(db, context.job_queue, job_id, landed=body.landed,
                                              txn_id=body.txn_id), connections.names_by_id(db))


@router.post("/retry", response_model=SteeredOut, summary="Retry jobs by filter", description=(
    "Every job of the statuses given (and connection, kind, creation time), oldest first; each refused job is "
    "listed with its problem, the others are retried."))
def retry_jobs(body: StatusSelectionIn, request: Request) -> SteeredOut:
    context = context_of(request)
    with context.write() as db:
        return _steered(usecases.retry_jobs(db, context.job_queue, _selection(body, body.status), body.limit))


@router.post("/cancel", response_model=SteeredOut, summary="Cancel jobs by filter")
def cancel_jobs(body: StatusSelectionIn, request: Request) -> SteeredOut:
    context = context_of(request)
    with context.write() as db:
        return _steered(usecases.cancel_jobs(db, context.job_queue, _selection(body, body.status), body.limit))


@router.post("/resolve", response_model=SteeredOut, summary="Resolve unknown jobs by filter", description=(
    "Every unknown job chosen, alike: landed (done) or not (queued again)."))
def resolve_jobs(body: ResolveManyIn, request: Request) -> SteeredOut:
    context = context_of(request)
    with context.write() as db:
        return _steered(usecases.resolve_jobs(db, context.job_queue, _selection(body, []), landed=body.landed,
                                              limit=body.limit))


def _selection(body: SelectionIn, statuses: list[JobStatus]) -> usecases.JobSelection:
    return usecases.JobSelection(body.connection, tuple(statuses), body.kind, naive_utc(body.created_from),
                                 naive_utc(body.created_to))


def _steered(steered: usecases.Steered) -> SteeredOut:
    return SteeredOut(changed=[JobBriefOut(id=j.id, kind=j.kind, status=j.status) for j in steered.changed],
                      refused=[RefusedOut.of(job_id, error) for job_id, error in steered.refused])
