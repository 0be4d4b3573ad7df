"""Safe lxml parsing shared by every reader of untrusted XML."""

from __future__ import annotations

from lxml import etree

from qbwc_service.qbxml.errors import MalformedQbxml

_STRICT = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_blank_text=True
)
_LENIENT = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True, recover=True
)


def parse_untrusted(text: str | bytes, *, lenient: bool = False) -> etree._Element:
    """Parse XML from outside; DTDs (and so entity bombs) are refused outright."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise MalformedQbxml("XML with a DOCTYPE or ENTITY declaration is refused")
    if isinstance(text, str):
        # lxml refuses str input that declares an encoding; strip the XML declaration.
        text = _strip_declaration(text)
        data = text.encode("utf-8")
    try:
        root = etree.fromstring(data, _LENIENT if lenient else _STRICT)
    except etree.XMLSyntaxError as exc:
        raise MalformedQbxml(f"not well-formed XML: {exc}") from exc
    if root is None:
        raise MalformedQbxml("empty XML document")
    return root


def _strip_declaration(text: str) -> str:
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("<?xml"):
        end = stripped.find("?>")
        if end != -1:
            return stripped[end + 2 :]
    return stripped
