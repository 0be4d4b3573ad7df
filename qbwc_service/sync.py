"""The send flows: Fusion entities -> QuickBooks documents, once each.

What to enqueue (validated snapshots, one job per entity, refused for non-US companies), what each job
sends (the mapping for its flow, or a lookup when its earlier outcome was lost), and what an answer
does: link the Fusion entity to the QuickBooks object, queue follow-ups (custom fields), or create a
missing employee, customer job or item first when the options allow it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from lxml import etree
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from mappings import custom_fields as custom_field_mapping
from mappings import linking, purchase_order, receiving, sales_order, shipment, stock, time_tracking
from mappings import reconcile as lookup
from mappings.common import (
    EXTERNAL_GUID_TXN_SINCE,
    LinkedTxn,
    MappingContext,
    marker_for,
)
from mappings.errors import MappingError
from mappings.options import IntegrationOptions
from qbwc_service import links, queue
from qbwc_service.db.models import Connection, Job
from qbwc_service.errors import InvalidInput, InvalidJobPayload
from qbwc_service.fusion import models
from qbwc_service.qbxml.response import Response
from qbwc_service.qbxml.status import missing_reference
from qbwc_service.qbxml.versions import Version

log = logging.getLogger(__name__)

LIST_ADD = "list_add"
CUSTOM_FIELDS = "custom_fields"
DEPENDENCY_PRIORITY = 50


@dataclass(frozen=True)
class Flow:
    name: str
    model: type[BaseModel]
    qbd_type: str
    switch: str | None  # the IntegrationOptions flow switch; None = manual only (stock)
    build: Callable[[Any, IntegrationOptions, MappingContext], etree._Element]
    lookup: Callable[[Any, IntegrationOptions, MappingContext, str], etree._Element]
    links_to: str | None = None  # the flow whose QuickBooks document this one links to
    custom_fields: bool = False


FLOWS: dict[str, Flow] = {
    "sales_order": Flow("sales_order", models.SalesOrder, "SalesOrder", "sales_orders",
                        sales_order.build_sales_order_add, lookup.build_sales_order_lookup, custom_fields=True),
    "purchase_order": Flow("purchase_order", models.PurchaseOrder, "PurchaseOrder", "purchase_orders",
                           purchase_order.build_purchase_order_add, lookup.build_purchase_order_lookup,
                           custom_fields=True),
    "receiving": Flow("receiving", models.Receiving, "Bill", "receivings", receiving.build_bill_add,
                      lookup.build_bill_lookup, links_to="purchase_order", custom_fields=True),
    "shipment": Flow("shipment", models.Shipment, "Invoice", "shipments", shipment.build_invoice_add,
                     lookup.build_invoice_lookup, links_to="sales_order", custom_fields=True),
    "time_tracking": Flow("time_tracking", models.ProductionOrder, "TimeTracking", "time_tracking",
                          lambda e, o, c: time_tracking.build_time_tracking_add(e.order, e.record, o, c),
                          lambda e, o, c, since: lookup.build_time_tracking_lookup(
                              e.record, time_tracking.employee_full_name(e.record.worker), c, since)),
    "stock": Flow("stock", models.StockLevel, "InventoryAdjustment", None, stock.build_inventory_adjustment_add,
                  lookup.build_inventory_adjustment_lookup),
}


KINDS = frozenset({*FLOWS, LIST_ADD, CUSTOM_FIELDS})


@dataclass(frozen=True)
class TimeEntry:
    """One time record of a production order: what a time_tracking job sends."""

    order: models.ProductionOrder
    record: models.TimeRecord

    @property
    def id(self) -> str:
        return str(self.record.id)

    @property
    def code(self) -> str:
        return self.order.code


# ---------------------------------------------------------------- enqueue


def options_of(connection: Connection) -> IntegrationOptions:
    try:
        return IntegrationOptions.model_validate(connection.options or {})
    except ValidationError as exc:
        raise InvalidJobPayload(f"the options of connection {connection.name!r} are not valid any more "
                                f"({exc.errors()[0]['msg']}); fix them with `qbwc-service connection options`") from exc


def parse_entity(flow: Flow, data: Any) -> BaseModel:
    """A validated snapshot, or InvalidJobPayload naming the first bad field."""
    try:
        return flow.model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "entity"
        raise InvalidJobPayload(f"the {flow.name.replace('_', ' ')} is not valid: {where}: {first['msg']}") from exc


def refuse_non_us(connection: Connection) -> None:
    if connection.qb_country and connection.qb_country.upper() != "US":
        raise InvalidInput(non_us_message(connection))


def non_us_message(connection: Connection) -> str:
    return (f"QuickBooks company {connection.company_name or connection.name!r} is a {connection.qb_country} "
            "edition: only retrieving from QuickBooks is supported for non-US companies, so nothing is sent to it.")


def enqueue_flow(db: Session, connection: Connection, flow_name: str, data: Any,
                 *, automatic: bool = False) -> list[queue.Enqueued]:
    """Queue one Fusion entity (one job per time record for a production order). The same entity is
    never queued twice; an entity already in QuickBooks is not queued again."""
    flow = FLOWS.get(flow_name)
    if flow is None:
        raise InvalidInput(f"unknown flow {flow_name!r}; use one of {', '.join(FLOWS)}")
    entity = parse_entity(flow, data)
    options = options_of(connection)
    if flow.switch is not None:
        switch = getattr(options, flow.switch)
        if not (switch.automatic if automatic else switch.manual):
            raise InvalidInput(f"the {flow.name.replace('_', ' ')} flow is not enabled "
                               f"{'automatically' if automatic else 'manually'} for {connection.name!r}")
    elif automatic:
        raise InvalidInput("stock is sent manually only")
    refuse_non_us(connection)
    snapshot = entity.model_dump(mode="json", by_alias=False)
    if isinstance(entity, models.ProductionOrder):
        return [
            _enqueue_one(db, connection, flow, {"entity": snapshot, "record_id": str(record.id)}, str(record.id))
            for record in entity.time_records
        ]
    if isinstance(entity, models.StockLevel):
        if not stock.include_in_stock_sync(entity, options):
            raise InvalidInput(f"product {entity.product.code!r} lacks the {options.stock_quickbooks_label!r} "
                               "label, and only labelled products are sent")
        # The newest adjustment still on its way for this product already sets this quantity: nothing to add.
        # Anything else is a new adjustment, sent after the pending ones, so the last word is the newest.
        newest = next((job for job in queue.pending_of_kind(db, connection.id, flow.name)
                       if job.payload["entity"]["product"]["code"] == entity.product.code), None)
        if newest is not None and float(job_quantity(newest)) == entity.quantity_to_send():
            return [queue.Enqueued(newest, False)]
        return [_enqueue_one(db, connection, flow, {"entity": snapshot},
                             f"{entity.product.code}:{secrets.token_hex(6)}")]
    document_id = getattr(entity, "id")  # noqa: B009 - every document model has an id; BaseModel does not say so
    parent = None
    if flow.links_to is not None:
        # A bill or invoice waits for its order's job, so it can link to the order's lines.
        order = entity.purchase_order if isinstance(entity, models.Receiving) else entity.sales_order  # type: ignore[attr-defined]
        parent = queue.pending_with_key(db, connection.id, f"{flow.links_to}:{order.id}")
    return [_enqueue_one(db, connection, flow, {"entity": snapshot}, str(document_id),
                         depends_on=parent.id if parent is not None else None)]


def job_quantity(job: Job) -> float:
    return models.StockLevel.model_validate(job.payload["entity"]).quantity_to_send()


def _enqueue_one(db: Session, connection: Connection, flow: Flow, payload: dict[str, Any],
                 fusion_id: str, depends_on: int | None = None) -> queue.Enqueued:
    return queue.enqueue(db, connection.id, flow.name, payload, key=f"{flow.name}:{fusion_id}",
                         reconcilable=True, depends_on=depends_on)


# ---------------------------------------------------------------- send


def entity_of(job: Job) -> Any:
    flow = FLOWS[job.kind]
    entity = flow.model.model_validate(job.payload["entity"])
    if isinstance(entity, models.ProductionOrder):
        record = next((r for r in entity.time_records if str(r.id) == job.payload["record_id"]), None)
        if record is None:
            raise InvalidJobPayload(f"time record {job.payload['record_id']} is not in the production order")
        return TimeEntry(entity, record)
    return entity


def fusion_id_of(job: Job, entity: Any) -> str:
    return f"job-{job.id}" if job.kind == "stock" else str(entity.id)


def context_for(db: Session, job: Job, entity: Any, connection: Connection, version: Version,
                sync_date: date) -> MappingContext:
    flow = FLOWS[job.kind]
    marker, guid = marker_for(connection.owner_id, flow.name, fusion_id_of(job, entity))
    linked = None
    if flow.links_to is not None:
        parent = entity.purchase_order if flow.links_to == "purchase_order" else entity.sales_order
        link = links.find(db, connection.id, flow.links_to, parent.id)
        if link is not None:
            linked = LinkedTxn(link.qbd_id, {str(k): str(v) for k, v in (link.line_ids or {}).items()})
    return MappingContext(version=version, sync_date=sync_date, marker=marker,
                          external_guid=guid if version >= EXTERNAL_GUID_TXN_SINCE else None, linked=linked)


def build_requests(db: Session, job: Job, connection: Connection, version: Version, sync_date: date,
                   ) -> list[etree._Element]:
    """The flow's add, or, when an earlier outcome was lost, the lookup that finds it."""
    if job.kind == LIST_ADD:
        from qbwc_service.qbxml.xml import parse_untrusted

        return [parse_untrusted(job.payload["request"])]
    if job.kind == CUSTOM_FIELDS:
        return custom_field_mapping.build_data_ext_adds(job.payload["txn_type"], job.payload["txn_id"],
                                                        [tuple(v) for v in job.payload["values"]])
    if connection.qb_country and connection.qb_country.upper() != "US":
        raise InvalidJobPayload(non_us_message(connection))
    flow = FLOWS[job.kind]
    entity = entity_of(job)
    options = options_of(connection)
    ctx = context_for(db, job, entity, connection, version, sync_date)
    try:
        if (job.cursor or {}).get("reconcile"):
            lost = (job.cursor or {}).get("lost_sent_at")
            sent = datetime.fromisoformat(lost) if lost else job.created_at
            # QuickBooks filters on its own local time; two days either side covers any time zone.
            since = (sent - timedelta(days=2)).replace(microsecond=0).isoformat()
            return [flow.lookup(entity, options, ctx, since)]
        return [flow.build(entity, options, ctx)]
    except MappingError as exc:
        raise InvalidJobPayload(str(exc)) from exc


