"""Small conveniences for tests: create connections and jobs through the real modules."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import connections
from qbwc_service.clock import SYSTEM_CLOCK, Clock
from qbwc_service.db.models import Connection, Event, Job
from qbwc_service.db.models import WebConnectorSession as WcSession
from qbwc_service.kinds.raw import prepare_raw
from qbwc_service.queue import JobQueue, RetryPolicy

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
TNS = "http://developer.intuit.com/"


@dataclass(frozen=True)
class Paired:
    name: str
    username: str
    token: str
    id: int


def pair(sessions: sessionmaker[Session], name: str = "Acme Plant") -> Paired:
    with sessions.begin() as db:
        made = connections.create_connection(db, name)
        return Paired(name, made.connection.username, made.token, made.connection.id)


def job_queue(clock: Clock = SYSTEM_CLOCK, max_attempts: int = 5, backoff_seconds: int = 0) -> JobQueue:
    return JobQueue(clock, RetryPolicy(max_attempts, backoff_seconds))


def enqueue_raw(sessions: sessionmaker[Session], connection_id: int, xml: str, key: str | None = None,
                clock: Clock = SYSTEM_CLOCK) -> int:
    prepared = prepare_raw(xml)
    with sessions.begin() as db:
        return job_queue(clock).enqueue(db, connection_id, prepared.kind, prepared.payload, key=key,
                                        read_only=prepared.read_only).job.id


def enqueue_customers(sessions: sessionmaker[Session], connection_id: int, names: list[str],
                      clock: Clock = SYSTEM_CLOCK) -> list[int]:
    return [
        enqueue_raw(
            sessions, connection_id, f"<CustomerAddRq><CustomerAdd><Name>{n}</Name></CustomerAdd></CustomerAddRq>",
            clock=clock,
        )
        for n in names
    ]


def jobs(sessions: sessionmaker[Session]) -> list[Job]:
    with sessions.begin() as db:
        return list(db.scalars(select(Job).order_by(Job.id)))


def connection(sessions: sessionmaker[Session], connection_id: int) -> Connection:
    with sessions.begin() as db:
        found = db.get(Connection, connection_id)
        assert found is not None
        return found


def wc_sessions(sessions: sessionmaker[Session]) -> list[WcSession]:
    with sessions.begin() as db:
        return list(db.scalars(select(WcSession).order_by(WcSession.id)))


def snapshot(sessions: sessionmaker[Session]) -> tuple[object, ...]:
    """Everything a bad request must leave untouched."""
    with sessions.begin() as db:
        return (
            [(j.id, j.status, j.attempts, j.ticket) for j in db.scalars(select(Job).order_by(Job.id))],
            [(s.ticket, s.state) for s in db.scalars(select(WcSession).order_by(WcSession.id))],
            [(c.id, c.token_hash, c.live_ticket, c.company_file) for c in db.scalars(select(Connection))],
            len(db.scalars(select(Event)).all()),
        )


def soap_envelope(method: str, **params: str | int) -> bytes:
    body = etree.Element(f"{{{TNS}}}{method}", nsmap={None: TNS})
    for name, value in params.items():
        etree.SubElement(body, f"{{{TNS}}}{name}").text = str(value)
    envelope = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"soap": SOAP_NS})
    etree.SubElement(envelope, f"{{{SOAP_NS}}}Body").append(body)
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


def post_soap(url: str, method: str, body: bytes) -> httpx.Response:
    return httpx.post(url, content=body, timeout=30, headers={
        "Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{TNS}{method}"'})


def soap_result(response: httpx.Response, method: str) -> etree._Element:
    assert response.headers["content-type"].startswith("text/xml"), response.text
    root = etree.fromstring(response.content)
    result = root.find(f".//{{{TNS}}}{method}Result")
    assert result is not None, response.text
    return result


def start_serve(cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`qbwc-service serve` in a child process, its output in ``log``; returns once /healthz answers 200 (the
    test fails, showing the output, when it ends or does not answer within 30 s)."""
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "qbwc_service.cli", "serve"], cwd=cwd, env=env,
                                   stdout=sink, stderr=subprocess.STDOUT)
    port = env["QBWC_PORT"]
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                process.kill()
                process.wait()
            pytest.fail(f"serve did not start:\n{log.read_bytes().decode(errors='replace')}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.05)
