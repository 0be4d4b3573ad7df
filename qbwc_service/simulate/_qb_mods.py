"""How the simulated QuickBooks company executes ``*ModRq``: list elements and transactions.

Part of the simulated QuickBooks Desktop company (a test double, see ``quickbooks.py``). A Mod names its object
(``ListID`` or ``TxnID``) and the ``EditSequence`` the caller last read: an unknown object answers 3120, another
EditSequence 3200 (someone changed the object since). The Mod is applied to a copy of the ``*Ret``, which
replaces the stored one only when every check passed, so a failed Mod changes nothing; a successful one moves
TimeModified and EditSequence on.

- Each field sent replaces the stored one (``Rate`` also replaces ``RatePercent``, ``Price`` ``PricePercent``);
  ``SalesOrPurchaseMod`` / ``SalesAndPurchaseMod`` change the item fields they carry. Other ``*Mod``
  aggregates (contacts, notes, payroll info) are left as they are.
- A new ``Name`` or ``ParentRef`` renames the element, its sub-elements (jobs, sub-items, sub-accounts) and
  every reference to them.
- Lines: a ``*LineMod`` with TxnLineID ``-1`` adds a line; with an existing TxnLineID it changes the fields it
  carries (the Amount follows Quantity x Rate unless sent). As in QuickBooks, once a Mod carries any line of a
  kind, the stored lines of that kind it does not name are deleted; ``ClearExpenseLines`` / ``ClearItemLines``
  (bills) delete them all first. Totals, stock quantities and sales order links follow (see ``_qb_effects``).
"""

from __future__ import annotations

import copy
import logging
from datetime import datetime

from lxml import etree

from qbwc_service.simulate import _qb_effects
from qbwc_service.simulate._qb_adds import (
    COMPUTED_TOTALS,
    build_line,
    check_length,
    compute_totals,
    invalid_reference,
    line_amount,
    normalized_duration,
    resolve_references,
)
from qbwc_service.simulate._qb_data_ext import not_found
from qbwc_service.simulate._qb_shapes import RET_ORDER, Shape
from qbwc_service.simulate._qb_store import (
    DeletedTxn,
    Record,
    StatusError,
    Store,
    boolean,
    child,
    format_datetime,
    kinds_of,
    name_space,
    set_text,
    sort_in_schema_order,
    text_of,
    touch,
)

logger = logging.getLogger(__name__)

_CHOICES: tuple[frozenset[str], ...] = (
    frozenset({"Rate", "RatePercent", "PriceLevelRef"}),
    frozenset({"Price", "PricePercent"}),
    frozenset({"SalesOrPurchase", "SalesAndPurchase"}),
)
_ITEM_AGGREGATES = {"SalesOrPurchaseMod": "SalesOrPurchase", "SalesAndPurchaseMod": "SalesAndPurchase"}
_CLEAR_FLAGS = {"ExpenseLineRet": "ClearExpenseLines", "ItemLineRet": "ClearItemLines"}
_PRICE_FIELDS = frozenset({"Quantity", "Rate", "Cost"})
_NAME_PARTS = ("FirstName", "MiddleName", "LastName")


def modify(store: Store, shape: Shape, mod: etree._Element, now: datetime) -> Record:
    """Execute one ``<{kind}Mod>``; returns the changed record."""
    id_tag = "TxnID" if shape.is_transaction else "ListID"
    record_id = text_of(mod, id_tag) or ""
    record = store.with_id((shape.kind,), record_id)
    if record is None:
        raise not_found(record_id)
    sent = text_of(mod, "EditSequence") or ""
    if sent != record.text("EditSequence"):
        raise StatusError(3200, f'The provided edit sequence "{sent}" is out-of-date. ')
    resolve_references(store, shape.kind, mod)
    ret = copy.deepcopy(record.element)
    if shape.is_transaction:
        _modify_transaction(store, shape, mod, ret, now)
        sort_in_schema_order(ret, shape.ret_tag)
        _qb_effects.withdraw(store, record)
        record.element = ret
        touch(record, now)
        ref_number = text_of(mod, "RefNumber")
        if ref_number:
            store.note_ref_number(shape.kind, ref_number)
        if shape.kind in ("Invoice", "Bill"):
            _qb_effects.follow_invoice_lines(store, record)
        _qb_effects.apply(store, record)
        if shape.kind in ("SalesOrder", "Invoice", "PurchaseOrder", "Bill"):
            _qb_effects.refresh_linked_txns(store, record)
        return record
    old_full_name = record.full_name
    _modify_list_element(store, shape, record, mod, ret)
    sort_in_schema_order(ret, shape.ret_tag)
    record.element = ret
    touch(record, now)
    if record.full_name != old_full_name:
        _rename(store, record, old_full_name)
    return record


