"""The qbXML request message set: prolog, version, onError, requestIDs."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass

from lxml import etree
from lxml.builder import E

from qbwc_service.qbxml.versions import Version, format_version

ON_ERROR_VALUES = ("continueOnError", "stopOnError", "rollbackOnError")


@dataclass(frozen=True)
class Request:
    """One ``*Rq`` element and the requestID it travels with."""

    request_id: str
    element: etree._Element


def build_message_set(
    requests: Iterable[Request], version: Version, on_error: str = "continueOnError"
) -> str:
    """One qbXML document holding every request, each stamped with its requestID."""
    if on_error not in ON_ERROR_VALUES:
        raise ValueError(f"onError must be one of {ON_ERROR_VALUES}")
    msgs = E.QBXMLMsgsRq(onError=on_error)
    for request in requests:
        element = _copy(request.element)
        element.set("requestID", request.request_id)
        msgs.append(element)
    body = etree.tostring(E.QBXML(msgs), encoding="unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="{format_version(version)}"?>\n{body}'


def _copy(element: etree._Element) -> etree._Element:
    # Elements may belong to another tree (a stored payload); never move them out of it. A deep copy in lxml's C
    # code, not a round trip through text.
    copied = copy.deepcopy(element)
    copied.tail = None
    return copied
