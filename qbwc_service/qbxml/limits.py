"""Make a built qbXML request acceptable to QuickBooks Desktop US before it is sent.

QuickBooks stores ISO-8859-1 text only, answers status 3070 to text longer than a field allows,
and fails the whole message set (0x80040400) on an element newer than the qbXML version in the
prolog. ``make_safe`` fixes what can be fixed and reports it as warnings, and refuses what cannot.

- Spelling: QuickBooks stores ISO-8859-1 only. **Free text** outside it is respelled ("–" -> "-", "Łódź" ->
  "Lodz"; a character with no spelling, "北", becomes "?", and the warning lists those). Every other value
  holding a character outside ISO-8859-1 is refused (``NotWritable``, the characters named): respelled, two
  names would become one ("北京机械" and "上海工厂" are both "????"). With ``transliterate_names`` a name
  whose every character has a Latin-1 spelling is sent respelled; "?" never stands in a name.
- Length: only **free text** is cut to fit: memos, descriptions, notes, and the street lines and
  note of an address (``FREE_TEXT``), which a person reads and nothing looks up. Every other value
  longer than its field is refused (``ValueTooLong``): a document number (``RefNumber``), a
  reference (``...Ref/FullName``), the name of a list entry being created (``CustomerAdd/Name``,
  ``EmployeeAdd/FirstName``, ``ItemServiceAdd/Name``), a custom field's name, and data such as a
  city, a postal code or a phone number. Cut, ``SO-2026-000123`` and ``SO-2026-000124`` would both
  be ``SO-2026-000``, and a cut item name names another item, or none.
- Full names: QuickBooks nests list entries up to five levels (``Parent:Child``), and each level of a
  full name has the maximum of one name (41 for customers, jobs and the other names; 31 for items,
  accounts, classes and types) besides the maximum of the whole full name.
- Versions and editions: elements the company's version or edition does not have are refused
  (``UnsupportedVersion``).

Limits come from Intuit's annotated spec, tabulated in ``_limits_data`` by element path from the
request element down (``SalesOrderAddRq/SalesOrderAdd/ShipAddress/Note``), completed here for the
full names the spec leaves without one (an item on a line, the parent of a list entry). Paths the
tables do not know pass unchanged. A refused request is left untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from qbwc_service.qbxml._limits_data import MAX_LENGTH, NOT_IN_QBD, SINCE
from qbwc_service.qbxml.errors import NotWritable, TooLong, UnsupportedVersion, Unwritable, ValueTooLong
from qbwc_service.qbxml.text import outside_latin1, to_latin1, unspellable
from qbwc_service.qbxml.versions import Version, format_version

# Attribute notes in the annotated spec carry no versions; these come from the per-version specs.
ATTRIBUTE_SINCE: dict[str, Version] = {
    "metaData": (4, 0),
    "iterator": (5, 0),
    "iteratorID": (5, 0),
}

_SHOWN_CHARACTERS = 5

# Elements (by local name) whose text a person reads and nothing looks up: cut to fit, with a warning.
# Address lines are free text (a shortened street line still reaches the reader); an address's City,
# State, PostalCode and Country are not (shortened, they name another place).
FREE_TEXT: frozenset[str] = frozenset({
    "Memo", "OverrideMemo", "Notes", "Note", "VendorMsg",
    "Desc", "Description", "JobDesc", "ItemDesc", "SalesDesc", "PurchaseDesc", "AssetDesc", "SiteDesc",
    "Addr1", "Addr2", "Addr3", "Addr4", "Addr5",
})

# A full name holds up to five levels and four colons: the spec's maximum of a whole full name gives the
# maximum of one level (209 = 5 x 41 + 4 for customers and jobs, vendors, employees and other names;
# 159 = 5 x 31 + 4 for items, accounts, classes and the type lists).
LEVEL_MAX: dict[int, int] = {209: 41, 159: 31}
# A list object of any list (custom fields on list entries): only the whole full name's maximum is known.
_ANY_LIST_REFS = frozenset({"ListObjRef"})
# Full names the spec gives no maximum for: an item on a document line, and the parent of a list entry
# (a customer's parent is a customer; the other lists nest within themselves).
ITEM_FULL_NAME_MAX = 159
CUSTOMER_FULL_NAME_MAX = 209
_CUSTOMER_REQUESTS = frozenset({"CustomerAddRq", "CustomerModRq"})


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


def make_safe(request: etree._Element, version: Version, *, transliterate_names: bool = False) -> list[TextWarning]:
    """Check ``request`` (an ``*Rq`` element) against ``version``, then fix its text in place.

    Raises ``UnsupportedVersion`` naming every element (and attribute) that the version or QuickBooks
    Desktop US does not have; ``NotWritable`` naming every value other than free text that holds a
    character QuickBooks cannot store (unless ``transliterate_names`` and every such character has a Latin-1
    spelling); ``ValueTooLong`` naming every value other than free text that is longer than its field (or,
    in a full name, than one level). The request is left untouched then. Otherwise returns one warning per
    free text that lost characters (replaced by "?") or was cut to its maximum length.
    """
    elements = _with_paths(request)
    _check_supported(elements, version)
    warnings: list[TextWarning] = []
    too_long: list[TooLong] = []
    unwritable: list[Unwritable] = []
    changes: list[tuple[etree._Element, str | None, str]] = []  # (element, attribute or None for its text, new)
    for element, path in elements:
        for raw_name, raw_value in element.attrib.items():
            name, value = _str(raw_name), _str(raw_value)
            if to_latin1(value)[1]:
                unwritable.append(Unwritable(f"{path}/@{name}", value, outside_latin1(value)))
        if element.text is None:
            continue
        text, changed = to_latin1(element.text)
        free = path.rpartition("/")[2] in FREE_TEXT
        if changed and free and unspellable(element.text):
            warnings.append(_replaced(path, unspellable(element.text)))
        elif changed and not free and (not transliterate_names or unspellable(element.text)):
            unwritable.append(Unwritable(path, element.text, unspellable(element.text) if transliterate_names
                                         else outside_latin1(element.text)))
        elif changed and not free:
            warnings.append(TextWarning(path, f"{path}: {element.text!r} sent as {text!r} (transliterate_names)"))
        limit = max_length(path)
        if limit is not None and len(text) > limit:
            if free:
                warnings.append(TextWarning(path, f"{path}: {len(text)} characters cut to the maximum of {limit}"))
                text = text[:limit]
            else:
                too_long.append(TooLong(path, text, limit))
        elif limit is not None:
            too_long += _long_levels(path, text, limit)
        if text != element.text:
            changes.append((element, None, text))
    if unwritable:
        raise NotWritable(tuple(unwritable))
    if too_long:
        raise ValueTooLong(tuple(too_long))
    for changed_element, attribute, value in changes:
        if attribute is None:
            changed_element.text = value
        else:
            changed_element.set(attribute, value)
    return warnings


def max_length(path: str) -> int | None:
    """The longest text QuickBooks Desktop US accepts at ``path``: the spec's figure, or for a full name the
    spec leaves without one, the maximum of its list's full names."""
    limit = MAX_LENGTH.get(path)
    if limit is not None:
        return limit
    request, _, rest = path.partition("/")
    if not rest.endswith("Ref/FullName"):
        return None
    ref = rest.split("/")[-2]
    if ref == "ItemRef":
        return ITEM_FULL_NAME_MAX
    if ref == "ParentRef":
        return CUSTOMER_FULL_NAME_MAX if request in _CUSTOMER_REQUESTS else ITEM_FULL_NAME_MAX
    return None


