"""Fusion shipment (of a sales order) -> QuickBooks invoice (``InvoiceAddRq``; its lookup is in ``reconcile``).

Header: the customer of the sales order's client (``options.customer_name``), ``TxnDate``
(``options.document_date``; by default the shipment's creation date), ``RefNumber``
(``options.document_number``: the shipment code), ``ShipDate`` (``options.ship_date``: the sales order's due
date), the memo with the marker, the ExternalGUID when the service gives one.

Quantities (SPEC.md section 2, FAQ 6 and 7):

- by default an invoice carries the full ordered quantity of every sales order line, whatever was shipped
  (what the vendor's integration does);
- with ``options.partial_invoicing`` it carries the shipped quantity of each shipment line, so that several
  shipments are each invoiced for what they shipped.

Each line: the item named by the product code, ``Desc`` (``options.line_description``; "shipping_notes" is
the sales order's shipping notes), the quantity, ``Rate`` = the line's unit price, else the sales order
line's; lines follow the sales order's line order (QuickBooks refuses linked lines out of it).

Links (``ctx.linked``: the QuickBooks sales order, set by the service when it was sent), in both modes, see
``linking.plan_links``: each line whose sales order line's TxnLineID is known carries ``LinkToTxn`` (qbXML 6.0)
and no ``ItemRef`` (QuickBooks takes the item from the linked line and refuses both), so QuickBooks counts
it as invoiced and closes the sales order once every line is; an invoice of the whole order whose lines
cannot be linked one by one links it with the header ``LinkToTxnID`` (6.0) and lets QuickBooks bring in its
open lines; before 6.0 an invoice cannot link.
"""

from __future__ import annotations

from lxml import etree
from lxml.builder import E

from mappings.common import (
    EXTERNAL_GUID_TXN_SINCE,
    MappingContext,
    Version,
    append_opt,
    append_ref,
)
from mappings.errors import MappingError
from mappings.linking import DeliveredLine, append_item_line, in_order_line_order, ordered_price, plan_links
from mappings.names import (
    customer_full_name,
    due_date_as_ship_date,
    line_description,
    marker_memo,
    ref_number,
    txn_date,
)
from mappings.options import IntegrationOptions
from qbwc_service.fusion.models import Shipment

# InvoiceAdd/InvoiceLineAdd/LinkToTxn and InvoiceAdd/LinkToTxnID (qbxmlops130.xml).
LINE_LINK_SINCE: Version = (6, 0)
HEADER_LINK_SINCE: Version = (6, 0)


def invoiced_lines(shipment: Shipment, options: IntegrationOptions) -> list[DeliveredLine]:
    """What the invoice of ``shipment`` carries: every sales order line in full, or (partial invoicing) the
    shipped lines in sales order line order.

    Raises ``MappingError`` for a shipment without lines under partial invoicing: there is nothing shipped to
    invoice, and invoicing the whole order instead could bill it twice.
    """
    order = shipment.sales_order
    if not options.partial_invoicing:
        return [DeliveredLine(line.id, line.product, line.quantity, line.unit_price) for line in order.lines]
    if not shipment.lines:
        raise MappingError(
            f"shipment {shipment.code!r}: partial_invoicing invoices the shipped quantity of each shipment line, "
            "and shipment.lines is empty"
        )
    return in_order_line_order([
        DeliveredLine(line.order_line_id, line.product, line.quantity,
                     line.unit_price if line.unit_price is not None else ordered_price(order.lines, line.order_line_id))
        for line in shipment.lines
    ], order.lines)


def build_invoice_add(shipment: Shipment, options: IntegrationOptions, ctx: MappingContext) -> etree._Element:
    order = shipment.sales_order
    lines = invoiced_lines(shipment, options)
    links = plan_links(ctx, [line.order_line_id for line in lines], line_since=LINE_LINK_SINCE,
                       header_since=HEADER_LINK_SINCE, whole_order=not options.partial_invoicing)
    add = etree.Element("InvoiceAdd")
    append_ref(add, "CustomerRef", full_name=customer_full_name(order.client, options))
    append_opt(add, "TxnDate", txn_date(options, ctx, shipment.document_date, shipment.created_at))
    append_opt(add, "RefNumber", ref_number(options, shipment.code))
    append_opt(add, "ShipDate", due_date_as_ship_date(options, order.due_date))
    append_opt(add, "Memo", marker_memo(shipment.notes, ctx))
    if ctx.version >= EXTERNAL_GUID_TXN_SINCE:
        append_opt(add, "ExternalGUID", ctx.external_guid)
    if links.header_txn_id is not None:
        append_opt(add, "LinkToTxnID", links.header_txn_id)
    else:
        for line, link in zip(lines, links.lines, strict=True):
            description = line_description(line.product, options, order.shipping_notes)
            append_item_line(add, "InvoiceLineAdd", "Rate", line, link, description)
    request: etree._Element = E.InvoiceAddRq(add)
    return request
