"""The API's bodies: what it takes and what it answers. Times are UTC (ISO 8601 with ``Z``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from qbwc_service.api.problems import item_problem
from qbwc_service.connection_usecases import AccessTest, ConnectionCheck
from qbwc_service.db.enums import MAX_INTEGER, JobStatus
from qbwc_service.db.models import Connection, Event, Job
from qbwc_service.job_columns import Head
from qbwc_service.queue import Enqueued, Queued
from qbwc_service.usecases import MAX_TXN_ID


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


Utc = Annotated[datetime, AfterValidator(_utc)]


def naive_utc(moment: datetime | None) -> datetime | None:
    """A time given by a caller as the tables keep it: naive UTC (a time without a zone is taken as UTC)."""
    return None if moment is None else moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# ---------------------------------------------------------------- connections


class ConnectionIn(BaseModel):
    name: str = Field(description="Letters, digits, spaces, '.', '_' or '-', at most 100.", examples=["Acme Plant"])


class ConnectionOut(Out):
    name: str
    username: str = Field(description="The Web Connector's username for this connection.")
    token: Literal["active", "revoked"]
    created_at: Utc
    last_contact_at: Utc | None
    last_auth_at: Utc | None
    last_auth_outcome: str | None = Field(description="ok, wrong-password or revoked; null: never seen.")
    client_version: str | None = Field(description="The Web Connector's version, as it last reported it.")
    company_file: str | None = Field(description="The company file the connection is pinned to.")
    company_name: str | None
    qb_product: str | None
    qb_country: str | None
    client_country: str | None
    qbxml_version: str | None
    last_connection_error: str | None
    jobs: dict[str, int] = Field(description="The connection's jobs by status.")

    @classmethod
    def of(cls, connection: Connection, jobs: dict[str, int]) -> ConnectionOut:
        return cls.model_validate({**{name: getattr(connection, name) for name in cls.model_fields
                                      if name not in ("token", "jobs")},
                                   "token": "revoked" if connection.revoked_at else "active", "jobs": jobs})


class NewTokenOut(BaseModel):
    name: str
    username: str
    token: str = Field(description="Shown this once: type it as the application's password in the Web Connector.")
    unpinned_company_file: str | None = Field(
        None, description="A new token lifts the company-file pin: the path that was pinned.")


class UnpinnedOut(BaseModel):
    name: str
    unpinned_company_file: str | None = Field(description="The path that was pinned; null when none was.")


class ConnectionCheckOut(BaseModel):
    """"Test connection": what the service has seen of the connection's Web Connector."""

    name: str
    reached: bool = Field(description="Whether the Web Connector has called the service with this username.")
    last_contact_at: Utc | None
    client_version: str | None
    authenticated: bool | None = Field(description="Whether its last authentication passed; null: never tried.")
    last_auth_at: Utc | None
    last_auth_outcome: str | None
    token: Literal["active", "revoked"]
    company_file: str | None
    last_connection_error: str | None = Field(description="The last connectionError, with what to do about it.")
    advice: str = Field(description="What to do next.")

    @classmethod
    def of(cls, check: ConnectionCheck) -> ConnectionCheckOut:
        c = check.connection
        return cls(name=c.name, reached=check.reached, last_contact_at=c.last_contact_at,
                   client_version=c.client_version, authenticated=check.authenticated,
                   last_auth_at=check.last_attempt_at, last_auth_outcome=check.outcome,
                   token="revoked" if c.revoked_at else "active",
                   company_file=c.company_file, last_connection_error=c.last_connection_error, advice=check.advice)


class AccessTestOut(BaseModel):
    """"Test access": the newest probe (HostQuery + CompanyQuery) and, once done, what QuickBooks said."""

    name: str
    status: JobStatus | Literal["not-run"]
    job_id: int | None
    finished_at: Utc | None
    message: str | None = Field(description="QuickBooks' message, or why the probe failed.")
    company_name: str | None
    product: str | None
    country: str | None
    qbxml_version: str | None = Field(description="The highest qbXML version the company speaks.")
    supported_versions: list[str]

    @classmethod
    def of(cls, test: AccessTest) -> AccessTestOut:
        job, result = test.job, test.result
        return cls(name=test.connection.name, status=job.status if job else "not-run", job_id=job.id if job else None,
                   finished_at=job.finished_at if job else None, message=job.status_message if job else None,
                   company_name=result.get("company_name"), product=result.get("product"),
                   country=result.get("country"), qbxml_version=result.get("highest_version"),
                   supported_versions=result.get("supported_versions") or [])