# ---------------------------------------------------------------- answers


def settle(db: Session, job: Job, connection: Connection, answers: list[Response], version: Version,
           sync_date: date) -> bool:
    """Settle a flow job whose answers need more than the status policy; False leaves the job to it."""
    first = answers[0]
    if job.kind == CUSTOM_FIELDS or job.kind not in FLOWS:
        return False
    if (job.cursor or {}).get("reconcile"):
        return _reconciled(db, job, connection, answers, version, sync_date)
    if first.ok:
        _created(db, job, connection, first, version, sync_date, reconciled=False)
        return True
    if first.status_code == "3140":
        return _create_missing_first(db, job, connection, first, version, sync_date)
    return False


def _created(db: Session, job: Job, connection: Connection, answer: Response | None, version: Version,
             sync_date: date, *, reconciled: bool, ret: etree._Element | None = None) -> None:
    flow = FLOWS[job.kind]
    entity = entity_of(job)
    ret = ret if ret is not None else (answer.first_ret() if answer is not None else None)
    assert ret is not None
    txn_id = ret.findtext("TxnID") or ""
    order_lines = getattr(entity, "lines", None)
    line_ids = linking.line_ids(ret, order_lines) if order_lines and flow.name in ("sales_order",
                                                                                   "purchase_order") else None
    if flow.name != "stock":
        links.record(db, connection.id, flow.name, fusion_id_of(job, entity), qbd_type=flow.qbd_type,
                     qbd_id=txn_id, ref_number=ret.findtext("RefNumber"),
                     edit_sequence=ret.findtext("EditSequence"), line_ids=line_ids, job_id=job.id)
    result = {"TxnID": txn_id, "RefNumber": ret.findtext("RefNumber"), "reconciled": reconciled}
    queue.complete(db, job, response_xml=answer.text() if answer is not None else None,
                   status_code=answer.status_code if answer else "0",
                   status_message="Found in QuickBooks: the earlier add had landed." if reconciled else
                   (answer.status_message if answer else ""), result=result)
    if flow.custom_fields:
        values = custom_field_mapping.custom_field_values(entity, options_of(connection))
        if values and options_of(connection).entity_code_field:
            queue.enqueue(db, connection.id, CUSTOM_FIELDS,
                          {"txn_type": flow.qbd_type, "txn_id": txn_id, "values": [list(v) for v in values]},
                          key=f"{CUSTOM_FIELDS}:{flow.name}:{fusion_id_of(job, entity)}", read_only=False)


