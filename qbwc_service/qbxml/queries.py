"""Query requests for pulling records out of QuickBooks, in the schema's element order.

Transactions filter with ``ModifiedDateRangeFilter``; lists put ``FromModifiedDate`` directly in the
query. Iterators (``iterator="Start"``/``"Continue"``) exist from qbXML 5.0 and not on every query.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree
from lxml.builder import E

from qbwc_service.qbxml.errors import UnsupportedVersion
from qbwc_service.qbxml.versions import Version

TRANSACTIONS = frozenset({"SalesOrder", "PurchaseOrder", "Invoice", "Estimate", "Bill", "TimeTracking"})
LISTS = frozenset({"Customer", "Vendor", "Employee", "Item", "ItemInventory", "ItemNonInventory",
                   "ItemService", "Account"})
_NO_ITERATOR = frozenset({"Employee", "Account"})
_NO_CUSTOM_FIELDS = frozenset({"Account", "TimeTracking"})
_WITH_LINES = TRANSACTIONS - {"TimeTracking"}
_WITH_LINKS = frozenset({"SalesOrder", "PurchaseOrder", "Invoice", "Estimate", "Bill"})
ITERATOR_SINCE: Version = (5, 0)


@dataclass(frozen=True)
class QuerySpec:
    """What to pull: an entity, records modified since a mark, a page size."""

    entity: str
    from_modified: str | None = None
    max_returned: int = 100
    include_line_items: bool = True
    custom_fields: bool = True

    def __post_init__(self) -> None:
        if self.entity not in TRANSACTIONS | LISTS:
            raise ValueError(f"cannot pull {self.entity!r}; known: {', '.join(sorted(TRANSACTIONS | LISTS))}")
        if not 1 <= self.max_returned <= 10_000:
            raise ValueError("max_returned must be between 1 and 10000")


def supports_iterator(entity: str, version: Version) -> bool:
    return entity not in _NO_ITERATOR and version >= ITERATOR_SINCE


def build_query(spec: QuerySpec, version: Version, iterator_id: str | None = None) -> etree._Element:
    """The ``*QueryRq`` for one page: a new iterator, the continuation of one, or (without
    iterators) the whole result at once."""
    element = etree.Element(f"{spec.entity}QueryRq")
    iterating = supports_iterator(spec.entity, version)
    if iterator_id is not None:
        if not iterating:
            raise UnsupportedVersion(f"{spec.entity} queries cannot continue an iterator at qbXML {version}")
        element.set("iterator", "Continue")
        element.set("iteratorID", iterator_id)
    elif iterating:
        element.set("iterator", "Start")
    if iterating:
        element.append(E.MaxReturned(str(spec.max_returned)))
    if spec.entity in TRANSACTIONS:
        if spec.from_modified:
            element.append(E.ModifiedDateRangeFilter(E.FromModifiedDate(spec.from_modified)))
        if spec.include_line_items and spec.entity in _WITH_LINES:
            element.append(E.IncludeLineItems("true"))
        if spec.entity in _WITH_LINKS:
            element.append(E.IncludeLinkedTxns("true"))
    else:
        if spec.entity not in ("Account",):
            element.append(E.ActiveStatus("All"))
        if spec.from_modified:
            element.append(E.FromModifiedDate(spec.from_modified))
    if spec.custom_fields and version >= (2, 0) and spec.entity not in _NO_CUSTOM_FIELDS:
        element.append(E.OwnerID("0"))
    return element


def later_mark(current: str | None, candidate: str | None) -> str | None:
    """The later of two QuickBooks TimeModified values, compared as QuickBooks wrote them.

    QuickBooks writes local time with the company's (sometimes wrong in DST) offset; the marks are
    kept verbatim and compared on their date-and-time part, which is what QuickBooks filters on."""
    if candidate is None:
        return current
    if current is None or candidate[:19] > current[:19]:
        return candidate
    return current
