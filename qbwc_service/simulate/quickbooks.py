"""A simulated QuickBooks Desktop company: a test double that executes qbXML message sets in memory.

It stands where QuickBooks (behind the Web Connector's QBXMLRP2 ``ProcessRequest``) stands in production,
so tests, demos and benchmarks can run whole Web Connector sessions without Windows or QuickBooks.
It is not QuickBooks: it implements the requests the service sends and answers them the way QuickBooks
does (status codes and messages, identifiers, schema-ordered ``*Ret`` elements that validate against
Intuit's qbXML 13.0 schema), and it keeps everything in memory.

What it executes:

- ``HostQueryRq``, ``CompanyQueryRq``, ``PreferencesQueryRq``;
- adds: Account, Customer (jobs under ``ParentRef``), Vendor, Employee, ItemService, ItemNonInventory,
  ItemInventory, SalesOrder, Estimate, PurchaseOrder, Invoice, Bill, TimeTracking, InventoryAdjustment
  (inventory adjustments, invoices and item lines of bills change the item's QuantityOnHand; sales and
  purchase orders its QuantityOnSalesOrder / QuantityOnOrder);
- queries of every kind above, plus ``ItemQueryRq`` (see ``_qb_queries`` for the filters);
- any other request gets an Error answer with status 3250 (see ``_UNSUPPORTED``).

Errors it reproduces: 3100 (name in use; customers, vendors and employees share one name space, items
another), 3140 (invalid reference), 3070 (name or RefNumber too long), 1 (no match), 500 (an identifier
asked for is missing), 3391 (unknown iterator), 3250 (sales orders in a Pro edition; unsupported
requests), and ``QuickBooksParseError`` (HRESULT 0x80040400) for a message set QuickBooks cannot parse.
An Error status stops the rest of the set under ``stopOnError`` (``rollbackOnError`` is treated the same:
it is not really supported by QuickBooks either); ``continueOnError`` goes on.

Fault injection for tests: ``drop_next_responses`` (the set is applied, the answer is lost),
``fail_next_with_hresult`` (the set fails as a whole, nothing applied) and ``lock`` (a record is in use by
another QuickBooks user for the next few requests that touch it).

Exceptions::

    Exception
     +-- MessageSetFailed          ProcessRequest failed: the Web Connector reports hresult + message
     |    +-- QuickBooksParseError the message set is not well-formed qbXML, or its version is unsupported
     +-- ResponseDropped           the message set was applied but its answer never reached the caller
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final

from lxml import etree
from lxml.builder import E

from qbwc_service.simulate import _qb_adds
from qbwc_service.simulate._qb_queries import IteratorState, present, run_query
from qbwc_service.simulate._qb_shapes import QUERYABLE_KINDS, REQUIRED_IN_ADD, SHAPES
from qbwc_service.simulate._qb_store import (
    OK,
    Record,
    Status,
    StatusError,
    Store,
    decimal_of,
    uuid5_guid,
)

__all__ = [
    "MessageSetFailed",
    "ProcessedMessageSet",
    "QuickBooksCompany",
    "QuickBooksParseError",
    "Record",
    "ResponseDropped",
]

logger = logging.getLogger(__name__)

PARSE_ERROR_HRESULT: Final = "0x80040400"
PARSE_ERROR_MESSAGE: Final = "QuickBooks found an error when parsing the provided XML text stream."

# QuickBooks validates a message set against its schema and rejects an unknown request as a whole
# (0x80040400). The simulated company knows fewer requests than QuickBooks, so a well-formed request it
# does not implement gets a per-request Error answer instead, with the status QuickBooks gives a feature
# it does not offer: the rest of the message set behaves as it would (per onError), and the caller sees a
# clear, permanent error rather than a parse failure of the whole set.
_UNSUPPORTED: Final = Status(3250, "Error", _qb_adds.UNSUPPORTED_MESSAGE)

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

_NUMERIC_TAGS: Final = frozenset({
    "Quantity", "Rate", "Cost", "Amount", "Price", "SalesPrice", "PurchaseCost", "QuantityOnHand",
    "TotalValue", "QuantityDifference", "NewQuantity", "ValueDifference", "NewValue", "MaxReturned",
})
_ON_ERROR_VALUES: Final = frozenset({"stopOnError", "continueOnError", "rollbackOnError"})
_ITERATOR_VALUES: Final = frozenset({"Start", "Continue", "Stop"})
_FIXED_QUERIES: Final = frozenset({"HostQuery", "CompanyQuery", "PreferencesQuery"})


class MessageSetFailed(Exception):
    """QuickBooks failed a whole message set: ``ProcessRequest`` raised, nothing in the set was applied.

    The Web Connector passes ``hresult`` and ``message`` to ``receiveResponseXML`` with an empty response.
    """

    def __init__(self, hresult: str, message: str) -> None:
        super().__init__(f"{hresult}: {message}")
        self.hresult = hresult
        self.message = message


class QuickBooksParseError(MessageSetFailed):
    """The message set is not well-formed qbXML, or asks for a qbXML version QuickBooks does not support."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(PARSE_ERROR_HRESULT, PARSE_ERROR_MESSAGE)
        self.detail = detail


