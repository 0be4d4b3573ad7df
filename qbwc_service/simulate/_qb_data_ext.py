"""Custom fields of the simulated QuickBooks company: ``DataExtDef*`` (definitions) and ``DataExt*`` (values).

Part of the simulated QuickBooks Desktop company (a test double, see ``quickbooks.py``). A definition has an
OwnerID: ``0`` for the public custom fields QuickBooks shows in its UI (assigned to kinds of objects with
``AssignToObject``), a GUID for an application's private fields. Values live where QuickBooks answers them:
as ``DataExtRet`` at the end of a list element's or transaction's ``*Ret`` (or of one of its lines, with
``TxnLineID``), or on the company itself (``OtherDataExtType`` Company, where the Web Connector keeps its
``FileID`` and ``AppLock``). Queries show them when asked for their OwnerID (see ``_qb_queries.present``).

Choices where the sources available here do not say what QuickBooks does:

- ``DataExtAdd`` needs a definition (3120 ``Object "<name>" specified in the request cannot be found.``, the
  wording QuickBooks uses for anything a request names that does not exist), assigned to that kind of object
  when the definition lists any; the same answer for an object that does not exist.
- ``DataExtAdd`` where the object already has a value answers 3180 ("There was an error when saving"),
  naming the field. Intuit's DataExtAdd reference says an add answers 3180 on a custom field that was deleted
  and re-added in QuickBooks' UI, and that DataExtMod writes such a field; no source here gives the code or
  the message for a plain second add, so this is the same 3180, with this simulator's wording.
  ``DataExtMod`` sets the value whether or not there is one (a public field is blank, not absent, on every
  object in QuickBooks' UI); ``DataExtDel`` of a value that is not there answers 3120.
- Changing a value counts as changing the object: its TimeModified and EditSequence move on.
- An inline ``DataExt`` on an add line needs no definition: its value is kept as a ``STR255TYPE`` field.
- ``DataExtDefQueryRq`` without ``OwnerID`` answers the public definitions only; private ones are shown to
  those who name their OwnerID.
"""

from __future__ import annotations

from datetime import datetime

from lxml import etree

from qbwc_service.simulate._qb_shapes import LIST_DATA_EXT_KINDS, RET_ORDER, TXN_DATA_EXT_KINDS
from qbwc_service.simulate._qb_store import (
    DataExtDef,
    Record,
    StatusError,
    Store,
    child,
    decimal_of,
    format_datetime,
    parse_datetime,
    sort_in_schema_order,
    text_of,
    touch,
)

UNSUPPORTED_MESSAGE = "This feature is not enabled or not available in this version of QuickBooks."
_STRING_LIMITS = {"STR255TYPE": 255, "STR1024TYPE": 1024}
_NUMERIC_TYPES = frozenset({"AMTTYPE", "PRICETYPE", "QUANTYPE", "PERCENTTYPE"})


def not_found(shown: str) -> StatusError:
    return StatusError(3120, f'Object "{shown}" specified in the request cannot be found. ')


# ---- definitions --------------------------------------------------------------------------------------------


def define(store: Store, body: etree._Element) -> DataExtDef:
    """Execute a ``DataExtDefAdd``."""
    owner_id = text_of(body, "OwnerID") or "0"
    name = text_of(body, "DataExtName") or ""
    if len(name) > 31:
        raise StatusError(3070, f'The string "{name}" in the field "DataExtName" is too long.')
    if (owner_id, name.casefold()) in store.data_ext_defs:
        raise StatusError(3100, f'The name "{name}" of the list element is already in use.')
    definition = DataExtDef(
        owner_id=owner_id,
        name=name,
        data_type=text_of(body, "DataExtType") or "STR255TYPE",
        ext_id=store.next_data_ext_id,
        assign_to=tuple((e.text or "").strip() for e in body.findall("AssignToObject")),
        list_require=text_of(body, "DataExtListRequire") == "true",
        txn_require=text_of(body, "DataExtTxnRequire") == "true",
        format_string=text_of(body, "DataExtFormatString") or "",
    )
    store.next_data_ext_id += 1
    store.data_ext_defs[(owner_id, name.casefold())] = definition
    return definition


