"""The send flows: Fusion entities -> QuickBooks documents, once each.

Each flow is a row of :data:`FLOWS`, and every difference between flows is a field of that row: how an
entity becomes jobs, what it is sent as, what it links to, what may be created first. One
:class:`FlowKind` serves every row: it sends the flow's add (or, when an earlier outcome was lost, the
lookup that finds it), links the Fusion entity to the QuickBooks object, queues follow-ups (custom fields),
and creates a missing employee, customer job or item first when the options allow it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lxml import etree
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from mappings import custom_fields as custom_field_mapping
from mappings import linking, purchase_order, receiving, reconcile, sales_order, shipment, stock, time_tracking
from mappings.common import EXTERNAL_GUID_TXN_SINCE, LinkedTxn, MappingContext, marker_for
from mappings.errors import MappingError
from mappings.options import IntegrationOptions
from qbwc_service import editions, links, queue
from qbwc_service.db.enums import JobStatus
from qbwc_service.db.models import Connection, Job
from qbwc_service.errors import InvalidJobPayload, Refusal, Refused
from qbwc_service.fusion import models
from qbwc_service.kinds.base import (
    Answer,
    BuildContext,
    Built,
    Progress,
    RequestKind,
    ResolveContext,
    SettleContext,
)
from qbwc_service.kinds.custom_fields import CUSTOM_FIELDS
from qbwc_service.kinds.raw import LIST_ADD
from qbwc_service.qbxml.response import Response
from qbwc_service.qbxml.status import StatusCode, answered, missing_reference
from qbwc_service.qbxml.versions import Version
from qbwc_service.settlements import Continue, Done, Settlement

log = logging.getLogger(__name__)

DEPENDENCY_PRIORITY = 50
# The largest entity a send takes: QuickBooks and the Web Connector choke on documents far beyond these, and a
# request that can never be sent must be refused when it is queued, not fail in every session.
MAX_DOCUMENT_LINES = 2000
MAX_ENTITY_BYTES = 2 * 1024 * 1024


class FlowProgress(Progress):
    reconcile: bool = False  # the last outcome was lost: look the document up before sending it again
    lost_sent_at: datetime | None = None  # when the first attempt whose outcome is unknown went out
    lookups: int = 0
    created: tuple[str, ...] = ()  # "Kind:Name" of the entries this job had created first


@dataclass(frozen=True)
class TimeEntry:
    """One time record of a production order: what a time_tracking job sends."""

    order: models.ProductionOrder
    record: models.TimeRecord

    @property
    def id(self) -> str:
        return str(self.record.id)


@dataclass(frozen=True)
class Unit:
    """One job an entity becomes: its payload and the Fusion id its idempotency key is made of (None: each one is
    new, and has no key of its own)."""

    payload: dict[str, Any]
    fusion_id: str | None


def _one_document(entity: Any, snapshot: dict[str, Any]) -> list[Unit]:
    return [Unit({"entity": snapshot}, str(entity.id))]


def _one_per_time_record(entity: Any, snapshot: dict[str, Any]) -> list[Unit]:
    return [Unit({"entity": snapshot, "record_id": str(r.id)}, str(r.id)) for r in entity.time_records]


def _one_adjustment(entity: Any, snapshot: dict[str, Any]) -> list[Unit]:
    # Each quantity sent is a new adjustment, sent after the pending ones, so the last word is the newest.
    return [Unit({"entity": snapshot}, None)]


def _whole_entity(payload: dict[str, Any]) -> Any:
    return payload["entity"]


def _one_time_record(payload: dict[str, Any]) -> Any:
    """A time entry is its record and its order's own fields: another record added to the order changes
    nothing of this one."""
    order = {k: v for k, v in payload["entity"].items() if k != "time_records"}
    record = next((r for r in payload["entity"].get("time_records", []) if str(r.get("id")) == payload["record_id"]),
                  None)
    return {"order": order, "record": record}


def _time_entry(order: Any, payload: dict[str, Any]) -> TimeEntry:
    record = next((r for r in order.time_records if str(r.id) == payload["record_id"]), None)
    if record is None:
        raise InvalidJobPayload(f"time record {payload['record_id']} is not in the production order", "record_id")
    return TimeEntry(order, record)


def _missing_for_time_entry(entry: TimeEntry, kind: str, name: str,
                            options: IntegrationOptions) -> etree._Element | None:
    # A time entry's EntityRef is reported as "Entity" or "Employee" depending on the QuickBooks version.
    if kind in ("Employee", "Entity") and options.create_missing_employee:
        return time_tracking.build_employee_add(entry.record.worker)
    if kind == "Customer" and options.create_missing_customer_job:
        return time_tracking.build_customer_job_add(entry.order, entry.record, options)
    return None


def _missing_for_purchase_order(order: Any, kind: str, name: str,
                                options: IntegrationOptions) -> etree._Element | None:
    if "Item" not in kind or not options.create_missing_items:
        return None
    product = next((line.product for line in order.lines if line.product.code == name.split(":")[-1]), None)
    return purchase_order.build_item_add(product, options) if product is not None else None


def _stock_admitted(db: Session, connection: Connection, level: Any, options: IntegrationOptions) -> Job | None:
    """Stock is sent only when stock sync is on, and only for labelled products when that option is on; a
    quantity already on its way (the newest pending adjustment of the product) is not queued again."""
    refuse_stock_sync_off(connection, options)
    if not stock.include_in_stock_sync(level, options):
        raise Refused(Refusal.NOT_LABELLED, level.product.code,
                      f"product {level.product.code!r} lacks the {options.stock_quickbooks_label!r} label, and only "
                      "labelled products are sent")
    newest = next((job for job in queue.pending_of_kind(db, connection.id, "stock")
                   if job.payload["entity"]["product"]["code"] == level.product.code), None)
    if newest is not None and job_quantity(newest) == level.quantity_to_send():
        return newest
    return None


@dataclass(frozen=True)
class OnePerOrder:
    """An order gets one such document unless ``option`` is on: the vendor's behaviour (one shipment, one
    receiving per order, billed for the ordered quantity), so a second one must not bill the order again."""

    option: str  # the IntegrationOptions switch that allows several documents per order
    document: str  # "invoice"
    billed: str  # "invoiced"
    order: str  # "sales order"

    def applies(self, options: IntegrationOptions) -> bool:
        return not getattr(options, self.option)

    def refusal(self, entity: Any, order: Any, first: Job, label: str) -> str:
        first_code = (first.payload.get("entity") or {}).get("code") or f"job {first.id}"
        return (f"{label} {entity.code!r} was not {self.billed}: {self.order} {order.code!r} is "
                f"already {self.billed} by {label} {first_code!r} (job {first.id}, {first.status}). With "
                f"{self.option} off (the default), an order gets one {self.document}, for its ordered quantity; "
                f"turn {self.option} on to give each {label} its own {self.document}.")


def _document_lines(entity: Any) -> int:
    return len(entity.lines)


@dataclass(frozen=True)
class Flow:
    name: str
    model: type[BaseModel]
    qbd_type: str
    switch: str | None  # the IntegrationOptions flow switch; None = manual only (stock)
    build: Callable[[Any, IntegrationOptions, MappingContext], etree._Element]
    lookup: Callable[[Any, IntegrationOptions, MappingContext, str], etree._Element]
    units: Callable[[Any, dict[str, Any]], list[Unit]] = _one_document
    sent_entity: Callable[[Any, dict[str, Any]], Any] = lambda entity, payload: entity
    # The flow whose QuickBooks document this one links to, and the order the entity names.
    links_to: str | None = None
    parent_order: Callable[[Any], Any] = lambda entity: None
    one_per_order: OnePerOrder | None = None
    content: Callable[[dict[str, Any]], Any] = _whole_entity  # what a job sends, to tell a changed entity
    changeable: bool = False  # sent again as a *ModRq when changed (update_sent_orders)
    records_link: bool = True  # stock adjustments are not linked: each is a new one
    keeps_line_ids: bool = False  # an order's lines are what later documents link to
    custom_fields: bool = False
    missing: Callable[[Any, str, str, IntegrationOptions], etree._Element | None] = lambda e, k, n, o: None
    # Stock's own rules at enqueue: may refuse, or name the pending job that already sends this.
    admitted: Callable[[Session, Connection, Any, IntegrationOptions], Job | None] = lambda db, c, e, o: None
    lines: Callable[[Any], int] = _document_lines  # how many lines the QuickBooks document gets

    def fusion_id(self, job: Job, entity: Any) -> str:
        return str(entity.id) if self.records_link else f"job-{job.id}"

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")

    def order_key(self, entity: Any) -> str | None:
        parent = self.parent_order(entity)
        return f"{self.links_to}:{parent.id}" if parent is not None and self.links_to else None

    def billed_before(self, db: Session, connection_id: int, entity: Any, options: IntegrationOptions,
                      job: Job | None = None, key: str | None = None) -> Job | None:
        """Under the one-document-per-order rule: the job that bills (or is to bill first) the same order
        as ``entity``; None when nothing stands in the way. ``job`` is the one being sent (``key`` the one
        being queued), never its own obstacle."""
        order_key = self.order_key(entity)
        if self.one_per_order is None or order_key is None or not self.one_per_order.applies(options):
            return None
        for other in queue.of_order(db, connection_id, self.name, order_key):
            if (job is not None and other.id == job.id) or (key is not None and other.idempotency_key == key):
                continue
            first_in_line = job is None or other.id < job.id
            # Sent under another session: it may have landed. Sent with this job: the older one goes first.
            elsewhere = other.status == JobStatus.SENT and (job is None or other.ticket != job.ticket)
            if first_in_line or elsewhere or other.status in (JobStatus.DONE, JobStatus.UNKNOWN):
                return other
        return None


FLOWS: dict[str, Flow] = {flow.name: flow for flow in (
    Flow("sales_order", models.SalesOrder, "SalesOrder", "sales_orders", sales_order.build_sales_order_add,
         reconcile.build_sales_order_lookup, keeps_line_ids=True, custom_fields=True, changeable=True),
    Flow("purchase_order", models.PurchaseOrder, "PurchaseOrder", "purchase_orders",
         purchase_order.build_purchase_order_add, reconcile.build_purchase_order_lookup, keeps_line_ids=True,
         custom_fields=True, missing=_missing_for_purchase_order, changeable=True),
    Flow("receiving", models.Receiving, "Bill", "receivings", receiving.build_bill_add, reconcile.build_bill_lookup,
         links_to="purchase_order", parent_order=lambda e: e.purchase_order, custom_fields=True,
         lines=lambda e: max(len(e.lines), len(e.purchase_order.lines)),
         one_per_order=OnePerOrder("partial_billing", "bill", "billed", "purchase order")),
    Flow("shipment", models.Shipment, "Invoice", "shipments", shipment.build_invoice_add,
         reconcile.build_invoice_lookup, links_to="sales_order", parent_order=lambda e: e.sales_order,
         lines=lambda e: max(len(e.lines), len(e.sales_order.lines)),
         custom_fields=True, one_per_order=OnePerOrder("partial_invoicing", "invoice", "invoiced", "sales order")),
    Flow("time_tracking", models.ProductionOrder, "TimeTracking", "time_tracking",
         lambda e, o, c: time_tracking.build_time_tracking_add(e.order, e.record, o, c),
         lambda e, o, c, since: reconcile.build_time_tracking_lookup(
             e.record, time_tracking.employee_full_name(e.record.worker), c, since),
         units=_one_per_time_record, sent_entity=_time_entry, missing=_missing_for_time_entry,
         lines=lambda e: len(e.time_records),
         content=_one_time_record),
    Flow("stock", models.StockLevel, "InventoryAdjustment", None, stock.build_inventory_adjustment_add,
         reconcile.build_inventory_adjustment_lookup, units=_one_adjustment, records_link=False, lines=lambda e: 1,
         admitted=_stock_admitted),
)}


# ---------------------------------------------------------------- enqueue


def options_of(connection: Connection) -> IntegrationOptions:
    try:
        return IntegrationOptions.model_validate(connection.options or {})
    except ValidationError as exc:
        raise InvalidJobPayload(f"the options of connection {connection.name!r} are not valid any more "
                                f"({exc.errors()[0]['msg']}); fix them with `qbwc-service connection options`",
                                "options") from exc


def refuse_non_us(connection: Connection) -> None:
    """At enqueue: no send is queued for a company known not to be a US edition (editions.send_refusal)."""
    editions.refuse_sends_to_non_us(connection)


def refuse_stock_sync_off(connection: Connection, options: IntegrationOptions) -> None:
    if not options.stock_sync:
        raise Refused(Refusal.STOCK_SYNC_OFF, connection.name,
                      f"stock sync is off for {connection.name!r}; set stock_sync=true and stock_adjustment_account")


def parse_entity(flow: Flow, data: Any) -> BaseModel:
    """A validated snapshot, or InvalidJobPayload naming the first bad field."""
    try:
        return flow.model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "entity"
        raise InvalidJobPayload(f"the {flow.name.replace('_', ' ')} is not valid: {where}: {first['msg']}",
                                where) from exc


def refuse_too_big(flow: Flow, data: Any, entity: Any) -> None:
    size = len(json.dumps(data, default=str).encode("utf-8"))
    if size > MAX_ENTITY_BYTES:
        raise InvalidJobPayload(f"the {flow.label} is {size} bytes of JSON; at most {MAX_ENTITY_BYTES} are taken",
                                "entity")
    lines = flow.lines(entity)
    if lines > MAX_DOCUMENT_LINES:
        raise InvalidJobPayload(f"the {flow.label} has {lines} lines; a QuickBooks document of this service holds at "
                                f"most {MAX_DOCUMENT_LINES}: split it in Fusion", "lines")


def flow_named(name: str) -> Flow:
    flow = FLOWS.get(name)
    if flow is None:
        raise Refused(Refusal.UNKNOWN_FLOW, name, f"unknown flow {name!r}; use one of {', '.join(FLOWS)}")
    return flow


def enqueue_flow(db: Session, job_queue: queue.JobQueue, connection: Connection, flow_name: str, data: Any,
                 *, automatic: bool = False) -> list[queue.Enqueued]:
    """Queue one Fusion entity (one job per time record for a production order). The same entity is never
    queued twice; an entity already in QuickBooks is not queued again."""
    flow = flow_named(flow_name)
    entity = parse_entity(flow, data)
    refuse_too_big(flow, data, entity)
    options = options_of(connection)
    label = flow.label
    if flow.switch is None:
        if automatic:
            raise Refused(Refusal.MANUAL_ONLY, flow.name, f"{label} is sent manually only")
    else:
        switch = getattr(options, flow.switch)
        if not (switch.automatic if automatic else switch.manual):
            raise Refused(Refusal.FLOW_DISABLED, flow.name, f"the {label} flow is not enabled "
                          f"{'automatically' if automatic else 'manually'} for {connection.name!r}")
    refuse_non_us(connection)
    pending = flow.admitted(db, connection, entity, options)
    if pending is not None:
        return [queue.Enqueued(pending, False)]
    snapshot = entity.model_dump(mode="json", by_alias=False)
    units = flow.units(entity, snapshot)
    order_key = flow.order_key(entity)
    first = flow.billed_before(db, connection.id, entity, options, key=f"{flow.name}:{units[0].fusion_id}")
    if first is not None and flow.one_per_order is not None:
        raise Refused(Refusal.ORDER_ALREADY_BILLED, str(getattr(entity, "code", "")),
                      flow.one_per_order.refusal(entity, flow.parent_order(entity), first, label))
    # A bill or invoice waits for its order's job, so it can link to the order's lines.
    waits_for = queue.pending_with_key(db, connection.id, order_key) if order_key else None
    made: list[queue.Enqueued] = []
    for unit in units:
        key = f"{flow.name}:{unit.fusion_id}" if unit.fusion_id is not None else None
        sent = queue.with_key(db, connection.id, key) if key is not None else None
        if sent is not None and flow.content(sent.payload) != flow.content(unit.payload):
            made.append(_changed(db, job_queue, connection, flow, entity, sent, unit, options))
            continue
        made.append(job_queue.enqueue(db, connection.id, flow.name, unit.payload, key=key, reconcilable=True,
                                      depends_on=waits_for.id if waits_for is not None else None,
                                      order_key=order_key))
    return made


def change_kind_name(flow: str) -> str:
    return f"{flow}_change"


def _changed(db: Session, job_queue: queue.JobQueue, connection: Connection, flow: Flow, entity: Any, sent: Job,
             unit: Unit, options: IntegrationOptions) -> queue.Enqueued:
    """An entity queued again with other content than its job's: a job not sent yet takes it; an order in
    QuickBooks gets it as a change when update_sent_orders is on; otherwise it is refused, saying what differs."""
    differs = "; ".join(differences(flow.content(sent.payload), flow.content(unit.payload)))
    code = str(getattr(entity, "code", None) or unit.fusion_id)
    if sent.status in (JobStatus.QUEUED, JobStatus.FAILED):
        job_queue.replace_payload(db, sent, unit.payload, f"the newer version of the {flow.label}: {differs}")
        return queue.Enqueued(sent, False, changed=True)
    if sent.status == JobStatus.DONE and flow.changeable and options.update_sent_orders:
        digest = hashlib.sha256(json.dumps(unit.payload, sort_keys=True).encode()).hexdigest()[:16]
        change = change_kind_name(flow.name)
        made = job_queue.enqueue(db, connection.id, change, unit.payload, key=f"{change}:{unit.fusion_id}:{digest}",
                                 read_only=True)
        return queue.Enqueued(made.job, made.created, changed=True)
    if sent.status == JobStatus.DONE:
        hint = (f"Turn update_sent_orders on to send the change to QuickBooks, or change the {flow.label} there."
                if flow.changeable else f"Change the {flow.label} in QuickBooks if it must change.")
    else:
        hint = "Settle that job first (jobs retry or jobs cancel); then queue the new version."
    raise Refused(Refusal.ALREADY_SENT, code,
                  f"{flow.label} {code!r} was queued before (job {sent.id}, {sent.status}) and differs from what "
                  f"that job sends: {differs}. Nothing was queued. {hint}")


def differences(old: Any, new: Any, path: str = "", limit: int = 5) -> list[str]:
    """What changed between two JSON values, as "path: old -> new", the first ``limit`` of them."""
    found: list[str] = []

    def walk(a: Any, b: Any, where: str) -> None:
        if len(found) >= limit or a == b:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for key in [*a, *(k for k in b if k not in a)]:
                walk(a.get(key), b.get(key), f"{where}.{key}" if where else str(key))
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for index, (x, y) in enumerate(zip(a, b, strict=True)):
                walk(x, y, f"{where}[{index}]")
        else:
            found.append(f"{where or 'entity'}: {_short(a)} -> {_short(b)}")

    walk(old, new, path)
    return found


def _short(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else f"{text[:57]}..."


def job_quantity(job: Job) -> float:
    return models.StockLevel.model_validate(job.payload["entity"]).quantity_to_send()


# ---------------------------------------------------------------- the kind


class FlowKind(RequestKind[FlowProgress]):
    progress_model = FlowProgress

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.name = flow.name

    def entity(self, job: Job) -> Any:
        return self.flow.sent_entity(self.flow.model.model_validate(job.payload["entity"]), job.payload)

    def context(self, db: Session, job: Job, entity: Any, connection: Connection, version: Version,
                sync_date: Any) -> MappingContext:
        flow = self.flow
        marker, guid = marker_for(connection.owner_id, flow.name, flow.fusion_id(job, entity))
        linked = None
        parent = flow.parent_order(entity)
        if parent is not None and flow.links_to is not None:
            link = links.find(db, connection.id, flow.links_to, parent.id)
            if link is not None:
                linked = LinkedTxn(link.qbd_id, {str(k): str(v) for k, v in (link.line_ids or {}).items()})
        return MappingContext(version=version, sync_date=sync_date, marker=marker,
                              external_guid=guid if version >= EXTERNAL_GUID_TXN_SINCE else None, linked=linked)

    def build(self, job: Job, ctx: BuildContext) -> Built:
        """The flow's add, or, when an earlier outcome was lost, the lookup that finds it."""
        connection = ctx.connection
        # Judged again here, with the signs this session reported: a job queued before they were known.
        editions.refuse_sends_to_non_us(connection)
        entity = self.entity(job)
        options = options_of(connection)
        mapping = self.context(ctx.db, job, entity, connection, ctx.version, ctx.sync_date)
        progress = self.progress(job)
        if not progress.reconcile:
            first = self.flow.billed_before(ctx.db, connection.id, entity, options, job=job)
            if first is not None and self.flow.one_per_order is not None:
                raise InvalidJobPayload(self.flow.one_per_order.refusal(entity, self.flow.parent_order(entity), first,
                                                                        self.flow.label))
        try:
            if progress.reconcile:
                sent = progress.lost_sent_at or job.created_at
                # QuickBooks filters on its own local time; two days either side covers any time zone.
                since = (sent - timedelta(days=2)).replace(microsecond=0).isoformat()
                return Built([self.flow.lookup(entity, options, mapping, since)], looks_up=True)
            return Built([self.flow.build(entity, options, mapping)], warnings=mapping.warnings)
        except MappingError as exc:
            raise InvalidJobPayload(str(exc)) from exc

    def settle(self, job: Job, answer: Answer, ctx: SettleContext) -> Settlement:
        responses = answer.responses
        first = responses[0]
        if self.progress(job).reconcile:
            if all(answered(r.status_code) for r in responses):
                return self._reconciled(job, responses, ctx)
            return super().settle(job, answer, ctx)  # the lookup itself failed: the status policy decides
        if first.ok:
            return self._created(job, first, ctx, reconciled=False)
        if first.status_code == StatusCode.INVALID_REFERENCE:
            planned = self._create_missing_first(job, first, ctx)
            if planned is not None:
                return planned
        return super().settle(job, answer, ctx)

    def progress_when_lost(self, job: Job) -> Progress | None:
        progress = self.progress(job)
        return progress.model_copy(update={"reconcile": True, "lost_sent_at": progress.lost_sent_at or job.sent_at})

    def landed(self, job: Job, txn_id: str | None, ctx: ResolveContext) -> dict[str, Any]:
        """The document is in QuickBooks: with its TxnID, the entity is linked to it, so that what links to it
        (a bill to its purchase order, an invoice to its sales order) finds it."""
        if txn_id and self.flow.records_link:
            entity = self.entity(job)
            links.record(ctx.db, ctx.connection.id, self.flow.name, self.flow.fusion_id(job, entity),
                         qbd_type=self.flow.qbd_type, qbd_id=txn_id, job_id=job.id, now=ctx.clock.now())
        return {"TxnID": txn_id} if txn_id else {}

    def progress_when_not_landed(self, job: Job) -> Progress | None:
        """Not in QuickBooks: sent again as it is, without looking it up first."""
        return self.progress(job).model_copy(update={"reconcile": False, "lost_sent_at": None})

    def _created(self, job: Job, answer: Response, ctx: SettleContext, *, reconciled: bool,
                 ret: etree._Element | None = None) -> Settlement:
        flow = self.flow
        entity = self.entity(job)
        ret = ret if ret is not None else answer.first_ret()
        assert ret is not None
        txn_id = ret.findtext("TxnID") or ""
        if flow.records_link:
            order_lines = getattr(entity, "lines", None) if flow.keeps_line_ids else None
            links.record(ctx.db, ctx.connection.id, flow.name, flow.fusion_id(job, entity), qbd_type=flow.qbd_type,
                         qbd_id=txn_id, ref_number=ret.findtext("RefNumber"),
                         edit_sequence=ret.findtext("EditSequence"),
                         line_ids=linking.line_ids(ret, order_lines) if order_lines else None, job_id=job.id,
                         now=ctx.clock.now())
        if flow.custom_fields:
            options = options_of(ctx.connection)
            values = custom_field_mapping.custom_field_values(entity, options)
            if values and options.entity_code_field:
                ctx.queue.enqueue(ctx.db, ctx.connection.id, CUSTOM_FIELDS.name,
                                  {"txn_type": flow.qbd_type, "txn_id": txn_id, "values": [list(v) for v in values]},
                                  key=f"{CUSTOM_FIELDS.name}:{flow.name}:{flow.fusion_id(job, entity)}",
                                  read_only=True)  # sending a value again only rewrites it
        return Done(result={"TxnID": txn_id, "RefNumber": ret.findtext("RefNumber"), "reconciled": reconciled},
                    response_xml=answer.text(), status_code=answer.status_code,
                    status_message="Found in QuickBooks: the earlier add had landed." if reconciled
                    else answer.status_message)

    def _reconciled(self, job: Job, responses: list[Response], ctx: SettleContext) -> Settlement:
        entity = self.entity(job)
        mapping = self.context(ctx.db, job, entity, ctx.connection, ctx.version, ctx.sync_date)
        candidates = [child for answer in responses for child in answer.element
                      if isinstance(child.tag, str) and child.tag.endswith("Ret")]
        ours = reconcile.find_ours(candidates, mapping)
        if ours is not None:
            log.info("lost add found in QuickBooks", extra={"job": job.id})
            return self._created(job, responses[0], ctx, reconciled=True, ret=ours)
        progress = self.progress(job)
        return Continue("Not in QuickBooks: the earlier add did not land; sending it now.", progress.model_copy(
            update={"reconcile": False, "lost_sent_at": None, "lookups": progress.lookups + 1}))

    def _create_missing_first(self, job: Job, answer: Response, ctx: SettleContext) -> Settlement | None:
        """3140: create the missing employee, customer job or item first when the options allow it."""
        missing = missing_reference(answer.status_message)
        if missing is None:
            return None
        kind, name = missing
        request = self.flow.missing(self.entity(job), kind, name, options_of(ctx.connection))
        progress = self.progress(job)
        if request is None or f"{kind}:{name}" in progress.created:
            return None  # not creatable, or created once already and still missing: the status policy decides
        dependency = ctx.queue.enqueue(
            ctx.db, ctx.connection.id, LIST_ADD.name,
            {"request": etree.tostring(request, encoding="unicode"), "list_type": kind, "name": name},
            key=f"{LIST_ADD.name}:{kind}:{name}", priority=DEPENDENCY_PRIORITY, read_only=True,
        ).job
        if dependency.status in (JobStatus.DEAD, JobStatus.CANCELLED):
            ctx.queue.retry(ctx.db, dependency, LIST_ADD.progress_on_retry(dependency))
        return Continue(f"QuickBooks has no {kind} {name!r}; creating it first (job {dependency.id}).",
                        progress.model_copy(update={"created": (*progress.created, f"{kind}:{name}")}),
                        depends_on=dependency.id)


KINDS = tuple(FlowKind(flow) for flow in FLOWS.values())
