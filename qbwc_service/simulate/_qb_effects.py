"""What a transaction does to other records: stock quantities of inventory items, and sales order links.

Part of the simulated QuickBooks Desktop company (a test double, see ``quickbooks.py``). Every effect is derived
from a transaction's ``*Ret`` and the store's links, so one pair of functions serves adds, mods and deletes:
``apply`` after a transaction is stored, ``withdraw`` before it is changed or deleted (and ``apply`` again after
a change).

- Sales order lines count as ``QuantityOnSalesOrder`` for what is still open (ordered minus invoiced), purchase
  order lines as ``QuantityOnOrder``; invoice lines take stock out (``QuantityOnHand``), bill item lines and
  inventory adjustments put it in or take it out.
- An invoice line linked to a sales order line (``LinkToTxn``) adds its quantity to the order line's
  ``Invoiced``; the order is ``IsFullyInvoiced`` once every line is. A bill item line linked to a purchase
  order line adds its quantity to the order line's ``ReceivedQuantity``; the order is ``IsFullyReceived`` once
  every line is. Both transactions carry a ``LinkedTxn`` naming the other.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from decimal import Decimal

from lxml import etree

from qbwc_service.simulate._qb_store import (
    Link,
    Record,
    StatusError,
    Store,
    child,
    decimal_of,
    money,
    quantity,
    set_text,
    sort_in_schema_order,
    text_of,
)

_STOCK_FIELDS: dict[tuple[str, str], tuple[str, int]] = {
    ("SalesOrder", "SalesOrderLineRet"): ("QuantityOnSalesOrder", 1),
    ("PurchaseOrder", "PurchaseOrderLineRet"): ("QuantityOnOrder", 1),
    ("Invoice", "InvoiceLineRet"): ("QuantityOnHand", -1),
    ("Bill", "ItemLineRet"): ("QuantityOnHand", 1),
    ("InventoryAdjustment", "InventoryAdjustmentLineRet"): ("QuantityOnHand", 1),
}
_ZERO = Decimal(0)
# An order kind's lines, what a linked line adds to on them, the item quantity they hold, and the order's flag.
_ORDER_LINKS = {
    "SalesOrder": ("SalesOrderLineRet", "Invoiced", "QuantityOnSalesOrder", "IsFullyInvoiced"),
    "PurchaseOrder": ("PurchaseOrderLineRet", "ReceivedQuantity", "QuantityOnOrder", "IsFullyReceived"),
}
_ORDERS = tuple(_ORDER_LINKS)
_LINKING = ("Invoice", "Bill")


def apply(store: Store, record: Record) -> None:
    """Apply a stored transaction's effects on items and linked sales orders."""
    _stock(store, record, 1)
    _links(store, [link for link in store.links if link.invoice_id == record.id], 1)


def withdraw(store: Store, record: Record) -> None:
    """Undo what ``apply`` did for ``record`` (before it is modified or deleted)."""
    _stock(store, record, -1)
    _links(store, [link for link in store.links if link.invoice_id == record.id], -1)


def _number(element: etree._Element, tag: str) -> Decimal:
    return decimal_of(element.findtext(tag), _ZERO) or _ZERO


def open_quantity(order: etree._Element, line: etree._Element) -> Decimal:
    """What is still to be invoiced (sales orders) or received (purchase orders) on an order line."""
    if order.findtext("IsManuallyClosed") == "true" or line.findtext("IsManuallyClosed") == "true":
        return _ZERO
    done = _number(line, "Invoiced") + _number(line, "ReceivedQuantity")
    return max(_ZERO, _number(line, "Quantity") - done)


def _stock(store: Store, record: Record, sign: int) -> None:
    for line in record.element:
        target = _STOCK_FIELDS.get((record.kind, str(line.tag)))
        if target is None:
            continue
        item = store.with_id(("ItemInventory",), line.findtext("ItemRef/ListID") or "")
        if item is None:
            continue
        if record.kind in ("SalesOrder", "PurchaseOrder"):
            count = open_quantity(record.element, line)
        elif record.kind == "InventoryAdjustment":
            count = _number(line, "QuantityDifference")
        else:
            count = _number(line, "Quantity")
        bump(item, target[0], count * target[1] * sign)