class OptionsPatch(BaseModel):
    set: dict[str, Any] = Field(default_factory=dict, description="Options to set: dotted keys for a group's "
                                "options, e.g. {\"sales_orders.automatic\": true, \"stock_sync\": true}.")
    unset: list[str] = Field(default_factory=list, description="Options to put back to their default.")


# ---------------------------------------------------------------- queueing


class EnqueuedOut(BaseModel):
    id: int
    kind: str
    status: JobStatus
    created: bool = Field(description="False: a job with the same key (or entity) existed already; it is this one.")
    changed: bool = Field(False, description="An entity queued again with other content: the job now carries "
                          "it, or a change of the QuickBooks document was queued.")

    @classmethod
    def of(cls, made: Enqueued | Queued) -> EnqueuedOut:
        if isinstance(made, Queued):
            return cls(id=made.id, kind=made.kind, status=made.status, created=made.created, changed=False)
        return cls(id=made.job.id, kind=made.job.kind, status=made.job.status, created=made.created,
                   changed=made.changed)


class RawIn(BaseModel):
    request: str = Field(description="One qbXML request element, without the QBXML envelope.",
                         examples=["<CustomerAddRq><CustomerAdd><Name>Acme</Name></CustomerAdd></CustomerAddRq>"])
    priority: int = Field(0, ge=-MAX_INTEGER, le=MAX_INTEGER, description="Higher is sent first.")


class PullIn(BaseModel):
    entity: str = Field(description="What to read: SalesOrder, Invoice, Customer, ...", examples=["Invoice"])
    since: str | None = Field(None, description="Read what changed since this date-time instead of since the last "
                              "completed pull.", examples=["2026-11-01T00:00:00"])
    max_returned: int = Field(100, ge=1, le=10000, description="Records per page.")


class StockIn(BaseModel):
    levels: list[dict[str, Any]] | None = Field(
        default=None, description="Fusion stock levels: {product, quantityInStock, ...}. Left out: read from the "
        "connection's Fusion account now.")


class StockOneIn(StockIn):
    product: str = Field(description="The Fusion product code whose quantity is sent.")


class StockSentOut(BaseModel):
    queued: list[EnqueuedOut]
    already_queued: list[EnqueuedOut]
    not_labelled: list[str] = Field(description="Product codes skipped: they lack the QuickBooks label.")


class BulkRaw(BaseModel):
    type: Literal["raw"]
    connection: str
    request: str
    key: str | None = Field(None, max_length=255, description="Idempotency key: the same key makes no second job.")
    priority: int = Field(0, ge=-MAX_INTEGER, le=MAX_INTEGER)


class BulkPull(BaseModel):
    type: Literal["pull"]
    connection: str
    entity: str
    since: str | None = None
    max_returned: int = Field(100, ge=1, le=10000)
    key: str | None = Field(None, max_length=255)


class BulkFlow(BaseModel):
    type: Literal["flow"]
    connection: str
    flow: str = Field(description="sales_order, purchase_order, receiving, shipment, time_tracking or stock.")
    entity: dict[str, Any] = Field(description="The Fusion entity; its id is its idempotency key.")
    automatic: bool = False


MAX_BULK_JOBS = 20_000


class BulkIn(BaseModel):
    jobs: list[Annotated[BulkRaw | BulkPull | BulkFlow, Field(discriminator="type")]] = Field(
        min_length=1, max_length=MAX_BULK_JOBS)


class BulkItemOut(BaseModel):
    index: int
    jobs: list[EnqueuedOut]


