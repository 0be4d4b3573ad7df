"""A simulated QuickBooks Desktop company: a test double that executes qbXML message sets in memory.

It stands where QuickBooks (behind the Web Connector's QBXMLRP2 ``ProcessRequest``) stands in production,
so tests, demos and benchmarks can run whole Web Connector sessions without Windows or QuickBooks.
It is not QuickBooks: it implements the requests the service sends and answers them the way QuickBooks
does (status codes and messages, identifiers, schema-ordered ``*Ret`` elements that validate against
Intuit's qbXML 13.0 schema). It keeps everything in memory, and in a JSON file when asked (``state_file``,
``save``/``load``); ``from_seed`` builds a company from a small JSON description (``seed_company.json``).

What it executes:

- ``HostQueryRq``, ``CompanyQueryRq``, ``PreferencesQueryRq``;
- adds: Account, Customer (jobs under ``ParentRef``), Vendor, Employee, ItemService, ItemNonInventory,
  ItemInventory, PayrollItemWage, SalesOrder, Estimate, PurchaseOrder, Invoice (lines may ``LinkToTxn`` a
  sales order line), Bill, TimeTracking, InventoryAdjustment, with ``ExternalGUID`` (qbXML 8.0 for lists, 9.0
  for transactions) and inline ``DataExt`` on lines; stock quantities follow (see ``_qb_effects``);
- mods with EditSequence of the list kinds and of every transaction kind but inventory adjustments
  (``_qb_mods``), ``TxnDelRq`` and ``TxnDeletedQueryRq``, ``TxnVoidRq`` of invoices and bills (``_qb_void``);
- queries of every kind above, plus ``ItemQueryRq`` and ``EntityQueryRq`` (see ``_qb_queries`` for filters,
  ordering and iterators);
- custom fields: ``DataExtDefAdd``, ``DataExtDefQuery``, ``DataExtAdd``/``Mod``/``Del`` (``_qb_data_ext``);
- error recovery attributes: a set with ``newMessageSetID`` is kept; a set with ``oldMessageSetID`` and no
  requests answers the kept set again (status check; ``messageSetStatusCode`` 0, or 1 when nothing is kept
  under that id, by analogy with a query that finds nothing) or, without ``newMessageSetID``, forgets it;
- any other request gets an Error answer with status 3250 (see ``_qb_executor.UNSUPPORTED``).

Errors it reproduces: 3100 (name in use; customers, vendors and employees share one name space, items
another), 3120 (object of a Mod or DataExt not found), 3140 (invalid reference), 3070 (too long), 3200 (stale
EditSequence), 1 (no match), 500 (an identifier asked for is missing), 3391 (unknown iterator), 3250 (a
disabled feature: sales orders in a Pro edition, ``disable_feature``; unsupported requests), and
``QuickBooksParseError`` (HRESULT 0x80040400) for a message set QuickBooks cannot parse (see ``_qb_parse``).
An Error status stops the rest of the set under ``stopOnError`` (``rollbackOnError`` is treated the same:
it is not really supported by QuickBooks either); ``continueOnError`` goes on.

Fault injection for tests: ``drop_next_responses`` (the set is applied, the answer is lost),
``fail_next_with_hresult`` (the set fails as a whole, nothing applied), ``lock`` (a record is in use by
another QuickBooks user for the next few requests that touch it), ``end_qb_session`` /
``close_session_after`` (open iterators are forgotten, as when QuickBooks' session ends), ``delay_seconds``
(each answer waits, through the injectable ``sleep``) and ``disable_feature``.

Exceptions::

    Exception
     +-- MessageSetFailed          ProcessRequest failed: the Web Connector reports hresult + message
     |    +-- QuickBooksParseError the message set is not well-formed qbXML, or its version is unsupported
     +-- ResponseDropped           the message set was applied but its answer never reached the caller
     +-- CompanyFileError          a seed or saved company file cannot be read
"""

from __future__ import annotations

import copy
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from lxml import etree
from lxml.builder import E

from qbwc_service.simulate import _qb_files, _qb_mods, _qb_void
from qbwc_service.simulate._qb_errors import (
    CompanyFileError,
    MessageSetFailed,
    QuickBooksParseError,
    ResponseDropped,
)
from qbwc_service.simulate._qb_executor import Executor
from qbwc_service.simulate._qb_files import FieldValue, build_body, moment_of
from qbwc_service.simulate._qb_parse import MessageSet, parse_message_set, version_key
from qbwc_service.simulate._qb_shapes import SHAPES
from qbwc_service.simulate._qb_store import (
    DataExtDef,
    Record,
    StatusError,
    Store,
    child,
    decimal_of,
    touch,
    uuid5_guid,
)

