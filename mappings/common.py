"""What every mapping shares: the context a request depends on, value formatting, optional elements.

Pure: no database, clock, network or settings. Anything that varies is in :class:`MappingContext`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from lxml import etree

Version = tuple[int, int]
# The namespace of the deterministic ExternalGUIDs this service stamps on what it creates.
MARKER_NAMESPACE = uuid.UUID("6f1d4b7a-2c3e-5a80-9b1d-7e4f2a6c8d10")
EXTERNAL_GUID_TXN_SINCE: Version = (9, 0)


@dataclass(frozen=True)
class LinkedTxn:
    """A QuickBooks document this one links to (the sales order of a shipment, the purchase order of a
    receiving): its TxnID and the TxnLineID of each Fusion order line id."""

    txn_id: str
    line_ids: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MappingContext:
    version: Version
    sync_date: date
    marker: str  # e.g. "fusion:sales_order:1234"; written into Memo/Notes so a lost add can be found
    external_guid: str | None = None  # set only where the version allows it on this kind of add
    linked: LinkedTxn | None = None
    # What the mapping had to change in the entity's text (notes cut to fit), for the job's warnings.
    warnings: list[str] = field(default_factory=list)


def marker_for(owner_id: str, flow: str, entity_id: str | int) -> tuple[str, str]:
    """The text marker and the deterministic ExternalGUID of one Fusion entity sent by one connection."""
    text = f"fusion:{flow}:{entity_id}"
    guid = uuid.uuid5(MARKER_NAMESPACE, f"{owner_id}:{text}")
    return text, "{" + str(guid).upper() + "}"


def with_marker(memo: str | None, marker: str) -> str:
    """Memo text carrying the marker, in brackets at the end."""
    tag = f"[{marker}]"
    return f"{memo} {tag}" if memo else tag


def has_marker(text: str | None, marker: str) -> bool:
    return bool(text) and f"[{marker}]" in (text or "")


def append_opt(parent: etree._Element, tag: str, value: object | None) -> etree._Element | None:
    """Append <tag>value</tag> when value is not None or empty; the one function for optional elements."""
    if value is None or value == "":
        return None
    child = etree.SubElement(parent, tag)
    child.text = value if isinstance(value, str) else format_value(value)
    return child


def append_ref(parent: etree._Element, tag: str, full_name: str | None = None, list_id: str | None = None) -> None:
    """<XxxRef><ListID>..</ListID></XxxRef> or <XxxRef><FullName>..</FullName></XxxRef>."""
    if not full_name and not list_id:
        return
    ref = etree.SubElement(parent, tag)
    if list_id:
        etree.SubElement(ref, "ListID").text = list_id
    else:
        etree.SubElement(ref, "FullName").text = full_name


def format_value(value: object) -> str:
    if isinstance(value, bool):
        return format_bool(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return format_date(value)
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, Decimal | float | int):
        return format_quantity(value)
    return str(value)


def custom_field_text(value: object) -> str:
    """A Fusion custom field value as text, "" when absent: strings stripped, numbers, dates and booleans
    formatted as qbXML formats them, lists and objects as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return format_value(value).strip()


def format_bool(value: bool) -> str:
    return "true" if value else "false"


def format_date(value: date | datetime) -> str:
    return (value.date() if isinstance(value, datetime) else value).isoformat()


def format_datetime(value: datetime) -> str:
    """QuickBooks local time without an offset (it mishandles offsets in DST)."""
    return value.replace(tzinfo=None, microsecond=0).isoformat()


def format_money(value: float | Decimal) -> str:
    """AMTTYPE/PRICETYPE: two decimals, rounded half up."""
    return str(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def format_quantity(value: float | Decimal | int) -> str:
    """QUANTYPE: at most five decimals, no trailing zeros, no exponent."""
    quantized = Decimal(str(value)).quantize(Decimal("0.00001"), rounding=ROUND_HALF_UP).normalize()
    text = format(quantized, "f")
    return "0" if text in ("-0", "") else text


def format_duration(value: timedelta) -> str:
    """ISO 8601 duration as QuickBooks writes it: PT#H#M#S (whole seconds)."""
    seconds = max(int(value.total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"PT{hours}H{minutes}M{secs}S"
