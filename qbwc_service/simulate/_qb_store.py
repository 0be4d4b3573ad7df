"""The records of the simulated QuickBooks company: one store for every kind of list element and transaction.

Part of the simulated QuickBooks Desktop company (a test double, see ``quickbooks.py``). A record is the
``*Ret`` element QuickBooks would answer with, kept whole, plus its modification time; queries answer with
copies of it. The store hands out the identifiers QuickBooks would (``ListID`` ``80000001-1714000000``,
``TxnID`` ``1A3-1714000000``, ``TxnNumber``, per-type ``RefNumber`` sequences), enforces name uniqueness and
resolves references by ``ListID`` or ``FullName``. It also keeps what is not a record of its own: custom field
definitions (``DataExtDef``), the links from invoice lines to sales order lines (``Link``), deleted transactions
(``DeletedTxn``) and the company's own custom field values.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from lxml import etree

from qbwc_service.simulate._qb_shapes import ENTITY_KINDS, ITEM_KINDS, KIND_FAMILIES, RET_ORDER

logger = logging.getLogger(__name__)

_FIRST_LIST_ID = 0x80000001
_FIRST_TXN_ID = 0x1A0
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Status:
    """The status attributes of one ``*Rs``."""

    code: int = 0
    severity: str = "Info"
    message: str = "Status OK"


OK = Status()


class StatusError(Exception):
    """A request failed with a QuickBooks status code; the message set goes on (or stops, per onError)."""

    def __init__(self, code: int, message: str, severity: str = "Error") -> None:
        super().__init__(message)
        self.status = Status(code, severity, message)


@dataclass
class Record:
    """One list element or transaction: the ``*Ret`` QuickBooks answers with, kept whole."""

    kind: str
    element: etree._Element
    modified: datetime

    def text(self, path: str) -> str | None:
        """The text at ``path`` inside the ``*Ret`` (``"RefNumber"``, ``"CustomerRef/FullName"``), or None."""
        return self.element.findtext(path)

    @property
    def id(self) -> str:
        return self.text("ListID") or self.text("TxnID") or ""

    @property
    def full_name(self) -> str:
        """FullName, or Name for the kinds without one (vendors, employees)."""
        return self.text("FullName") or self.text("Name") or ""

    @property
    def is_active(self) -> bool:
        return self.text("IsActive") not in ("false", "0")

    @property
    def rank(self) -> int:
        """Creation order: the counter part of the ListID or TxnID."""
        return creation_rank(self.id)


@dataclass
class DataExtDef:
    """A custom field definition (``DataExtDefRet``): OwnerID 0 is a public field shown in QuickBooks' UI."""

    owner_id: str
    name: str
    data_type: str
    ext_id: int
    assign_to: tuple[str, ...] = ()
    """Objects the field is shown on (``AssignToObject``); empty for a private field, usable on any object."""
    list_require: bool = False
    txn_require: bool = False
    format_string: str = ""


@dataclass
class Link:
    """An invoice line that bills (part of) a sales order line, or a bill item line that receives (part of) a
    purchase order line (``LinkToTxn``); ``invoice_*`` name the invoice or bill."""

    invoice_id: str
    invoice_line_id: str
    order_id: str
    order_line_id: str
    quantity: Decimal
    amount: Decimal


@dataclass
class DeletedTxn:
    """A deleted transaction as ``TxnDeletedQueryRq`` reports it."""

    kind: str
    txn_id: str
    time_created: str
    time_deleted: datetime
    ref_number: str | None


# ---- values -------------------------------------------------------------------------------------------


def format_datetime(moment: datetime) -> str:
    """QuickBooks' DATETIMETYPE: local time with its offset and no fraction (``2024-05-01T10:12:40-07:00``)."""
    aware = moment if moment.tzinfo is not None else moment.astimezone()
    return aware.isoformat(timespec="seconds")