__all__ = [
    "CompanyFileError",
    "FieldValue",
    "MessageSetFailed",
    "ProcessedMessageSet",
    "QuickBooksCompany",
    "QuickBooksParseError",
    "Record",
    "ResponseDropped",
]

logger = logging.getLogger(__name__)

DEFAULT_SUPPORTED_VERSIONS: Final = (
    "1.0", "1.1", "2.0", "2.1", "3.0", "4.0", "4.1", "5.0", "6.0", "7.0", "8.0", "9.0", "10.0", "11.0",
    "12.0", "13.0", "14.0", "15.0", "16.0",
)
STANDARD_ACCOUNTS: Final = (
    ("Checking", "Bank"),
    ("Accounts Receivable", "AccountsReceivable"),
    ("Undeposited Funds", "OtherCurrentAsset"),
    ("Inventory Asset", "OtherCurrentAsset"),
    ("Accounts Payable", "AccountsPayable"),
    ("Sales", "Income"),
    ("Services", "Income"),
    ("Cost of Goods Sold", "CostOfGoodsSold"),
    ("Inventory Adjustment", "CostOfGoodsSold"),
    ("Freight & Delivery", "Expense"),
)
"""The chart of accounts a new company file starts with (invoices and bills default to the A/R and A/P)."""
SEED_COMPANY: Final = Path(__file__).with_name("seed_company.json")
"""A small manufacturer: ``QuickBooksCompany.from_seed(SEED_COMPANY)``."""

_SETTINGS: Final = (
    "company_name", "company_file", "product_name", "major_version", "country", "supported_versions",
    "edition", "owner_id", "file_id",
)
_WEB_CONNECTOR_APP_LOCK: Final = "LOCKED:SIMULATED-HOST:638000000000000000"


@dataclass(frozen=True)
class ProcessedMessageSet:
    """One ``process`` call as seen by the company: what came in and what happened."""

    request: str
    response: str | None
    outcome: str
    """``answered``, ``dropped``, ``failed`` (injected HRESULT) or ``parse-error``."""


