"""The send flows: Fusion entities -> QuickBooks documents, once each.

Each flow is a row of :data:`FLOWS`, and every difference between flows is a field of that row: how an
entity becomes jobs, what it is sent as, what it links to, what may be created first. One
:class:`FlowKind` serves every row: it sends the flow's add (or, when an earlier outcome was lost, the
lookup that finds it), links the Fusion entity to the QuickBooks object, queues follow-ups (custom fields),
and creates a missing employee, customer job or item first when the options allow it.
"""

from __future__ import annotations

import logging
import secrets
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
from qbwc_service import links, queue
from qbwc_service.db.enums import JobStatus
from qbwc_service.db.models import Connection, Job
from qbwc_service.errors import InvalidJobPayload, Refusal, Refused
from qbwc_service.fusion import models
from qbwc_service.kinds.base import Answer, BuildContext, Built, Progress, RequestKind, SettleContext
from qbwc_service.kinds.custom_fields import CUSTOM_FIELDS
from qbwc_service.kinds.raw import LIST_ADD
from qbwc_service.qbxml.response import Response
from qbwc_service.qbxml.status import StatusCode, answered, missing_reference
from qbwc_service.qbxml.versions import Version
from qbwc_service.settlements import Continue, Done, Settlement

log = logging.getLogger(__name__)

DEPENDENCY_PRIORITY = 50


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
    """One job an entity becomes: its payload and the Fusion id its idempotency key is made of."""

    payload: dict[str, Any]
    fusion_id: str


def _one_document(entity: Any, snapshot: dict[str, Any]) -> list[Unit]:
    return [Unit({"entity": snapshot}, str(entity.id))]


def _one_per_time_record(entity: Any, snapshot: dict[str, Any]) -> list[Unit]:
    return [Unit({"entity": snapshot, "record_id": str(r.id)}, str(r.id)) for r in entity.time_records]


def _one_adjustment(entity: Any, snapshot: dict[str, Any]) -> list[Unit]:
    # Each quantity sent is a new adjustment, sent after the pending ones, so the last word is the newest.
    return [Unit({"entity": snapshot}, f"{entity.product.code}:{secrets.token_hex(6)}")]


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
    records_link: bool = True  # stock adjustments are not linked: each is a new one
    keeps_line_ids: bool = False  # an order's lines are what later documents link to
    custom_fields: bool = False
    missing: Callable[[Any, str, str, IntegrationOptions], etree._Element | None] = lambda e, k, n, o: None
    # Stock's own rules at enqueue: may refuse, or name the pending job that already sends this.
    admitted: Callable[[Session, Connection, Any, IntegrationOptions], Job | None] = lambda db, c, e, o: None

    def fusion_id(self, job: Job, entity: Any) -> str:
        return str(entity.id) if self.records_link else f"job-{job.id}"


FLOWS: dict[str, Flow] = {flow.name: flow for flow in (
    Flow("sales_order", models.SalesOrder, "SalesOrder", "sales_orders", sales_order.build_sales_order_add,
         reconcile.build_sales_order_lookup, keeps_line_ids=True, custom_fields=True),
    Flow("purchase_order", models.PurchaseOrder, "PurchaseOrder", "purchase_orders",
         purchase_order.build_purchase_order_add, reconcile.build_purchase_order_lookup, keeps_line_ids=True,
         custom_fields=True, missing=_missing_for_purchase_order),
    Flow("receiving", models.Receiving, "Bill", "receivings", receiving.build_bill_add, reconcile.build_bill_lookup,
         links_to="purchase_order", parent_order=lambda e: e.purchase_order, custom_fields=True),
    Flow("shipment", models.Shipment, "Invoice", "shipments", shipment.build_invoice_add,
         reconcile.build_invoice_lookup, links_to="sales_order", parent_order=lambda e: e.sales_order,
         custom_fields=True),
    Flow("time_tracking", models.ProductionOrder, "TimeTracking", "time_tracking",
         lambda e, o, c: time_tracking.build_time_tracking_add(e.order, e.record, o, c),
         lambda e, o, c, since: reconcile.build_time_tracking_lookup(
             e.record, time_tracking.employee_full_name(e.record.worker), c, since),
         units=_one_per_time_record, sent_entity=_time_entry, missing=_missing_for_time_entry),
    Flow("stock", models.StockLevel, "InventoryAdjustment", None, stock.build_inventory_adjustment_add,
         reconcile.build_inventory_adjustment_lookup, units=_one_adjustment, records_link=False,
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


def non_us_message(connection: Connection) -> str:
    return (f"QuickBooks company {connection.company_name or connection.name!r} is a {connection.qb_country} "
            "edition: only retrieving from QuickBooks is supported for non-US companies, so nothing is sent to it.")


def refuse_non_us(connection: Connection) -> None:
    if connection.qb_country and connection.qb_country.upper() != "US":
        raise Refused(Refusal.NON_US_COMPANY, connection.qb_country, non_us_message(connection))


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
    options = options_of(connection)
    label = flow.name.replace("_", " ")
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
    parent = flow.parent_order(entity)
    # A bill or invoice waits for its order's job, so it can link to the order's lines.
    waits_for = queue.pending_with_key(db, connection.id, f"{flow.links_to}:{parent.id}") if parent else None
    snapshot = entity.model_dump(mode="json", by_alias=False)
    return [job_queue.enqueue(db, connection.id, flow.name, unit.payload, key=f"{flow.name}:{unit.fusion_id}",
                              reconcilable=True, depends_on=waits_for.id if waits_for is not None else None)
            for unit in flow.units(entity, snapshot)]


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
        if connection.qb_country and connection.qb_country.upper() != "US":
            raise InvalidJobPayload(non_us_message(connection))
        entity = self.entity(job)
        options = options_of(connection)
        mapping = self.context(ctx.db, job, entity, connection, ctx.version, ctx.sync_date)
        progress = self.progress(job)
        try:
            if progress.reconcile:
                sent = progress.lost_sent_at or job.created_at
                # QuickBooks filters on its own local time; two days either side covers any time zone.
                since = (sent - timedelta(days=2)).replace(microsecond=0).isoformat()
                return Built([self.flow.lookup(entity, options, mapping, since)])
            return Built([self.flow.build(entity, options, mapping)])
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
