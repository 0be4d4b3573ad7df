"""Fault 10, the process: `serve` killed in the middle of a session (SIGKILL: no clean stop) and started again.
The Web Connector coming back from the same address is served at once, not told ``busy`` until the old
session's quiet time (two minutes) runs out: the process that served that session is gone, so it cannot be
alive."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select

from qbwc_service.db.engine import make_engine, make_sessionmaker
from qbwc_service.db.models import ServiceProcess
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from qbwc_service.simulate.webconnector import WebConnectorClient
from tests.faults.conftest import Serve
from tests.support import enqueue_customers, jobs, pair


@pytest.fixture
def database(serve: Serve) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{serve.database}")
    yield engine
    engine.dispose()


def test_a_web_connector_coming_back_after_a_crash_is_served_at_once(serve: Serve, database: Engine) -> None:
    sessions = make_sessionmaker(database)
    paired = pair(sessions)
    lost = enqueue_customers(sessions, paired.id, ["Lost One", "Lost Two"])
    company = QuickBooksCompany()
    with WebConnectorClient(serve.soap_url, paired.username, paired.token, company) as wc:
        ticket = wc.authenticate(paired.username, paired.token)[0]
        assert wc.send_request_xml(ticket, company.hcp_response(), company.company_file, "US", 13, 0)
    serve.kill()  # while QuickBooks works on the message set
    serve.start()  # started again at once, on another port: the Web Connector's address is the same
    (after,) = enqueue_customers(sessions, paired.id, ["After"])
    with WebConnectorClient(serve.soap_url, paired.username, paired.token, QuickBooksCompany()) as wc:
        report = wc.run_session()
    assert report.outcome == "done", report.calls  # served at once: not "busy" until the dead lease runs out
    assert "busy" not in report.authenticate_result
    statuses = {job.id: job.status for job in jobs(sessions)}
    assert [statuses[job] for job in lost] == ["unknown", "unknown"] and statuses[after] == "done"


def test_a_clean_stop_frees_what_the_process_held(serve: Serve, database: Engine) -> None:
    """`serve` keeps a row in qbwc_processes while it runs (its heartbeat), and removes it when it stops cleanly:
    the sessions it served are then known not to be alive."""
    sessions = make_sessionmaker(database)

    def rows() -> int:
        with sessions.begin() as db:
            return db.scalar(select(func.count()).select_from(ServiceProcess)) or 0

    deadline = time.monotonic() + 10
    while rows() == 0 and time.monotonic() < deadline:  # its first beat, in the background
        time.sleep(0.05)
    assert rows() == 1
    serve.stop()
    assert serve.process is not None and serve.process.returncode == 0
    assert rows() == 0