class QuickBooksCompany:
    """An in-memory QuickBooks Desktop company file that answers qbXML like QuickBooks (a test double)."""

    def __init__(
        self,
        *,
        company_name: str = "Simulated Manufacturing Inc.",
        company_file: str = r"C:\Users\Public\Documents\Intuit\QuickBooks\Company Files\simulated.qbw",
        product_name: str = "QuickBooks Enterprise Solutions 23.0",
        major_version: int = 33,
        country: str = "US",
        supported_versions: Iterable[str] = DEFAULT_SUPPORTED_VERSIONS,
        edition: str = "Enterprise",
        clock: Callable[[], datetime] | None = None,
        accounts: Iterable[tuple[str, str]] = STANDARD_ACCOUNTS,
        owner_id: str | None = None,
        file_id: str | None = None,
        state_file: str | os.PathLike[str] | None = None,
        delay_seconds: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``owner_id``: the OwnerID of the service's ``.qwc``; when given, the company carries the ``FileID``
        (``file_id``, by default a GUID derived from ``company_file``) and ``AppLock`` custom fields the Web
        Connector writes under it, and the strHCPResponse shows them, as in a real session.

        ``state_file``: when the file exists the company is loaded from it (the other settings give way to the
        saved ones); either way it is saved there after every ``process`` call (and ``add_many``).
        ``delay_seconds``: each ``process`` call waits that long (through ``sleep``) before it answers.
        """
        self.company_name = company_name
        self.company_file = company_file
        self.product_name = product_name
        self.major_version = major_version
        self.country = country
        self.supported_versions: tuple[str, ...] = tuple(supported_versions)
        self.edition = edition
        self.clock: Callable[[], datetime] = clock or datetime.now
        self.owner_id = owner_id
        self.file_id = file_id or uuid5_guid(company_file)
        self.state_file = Path(state_file) if state_file is not None else None
        self.delay_seconds = delay_seconds
        self.sleep = sleep
        self.history: list[ProcessedMessageSet] = []
        """Every ``process`` call, oldest first."""
        self.disabled_features: set[str] = {"SalesOrder"} if edition.casefold().startswith("pro") else set()
        """Kinds whose requests answer 3250 (sales orders need QuickBooks Premier or Enterprise)."""
        self._executor = Executor(Store(), self)
        self._drops = 0
        self._failures: list[tuple[str, str]] = []
        self._session_ends_in: int | None = None
        self._kept_sets: dict[str, list[etree._Element]] = {}
        self._mutex = threading.RLock()
        if self.state_file is not None and self.state_file.exists():
            self.load(self.state_file)
            return
        if owner_id:
            for data_name, value in (("AppLock", _WEB_CONNECTOR_APP_LOCK), ("FileID", self.file_id)):
                self._store.company_data_ext.append(E.DataExtRet(
                    E.OwnerID(owner_id), E.DataExtName(data_name), E.DataExtType("STR255TYPE"),
                    E.DataExtValue(value)))
        for name, account_type in accounts:
            self.add("Account", Name=name, AccountType=account_type)
        self._autosave()

    @property
    def _store(self) -> Store:
        return self._executor.store

    # ---- company files --------------------------------------------------------------------------------------

    @classmethod
    def from_seed(
        cls, seed: str | os.PathLike[str] | Mapping[str, Any] = SEED_COMPANY, **settings: Any
    ) -> QuickBooksCompany:
        """A company built from a seed (a JSON file or its dict; see ``_qb_files`` for the shape).

        ``settings`` are constructor arguments; they win over the seed's ``company`` section. A seed with
        ``accounts`` replaces the standard chart of accounts. With a ``state_file`` that exists, the saved
        company is loaded and the seed is not applied again.
        """
        data = _qb_files.read_json(seed)
        company_settings = data.get("company", {})
        if not isinstance(company_settings, dict):
            raise CompanyFileError("the seed's company section must be an object")
        merged: dict[str, Any] = {**company_settings, **settings}
        if "accounts" in data:
            merged.setdefault("accounts", ())
        state_file = merged.get("state_file")
        already_saved = state_file is not None and Path(state_file).exists()
        try:
            company = cls(**merged)
        except TypeError as exc:
            raise CompanyFileError(f"the seed's company section has an unknown setting: {exc}") from exc
        if already_saved:
            return company
        for row in _qb_files.custom_fields(data):
            try:
                company._executor.define_custom_field(build_body("DataExtDefAdd", row))
            except StatusError as exc:
                raise CompanyFileError(f"the seed's custom field {row.get('DataExtName', '')!r} is refused: "
                                       f"{exc.status.code}: {exc.status.message}") from exc
        for kind, fields in _qb_files.seed_rows(data):
            try:
                company.add(kind, **fields)
            except ValueError as exc:
                raise CompanyFileError(f"the seed's {kind} {fields.get('Name', '')!r} is refused: {exc}") from exc
        company._autosave()
        return company

    def save(self, path: str | os.PathLike[str] | None = None) -> None:
        """Write the whole company (records, numbering, custom fields, links) to ``path`` (or ``state_file``)."""
        target = path if path is not None else self.state_file
        if target is None:
            raise ValueError("save() needs a path when the company has no state_file")
        with self._mutex:
            settings = {name: getattr(self, name) for name in _SETTINGS}
            settings["supported_versions"] = list(self.supported_versions)
            _qb_files.write_json(target, {
                "format": _qb_files.STATE_FORMAT, "format_version": _qb_files.STATE_VERSION,
                "settings": settings, "store": _qb_files.dump_store(self._store),
            })

    def load(self, path: str | os.PathLike[str]) -> None:
        """Replace this company's settings and data with those saved in ``path``; open iterators are ended."""
        data = _qb_files.read_json(path)
        if data.get("format") != _qb_files.STATE_FORMAT or not isinstance(data.get("settings"), dict):
            raise CompanyFileError(f"{path} is not a saved simulated QuickBooks company")
        store = _qb_files.load_store(data.get("store", {}))
        with self._mutex:
            for name in _SETTINGS:
                if name in data["settings"]:
                    setattr(self, name, data["settings"][name])
            self.supported_versions = tuple(self.supported_versions)
            if self.edition.casefold().startswith("pro"):
                self.disabled_features.add("SalesOrder")
            self._executor = Executor(store, self)

    def _autosave(self) -> None:
        if self.state_file is not None:
            self.save(self.state_file)

    # ---- what the Web Connector sees --------------------------------------------------------------------

    @property
    def highest_version(self) -> str:
        """The highest qbXML version this company supports (``"16.0"``)."""
        return max(self.supported_versions, key=version_key)

    def hcp_response(self) -> str:
        """The ``strHCPResponse`` of a session's first ``sendRequestXML``: Host, Company and Preferences."""
        owners = {self.owner_id} if self.owner_id else set()
        messages = E.QBXMLMsgsRs(
            self._executor.fixed_rs("HostQuery", "0", owners),
            self._executor.fixed_rs("CompanyQuery", "1", owners),
            self._executor.fixed_rs("PreferencesQuery", "2", owners),
        )
        return _document(E.QBXML(messages))

    def process(self, request: str) -> str:
        """Execute one qbXML request message set and return QuickBooks' response message set.

        Raises ``QuickBooksParseError`` for a set QuickBooks cannot parse, ``MessageSetFailed`` when a
        failure was injected, ``ResponseDropped`` when a drop was injected (the set was applied).
        """
        with self._mutex:
            if self._failures:
                hresult, message = self._failures.pop(0)
                self.history.append(ProcessedMessageSet(request, None, "failed"))
                logger.info("simulated QuickBooks fails a message set with %s (injected)", hresult)
                raise MessageSetFailed(hresult, message)
            try:
                message_set = parse_message_set(request, self.supported_versions)
            except QuickBooksParseError as exc:
                self.history.append(ProcessedMessageSet(request, None, "parse-error"))
                logger.info("simulated QuickBooks cannot parse a message set: %s", exc.detail)
                raise
            response = _document(E.QBXML(self._run(message_set)))
            self._count_session_request()
            self._autosave()
            if self.delay_seconds > 0:
                self.sleep(self.delay_seconds)
            if self._drops:
                self._drops -= 1
                self.history.append(ProcessedMessageSet(request, response, "dropped"))
                logger.info("simulated QuickBooks applied a message set and drops its answer (injected)")
                raise ResponseDropped(response)
            self.history.append(ProcessedMessageSet(request, response, "answered"))
            return response

    def _run(self, message_set: MessageSet) -> etree._Element:
        old_id, new_id = message_set.old_message_set_id, message_set.new_message_set_id
        if old_id is not None and not message_set.requests:
            return self._recovery_answer(old_id, new_id)
        if old_id is not None:
            self._kept_sets.pop(old_id, None)
        messages = etree.Element("QBXMLMsgsRs")
        for rq in message_set.requests:
            rs = self._executor.execute(rq)
            if not message_set.include_data:
                rs[:] = []
            messages.append(rs)
            if rs.get("statusSeverity") == "Error" and message_set.on_error != "continueOnError":
                break
        if new_id is not None:
            self._kept_sets[new_id] = [copy.deepcopy(rs) for rs in messages]
            messages.set("newMessageSetID", new_id)
            messages.set("messageSetStatusCode", "0")
        return messages

    def _recovery_answer(self, old_id: str, new_id: str | None) -> etree._Element:
        """A set that only names an earlier one: a status check (with ``newMessageSetID``) or forgetting it."""
        messages = etree.Element("QBXMLMsgsRs")
        if new_id is None:
            if old_id == "ClearAllMessageSets":
                self._kept_sets.clear()
            self._kept_sets.pop(old_id, None)
            messages.set("messageSetStatusCode", "0")
            return messages
        kept = self._kept_sets.get(old_id)
        messages.set("newMessageSetID", new_id)
        messages.set("messageSetStatusCode", "0" if kept is not None else "1")
        messages.extend(copy.deepcopy(rs) for rs in kept or [])
        return messages

    # ---- fault injection ----------------------------------------------------------------------------------

    def drop_next_responses(self, n: int = 1) -> None:
        """The next ``n`` ``process`` calls apply their requests, then raise ``ResponseDropped``."""
        self._drops += n

    def fail_next_with_hresult(self, hresult: str, message: str, n: int = 1) -> None:
        """The next ``n`` ``process`` calls apply nothing and raise ``MessageSetFailed(hresult, message)``."""
        self._failures.extend([(hresult, message)] * n)

    def lock(self, kind_or_name: str, requests: int = 1) -> None:
        """Another QuickBooks user holds a record: the next ``requests`` requests that touch it fail.

        ``kind_or_name`` is a kind (``"SalesOrder"``: every request on that kind) or a list element's full
        name (every add, mod or query that names it). Each such request answers status 3175 (the record is in
        use by another user), which is transient in QuickBooks: it succeeds once the lock is used up.
        """
        self._executor.add_lock(kind_or_name, requests)

    def end_qb_session(self) -> None:
        """QuickBooks' session ends (as when the Web Connector closes it): every open iterator is forgotten,
        so a later ``iterator="Continue"`` answers 3391."""
        with self._mutex:
            self._executor.iterators.clear()
            self._session_ends_in = None

    def close_session_after(self, n_requests: int) -> None:
        """The QuickBooks session ends (``end_qb_session``) once ``n_requests`` more message sets were processed."""
        self._session_ends_in = n_requests
        if n_requests <= 0:
            self.end_qb_session()

    def _count_session_request(self) -> None:
        if self._session_ends_in is not None:
            self._session_ends_in -= 1
            if self._session_ends_in <= 0:
                self.end_qb_session()

    def disable_feature(self, *kinds: str) -> None:
        """Requests on ``kinds`` (``"SalesOrder"``, ``"Estimate"``, ...) answer 3250 from now on."""
        self.disabled_features.update(kinds)

    def enable_feature(self, *kinds: str) -> None:
        self.disabled_features.difference_update(kinds)

    # ---- inspection and set-up (for tests) ------------------------------------------------------------------

    def records(self, kind: str) -> list[Record]:
        """Every record of ``kind`` (``"Customer"``, ``"SalesOrder"``, or ``"Item"`` for all items)."""
        return self._store.all(kind)

    def count(self, kind: str) -> int:
        return len(self._store.all(kind))

    def find_all(self, kind: str, **by: str) -> list[Record]:
        """Records of ``kind`` whose fields equal ``by``; ``__`` stands for ``/`` (``CustomerRef__FullName``)."""
        paths = {key.replace("__", "/"): value for key, value in by.items()}
        return [r for r in self._store.all(kind) if all(r.text(p) == v for p, v in paths.items())]

    def find(self, kind: str, **by: str) -> Record | None:
        """The first record of ``kind`` matching ``by`` (see ``find_all``), or None."""
        found = self.find_all(kind, **by)
        return found[0] if found else None

    @property
    def items(self) -> list[Record]:
        """Every item (service, non-inventory, inventory), oldest first."""
        return self._store.all("Item")

    @property
    def open_iterators(self) -> int:
        """How many query iterators the current QuickBooks session holds open."""
        return len(self._executor.iterators)

    def quantity_on_hand(self, item_full_name: str) -> Decimal:
        item = self._store.named(("ItemInventory",), item_full_name)
        if item is None:
            raise KeyError(f"no inventory item named {item_full_name!r}")
        return decimal_of(item.text("QuantityOnHand"), Decimal(0)) or Decimal(0)

    def add(self, kind: str, **fields: FieldValue) -> Record:
        """Create a record directly, as if a user typed it in QuickBooks; raises ValueError on a bad status.

        Fields become child elements of ``<{kind}Add>`` in the order given: a name ending in ``Ref`` is a
        reference by full name, ``__`` nests (``SalesOrPurchase__AccountRef="Services"``), a dict is an
        aggregate and a list repeats an element (``SalesOrderLineAdd=[{...}, {...}]``; ``lines=[...]`` names
        the kind's line element for you). ``TimeCreated`` and ``TimeModified`` (datetimes or ISO strings) stamp
        the record instead of the company clock.
        """
        if kind not in SHAPES:
            raise ValueError(f"unknown kind {kind!r}; known: {', '.join(SHAPES)}")
        row = _with_lines(kind, dict(fields))
        now = self.clock()
        created = _in_zone_of(moment_of(row.pop("TimeCreated", None)), now)
        modified = _in_zone_of(moment_of(row.pop("TimeModified", None)), now)
        body = build_body(f"{kind}Add", row)
        with self._mutex:
            try:
                record = self._executor.create(kind, body, created or now)
            except StatusError as exc:
                raise ValueError(f"{exc.status.code}: {exc.status.message}") from exc
            if modified is not None and modified != record.modified:
                touch(record, modified)
            return record

    def add_many(
        self,
        kind: str,
        rows: Iterable[Mapping[str, FieldValue]],
        *,
        start: datetime | None = None,
        spacing: timedelta | None = None,
    ) -> list[Record]:
        """``add`` each row (fast enough for thousands of transactions); returns the records in order.

        With ``start`` and/or ``spacing``, row ``i`` is stamped ``(start or now) + i * spacing`` unless it
        carries its own ``TimeCreated``/``TimeModified``, so modified-date filters can select subsets.
        """
        base = start if start is not None else self.clock()
        step = spacing if spacing is not None else timedelta(0)
        stamped = start is not None or spacing is not None
        records = []
        with self._mutex:
            for index, row in enumerate(rows):
                fields = dict(row)
                if stamped and "TimeCreated" not in fields:
                    fields["TimeCreated"] = base + step * index
                try:
                    records.append(self.add(kind, **fields))
                except ValueError as exc:
                    raise ValueError(f"row {index} of {kind}: {exc}") from exc
            self._autosave()
        return records

    def modify(self, kind: str, record_id: str, **fields: FieldValue) -> Record:
        """Change a record directly, as a user editing it in QuickBooks would (a ``{kind}Mod`` with its current
        EditSequence): a new EditSequence and TimeModified. ValueError on a bad status."""
        record = self._store.with_id((kind,), record_id)
        if record is None or kind not in SHAPES:
            raise ValueError(f"no {kind} {record_id!r}")
        id_tag = "TxnID" if SHAPES[kind].is_transaction else "ListID"
        body = build_body(f"{kind}Mod", {id_tag: record_id, "EditSequence": record.text("EditSequence") or "",
                                         **fields})
        with self._mutex:
            try:
                changed = _qb_mods.modify(self._store, SHAPES[kind], body, self.clock())
            except StatusError as exc:
                raise ValueError(f"{exc.status.code}: {exc.status.message}") from exc
            self._autosave()
            return changed

    def close_manually(self, kind: str, txn_id: str) -> Record:
        """Mark a sales or purchase order closed, as a user ticking "Closed" in QuickBooks does."""
        return self.modify(kind, txn_id, IsManuallyClosed="true")

    def void(self, txn_id: str, kind: str = "Invoice") -> Record:
        """Void a transaction, as a user choosing "Void" in QuickBooks does (see ``_qb_void``)."""
        with self._mutex:
            try:
                record, _answer = _qb_void.void_transaction(self._store, kind, txn_id, self.clock())
            except StatusError as exc:
                raise ValueError(f"{exc.status.code}: {exc.status.message}") from exc
            self._autosave()
            return record

    def define_custom_field(
        self, name: str, *, owner_id: str = "0", data_type: str = "STR255TYPE", assign_to: Iterable[str] = ()
    ) -> DataExtDef:
        """Define a custom field, as ``DataExtDefAdd`` does (OwnerID 0: a public field of QuickBooks' UI)."""
        body = etree.Element("DataExtDefAdd")
        for tag, value in (("OwnerID", owner_id), ("DataExtName", name), ("DataExtType", data_type)):
            child(body, tag, value)
        for target in assign_to:
            child(body, "AssignToObject", target)
        with self._mutex:
            try:
                return self._executor.define_custom_field(body)
            except StatusError as exc:
                raise ValueError(f"{exc.status.code}: {exc.status.message}") from exc


def _in_zone_of(moment: datetime | None, now: datetime) -> datetime | None:
    """A date-time given without an offset is the company's local time (the zone of its clock)."""
    if moment is None or moment.tzinfo is not None or now.tzinfo is None:
        return moment
    return moment.replace(tzinfo=now.tzinfo)


def _with_lines(kind: str, row: dict[str, FieldValue]) -> dict[str, FieldValue]:
    """Expand ``lines`` into the kind's line elements (a bill line with an ItemRef is an item line)."""
    lines = row.pop("lines", None)
    if lines is None:
        return row
    line_tags = [add_tag for add_tag, _ in SHAPES[kind].lines]
    if not line_tags or not isinstance(lines, list):
        raise ValueError(f"{kind} has no lines" if not line_tags else "lines must be a list of mappings")
    for line in lines:
        if not isinstance(line, Mapping):
            raise ValueError("lines must be a list of mappings")
        tag = line_tags[-1] if len(line_tags) > 1 and "ItemRef" in line else line_tags[0]
        existing = row.get(tag)
        row[tag] = [*(existing if isinstance(existing, list) else [] if existing is None else [existing]), line]
    return row


def _document(root: etree._Element) -> str:
    return '<?xml version="1.0" ?>' + etree.tostring(root, encoding="unicode")
