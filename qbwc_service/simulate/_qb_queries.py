"""How the simulated QuickBooks company answers list and transaction ``*QueryRq``.

Part of the simulated QuickBooks Desktop company (a test double, see ``quickbooks.py``). Supported filters:
lists by ``ListID``/``FullName`` (repeatable), ``ActiveStatus`` (default ActiveOnly, as in QuickBooks),
``FromModifiedDate``/``ToModifiedDate``, ``NameFilter``, ``NameRangeFilter``; transactions by ``TxnID``,
``RefNumber``/``RefNumberCaseSensitive`` (repeatable), ``ModifiedDateRangeFilter``, ``TxnDateRangeFilter``,
``EntityFilter``, ``RefNumberFilter``, ``RefNumberRangeFilter``, ``PaidStatus``. Also ``MaxReturned``,
iterators (``Start``/``Continue``/``Stop``), ``metaData``, ``IncludeLineItems``, ``IncludeLinkedTxns``,
``IncludeRetElement`` and ``OwnerID``. Other filters are ignored (and logged). ``TxnDeletedQueryRq`` by
``TxnDelType`` and ``DeletedDateRangeFilter``.

Records come oldest-modified first (ties in creation order). An iterator takes a snapshot of the matching
records at ``Start``: each ``Continue`` answers the next of them, so a record added or changed meanwhile is
neither repeated nor skipped. Date-times without an offset are taken in the company's local time.

Asking for objects by identifier (``ListID``, ``FullName``, ``TxnID``) that do not exist answers status 500
(Warn) naming the first missing one, as QuickBooks does; a filter that matches nothing answers status 1.
"""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, tzinfo

from lxml import etree

from qbwc_service.simulate._qb_shapes import SHAPES, WITHOUT_ITERATOR
from qbwc_service.simulate._qb_store import (
    OK,
    Record,
    Status,
    StatusError,
    Store,
    child,
    format_datetime,
    kinds_of,
    parse_datetime,
    text_of,
    to_utc,
)

logger = logging.getLogger(__name__)

NO_MATCH = Status(1, "Info", "A query request did not find a matching object in QuickBooks")

_LIST_FILTERS = frozenset({
    "ListID", "FullName", "MaxReturned", "ActiveStatus", "FromModifiedDate", "ToModifiedDate", "NameFilter",
    "NameRangeFilter", "IncludeRetElement", "OwnerID",
})
_TXN_FILTERS = frozenset({
    "TxnID", "RefNumber", "RefNumberCaseSensitive", "MaxReturned", "ModifiedDateRangeFilter",
    "TxnDateRangeFilter", "EntityFilter", "RefNumberFilter", "RefNumberRangeFilter", "PaidStatus",
    "IncludeLineItems", "IncludeLinkedTxns", "IncludeRetElement", "OwnerID",
})
_HEADER_ENTITY_REFS = ("CustomerRef", "VendorRef", "EntityRef")

Predicate = Callable[[Record], bool]


@dataclass
class Answer:
    """What a query answers: the ``*Ret`` elements, the status and extra ``*Rs`` attributes."""

    rets: list[etree._Element]
    status: Status = OK
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class IteratorState:
    kind: str
    remaining: list[str]


