"""Sales orders, purchase orders, bills and invoices on the QuickBooks side: finding the one an earlier add
created, learning its line ids, and linking a new document to it.

- Reconciliation: when the answer to an add was lost, ``build_sales_order_lookup``,
  ``build_purchase_order_lookup``, ``build_bill_lookup`` or ``build_invoice_lookup`` asks QuickBooks for the
  candidates, and :func:`find_ours` picks the one carrying this entity's ExternalGUID or marker.
- Line ids: after a ``SalesOrderAdd`` or ``PurchaseOrderAdd`` (or a lookup that found it), :func:`line_ids`
  pairs each Fusion order line with the TxnLineID QuickBooks gave it, so that the invoice of a shipment and
  the bill of a receiving can later link to those lines.
- Links: :func:`plan_links` decides how a bill or an invoice links to its order (``LinkToTxn``,
  ``LinkToTxnID``), by the qbXML version and what is known of the order's line ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from lxml import etree
from lxml.builder import E

from mappings.common import (
    EXTERNAL_GUID_TXN_SINCE,
    MappingContext,
    Version,
    append_opt,
    append_ref,
    format_quantity,
    has_marker,
)
from mappings.names import customer_full_name, format_price, item_full_name, ref_number, vendor_full_name
from mappings.options import IntegrationOptions
from qbwc_service.fusion.models import (
    OrderLine,
    Product,
    PurchaseOrder,
    Receiving,
    SalesOrder,
    Shipment,
    StockLevel,
    TimeRecord,
)

INCLUDE_RET_ELEMENT_SINCE: Version = (4, 0)
# Candidates a lookup returns at most: documents of one customer or vendor modified since the add was sent.
LOOKUP_MAX_RETURNED = 100
# The item lines of a transaction's *Ret, in the order of the *LineAdd elements that created them.
_LINE_RETS = frozenset({"SalesOrderLineRet", "PurchaseOrderLineRet", "InvoiceLineRet", "ItemLineRet"})
# *Add/RefNumber (qbxmlops130.xml): QuickBooks keeps this much of a longer Fusion code, so a lookup asks for it.
REF_NUMBER_MAX = {"SalesOrder": 11, "PurchaseOrder": 11, "Invoice": 11, "Bill": 20}


def build_sales_order_lookup(order: SalesOrder, options: IntegrationOptions, ctx: MappingContext,
                             modified_since: str) -> etree._Element:
    """The ``SalesOrderQueryRq`` for a lost ``SalesOrderAdd`` of ``order``, with the order lines (their
    TxnLineIDs are what invoices link to)."""
    return build_txn_lookup("SalesOrder", ctx, ref_number=_asked_ref_number("SalesOrder", options, order.code),
                            entity_name=customer_full_name(order.client, options), modified_since=modified_since,
                            line_ret="SalesOrderLineRet")


def build_purchase_order_lookup(order: PurchaseOrder, options: IntegrationOptions, ctx: MappingContext,
                                modified_since: str) -> etree._Element:
    """The ``PurchaseOrderQueryRq`` for a lost ``PurchaseOrderAdd`` of ``order``, with the order lines (their
    TxnLineIDs are what bills link to)."""
    return build_txn_lookup("PurchaseOrder", ctx,
                            ref_number=_asked_ref_number("PurchaseOrder", options, order.code),
                            entity_name=vendor_full_name(order.supplier), modified_since=modified_since,
                            line_ret="PurchaseOrderLineRet")


def build_bill_lookup(receiving: Receiving, options: IntegrationOptions, ctx: MappingContext,
                      modified_since: str) -> etree._Element:
    """The ``BillQueryRq`` for a lost ``BillAdd`` of ``receiving``."""
    return build_txn_lookup("Bill", ctx, ref_number=_asked_ref_number("Bill", options, receiving.code),
                            entity_name=vendor_full_name(receiving.purchase_order.supplier),
                            modified_since=modified_since)


def build_invoice_lookup(shipment: Shipment, options: IntegrationOptions, ctx: MappingContext,
                         modified_since: str) -> etree._Element:
    """The ``InvoiceQueryRq`` for a lost ``InvoiceAdd`` of ``shipment``."""
    return build_txn_lookup("Invoice", ctx, ref_number=_asked_ref_number("Invoice", options, shipment.code),
                            entity_name=customer_full_name(shipment.sales_order.client, options),
                            modified_since=modified_since)


def build_txn_lookup(kind: str, ctx: MappingContext, *, ref_number: str | None, entity_name: str,
                     modified_since: str, line_ret: str | None = None) -> etree._Element:
    """The ``<kind>QueryRq`` that finds the candidates for a lost add of one document (``kind``: SalesOrder,
    PurchaseOrder, Bill, Invoice).

    By ``RefNumber`` when the add carried one; else the documents of ``entity_name`` (customer or vendor)
    modified since ``modified_since``, at most ``LOOKUP_MAX_RETURNED`` of them, without an iterator (it would
    not outlive the session). Only what reconciliation needs comes back (qbXML 4.0 and later): ids, the
    edit sequence, the number, the memo, the ExternalGUID (9.0 and later), and with ``line_ret`` the item
    lines, whose TxnLineIDs later links need.
    """
    query = etree.Element(f"{kind}QueryRq")
    if ref_number:
        append_opt(query, "RefNumber", ref_number)
    else:
        query.append(E.MaxReturned(str(LOOKUP_MAX_RETURNED)))
        query.append(E.ModifiedDateRangeFilter(E.FromModifiedDate(modified_since)))
        query.append(E.EntityFilter(E.FullName(entity_name)))
    if line_ret is not None:
        query.append(E.IncludeLineItems("true"))
    if ctx.version >= INCLUDE_RET_ELEMENT_SINCE:
        returned = ["TxnID", "TimeModified", "EditSequence", "RefNumber", "Memo"]
        if ctx.version >= EXTERNAL_GUID_TXN_SINCE:
            returned.append("ExternalGUID")
        if line_ret is not None:
            returned.append(line_ret)
        for name in returned:
            query.append(E.IncludeRetElement(name))
    return query


def find_ours(rets: Iterable[etree._Element], ctx: MappingContext) -> etree._Element | None:
    """The ``*Ret`` created by the add of ``ctx``'s entity: its ExternalGUID, else its marker in ``Memo`` (or
    ``Notes``, where time entries keep it).

    A matching ExternalGUID wins over a marker found earlier (a user may have copied a memo into another
    document); among marker matches the first one is taken.
    """
    wanted = ctx.external_guid.strip().upper() if ctx.external_guid else None
    by_memo: etree._Element | None = None
    for ret in rets:
        if wanted is not None and (ret.findtext("ExternalGUID") or "").strip().upper() == wanted:
            return ret
        if by_memo is None and (has_marker(ret.findtext("Memo"), ctx.marker)
                                or has_marker(ret.findtext("Notes"), ctx.marker)):
            by_memo = ret
    return by_memo


def line_ids(ret: etree._Element, order_lines: Sequence[OrderLine]) -> dict[str, str]:
    """Fusion order line id -> the TxnLineID of the same line in ``ret`` (a ``SalesOrderRet`` or
    ``PurchaseOrderRet`` created from these lines: the n-th item line of the Ret is the n-th Fusion line).

    Fusion lines without an id, and QuickBooks lines without a TxnLineID, are left out. When the Ret does not
    have one item line per Fusion line (it was edited in QuickBooks before a lookup found it), pairing by
    position would link the wrong lines: nothing is paired then, and later documents link the whole order or
    nothing (see :func:`plan_links`).
    """
    qb_lines = [child for child in ret if child.tag in _LINE_RETS]
    if len(qb_lines) != len(order_lines):
        return {}
    paired: dict[str, str] = {}
    for qb_line, line in zip(qb_lines, order_lines, strict=True):
        txn_line_id = (qb_line.findtext("TxnLineID") or "").strip()
        if line.id is not None and txn_line_id:
            paired[str(line.id)] = txn_line_id
    return paired


class FromOrderLine(Protocol):
    @property
    def order_line_id(self) -> int | str | None: ...


LineT = TypeVar("LineT", bound=FromOrderLine)


def in_order_line_order(lines: Sequence[LineT], order_lines: Sequence[OrderLine]) -> list[LineT]:
    """``lines`` in the order of the order lines they come from (lines of unknown order lines last, each group
    in its own order): QuickBooks refuses linked lines that do not keep the order's line order."""
    position = {str(line.id): index for index, line in enumerate(order_lines) if line.id is not None}
    return sorted(lines, key=lambda line: position.get(str(line.order_line_id), len(position)))


