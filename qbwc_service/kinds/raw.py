"""Raw jobs (one operator-supplied ``*Rq`` element, sent as it is) and list adds (an entry the service
creates before a document that needs it).

Both read an existing entry back and link to it after 3100 (the name is in use), instead of creating a
second one. A raw ``*ModRq`` re-reads its object after 3200 (stale EditSequence) and is sent again with the
fresh EditSequence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lxml import etree

from qbwc_service.db.models import Job
from qbwc_service.errors import InvalidJobPayload
from qbwc_service.kinds.base import Answer, BuildContext, Built, Progress, RequestKind, SettleContext, joined
from qbwc_service.qbxml.errors import MalformedQbxml
from qbwc_service.qbxml.response import Response
from qbwc_service.qbxml.status import Action, StatusCode, verdict_for
from qbwc_service.qbxml.xml import parse_untrusted
from qbwc_service.settlements import Continue, Dead, Done, Settlement

MAX_REQUERIES = 3
MAX_RAW_BYTES = 1024 * 1024
_REQUEST_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*Rq$")
_ENVELOPE_NAMES = {"QBXML", "QBXMLMsgsRq", "QBXMLMsgsRs", "SignonMsgsRq"}
_NAME_IN_USE = re.compile(r'name "(?P<name>[^"]*)"')

# List adds whose entry can be read back by full name with the query of the same type.
_LINKABLE_ADDS = frozenset({
    "CustomerAddRq", "VendorAddRq", "EmployeeAddRq", "OtherNameAddRq", "AccountAddRq", "ClassAddRq",
    "ItemInventoryAddRq", "ItemNonInventoryAddRq", "ItemServiceAddRq", "ItemOtherChargeAddRq",
})


def reads_again(decisive: Response, requeries: int) -> bool:
    """A change refused for a stale EditSequence is sent again after reading the record, MAX_REQUERIES times at
    most (the rule of every kind that sends a Mod)."""
    return verdict_for(decisive.status_code, decisive.status_severity).action is Action.REQUERY \
        and requeries < MAX_REQUERIES


class RawProgress(Progress):
    link_existing: str | None = None  # after 3100: the full name of the entry to read back and link to
    requery: bool = False  # after 3200: read the object again before re-sending
    requeries: int = 0
    edit_sequence: str | None = None  # the EditSequence a requery read back


@dataclass(frozen=True)
class Prepared:
    """A validated payload, ready for the queue."""

    kind: str
    payload: dict[str, Any]
    read_only: bool


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
    payload = {"request": etree.tostring(root, encoding="unicode")}
    return Prepared(RawKind.name, payload, read_only=RAW.reads_only(payload))


class RawKind(RequestKind[RawProgress]):
    name = "raw"
    progress_model = RawProgress
    requeries_mods = True

    def reads_only(self, payload: dict[str, Any]) -> bool:
        return str(parse_untrusted(payload["request"]).tag).endswith("QueryRq")

    def build(self, job: Job, ctx: BuildContext) -> Built:
        progress = self.progress(job)
        request = parse_untrusted(job.payload["request"])
        if progress.link_existing:
            return Built([existing_object_query(request, progress.link_existing)], looks_up=True)
        if progress.requery:
            target = modified_object(request)
            assert target is not None  # a requery is only planned for a Mod naming its object
            return Built([target.query], looks_up=True)
        if progress.edit_sequence:
            for sequence in request.iter("EditSequence"):
                sequence.text = progress.edit_sequence
        return Built([request])

    def settle(self, job: Job, answer: Answer, ctx: SettleContext) -> Settlement:
        progress = self.progress(job)
        if progress.requery:
            return self._requeried(progress, answer.responses)
        if progress.link_existing:
            return self._linked_existing(progress.link_existing, answer.responses)
        return super().settle(job, answer, ctx)

    def refused(self, job: Job, decisive: Response, responses: list[Response], ctx: SettleContext) -> Settlement:
        action = verdict_for(decisive.status_code, decisive.status_severity).action
        progress = self.progress(job)
        message = decisive.status_message.strip()
        if action is Action.LINK_EXISTING:
            full_name = plan_link_existing(parse_untrusted(job.payload["request"]), decisive.status_message)
            if full_name is not None:
                return Continue(f"{message} Reading the existing entry to link to it.",
                                progress.model_copy(update={"link_existing": full_name}))
        if self.requeries_mods and reads_again(decisive, progress.requeries) \
                and modified_object(parse_untrusted(job.payload["request"])) is not None:
            return Continue(f"{message} Reading the record again first.",
                            progress.model_copy(update={"requery": True, "requeries": progress.requeries + 1}))
        return super().refused(job, decisive, responses, ctx)

    def progress_on_retry(self, job: Job) -> Progress | None:
        return self.progress(job).model_copy(update={"link_existing": None, "requery": False})

    def _linked_existing(self, full_name: str, responses: list[Response]) -> Settlement:
        """The answer to reading the entry whose name was in use: the job is done, linked to it."""
        found = next((a for a in responses if a.ok and a.first_ret() is not None), None)
        if found is None:
            return Dead(f"The name {full_name!r} is in use in QuickBooks by another kind of list entry "
                        "(customer, vendor, employee or other name share one namespace); rename one of them.",
                        StatusCode.NAME_IN_USE, joined(responses))
        return Done(result={**found.ids(), "existed": True}, response_xml=found.text(),
                    status_code=StatusCode.NAME_IN_USE,
                    status_message=f"{full_name!r} already existed in QuickBooks; linked to it.")

    def _requeried(self, progress: RawProgress, responses: list[Response]) -> Settlement:
        """The answer to the read that follows a stale EditSequence: retry the Mod with the fresh one."""
        fresh = fresh_edit_sequence(responses)
        if fresh is None:
            first = responses[0]
            return Dead("The record this request modifies could not be read back from QuickBooks "
                        f"(it may have been deleted): {first.status_message}", first.status_code, joined(responses),
                        progress.model_copy(update={"requery": False}))
        return Continue(f"Read EditSequence {fresh}; sending the change again.",
                        progress.model_copy(update={"requery": False, "edit_sequence": fresh}))


class ListAddKind(RawKind):
    """A list entry created before the document that needs it. Sending it again is harmless: a second
    add of the same name answers 3100 and is linked to the entry the first one made."""

    name = "list_add"
    requeries_mods = False

    def reads_only(self, payload: dict[str, Any]) -> bool:
        return True


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


def plan_link_existing(request: etree._Element, message: str) -> str | None:
    """After 3100 on a list add: the full name of the existing entry to read back and link to; None when
    the request is not such an add or the entry cannot be named safely."""
    if request.tag not in _LINKABLE_ADDS or len(request) == 0:
        return None
    body = request[0]
    if body.find("ParentRef") is not None and not body.findtext("ParentRef/FullName"):
        return None  # a parent given by ListID: the full name is unknown here, so no safe lookup
    found = _NAME_IN_USE.search(message)
    name = body.findtext("Name")
    parent = body.findtext("ParentRef/FullName")
    if not name or (found and found["name"].casefold() != name.casefold()):
        # QuickBooks saw another name than the one asked for (respelled): the entry holding it may be another.
        return None
    return name if (":" in name or not parent) else f"{parent}:{name}"


def existing_object_query(request: etree._Element, full_name: str) -> etree._Element:
    """The query that reads the list entry a 3100 said exists, of the same type as the add (an entry of
    another type holding the name is not what the job wanted)."""
    query = etree.Element(f"{str(request.tag)[: -len('AddRq')]}QueryRq")
    etree.SubElement(query, "FullName").text = full_name
    return query


def fresh_edit_sequence(responses: list[Response]) -> str | None:
    """The EditSequence a requery read back, if QuickBooks found the object."""
    for response in responses:
        ret = response.first_ret()
        if response.ok and ret is not None and ret.findtext("EditSequence"):
            return ret.findtext("EditSequence")
    return None


RAW = RawKind()
LIST_ADD = ListAddKind()
KINDS = (RAW, LIST_ADD)
