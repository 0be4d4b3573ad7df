"""Linking a bill or an invoice to its order on the QuickBooks side.

- Line ids: after a ``SalesOrderAdd`` or ``PurchaseOrderAdd`` (or a lookup that found it), :func:`line_ids`
  pairs each Fusion order line with the TxnLineID QuickBooks gave it, so that the invoice of a shipment and
  the bill of a receiving can later link to those lines.
- Links: :func:`plan_links` decides how a bill or an invoice links to its order (``LinkToTxn``,
  ``LinkToTxnID``), by the qbXML version and what is known of the order's line ids, and
  :func:`append_item_line` writes one item line of either, linked or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from lxml import etree
from lxml.builder import E

from mappings.common import MappingContext, Version, append_opt, append_ref, format_quantity
from mappings.names import format_price, item_full_name
from qbwc_service.fusion.models import OrderLine, Product

# The item lines of a transaction's *Ret, in the order of the *LineAdd elements that created them.
_LINE_RETS = frozenset({"SalesOrderLineRet", "PurchaseOrderLineRet", "InvoiceLineRet", "ItemLineRet"})


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