def run_query(
    store: Store, iterators: dict[str, IteratorState], kind: str, rq: etree._Element, local: tzinfo | None = None
) -> Answer:
    """Execute a list or transaction ``*QueryRq``; ``local`` is the company's time zone."""
    iterator = None if kind in WITHOUT_ITERATOR else rq.get("iterator")
    iterator_id = rq.get("iteratorID", "")
    if iterator in ("Continue", "Stop"):
        state = iterators.get(iterator_id)
        if state is None or state.kind != kind:
            # Iterators live as long as the QuickBooks session: a new session does not know the old ones.
            raise StatusError(3391, f'The iteratorID "{iterator_id}" is not valid.')
        if iterator == "Stop":
            del iterators[iterator_id]
            return Answer([])
        records = [store.by_id[i] for i in state.remaining if i in store.by_id]
        status = OK
    else:
        records, status = select(store, kind, rq, local)
        iterator_id = "{" + str(uuid.uuid4()) + "}"

    max_text = text_of(rq, "MaxReturned")
    limit = int(max_text) if max_text else len(records)
    page, rest = records[:limit], records[limit:]
    answer = Answer([present(record, rq) for record in page], status)
    if iterator is not None:
        if rest:
            iterators[iterator_id] = IteratorState(kind, [record.id for record in rest])
        else:
            iterators.pop(iterator_id, None)
        answer.attributes = {"iteratorRemainingCount": str(len(rest)), "iteratorID": iterator_id}
    meta_data = rq.get("metaData", "NoMetaData")
    if meta_data != "NoMetaData":
        answer.attributes["retCount"] = str(len(records))
        if meta_data == "MetaDataOnly":
            answer.rets = []
    if not records and status == OK:
        answer.status = NO_MATCH
    return answer


def select(store: Store, kind: str, rq: etree._Element, local: tzinfo | None = None) -> tuple[list[Record], Status]:
    concrete = kinds_of(kind)
    is_transaction = SHAPES[concrete[0]].is_transaction
    known = _TXN_FILTERS if is_transaction else _LIST_FILTERS
    ignored = sorted({str(e.tag) for e in rq if isinstance(e.tag, str) and e.tag not in known})
    if ignored:
        logger.info("simulated QuickBooks ignores the %s filter(s) %s", kind, ", ".join(ignored))

    by_id = _by_identifier(store, concrete, rq, is_transaction)
    if by_id is not None:
        return by_id
    predicates = _transaction_predicates(rq, local) if is_transaction else _list_predicates(rq, local)
    matching = [r for r in store.all(kind) if all(p(r) for p in predicates)]
    return sorted(matching, key=lambda r: (to_utc(r.modified, local), r.rank)), OK


def _by_identifier(
    store: Store, kinds: tuple[str, ...], rq: etree._Element, is_transaction: bool
) -> tuple[list[Record], Status] | None:
    wanted: list[tuple[str, Callable[[str], Record | None]]] = []
    id_tag = "TxnID" if is_transaction else "ListID"
    wanted += [(t, lambda v: store.with_id(kinds, v)) for t in _texts(rq, id_tag)]
    if not is_transaction:
        wanted += [(t, lambda v: store.named(kinds, v)) for t in _texts(rq, "FullName")]
    if not wanted:
        return None
    found: list[Record] = []
    missing: list[str] = []
    for value, lookup in wanted:
        record = lookup(value)
        if record is None:
            missing.append(value)
        elif record not in found:
            found.append(record)
    if missing:
        return found, Status(
            500,
            "Warn",
            "The query request has not been fully completed. There was a required element "
            f'("{missing[0]}") that could not be found in QuickBooks.',
        )
    return found, OK


def _texts(rq: etree._Element, tag: str) -> list[str]:
    return [(e.text or "").strip() for e in rq.findall(tag)]


def _modified_between(
    from_text: str | None, to_text: str | None, prefix: str, local: tzinfo | None
) -> list[Predicate]:
    """Inclusive bounds on TimeModified, compared as instants (offsets may differ, or be absent)."""
    predicates: list[Predicate] = []
    if from_text:
        low = to_utc(parse_datetime(from_text, f"{prefix}FromModifiedDate"), local)
        predicates.append(lambda r: to_utc(r.modified, local) >= low)
    if to_text:
        high = to_utc(parse_datetime(to_text, f"{prefix}ToModifiedDate"), local)
        predicates.append(lambda r: to_utc(r.modified, local) <= high)
    return predicates


