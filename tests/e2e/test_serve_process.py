"""`serve` as a user runs it, a process of its own on loopback: every request is answered in bounded time,
odd ones included, and SIGTERM ends it within seconds with exit code 0, whatever is in flight."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.support import soap_envelope, start_serve

ROOT = Path(__file__).resolve().parents[2]
ANSWER_SECONDS = 5
"""The longest any request here may wait for its answer."""


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    database: Path
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, within: float) -> float:
        """SIGTERM, then the seconds the process took to end; fails if it is still running after ``within``."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=within)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"serve was still running {within} s after SIGTERM:\n{self.output()}")
        return time.monotonic() - started


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    port = free_port()
    database = tmp_path / "served.db"
    env = {key: value for key, value in os.environ.items() if not key.startswith("QBWC_")}
    env.update(PYTHONPATH=str(ROOT), QBWC_DATABASE_URL=f"sqlite:///{database}", QBWC_PORT=str(port),
               QBWC_REQUEST_BODY_TIMEOUT_SECONDS="1")
    log = tmp_path / "serve.log"
    process = start_serve(tmp_path, env, log)
    instance = Served(process, port, database, log)
    try:
        yield instance
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def post(port: int, headers: dict[str, str], body: bytes = b"") -> tuple[int, bytes]:
    """POST exactly these headers and body bytes to /qbwc; the answer's status and body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=ANSWER_SECONDS)
    try:
        conn.putrequest("POST", "/qbwc", skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders(body or None)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


SOAP = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"http://developer.intuit.com/serverVersion"'}
ODD_REQUESTS = {
    "empty, Content-Length 0": ({**SOAP, "Content-Length": "0"}, b""),
    "empty, no Content-Length": (SOAP, b""),
    "empty, chunked": ({**SOAP, "Transfer-Encoding": "chunked"}, b"0\r\n\r\n"),
    "whitespace only": ({**SOAP, "Content-Length": "3"}, b" \r\n"),
    "empty, no headers at all": ({}, b""),
    "empty form post": ({"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "0"}, b""),
}


def test_odd_requests_are_answered_then_sigterm_ends_it_cleanly(served: Served) -> None:
    for case, (headers, body) in ODD_REQUESTS.items():
        status, answer = post(served.port, headers, body)
        assert status == 400 and b"<faultstring>The request has no body" in answer, case
    # a body that stops arriving: 408 once it has been idle for QBWC_REQUEST_BODY_TIMEOUT_SECONDS
    status, answer = post(served.port, {**SOAP, "Content-Length": "1000"}, b"<?xml")
    assert status == 408 and b"Fault" in answer
    # and the service still works
    request = soap_envelope("serverVersion")
    status, answer = post(served.port, {**SOAP, "Content-Length": str(len(request))}, request)
    assert status == 200 and b"qbwc-service" in answer
    assert served.stop(within=ANSWER_SECONDS) < ANSWER_SECONDS
    assert served.process.returncode == 0, served.output()
    assert "TypeError" not in served.output() and "Traceback" not in served.output()


def test_sigterm_ends_it_while_a_request_waits_on_the_database(served: Served) -> None:
    request = soap_envelope("authenticate", strUserName="someone", strPassword="x")
    headers = {**SOAP, "SOAPAction": '"http://developer.intuit.com/authenticate"', "Content-Length": str(len(request))}
    with closing(sqlite3.connect(served.database, isolation_level=None)) as holder:
        holder.execute("BEGIN IMMEDIATE")  # the service's next transaction waits (up to its 30 s busy timeout)
        with socket.create_connection(("127.0.0.1", served.port), timeout=ANSWER_SECONDS) as waiting, \
                socket.create_connection(("127.0.0.1", served.port), timeout=ANSWER_SECONDS) as stalled:
            waiting.sendall(_raw_post(headers, request))
            stalled.sendall(_raw_post({**SOAP, "Content-Length": "1000"}, b"<?xml"))
            waiting.settimeout(1)
            with pytest.raises(TimeoutError):
                waiting.recv(1)  # no answer: it is in flight, waiting for the database
            # SHUTDOWN_GRACE_SECONDS for the request in flight, then the process ends
            assert served.stop(within=15) < 10
        holder.execute("ROLLBACK")
    assert served.process.returncode == 0, served.output()


def _raw_post(headers: dict[str, str], body: bytes) -> bytes:
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"POST /qbwc HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}\r\n".encode() + body