def to_utc(moment: datetime, local: tzinfo | None = None) -> datetime:
    """An aware UTC datetime; a naive one is taken as local time (``local``, else this machine's), as QuickBooks
    takes a date-time without an offset as the time of the computer it runs on."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=local) if local is not None else moment.astimezone()
    return moment.astimezone(UTC)


def parse_datetime(text: str, field_name: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise StatusError(
            3020, f'There was an error when converting the date value "{text}" in the field "{field_name}".'
        ) from exc


def decimal_of(text: str | None, default: Decimal | None = None) -> Decimal | None:
    """The decimal value of an amount or quantity element's text; ``default`` when the element is absent."""
    if text is None or not text.strip():
        return default
    try:
        return Decimal(text.strip())
    except InvalidOperation as exc:
        raise StatusError(3000, f'There was an error when converting the number value "{text}".') from exc


def money(value: Decimal) -> str:
    return str(value.quantize(_CENT, rounding=ROUND_HALF_UP))


def quantity(value: Decimal) -> str:
    """A quantity as QuickBooks prints it: no exponent, no trailing zeros (``10``, ``2.5``)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def child(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def set_text(parent: etree._Element, tag: str, text: str) -> None:
    """Set the text of ``parent``'s child ``tag``, adding the child when absent."""
    element = parent.find(tag)
    if element is None:
        element = child(parent, tag)
    element.text = text


def sort_in_schema_order(element: etree._Element, ret_tag: str) -> None:
    """Put ``element``'s children in the schema order of ``ret_tag`` and drop those the schema has not."""
    positions = {name: index for index, name in enumerate(RET_ORDER[ret_tag])}
    kept = [c for c in element if isinstance(c.tag, str) and c.tag in positions]
    dropped = [c.tag for c in element if isinstance(c.tag, str) and c.tag not in positions]
    if dropped:
        logger.debug("%s does not carry %s; left out of the answer", ret_tag, ", ".join(map(str, dropped)))
    element[:] = sorted(kept, key=lambda c: positions[str(c.tag)])


def kinds_of(kind: str) -> tuple[str, ...]:
    """The concrete kinds behind ``kind`` (``"Item"`` is the three item kinds)."""
    return KIND_FAMILIES.get(kind, (kind,))


# ---- the store ----------------------------------------------------------------------------------------


