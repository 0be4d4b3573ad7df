"""Company files of the simulated QuickBooks company: seeds (JSON a person writes) and saved state (JSON it writes).

Part of the simulated QuickBooks Desktop company (a test double, see ``quickbooks.py``).

A **seed** describes a small company: ``company`` (constructor settings such as ``company_name``), then
``accounts``, ``payroll_wage_items``, ``custom_fields`` (``DataExtDefAdd`` fields), ``customers`` (each with
optional ``jobs``, themselves customers), ``vendors``, ``employees``, ``items`` and ``transactions`` (each row
with a ``Type``: ``ItemInventory``, ``SalesOrder``, ...). A row holds the fields of the ``*Add`` in order:
a string or number is an element's text, a name ending in ``Ref`` given a string is a reference by full name,
an object is an aggregate (``{"Addr1": ..., "City": ...}``), a list repeats the element (lines).
``TimeCreated`` / ``TimeModified`` stamp the record.

**Saved state** is the whole store: every record's ``*Ret`` as XML with its modification time, the counters
that hand out identifiers and numbers, custom field definitions and values, links and deleted transactions.
It is written atomically (a temporary file, then a rename), so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TypeAlias

from lxml import etree

from qbwc_service.simulate._qb_errors import CompanyFileError
from qbwc_service.simulate._qb_shapes import SHAPES
from qbwc_service.simulate._qb_store import (
    DataExtDef,
    DeletedTxn,
    Link,
    Record,
    Store,
    format_datetime,
)

FieldValue: TypeAlias = "str | int | float | Decimal | datetime | Mapping[str, FieldValue] | Sequence[FieldValue]"
"""A field of a record to add: text, a reference by full name, an aggregate (mapping) or repeated elements."""

STATE_FORMAT: Final = "simulated-quickbooks-company"
STATE_VERSION: Final = 1
_LIST_SECTIONS: Final = (
    ("accounts", "Account"), ("payroll_wage_items", "PayrollItemWage"), ("customers", "Customer"),
    ("vendors", "Vendor"), ("employees", "Employee"),
)
_TYPED_SECTIONS: Final = ("items", "transactions")
SEED_SECTIONS: Final = frozenset({"company", "custom_fields", *(s for s, _ in _LIST_SECTIONS), *_TYPED_SECTIONS})


# ---- building an *Add from fields -------------------------------------------------------------------------


def build_body(tag: str, fields: Mapping[str, FieldValue]) -> etree._Element:
    """``<{tag}>`` with ``fields`` as children in order; ``__`` in a name nests (``SalesOrPurchase__Price``)."""
    body = etree.Element(tag)
    for key, value in fields.items():
        parent = body
        *path, leaf = key.split("__")
        for step in path:
            found = parent.find(step)
            parent = found if found is not None else etree.SubElement(parent, step)
        _put(parent, leaf, value)
    return body


def _put(parent: etree._Element, tag: str, value: FieldValue) -> None:
    if isinstance(value, Mapping):
        element = etree.SubElement(parent, tag)
        for key, part in value.items():
            _put(element, key, part)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        for part in value:
            _put(parent, tag, part)
    elif tag.endswith("Ref"):
        etree.SubElement(etree.SubElement(parent, tag), "FullName").text = field_text(value)
    else:
        etree.SubElement(parent, tag).text = field_text(value)


def field_text(value: object) -> str:
    """The qbXML text of a scalar field value (``True`` is ``true``, a datetime carries its offset)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_datetime(value)
    return str(value)


def moment_of(value: object) -> datetime | None:
    """A ``TimeCreated`` / ``TimeModified`` given as a datetime or an ISO 8601 string."""
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an ISO 8601 date-time") from exc


# ---- seeds ------------------------------------------------------------------------------------------------


