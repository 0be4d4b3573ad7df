"""Reading QuickBooks' answers leniently: response message sets and the first strHCPResponse."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field

from lxml import etree

from qbwc_service.qbxml.stream import ResponseHeader, iter_responses
from qbwc_service.qbxml.xml import parse_untrusted

_ID_NAMES = ("TxnID", "ListID", "RefNumber", "EditSequence", "TxnNumber", "FullName", "Name")
_ID_ORDER = frozenset(_ID_NAMES)


@dataclass(frozen=True)
class Response:
    """One ``*Rs`` element of a response message set."""

    name: str
    request_id: str | None
    status_code: str
    status_severity: str
    status_message: str
    element: etree._Element
    iterator_id: str | None = None
    iterator_remaining: int | None = None

    @property
    def ok(self) -> bool:
        return self.status_code == "0"

    def text(self) -> str:
        return etree.tostring(self.element, encoding="unicode")

    def first_ret(self) -> etree._Element | None:
        for child in self.element:
            if isinstance(child.tag, str) and child.tag.endswith("Ret"):
                return child
        return None

    def ids(self) -> dict[str, str]:
        """TxnID / ListID / RefNumber / EditSequence of the first *Ret, where present."""
        ret = self.first_ret()
        if ret is None:
            return {}
        seen: dict[str, str] = {}
        for child in ret:  # one pass over the Ret's children, not one search per name
            tag = child.tag
            if tag in _ID_ORDER and tag not in seen:
                seen[tag] = child.text or ""
        return {name: seen[name] for name in _ID_NAMES if name in seen}


def parse_message_set(text: str) -> list[Response]:
    """Every ``*Rs`` under QBXMLMsgsRs, in document order, each with all its children in memory.

    For answers whose size is bounded (adds, single lookups). Big query answers are read record by
    record with :func:`qbwc_service.qbxml.stream.iter_responses` instead."""
    return [materialize(header, children) for header, children in iter_responses(text)]


def materialize(header: ResponseHeader, children: Iterable[etree._Element]) -> Response:
    """A whole ``*Rs`` element rebuilt from a streamed header and (copies of) its children."""
    element = etree.Element(header.name)
    for name, value in (("requestID", header.request_id), ("statusCode", header.status_code),
                        ("statusSeverity", header.status_severity), ("statusMessage", header.status_message)):
        if value is not None:
            element.set(name, value)
    for child in children:
        element.append(copy.deepcopy(child))
    return Response(
        name=header.name,
        request_id=header.request_id,
        status_code=header.status_code,
        status_severity=header.status_severity,
        status_message=header.status_message,
        element=element,
        iterator_id=header.iterator_id,
        iterator_remaining=header.iterator_remaining,
    )


@dataclass(frozen=True)
class HostInfo:
    """What strHCPResponse tells of the QuickBooks that answered."""

    product: str | None = None
    major_version: str | None = None
    country: str | None = None
    supported_versions: list[str] = field(default_factory=list)
    company_name: str | None = None
    file_id: str | None = None


def parse_host_info(text: str) -> HostInfo:
    """HostRet + CompanyRet from strHCPResponse (or from a probe's responses)."""
    root = parse_untrusted(text, lenient=True)
    return host_info_from(root)


def host_info_from(root: etree._Element) -> HostInfo:
    host = root.find(".//HostRet")
    company = root.find(".//CompanyRet")
    file_id = None
    if company is not None:
        for ext in company.findall("DataExtRet"):
            if (ext.findtext("DataExtName") or "") == "FileID":
                file_id = ext.findtext("DataExtValue")
    return HostInfo(
        product=_text(host, "ProductName"),
        major_version=_text(host, "MajorVersion"),
        country=_text(host, "Country"),
        supported_versions=[
            (v.text or "").strip() for v in (host.findall("SupportedQBXMLVersion") if host is not None else [])
        ],
        company_name=_text(company, "CompanyName"),
        file_id=file_id,
    )


def _text(parent: etree._Element | None, name: str) -> str | None:
    if parent is None:
        return None
    value = parent.findtext(name)
    return value.strip() if value is not None else None
