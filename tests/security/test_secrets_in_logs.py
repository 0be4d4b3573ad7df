"""Attack 3: the token in the log. A truncated authenticate envelope carrying the real token was logged by spyne
at the default level. No secret reaches a log, at any level: every failure path is tried with the real token,
against `serve` logging at DEBUG, and its whole output is searched for any part of the token."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from tests.security.serving import serving
from tests.support import pair, soap_envelope


def _envelope(operation: str, **fields: str) -> bytes:
    return soap_envelope(operation, **fields)


def failure_paths(username: str, token: str) -> dict[str, tuple[str | None, bytes, str]]:
    """Requests that fail, each carrying ``token``: (SOAPAction operation, body, Content-Type)."""
    xml = "text/xml; charset=utf-8"
    auth = _envelope("authenticate", strUserName=username, strPassword=token)
    return {
        "unknown user, the real token": ("authenticate", _envelope("authenticate", strUserName="nobody",
                                                                   strPassword=token), xml),
        "truncated authenticate": ("authenticate", auth[:-40], xml),
        "truncated inside the token": ("authenticate", auth[:auth.index(token.encode()) + 20], xml),
        "not well-formed": ("authenticate", auth.replace(b"</strPassword>", b"</strPasswd>"), xml),
        "unknown operation": ("dropTables", _envelope("dropTables", token=token), xml),
        "a field spyne does not know": ("authenticate", _envelope("authenticate", strUserName=username,
                                                                  strPassword=token, strExtra=token), xml),
        "the token where a number goes": ("sendRequestXML", _envelope(
            "sendRequestXML", ticket=token, strHCPResponse="", strCompanyFileName="", qbXMLCountry="US",
            qbXMLMajorVers=token, qbXMLMinorVers="0"), xml),
        "the token as a ticket": ("getLastError", _envelope("getLastError", ticket=token), xml),
        "the token as a ticket, closing": ("closeConnection", _envelope("closeConnection", ticket=token), xml),
        "the token as an answer": ("receiveResponseXML", _envelope("receiveResponseXML", ticket=token,
                                   response=token, hresult="", message=""), xml),
        "a DTD": ("authenticate", b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "' + token.encode() + b'">]>'
                  + auth[auth.index(b"<soap:Envelope"):], xml),
        "a charset refused": ("authenticate", auth, "text/xml; charset=utf-7"),
        "a media type refused": ("authenticate", auth, "multipart/related; boundary=x"),
        "over the size limit": ("authenticate", _envelope("authenticate", strUserName=username,
                                                          strPassword=token + "x" * 70_000), xml),
        "UTF-16 said to be UTF-8": ("authenticate", auth.decode().replace('encoding="utf-8"', "").encode("utf-16"),
                                    xml),
        "ISO-8859-1 that is not": ("authenticate", auth + b"\xff", "text/xml; charset=utf-16"),
    }


@pytest.mark.each_database
def test_no_failure_path_logs_the_token_at_any_level(tmp_path: Path, database_url: str,
                                                    sessions: sessionmaker[Session]) -> None:
    paired = pair(sessions)
    elsewhere = {"X-Forwarded-For": "203.0.113.5"}  # serve trusts a proxy on 127.0.0.1 to name the client
    with serving(tmp_path, database_url, log_level="DEBUG", auth_failures_per_username="2") as served:
        status, answer = served.post(_envelope("authenticate", strUserName=paired.username, strPassword=paired.token))
        assert status == 200 and b"nvu" not in answer  # the path that succeeds, for good measure
        for case, (operation, body, content_type) in failure_paths(paired.username, paired.token).items():
            status, answer = served.post(body, operation, content_type)
            assert status != 200 or b"nvu" in answer or case.startswith("the token as"), case
        # a locked username: refused whatever the token, the real one included
        for _ in range(2):
            served.post(_envelope("authenticate", strUserName=paired.username, strPassword="guess"), headers=elsewhere)
        status, answer = served.post(_envelope("authenticate", strUserName=paired.username,
                                               strPassword=paired.token), headers=elsewhere)
        assert status == 200 and b"nvu" in answer
    log = served.output()
    assert b"DEBUG qbwc_service" in log and b"authenticate refused" in log and b"SOAP request refused" in log
    assert b"authentication locked for a username" in log and b"203.0.113.5" in log
    token = paired.token.encode()
    for start in range(0, len(token) - 8):
        assert token[start:start + 8] not in log, f"a part of the token is in the log: {token[start:start + 8]!r}"


@pytest.mark.each_database
def test_a_database_error_names_no_value(engine: Engine) -> None:
    """Every engine hides its parameters: a failed statement, logged with its error, shows none of its values."""
    with pytest.raises(DBAPIError) as raised, engine.connect() as conn:
        conn.execute(text("SELECT no_such_column FROM qbwc_connections WHERE username = :name"),
                     {"name": "a-secret-value-42"})
    assert "a-secret-value-42" not in str(raised.value) and "hidden" in str(raised.value)
