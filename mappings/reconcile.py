"""Lookups that find a time entry or an inventory adjustment whose add was sent and whose answer was
lost (the sales, purchase, bill and invoice lookups live in mappings.lookup)."""

from __future__ import annotations

from collections.abc import Iterable

from lxml import etree

from mappings.common import MappingContext, append_opt, has_marker
from mappings.options import IntegrationOptions
from qbwc_service.fusion.models import StockLevel, TimeRecord

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


def find_ours(rets: Iterable[etree._Element], ctx: MappingContext) -> etree._Element | None:
    """The record this service created for ``ctx``: same ExternalGUID, or the marker in Memo or Notes."""
    for ret in rets:
        guid = ret.findtext("ExternalGUID")
        if ctx.external_guid and guid and guid.upper() == ctx.external_guid.upper():
            return ret
        if has_marker(ret.findtext("Memo"), ctx.marker) or has_marker(ret.findtext("Notes"), ctx.marker):
            return ret
    return None
