"""How the simulated QuickBooks company executes ``*AddRq``: list elements and transactions.

Part of the simulated QuickBooks Desktop company (a test double, see ``quickbooks.py``). Each add checks
what QuickBooks checks (name lengths, name uniqueness, references), builds the ``*Ret`` from the request
plus what QuickBooks computes (identifiers, times, amounts, totals), and only then changes the store, so a
failed add changes nothing. What a transaction does to items and sales orders is in ``_qb_effects``.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime, timedelta
from decimal import Decimal

from lxml import etree

from qbwc_service.simulate import _qb_effects
from qbwc_service.simulate._qb_data_ext import inline_data_ext_ret
from qbwc_service.simulate._qb_shapes import ENTITY_KINDS, ITEM_KINDS, Shape
from qbwc_service.simulate._qb_store import (
    Link,
    Record,
    StatusError,
    Store,
    boolean,
    child,
    decimal_of,
    epoch,
    format_datetime,
    money,
    quantity,
    set_text,
    sort_in_schema_order,
    text_of,
    write_ref,
)

UNSUPPORTED_MESSAGE = "This feature is not enabled or not available in this version of QuickBooks."

_ACCOUNT: tuple[tuple[str, ...], str] = (("Account",), "Account")
REFERENCES: dict[str, tuple[tuple[str, ...], str]] = {
    "CustomerRef": (("Customer",), "Customer"),
    "VendorRef": (("Vendor",), "Vendor"),
    "PrefVendorRef": (("Vendor",), "Vendor"),
    "ItemRef": (ITEM_KINDS, "Item"),
    "ItemServiceRef": (("ItemService",), "Item"),
    "EntityRef": (ENTITY_KINDS, "Entity"),
    "AccountRef": _ACCOUNT,
    "APAccountRef": _ACCOUNT,
    "ARAccountRef": _ACCOUNT,
    "IncomeAccountRef": _ACCOUNT,
    "COGSAccountRef": _ACCOUNT,
    "AssetAccountRef": _ACCOUNT,
    "ExpenseAccountRef": _ACCOUNT,
}
"""The references the simulated company checks: element -> (kinds it may point at, name in the message)."""

_PARENTS: dict[str, tuple[tuple[str, ...], str]] = {
    "Customer": (("Customer",), "Customer"),
    "Account": _ACCOUNT,
    **{kind: (ITEM_KINDS, "Item") for kind in ITEM_KINDS},
}

_LIST_DEFAULTS: dict[str, tuple[tuple[str, str], ...]] = {
    "Customer": (("Balance", "0.00"), ("TotalBalance", "0.00"), ("JobStatus", "None")),
    "Vendor": (("Balance", "0.00"),),
    "Account": (("Balance", "0.00"), ("TotalBalance", "0.00")),
    "ItemInventory": (("QuantityOnHand", "0"), ("QuantityOnOrder", "0"), ("QuantityOnSalesOrder", "0")),
}
_LINE_DEFAULTS: dict[str, tuple[tuple[str, str], ...]] = {
    "SalesOrderLineRet": (("Invoiced", "0"), ("IsManuallyClosed", "false")),
    "PurchaseOrderLineRet": (("ReceivedQuantity", "0"), ("IsBilled", "false"), ("IsManuallyClosed", "false")),
}
_DEFAULT_ACCOUNTS: dict[str, tuple[str, str]] = {
    "Invoice": ("ARAccountRef", "Accounts Receivable"),
    "Bill": ("APAccountRef", "Accounts Payable"),
}
_BILL_DAYS_DUE = 10
_DURATION = re.compile(r"^P(?:\d+D)?T?(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?$")
COMPUTED_TOTALS = ("Subtotal", "TotalAmount", "BalanceRemaining", "AmountDue", "OpenAmount")
"""Header amounts QuickBooks computes from the lines (a Mod recomputes them)."""


def invalid_reference(label: str, shown: str, kind: str, in_line: bool) -> StatusError:
    where = f"{kind} line" if in_line else kind
    return StatusError(
        3140,
        f'There is an invalid reference to QuickBooks {label} "{shown}" in the {where}.  '
        "QuickBooks error message: Invalid argument.  The specified record does not exist in the list.",
    )


def resolve_references(store: Store, kind: str, add: etree._Element) -> None:
    """Check every reference in ``add`` and rewrite it as QuickBooks answers it (ListID + FullName)."""
    targets = dict(REFERENCES)
    if kind in _PARENTS:
        targets["ParentRef"] = _PARENTS[kind]
    if kind == "InventoryAdjustment":
        targets["ItemRef"] = (("ItemInventory",), "Item")
    if store.records.get("PayrollItemWage"):
        # A company without payroll wage items is taken as one that does not track payroll in the simulation:
        # it accepts any PayrollItemWageRef, as before payroll items were simulated.
        targets["PayrollItemWageRef"] = (("PayrollItemWage",), "PayrollItemWage")
    for ref in [e for e in add.iter() if isinstance(e.tag, str) and e.tag in targets]:
        kinds, label = targets[str(ref.tag)]
        record = store.resolve(ref, kinds)
        if record is None:
            shown = text_of(ref, "FullName") or text_of(ref, "ListID") or ""
            parent = ref.getparent()
            in_line = parent is not None and str(parent.tag).endswith("LineAdd")
            raise invalid_reference(label, shown, kind, in_line)
        write_ref(ref, record)


def check_length(value: str, field_name: str, limit: int) -> None:
    if limit and len(value) > limit:
        raise StatusError(3070, f'The string "{value}" in the field "{field_name}" is too long.')


def _stamp(ret: etree._Element, id_tag: str, record_id: str, now: datetime) -> None:
    child(ret, id_tag, record_id)
    child(ret, "TimeCreated", format_datetime(now))
    child(ret, "TimeModified", format_datetime(now))
    child(ret, "EditSequence", str(epoch(now)))


def _copy_children(store: Store, source: etree._Element, target: etree._Element, skip: frozenset[str]) -> None:
    for element in source:
        if not isinstance(element.tag, str) or element.tag in skip:
            continue
        if element.tag == "DataExt":
            target.append(inline_data_ext_ret(store, element))
        else:
            target.append(copy.deepcopy(element))


def _default(ret: etree._Element, tag: str, text: str) -> None:
    if ret.find(tag) is None:
        child(ret, tag, text)


# ---- list elements --------------------------------------------------------------------------------------


def add_list_element(store: Store, shape: Shape, add: etree._Element, now: datetime) -> Record:
    kind = shape.kind
    name = text_of(add, "Name")
    if kind == "Employee" and not name:
        parts = (text_of(add, tag) for tag in ("FirstName", "MiddleName", "LastName"))
        name = " ".join(part for part in parts if part)
    if not name:
        raise StatusError(3150, 'There is a missing element: "Name".')
    check_length(name, "Name", shape.name_max_length)
    resolve_references(store, kind, add)
    parent_id = add.findtext("ParentRef/ListID")
    parent = store.by_id.get(parent_id) if parent_id else None
    full_name = f"{parent.full_name}:{name}" if parent is not None else name
    store.check_name_free(kind, full_name, name)

    ret = etree.Element(shape.ret_tag)
    _stamp(ret, "ListID", store.new_list_id(now), now)
    child(ret, "Name", name)
    child(ret, "FullName", full_name)
    child(ret, "IsActive", boolean(text_of(add, "IsActive") or "true"))
    child(ret, "Sublevel", str(int(parent.text("Sublevel") or "0") + 1) if parent is not None else "0")
    _copy_children(store, add, ret, frozenset({"Name", "IsActive"}))
    for tag, text in _LIST_DEFAULTS.get(kind, ()):
        _default(ret, tag, text)
    if kind == "ItemInventory":
        on_hand = decimal_of(ret.findtext("QuantityOnHand"), Decimal(0)) or Decimal(0)
        total_value = decimal_of(add.findtext("TotalValue"))
        cost = decimal_of(add.findtext("PurchaseCost"), Decimal(0)) or Decimal(0)
        average = total_value / on_hand if total_value is not None and on_hand else cost
        _default(ret, "AverageCost", money(average))
    sort_in_schema_order(ret, shape.ret_tag)
    record = Record(kind, ret, now)
    store.add(record)
    return record


# ---- transactions ---------------------------------------------------------------------------------------


def add_transaction(store: Store, shape: Shape, add: etree._Element, now: datetime) -> Record:
    kind = shape.kind
    resolve_references(store, kind, add)
    ref_number = text_of(add, "RefNumber")
    if ref_number:
        check_length(ref_number, "RefNumber", shape.ref_number_max_length)
    default_account = _DEFAULT_ACCOUNTS.get(kind)
    if default_account is not None and add.find(default_account[0]) is None:
        account = store.named(("Account",), default_account[1])
        if account is not None:
            write_ref(child(add, default_account[0]), account)

    ret = etree.Element(shape.ret_tag)
    txn_id = store.new_txn_id(now)
    _stamp(ret, "TxnID", txn_id, now)
    if add.find("TxnDate") is None:
        child(ret, "TxnDate", now.date().isoformat())
    links: list[Link] = []
    line_tags = dict(shape.lines)
    for element in add:
        if not isinstance(element.tag, str):
            continue
        if kind == "InventoryAdjustment" and element.tag == "InventoryAdjustmentLineAdd":
            continue
        if element.tag in line_tags:
            line_add = (_qb_effects.prepare_linked_line(store, add, element) if kind in ("Invoice", "Bill")
                        else element)
            line = build_line(store, line_add, line_tags[element.tag], now)
            ret.append(line)
            link = _qb_effects.new_link(txn_id, line_add, line)
            if link is not None:
                links.append(link)
        elif element.tag == "DataExt":
            ret.append(inline_data_ext_ret(store, element))
        else:
            ret.append(copy.deepcopy(element))
    if kind == "InventoryAdjustment":
        _adjust_inventory(store, add, ret, now)
    if kind == "TimeTracking":
        set_text(ret, "Duration", normalized_duration(ret.findtext("Duration") or ""))
    compute_totals(kind, ret)

    child(ret, "TxnNumber", store.new_txn_number())
    if ref_number:
        store.note_ref_number(kind, ref_number)
    elif shape.auto_ref_number:
        child(ret, "RefNumber", store.new_ref_number(kind))
    sort_in_schema_order(ret, shape.ret_tag)
    record = Record(kind, ret, now)
    store.add(record)
    store.links.extend(links)
    _qb_effects.apply(store, record)
    return record


_SALES_LINES = frozenset({"SalesOrderLineRet", "EstimateLineRet", "InvoiceLineRet"})
_PURCHASE_LINES = {"PurchaseOrderLineRet": "Rate", "ItemLineRet": "Cost"}
_ITEM_PRICES = {
    "sales": ("SalesOrPurchase/Price", "SalesAndPurchase/SalesPrice", "SalesPrice"),
    "purchase": ("SalesAndPurchase/PurchaseCost", "PurchaseCost", "SalesOrPurchase/Price"),
}
_ITEM_DESCRIPTIONS = {
    "sales": ("SalesOrPurchase/Desc", "SalesAndPurchase/SalesDesc", "SalesDesc"),
    "purchase": ("SalesAndPurchase/PurchaseDesc", "PurchaseDesc", "SalesOrPurchase/Desc"),
}


def build_line(store: Store, line_add: etree._Element, line_tag: str, now: datetime) -> etree._Element:
    """A ``*LineRet`` from a ``*LineAdd`` (or a ``*LineMod`` adding a line): a new TxnLineID and its Amount.

    As in QuickBooks, a line without a price takes the item's (sales price on sales forms, cost on purchase
    forms), and a line without a description the item's.
    """
    line = etree.Element(line_tag)
    child(line, "TxnLineID", store.new_txn_id(now))
    _copy_children(store, line_add, line, frozenset({"TxnLineID", "LinkToTxn"}))
    _item_defaults(store, line, line_tag)
    if line.find("Amount") is None:
        line_amount(line)
    for tag, text in _LINE_DEFAULTS.get(line_tag, ()):
        _default(line, tag, text)
    sort_in_schema_order(line, line_tag)
    return line


def _item_defaults(store: Store, line: etree._Element, line_tag: str) -> None:
    side = "sales" if line_tag in _SALES_LINES else "purchase" if line_tag in _PURCHASE_LINES else None
    item = store.with_id(ITEM_KINDS, line.findtext("ItemRef/ListID") or "")
    if side is None or item is None:
        return
    if all(line.find(tag) is None for tag in ("Rate", "RatePercent", "Cost", "Amount", "PriceLevelRef")):
        price = next((item.text(path) for path in _ITEM_PRICES[side] if item.text(path)), None)
        if price is not None:
            child(line, "Cost" if line_tag == "ItemLineRet" else "Rate", price)
    if line.find("Desc") is None:
        desc = next((item.text(path) for path in _ITEM_DESCRIPTIONS[side] if item.text(path)), None)
        if desc is not None:
            child(line, "Desc", desc)


def line_amount(line: etree._Element) -> None:
    """Set a line's Amount to Quantity (default 1) times Rate or Cost, when it has a price."""
    price = decimal_of(line.findtext("Rate")) or decimal_of(line.findtext("Cost"))
    if price is not None:
        count = decimal_of(line.findtext("Quantity"), Decimal(1)) or Decimal(1)
        set_text(line, "Amount", money(count * price))