@dataclass
class Store:
    """Every record of the company, by kind, by id and by full name; and the company's counters."""

    records: dict[str, list[Record]] = field(default_factory=dict)
    by_id: dict[str, Record] = field(default_factory=dict)
    by_name: dict[tuple[str, str], Record] = field(default_factory=dict)
    next_list_id: int = _FIRST_LIST_ID
    next_txn_id: int = _FIRST_TXN_ID
    next_txn_number: int = 1
    next_ref_number: dict[str, int] = field(default_factory=dict)
    next_data_ext_id: int = 1
    data_ext_defs: dict[tuple[str, str], DataExtDef] = field(default_factory=dict)
    """Custom field definitions by (OwnerID, casefolded DataExtName)."""
    company_data_ext: etree._Element = field(default_factory=lambda: etree.Element("CompanyDataExt"))
    """Holds the ``DataExtRet`` values on the company itself (``OtherDataExtType`` Company)."""
    links: list[Link] = field(default_factory=list)
    deleted: list[DeletedTxn] = field(default_factory=list)

    def all(self, kind: str) -> list[Record]:
        """Every record of ``kind`` (or of an aggregate kind such as ``"Item"``), oldest first."""
        concrete = kinds_of(kind)
        if len(concrete) == 1:
            return list(self.records.get(kind, []))
        return sorted((r for k in concrete for r in self.records.get(k, [])), key=lambda r: r.rank)

    def iter_all(self) -> Iterator[Record]:
        for records in self.records.values():
            yield from records

    def add(self, record: Record) -> None:
        self.records.setdefault(record.kind, []).append(record)
        self.by_id[record.id] = record
        self.by_name[(record.kind, record.full_name.casefold())] = record

    def remove(self, record: Record) -> None:
        self.records[record.kind].remove(record)
        del self.by_id[record.id]
        if self.by_name.get((record.kind, record.full_name.casefold())) is record:
            del self.by_name[(record.kind, record.full_name.casefold())]

    def rename(self, record: Record, old_full_name: str) -> None:
        """Index ``record`` under its current full name instead of ``old_full_name``."""
        if self.by_name.get((record.kind, old_full_name.casefold())) is record:
            del self.by_name[(record.kind, old_full_name.casefold())]
        self.by_name[(record.kind, record.full_name.casefold())] = record

    def named(self, kinds: Iterable[str], full_name: str) -> Record | None:
        key = full_name.strip().casefold()
        for kind in kinds:
            record = self.by_name.get((kind, key))
            if record is not None:
                return record
        return None

    def with_id(self, kinds: Iterable[str], record_id: str) -> Record | None:
        record = self.by_id.get(record_id.strip())
        return record if record is not None and record.kind in tuple(kinds) else None

    # -- identifiers --

    def new_list_id(self, moment: datetime) -> str:
        value = f"{self.next_list_id:08X}-{epoch(moment)}"
        self.next_list_id += 1
        return value

    def new_txn_id(self, moment: datetime) -> str:
        value = f"{self.next_txn_id:X}-{epoch(moment)}"
        self.next_txn_id += 1
        return value

    def new_txn_number(self) -> str:
        value = self.next_txn_number
        self.next_txn_number += 1
        return str(value)

    def new_ref_number(self, kind: str) -> str:
        value = self.next_ref_number.get(kind, 1)
        self.next_ref_number[kind] = value + 1
        return str(value)

    def note_ref_number(self, kind: str, ref_number: str) -> None:
        """QuickBooks continues its own numbering after the highest number a user typed."""
        if ref_number.isdigit() and int(ref_number) >= self.next_ref_number.get(kind, 1):
            self.next_ref_number[kind] = int(ref_number) + 1

    # -- names and references --

    def check_name_free(self, kind: str, full_name: str, name: str, itself: Record | None = None) -> None:
        """Raise 3100 when ``full_name`` is taken in ``kind``'s name space (by another record than ``itself``)."""
        holder = self.named(name_space(kind), full_name)
        if holder is not None and holder is not itself:
            raise StatusError(3100, f'The name "{name}" of the list element is already in use.')

    def resolve(self, ref: etree._Element, kinds: tuple[str, ...]) -> Record | None:
        """The record a ``*Ref`` element points at: by ``ListID`` when given, else by ``FullName``."""
        list_id = ref.findtext("ListID")
        if list_id:
            return self.with_id(kinds, list_id)
        full_name = ref.findtext("FullName")
        return self.named(kinds, full_name) if full_name else None


def touch(record: Record, moment: datetime) -> None:
    """Mark ``record`` modified at ``moment``: a new TimeModified, and an EditSequence that always changes."""
    old = record.text("EditSequence") or "0"
    sequence = epoch(moment)
    if old.isdigit() and sequence <= int(old):
        sequence = int(old) + 1
    set_text(record.element, "TimeModified", format_datetime(moment))
    set_text(record.element, "EditSequence", str(sequence))
    record.modified = moment


def boolean(text: str) -> str:
    """A BOOLTYPE value the way QuickBooks answers it (``1`` becomes ``true``)."""
    return {"1": "true", "0": "false"}.get(text.strip(), text.strip())


def uuid5_guid(seed: str) -> str:
    """A stable GUID in the braces QuickBooks and the Web Connector write (``{...}``)."""
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, seed.casefold())).upper() + "}"


def epoch(moment: datetime) -> int:
    return int(to_utc(moment).timestamp())


def creation_rank(record_id: str) -> int:
    try:
        return int(record_id.split("-", 1)[0], 16)
    except ValueError:
        return 0


def name_space(kind: str) -> tuple[str, ...]:
    """The kinds whose names must differ from a ``kind`` name: entities share one space, items another."""
    if kind in ENTITY_KINDS:
        return ENTITY_KINDS
    if kind in ITEM_KINDS:
        return ITEM_KINDS
    return (kind,)


def write_ref(ref: etree._Element, record: Record) -> None:
    """Rewrite a ``*Ref`` the way QuickBooks answers it: ``ListID`` and ``FullName`` of the record."""
    for old in list(ref):
        ref.remove(old)
    child(ref, "ListID", record.id)
    child(ref, "FullName", record.full_name)


def text_of(element: etree._Element, tag: str) -> str | None:
    value = element.findtext(tag)
    return value.strip() if value is not None else None
