"""Attack 4: the DTD guard walked past through the charset. The guard looked for <!DOCTYPE in the raw bytes
while spyne decoded with the Content-Type's charset: with charset=utf-7 or unicode_escape a DTD reached libxml2
(500 and a traceback). Only UTF-8, UTF-16 and ISO-8859-1 are read, one charset per request, and the DTD check is
made on the text in that charset; what spyne parses is what was checked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lxml import etree
from sqlalchemy import Engine

from tests.security.asgi import InProcessService, in_process_service
from tests.support import pair, snapshot, soap_envelope

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
DTD_ENVELOPE = ('<!DOCTYPE x [<!ENTITY e "boom">]><soap:Envelope xmlns:soap="' + SOAP_NS + '"><soap:Body>'
                '<getLastError xmlns="http://developer.intuit.com/"><ticket>&e;</ticket></getLastError>'
                "</soap:Body></soap:Envelope>")


@pytest.fixture
def service(engine: Engine) -> Iterator[InProcessService]:
    with in_process_service(engine) as made:
        yield made


def _utf7_with_a_hidden_dtd() -> bytes:
    # '<' is '+ADw-' in UTF-7: not one '<!DOCTYPE' in the bytes
    return DTD_ENVELOPE.replace("<!", "+ADwAIQ-").encode("ascii")


REFUSED = {
    # name: (body, Content-Type, status, words of the fault)
    "UTF-7 in the Content-Type, DTD hidden": (_utf7_with_a_hidden_dtd(), "text/xml; charset=utf-7", 400,
                                              "not accepted"),
    "unicode_escape in the Content-Type": (DTD_ENVELOPE.replace("<!", "\\u003c!").encode(),
                                           "text/xml; charset=unicode_escape", 400, "not accepted"),
    "EBCDIC in the Content-Type": (DTD_ENVELOPE.encode("cp037"), "text/xml; charset=cp037", 400, "not accepted"),
    "EBCDIC bytes, no charset named": (DTD_ENVELOPE.encode("cp037"), "text/xml", 400, "not an XML document"),
    "UTF-32 bytes": (DTD_ENVELOPE.encode("utf-32"), "text/xml", 400, "UTF-32"),
    "UTF-7 in the XML declaration": (b'<?xml version="1.0" encoding="UTF-7"?>' + _utf7_with_a_hidden_dtd(),
                                     "text/xml", 400, "not accepted"),
    "a quoted, odd charset": (soap_envelope("serverVersion"), 'text/xml; charset="x-mac-roman"', 400, "not accepted"),
    "UTF-16 with a DTD": (DTD_ENVELOPE.encode("utf-16"), "text/xml; charset=utf-16", 400, "DTD"),
    "UTF-16 with a DTD, no charset named": (DTD_ENVELOPE.encode("utf-16"), "text/xml", 400, "DTD"),
    "UTF-16 without a byte order mark, with a DTD": (DTD_ENVELOPE.encode("utf-16-be"), "text/xml", 400, "DTD"),
    "ISO-8859-1 with a DTD": (DTD_ENVELOPE.encode("latin-1"), "text/xml; charset=iso-8859-1", 400, "DTD"),
    "a lower-case doctype": (DTD_ENVELOPE.replace("DOCTYPE", "doctype").encode(), "text/xml", 400, "DTD"),
    "UTF-16 said to be UTF-8": (soap_envelope("serverVersion").decode().replace("utf-8", "utf-16").encode("utf-16"),
                                "text/xml; charset=utf-8", 400, "two different charsets"),
    "ISO-8859-1 declared, UTF-8 in the Content-Type": (
        soap_envelope("serverVersion").replace(b"utf-8", b"ISO-8859-1"), "text/xml; charset=utf-8", 400,
        "two different charsets"),
    "UTF-16 named, ASCII bytes": (soap_envelope("serverVersion"), "text/xml; charset=utf-16", 400, "not UTF-16"),
    "an odd number of UTF-16 bytes": (soap_envelope("serverVersion").decode().replace("utf-8", "utf-16")
                                      .encode("utf-16") + b"<", "text/xml", 400, "not valid"),
    "multipart (spyne would unpack its parts)": (soap_envelope("serverVersion"), "multipart/related; boundary=x", 415,
                                                 "text/xml"),
    "no Content-Type": (soap_envelope("serverVersion"), None, 415, "text/xml"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_charset_or_dtd_the_guard_cannot_vouch_for_is_a_soap_fault(service: InProcessService, case: str) -> None:
    body, content_type, status, words = REFUSED[case]
    paired = pair(service.sessions)
    before = snapshot(service.sessions)
    response = service.post(body, "getLastError", content_type)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/xml")
    fault = etree.fromstring(response.content).find(f".//{{{SOAP_NS}}}Fault")
    assert fault is not None and words in (fault.findtext("faultstring") or "")
    assert snapshot(service.sessions) == before
    assert paired.username


def _authenticate(username: str, token: str, encoding: str) -> bytes:
    envelope = soap_envelope("authenticate", strUserName=username, strPassword=token).decode()
    assert "encoding='utf-8'" in envelope
    return envelope.replace("encoding='utf-8'", f"encoding='{encoding}'").encode(
        "utf-16" if encoding.startswith("UTF-16") else encoding)


@pytest.mark.parametrize(("encoding", "content_type"), [
    ("utf-8", "text/xml; charset=utf-8"), ("UTF-16", "text/xml; charset=utf-16"), ("UTF-16", "text/xml"),
    ("ISO-8859-1", "text/xml; charset=ISO-8859-1"), ("ISO-8859-1", "application/soap+xml"),
    ("latin-1", 'text/xml; charset="latin1"'),
])
def test_the_three_charsets_are_read(service: InProcessService, encoding: str, content_type: str) -> None:
    paired = pair(service.sessions)
    response = service.post(_authenticate(paired.username, paired.token, encoding), "authenticate", content_type)
    assert response.status_code == 200, response.text
    assert b"nvu" not in response.content and b"authenticateResult" in response.content


def test_iso_8859_1_text_reaches_the_protocol_as_written(service: InProcessService,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    body = _authenticate("Zoë Ångström", "x", "ISO-8859-1")
    assert "Zoë".encode("latin-1") in body
    response = service.post(body, "authenticate", "text/xml; charset=iso-8859-1")
    assert response.status_code == 200 and b"nvu" in response.content
    assert [getattr(r, "username", None) for r in caplog.records if r.msg == "authenticate refused"] == ["Zoë Ångström"]


@pytest.mark.parametrize("size", [100, 3000], ids=["under the small cap", "over it"])
def test_invalid_utf16_is_a_soap_fault_however_long(engine: Engine, size: int) -> None:
    """Over the small cap, only the first bytes are read (to find the call): they are decoded alone."""
    lone_surrogate = "<soap:Envelope xmlns:soap='http://schemas.xmlsoap.org/soap/envelope/'>".encode("utf-16")
    body = lone_surrogate + b"\x00\xd8" + " ".encode("utf-16-le") * size
    assert (len(body) < 1024) == (size == 100)
    with in_process_service(engine, max_small_body_bytes=1024) as service:
        response = service.post(body, None, "text/xml")
    assert response.status_code == 400 and b"not valid UTF-16" in response.content
