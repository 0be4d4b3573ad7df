"""Fusion stock levels -> QuickBooks quantity on hand (SPEC.md section 2, "Stock options").

"Quantity on hand update" sets the new quantity (``QuantityAdjustment/NewQuantity``): QuickBooks works the
difference out itself, so a sync sent twice leaves the same quantity. The quantity sent is what Fusion has
in stock less what its sales orders hold (:meth:`StockLevel.quantity_to_send`).
"""

from __future__ import annotations

from lxml import etree
from lxml.builder import E

from mappings.common import (
    EXTERNAL_GUID_TXN_SINCE,
    MappingContext,
    append_opt,
    custom_field_text,
    format_date,
    format_quantity,
)
from mappings.errors import MappingError
from mappings.names import marker_memo
from mappings.options import IntegrationOptions
from qbwc_service.fusion.models import StockLevel

MEMO_MAX = 4095


def stock_item_name(level: StockLevel, options: IntegrationOptions) -> str:
    """The QuickBooks item a product's stock goes to: its code, or the value of the chosen custom field."""
    product = level.product
    field = options.stock_item_custom_field
    if field is None:
        return product.code
    value = custom_field_text(product.custom_fields.get(field))
    if not value:
        raise MappingError(f"product {product.code}: custom field {field!r} is missing or empty, and the option "
                           f"stock_item_custom_field takes the QuickBooks item name from it")
    return value


def include_in_stock_sync(level: StockLevel, options: IntegrationOptions) -> bool:
    """False for a product without the "QuickBooks" label when only labelled products are synced."""
    if not options.stock_only_quickbooks_label:
        return True
    wanted = options.stock_quickbooks_label.strip().casefold()
    return any(label.strip().casefold() == wanted for label in level.product.labels)


def build_inventory_adjustment_add(
    level: StockLevel, options: IntegrationOptions, ctx: MappingContext
) -> etree._Element:
    """``InventoryAdjustmentAddRq`` setting one item's quantity on hand, dated on the sync date."""
    account = options.stock_adjustment_account
    if not account:
        raise MappingError(f"product {level.product.code}: stock_adjustment_account is not set; QuickBooks needs "
                           f"the account that receives inventory adjustments")
    # Not sent below zero. When Fusion's orders hold more than it has in stock, nothing is available, and
    # that is what QuickBooks is told: a negative quantity on hand would value the inventory asset below
    # nothing and distort the item's average cost, and companies that disallow negative inventory refuse it.
    quantity = max(level.quantity_to_send(), 0.0)
    add = E.InventoryAdjustmentAdd(
        E.AccountRef(E.FullName(account)),
        E.TxnDate(format_date(ctx.sync_date)),
        E.Memo(marker_memo(options.stock_adjustment_memo, ctx, MEMO_MAX)),
    )
    if ctx.version >= EXTERNAL_GUID_TXN_SINCE:
        append_opt(add, "ExternalGUID", ctx.external_guid)
    add.append(
        E.InventoryAdjustmentLineAdd(
            E.ItemRef(E.FullName(stock_item_name(level, options))),
            E.QuantityAdjustment(E.NewQuantity(format_quantity(quantity))),
        )
    )
    request: etree._Element = E.InventoryAdjustmentAddRq(add)
    return request

