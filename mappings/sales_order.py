"""Fusion sales order -> QuickBooks sales order (``SalesOrderAddRq``; its lookup is in ``reconcile``).

Header: the customer (``options.customer_name``), ``TxnDate`` (``options.document_date``; by default the
transfer date), ``RefNumber`` (``options.document_number``), ``ShipDate`` (``options.ship_date``: the due
date), the memo with the marker, the ExternalGUID when the service gives one. One ``SalesOrderLineAdd`` per
order line: the item named by the product code, ``Desc`` (``options.line_description``; "shipping_notes" is
the order's shipping notes), the ordered quantity, ``Rate`` when the line has a unit price.

No ``IncludeRetElement`` on the add: QuickBooks answers with the whole ``SalesOrderRet``, whose line
TxnLineIDs the service keeps (``linking.line_ids``) for the invoices that link to this order.
"""

from __future__ import annotations

from lxml import etree
from lxml.builder import E

from mappings.common import EXTERNAL_GUID_TXN_SINCE, MappingContext, append_opt, append_ref, format_quantity
from mappings.names import (
    customer_full_name,
    due_date_as_ship_date,
    format_price,
    item_full_name,
    line_description,
    marker_memo,
    ref_number,
    txn_date,
)
from mappings.options import IntegrationOptions
from qbwc_service.fusion.models import SalesOrder


def build_sales_order_add(order: SalesOrder, options: IntegrationOptions, ctx: MappingContext) -> etree._Element:
    add = etree.Element("SalesOrderAdd")
    append_ref(add, "CustomerRef", full_name=customer_full_name(order.client, options))
    append_opt(add, "TxnDate", txn_date(options, ctx, order.document_date, order.transfer_date))
    append_opt(add, "RefNumber", ref_number(options, order.code))
    append_opt(add, "ShipDate", due_date_as_ship_date(options, order.due_date))
    append_opt(add, "Memo", marker_memo(order.notes, ctx))
    if ctx.version >= EXTERNAL_GUID_TXN_SINCE:
        append_opt(add, "ExternalGUID", ctx.external_guid)
    for line in order.lines:
        row = etree.SubElement(add, "SalesOrderLineAdd")
        append_ref(row, "ItemRef", full_name=item_full_name(line.product))
        append_opt(row, "Desc", line_description(line.product, options, order.shipping_notes))
        append_opt(row, "Quantity", format_quantity(line.quantity))
        if line.unit_price is not None:
            append_opt(row, "Rate", format_price(line.unit_price))
    request: etree._Element = E.SalesOrderAddRq(add)
    return request