class ResponseDropped(Exception):
    """Fault injection: the message set was applied, but its answer is lost on the way back.

    ``response`` is the answer that would have been returned (for assertions only; nobody received it).
    """

    def __init__(self, response: str) -> None:
        super().__init__("the simulated QuickBooks response was dropped")
        self.response = response


@dataclass(frozen=True)
class ProcessedMessageSet:
    """One ``process`` call as seen by the company: what came in and what happened."""

    request: str
    response: str | None
    outcome: str
    """``answered``, ``dropped``, ``failed`` (injected HRESULT) or ``parse-error``."""


@dataclass
class _Lock:
    target: str
    remaining: int


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
    ) -> None:
        """``owner_id``: the OwnerID of the service's ``.qwc``; when given, the company carries the ``FileID``
        (``file_id``, by default a GUID derived from ``company_file``) and ``AppLock`` custom fields the Web
        Connector writes under it, and the strHCPResponse shows them, as in a real session.
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
        self.history: list[ProcessedMessageSet] = []
        """Every ``process`` call, oldest first."""
        self._store = Store()
        self._iterators: dict[str, IteratorState] = {}
        self._drops = 0
        self._failures: list[tuple[str, str]] = []
        self._locks: list[_Lock] = []
        self._mutex = threading.RLock()
        for name, account_type in accounts:
            self.add("Account", Name=name, AccountType=account_type)

    # ---- what the Web Connector sees --------------------------------------------------------------------

    @property
    def highest_version(self) -> str:
        """The highest qbXML version this company supports (``"16.0"``)."""
        return max(self.supported_versions, key=_version_key)

    def hcp_response(self) -> str:
        """The ``strHCPResponse`` of a session's first ``sendRequestXML``: Host, Company and Preferences."""
        messages = E.QBXMLMsgsRs(
            self._rs("HostQueryRs", "0", OK, [self._host_ret()]),
            self._rs("CompanyQueryRs", "1", OK, [self._company_ret(with_data_ext=True)]),
            self._rs("PreferencesQueryRs", "2", OK, [self._preferences_ret()]),
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
                on_error, requests = self._parse(request)
            except QuickBooksParseError as exc:
                self.history.append(ProcessedMessageSet(request, None, "parse-error"))
                logger.info("simulated QuickBooks cannot parse a message set: %s", exc.detail)
                raise
            answers: list[etree._Element] = []
            for rq in requests:
                rs = self._execute(rq)
                answers.append(rs)
                if rs.get("statusSeverity") == "Error" and on_error != "continueOnError":
                    break
            response = _document(E.QBXML(E.QBXMLMsgsRs(*answers)))
            if self._drops:
                self._drops -= 1
                self.history.append(ProcessedMessageSet(request, response, "dropped"))
                logger.info("simulated QuickBooks applied a message set and drops its answer (injected)")
                raise ResponseDropped(response)
            self.history.append(ProcessedMessageSet(request, response, "answered"))
            return response

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
        name (every add or query that names it). Each such request answers status 3175 (the record is in
        use by another user), which is transient in QuickBooks: it succeeds once the lock is used up.
        """
        self._locks.append(_Lock(kind_or_name, requests))

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

    def quantity_on_hand(self, item_full_name: str) -> Decimal:
        item = self._store.named(("ItemInventory",), item_full_name)
        if item is None:
            raise KeyError(f"no inventory item named {item_full_name!r}")
        return decimal_of(item.text("QuantityOnHand"), Decimal(0)) or Decimal(0)

    def add(self, kind: str, **fields: str) -> Record:
        """Create a record directly, as if a user typed it in QuickBooks; raises ValueError on a bad status.

        Fields become child elements of ``<{kind}Add>`` in the order given; a name ending in ``Ref`` is a
        reference by full name, and ``__`` nests (``SalesOrPurchase__AccountRef="Services"``).
        """
        shape = SHAPES.get(kind)
        if shape is None:
            raise ValueError(f"unknown kind {kind!r}; known: {', '.join(SHAPES)}")
        body = etree.Element(f"{kind}Add")
        for key, value in fields.items():
            parent = body
            *path, leaf = key.split("__")
            for tag in path:
                found = parent.find(tag)
                parent = found if found is not None else etree.SubElement(parent, tag)
            element = etree.SubElement(parent, leaf)
            if leaf.endswith("Ref"):
                etree.SubElement(element, "FullName").text = value
            else:
                element.text = value
        with self._mutex:
            try:
                return self._create(kind, body)
            except StatusError as exc:
                raise ValueError(f"{exc.status.code}: {exc.status.message}") from exc

    # ---- executing a message set --------------------------------------------------------------------------

    def _parse(self, request: str) -> tuple[str, list[etree._Element]]:
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, encoding="utf-8",
            remove_blank_text=True,
        )
        try:
            root = etree.fromstring(request.encode("utf-8"), parser)
        except (etree.XMLSyntaxError, ValueError) as exc:
            raise QuickBooksParseError(f"not well-formed: {exc}") from exc
        tree = root.getroottree()
        doctype: str = getattr(tree.docinfo, "doctype", "")  # missing from lxml-stubs
        if doctype:
            raise QuickBooksParseError("a DOCTYPE is not allowed")
        versions = [
            pi.get("version") for pi in root.itersiblings(preceding=True)
            if isinstance(pi, etree._ProcessingInstruction) and pi.target == "qbxml"
        ]
        if not versions or versions[0] not in self.supported_versions:
            raise QuickBooksParseError(f"qbXML version {versions[0] if versions else None!r} not supported")
        messages = root.find("QBXMLMsgsRq")
        if root.tag != "QBXML" or messages is None:
            raise QuickBooksParseError("the document is not <QBXML><QBXMLMsgsRq>")
        on_error = messages.get("onError", "")
        if on_error not in _ON_ERROR_VALUES:
            raise QuickBooksParseError(f"onError {on_error!r} is not one of {sorted(_ON_ERROR_VALUES)}")
        requests = [e for e in messages if isinstance(e.tag, str)]
        for rq in requests:
            _check_request(rq)
        return on_error, requests

    def _execute(self, rq: etree._Element) -> etree._Element:
        request_id = rq.get("requestID")
        name = str(rq.tag)[: -len("Rq")]
        rets: list[etree._Element] = []
        attributes: dict[str, str] = {}
        try:
            self._check_locks(name, rq)
            if name in _FIXED_QUERIES:
                status, rets = OK, [self._fixed_ret(name, rq)]
            elif name.endswith("Add") and name[: -len("Add")] in SHAPES:
                status, rets = OK, [self._add(name[: -len("Add")], rq)]
            elif name.endswith("Query") and name[: -len("Query")] in QUERYABLE_KINDS:
                self._check_edition(name[: -len("Query")])
                answer = run_query(self._store, self._iterators, name[: -len("Query")], rq)
                status, rets, attributes = answer.status, answer.rets, answer.attributes
            else:
                status = _UNSUPPORTED
        except StatusError as exc:
            status, rets, attributes = exc.status, [], {}
        if status.severity == "Error":
            logger.info("simulated QuickBooks answers %s with %s: %s", rq.tag, status.code, status.message)
        return self._rs(f"{name}Rs", request_id, status, rets, attributes)

    def _add(self, kind: str, rq: etree._Element) -> etree._Element:
        body = rq.find(f"{kind}Add")
        assert body is not None, "checked when the message set was parsed"
        return present(self._create(kind, body), rq)

    def _create(self, kind: str, body: etree._Element) -> Record:
        self._check_edition(kind)
        shape = SHAPES[kind]
        if shape.is_transaction:
            return _qb_adds.add_transaction(self._store, shape, body, self.clock())
        return _qb_adds.add_list_element(self._store, shape, body, self.clock())

    def _check_edition(self, kind: str) -> None:
        # Sales orders are a Premier/Enterprise feature; QuickBooks Pro answers 3250.
        if kind == "SalesOrder" and self.edition.casefold().startswith("pro"):
            raise StatusError(_UNSUPPORTED.code, _UNSUPPORTED.message)

    def _check_locks(self, name: str, rq: etree._Element) -> None:
        kind = name.removesuffix("Add").removesuffix("Query")
        named = {(e.text or "").strip().casefold() for e in rq.iter("FullName", "Name") if e.text}
        for held in self._locks:
            if held.remaining <= 0 or (held.target != kind and held.target.casefold() not in named):
                continue
            held.remaining -= 1
            raise StatusError(
                3175, f'The record "{held.target}" is in use by another QuickBooks user. Try again later.'
            )
        self._locks = [held for held in self._locks if held.remaining > 0]

    # ---- Host, Company, Preferences -------------------------------------------------------------------------

    def _fixed_ret(self, name: str, rq: etree._Element) -> etree._Element:
        if name == "HostQuery":
            return self._host_ret()
        if name == "CompanyQuery":
            return self._company_ret(with_data_ext=rq.find("OwnerID") is not None)
        return self._preferences_ret()

    def _host_ret(self) -> etree._Element:
        versions = sorted(self.supported_versions, key=_version_key)
        ret: etree._Element = E.HostRet(
            E.ProductName(self.product_name),
            E.MajorVersion(str(self.major_version)),
            E.MinorVersion("0"),
            E.Country(self.country),
            *(E.SupportedQBXMLVersion(v) for v in versions),
            E.IsAutomaticLogin("false"),
            E.QBFileMode("MultiUser" if self.edition.casefold().startswith("enterprise") else "SingleUser"),
        )
        return ret

    def _company_ret(self, *, with_data_ext: bool) -> etree._Element:
        ret: etree._Element = E.CompanyRet(
            E.IsSampleCompany("false"),
            E.CompanyName(self.company_name),
            E.LegalCompanyName(self.company_name),
            E.Address(E.Addr1("100 Factory Road"), E.City("Springfield"), E.State("IL"),
                      E.PostalCode("62701"), E.Country(self.country)),
            E.AddressBlock(E.Addr1("100 Factory Road"), E.Addr2("Springfield, IL 62701")),
            E.LegalAddress(E.Addr1("100 Factory Road"), E.City("Springfield"), E.State("IL"),
                           E.PostalCode("62701"), E.Country(self.country)),
            E.Phone("217-555-0100"),
            E.Email("accounts@example.com"),
            E.FirstMonthFiscalYear("January"),
            E.FirstMonthIncomeTaxYear("January"),
            E.CompanyType("ManufacturingGeneral"),
            E.EIN("12-3456789"),
            E.TaxForm("Form1120"),
            E.AccountantCopy(E.AccountantCopyExists("false")),
        )
        if with_data_ext and self.owner_id:
            for data_name, value in (("AppLock", "LOCKED:SIMULATED-HOST:638000000000000000"),
                                     ("FileID", self.file_id)):
                ret.append(E.DataExtRet(E.OwnerID(self.owner_id), E.DataExtName(data_name),
                                        E.DataExtType("STR255TYPE"), E.DataExtValue(value)))
        return ret

    def _preferences_ret(self) -> etree._Element:
        false, true = "false", "true"
        ret: etree._Element = E.PreferencesRet(
            E.AccountingPreferences(
                E.IsUsingAccountNumbers(false), E.IsRequiringAccounts(true), E.IsUsingClassTracking(false),
                E.IsUsingAuditTrail(true), E.IsAssigningJournalEntryNumbers(true)),
            E.FinanceChargePreferences(
                E.AnnualInterestRate("0.00"), E.MinFinanceCharge("0.00"), E.GracePeriod("0"),
                E.IsAssessingForOverdueCharges(false), E.CalculateChargesFrom("DueDate"),
                E.IsMarkedToBePrinted(false)),
            E.JobsAndEstimatesPreferences(
                E.IsUsingEstimates(true), E.IsUsingProgressInvoicing(false),
                E.IsPrintingItemsWithZeroAmounts(false)),
            E.MultiCurrencyPreferences(E.IsMultiCurrencyOn(false)),
            E.MultiLocationInventoryPreferences(
                E.IsMultiLocationInventoryAvailable(false), E.IsMultiLocationInventoryEnabled(false)),
            E.PurchasesAndVendorsPreferences(
                E.IsUsingInventory(true), E.DaysBillsAreDue("10"), E.IsAutomaticallyUsingDiscounts(false)),
            E.ReportsPreferences(E.AgingReportBasis("AgeFromDueDate"), E.SummaryReportBasis("Accrual")),
            E.SalesAndCustomersPreferences(
                E.IsTrackingReimbursedExpensesAsIncome(false), E.IsAutoApplyingPayments(true),
                E.PriceLevels(E.IsUsingPriceLevels(true), E.IsRoundingSalesPriceUp(true))),
            E.TimeTrackingPreferences(E.FirstDayOfWeek("Monday")),
            E.CurrentAppAccessRights(E.IsAutomaticLoginAllowed(true), E.IsPersonalDataAccessAllowed(false)),
            E.ItemsAndInventoryPreferences(
                E.EnhancedInventoryReceivingEnabled(false), E.IsTrackingSerialOrLotNumber("None"),
                E.FIFOEnabled(false), E.IsRSBEnabled(false), E.IsBarcodeEnabled(false)),
        )
        return ret

    @staticmethod
    def _rs(
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


def _check_request(rq: etree._Element) -> None:
    """What QuickBooks' schema check rejects as a parse error of the whole message set."""
    tag = str(rq.tag)
    if not tag.endswith("Rq"):
        raise QuickBooksParseError(f"<{tag}> is not a request")
    iterator = rq.get("iterator")
    if iterator is not None and iterator not in _ITERATOR_VALUES:
        raise QuickBooksParseError(f"iterator {iterator!r} is not Start, Continue or Stop")
    name = tag[: -len("Rq")]
    kind = name.removesuffix("Add")
    if name.endswith("Add") and kind in SHAPES:
        body = rq.find(name)
        if body is None:
            raise QuickBooksParseError(f"<{tag}> has no <{name}>")
        for required in REQUIRED_IN_ADD[kind]:
            if body.find(required) is None:
                raise QuickBooksParseError(f"<{name}> misses <{required}>")
    for element in rq.iter(*_NUMERIC_TAGS):
        try:
            Decimal((element.text or "").strip())
        except ArithmeticError as exc:
            raise QuickBooksParseError(f"<{element.tag}> {element.text!r} is not a number") from exc


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _document(root: etree._Element) -> str:
    return '<?xml version="1.0" ?>' + etree.tostring(root, encoding="unicode")
