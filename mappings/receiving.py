"""Fusion receiving (of a purchase order) -> QuickBooks bill (``BillAddRq``, item lines; its lookup is in
``reconcile``).

Header: the vendor named by the purchase order's supplier code, ``TxnDate`` (``options.document_date``; by
default the receiving's creation date), ``RefNumber`` (``options.document_number``: the receiving code), the
memo with the marker, the ExternalGUID when the service gives one. ``options.ship_date`` does not apply: a
bill has no ship date, and its ``DueDate`` is when the bill is to be paid, which QuickBooks computes from the
vendor's terms (the purchase order's due date is a delivery date, not a payment date).

Quantities (SPEC.md section 2, FAQ 6 of the vendor's article), mirroring the shipments' invoices:

- by default a bill carries the ordered quantity of every purchase order line, whatever was received (what
  the vendor's integration does; one receiving, so one bill, per purchase order);
- with ``options.partial_billing`` it carries the received quantity of each receiving line, so that several
  receivings are each billed for what they received, and QuickBooks closes the purchase order once every
  line is received.

One ``ItemLineAdd`` per billed line: the item named by the product code, ``Desc``
(``options.line_description``; "shipping_notes" is the purchase order's receiving notes), the quantity,
``Cost`` = the line's unit price, else the purchase order line's; lines follow the purchase order's line order
(QuickBooks refuses linked lines out of it).

Links (``ctx.linked``: the QuickBooks purchase order of this receiving), see ``linking.plan_links``: each line
whose purchase order line's TxnLineID is known carries ``LinkToTxn`` (qbXML 4.0) and no ``ItemRef``
(QuickBooks takes the item from the linked line and refuses both); a bill of the whole purchase order whose
lines cannot be linked one by one links the order with the header ``LinkToTxnID`` (4.0) and lets QuickBooks
bring in its open lines; before 4.0 a bill cannot link.
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
    line_description,
    marker_memo,
    ref_number,
    txn_date,
    vendor_full_name,
)
from mappings.options import IntegrationOptions
from qbwc_service.fusion.models import Receiving

# BillAdd/ItemLineAdd/LinkToTxn and BillAdd/LinkToTxnID (qbxmlops130.xml).
LINE_LINK_SINCE: Version = (4, 0)
HEADER_LINK_SINCE: Version = (4, 0)


def billed_lines(receiving: Receiving, options: IntegrationOptions) -> list[DeliveredLine]:
    """What the bill of ``receiving`` carries: every purchase order line in full, or (partial billing) the
    received lines in purchase order line order.

    Raises ``MappingError`` for a receiving without lines under partial billing: there is nothing received to
    bill, and billing the whole order instead could bill it twice.
    """
    order = receiving.purchase_order
    if not options.partial_billing:
        return [DeliveredLine(line.id, line.product, line.quantity, line.unit_price) for line in order.lines]
    if not receiving.lines:
        raise MappingError(
            f"receiving {receiving.code!r}: partial_billing bills the received quantity of each receiving line, "
            "and receiving.lines is empty"
        )
    return in_order_line_order([
        DeliveredLine(line.order_line_id, line.product, line.quantity,
                   line.unit_price if line.unit_price is not None else ordered_price(order.lines, line.order_line_id))
        for line in receiving.lines
    ], order.lines)


def build_bill_add(receiving: Receiving, options: IntegrationOptions, ctx: MappingContext) -> etree._Element:
    order = receiving.purchase_order
    lines = billed_lines(receiving, options)
    links = plan_links(ctx, [line.order_line_id for line in lines], line_since=LINE_LINK_SINCE,
                       header_since=HEADER_LINK_SINCE, whole_order=not options.partial_billing)
    add = etree.Element("BillAdd")
    append_ref(add, "VendorRef", full_name=vendor_full_name(order.supplier))
    append_opt(add, "TxnDate", txn_date(options, ctx, receiving.document_date, receiving.created_at))
    append_opt(add, "RefNumber", ref_number(options, receiving.code))
    append_opt(add, "Memo", marker_memo(receiving.notes, ctx))
    if ctx.version >= EXTERNAL_GUID_TXN_SINCE:
        append_opt(add, "ExternalGUID", ctx.external_guid)
    if links.header_txn_id is not None:
        append_opt(add, "LinkToTxnID", links.header_txn_id)
    else:
        for line, link in zip(lines, links.lines, strict=True):
            description = line_description(line.product, options, order.receiving_notes)
            append_item_line(add, "ItemLineAdd", "Cost", line, link, description)
    request: etree._Element = E.BillAddRq(add)
    return request
