"""The records of the simulated QuickBooks company: one store for every kind of list element and transaction.

Part of the simulated QuickBooks Desktop company (a test double, see ``quickbooks.py``). A record is the
``*Ret`` element QuickBooks would answer with, kept whole, plus its modification time; queries answer with
copies of it. The store hands out the identifiers QuickBooks would (``ListID`` ``80000001-1714000000``,
``TxnID`` ``1A3-1714000000``, ``TxnNumber``, per-type ``RefNumber`` sequences), enforces name uniqueness and
resolves references by ``ListID`` or ``FullName``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
        return self.text("IsActive") != "false"


# ---- values -------------------------------------------------------------------------------------------


def format_datetime(moment: datetime) -> str:
    """QuickBooks' DATETIMETYPE: local time with its offset and no fraction (``2024-05-01T10:12:40-07:00``)."""
    aware = moment if moment.tzinfo is not None else moment.astimezone()
    return aware.isoformat(timespec="seconds")


def to_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken as local time, as QuickBooks does."""
    aware = moment if moment.tzinfo is not None else moment.astimezone()
    return aware.astimezone(UTC)


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

    def all(self, kind: str) -> list[Record]:
        """Every record of ``kind`` (or of an aggregate kind such as ``"Item"``), oldest first."""
        concrete = kinds_of(kind)
        if len(concrete) == 1:
            return list(self.records.get(kind, []))
        return sorted(
            (r for k in concrete for r in self.records.get(k, [])), key=lambda r: _creation_rank(r.id)
        )

    def iter_all(self) -> Iterator[Record]:
        for records in self.records.values():
            yield from records

    def add(self, record: Record) -> None:
        self.records.setdefault(record.kind, []).append(record)
        self.by_id[record.id] = record
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

    def check_name_free(self, kind: str, full_name: str, name: str) -> None:
        """Raise 3100 when ``full_name`` is taken in ``kind``'s name space."""
        if kind in ENTITY_KINDS:
            space: tuple[str, ...] = ENTITY_KINDS
        elif kind in ITEM_KINDS:
            space = ITEM_KINDS
        else:
            space = (kind,)
        if self.named(space, full_name) is not None:
            raise StatusError(3100, f'The name "{name}" of the list element is already in use.')

    def resolve(self, ref: etree._Element, kinds: tuple[str, ...]) -> Record | None:
        """The record a ``*Ref`` element points at: by ``ListID`` when given, else by ``FullName``."""
        list_id = ref.findtext("ListID")
        if list_id:
            return self.with_id(kinds, list_id)
        full_name = ref.findtext("FullName")
        return self.named(kinds, full_name) if full_name else None


def uuid5_guid(seed: str) -> str:
    """A stable GUID in the braces QuickBooks and the Web Connector write (``{...}``)."""
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, seed.casefold())).upper() + "}"


def epoch(moment: datetime) -> int:
    return int(to_utc(moment).timestamp())


def _creation_rank(record_id: str) -> int:
    return int(record_id.split("-", 1)[0], 16)


def write_ref(ref: etree._Element, record: Record) -> None:
    """Rewrite a ``*Ref`` the way QuickBooks answers it: ``ListID`` and ``FullName`` of the record."""
    for old in list(ref):
        ref.remove(old)
    child(ref, "ListID", record.id)
    child(ref, "FullName", record.full_name)


def text_of(element: etree._Element, tag: str) -> str | None:
    value = element.findtext(tag)
    return value.strip() if value is not None else None