def _list_predicates(rq: etree._Element, local: tzinfo | None) -> list[Predicate]:
    active = text_of(rq, "ActiveStatus") or "ActiveOnly"
    predicates: list[Predicate] = []
    if active == "ActiveOnly":
        predicates.append(lambda r: r.is_active)
    elif active == "InactiveOnly":
        predicates.append(lambda r: not r.is_active)
    predicates += _modified_between(text_of(rq, "FromModifiedDate"), text_of(rq, "ToModifiedDate"), "", local)
    name_filter = rq.find("NameFilter")
    if name_filter is not None:
        predicates.append(_matching("full_name", name_filter, "Name"))
    name_range = rq.find("NameRangeFilter")
    if name_range is not None:
        low, high = text_of(name_range, "FromName"), text_of(name_range, "ToName")
        if low:
            predicates.append(lambda r: r.full_name.casefold() >= low.casefold())
        if high:
            predicates.append(lambda r: r.full_name.casefold() <= high.casefold())
    return predicates


def _matching(attribute: str, match_filter: etree._Element, value_tag: str) -> Predicate:
    criterion = text_of(match_filter, "MatchCriterion") or "StartsWith"
    wanted = (text_of(match_filter, value_tag) or "").casefold()

    def test(record: Record) -> bool:
        value = (getattr(record, attribute) if attribute == "full_name" else record.text(attribute) or "")
        value = value.casefold()
        if criterion == "Contains":
            return wanted in value
        if criterion == "EndsWith":
            return value.endswith(wanted)
        return value.startswith(wanted)

    return test


def _transaction_predicates(rq: etree._Element, local: tzinfo | None) -> list[Predicate]:
    predicates: list[Predicate] = []
    ref_numbers = {t.casefold() for t in _texts(rq, "RefNumber")}
    exact_ref_numbers = set(_texts(rq, "RefNumberCaseSensitive"))
    if ref_numbers or exact_ref_numbers:
        predicates.append(
            lambda r: (r.text("RefNumber") or "").casefold() in ref_numbers
            or (r.text("RefNumber") or "") in exact_ref_numbers
        )
    modified = rq.find("ModifiedDateRangeFilter")
    if modified is not None:
        predicates += _modified_between(
            text_of(modified, "FromModifiedDate"), text_of(modified, "ToModifiedDate"), "ModifiedDateRangeFilter/",
            local,
        )
    txn_dates = rq.find("TxnDateRangeFilter")
    if txn_dates is not None:
        predicates += _txn_date_between(text_of(txn_dates, "FromTxnDate"), text_of(txn_dates, "ToTxnDate"))
    entity = rq.find("EntityFilter")
    if entity is not None:
        predicates.append(_entity_predicate(entity))
    ref_filter = rq.find("RefNumberFilter")
    if ref_filter is not None:
        predicates.append(_matching("RefNumber", ref_filter, "RefNumber"))
    ref_range = rq.find("RefNumberRangeFilter")
    if ref_range is not None:
        low, high = text_of(ref_range, "FromRefNumber"), text_of(ref_range, "ToRefNumber")
        if low:
            predicates.append(lambda r: _ref_key(r.text("RefNumber") or "") >= _ref_key(low))
        if high:
            predicates.append(lambda r: _ref_key(r.text("RefNumber") or "") <= _ref_key(high))
    paid = text_of(rq, "PaidStatus") or "All"
    if paid != "All":
        predicates.append(lambda r: (r.text("IsPaid") == "true") == (paid == "PaidOnly"))
    return predicates


def _txn_date_between(low: str | None, high: str | None) -> list[Predicate]:
    def bound(text: str) -> date:
        try:
            return date.fromisoformat(text)
        except ValueError as exc:
            raise StatusError(3020, f'There was an error when converting the date value "{text}".') from exc

    def txn_date(record: Record) -> date | None:
        text = record.text("TxnDate")
        return date.fromisoformat(text) if text else None

    predicates: list[Predicate] = []
    if low:
        earliest = bound(low)
        predicates.append(lambda r: (d := txn_date(r)) is not None and d >= earliest)
    if high:
        latest = bound(high)
        predicates.append(lambda r: (d := txn_date(r)) is not None and d <= latest)
    return predicates