def definition_ret(definition: DataExtDef) -> etree._Element:
    ret = etree.Element("DataExtDefRet")
    child(ret, "OwnerID", definition.owner_id)
    child(ret, "DataExtID", str(definition.ext_id))
    child(ret, "DataExtName", definition.name)
    child(ret, "DataExtType", definition.data_type)
    for target in definition.assign_to:
        child(ret, "AssignToObject", target)
    child(ret, "DataExtListRequire", "true" if definition.list_require else "false")
    child(ret, "DataExtTxnRequire", "true" if definition.txn_require else "false")
    child(ret, "DataExtFormatString", definition.format_string)
    return ret


def query_definitions(store: Store, rq: etree._Element) -> list[etree._Element]:
    """Execute a ``DataExtDefQueryRq`` (filters: ``OwnerID`` or ``AssignToObject``, both repeatable)."""
    owners = {(e.text or "").strip() for e in rq.findall("OwnerID")}
    targets = {(e.text or "").strip() for e in rq.findall("AssignToObject")}
    found = []
    for definition in store.data_ext_defs.values():
        if owners and definition.owner_id not in owners:
            continue
        if not owners and definition.owner_id != "0":
            continue
        if targets and not targets & set(definition.assign_to):
            continue
        found.append(definition_ret(definition))
    return found


# ---- values ---------------------------------------------------------------------------------------------------


def inline_data_ext_ret(store: Store, data_ext: etree._Element) -> etree._Element:
    """A custom field sent inline (``DataExt`` in an add line) as QuickBooks answers it (``DataExtRet``)."""
    owner_id = text_of(data_ext, "OwnerID") or "0"
    name = text_of(data_ext, "DataExtName") or ""
    definition = store.data_ext_defs.get((owner_id, name.casefold()))
    data_type = definition.data_type if definition is not None else "STR255TYPE"
    value = data_ext.findtext("DataExtValue") or ""
    _check_value(name, data_type, value)
    return _value_ret(owner_id, definition.name if definition is not None else name, data_type, value)


def _value_ret(owner_id: str, name: str, data_type: str, value: str) -> etree._Element:
    ret = etree.Element("DataExtRet")
    child(ret, "OwnerID", owner_id)
    child(ret, "DataExtName", name)
    child(ret, "DataExtType", data_type)
    child(ret, "DataExtValue", value)
    return ret


def _check_value(name: str, data_type: str, value: str) -> None:
    limit = _STRING_LIMITS.get(data_type)
    if limit is not None and len(value) > limit:
        raise StatusError(3070, f'The string "{value}" in the field "{name}" is too long.')
    if data_type in _NUMERIC_TYPES:
        decimal_of(value)
    elif data_type == "INTTYPE" and not value.strip().lstrip("+-").isdigit():
        raise StatusError(3000, f'There was an error when converting the number value "{value}".')
    elif data_type == "DATETIMETYPE":
        parse_datetime(value, name)


def _target(store: Store, body: etree._Element) -> tuple[etree._Element, Record | None, str]:
    """Where a DataExtAdd/Mod/Del puts its value: (the element holding DataExtRet, its record, object kind)."""
    list_type = text_of(body, "ListDataExtType")
    if list_type:
        kinds = LIST_DATA_EXT_KINDS.get(list_type)
        if kinds is None:
            raise StatusError(3250, UNSUPPORTED_MESSAGE)
        ref = body.find("ListObjRef")
        record = store.resolve(ref, kinds) if ref is not None else None
        if record is None:
            shown = (text_of(ref, "FullName") or text_of(ref, "ListID") or "") if ref is not None else ""
            raise not_found(shown)
        return record.element, record, list_type
    txn_type = text_of(body, "TxnDataExtType")
    if txn_type:
        if txn_type not in TXN_DATA_EXT_KINDS:
            raise StatusError(3250, UNSUPPORTED_MESSAGE)
        txn_id = text_of(body, "TxnID") or ""
        txn = store.with_id((txn_type,), txn_id)
        if txn is None:
            raise not_found(txn_id)
        line_id = text_of(body, "TxnLineID")
        if not line_id:
            return txn.element, txn, txn_type
        line = next((e for e in txn.element if str(e.tag).endswith("LineRet") and e.findtext("TxnLineID") == line_id),
                    None)
        if line is None:
            raise not_found(line_id)
        return line, txn, txn_type
    return store.company_data_ext, None, "Company"


