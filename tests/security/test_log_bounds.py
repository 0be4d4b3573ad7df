"""Attack 1: disk filling, unauthenticated. A 10 MiB username grew the log by 10 MiB and a malformed 10 MiB body
was logged whole by spyne: six requests added 755 MB. Every logged value is bounded, and spyne never logs a body."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from qbwc_service.logs import MESSAGE_CHARS, TRACEBACK_CHARS, ContextFormatter
from tests.security.serving import serving
from tests.support import soap_envelope

TEN_MIB = 10 * 1024 * 1024
LOG_GROWTH_BOUND = 4096
"""What one refused request may add to the log, in bytes: a few lines of a few hundred characters."""
BODIES = {
    "10 MiB username": ("authenticate", soap_envelope("authenticate", strUserName="u" * TEN_MIB, strPassword="x")),
    "malformed 10 MiB body": ("authenticate", b"<soap:Envelope xmlns:soap='http://schemas.xmlsoap.org/soap/envelope/'>"
                              b"<soap:Body><authenticate><strUserName>" + b"A" * TEN_MIB),
    "10 MiB where a number goes": ("sendRequestXML", soap_envelope("sendRequestXML", ticket="t", strHCPResponse="",
                                   strCompanyFileName="", qbXMLCountry="US", qbXMLMajorVers="9" * TEN_MIB,
                                   qbXMLMinorVers="0")),
    "10 MiB ticket": ("getLastError", soap_envelope("getLastError", ticket="t" * TEN_MIB)),
}


def test_ten_mib_requests_add_a_few_lines_to_the_log(tmp_path: Path, database_url: str) -> None:
    # The small-body cap raised above the bodies, so that each reaches spyne and the protocol (the default cap
    # refuses them unread, as the second half checks), and every logger at DEBUG.
    with serving(tmp_path / "raised", database_url, log_level="DEBUG", max_small_body_bytes=str(TEN_MIB + 4096),
                 small_bodies_budget_bytes=str(4 * TEN_MIB)) as served:
        for case, (operation, body) in BODIES.items():
            before = served.log_size()
            status, _answer = served.post(body, operation, timeout=60)
            assert status in (200, 400, 500), case
            _wait_for_the_access_line(served.log, before)
            assert served.log_size() - before < LOG_GROWTH_BOUND, (case, served.output()[before:before + 2000])
        assert b"authenticate refused username='uuuu" in served.output()  # the username did reach the log, cut
    with serving(tmp_path / "default", database_url) as served:
        for case, (operation, body) in BODIES.items():
            before = served.log_size()
            status, _answer = served.post(body, operation, timeout=60)
            assert status in (413, None), case  # None: the connection closed after the 413, mid-body
            _wait_for_the_access_line(served.log, before)
            assert served.log_size() - before < LOG_GROWTH_BOUND, case


def _wait_for_the_access_line(log: Path, before: int) -> None:
    """The access line is written after the answer is sent: wait (a bounded time) until it is there."""
    import time

    deadline = time.monotonic() + 5
    while b"uvicorn.access" not in log.read_bytes()[before:] and time.monotonic() < deadline:
        time.sleep(0.01)


def test_the_formatter_bounds_the_message_each_value_and_the_traceback() -> None:
    formatter = ContextFormatter("%(levelname)s %(name)s: %(message)s")
    try:
        raise ValueError("x" * TEN_MIB)
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("qbwc_service.x", logging.ERROR, __file__, 1, "refused %s", ("m" * TEN_MIB,),
                               exc_info)
    record.username = "u" * TEN_MIB
    record.ticket = b"t" * TEN_MIB
    line = formatter.format(record)
    assert len(line) < MESSAGE_CHARS + TRACEBACK_CHARS + 1000
    assert "more characters]" in line and "ValueError" in line
    assert record.username == "u" * TEN_MIB  # the record itself is left as it was, for any other handler


def test_a_message_from_outside_stays_on_one_line() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "health check failed: %s",
                               ("database\nINFO forged line\r",), None)
    line = ContextFormatter("%(message)s").format(record)
    assert "\n" not in line and "\r" not in line and "database\\nINFO forged line\\r" in line
