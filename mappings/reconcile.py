"""Reconciliation: finding in QuickBooks the document or entry an earlier add created, when its answer was lost.

``build_sales_order_lookup``, ``build_purchase_order_lookup``, ``build_bill_lookup``, ``build_invoice_lookup``,
``build_time_tracking_lookup`` and ``build_inventory_adjustment_lookup`` ask QuickBooks for the candidates, and
:func:`find_ours` picks the one carrying this entity's ExternalGUID or marker. The line ids of an order found
this way are read by :func:`mappings.linking.line_ids`.
"""

from __future__ import annotations

from collections.abc import Iterable

from lxml import etree
from lxml.builder import E

from mappings.common import (
    EXTERNAL_GUID_TXN_SINCE,
    MappingContext,
    Version,
    append_opt,
    has_marker,
)
from mappings.names import customer_full_name, ref_number, vendor_full_name
from mappings.options import IntegrationOptions
from qbwc_service.fusion.models import (
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
# *Add/RefNumber (qbxmlops130.xml). An add with a longer Fusion code is never sent now (make_safe refuses it), but
# earlier versions cut it to this length: a lookup for such an add asks for what QuickBooks kept, and find_ours
# tells ours from another document with the same number by its marker.
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