def compute_totals(kind: str, ret: etree._Element) -> None:
    """Header amounts and flags QuickBooks computes, where the ``*Ret`` does not carry them yet."""
    total = sum(
        (decimal_of(line.findtext("Amount"), Decimal(0)) or Decimal(0))
        for line in ret
        if str(line.tag).endswith("LineRet")
    )
    amount = money(Decimal(total))
    if kind == "SalesOrder":
        for tag, text in (("Subtotal", amount), ("SalesTaxPercentage", "0.00"), ("SalesTaxTotal", "0.00"),
                          ("TotalAmount", amount), ("IsManuallyClosed", "false"), ("IsFullyInvoiced", "false")):
            _default(ret, tag, text)
    elif kind == "Estimate":
        for tag, text in (("IsActive", "true"), ("Subtotal", amount), ("SalesTaxPercentage", "0.00"),
                          ("SalesTaxTotal", "0.00"), ("TotalAmount", amount)):
            _default(ret, tag, text)
    elif kind == "Invoice":
        for tag, text in (("IsPending", "false"), ("Subtotal", amount), ("SalesTaxPercentage", "0.00"),
                          ("SalesTaxTotal", "0.00"), ("AppliedAmount", "0.00"), ("BalanceRemaining", amount),
                          ("IsPaid", "false")):
            _default(ret, tag, text)
    elif kind == "PurchaseOrder":
        for tag, text in (("TotalAmount", amount), ("IsManuallyClosed", "false"), ("IsFullyReceived", "false")):
            _default(ret, tag, text)
    elif kind == "Bill":
        txn_date = datetime.fromisoformat(ret.findtext("TxnDate") or "").date()
        _default(ret, "DueDate", (txn_date + timedelta(days=_BILL_DAYS_DUE)).isoformat())
        for tag, text in (("AmountDue", amount), ("IsPaid", "false"), ("OpenAmount", amount)):
            _default(ret, tag, text)


