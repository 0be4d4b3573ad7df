"""How the simulated QuickBooks company executes one request of a message set and answers its ``*Rs``.

Part of the simulated QuickBooks Desktop company (a test double, see ``quickbooks.py``). The executor owns the
store, the open iterators (they live as long as QuickBooks' session) and the injected locks, and sends each
request to the module that knows it: adds (``_qb_adds``), mods and deletes (``_qb_mods``), queries
(``_qb_queries``), custom fields (``_qb_data_ext``), Host/Company/Preferences (``_qb_fixed``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol

from lxml import etree

from qbwc_service.simulate import _qb_adds, _qb_data_ext, _qb_fixed, _qb_mods, _qb_void
from qbwc_service.simulate._qb_queries import (
    NO_MATCH,
    IteratorState,
    deleted_transactions,
    present,
    run_query,
)
from qbwc_service.simulate._qb_shapes import DELETABLE_KINDS, MODIFIABLE_KINDS, QUERYABLE_KINDS, SHAPES
from qbwc_service.simulate._qb_store import OK, DataExtDef, Record, Status, StatusError, Store, kinds_of, text_of

logger = logging.getLogger(__name__)

# QuickBooks validates a message set against its schema and rejects an unknown request as a whole
# (0x80040400). The simulated company knows fewer requests than QuickBooks, so a well-formed request it
# does not implement gets a per-request Error answer instead, with the status QuickBooks gives a feature
# it does not offer: the rest of the message set behaves as it would (per onError), and the caller sees a
# clear, permanent error rather than a parse failure of the whole set.
UNSUPPORTED: Final = Status(3250, "Error", _qb_adds.UNSUPPORTED_MESSAGE)
_FIXED_QUERIES: Final = frozenset({"HostQuery", "CompanyQuery", "PreferencesQuery"})
_DATA_EXT_VALUES: Final = {
    "DataExtAdd": _qb_data_ext.add_value,
    "DataExtMod": _qb_data_ext.mod_value,
    "DataExtDel": _qb_data_ext.del_value,
}


class CompanySettings(Protocol):
    """What the executor reads from the company (``QuickBooksCompany``)."""

    company_name: str
    product_name: str
    major_version: int
    country: str
    supported_versions: tuple[str, ...]
    edition: str
    clock: Callable[[], datetime]
    disabled_features: set[str]


@dataclass
class _Lock:
    target: str
    remaining: int


class Executor:
    """Executes requests against one store, for one company."""

    def __init__(self, store: Store, company: CompanySettings) -> None:
        self.store = store
        self.company = company
        self.iterators: dict[str, IteratorState] = {}
        self._locks: list[_Lock] = []

    def add_lock(self, target: str, requests: int) -> None:
        self._locks.append(_Lock(target, requests))

    def execute(self, rq: etree._Element) -> etree._Element:
        """The ``*Rs`` answering ``rq`` (its status is data: an error is answered, not raised)."""
        request_id = rq.get("requestID")
        name = str(rq.tag)[: -len("Rq")]
        rets: list[etree._Element] = []
        attributes: dict[str, str] = {}
        try:
            self._check_locks(name, rq)
            status, rets, attributes = self._dispatch(name, rq)
        except StatusError as exc:
            status, rets, attributes = exc.status, [], {}
        if status.severity == "Error":
            logger.info("simulated QuickBooks answers %s with %s: %s", rq.tag, status.code, status.message)
        return response_element(f"{name}Rs", request_id, status, rets, attributes)

    def _dispatch(self, name: str, rq: etree._Element) -> tuple[Status, list[etree._Element], dict[str, str]]:
        now = self.company.clock()
        for suffix in ("Add", "Mod", "Query"):
            kind = name.removesuffix(suffix)
            if kind != name:
                break
        if name in _FIXED_QUERIES:
            owners = {(e.text or "").strip() for e in rq.findall("OwnerID")}
            return OK, [self._fixed_ret(name, owners)], {}
        if name.endswith("Add") and kind in SHAPES:
            body = rq.find(f"{kind}Add")
            assert body is not None, "checked when the message set was parsed"
            return OK, [present(self.create(kind, body, now), rq)], {}
        if name.endswith("Mod") and kind in MODIFIABLE_KINDS:
            self.check_feature(kind)
            body = rq.find(f"{kind}Mod")
            assert body is not None, "checked when the message set was parsed"
            return OK, [present(_qb_mods.modify(self.store, SHAPES[kind], body, now), rq)], {}
        if name.endswith("Query") and kind in QUERYABLE_KINDS:
            for concrete in kinds_of(kind):
                self.check_feature(concrete)
            answer = run_query(self.store, self.iterators, kind, rq, now.tzinfo)
            return answer.status, answer.rets, answer.attributes
        if name == "TxnDel":
            txn_kind = text_of(rq, "TxnDelType") or ""
            if txn_kind not in DELETABLE_KINDS:
                return UNSUPPORTED, [], {}
            self.check_feature(txn_kind)
            return OK, _qb_mods.delete_transaction(self.store, txn_kind, text_of(rq, "TxnID") or "", now), {}
        if name == "TxnVoid":
            txn_kind = text_of(rq, "TxnVoidType") or ""
            if txn_kind not in _qb_void.VOIDABLE_KINDS:
                return UNSUPPORTED, [], {}
            self.check_feature(txn_kind)
            return OK, _qb_void.void_transaction(self.store, txn_kind, text_of(rq, "TxnID") or "", now)[1], {}
        if name == "TxnDeletedQuery":
            rets = deleted_transactions(self.store, rq, now.tzinfo)
            return (OK if rets else NO_MATCH), rets, {}
        if name == "DataExtDefAdd":
            body = rq.find(name)
            assert body is not None, "checked when the message set was parsed"
            return OK, [_qb_data_ext.definition_ret(self.define_custom_field(body))], {}
        if name == "DataExtDefQuery":
            rets = _qb_data_ext.query_definitions(self.store, rq)
            return (OK if rets else NO_MATCH), rets, {}
        if name in _DATA_EXT_VALUES:
            body = rq.find(name)
            assert body is not None, "checked when the message set was parsed"
            return OK, [_DATA_EXT_VALUES[name](self.store, body, now)], {}
        return UNSUPPORTED, [], {}

    def create(self, kind: str, body: etree._Element, now: datetime) -> Record:
        self.check_feature(kind)
        shape = SHAPES[kind]
        if shape.is_transaction:
            return _qb_adds.add_transaction(self.store, shape, body, now)
        return _qb_adds.add_list_element(self.store, shape, body, now)

    def define_custom_field(self, body: etree._Element) -> DataExtDef:
        return _qb_data_ext.define(self.store, body)

    def check_feature(self, kind: str) -> None:
        """3250 for a kind the company does not offer (sales orders in QuickBooks Pro, ``disable_feature``)."""
        if kind in self.company.disabled_features:
            raise StatusError(UNSUPPORTED.code, UNSUPPORTED.message)

    def _check_locks(self, name: str, rq: etree._Element) -> None:
        kind = name.removesuffix("Add").removesuffix("Mod").removesuffix("Query")
        named = {(e.text or "").strip().casefold() for e in rq.iter("FullName", "Name") if e.text}
        if name.endswith("Mod") and kind in MODIFIABLE_KINDS:
            target = _qb_mods.mod_target_name(self.store, kind, rq)
            if target:
                named.add(target.casefold())
        for held in self._locks:
            if held.remaining <= 0 or (held.target != kind and held.target.casefold() not in named):
                continue
            held.remaining -= 1
            raise StatusError(
                3175, f'The record "{held.target}" is in use by another QuickBooks user. Try again later.'
            )
        self._locks = [held for held in self._locks if held.remaining > 0]

    # ---- Host, Company, Preferences -------------------------------------------------------------------------

    def fixed_rs(self, name: str, request_id: str, owners: set[str]) -> etree._Element:
        """The ``*Rs`` of a Host, Company or Preferences query (``owners``: custom fields to show)."""
        return response_element(f"{name}Rs", request_id, OK, [self._fixed_ret(name, owners)])

    def _fixed_ret(self, name: str, owners: set[str]) -> etree._Element:
        company = self.company
        if name == "HostQuery":
            return _qb_fixed.host_ret(company.product_name, company.major_version, company.country,
                                      company.supported_versions, company.edition)
        if name == "CompanyQuery":
            shown = [etree.fromstring(etree.tostring(ret)) for ret in self.store.company_data_ext
                     if (ret.findtext("OwnerID") or "") in owners]
            return _qb_fixed.company_ret(company.company_name, company.country, shown)
        return _qb_fixed.preferences_ret()


def response_element(
    tag: str,
    request_id: str | None,
    status: Status,
    rets: list[etree._Element],
    attributes: dict[str, str] | None = None,
) -> etree._Element:
    rs = etree.Element(tag)
    if request_id is not None:
        rs.set("requestID", request_id)
    rs.set("statusCode", str(status.code))
    rs.set("statusSeverity", status.severity)
    rs.set("statusMessage", status.message)
    for key in ("retCount", "iteratorRemainingCount", "iteratorID"):
        if attributes and key in attributes:
            rs.set(key, attributes[key])
    rs.extend(rets)
    return rs