@dataclass(frozen=True)
class LinkToTxn:
    """``LinkToTxn`` of one item line: the order's TxnID and the TxnLineID of the order line."""

    txn_id: str
    txn_line_id: str


@dataclass(frozen=True)
class LinkPlan:
    """How a bill or an invoice links to its order.

    ``header_txn_id`` set: the header ``LinkToTxnID`` links the whole order and QuickBooks brings in its open
    lines, so the document carries no item lines of its own (QuickBooks refuses a line ``LinkToTxn`` and the
    header to the same order, and lines of our own would be billed twice). Otherwise ``lines`` has one entry
    per item line: its ``LinkToTxn``, or none.
    """

    header_txn_id: str | None
    lines: tuple[LinkToTxn | None, ...]


def plan_links(ctx: MappingContext, order_line_ids: Sequence[int | str | None], *, line_since: Version,
               header_since: Version, whole_order: bool) -> LinkPlan:
    """Links for a document whose item lines come from the order lines ``order_line_ids`` (in line order).

    - No ``ctx.linked`` (the order was not sent to QuickBooks, or is not known there): no links.
    - Line links, when the version has ``LinkToTxn`` on item lines (``line_since``): each line whose order
      line's TxnLineID is known; the other lines stay unlinked.
    - When no line can be linked (the version, or no TxnLineID known) and the document carries the whole
      order (``whole_order``), the header ``LinkToTxnID`` where the version has it (``header_since``).
    - Otherwise no links.
    """
    unlinked = LinkPlan(None, tuple(None for _ in order_line_ids))
    linked = ctx.linked
    if linked is None:
        return unlinked
    if ctx.version >= line_since:
        lines = tuple(
            LinkToTxn(linked.txn_id, linked.line_ids[str(line_id)])
            if line_id is not None and str(line_id) in linked.line_ids else None
            for line_id in order_line_ids
        )
        if any(link is not None for link in lines):
            return LinkPlan(None, lines)
    if whole_order and ctx.version >= header_since:
        return LinkPlan(linked.txn_id, ())
    return unlinked


