"""Property-based fuzzing of the SOAP endpoint (hypothesis), in-process through the whole app: every operation's
fields, and raw bodies (random bytes, and valid envelopes mutated, re-encoded and mislabelled).

Whatever arrives, the answer is a SOAP envelope: the operation's answer (200), or a fault with a 4xx, or with
the 500 SOAP 1.1 gives a fault that blames the request (faultcode Client.*); never a fault of the service's own
(faultcode Server), never the log line of an unexpected error. A refused call leaves the database as it was:
jobs, sessions, connections and the audit trail (a refused authenticate is counted against its client address,
the one row a refusal may write). A call under a live session's ticket may change that session, and is held to
the first two properties only.

The examples are drawn the same way on every run (profile ``qbwc-ci``, tests/conftest.py: 150 a property);
``--hypothesis-profile=qbwc-explore`` searches longer, at random.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree
from sqlalchemy import Engine

from tests.security.asgi import InProcessService, in_process_service
from tests.support import enqueue_customers, pair, snapshot, soap_envelope

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
TNS = "http://developer.intuit.com/"
OPERATIONS: dict[str, tuple[str, ...]] = {
    "serverVersion": (),
    "clientVersion": ("strVersion",),
    "authenticate": ("strUserName", "strPassword"),
    "sendRequestXML": ("ticket", "strHCPResponse", "strCompanyFileName", "qbXMLCountry", "qbXMLMajorVers",
                       "qbXMLMinorVers"),
    "receiveResponseXML": ("ticket", "response", "hresult", "message"),
    "connectionError": ("ticket", "hresult", "message"),
    "getLastError": ("ticket",),
    "closeConnection": ("ticket",),
    "getInteractiveURL": ("wcTicket", "sessionID"),
    "interactiveDone": ("wcTicket",),
    "interactiveRejected": ("wcTicket", "reason"),
}
NUMBERS = ("qbXMLMajorVers", "qbXMLMinorVers")

# Any character XML 1.0 can carry (lxml refuses to write the others into an envelope).
XML_TEXT = st.text(st.characters(blacklist_categories=("Cs",),
                                 blacklist_characters=[chr(c) for c in range(32) if c not in (9, 10, 13)]
                                 + ["\ufffe", "\uffff"]), max_size=300)
QBXMLISH = st.one_of(XML_TEXT, st.builds(
    lambda inner, code: f'<?xml version="1.0"?><QBXML><QBXMLMsgsRs><CustomerAddRs requestID="{inner[:8]}" '
                        f'statusCode="{code}" statusSeverity="Error" statusMessage="x">{inner}</CustomerAddRs>'
                        "</QBXMLMsgsRs></QBXML>",
    XML_TEXT, st.sampled_from(["0", "1", "3100", "-1", "x", ""])))
FIELD = st.one_of(XML_TEXT, QBXMLISH, st.integers(-(10**30), 10**30).map(str),
                  st.sampled_from(["", "0", "13", "US", "0x80040408", "C:\\Company.qbw", "W:", "2.3.0.215"]))
CONTENT_TYPES = st.sampled_from([
    "text/xml; charset=utf-8", "text/xml", "application/soap+xml; charset=UTF-8", "text/xml; charset=utf-16",
    "text/xml; charset=iso-8859-1", "text/xml; charset=utf-7", "text/xml; charset=\"utf-8\"", "application/json",
    "text/xml; charset=", "text/xml;;charset=utf-8;charset=latin1", "multipart/related; boundary=b", ""])


@pytest.fixture
def service(engine: Engine) -> Iterator[InProcessService]:
    # The limits raised: the fuzzer's one address would be locked out after 50 refusals, and the refusals
    # explored are the ordinary ones (a locked address's do the same work).
    with in_process_service(engine, auth_failures_per_address=10**9, auth_failures_per_username=10**9) as made:
        paired = pair(made.sessions)
        enqueue_customers(made.sessions, paired.id, ["Fuzz Customer"])
        made.app.state.paired = paired
        yield made


def assert_soap_answer(response: object, operation: str | None) -> etree._Element:
    import httpx

    assert isinstance(response, httpx.Response)
    assert response.headers["content-type"].startswith("text/xml"), (response.status_code, response.text[:300])
    root = etree.fromstring(response.content, etree.XMLParser(resolve_entities=False, no_network=True))
    assert root.tag == f"{{{SOAP_NS}}}Envelope", response.text[:300]
    fault = root.find(f"{{{SOAP_NS}}}Body/{{{SOAP_NS}}}Fault")
    if response.status_code == 200:
        assert fault is None and operation is not None, response.text[:300]
        assert root.find(f"{{{SOAP_NS}}}Body/{{{TNS}}}{operation}Response") is not None, response.text[:300]
        return root
    assert fault is not None, response.text[:300]
    code = fault.findtext("faultcode") or ""
    assert 400 <= response.status_code < 500 or (response.status_code == 500 and ":Client." in code), (
        response.status_code, code, fault.findtext("faultstring"))
    assert not code.endswith(":Server"), fault.findtext("faultstring")
    return root


def _no_unexpected_errors(caplog: pytest.LogCaptureFixture) -> None:
    unexpected = [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert not unexpected, [(r.name, r.getMessage()) for r in unexpected]


def _envelope(operation: str, values: dict[str, str | None]) -> bytes:
    return soap_envelope(operation, **{name: value for name, value in values.items() if value is not None})


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, dict[str, str | None]]:
    operation = draw(st.sampled_from(sorted(OPERATIONS)))
    values = {name: draw(st.none() | FIELD) for name in OPERATIONS[operation]}
    return operation, values


@pytest.mark.each_database
@given(call=calls())
def test_any_fields_of_any_operation_get_a_soap_answer_and_change_nothing(
        service: InProcessService, caplog: pytest.LogCaptureFixture, call: tuple[str, dict[str, str | None]]) -> None:
    operation, values = call
    before = snapshot(service.sessions)
    caplog.clear()
    assert_soap_answer(service.post(_envelope(operation, values), operation), operation)
    assert snapshot(service.sessions) == before
    _no_unexpected_errors(caplog)


@given(body=st.binary(max_size=3000), content_type=CONTENT_TYPES,
       action=st.sampled_from([None, "authenticate", "receiveResponseXML", "nonsense"]))
def test_random_bytes_get_a_soap_fault_and_change_nothing(
        service: InProcessService, caplog: pytest.LogCaptureFixture, body: bytes, content_type: str,
        action: str | None) -> None:
    before = snapshot(service.sessions)
    caplog.clear()
    response = service.post(body, action, content_type or None)
    assert_soap_answer(response, None)
    assert snapshot(service.sessions) == before
    _no_unexpected_errors(caplog)


INSERTIONS = [b"<", b">", b"&", b"<!DOCTYPE x>", b"<![CDATA[", b"\x00", b"\xff\xfe", b"&e;", b"<!--", b"]]>",
              b"\xc3", b"\x00\xd8", b"\xd8\x00"]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, str | None]:
    """A valid envelope (wrong credentials, unknown tickets), re-encoded, then a few bytes edited."""
    operation, values = draw(calls())
    text = _envelope(operation, values).decode()
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "utf-16-be", "iso-8859-1", "utf-7", "utf-32"]))
    if draw(st.booleans()):
        text = text.replace("encoding='utf-8'", f"encoding='{encoding}'")
    body = text.encode(encoding, errors="replace")
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(body)))
        edit = draw(st.sampled_from(["insert", "delete", "repeat", "cut"]))
        if edit == "insert":
            body = body[:at] + draw(st.sampled_from(INSERTIONS)) + body[at:]
        elif edit == "delete":
            body = body[:at] + body[at + draw(st.integers(1, 40)):]
        elif edit == "repeat":
            body = body[:at] + body[at:at + 50] * draw(st.integers(2, 30)) + body[at:]
        else:
            body = body[:at]
    return body, draw(CONTENT_TYPES | st.just(f"text/xml; charset={encoding}"))


@given(mutation=mutated(), action=st.sampled_from([None, "authenticate", "receiveResponseXML", "getLastError"]))
def test_mutated_envelopes_get_a_soap_answer_and_change_nothing(
        service: InProcessService, caplog: pytest.LogCaptureFixture, mutation: tuple[bytes, str | None],
        action: str | None) -> None:
    body, content_type = mutation
    before = snapshot(service.sessions)
    caplog.clear()
    response = service.post(body, action, content_type or None)
    assert_soap_answer(response, _answered(response.content))
    assert snapshot(service.sessions) == before
    _no_unexpected_errors(caplog)


@pytest.mark.each_database
@given(call=st.sampled_from(["sendRequestXML", "receiveResponseXML", "getLastError", "connectionError",
                             "closeConnection"]).flatmap(
    lambda operation: st.tuples(st.just(operation), st.fixed_dictionaries(
        {name: st.none() | FIELD for name in OPERATIONS[operation] if name != "ticket"}))))
def test_any_fields_under_a_live_ticket_get_a_protocol_answer(
        service: InProcessService, caplog: pytest.LogCaptureFixture, call: tuple[str, dict[str, str | None]]) -> None:
    operation, values = call
    paired = service.app.state.paired
    service.app.state.queued = getattr(service.app.state, "queued", 0) + 1
    enqueue_customers(service.sessions, paired.id, [f"Fuzz Customer {service.app.state.queued}"])  # a session opens
    answer = assert_soap_answer(service.post(soap_envelope("authenticate", strUserName=paired.username,
                                                           strPassword=paired.token), "authenticate"),
                                "authenticate")
    ticket, company_file = [element.text or "" for element in answer.iter(f"{{{TNS}}}string")][:2]
    assert ticket and company_file not in ("none", "busy", "nvu"), company_file
    if operation in ("receiveResponseXML", "connectionError", "closeConnection"):  # with a job in flight
        assert_soap_answer(service.post(soap_envelope(
            "sendRequestXML", ticket=ticket, strHCPResponse="", strCompanyFileName="", qbXMLCountry="US",
            qbXMLMajorVers="13", qbXMLMinorVers="0"), "sendRequestXML"), "sendRequestXML")
    caplog.clear()
    assert_soap_answer(service.post(_envelope(operation, {"ticket": ticket, **values}), operation), operation)
    _no_unexpected_errors(caplog)
    service.post(soap_envelope("closeConnection", ticket=ticket), "closeConnection")


@pytest.fixture
def small_cap(engine: Engine) -> Iterator[InProcessService]:
    with in_process_service(engine, max_small_body_bytes=1024, auth_failures_per_address=10**9) as made:
        yield made


@given(mutation=mutated(), padding=st.integers(0, 3000), where=st.sampled_from(["start", "end", "inside"]),
       action=st.sampled_from([None, "receiveResponseXML", "authenticate"]))
def test_bodies_over_the_small_cap_get_a_soap_fault_and_change_nothing(
        small_cap: InProcessService, caplog: pytest.LogCaptureFixture, mutation: tuple[bytes, str | None],
        padding: int, where: str, action: str | None) -> None:
    """What the first bytes of a body over the small cap say is read by the gate alone (no spyne behind it)."""
    body, content_type = mutation
    pad = b" " * padding
    body = {"start": pad + body, "end": body + pad,
            "inside": body[:len(body) // 2] + pad + body[len(body) // 2:]}[where]
    before = snapshot(small_cap.sessions)
    caplog.clear()
    response = small_cap.post(body, action, content_type or None)
    assert_soap_answer(response, _answered(response.content))
    assert snapshot(small_cap.sessions) == before
    _no_unexpected_errors(caplog)


def _answered(content: bytes) -> str | None:
    root = etree.fromstring(content)
    answered = next((child for child in root.iter() if str(child.tag).endswith("Response")), None)
    return str(answered.tag).split("}")[1][:-len("Response")] if answered is not None else None