def _adjust_inventory(store: Store, add: etree._Element, ret: etree._Element, now: datetime) -> None:
    """Lines of an InventoryAdjustmentAdd: the quantity (and value) each changes an item's stock by."""
    on_hand: dict[str, Decimal] = {}
    for line_add in add.findall("InventoryAdjustmentLineAdd"):
        item = store.with_id(("ItemInventory",), line_add.findtext("ItemRef/ListID") or "")
        if item is None:
            raise StatusError(3150, 'There is a missing element: "ItemRef".')
        current = on_hand.get(item.id, decimal_of(item.text("QuantityOnHand"), Decimal(0)) or Decimal(0))
        average = decimal_of(item.text("AverageCost"), Decimal(0)) or Decimal(0)
        adjustment = line_add.find("QuantityAdjustment")
        if adjustment is None:
            adjustment = line_add.find("ValueAdjustment")
        if adjustment is None:
            # Serial and lot number adjustments need the Advanced Inventory feature.
            raise StatusError(3250, UNSUPPORTED_MESSAGE)
        new_quantity = decimal_of(adjustment.findtext("NewQuantity"))
        difference = (
            new_quantity - current
            if new_quantity is not None
            else decimal_of(adjustment.findtext("QuantityDifference"), Decimal(0)) or Decimal(0)
        )
        value_difference = decimal_of(adjustment.findtext("ValueDifference"))
        new_value = decimal_of(adjustment.findtext("NewValue"))
        if value_difference is None:
            value_difference = new_value - current * average if new_value is not None else difference * average
        on_hand[item.id] = current + difference

        line = child(ret, "InventoryAdjustmentLineRet")
        child(line, "TxnLineID", store.new_txn_id(now))
        item_ref = child(line, "ItemRef")
        write_ref(item_ref, item)
        child(line, "QuantityDifference", quantity(difference))
        child(line, "ValueDifference", money(value_difference))


def normalized_duration(text: str) -> str:
    """A TimeTracking duration the way QuickBooks echoes it: ``PT1H30M`` becomes ``PT1H30M0S``."""
    match = _DURATION.match(text.strip())
    if match is None or text.strip() in ("P", "PT"):
        raise StatusError(3020, f'There was an error when converting the duration value "{text}" '
                                'in the field "Duration".')
    days = re.match(r"^P(\d+)D", text.strip())
    hours = Decimal(match.group(1) or 0) + (Decimal(days.group(1)) * 24 if days else 0)
    minutes = Decimal(match.group(2) or 0)
    seconds = Decimal(match.group(3) or 0)
    total = int((hours * 3600 + minutes * 60 + seconds).to_integral_value())
    return f"PT{total // 3600}H{total % 3600 // 60}M{total % 60}S"