def _long_levels(path: str, text: str, limit: int) -> list[TooLong]:
    """The levels of a ``Parent:Child`` full name longer than one level may be."""
    level_max = LEVEL_MAX.get(limit)
    parts = path.split("/")
    if level_max is None or parts[-1] not in ("FullName", "FullNameWithChildren") or parts[-2] in _ANY_LIST_REFS:
        return []
    return [TooLong(path, text, level_max, part) for part in text.split(":") if len(part) > level_max]


def _with_paths(request: etree._Element) -> list[tuple[etree._Element, str]]:
    """The request and its descendant elements in document order, without comments or processing instructions, each
    with its :func:`element_path`, built in one walk down instead of one walk up per element."""
    found: list[tuple[etree._Element, str]] = []
    stack: list[tuple[etree._Element, str]] = [(request, _local(request.tag))]
    while stack:
        element, path = stack.pop()
        found.append((element, path))
        stack.extend((child, f"{path}/{_local(child.tag)}")
                     for child in reversed(element) if isinstance(child.tag, str))
    return found


def _local(tag: str | bytes) -> str:
    """An element's tag without its namespace (qbXML has none; a ``{namespace}name`` tag loses it), as
    ``etree.QName(element).localname`` gives it, without making a QName."""
    return _str(tag).rpartition("}")[2]


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


def _replaced(path: str, lost: tuple[str, ...]) -> TextWarning:
    shown = ", ".join(repr(c) for c in lost[:_SHOWN_CHARACTERS])
    more = " ..." if len(lost) > _SHOWN_CHARACTERS else ""
    return TextWarning(path, f"{path}: characters QuickBooks cannot store replaced by '?': {shown}{more}")