# ---- fields ---------------------------------------------------------------------------------------------------


def _replace_fields(target: etree._Element, mod: etree._Element, skip: frozenset[str]) -> None:
    """Every field of ``mod`` replaces ``target``'s field of that name (all of them, for repeated fields)."""
    replaced: set[str] = set()
    for element in mod:
        tag = str(element.tag)
        if not isinstance(element.tag, str) or tag in skip:
            continue
        if tag in _ITEM_AGGREGATES:
            _merge_aggregate(target, element, _ITEM_AGGREGATES[tag])
            continue
        if tag.endswith("Mod") or tag.startswith("Apply"):
            logger.debug("simulated QuickBooks leaves %s as it is in a Mod", tag)
            continue
        if tag not in replaced:
            exclusive = next((choice for choice in _CHOICES if tag in choice), frozenset({tag}))
            for old in [e for e in target if e.tag in exclusive]:
                target.remove(old)
            replaced.add(tag)
        copied = copy.deepcopy(element)
        if tag.startswith("Is") and copied.text:
            copied.text = boolean(copied.text)
        target.append(copied)


def _merge_aggregate(target: etree._Element, mod: etree._Element, tag: str) -> None:
    aggregate = target.find(tag)
    if aggregate is None:
        for other in [e for e in target if e.tag in ("SalesOrPurchase", "SalesAndPurchase")]:
            target.remove(other)
        aggregate = child(target, tag)
    _replace_fields(aggregate, mod, frozenset())
    sort_in_schema_order(aggregate, tag)


# ---- list elements --------------------------------------------------------------------------------------------


def _modify_list_element(
    store: Store, shape: Shape, record: Record, mod: etree._Element, ret: etree._Element
) -> None:
    name = text_of(mod, "Name")
    if shape.kind == "Employee" and not name and any(mod.find(tag) is not None for tag in _NAME_PARTS):
        parts = [text_of(mod, tag) if mod.find(tag) is not None else text_of(ret, tag) for tag in _NAME_PARTS]
        name = " ".join(part for part in parts if part)
    if name:
        check_length(name, "Name", shape.name_max_length)
    new_name = name or record.text("Name") or ""
    parent = store.by_id.get(ret.findtext("ParentRef/ListID") or "")
    parent_ref = mod.find("ParentRef")
    if parent_ref is not None:
        parent = store.by_id.get(parent_ref.findtext("ListID") or "")
        if parent is not None and (parent is record or parent.full_name.startswith(record.full_name + ":")):
            raise invalid_reference("Parent", parent.full_name, shape.kind, in_line=False)
    full_name = f"{parent.full_name}:{new_name}" if parent is not None else new_name
    if full_name.casefold() != record.full_name.casefold():
        store.check_name_free(shape.kind, full_name, new_name, itself=record)
    _replace_fields(ret, mod, frozenset({"ListID", "EditSequence", "Name", "ParentRef"}))
    set_text(ret, "Name", new_name)
    if "FullName" in RET_ORDER[shape.ret_tag]:
        set_text(ret, "FullName", full_name)
        set_text(ret, "Sublevel", str(full_name.count(":")))
        for old in ret.findall("ParentRef"):
            ret.remove(old)
        if parent is not None:
            ref = child(ret, "ParentRef")
            child(ref, "ListID", parent.id)
            child(ref, "FullName", parent.full_name)


def _rename(store: Store, record: Record, old_full_name: str) -> None:
    """After a rename: sub-elements follow, and every reference to them shows the new full names."""
    store.rename(record, old_full_name)
    new_names = {record.id: record.full_name}
    prefix = old_full_name.casefold() + ":"
    for kind in name_space(record.kind):
        for other in store.all(kind):
            if other.full_name.casefold().startswith(prefix):
                before = other.full_name
                renamed = record.full_name + before[len(old_full_name):]
                set_text(other.element, "FullName", renamed)
                set_text(other.element, "Sublevel", str(renamed.count(":")))
                store.rename(other, before)
                new_names[other.id] = renamed
    for other in store.iter_all():
        for ref in other.element.iter():
            if isinstance(ref.tag, str) and ref.tag.endswith("Ref") and ref.findtext("ListID") in new_names:
                set_text(ref, "FullName", new_names[ref.findtext("ListID") or ""])


