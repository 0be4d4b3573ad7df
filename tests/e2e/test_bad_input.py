"""Bad input gets a clear protocol or HTTP error, changes nothing, and the service keeps serving."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import connections
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from qbwc_service.simulate.webconnector import WebConnectorClient
from tests.conftest import LiveServer, run_server
from tests.support import (
    enqueue_customers,
    jobs,
    pair,
    post_soap,
    snapshot,
    soap_envelope,
    soap_result,
)


def _still_serving(server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/healthz", timeout=10).json()["status"] == "ok"
    result = soap_result(post_soap(server.soap_url, "serverVersion", soap_envelope("serverVersion")), "serverVersion")
    assert (result.text or "").startswith("qbwc-service")


def _auth(server: LiveServer, username: str, password: str) -> list[str]:
    result = soap_result(post_soap(server.soap_url, "authenticate",
                                   soap_envelope("authenticate", strUserName=username, strPassword=password)),
                         "authenticate")
    return [child.text or "" for child in result]


def test_wrong_token_is_nvu_and_recorded(server: LiveServer) -> None:
    paired = pair(server.sessions)
    enqueue_customers(server.sessions, paired.id, ["X"])
    before = snapshot(server.sessions)[:3]
    assert _auth(server, paired.username, paired.token + "x") == ["", "nvu"]
    assert _auth(server, "nobody", paired.token) == ["", "nvu"]
    assert snapshot(server.sessions)[:3] == before
    with server.sessions.begin() as db:
        seen = connections.get_connection(db, paired.name)
        # kept apart from the last successful authentication, which a stranger's wrong token must not overwrite
        assert seen.last_failed_auth_outcome == "wrong-password" and seen.last_failed_auth_at is not None
        assert seen.last_auth_outcome is None and seen.last_contact_at is None
    _still_serving(server)


def test_revoked_and_rotated_tokens_stop_working(server: LiveServer) -> None:
    paired = pair(server.sessions)
    enqueue_customers(server.sessions, paired.id, ["X"])
    with server.sessions.begin() as db:
        connections.revoke(db, paired.name)
    assert _auth(server, paired.username, paired.token) == ["", "nvu"]
    with server.sessions.begin() as db:
        assert connections.get_connection(db, paired.name).last_failed_auth_outcome == "revoked"
        new_token = connections.rotate_token(db, paired.name).token
    assert _auth(server, paired.username, paired.token) == ["", "nvu"]
    ticket, path = _auth(server, paired.username, new_token)
    assert ticket and path == ""
    # rotating again ends the live session of the old computer at once
    with server.sessions.begin() as db:
        connections.rotate_token(db, paired.name)
    client = WebConnectorClient(server.soap_url, paired.username, new_token, QuickBooksCompany())
    assert client.send_request_xml(ticket, "", "", "US", 13, 0) == ""
    assert [j.status for j in jobs(server.sessions)] == ["queued"]


def test_unknown_ticket_gets_protocol_answers(server: LiveServer) -> None:
    paired = pair(server.sessions)
    enqueue_customers(server.sessions, paired.id, ["X"])
    before = snapshot(server.sessions)
    client = WebConnectorClient(server.soap_url, paired.username, paired.token, QuickBooksCompany())
    for ticket in ("no-such-ticket", "", "x" * 500):
        assert client.send_request_xml(ticket, "", "", "US", 13, 0) == ""
        assert client.receive_response_xml(ticket, "<QBXML/>", "", "") < 0
        assert "ticket" in client.get_last_error(ticket).lower()
        assert client.connection_error(ticket, "0x80040408", "x").lower() == "done"
        assert client.close_connection(ticket)
    assert snapshot(server.sessions) == before
    _still_serving(server)


def test_expired_ticket_gets_protocol_answers_and_frees_the_connection(server: LiveServer) -> None:
    paired = pair(server.sessions)
    enqueue_customers(server.sessions, paired.id, ["X"])
    client = WebConnectorClient(server.soap_url, paired.username, paired.token, QuickBooksCompany())
    ticket = client.authenticate(paired.username, paired.token)[0]
    server.clock.advance(hours=2)  # the session's lease runs out
    assert client.send_request_xml(ticket, "", "", "US", 13, 0) == ""
    assert client.receive_response_xml(ticket, "<QBXML/>", "", "") < 0
    assert "expired" in client.get_last_error(ticket).lower()
    assert [j.status for j in jobs(server.sessions)] == ["queued"]
    assert client.run_session().outcome == "done"  # the connection is free for a new session


BAD_BODIES = {
    "empty": b"",
    "whitespace only": b" \r\n\t",
    "malformed SOAP": b'<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soap:Body><authenticate xmlns='http://developer.intuit.com/'><strUserName>a</soap:Body>",
    "not XML": b"this is not xml at all {json: true}",
    "wrong operation": b'<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soap:Body><dropTables xmlns='http://developer.intuit.com/'/></soap:Body></soap:Envelope>",
    "entity bomb": b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;'
    b'&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    b"<authenticate xmlns='http://developer.intuit.com/'><strUserName>&lol3;</strUserName>"
    b"<strPassword>x</strPassword></authenticate></soap:Body></soap:Envelope>",
    "external entity": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    b"<getLastError xmlns='http://developer.intuit.com/'><ticket>&e;</ticket></getLastError>"
    b"</soap:Body></soap:Envelope>",
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bad_bodies_get_a_soap_fault_and_change_nothing(server: LiveServer, case: str) -> None:
    paired = pair(server.sessions)
    enqueue_customers(server.sessions, paired.id, ["X"])
    before = snapshot(server.sessions)
    response = post_soap(server.soap_url, "authenticate", BAD_BODIES[case])
    assert 400 <= response.status_code < 600
    assert response.headers["content-type"].startswith("text/xml")
    assert b"Fault" in response.content and b"root:" not in response.content
    assert snapshot(server.sessions) == before
    _still_serving(server)


def test_a_body_over_the_limit_is_refused(settings, engine, sessions: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
    small = settings.model_copy(update={"max_body_bytes": 4096})
    for server in run_server(small, engine, sessions):
        paired = pair(sessions)
        before = snapshot(sessions)
        big = soap_envelope("authenticate", strUserName=paired.username, strPassword="x" * 10_000)
        response = post_soap(server.soap_url, "authenticate", big)
        assert response.status_code == 413
        assert response.headers["content-type"].startswith("text/xml")
        assert b"limit" in response.content
        # the same without a Content-Length header (chunked)
        chunked = httpx.post(server.soap_url, content=iter([big[:3000], big[3000:]]), timeout=30,
                             headers={"Content-Type": "text/xml; charset=utf-8",
                                      "SOAPAction": '"http://developer.intuit.com/authenticate"'})
        assert chunked.status_code == 413
        assert snapshot(sessions) == before
        _still_serving(server)


def test_an_unexpected_error_still_answers_soap(server: LiveServer) -> None:
    paired = pair(server.sessions)
    enqueue_customers(server.sessions, paired.id, ["X"])
    client = WebConnectorClient(server.soap_url, paired.username, paired.token, QuickBooksCompany())
    ticket = client.authenticate(paired.username, paired.token)[0]
    server.clock.fail_with(RuntimeError("the service broke"))
    assert client.send_request_xml(ticket, "", "", "US", 13, 0) == ""
    assert client.receive_response_xml(ticket, "<QBXML/>", "", "") == -1
    server.clock.fail_with(None)
    assert client.close_connection(ticket)


def test_a_utf16_entity_bomb_is_refused_for_its_dtd_once_decoded(server: LiveServer) -> None:
    paired = pair(server.sessions)
    before = snapshot(server.sessions)
    body = BAD_BODIES["entity bomb"].decode().replace('encoding="utf-8"', "").encode("utf-16")
    response = httpx.post(server.soap_url, content=body, timeout=30,
                          headers={"Content-Type": "text/xml; charset=utf-16"})
    assert response.status_code == 400 and b"DTD" in response.content
    # the same bytes said to be UTF-8: two charsets named, refused before anything is read
    response = post_soap(server.soap_url, "authenticate", body)
    assert response.status_code == 400 and b"charsets" in response.content
    assert snapshot(server.sessions) == before
    assert paired.username
    _still_serving(server)


def test_rotating_the_token_mid_session_leaves_no_job_in_flight(server: LiveServer) -> None:
    paired = pair(server.sessions)
    enqueue_customers(server.sessions, paired.id, ["In Flight One", "In Flight Two"])
    company = QuickBooksCompany()
    old = WebConnectorClient(server.soap_url, paired.username, paired.token, company)
    ticket = old.authenticate(paired.username, paired.token)[0]
    assert old.send_request_xml(ticket, company.hcp_response(), company.company_file, "US", 13, 0)
    assert {j.status for j in jobs(server.sessions)} == {"sent"}
    with server.sessions.begin() as db:
        token = connections.rotate_token(db, paired.name).token
    new = WebConnectorClient(server.soap_url, paired.username, token, company)
    assert new.run_session().outcome == "nothing-to-do"
    # the answer to what was sent can no longer come: the writes wait for an operator, not forever in flight
    assert {j.status for j in jobs(server.sessions)} == {"unknown"}


def test_repeated_wrong_tokens_do_not_grow_the_audit_trail(server: LiveServer) -> None:
    from sqlalchemy import func, select

    from qbwc_service.db.models import Event

    paired = pair(server.sessions)
    for _ in range(20):
        assert _auth(server, paired.username, "wrong") == ["", "nvu"]
    with server.sessions.begin() as db:
        refused = db.scalar(select(func.count()).select_from(Event).where(Event.kind == "auth-refused"))
    assert refused == 1
