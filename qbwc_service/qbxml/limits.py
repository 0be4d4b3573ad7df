"""Make a built qbXML request acceptable to QuickBooks Desktop US before it is sent.

QuickBooks stores ISO-8859-1 text only, answers status 3070 to text longer than a field allows,
and fails the whole message set (0x80040400) on an element newer than the qbXML version in the
prolog. ``make_safe`` fixes what can be fixed (spelling, length) and reports it as warnings, and
refuses what cannot (elements the company's version or edition does not have).

Limits come from Intuit's annotated spec, tabulated in ``_limits_data`` by element path from the
request element down (``SalesOrderAddRq/SalesOrderAdd/ShipAddress/Note``). Paths the tables do
not know pass unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from qbwc_service.qbxml._limits_data import MAX_LENGTH, NOT_IN_QBD, SINCE
from qbwc_service.qbxml.errors import UnsupportedVersion
from qbwc_service.qbxml.text import is_latin1_safe, to_latin1
from qbwc_service.qbxml.versions import Version, format_version

# Attribute notes in the annotated spec carry no versions; these come from the per-version specs.
ATTRIBUTE_SINCE: dict[str, Version] = {
    "metaData": (4, 0),
    "iterator": (5, 0),
    "iteratorID": (5, 0),
}

_SHOWN_CHARACTERS = 5


@dataclass(frozen=True)
class TextWarning:
    """A change ``make_safe`` made to a request's text, for the job's log."""

    path: str
    message: str


def element_path(element: etree._Element, request: etree._Element) -> str:
    """'SalesOrderAddRq/SalesOrderAdd/ShipAddress/Note': local tag names from the request down."""
    names: list[str] = []
    current: etree._Element | None = element
    while current is not None:
        names.append(etree.QName(current).localname)
        if current is request:
            break
        current = current.getparent()
    else:
        raise ValueError(f"<{element.tag}> is not inside <{request.tag}>")
    return "/".join(reversed(names))


def make_safe(request: etree._Element, version: Version) -> list[TextWarning]:
    """Check ``request`` (an ``*Rq`` element) against ``version``, then fix its text in place.

    Raises ``UnsupportedVersion`` naming every element (and attribute) that the version or
    QuickBooks Desktop US does not have; the request is left untouched then. Otherwise returns
    one warning per text that was respelled into ISO-8859-1 or cut to its maximum length.
    """
    elements = [(element, element_path(element, request)) for element in _elements(request)]
    _check_supported(elements, version)
    warnings: list[TextWarning] = []
    for element, path in elements:
        for raw_name, raw_value in element.attrib.items():
            name, value = _str(raw_name), _str(raw_value)
            safe, changed = to_latin1(value)
            if changed:
                element.set(name, safe)
                warnings.append(_respelled(f"{path}/@{name}", value))
        if element.text is None:
            continue
        text, changed = to_latin1(element.text)
        if changed:
            warnings.append(_respelled(path, element.text))
        limit = MAX_LENGTH.get(path)
        if limit is not None and len(text) > limit:
            warnings.append(TextWarning(path, f"{path}: {len(text)} characters cut to the maximum of {limit}"))
            text = text[:limit]
        if text != element.text:
            element.text = text
    return warnings


def _elements(request: etree._Element) -> list[etree._Element]:
    """The request and its descendant elements, without comments or processing instructions."""
    return [e for e in request.iter() if isinstance(e.tag, str)]


def _check_supported(elements: list[tuple[etree._Element, str]], version: Version) -> None:
    problems: list[str] = []
    too_new = False
    refused: set[str] = set()
    for element, path in elements:
        parent = path.rpartition("/")[0]
        if parent in refused:
            refused.add(path)  # reported through its ancestor
            continue
        since = SINCE.get(path)
        if path in NOT_IN_QBD:
            problems.append(f"{path} is not available in QuickBooks Desktop US")
            refused.add(path)
        elif since is not None and since > version:
            problems.append(f"{path} needs qbXML {format_version(since)}")
            refused.add(path)
            too_new = True
        for name in map(_str, element.attrib):
            needed = ATTRIBUTE_SINCE.get(name)
            if needed is not None and needed > version:
                problems.append(f"{path}/@{name} needs qbXML {format_version(needed)}")
                too_new = True
    if problems:
        speaks = f"; this company speaks {format_version(version)}" if too_new else ""
        raise UnsupportedVersion(", ".join(problems) + speaks)


def _str(value: str | bytes) -> str:
    # lxml hands out str on Python 3; its type stubs also allow bytes.
    return value if isinstance(value, str) else value.decode("utf-8")


def _respelled(path: str, original: str) -> TextWarning:
    outside = sorted({c for c in original if not is_latin1_safe(c)})
    shown = ", ".join(repr(c) for c in outside[:_SHOWN_CHARACTERS])
    more = " ..." if len(outside) > _SHOWN_CHARACTERS else ""
    return TextWarning(path, f"{path}: characters outside ISO-8859-1 replaced: {shown}{more}")