def append_line_link(line: etree._Element, link: LinkToTxn) -> None:
    """``<LinkToTxn><TxnID/><TxnLineID/></LinkToTxn>`` at the end of ``line`` (callers keep schema order)."""
    line.append(E.LinkToTxn(E.TxnID(link.txn_id), E.TxnLineID(link.txn_line_id)))


@dataclass(frozen=True)
class DeliveredLine:
    """One item line of a bill or invoice, and the order line it comes from."""

    order_line_id: int | str | None
    product: Product
    quantity: float
    unit_price: float | None


def append_item_line(add: etree._Element, tag: str, price_tag: str, line: DeliveredLine, link: LinkToTxn | None,
                     description: str) -> None:
    """One item line of a bill (``ItemLineAdd``, price in ``Cost``) or an invoice (``InvoiceLineAdd``, ``Rate``);
    a linked line names no item (QuickBooks takes it from the linked order line)."""
    row = etree.SubElement(add, tag)
    if link is None:
        append_ref(row, "ItemRef", full_name=item_full_name(line.product))
    append_opt(row, "Desc", description)
    append_opt(row, "Quantity", format_quantity(line.quantity))
    if line.unit_price is not None:
        append_opt(row, price_tag, format_price(line.unit_price))
    if link is not None:
        append_line_link(row, link)


def ordered_price(order_lines: Sequence[OrderLine], order_line_id: int | str | None) -> float | None:
    """The unit price of the order line a received or shipped line belongs to."""
    if order_line_id is None:
        return None
    line = next((line for line in order_lines if line.id is not None and str(line.id) == str(order_line_id)), None)
    return line.unit_price if line is not None else None


def _asked_ref_number(kind: str, options: IntegrationOptions, code: str) -> str | None:
    number = ref_number(options, code)
    return number[:REF_NUMBER_MAX[kind]] if number else None


_TIME_RETURNED = ("TxnID", "TimeModified", "EditSequence", "TxnDate", "Notes", "ExternalGUID")
_ADJUSTMENT_RETURNED = ("TxnID", "TimeModified", "EditSequence", "RefNumber", "Memo", "ExternalGUID")


def build_time_tracking_lookup(record: TimeRecord, employee: str, ctx: MappingContext,
                               modified_since: str) -> etree._Element:
    """Time entries of the employee modified since the add was sent."""
    query = etree.Element("TimeTrackingQueryRq")
    filter_ = etree.SubElement(query, "ModifiedDateRangeFilter")
    append_opt(filter_, "FromModifiedDate", modified_since)
    entity = etree.SubElement(query, "TimeTrackingEntityFilter")
    append_opt(entity, "FullName", employee)
    _returned(query, _TIME_RETURNED, ctx)
    return query


def build_inventory_adjustment_lookup(level: StockLevel, options: IntegrationOptions, ctx: MappingContext,
                                      modified_since: str) -> etree._Element:
    """Inventory adjustments modified since the add was sent."""
    query = etree.Element("InventoryAdjustmentQueryRq")
    filter_ = etree.SubElement(query, "ModifiedDateRangeFilter")
    append_opt(filter_, "FromModifiedDate", modified_since)
    _returned(query, _ADJUSTMENT_RETURNED, ctx)
    return query


def _returned(query: etree._Element, names: tuple[str, ...], ctx: MappingContext) -> None:
    if ctx.version < (4, 0):
        return
    for name in names:
        if name == "ExternalGUID" and ctx.external_guid is None:
            continue
        append_opt(query, "IncludeRetElement", name)
