"""/deliveries: the records pulled from QuickBooks on their way to Fusion: list with filters and a cursor, show one
(its QuickBooks XML and the Fusion payload sent), retry a failed or skipped one, or every one of a status."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from qbwc_service import delivery_usecases
from qbwc_service.api.context import context_of
from qbwc_service.api.jobs import decode_cursor, encode_cursor
from qbwc_service.api.schemas import RefusedOut, Utc
from qbwc_service.db.enums import MAX_INTEGER, DeliveryStatus

router = APIRouter(prefix="/deliveries", tags=["deliveries"])

DeliveryId = Annotated[int, Path(ge=1, le=MAX_INTEGER)]


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    connection: str
    entity: str = Field(description="The QuickBooks document: SalesOrder, Invoice, Estimate, PurchaseOrder...")
    qbd_id: str = Field(description="Its TxnID (ListID for a list record).")
    edit_sequence: str = Field(description="The QuickBooks version of it this record holds.")
    time_modified: str | None
    status: DeliveryStatus
    attempts: int
    not_before: Utc | None = Field(description="A record waiting after a transient error is tried again then.")
    last_error: str | None = Field(description="Why it failed, or why it waits.")
    outcome: str | None = Field(description="What was done: the Fusion order made or updated, or why it was skipped.")
    fusion_collection: str | None
    fusion_id: str | None = Field(description="The Fusion order it became.")
    created_at: Utc
    delivered_at: Utc | None


class DeliveryDetailOut(DeliveryOut):
    fusion_payload: dict[str, Any] | None = Field(description="The Fusion body sent (create or change).")
    ret_xml: str = Field(description="The QuickBooks record as pulled (its *Ret element).")


class DeliveryPageOut(BaseModel):
    deliveries: list[DeliveryOut]
    next_cursor: str | None = Field(description="Pass it as `cursor` for the next page; null: the last page.")


class RetryDeliveriesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["failed", "skipped"]
    connection: str | None = Field(default=None, description="Only this connection's records.")


class RetriedOut(BaseModel):
    changed: list[DeliveryOut]
    refused: list[RefusedOut] = Field(description="The records left as they were, each with the problem it met.")


@router.get("", response_model=DeliveryPageOut, summary="List deliveries", description=(
    "Newest first. `status` may be given several times. The answer's `next_cursor` gives the next page."))
def list_deliveries(
    request: Request,
    connection: Annotated[str | None, Query(description="Only this connection's records.")] = None,
    status: Annotated[list[DeliveryStatus] | None, Query(description="Only records of these statuses.")] = None,
    limit: Annotated[int, Query(ge=1, le=delivery_usecases.MAX_PAGE, description="Records per page.")] = 50,
    cursor: Annotated[str | None, Query(description="From the previous page's next_cursor.")] = None,
) -> DeliveryPageOut:
    before = decode_cursor(cursor) if cursor is not None else None
    with context_of(request).read() as db:
        page = delivery_usecases.list_deliveries(db, connection, tuple(status or ()), before=before, limit=limit)
    return DeliveryPageOut(deliveries=[DeliveryOut.model_validate(view) for view in page.deliveries],
                           next_cursor=encode_cursor(page.next_before) if page.next_before is not None else None)


@router.get("/{delivery_id}", response_model=DeliveryDetailOut, summary="Show a delivery", description=(
    "The record with its QuickBooks XML, the Fusion payload sent, the Fusion id, attempts and the last error."))
def show_delivery(delivery_id: DeliveryId, request: Request) -> DeliveryDetailOut:
    with context_of(request).read() as db:
        return DeliveryDetailOut.model_validate(delivery_usecases.show_delivery(db, delivery_id))


@router.post("/{delivery_id}/retry", response_model=DeliveryOut, summary="Retry a delivery", description=(
    "A failed or skipped record goes back to the delivery worker, to be tried at once."))
def retry_delivery(delivery_id: DeliveryId, request: Request) -> DeliveryOut:
    context = context_of(request)
    with context.write() as db:
        return DeliveryOut.model_validate(delivery_usecases.retry_delivery(db, delivery_id, context.clock))


@router.post("/retry", response_model=RetriedOut, summary="Retry deliveries by status", description=(
    "Every failed (or skipped) record, of one connection or all, oldest first."))
def retry_deliveries(body: RetryDeliveriesIn, request: Request) -> RetriedOut:
    context = context_of(request)
    with context.write() as db:
        retried = delivery_usecases.retry_deliveries(db, body.connection, DeliveryStatus(body.status), context.clock)
    return RetriedOut(changed=[DeliveryOut.model_validate(view) for view in retried.changed],
                      refused=[RefusedOut.of(delivery_id, error) for delivery_id, error in retried.refused])

