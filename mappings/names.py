"""What the shared send options make of a Fusion document (SPEC.md section 2, "Options shared by the send
flows"): the QuickBooks names it refers to, its number, date, memo and line descriptions.

Used by the sales order, purchase order, bill and invoice mappings, so that one option means the same thing
on every flow. Pure: the only "now" is ``MappingContext.sync_date``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, assert_never

from mappings.common import MappingContext, custom_field_text, with_marker
from mappings.errors import MappingError
from mappings.options import IntegrationOptions
from qbwc_service.fusion.models import Client, Product, Supplier

# Memo of SalesOrderAdd, PurchaseOrderAdd, BillAdd and InvoiceAdd (qbxmlops130.xml).
MEMO_MAX = 4095
# Characters outside ISO-8859-1 are respelled before sending ("€" -> "EUR", "…" -> "..."): at most this long.
_RESPELLED_MAX = 3


def customer_full_name(client: Client, options: IntegrationOptions) -> str:
    """The QuickBooks customer of a Fusion client, per ``options.customer_name``.

    Raises ``MappingError`` naming the missing value when the chosen source is empty: falling back to
    another name would put the document on a different customer, or on one that does not exist.
    """
    match options.customer_name:
        case "customer_code":
            return client.code
        case "market_name":
            name = client.market.name if client.market is not None else None
            if not name:
                raise MappingError(
                    f"client {client.code!r}: customer_name is 'market_name' but client.market.name is empty"
                )
            return name
        case "market_custom_field":
            return _market_custom_field(client, options.customer_custom_field)
        case _:
            assert_never(options.customer_name)


def _market_custom_field(client: Client, field: str) -> str:
    """The custom field ``field`` of the client's market, where Fusion's Market integration page sets the
    "QuickBooks customer"; the client's own field of that name when the market has no value."""
    market = client.market
    value = _custom_text(market.custom_fields.get(field)) if market is not None else None
    if value is None:
        value = _custom_text(client.custom_fields.get(field))
    if value is None:
        label = None if market is None else market.name or market.code or market.id
        where = "the client has no market" if market is None else f"market {label!r}" if label else "its market"
        raise MappingError(
            f"client {client.code!r}: customer_name is 'market_custom_field' but the custom field {field!r} is "
            f"absent or empty both on the client's market ({where}: client.market.custom_fields[{field!r}]) and on "
            f"the client (client.custom_fields[{field!r}])"
        )
    return value


def vendor_full_name(supplier: Supplier) -> str:
    """The QuickBooks vendor of a Fusion supplier: its code."""
    return supplier.code


def item_full_name(product: Product) -> str:
    """The QuickBooks item of a Fusion product on orders, bills and invoices: its code."""
    return product.code


def line_description(product: Product, options: IntegrationOptions, order_notes: str | None) -> str:
    """An item line's ``Desc``, per ``options.line_description``.

    ``order_notes`` is what "shipping_notes" means on the flow: the sales order's shipping notes (sales
    orders, invoices) or the purchase order's receiving notes (purchase orders, bills). When the chosen text
    is empty the line is described by the product name (its code when it has no name), so that every line
    says what it is.
    """
    match options.line_description:
        case "product_name":
            chosen = None
        case "product_notes":
            chosen = product.notes
        case "shipping_notes":
            chosen = order_notes
        case _:
            assert_never(options.line_description)
    return chosen or product.name or product.code


def ref_number(options: IntegrationOptions, code: str) -> str | None:
    """``RefNumber``: the Fusion code, or none so that QuickBooks numbers the document in its sequence."""
    match options.document_number:
        case "fusion_code":
            return code
        case "quickbooks_sequence":
            return None
        case _:
            assert_never(options.document_number)


def txn_date(options: IntegrationOptions, ctx: MappingContext, document_date: date | None,
             default: date | datetime | None) -> date:
    """``TxnDate``, per ``options.document_date``.

    ``default`` is the flow's own date (the transfer date of a sales order, the creation date of the others);
    "document_date" falls back to it when the entity has no document date, and it falls back to the sync
    date when the entity does not have it either.
    """
    fallback = ctx.sync_date if default is None else default.date() if isinstance(default, datetime) else default
    match options.document_date:
        case "default":
            return fallback
        case "document_date":
            return document_date if document_date is not None else fallback
        case "sync_date":
            return ctx.sync_date
        case _:
            assert_never(options.document_date)


def due_date_as_ship_date(options: IntegrationOptions, due_date: date | None) -> date | None:
    """The order's due date when ``options.ship_date`` is "due_date", else none."""
    match options.ship_date:
        case "due_date":
            return due_date
        case "none":
            return None
        case _:
            assert_never(options.ship_date)


def marker_memo(notes: str | None, ctx: MappingContext, limit: int = MEMO_MAX, field: str = "Memo") -> str:
    """The header ``Memo``: the entity's notes and the marker, the notes cut so the marker survives ``limit``
    (counting each character QuickBooks cannot store at its longest respelling); a cut is recorded in
    ``ctx.warnings``."""
    if not notes:
        return with_marker(None, ctx.marker)
    budget = limit - len(with_marker("", ctx.marker)) - 1
    kept: list[str] = []
    for char in notes:
        budget -= 1 if ord(char) <= 0xFF else _RESPELLED_MAX
        if budget < 0:
            break
        kept.append(char)
    if len(kept) < len(notes):
        ctx.warnings.append(f"{field}: the notes' {len(notes)} characters cut to {len(kept)}, so that with the "
                            f"service's marker they fit the {limit} QuickBooks allows")
    return with_marker("".join(kept).rstrip() or None, ctx.marker)


def format_price(value: float | Decimal) -> str:
    """PRICETYPE (``Rate``, ``Cost``): up to five decimals, at least two, rounded half up.

    ``common.format_money`` keeps two decimals, right for amounts but not for unit prices: a screw at 0.0125
    would be billed 0.01.
    """
    exact = Decimal(str(value)).quantize(Decimal("0.00001"), rounding=ROUND_HALF_UP).normalize()
    text = format(exact, "f")
    if len(text.partition(".")[2]) < 2:
        text = format(exact.quantize(Decimal("0.01")), "f")
    return text


def _custom_text(value: Any) -> str | None:
    """A custom field's value as a name: text or a number; anything else (lists, objects, booleans) is no name."""
    if isinstance(value, bool | list | dict):
        return None
    return custom_field_text(value) or None