def bump(item: Record, tag: str, delta: Decimal) -> None:
    if delta:
        set_text(item.element, tag, quantity(_number(item.element, tag) + delta))


# ---- links from invoice lines to sales order lines -------------------------------------------------------


# What a linked line may link to: the order kind, its line element, the party that must match, and the
# order line's price element -> the linked line's price element.
_LINKABLE = {
    "InvoiceAdd": ("SalesOrder", "SalesOrderLineRet", "CustomerRef", "Rate"),
    "BillAdd": ("PurchaseOrder", "PurchaseOrderLineRet", "VendorRef", "Cost"),
}


def prepare_linked_line(store: Store, invoice: etree._Element, line_add: etree._Element) -> etree._Element:
    """An invoice line (or bill item line) with ``LinkToTxn``, completed from the sales (or purchase) order
    line it bills.

    QuickBooks takes the item, description and rate of the order line when the linked line leaves them out,
    and bills what is still open on the order line when no quantity is given. The order must exist, have that
    line, and belong to the document's customer (or vendor).
    """
    link = line_add.find("LinkToTxn")
    if link is None:
        return line_add
    order_kind, order_line_tag, party, price = _LINKABLE.get(str(invoice.tag), _LINKABLE["InvoiceAdd"])
    order_id = text_of(link, "TxnID") or ""
    order = store.with_id((order_kind,), order_id)
    if order is None:
        # Only sales and purchase orders are linked by the simulated company (estimates are not).
        raise StatusError(3120, f'Object "{order_id}" specified in the request cannot be found. ')
    line_id = text_of(link, "TxnLineID") or ""
    order_line = next((e for e in order.element.iter(order_line_tag) if e.findtext("TxnLineID") == line_id),
                      None)
    if order_line is None:
        raise StatusError(3120, f'Object "{line_id}" specified in the request cannot be found. ')
    if order_kind == "PurchaseOrder":
        if order.text("VendorRef/ListID") != invoice.findtext("VendorRef/ListID"):
            raise StatusError(3210, f'The transaction "{order.text("RefNumber") or order_id}" belongs to another '
                                    "vendor and cannot be linked to this bill.")
        completed = copy.deepcopy(line_add)
        for tag, target in (("ItemRef", "ItemRef"), ("Desc", "Desc"), ("Rate", price)):
            source = order_line.find(tag)
            if completed.find(target) is None and source is not None:
                element = copy.deepcopy(source)
                element.tag = target
                completed.insert(0, element)
        if completed.find("Quantity") is None:
            child(completed, "Quantity", order_line.findtext("Quantity") or "0")
        return completed
    if order.text(f"{party}/ListID") != invoice.findtext(f"{party}/ListID"):
        # QuickBooks refuses to bill another customer's order; 3210 is its "the transaction cannot be saved"
        # family (the exact wording is not documented in the sources available here).
        raise StatusError(3210, f'The transaction "{order.text("RefNumber") or order_id}" belongs to another '
                                "customer and cannot be linked to this invoice.")
    completed = copy.deepcopy(line_add)
    for tag in ("ItemRef", "Desc", "Rate"):
        source = order_line.find(tag)
        if completed.find(tag) is None and source is not None and not (
            tag == "Rate" and completed.find("Amount") is not None
        ):
            completed.insert(0, copy.deepcopy(source))
    if completed.find("Quantity") is None:
        child(completed, "Quantity", quantity(open_quantity(order.element, order_line)))
    return completed


def new_link(invoice_id: str, line_add: etree._Element, line_ret: etree._Element) -> Link | None:
    """The link an invoice line (to a sales order line) or a bill item line (to a purchase order line) makes."""
    link = line_add.find("LinkToTxn")
    if link is None or line_ret.tag not in ("InvoiceLineRet", "ItemLineRet"):
        return None
    return Link(invoice_id, line_ret.findtext("TxnLineID") or "", text_of(link, "TxnID") or "",
                text_of(link, "TxnLineID") or "", _number(line_ret, "Quantity"), _number(line_ret, "Amount"))


