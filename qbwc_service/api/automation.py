"""Retrieving QuickBooks documents from a date, closing or reopening a QuickBooks sales order, and the Fusion
webhook (which needs no API key: it is signed, see qbwc_service.webhooks)."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from qbwc_service import automation, webhooks
from qbwc_service.api.connections import IdempotencyKey
from qbwc_service.api.context import context_of
from qbwc_service.api.schemas import EnqueuedOut

router = APIRouter(tags=["automation"])
webhook_router = APIRouter(tags=["webhooks"])

WEBHOOK_PATH = "/webhooks/fusion"


class RetrieveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: str = Field(description="Every document created or modified after this date (or date-time), in the "
                       "company's time.", examples=["2026-11-01"])
    types: list[str] | None = Field(None, description="Of sales_order, purchase_order, invoice, estimate; all of "
                                    "them when absent.", examples=[["sales_order", "invoice"]])


@router.post("/connections/{name}/retrieve", status_code=201, response_model=list[EnqueuedOut],
             summary="Retrieve QuickBooks documents from a date",
             description="Queue one pull per document type of everything created or modified after `since`; the "
                         "records read are stored for Fusion. The high-water marks of the automatic retrieve are "
                         "left as they are.")
def retrieve(name: str, body: RetrieveIn, request: Request, response: Response,
             idempotency_key: IdempotencyKey = None) -> list[EnqueuedOut]:
    context = context_of(request)
    with context.write() as db:
        made = automation.retrieve_documents(db, context.job_queue, name, body.since, body.types,
                                             key=idempotency_key)
        response.status_code = 201 if any(one.created for one in made) else 200
        return [EnqueuedOut.of(one) for one in made]


def _closing(name: str, fusion_id: str, request: Request, response: Response, close: bool) -> EnqueuedOut:
    context = context_of(request)
    with context.write() as db:
        made = automation.close_order(db, context.job_queue, name, fusion_id, close=close)
        response.status_code = 201 if made.created else 200
        return EnqueuedOut.of(made)


@router.post("/connections/{name}/orders/{fusion_id}/close", status_code=201, response_model=EnqueuedOut,
             summary="Mark a QuickBooks sales order closed",
             description="The lines of the QuickBooks sales order sent for this Fusion order that are not fully "
                         "invoiced are marked closed; fully invoiced lines are left as they are.")
def close_order(name: str, fusion_id: str, request: Request, response: Response) -> EnqueuedOut:
    return _closing(name, fusion_id, request, response, True)


@router.post("/connections/{name}/orders/{fusion_id}/reopen", status_code=201, response_model=EnqueuedOut,
             summary="Mark a QuickBooks sales order open again",
             description="The closed lines that are not fully invoiced are open again.")
def reopen_order(name: str, fusion_id: str, request: Request, response: Response) -> EnqueuedOut:
    return _closing(name, fusion_id, request, response, False)


class WebhookOut(BaseModel):
    connection: str
    event: str
    flow: str
    fusion_id: str
    jobs: list[EnqueuedOut]
    refused: str | None = Field(None, description="Why the entity was not queued (e.g. the flow is not automatic).")


@webhook_router.post(WEBHOOK_PATH, status_code=202, response_model=WebhookOut, summary="A Fusion webhook",
                     openapi_extra={"security": []}, description=(
                         "Needs no API key: signed with the connection's shared secret. Headers X-Fusion-Timestamp "
                         "(Unix seconds) and X-Fusion-Signature (sha256= and the hex HMAC-SHA256 of "
                         "`TIMESTAMP.BODY`); body {\"id\": EVENT_ID, \"entity\": {\"type\": \"shippings\", "
                         "\"id\": 8001}}. The entity is read from Fusion and queued as the poller does. 401: not "
                         "signed, or too old; 409: the event was taken before; 429: too many refused webhooks from "
                         "the client's address."))
async def fusion_webhook(
    request: Request,
    connection: Annotated[str | None, Query(max_length=200, description="The connection's name.")] = None,
    account: Annotated[str | None, Query(max_length=100, description="Or the Fusion account's id.")] = None,
) -> Any:
    context = context_of(request)
    body = await request.body()
    received = await anyio.to_thread.run_sync(lambda: webhooks.receive(
        context.writer, context.settings, context.job_queue, context.clock, connection=connection, account=account,
        timestamp=request.headers.get(webhooks.TIMESTAMP_HEADER),
        signature=request.headers.get(webhooks.SIGNATURE_HEADER), body=body,
        address=request.client.host if request.client else ""))
    taken = received.taken
    jobs = [EnqueuedOut.of(one) for one in taken.queued] + ([EnqueuedOut.of(taken.closing)] if taken.closing else [])
    return WebhookOut(connection=received.connection, event=received.event.event_id, flow=taken.flow,
                      fusion_id=taken.fusion_id, jobs=jobs, refused=taken.refused)
