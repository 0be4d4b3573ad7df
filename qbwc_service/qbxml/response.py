"""Reading QuickBooks' answers leniently: response message sets and the first strHCPResponse."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from lxml import etree

from qbwc_service.qbxml.errors import MalformedQbxml
from qbwc_service.qbxml.xml import parse_untrusted


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
        found: dict[str, str] = {}
        if ret is None:
            return found
        for name in ("TxnID", "ListID", "RefNumber", "EditSequence", "TxnNumber", "FullName", "Name"):
            value = ret.findtext(name)
            if value is not None and name not in found:
                found[name] = value
        return found


def parse_message_set(text: str) -> list[Response]:
    """Every ``*Rs`` under QBXMLMsgsRs, in document order, whatever else the document holds."""
    root = parse_untrusted(text, lenient=True)
    msgs = root if root.tag == "QBXMLMsgsRs" else root.find("QBXMLMsgsRs")
    if msgs is None:
        raise MalformedQbxml(f"no QBXMLMsgsRs in the response (root element {root.tag!r})")
    return list(_responses(msgs))


def _responses(msgs: etree._Element) -> Iterator[Response]:
    for child in msgs:
        if not isinstance(child.tag, str) or not child.tag.endswith("Rs"):
            continue
        remaining = child.get("iteratorRemainingCount")
        yield Response(
            name=child.tag,
            request_id=child.get("requestID"),
            status_code=(child.get("statusCode") or "").strip() or "0",
            status_severity=child.get("statusSeverity") or "",
            status_message=child.get("statusMessage") or "",
            element=child,
            iterator_id=child.get("iteratorID"),
            iterator_remaining=int(remaining) if remaining and remaining.strip().isdigit() else None,
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