def follow_invoice_lines(store: Store, invoice: Record) -> None:
    """After an invoice (or bill) changed: its links follow its lines (a removed line drops its link)."""
    lines = {line.findtext("TxnLineID"): line for tag in ("InvoiceLineRet", "ItemLineRet")
             for line in invoice.element.iter(tag)}
    kept: list[Link] = []
    for link in store.links:
        if link.invoice_id == invoice.id:
            line = lines.get(link.invoice_line_id)
            if line is None:
                continue
            link.quantity, link.amount = _number(line, "Quantity"), _number(line, "Amount")
        kept.append(link)
    store.links[:] = kept


def _links(store: Store, links: Iterable[Link], sign: int) -> None:
    touched: dict[str, Record] = {}
    for link in links:
        order = store.with_id(_ORDERS, link.order_id)
        if order is None:
            continue
        line_tag, done_tag, on_order_tag, _flag = _ORDER_LINKS[order.kind]
        line = next((e for e in order.element.iter(line_tag) if e.findtext("TxnLineID") == link.order_line_id), None)
        if line is None:
            continue
        item = store.with_id(("ItemInventory",), line.findtext("ItemRef/ListID") or "")
        before = open_quantity(order.element, line)
        set_text(line, done_tag, quantity(_number(line, done_tag) + link.quantity * sign))
        sort_in_schema_order(line, line_tag)
        if item is not None:
            bump(item, on_order_tag, open_quantity(order.element, line) - before)
        touched[order.id] = order
        invoice = store.with_id(_LINKING, link.invoice_id)
        if invoice is not None:
            touched[invoice.id] = invoice
    for record in touched.values():
        refresh_linked_txns(store, record)


def refresh_linked_txns(store: Store, record: Record) -> None:
    """Rewrite ``record``'s ``LinkedTxn`` elements (and an order's ``IsFullyInvoiced`` / ``IsFullyReceived``)
    from the links."""
    ret = record.element
    for old in ret.findall("LinkedTxn"):
        ret.remove(old)
    is_order = record.kind in _ORDER_LINKS
    totals: dict[str, Decimal] = {}
    for link in store.links:
        if (link.order_id if is_order else link.invoice_id) == record.id:
            other_id = link.invoice_id if is_order else link.order_id
            totals[other_id] = totals.get(other_id, _ZERO) + link.amount
    for other_id, amount in totals.items():
        other = store.by_id.get(other_id)
        if other is None:
            continue
        linked = child(ret, "LinkedTxn")
        child(linked, "TxnID", other.id)
        child(linked, "TxnType", other.kind)
        child(linked, "TxnDate", other.text("TxnDate") or "")
        if other.text("RefNumber"):
            child(linked, "RefNumber", other.text("RefNumber"))
        child(linked, "LinkType", "QUANTYPE")
        child(linked, "Amount", money(amount))
    if is_order:
        line_tag, done_tag, _on_order, flag = _ORDER_LINKS[record.kind]
        lines = ret.findall(line_tag)
        complete = bool(lines) and all(_number(line, done_tag) >= _number(line, "Quantity") for line in lines)
        set_text(ret, flag, "true" if complete else "false")
    sort_in_schema_order(ret, f"{record.kind}Ret")


def has_links_to(store: Store, order: Record) -> bool:
    return any(link.order_id == order.id for link in store.links)


def unlink_invoice(store: Store, invoice: Record) -> None:
    """Drop a (withdrawn) invoice's or bill's links; the orders it billed no longer name it."""
    orders = {link.order_id for link in store.links if link.invoice_id == invoice.id}
    store.links[:] = [link for link in store.links if link.invoice_id != invoice.id]
    for order_id in orders:
        order = store.with_id(_ORDERS, order_id)
        if order is not None:
            refresh_linked_txns(store, order)
