"""The schema gate: every request is validated against Intuit's qbXML schema before it is sent.

Intuit's schema files for qbXML 13.0 and 16.0 ship with the service, byte for byte as the QuickBooks SDK has
them (``xsd/``, with their SHA-256 sums); a folder of one's own (``qbxml_schema_dir``) can replace them. Each
schema file is parsed once per process, whatever the number of validators and requests.

Which schema judges a request depends on the qbXML version negotiated with the company:

- **above 13.0** (14.0, 15.0, 16.0): ``qbxmlops160.xsd``. No 14.0 or 15.0 schema ships; 16.0 keeps what
  13.0 has and holds what 14.0 to 16.0 added, so it does not refuse what those versions accept.
- **13.0 and below**: ``qbxmlops130.xsd``, with the elements of older versions that a later version
  replaced (:data:`REPLACED`) allowed while the company's version still has them. The service knows one,
  and its time-tracking flow sends it to such companies: before 6.0 a time entry's billable flag was
  ``TimeTrackingAdd/IsBillable``, which 6.0 replaced by ``BillableStatus`` in the same place (the version
  comes from the same table ``make_safe`` uses). The schema checks a copy of the request in which such an
  element is written as its 13.0 equivalent; the request sent is never changed. From the replacing version
  on, the old element is refused, as QuickBooks refuses it.

A folder holding only one of the two files serves every version with it. Elements newer than the company's
version are refused earlier, by :func:`qbwc_service.qbxml.limits.make_safe`; the gate is the last check
of the request's shape: element names, order, required elements and value types.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final

from lxml import etree
from lxml.builder import E

from qbwc_service.qbxml._limits_data import SINCE
from qbwc_service.qbxml.errors import SchemaUnavailable
from qbwc_service.qbxml.limits import element_path
from qbwc_service.qbxml.versions import Version

PACKAGED_SCHEMA_DIR: Final = Path(__file__).resolve().with_name("xsd")
"""Intuit's qbXML 13.0 and 16.0 schema files, shipped inside the package."""

SCHEMA_130: Final = "qbxmlops130.xsd"
SCHEMA_160: Final = "qbxmlops160.xsd"
NEWEST_IN_130: Final[Version] = (13, 0)
"""The newest version ``qbxmlops130.xsd`` describes; later versions are judged by ``qbxmlops160.xsd``."""

_SCHEMA_FILES: Final = (SCHEMA_130, SCHEMA_160)


@dataclass(frozen=True)
class Replaced:
    """An element a later qbXML version replaced: before ``until``, a request has ``path`` where the 13.0
    schema has ``by``; ``values`` maps its text (whitespace stripped) to the replacement's."""

    path: str
    by: str
    until: Version
    values: Mapping[str, str]


_BILLABLE = {"true": "Billable", "1": "Billable", "false": "NotBillable", "0": "NotBillable"}

REPLACED: Final[tuple[Replaced, ...]] = (
    Replaced(
        path="TimeTrackingAddRq/TimeTrackingAdd/IsBillable",
        by="BillableStatus",
        until=SINCE["TimeTrackingAddRq/TimeTrackingAdd/BillableStatus"],  # 6.0
        values=_BILLABLE,
    ),
)


@dataclass(frozen=True)
class _Schema:
    """A parsed schema and the lock its users share: an XMLSchema must not validate in two threads at once."""

    path: Path
    schema: etree.XMLSchema
    lock: threading.Lock

    def first_problem(self, requests: Sequence[etree._Element]) -> str | None:
        """None when the message set of ``requests`` is valid, else the schema's first complaint.

        The requests move into the message set validated: pass copies."""
        msgs = E.QBXMLMsgsRq(onError="continueOnError")
        msgs.extend(requests)
        with self.lock:
            if self.schema.validate(E.QBXML(msgs)):
                return None
            errors = [entry.message for entry in self.schema.error_log]  # type: ignore[attr-defined]
        return errors[0] if errors else "the request does not match Intuit's qbXML schema"


class RequestValidator:
    """Validates ``*Rq`` elements against the qbXML schema that applies to the company's version."""

    def __init__(self, directory: Path = PACKAGED_SCHEMA_DIR) -> None:
        present = [name for name in _SCHEMA_FILES if (directory / name).is_file()]
        if not present:
            raise SchemaUnavailable(f"no {' or '.join(_SCHEMA_FILES)} in {directory}")
        self._schemas = {name: _load((directory / name).resolve()) for name in present}

    def schema_file(self, version: Version) -> Path:
        """The schema file that judges requests for a company speaking ``version``."""
        return self._for(version).path

    def problems(self, requests: Sequence[etree._Element], version: Version) -> list[str | None]:
        """One entry per request: None when it is valid for ``version``, else the first complaint.

        The whole set is validated once; only when it fails is each request checked alone. The requests
        themselves are left untouched."""
        if not requests:
            return []
        schema = self._for(version)
        checked = [as_checked(request, version) for request in requests]
        if all(problem is None for _, problem in checked) and schema.first_problem([e for e, _ in checked]) is None:
            return [None] * len(requests)
        return [problem or schema.first_problem([element]) for element, problem in checked]

    def _for(self, version: Version) -> _Schema:
        preferred = (SCHEMA_160, SCHEMA_130) if version > NEWEST_IN_130 else (SCHEMA_130, SCHEMA_160)
        return next(self._schemas[name] for name in preferred if name in self._schemas)


def request_validator(directory: Path | None, *, enabled: bool) -> RequestValidator | None:
    """The schema gate as configured: None when it is turned off; the schema in ``directory`` when one is
    given, else the one shipped with the service."""
    if not enabled:
        return None
    return RequestValidator(directory if directory is not None else PACKAGED_SCHEMA_DIR)


def as_checked(request: etree._Element, version: Version) -> tuple[etree._Element, str | None]:
    """A copy of ``request`` as the schema checks it for a company speaking ``version``, and a complaint
    about a replaced element whose text has no equivalent (None when there is none).

    An element of :data:`REPLACED` that ``version`` still has is written as its 13.0 equivalent; from the
    replacing version on it stays as it is, and the schema refuses it."""
    checked = copy.deepcopy(request)
    checked.tail = None
    for rule in REPLACED:
        if version >= rule.until:
            continue
        tag = rule.path.rpartition("/")[2]
        for element in list(checked.iter(tag)):
            if element_path(element, checked) != rule.path:
                continue
            text = (element.text or "").strip()
            if text not in rule.values:
                return checked, f"Element '{tag}': '{text}' is not one of {', '.join(rule.values)}."
            element.tag, element.text = rule.by, rule.values[text]
    return checked, None


def load_schema(path: Path) -> etree.XMLSchema:
    """The parsed schema file at ``path``, parsed once per process and shared with the gate."""
    return _load(path.resolve()).schema


@lru_cache(maxsize=8)
def _load(path: Path) -> _Schema:
    try:
        parsed = etree.XMLSchema(etree.parse(str(path)))
    except (etree.XMLSchemaParseError, etree.XMLSyntaxError, OSError) as exc:
        raise SchemaUnavailable(f"cannot load the qbXML schema {path}: {exc}") from exc
    return _Schema(path, parsed, threading.Lock())
