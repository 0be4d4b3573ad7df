"""Fault 10, the database: a Web Connector whose session the service could not finish because the database
failed is served at once when it comes back, not told ``busy`` until the session's quiet time runs out; and
while the database is out, authenticate says so in words the Web Connector shows (a SOAP fault: QBWC1012
"Authentication failed due to following error message"), not ``busy``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service.maintenance import Maintenance
from qbwc_service.processes import ProcessIdentity
from qbwc_service.sessions import WebConnectorSessions
from qbwc_service.settings import Settings
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from qbwc_service.simulate.webconnector import WebConnectorClient
from tests.conftest import LiveServer, run_server
from tests.inprocess import InProcessWebConnector, in_process
from tests.support import enqueue_customers, jobs, pair


@dataclass
class Outage:
    """Every statement on the engine fails, as when the database server is down, while ``on``."""

    on: bool = False


@pytest.fixture
def outage(engine: Engine) -> Outage:
    state = Outage()
    driver_error = psycopg.OperationalError if engine.dialect.name == "postgresql" else sqlite3.OperationalError

    @event.listens_for(engine, "before_cursor_execute")
    def _down(*_args: object) -> None:
        if state.on:
            raise driver_error("unable to open database file" if driver_error is sqlite3.OperationalError
                               else "connection to server at 127.0.0.1, port 5432 failed: Connection refused")

    return state


@pytest.fixture
def served(settings: Settings, engine: Engine, sessions: sessionmaker[Session]) -> Iterator[LiveServer]:
    yield from run_server(settings.model_copy(update={"database_retry_seconds": 0.3}), engine, sessions)



@pytest.mark.each_database
def test_a_session_cut_short_by_an_outage_does_not_make_the_next_run_busy(served: LiveServer, outage: Outage) -> None:
    paired = pair(served.sessions)
    lost = enqueue_customers(served.sessions, paired.id, ["Lost One", "Lost Two"])
    company = QuickBooksCompany()
    with WebConnectorClient(served.soap_url, paired.username, paired.token, company) as wc:
        ticket = wc.authenticate(paired.username, paired.token)[0]
        request = wc.send_request_xml(ticket, company.hcp_response(), company.company_file, "US", 13, 0)
        answer = company.process(request)
        outage.on = True  # the database goes down while QuickBooks works
        assert wc.receive_response_xml(ticket, answer, "", "") == -1
        said = wc.get_last_error(ticket)
        closed = wc.close_connection(ticket)
        assert "database" in said and "database" in closed
        # while it is down, the next run is told why, not "busy"
        down = wc.run_session()
        assert down.outcome == "error" and "QBWC1012" in down.last_error
        assert "cannot reach its database" in down.last_error and "busy" not in down.last_error
        outage.on = False  # it is back
        (after,) = enqueue_customers(served.sessions, paired.id, ["After"])
        report = wc.run_session()  # at once, from the same address: served, not busy
    assert report.outcome == "done", report.calls
    statuses = {job.id: job.status for job in jobs(served.sessions)}
    assert [statuses[job] for job in lost] == ["unknown", "unknown"]  # their answer never reached the database
    assert statuses[after] == "done" and company.count("Customer") == 3


@pytest.mark.each_database
def test_another_web_connector_is_still_busy_while_the_session_is_alive(served: LiveServer) -> None:
    """The safety that stays: a second Web Connector (another address) on the same connection gets ``busy``
    while the first one's session is alive, however quiet."""
    import httpx

    paired = pair(served.sessions)
    enqueue_customers(served.sessions, paired.id, ["Busy Co"])
    company = QuickBooksCompany()
    with WebConnectorClient(served.soap_url, paired.username, paired.token, company) as first:
        ticket = first.authenticate(paired.username, paired.token)[0]
        assert first.send_request_xml(ticket, company.hcp_response(), company.company_file, "US", 13, 0)
        enqueue_customers(served.sessions, paired.id, ["Next Co"])  # work for a second Web Connector to want
        served.clock.advance(minutes=10)  # quiet, but well within the session's lease
        with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as elsewhere:
            other = WebConnectorClient(served.soap_url, paired.username, paired.token, company, client=elsewhere)
            assert other.authenticate(paired.username, paired.token)[1] == "busy"


def test_the_background_run_ends_a_session_the_database_cut_off(engine: Engine, outage: Outage) -> None:
    """With several service processes, the one whose call the database failed remembers it; its background run
    records the session's end once the database is back, so another process does not answer ``busy`` for it."""
    first = in_process(engine, database_retry_seconds=0)
    paired = pair(first.sessions)
    enqueue_customers(first.sessions, paired.id, ["Lost Co"])
    company = QuickBooksCompany()
    wc = first.web_connector(paired, company)
    ticket = wc.authenticate(paired.username, paired.token)[0]
    answer = company.process(wc.send_request_xml(ticket, company.hcp_response(), company.company_file, "US", 13, 0))
    outage.on = True
    with pytest.raises(OperationalError):
        wc.receive_response_xml(ticket, answer, "", "")  # the Web Connector is told -1, and ends the session
    outage.on = False
    enqueue_customers(first.sessions, paired.id, ["Next Co"])
    second = WebConnectorSessions(first.sessions, first.settings, first.clock, process=ProcessIdentity())
    from_elsewhere = InProcessWebConnector(second, paired, company, address="10.0.0.2")
    assert from_elsewhere.authenticate(paired.username, paired.token)[1] == "busy"  # the second process cannot know
    Maintenance(first.sessions, first.protocol, first.settings, first.clock, first.protocol.process).run_once()
    assert from_elsewhere.run_session().outcome == "done"