def _entity_predicate(entity: etree._Element) -> Predicate:
    list_ids = set(_texts(entity, "ListID")) | set(_texts(entity, "ListIDWithChildren"))
    names = {t.casefold() for t in _texts(entity, "FullName")}
    parents = {t.casefold() for t in _texts(entity, "FullNameWithChildren")}

    def test(record: Record) -> bool:
        for tag in _HEADER_ENTITY_REFS:
            list_id = record.text(f"{tag}/ListID")
            full_name = (record.text(f"{tag}/FullName") or "").casefold()
            if list_id is None and not full_name:
                continue
            if list_id in list_ids or full_name in names:
                return True
            if any(full_name == p or full_name.startswith(p + ":") for p in parents):
                return True
        return False

    return test


def _ref_key(ref_number: str) -> tuple[int, int, str]:
    return (0, int(ref_number), "") if ref_number.isdigit() else (1, 0, ref_number.casefold())


def present(record: Record, rq: etree._Element) -> etree._Element:
    """A copy of ``record``'s ``*Ret`` as a request asks for it.

    Queries leave out lines unless ``IncludeLineItems``, linked transactions unless ``IncludeLinkedTxns`` and
    custom fields of OwnerIDs they do not name; any request keeps only its ``IncludeRetElement`` elements.
    """
    ret = copy.deepcopy(record.element)
    is_query = str(rq.tag).endswith("QueryRq")
    if is_query and SHAPES[record.kind].is_transaction and text_of(rq, "IncludeLineItems") != "true":
        for line in [e for e in ret if str(e.tag).endswith(("LineRet", "LineGroupRet"))]:
            ret.remove(line)
    if is_query and text_of(rq, "IncludeLinkedTxns") != "true":
        for linked in ret.findall("LinkedTxn"):
            ret.remove(linked)
    if is_query:
        owners = set(_texts(rq, "OwnerID"))
        for data_ext in [e for e in ret.iter("DataExtRet") if (e.findtext("OwnerID") or "") not in owners]:
            parent = data_ext.getparent()
            if parent is not None:
                parent.remove(data_ext)
    included = set(_texts(rq, "IncludeRetElement"))
    if included:
        for element in [e for e in ret if e.tag not in included]:
            ret.remove(element)
    return ret


def deleted_transactions(store: Store, rq: etree._Element, local: tzinfo | None = None) -> list[etree._Element]:
    """Execute a ``TxnDeletedQueryRq``: ``TxnDeletedRet`` of the kinds asked for, oldest deletion first."""
    kinds = set(_texts(rq, "TxnDelType"))
    span = rq.find("DeletedDateRangeFilter")
    low_text = text_of(span, "FromDeletedDate") if span is not None else None
    high_text = text_of(span, "ToDeletedDate") if span is not None else None
    low = to_utc(parse_datetime(low_text, "FromDeletedDate"), local) if low_text else None
    high = to_utc(parse_datetime(high_text, "ToDeletedDate"), local) if high_text else None
    rets = []
    for deleted in store.deleted:
        moment = to_utc(deleted.time_deleted, local)
        if deleted.kind not in kinds or (low and moment < low) or (high and moment > high):
            continue
        ret = etree.Element("TxnDeletedRet")
        child(ret, "TxnDelType", deleted.kind)
        child(ret, "TxnID", deleted.txn_id)
        child(ret, "TimeCreated", deleted.time_created)
        child(ret, "TimeDeleted", format_datetime(deleted.time_deleted))
        if deleted.ref_number:
            child(ret, "RefNumber", deleted.ref_number)
        included = set(_texts(rq, "IncludeRetElement"))
        if included:
            for element in [e for e in ret if e.tag not in included]:
                ret.remove(element)
        rets.append(ret)
    return rets
