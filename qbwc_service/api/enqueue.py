"""Queueing work: each send flow with its entity inline, raw qbXML, pulls, stock, and many jobs in one request.

An answer is 201 when the request created a job, 200 when the job existed already (the same idempotency key,
or the same entity): a request sent twice makes one job.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response

from qbwc_service import automation, usecases
from qbwc_service.api.connections import IdempotencyKey
from qbwc_service.api.context import context_of
from qbwc_service.api.schemas import (
    BulkFlow,
    BulkIn,
    BulkItemOut,
    BulkOut,
    BulkRaw,
    EnqueuedOut,
    PullIn,
    RawIn,
    StockIn,
    StockOneIn,
    StockSentOut,
)
from qbwc_service.kinds.flows import FLOWS

router = APIRouter(tags=["enqueue"])

Flow = StrEnum("Flow", {name: name for name in FLOWS})  # type: ignore[misc]


def _status(response: Response, created: bool) -> None:
    response.status_code = 201 if created else 200


@router.post("/connections/{name}/flows/{flow}", status_code=201, response_model=list[EnqueuedOut],
             summary="Send a Fusion entity", description=(
                 "Queue one Fusion entity for its flow (a production order: one job per time record), shaped like "
                 "the files in examples/ (Fusion Operations v2 JSON), or `{\"fusion_id\": ID}` to send what the "
                 "connection's Fusion account holds for that id (read from Fusion now). The entity's id is its "
                 "idempotency key: the same entity again makes no second job, and with other content it updates "
                 "the job or is refused naming what differs. An Idempotency-Key header is not needed here and is "
                 "ignored."))
def enqueue_flow(name: str, flow: Flow, request: Request, response: Response,
                 entity: Annotated[dict[str, Any], Body(description="The Fusion entity.")],
                 automatic: Annotated[bool, Query(description="Queued by an automation (a webhook, a poller) rather "
                                                  "than a person: the flow's automatic switch applies.")] = False,
                 ) -> list[EnqueuedOut]:
    context = context_of(request)
    if set(entity) == {"fusion_id"} and isinstance(entity["fusion_id"], str | int):
        made = automation.enqueue_from_fusion(context.writer, context.job_queue, context.settings, name, str(flow),
                                              str(entity["fusion_id"]), clock=context.clock, automatic=automatic)
        _status(response, any(one.created for one in made))
        return [EnqueuedOut.of(one) for one in made]
    with context.write() as db:
        made = usecases.enqueue_flow(db, context.job_queue, name, str(flow), entity, automatic=automatic)
        _status(response, any(one.created for one in made))
        return [EnqueuedOut.of(one) for one in made]


@router.post("/connections/{name}/raw", status_code=201, response_model=EnqueuedOut, summary="Queue raw qbXML")
def enqueue_raw(name: str, body: RawIn, request: Request, response: Response,
                idempotency_key: IdempotencyKey = None) -> EnqueuedOut:
    context = context_of(request)
    with context.write() as db:
        made = usecases.enqueue_raw(db, context.job_queue, name, body.request, key=idempotency_key,
                                    priority=body.priority)
        _status(response, made.created)
        return EnqueuedOut.of(made)


@router.post("/connections/{name}/pulls", status_code=201, response_model=EnqueuedOut,
             summary="Queue a pull of QuickBooks records",
             description="Read the records changed since the last completed pull (or `since`) into the delivery "
                         "outbox, a page at a time.")
def enqueue_pull(name: str, body: PullIn, request: Request, response: Response,
                 idempotency_key: IdempotencyKey = None) -> EnqueuedOut:
    context = context_of(request)
    with context.write() as db:
        made = usecases.enqueue_pull(db, context.job_queue, name, body.entity, since=body.since,
                                     max_returned=body.max_returned, key=idempotency_key)
        _status(response, made.created)
        return EnqueuedOut.of(made)


@router.post("/connections/{name}/stock/send-all", status_code=201, response_model=StockSentOut,
             summary="Send the stock of every product",
             description="Labelled products only when stock_only_quickbooks_label is on; needs stock_sync. Without "
                         "`levels`, the stock is read from the connection's Fusion account.")
def stock_send_all(name: str, body: StockIn, request: Request, response: Response) -> StockSentOut:
    context = context_of(request)
    levels = body.levels if body.levels is not None else automation.stock_from_fusion(
        context.writer, context.settings, name, clock=context.clock)
    with context.write() as db:
        sent = usecases.send_stock(db, context.job_queue, name, levels)
        _status(response, bool(sent.queued))
        return StockSentOut(queued=[EnqueuedOut.of(m) for m in sent.queued],
                            already_queued=[EnqueuedOut.of(m) for m in sent.already_queued],
                            not_labelled=sent.not_labelled)


@router.post("/connections/{name}/stock/send", status_code=201, response_model=EnqueuedOut,
             summary="Send one product's stock", description="The product is picked by its Fusion code from the "
                                                             "stock levels given, or read from the connection's "
                                                             "Fusion account when `levels` is left out.")
def stock_send_one(name: str, body: StockOneIn, request: Request, response: Response) -> EnqueuedOut:
    context = context_of(request)
    levels = body.levels if body.levels is not None else automation.stock_from_fusion(
        context.writer, context.settings, name, body.product, clock=context.clock)
    with context.write() as db:
        made = usecases.send_stock_of(db, context.job_queue, name, body.product, levels)
        _status(response, made.created)
        return EnqueuedOut.of(made)


@router.post("/jobs/bulk", status_code=201, response_model=BulkOut, summary="Queue many jobs in one request",
             description=(
                 "Raw qbXML, pulls and Fusion entities, each naming its connection, queued in one transaction in the "
                 "order given (their ids follow it). A refused job refuses the whole request: the problem names it "
                 "(`index`, and `field` as jobs[i].…) and nothing is queued. Each raw job or pull may carry its own "
                 "idempotency `key`."))
def enqueue_bulk(body: BulkIn, request: Request, response: Response) -> BulkOut:
    context = context_of(request)
    items: list[usecases.BulkItem] = []
    for job in body.jobs:
        if isinstance(job, BulkRaw):
            items.append(usecases.RawItem(job.connection, job.request, job.key, job.priority))
        elif isinstance(job, BulkFlow):
            items.append(usecases.FlowItem(job.connection, job.flow, job.entity, job.automatic))
        else:
            items.append(usecases.PullItem(job.connection, job.entity, job.since, job.max_returned, job.key))
    with context.write() as db:
        done = usecases.enqueue_bulk(db, context.job_queue, items)
    created = sum(one.created for item in done for one in item.jobs)
    _status(response, created > 0)
    return BulkOut(created=created, items=[BulkItemOut(index=item.index, jobs=[EnqueuedOut.of(one) for one in
                                                                                  item.jobs]) for item in done])