def read_json(source: str | os.PathLike[str] | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(source, Mapping):
        return source
    try:
        data = json.loads(Path(source).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CompanyFileError(f"cannot read {source}: {exc}") from exc
    if not isinstance(data, dict):
        raise CompanyFileError(f"{source} does not hold a JSON object")
    return data


def seed_rows(seed: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, FieldValue]]]:
    """(kind, fields) for each record of a seed, in the order QuickBooks needs them (references first)."""
    unknown = sorted(set(seed) - SEED_SECTIONS)
    if unknown:
        known = ", ".join(sorted(SEED_SECTIONS))
        raise CompanyFileError(f"unknown seed section(s) {', '.join(unknown)}; known: {known}")
    for section, kind in _LIST_SECTIONS:
        for row in _rows(seed, section):
            if kind == "Customer":
                yield from _customer_and_jobs(row, None)
            else:
                yield kind, row
    for section in _TYPED_SECTIONS:
        for row in _rows(seed, section):
            kind = str(row.pop("Type", ""))
            if kind not in SHAPES:
                raise CompanyFileError(f"a row of {section} has Type {kind!r}; known: {', '.join(SHAPES)}")
            yield kind, row


def custom_fields(seed: Mapping[str, Any]) -> list[dict[str, FieldValue]]:
    return _rows(seed, "custom_fields")


def _rows(seed: Mapping[str, Any], section: str) -> list[dict[str, FieldValue]]:
    rows = seed.get(section, [])
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise CompanyFileError(f"seed section {section!r} must be a list of objects")
    return [dict(row) for row in rows]


def _customer_and_jobs(
    row: dict[str, FieldValue], parent: str | None
) -> Iterator[tuple[str, dict[str, FieldValue]]]:
    jobs = row.pop("jobs", [])
    if parent is not None:
        row = {"Name": row.pop("Name", ""), "ParentRef": parent, **row}
    yield "Customer", row
    full_name = f"{parent}:{row['Name']}" if parent else str(row.get("Name", ""))
    if not isinstance(jobs, list):
        raise CompanyFileError(f"the jobs of {full_name!r} must be a list of objects")
    for job in jobs:
        if not isinstance(job, dict):
            raise CompanyFileError(f"the jobs of {full_name!r} must be a list of objects")
        yield from _customer_and_jobs(dict(job), full_name)


# ---- saved state -------------------------------------------------------------------------------------------


def dump_store(store: Store) -> dict[str, Any]:
    return {
        "records": [
            {"kind": record.kind, "modified": record.modified.isoformat(),
             "xml": etree.tostring(record.element, encoding="unicode")}
            for record in store.iter_all()
        ],
        "next_list_id": store.next_list_id,
        "next_txn_id": store.next_txn_id,
        "next_txn_number": store.next_txn_number,
        "next_ref_number": dict(store.next_ref_number),
        "next_data_ext_id": store.next_data_ext_id,
        "data_ext_defs": [asdict(definition) for definition in store.data_ext_defs.values()],
        "company_data_ext": etree.tostring(store.company_data_ext, encoding="unicode"),
        "links": [{**asdict(link), "quantity": str(link.quantity), "amount": str(link.amount)}
                  for link in store.links],
        "deleted": [{**asdict(deleted), "time_deleted": deleted.time_deleted.isoformat()}
                    for deleted in store.deleted],
    }


def load_store(data: Mapping[str, Any]) -> Store:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=True)
    try:
        store = Store(
            next_list_id=int(data["next_list_id"]),
            next_txn_id=int(data["next_txn_id"]),
            next_txn_number=int(data["next_txn_number"]),
            next_ref_number={str(k): int(v) for k, v in data["next_ref_number"].items()},
            next_data_ext_id=int(data["next_data_ext_id"]),
            company_data_ext=etree.fromstring(data["company_data_ext"], parser),
        )
        for row in data["records"]:
            element = etree.fromstring(row["xml"], parser)
            store.add(Record(str(row["kind"]), element, datetime.fromisoformat(row["modified"])))
        for row in data["data_ext_defs"]:
            definition = DataExtDef(**{**row, "assign_to": tuple(row["assign_to"])})
            store.data_ext_defs[(definition.owner_id, definition.name.casefold())] = definition
        store.links.extend(
            Link(**{**row, "quantity": Decimal(row["quantity"]), "amount": Decimal(row["amount"])})
            for row in data["links"]
        )
        store.deleted.extend(
            DeletedTxn(**{**row, "time_deleted": datetime.fromisoformat(row["time_deleted"])})
            for row in data["deleted"]
        )
    except (KeyError, TypeError, ValueError, etree.XMLSyntaxError) as exc:
        raise CompanyFileError(f"the saved company is damaged: {exc!r}") from exc
    return store


def write_json(path: str | os.PathLike[str], data: Mapping[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(data, stream, indent=1)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