class BulkOut(BaseModel):
    created: int = Field(description="Jobs this request created.")
    items: list[BulkItemOut] = Field(description="What each job asked for became, in the order given.")


# ---------------------------------------------------------------- jobs


class JobOut(Out):
    id: int
    connection: str | None
    kind: str
    status: JobStatus
    priority: int
    attempts: int
    read_only: bool = Field(description="Sending it again is harmless.")
    reconcilable: bool = Field(description="A lost answer can be settled by looking it up in QuickBooks.")
    not_before: Utc | None
    status_code: str | None = Field(description="QuickBooks' status code.")
    status_message: str | None
    result: dict[str, Any] | None
    key: str
    depends_on: int | None
    created_at: Utc
    updated_at: Utc
    sent_at: Utc | None
    finished_at: Utc | None

    @classmethod
    def of(cls, job: Job, names: dict[int, str]) -> JobOut:
        return cls.model_validate({**{name: getattr(job, name) for name in JobOut.model_fields
                                      if name not in ("connection", "key")},
                                   "connection": names.get(job.connection_id), "key": job.idempotency_key})


class JobPageOut(BaseModel):
    jobs: list[JobOut]
    next_cursor: str | None = Field(description="Pass it as `cursor` for the next page; null: the last page.")


class LargeColumnOut(BaseModel):
    bytes: int = Field(description="Its whole size.")
    left_out: int = Field(description="Bytes not shown here; the whole is at the job's request.xml/response.xml.")


class EventOut(Out):
    at: Utc
    kind: str
    detail: str | None
    ticket: str | None


class JobDetailOut(JobOut):
    ticket: str | None
    progress: dict[str, Any] | None = Field(description="The job kind's progress.")
    payload: Any = Field(description="What the job sends (parsed when whole, else its first 64 KiB as text).")
    warnings: Any
    request_xml: str | None = Field(description="The first 64 KiB of the request sent.")
    response_xml: str | None = Field(description="The first 64 KiB of QuickBooks' answer.")
    cut: dict[str, LargeColumnOut] = Field(description="The large columns shown cut, and by how much.")
    events: list[EventOut] = Field(description="Its audit trail, oldest first (the last 200).")

    @classmethod
    def detail(cls, job: Job, names: dict[int, str], heads: dict[str, Head], events: list[Event]) -> JobDetailOut:
        def value(column: str) -> Any:
            head = heads[column]
            if head.text is None or head.left_out or column not in ("payload", "warnings"):
                return head.text
            return json.loads(head.text)

        return cls.model_validate({
            **JobOut.of(job, names).model_dump(), "ticket": job.ticket, "progress": job.cursor,
            **{column: value(column) for column in heads},
            "cut": {column: {"bytes": head.size, "left_out": head.left_out}
                    for column, head in heads.items() if head.left_out},
            "events": [EventOut.model_validate(event) for event in events]})


class ResolveIn(BaseModel):
    landed: bool = Field(description="true: the write is in QuickBooks (the job is done); false: it is not (the "
                         "job is queued to be sent again).")
    txn_id: str | None = Field(None, max_length=MAX_TXN_ID, description="With landed: the TxnID of the document found "
                               "in QuickBooks, kept on the job and linked to the Fusion entity it sent.")


class SelectionIn(BaseModel):
    connection: str | None = None
    kind: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    limit: int = Field(1000, ge=1, le=10_000, description="The most jobs acted on (oldest first).")


class StatusSelectionIn(SelectionIn):
    status: list[JobStatus] = Field(min_length=1, description="The statuses of the jobs to act on.")


class ResolveManyIn(SelectionIn):
    landed: bool


class JobBriefOut(BaseModel):
    id: int
    kind: str
    status: JobStatus


class RefusedOut(BaseModel):
    id: int
    problem: dict[str, Any]

    @classmethod
    def of(cls, item_id: int, exc: Exception) -> RefusedOut:
        return cls(id=item_id, problem=item_problem(exc))


class SteeredOut(BaseModel):
    changed: list[JobBriefOut]
    refused: list[RefusedOut] = Field(description="The jobs left as they were, each with the problem it met.")
