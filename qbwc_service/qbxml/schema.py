"""Validation of outgoing requests against Intuit's qbXML schema, when a schema directory is set."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from lxml import etree
from lxml.builder import E

from qbwc_service.qbxml.errors import QbxmlError

_SCHEMA_FILES = ("qbxmlops160.xsd", "qbxmlops130.xsd")


class SchemaUnavailable(QbxmlError):
    """The configured schema directory holds no usable qbXML schema."""


class RequestValidator:
    """Validates ``*Rq`` elements against qbxmlops (16.0 when present, else 13.0)."""

    def __init__(self, directory: Path) -> None:
        self._schema = _load(str(directory))
        # An XMLSchema object is not safe to share between threads while validating.
        self._lock = threading.Lock()

    def problems(self, requests: Sequence[etree._Element]) -> list[str | None]:
        """One entry per request: None when it is valid, else the schema's first complaint.

        The whole set is validated once; only when it fails is each request checked alone."""
        if not requests:
            return []
        if self._valid(list(requests)) is None:
            return [None] * len(requests)
        return [self._valid([request]) for request in requests]

    def _valid(self, requests: list[etree._Element]) -> str | None:
        msgs = E.QBXMLMsgsRq(onError="continueOnError")
        for request in requests:
            msgs.append(etree.fromstring(etree.tostring(request)))
        with self._lock:
            if self._schema.validate(E.QBXML(msgs)):
                return None
            errors = [entry.message for entry in self._schema.error_log]  # type: ignore[attr-defined]
        return errors[0] if errors else "the request does not match Intuit's qbXML schema"


@lru_cache(maxsize=4)
def _load(directory: str) -> etree.XMLSchema:
    base = Path(directory)
    for name in _SCHEMA_FILES:
        path = base / name
        if path.is_file():
            try:
                return etree.XMLSchema(etree.parse(str(path)))
            except (etree.XMLSchemaParseError, etree.XMLSyntaxError, OSError) as exc:
                raise SchemaUnavailable(f"cannot load the qbXML schema {path}: {exc}") from exc
    raise SchemaUnavailable(f"no {' or '.join(_SCHEMA_FILES)} in {base}")
