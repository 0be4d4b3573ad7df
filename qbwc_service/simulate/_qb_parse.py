"""How the simulated QuickBooks company reads a request message set, and what makes QuickBooks refuse it whole.

Part of the simulated QuickBooks Desktop company (a test double, see ``quickbooks.py``). QuickBooks checks a
message set against the schema of the qbXML version its prolog names before it executes anything: a set
that is not well-formed, names a version QuickBooks does not support, misses an element the schema requires,
or uses an element or attribute that version did not have yet (``ExternalGUID`` before 8.0 on lists and 9.0 on
transactions, iterators before 5.0, ...) fails as a whole with HRESULT 0x80040400 (``QuickBooksParseError``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from lxml import etree

from qbwc_service.simulate._qb_errors import QuickBooksParseError
from qbwc_service.simulate._qb_shapes import MIN_VERSIONS, MODIFIABLE_KINDS, REQUIRED_IN_ADD, SHAPES

_NUMERIC_TAGS: Final = frozenset({
    "Quantity", "Rate", "Cost", "Amount", "Price", "SalesPrice", "PurchaseCost", "QuantityOnHand",
    "TotalValue", "QuantityDifference", "NewQuantity", "ValueDifference", "NewValue", "MaxReturned",
})
_GUID: Final = re.compile(r"^(0|\{[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\})$")
_ON_ERROR_VALUES: Final = frozenset({"stopOnError", "continueOnError", "rollbackOnError"})
_ITERATOR_VALUES: Final = frozenset({"Start", "Continue", "Stop"})
_REQUIRED_IN_BODY: Final[dict[str, tuple[str, ...]]] = {
    "DataExtDefAdd": ("OwnerID", "DataExtName", "DataExtType"),
    "DataExtAdd": ("OwnerID", "DataExtName", "DataExtValue"),
    "DataExtMod": ("OwnerID", "DataExtName", "DataExtValue"),
    "DataExtDel": ("OwnerID", "DataExtName"),
}


@dataclass(frozen=True)
class MessageSet:
    """A parsed ``QBXMLMsgsRq``."""

    version: tuple[int, int]
    on_error: str
    requests: list[etree._Element]
    new_message_set_id: str | None = None
    old_message_set_id: str | None = None
    include_data: bool = True
    """False for ``responseData="includeNone"``: answers carry their status only."""


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def parse_message_set(request: str, supported_versions: tuple[str, ...]) -> MessageSet:
    """Read a qbXML request document; raises ``QuickBooksParseError`` where QuickBooks refuses the whole set."""
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, encoding="utf-8",
        remove_blank_text=True, remove_comments=True,
    )
    try:
        root = etree.fromstring(request.encode("utf-8"), parser)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise QuickBooksParseError(f"not well-formed: {exc}") from exc
    doctype: str = getattr(root.getroottree().docinfo, "doctype", "")  # missing from lxml-stubs
    if doctype:
        raise QuickBooksParseError("a DOCTYPE is not allowed")
    versions = [
        (pi.get("version") or "").strip() for pi in root.itersiblings(preceding=True)
        if isinstance(pi, etree._ProcessingInstruction) and pi.target == "qbxml"
    ]
    if not versions or versions[0] not in supported_versions:
        raise QuickBooksParseError(f"qbXML version {versions[0] if versions else None!r} not supported")
    major, minor, *_ = (*version_key(versions[0]), 0, 0)
    messages = root.find("QBXMLMsgsRq")
    if root.tag != "QBXML" or messages is None:
        raise QuickBooksParseError("the document is not <QBXML><QBXMLMsgsRq>")
    on_error = messages.get("onError", "")
    if on_error not in _ON_ERROR_VALUES:
        raise QuickBooksParseError(f"onError {on_error!r} is not one of {sorted(_ON_ERROR_VALUES)}")
    requests = [e for e in messages if isinstance(e.tag, str)]
    for rq in requests:
        check_request(rq, (major, minor))
    return MessageSet(
        version=(major, minor),
        on_error=on_error,
        requests=requests,
        new_message_set_id=messages.get("newMessageSetID"),
        old_message_set_id=messages.get("oldMessageSetID"),
        include_data=messages.get("responseData", "includeAll") != "includeNone",
    )


def check_request(rq: etree._Element, version: tuple[int, int]) -> None:
    """What QuickBooks' schema check rejects as a parse error of the whole message set."""
    tag = str(rq.tag)
    if not tag.endswith("Rq"):
        raise QuickBooksParseError(f"<{tag}> is not a request")
    iterator = rq.get("iterator")
    if iterator is not None and iterator not in _ITERATOR_VALUES:
        raise QuickBooksParseError(f"iterator {iterator!r} is not Start, Continue or Stop")
    name = tag[: -len("Rq")]
    _check_versions(rq, name, version)
    if name.endswith("Add") and name.removesuffix("Add") in SHAPES:
        _require(rq, name, REQUIRED_IN_ADD[name.removesuffix("Add")])
    elif name.endswith("Mod") and name.removesuffix("Mod") in MODIFIABLE_KINDS:
        kind = name.removesuffix("Mod")
        _require(rq, name, ("TxnID" if SHAPES[kind].is_transaction else "ListID", "EditSequence"))
    elif name in _REQUIRED_IN_BODY:
        _require(rq, name, _REQUIRED_IN_BODY[name])
    elif name == "TxnDel":
        _require_children(rq, tag, ("TxnDelType", "TxnID"))
    elif name == "TxnVoid":
        _require_children(rq, tag, ("TxnVoidType", "TxnID"))
    for element in rq.iter(*_NUMERIC_TAGS):
        try:
            Decimal((element.text or "").strip())
        except ArithmeticError as exc:
            raise QuickBooksParseError(f"<{element.tag}> {element.text!r} is not a number") from exc
    for element in rq.iter("OwnerID", "ExternalGUID"):
        if not _GUID.match((element.text or "").strip()):
            raise QuickBooksParseError(f"<{element.tag}> {element.text!r} is not a GUID")


def _require(rq: etree._Element, name: str, required: tuple[str, ...]) -> None:
    body = rq.find(name)
    if body is None:
        raise QuickBooksParseError(f"<{rq.tag}> has no <{name}>")
    _require_children(body, name, required)


def _require_children(parent: etree._Element, name: str, required: tuple[str, ...]) -> None:
    for tag in required:
        if parent.find(tag) is None:
            raise QuickBooksParseError(f"<{name}> misses <{tag}>")


def _check_versions(rq: etree._Element, name: str, version: tuple[int, int]) -> None:
    used: list[str] = [f"@{attribute}" for attribute in ("iterator", "metaData") if rq.get(attribute) is not None]
    if rq.find("IncludeRetElement") is not None:
        used.append("IncludeRetElement")
    kind = name.removesuffix("Add")
    body = rq.find(name)
    if name.endswith("Add") and kind in SHAPES and body is not None and body.find("ExternalGUID") is not None:
        used.append("ExternalGUID/transaction" if SHAPES[kind].is_transaction else "ExternalGUID/list")
    for feature in used:
        needed = MIN_VERSIONS[feature]
        if version < needed:
            shown = feature.split("/")[0].lstrip("@")
            raise QuickBooksParseError(
                f"{shown} needs qbXML {needed[0]}.{needed[1]}, the set is {version[0]}.{version[1]}"
            )
