"""What each kind of job sends to QuickBooks and what its answer means.

``raw``: one operator-supplied ``*Rq`` element, sent as it is.
``probe``: HostQuery + CompanyQuery, read-only: the "test access" round trip through QuickBooks.
``pull``: page through a query of one entity with an iterator (see qbwc_service.pulls).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from lxml import etree
from lxml.builder import E
from sqlalchemy.orm import Session

from qbwc_service import sync
from qbwc_service.db.models import Connection, Job
from qbwc_service.errors import InvalidJobPayload
from qbwc_service.pulls import PULL, build_pull, prepare_pull
from qbwc_service.qbxml.errors import MalformedQbxml
from qbwc_service.qbxml.response import Response, host_info_from
from qbwc_service.qbxml.versions import Version, format_version, parse_version
from qbwc_service.qbxml.xml import parse_untrusted

RAW, PROBE = "raw", "probe"
MAX_REQUERIES = 3
MAX_RAW_BYTES = 1024 * 1024
_REQUEST_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*Rq$")
_ENVELOPE_NAMES = {"QBXML", "QBXMLMsgsRq", "QBXMLMsgsRs", "SignonMsgsRq"}


@dataclass(frozen=True)
class Prepared:
    """A validated payload, ready for queue.enqueue."""

    kind: str
    payload: dict[str, Any]
    read_only: bool


@dataclass
class Outcome:
    """What the responses to one job amount to: the first non-OK status decides."""

    responses: list[Response]
    result: dict[str, Any] = field(default_factory=dict)
    decisive: Response | None = None


def prepare_raw(text: str) -> Prepared:
    """Check an operator-supplied request: well-formed, one qbXML ``*Rq`` element, no DTD."""
    if len(text.encode("utf-8")) > MAX_RAW_BYTES:
        raise InvalidJobPayload(f"the request is larger than {MAX_RAW_BYTES} bytes")
    try:
        root = parse_untrusted(text)
    except MalformedQbxml as exc:
        raise InvalidJobPayload(f"the request is not usable XML: {exc}") from exc
    name = root.tag if isinstance(root.tag, str) else ""
    if name in _ENVELOPE_NAMES or not _REQUEST_NAME.match(name):
        raise InvalidJobPayload(
            f"the request's root element is <{name}>; it must be one qbXML request element such as "
            "<CustomerAddRq> or <InvoiceQueryRq>, without the QBXML/QBXMLMsgsRq envelope"
        )
    if len(root) == 0 and not name.endswith("QueryRq"):
        raise InvalidJobPayload(f"<{name}> is empty; an add or modify request needs its content")
    if "requestID" in root.attrib:
        del root.attrib["requestID"]
    return Prepared(RAW, {"request": etree.tostring(root, encoding="unicode")}, read_only=name.endswith("QueryRq"))


def prepare_probe() -> Prepared:
    return Prepared(PROBE, {}, read_only=True)


@dataclass(frozen=True)
class BuildContext:
    """What a request may depend on besides the job: the negotiated version, the session, and the
    high-water mark of a pull's stream."""

    version: Version
    ticket: str
    mark: Callable[[Job], str | None]
    db: Session
    connection: Connection
    sync_date: date


def build_requests(job: Job, context: BuildContext) -> list[etree._Element]:
    if (job.cursor or {}).get("link_existing"):
        return [existing_object_query(job)]
    if job.kind == PULL:
        return [build_pull(job, context.version, context.ticket, context.mark(job))]
    if job.kind in sync.KINDS:
        return sync.build_requests(context.db, job, context.connection, context.version, context.sync_date)
    builder = _BUILDERS.get(job.kind)
    if builder is None:
        raise InvalidJobPayload(f"job {job.id} has an unknown kind {job.kind!r}")
    return builder(job)


def prepare_pull_job(entity: str, *, max_returned: int = 100, since: str | None = None) -> Prepared:
    return Prepared(PULL, prepare_pull(entity, max_returned=max_returned, since=since), read_only=True)


def summarize(job: Job, responses: list[Response]) -> Outcome:
    """The decisive response (the first whose status is not 0 or 1) and the job's result."""
    outcome = Outcome(responses)
    for response in responses:
        if response.status_code not in ("0", "1"):
            outcome.decisive = response
            break
    if job.kind == PROBE:
        outcome.result = _probe_result(responses)
    elif responses:
        outcome.result = {key: value for key, value in responses[0].ids().items()}
        if responses[0].status_code == "1":
            outcome.result["matched"] = 0
    return outcome


def _raw_requests(job: Job) -> list[etree._Element]:
    request = parse_untrusted(job.payload["request"])
    cursor = job.cursor or {}
    if cursor.get("requery"):
        target = modified_object(request)
        assert target is not None  # a requery is only planned for a Mod naming its object
        return [target.query]
    if cursor.get("edit_sequence"):
        for sequence in request.iter("EditSequence"):
            sequence.text = cursor["edit_sequence"]
    return [request]