def _definition(store: Store, body: etree._Element, object_kind: str) -> DataExtDef:
    owner_id = text_of(body, "OwnerID") or "0"
    name = text_of(body, "DataExtName") or ""
    definition = store.data_ext_defs.get((owner_id, name.casefold()))
    if definition is None or (definition.assign_to and object_kind not in definition.assign_to):
        raise not_found(name)
    return definition


def _existing(holder: etree._Element, owner_id: str, name: str) -> etree._Element | None:
    for ret in holder.findall("DataExtRet"):
        if ret.findtext("OwnerID") == owner_id and (ret.findtext("DataExtName") or "").casefold() == name.casefold():
            return ret
    return None


def _store_value(holder: etree._Element, record: Record | None, ret: etree._Element, now: datetime) -> None:
    holder.append(ret)
    if str(holder.tag) in RET_ORDER:
        sort_in_schema_order(holder, str(holder.tag))
    if record is not None:
        touch(record, now)


def add_value(store: Store, body: etree._Element, now: datetime) -> etree._Element:
    """Execute a ``DataExtAdd``; answers the new ``DataExtRet``."""
    holder, record, object_kind = _target(store, body)
    owner_id = text_of(body, "OwnerID") or "0"
    name = text_of(body, "DataExtName") or ""
    if _existing(holder, owner_id, name) is not None:
        raise StatusError(3180, f'There was an error when saving a data extension "{name}". QuickBooks error '
                                "message: the object already has a value in this field; use DataExtMod to change it.")
    definition = _definition(store, body, object_kind)
    value = body.findtext("DataExtValue") or ""
    _check_value(name, definition.data_type, value)
    _store_value(holder, record, _value_ret(owner_id, definition.name, definition.data_type, value), now)
    return _value_ret(owner_id, definition.name, definition.data_type, value)


def mod_value(store: Store, body: etree._Element, now: datetime) -> etree._Element:
    """Execute a ``DataExtMod``: sets the value, whether or not the object had one."""
    holder, record, object_kind = _target(store, body)
    owner_id = text_of(body, "OwnerID") or "0"
    name = text_of(body, "DataExtName") or ""
    existing = _existing(holder, owner_id, name)
    value = body.findtext("DataExtValue") or ""
    if existing is not None:
        data_type = existing.findtext("DataExtType") or "STR255TYPE"
        _check_value(name, data_type, value)
        holder.remove(existing)
        shown_name = existing.findtext("DataExtName") or name
    else:
        definition = _definition(store, body, object_kind)
        data_type, shown_name = definition.data_type, definition.name
        _check_value(name, data_type, value)
    ret = _value_ret(owner_id, shown_name, data_type, value)
    _store_value(holder, record, ret, now)
    return _value_ret(owner_id, shown_name, data_type, value)


def del_value(store: Store, body: etree._Element, now: datetime) -> etree._Element:
    """Execute a ``DataExtDel``; answers ``DataExtDelRet``."""
    holder, record, _ = _target(store, body)
    owner_id = text_of(body, "OwnerID") or "0"
    name = text_of(body, "DataExtName") or ""
    existing = _existing(holder, owner_id, name)
    if existing is None:
        raise not_found(name)
    holder.remove(existing)
    if record is not None:
        touch(record, now)
    ret = etree.Element("DataExtDelRet")
    child(ret, "OwnerID", owner_id)
    child(ret, "DataExtName", existing.findtext("DataExtName") or name)
    for tag in ("ListDataExtType", "ListObjRef", "TxnDataExtType", "TxnID", "TxnLineID", "OtherDataExtType"):
        sent = body.find(tag)
        if sent is not None:
            copied = child(ret, tag, sent.text)
            for part in sent:
                child(copied, str(part.tag), part.text)
    child(ret, "TimeDeleted", format_datetime(now))
    return ret