def _reconciled(db: Session, job: Job, connection: Connection, answers: list[Response], version: Version,
                sync_date: date) -> bool:
    entity = entity_of(job)
    ctx = context_for(db, job, entity, connection, version, sync_date)
    candidates = [child for answer in answers if answer.status_code in ("0", "1") for child in answer.element
                  if isinstance(child.tag, str) and child.tag.endswith("Ret")]
    if any(answer.status_code not in ("0", "1") for answer in answers):
        return False  # the lookup itself failed: the status policy retries or stops it
    ours = lookup.find_ours(candidates, ctx)
    if ours is not None:
        _created(db, job, connection, answers[0], version, sync_date, reconciled=True, ret=ours)
        log.info("lost add found in QuickBooks", extra={"job": job.id})
        return True
    cursor = {**(job.cursor or {}), "reconcile": False, "lookups": int((job.cursor or {}).get("lookups", 0)) + 1}
    cursor.pop("lost_sent_at", None)
    queue.continue_later(db, job, cursor, "Not in QuickBooks: the earlier add did not land; sending it now.")
    return True


def _create_missing_first(db: Session, job: Job, connection: Connection, answer: Response, version: Version,
                          sync_date: date) -> bool:
    """3140: create the missing employee, customer job or item first when the options allow it."""
    missing = missing_reference(answer.status_message)
    if missing is None:
        return False
    kind, name = missing
    options = options_of(connection)
    entity = entity_of(job)
    request: etree._Element | None = None
    # A time entry's EntityRef is reported as "Entity" or "Employee" depending on the QuickBooks version.
    if isinstance(entity, TimeEntry) and kind in ("Employee", "Entity") and options.create_missing_employee:
        request = time_tracking.build_employee_add(entity.record.worker)
    elif isinstance(entity, TimeEntry) and kind == "Customer" and options.create_missing_customer_job:
        request = time_tracking.build_customer_job_add(entity.order, entity.record, options)
    elif isinstance(entity, models.PurchaseOrder) and "Item" in kind and options.create_missing_items:
        product = next((line.product for line in entity.lines if line.product.code == name.split(":")[-1]), None)
        if product is not None:
            request = purchase_order.build_item_add(product, options)
    if request is None:
        return False
    cursor = dict(job.cursor or {})
    created = list(cursor.get("created", []))
    if f"{kind}:{name}" in created:
        return False  # created once already and still missing: let the status policy stop the job
    dependency = queue.enqueue(
        db, connection.id, LIST_ADD,
        {"request": etree.tostring(request, encoding="unicode"), "list_type": kind, "name": name},
        key=f"{LIST_ADD}:{kind}:{name}", priority=DEPENDENCY_PRIORITY, read_only=True,
    ).job
    if dependency.status in (queue.DEAD, queue.CANCELLED):
        queue.retry(db, dependency.id)
    created.append(f"{kind}:{name}")
    job.depends_on = dependency.id
    queue.continue_later(db, job, {**cursor, "created": created},
                         f"QuickBooks has no {kind} {name!r}; creating it first (job {dependency.id}).")
    return True