@dataclass(frozen=True)
class ModTarget:
    """The object a ``*ModRq`` changes, and the query that reads its current EditSequence."""

    id_tag: str
    object_id: str
    query: etree._Element


def modified_object(request: etree._Element) -> ModTarget | None:
    """For ``XxxModRq`` naming a ListID or TxnID: the ``XxxQueryRq`` that reads it back."""
    name = request.tag if isinstance(request.tag, str) else ""
    if not name.endswith("ModRq") or len(request) == 0:
        return None
    entity = name[: -len("ModRq")]
    body = request[0]
    for id_tag in ("TxnID", "ListID"):
        object_id = body.findtext(id_tag)
        if object_id:
            query = etree.Element(f"{entity}QueryRq")
            etree.SubElement(query, id_tag).text = object_id
            return ModTarget(id_tag, object_id, query)
    return None


def plan_requery(job: Job) -> dict[str, Any] | None:
    """After 3200 (stale EditSequence): the cursor that makes the job read the object again first,
    or None when the job is not a Mod the service can re-read, or has re-read too often."""
    if job.kind != RAW:
        return None
    cursor = dict(job.cursor or {})
    if cursor.get("requeries", 0) >= MAX_REQUERIES:
        return None
    if modified_object(parse_untrusted(job.payload["request"])) is None:
        return None
    cursor.update(requery=True, requeries=int(cursor.get("requeries", 0)) + 1)
    return cursor


_NAME_IN_USE = re.compile(r'name "(?P<name>[^"]*)"')
# List adds whose entry can be read back by full name with the query of the same type.
_LINKABLE_ADDS = frozenset({
    "CustomerAddRq", "VendorAddRq", "EmployeeAddRq", "OtherNameAddRq", "AccountAddRq", "ClassAddRq",
    "ItemInventoryAddRq", "ItemNonInventoryAddRq", "ItemServiceAddRq", "ItemOtherChargeAddRq",
})


def plan_link_existing(job: Job, message: str) -> dict[str, Any] | None:
    """After 3100 (the name is in use) on a list add: the cursor that makes the job read the existing
    entry, to link to it instead of creating a second one; None when the job is not such an add."""
    if job.kind not in (RAW, sync.LIST_ADD) or (job.cursor or {}).get("link_existing"):
        return None
    request = parse_untrusted(job.payload["request"])
    if request.tag not in _LINKABLE_ADDS or len(request) == 0:
        return None
    body = request[0]
    if body.find("ParentRef") is not None and not body.findtext("ParentRef/FullName"):
        return None  # a parent given by ListID: the full name is unknown here, so no safe lookup
    found = _NAME_IN_USE.search(message)
    # QuickBooks names what it saw (after the service made the text safe); prefer that to the payload.
    name = found["name"] if found else body.findtext("Name")
    parent = body.findtext("ParentRef/FullName")
    if not name:
        return None
    full_name = name if (":" in name or not parent) else f"{parent}:{name}"
    return {**(job.cursor or {}), "link_existing": full_name}


def existing_object_query(job: Job) -> etree._Element:
    """The query that reads the list entry a 3100 said exists, of the same type as the add (an entry of
    another type holding the name is not what the job wanted)."""
    entity = str(parse_untrusted(job.payload["request"]).tag)[: -len("AddRq")]
    query = etree.Element(f"{entity}QueryRq")
    etree.SubElement(query, "FullName").text = str((job.cursor or {})["link_existing"])
    return query


def fresh_edit_sequence(responses: list[Response]) -> str | None:
    """The EditSequence a requery read back, if QuickBooks found the object."""
    for response in responses:
        ret = response.first_ret()
        if response.ok and ret is not None and ret.findtext("EditSequence"):
            return ret.findtext("EditSequence")
    return None


def _probe_requests(job: Job) -> list[etree._Element]:
    return [E.HostQueryRq(), E.CompanyQueryRq()]


def _probe_result(responses: list[Response]) -> dict[str, Any]:
    holder = E.Probe(*[etree.fromstring(r.text()) for r in responses])
    info = host_info_from(holder)
    return {
        "company_name": info.company_name,
        "product": info.product,
        "major_version": info.major_version,
        "country": info.country,
        "supported_versions": info.supported_versions,
        "highest_version": _highest(info.supported_versions),
    }


def _highest(versions: list[str]) -> str | None:
    known = [v for v in (parse_version(text) for text in versions) if v is not None]
    return format_version(max(known)) if known else None


_BUILDERS: dict[str, Callable[[Job], list[etree._Element]]] = {RAW: _raw_requests, PROBE: _probe_requests}
