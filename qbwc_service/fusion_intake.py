"""What an entity seen changed in Fusion (by the poller or a webhook) becomes: read again from Fusion by its id
(never taken from a webhook's body), queued for its flow as an automatic send (the flow's automatic switch
applies; the same entity is recognised by its idempotency key, a changed order becomes a change where the flow
allows it), and, with ``close_sales_order_when_shipped``, a sales order closed by its shipment closes its
QuickBooks order."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import connections
from qbwc_service.errors import InvalidInput
from qbwc_service.fusion.client import FusionClient, Paths
from qbwc_service.fusion_reads import flow_of, snapshot
from qbwc_service.kinds.closing import enqueue_close
from qbwc_service.kinds.flows import FLOWS, enqueue_flow, options_of
from qbwc_service.queue import Enqueued, JobQueue

log = logging.getLogger(__name__)


@dataclass
class Taken:
    """What one entity became: its jobs (``created`` says which are new), or why it was not queued."""

    flow: str
    fusion_id: str
    queued: list[Enqueued] = field(default_factory=list)
    refused: str | None = None
    closing: Enqueued | None = None
    first: list[Taken] = field(default_factory=list)  # the order's shipments, taken before its close

    @property
    def created(self) -> int:
        return sum(made.created for made in self.queued) + int(bool(self.closing and self.closing.created)) + \
            sum(taken.created for taken in self.first)


def take(sessions: sessionmaker[Session], job_queue: JobQueue, client: FusionClient, connection: str, flow: str,
         fusion_id: str) -> Taken:
    """Read the entity from Fusion and queue what it calls for, in one transaction. A FusionError is raised
    (nothing queued); a refusal of the flow's rules is the result, not raised."""
    flow = flow_of(flow)
    data = snapshot(client, flow, fusion_id)
    with sessions.begin() as db:
        closing = options_of(connections.get_connection(db, connection)).close_sales_order_when_shipped
    closed_order, shipments = _closed_by_shipment(client, flow, data) if closing else (None, [])
    # The shipments are taken first, so that the order's close waits for their invoices.
    taken = Taken(flow, fusion_id, first=[take(sessions, job_queue, client, connection, "shipment", shipment)
                                          for shipment in shipments])
    with sessions.begin() as db:
        found = connections.get_connection(db, connection)
        options = options_of(found)
        switch = FLOWS[flow].switch
        if switch is not None and getattr(options, switch).automatic:
            try:
                with db.begin_nested():
                    taken.queued = enqueue_flow(db, job_queue, found, flow, data, automatic=True)
            except InvalidInput as exc:
                taken.refused = str(exc)
        if closed_order is not None:
            order_id, code = closed_order
            try:
                with db.begin_nested():
                    taken.closing = enqueue_close(db, job_queue, found, order_id, code, close=True,
                                                  reason="closed by its shipment in Fusion",
                                                  key=f"sales_order_close:{order_id}:shipped")
            except InvalidInput as exc:
                log.info("a closed sales order is not closed in QuickBooks: %s", exc,
                         extra={"connection": connection})
    if taken.refused:
        log.info("%s %s not queued: %s", flow, fusion_id, taken.refused, extra={"connection": connection})
    return taken


def _closed_by_shipment(client: FusionClient, flow: str,
                        data: dict[str, Any]) -> tuple[tuple[str, str | None] | None, list[str]]:
    """(id, code) of the sales order this entity shows closed by a shipment (a shipment whose order is CLOSED, or
    a CLOSED sales order that has shipments), and, for a sales order, the ids of its shipments."""
    if flow == "shipment":
        order = data.get("salesOrder") or data.get("sales-order") or {}
        if isinstance(order, dict) and order.get("status") == "CLOSED" and order.get("id") is not None:
            return (str(order["id"]), order.get("code")), []
        return None, []
    if flow == "sales_order" and data.get("status") == "CLOSED" and data.get("id") is not None:
        shipments = [str(shipment["id"]) for shipment in client.changed(Paths.SHIPPINGS, None, filters={
            "filter[salesOrder.id]": str(data["id"])}) if shipment.get("id") is not None]
        if shipments:
            return (str(data["id"]), data.get("code")), shipments
    return None, []
