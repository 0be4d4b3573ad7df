"""Fusion purchase order -> QuickBooks purchase order (``PurchaseOrderAddRq``; its lookup is in ``reconcile``), and
the item a purchase order may create first ("create missing items", ``ItemNonInventoryAddRq``).

Header: the vendor named by the supplier code, ``TxnDate`` (``options.document_date``; by default the
creation date), ``RefNumber`` (``options.document_number``), the memo with the marker, the ExternalGUID when
the service gives one. ``options.ship_date`` "due_date" sets ``ExpectedDate``: a purchase order has no ship
date, and its ``DueDate`` is the payment due date of the terms, while the Fusion due date is when the goods
are expected. One ``PurchaseOrderLineAdd`` per order line: the item named by the product code, ``Desc``
(``options.line_description``; "shipping_notes" is the order's receiving notes), the ordered quantity,
``Rate`` when the line has a unit price.

No ``IncludeRetElement`` on the add: QuickBooks answers with the whole ``PurchaseOrderRet``, whose line
TxnLineIDs the service keeps (``linking.line_ids``) for the bills that link to this order.
"""

from __future__ import annotations

from lxml import etree
from lxml.builder import E

from mappings.common import EXTERNAL_GUID_TXN_SINCE, MappingContext, append_opt, append_ref, format_quantity
from mappings.errors import MappingError
from mappings.names import (
    due_date_as_ship_date,
    format_price,
    item_full_name,
    line_description,
    marker_memo,
    ref_number,
    txn_date,
    vendor_full_name,
)
from mappings.options import IntegrationOptions
from qbwc_service.fusion.models import Product, PurchaseOrder


def build_purchase_order_add(order: PurchaseOrder, options: IntegrationOptions,
                             ctx: MappingContext) -> etree._Element:
    add = etree.Element("PurchaseOrderAdd")
    append_ref(add, "VendorRef", full_name=vendor_full_name(order.supplier))
    append_opt(add, "TxnDate", txn_date(options, ctx, order.document_date, order.created_at))
    append_opt(add, "RefNumber", ref_number(options, order.code))
    append_opt(add, "ExpectedDate", due_date_as_ship_date(options, order.due_date))
    append_opt(add, "Memo", marker_memo(order.notes, ctx))
    if ctx.version >= EXTERNAL_GUID_TXN_SINCE:
        append_opt(add, "ExternalGUID", ctx.external_guid)
    for line in order.lines:
        row = etree.SubElement(add, "PurchaseOrderLineAdd")
        append_ref(row, "ItemRef", full_name=item_full_name(line.product))
        append_opt(row, "Desc", line_description(line.product, options, order.receiving_notes))
        append_opt(row, "Quantity", format_quantity(line.quantity))
        if line.unit_price is not None:
            append_opt(row, "Rate", format_price(line.unit_price))
    request: etree._Element = E.PurchaseOrderAddRq(add)
    return request


def build_item_add(product: Product, options: IntegrationOptions) -> etree._Element:
    """The non-inventory item a purchase order needs when "create missing items" is on: named by the
    product code (as the order lines refer to it), described by the product name, posting to
    ``options.item_income_account`` (by ListID or full name, per ``options.item_income_account_by``).

    Raises ``MappingError`` when no account is configured: QuickBooks refuses such an item.
    """
    account = options.item_income_account
    if not account:
        raise MappingError(f"product {product.code!r}: creating the missing item needs item_income_account")
    sales_or_purchase = E.SalesOrPurchase()
    append_opt(sales_or_purchase, "Desc", product.name or product.code)
    if options.item_income_account_by == "list_id":
        append_ref(sales_or_purchase, "AccountRef", list_id=account)
    else:
        append_ref(sales_or_purchase, "AccountRef", full_name=account)
    add = E.ItemNonInventoryAdd(E.Name(item_full_name(product)), sales_or_purchase)
    request: etree._Element = E.ItemNonInventoryAddRq(add)
    return request