# ---- transactions ---------------------------------------------------------------------------------------------


def _modify_transaction(store: Store, shape: Shape, mod: etree._Element, ret: etree._Element, now: datetime) -> None:
    kind = shape.kind
    ref_number = text_of(mod, "RefNumber")
    if ref_number:
        check_length(ref_number, "RefNumber", shape.ref_number_max_length)
    line_kinds = {add_tag.removesuffix("Add") + "Mod": ret_tag for add_tag, ret_tag in shape.lines}
    # Line mods (and line group mods) end in "Mod": _replace_fields leaves them to the loop below.
    _replace_fields(ret, mod, frozenset({"TxnID", "EditSequence", *_CLEAR_FLAGS.values()}))
    for mod_tag, ret_tag in line_kinds.items():
        clear_flag = _CLEAR_FLAGS.get(ret_tag)
        cleared = clear_flag is not None and text_of(mod, clear_flag) == "true"
        line_mods = mod.findall(mod_tag)
        if not line_mods and not cleared:
            continue
        stored = {} if cleared else {line.findtext("TxnLineID"): line for line in ret.findall(ret_tag)}
        new_lines = []
        for line_mod in line_mods:
            line_id = text_of(line_mod, "TxnLineID") or ""
            if line_id == "-1":
                new_lines.append(build_line(store, line_mod, ret_tag, now))
                continue
            old = stored.get(line_id)
            if old is None:
                raise not_found(line_id)
            new_lines.append(_modify_line(old, line_mod, ret_tag))
        for old in ret.findall(ret_tag):
            ret.remove(old)
        ret.extend(new_lines)
    if kind == "TimeTracking" and mod.find("Duration") is not None:
        set_text(ret, "Duration", normalized_duration(ret.findtext("Duration") or ""))
    for tag in COMPUTED_TOTALS:
        for old in ret.findall(tag):
            ret.remove(old)
    compute_totals(kind, ret)


def _modify_line(old: etree._Element, line_mod: etree._Element, ret_tag: str) -> etree._Element:
    line = copy.deepcopy(old)
    _replace_fields(line, line_mod, frozenset({"TxnLineID"}))
    sent = {str(e.tag) for e in line_mod}
    if "Amount" not in sent and sent & _PRICE_FIELDS:
        line_amount(line)
    sort_in_schema_order(line, ret_tag)
    return line


def mod_target_name(store: Store, kind: str, rq: etree._Element) -> str | None:
    """The full name of the list element a ``*ModRq`` changes (for ``lock``), if it names one that exists."""
    body = rq.find(f"{kind}Mod")
    list_id = text_of(body, "ListID") if body is not None else None
    record = store.with_id(kinds_of(kind), list_id) if list_id else None
    return record.full_name if record is not None else None


def delete_transaction(store: Store, kind: str, txn_id: str, now: datetime) -> list[etree._Element]:
    """Execute a ``TxnDelRq``: effects are withdrawn and the deletion is kept for ``TxnDeletedQueryRq``.

    A sales order that invoices bill cannot be deleted (QuickBooks asks to delete the invoices first); 3210 is
    QuickBooks' "the transaction cannot be saved" family, the wording is the simulated company's.
    """
    record = store.with_id((kind,), txn_id)
    if record is None:
        raise not_found(txn_id)
    if kind in ("SalesOrder", "PurchaseOrder") and _qb_effects.has_links_to(store, record):
        raise StatusError(3210, f'The transaction "{record.text("RefNumber") or txn_id}" cannot be deleted: '
                                f"{'invoices' if kind == 'SalesOrder' else 'bills'} are linked to it.")
    _qb_effects.withdraw(store, record)
    _qb_effects.unlink_invoice(store, record)
    store.remove(record)
    store.deleted.append(DeletedTxn(kind, record.id, record.text("TimeCreated") or "", now, record.text("RefNumber")))
    answer = [etree.Element("TxnDelType"), etree.Element("TxnID"), etree.Element("TimeDeleted")]
    answer[0].text, answer[1].text, answer[2].text = kind, record.id, format_datetime(now)
    if record.text("RefNumber"):
        ref = etree.Element("RefNumber")
        ref.text = record.text("RefNumber")
        answer.append(ref)
    return answer
