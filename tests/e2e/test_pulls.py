"""Pulling records out of QuickBooks through iterators: every record once, none twice, whatever breaks."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from qbwc_service import deliveries
from qbwc_service.db.models import Delivery
from qbwc_service.kinds.pull import PULL, prepare_pull
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from qbwc_service.simulate.webconnector import WebConnectorClient
from tests.conftest import LiveServer
from tests.support import Paired, job_queue, jobs, pair


def _seed_sales_orders(company: QuickBooksCompany, count: int, start: int = 0) -> None:
    if not company.find("Customer", FullName="Pull Customer"):
        company.add("Customer", Name="Pull Customer")
    if not company.find("Item", FullName="Widget"):
        company.add("ItemNonInventory", Name="Widget")
    company.add_many("SalesOrder", (
        {"CustomerRef": "Pull Customer", "RefNumber": f"SO-{i:05d}",
         "lines": [{"ItemRef": "Widget", "Quantity": "2"}]}
        for i in range(start, start + count)
    ))


def _enqueue_pull(server: LiveServer, paired: Paired, entity: str = "SalesOrder", max_returned: int = 100) -> int:
    prepared = prepare_pull(entity, max_returned=max_returned)
    with server.sessions.begin() as db:
        return job_queue().enqueue(db, paired.id, prepared.kind, prepared.payload, read_only=True).job.id


def _pulled(server: LiveServer, paired: Paired) -> list[str]:
    with server.sessions.begin() as db:
        return list(db.scalars(select(Delivery.qbd_id).where(Delivery.connection_id == paired.id)))


def test_a_2500_record_pull_reads_every_record_once(server: LiveServer) -> None:
    paired = pair(server.sessions)
    company = QuickBooksCompany()
    _seed_sales_orders(company, 2500)
    job_id = _enqueue_pull(server, paired, max_returned=100)

    report = WebConnectorClient(server.soap_url, paired.username, paired.token, company).run_session()

    assert report.outcome == "done"
    assert report.message_sets == 25
    pulled = _pulled(server, paired)
    assert len(pulled) == 2500 and len(set(pulled)) == 2500
    assert set(pulled) == {r.id for r in company.records("SalesOrder")}
    (job,) = jobs(server.sessions)
    assert job.id == job_id and job.status == "done" and job.attempts == 1
    assert job.result == {"records": 2500, "new": 2500, "pages": 25, "entity": "SalesOrder",
                          "high_water": job.result["high_water"]}
    with server.sessions.begin() as db:
        assert deliveries.high_water(db, paired.id, "SalesOrder") == job.result["high_water"]


@pytest.mark.each_database  # records read again are dropped by each dialect's INSERT ... ON CONFLICT DO NOTHING
def test_the_next_pull_reads_only_what_changed_since_the_mark(server: LiveServer) -> None:
    paired = pair(server.sessions)
    company = QuickBooksCompany()
    _seed_sales_orders(company, 150)
    _enqueue_pull(server, paired)
    assert WebConnectorClient(server.soap_url, paired.username, paired.token, company).run_session().outcome == "done"
    _seed_sales_orders(company, 30, start=150)
    _enqueue_pull(server, paired)
    assert WebConnectorClient(server.soap_url, paired.username, paired.token, company).run_session().outcome == "done"
    first, second = jobs(server.sessions)
    assert first.result and first.result["new"] == 150
    assert second.result and second.result["new"] == 30  # the records at the mark itself are recognised
    assert len(set(_pulled(server, paired))) == 180


def test_a_session_lost_mid_iterator_resumes_without_loss_or_repeat(server: LiveServer) -> None:
    paired = pair(server.sessions)
    company = QuickBooksCompany()
    _seed_sales_orders(company, 1000)
    _enqueue_pull(server, paired, max_returned=100)
    # the first page is answered, then the Web Connector goes silent
    client = WebConnectorClient(server.soap_url, paired.username, paired.token, company)
    ticket = client.authenticate(paired.username, paired.token)[0]
    first = client.send_request_xml(ticket, company.hcp_response(), company.company_file, "US", 13, 0)
    assert client.receive_response_xml(ticket, company.process(first), "", "") < 100
    assert len(_pulled(server, paired)) == 100
    # QuickBooks' session ends: its iterators are gone; so is the Web Connector's session
    company.end_qb_session()
    server.clock.advance(hours=2)  # the session's lease runs out
    assert client.run_session().outcome == "done"
    pulled = _pulled(server, paired)
    assert len(pulled) == len(set(pulled)) == 1000
    (job,) = jobs(server.sessions)
    assert job.status == "done" and job.result
    assert job.result["new"] == 1000 and job.result["records"] == 1100  # 100 read twice, stored once


def test_an_iterator_quickbooks_forgot_restarts_from_the_mark(server: LiveServer) -> None:
    paired = pair(server.sessions)
    company = QuickBooksCompany()
    _seed_sales_orders(company, 300)
    _enqueue_pull(server, paired, max_returned=100)
    client = WebConnectorClient(server.soap_url, paired.username, paired.token, company)
    ticket = client.authenticate(paired.username, paired.token)[0]
    request = client.send_request_xml(ticket, company.hcp_response(), company.company_file, "US", 13, 0)
    assert client.receive_response_xml(ticket, company.process(request), "", "") < 100
    company.end_qb_session()  # the same Web Connector session, but QuickBooks answers 3391 to Continue
    percent = 0
    for _ in range(20):
        request = client.send_request_xml(ticket, "", company.company_file, "US", 13, 0)
        percent = client.receive_response_xml(ticket, company.process(request), "", "")
        if percent == 100:
            break
    assert percent == 100
    client.close_connection(ticket)
    pulled = _pulled(server, paired)
    assert len(pulled) == len(set(pulled)) == 300
    (job,) = jobs(server.sessions)
    assert job.status == "done" and PULL.progress(job).restarts == 1


def test_without_iterators_an_old_company_gets_everything_at_once(server: LiveServer) -> None:
    paired = pair(server.sessions)
    company = QuickBooksCompany(supported_versions=("1.0", "2.0", "2.1", "3.0", "4.0"))
    _seed_sales_orders(company, 120)
    _enqueue_pull(server, paired)
    report = WebConnectorClient(server.soap_url, paired.username, paired.token, company).run_session()
    assert report.outcome == "done" and report.message_sets == 1
    assert len(set(_pulled(server, paired))) == 120


def test_a_page_of_several_megabytes_goes_through_the_endpoint(server: LiveServer) -> None:
    """QuickBooks' answer to a big page travels in one receiveResponseXML; it must not hit a size cap."""
    paired = pair(server.sessions)
    company = QuickBooksCompany()
    company.add_many("Customer", ({"Name": f"Customer {i:05d} of a long list", "CompanyName": "X" * 40,
                                   "Notes": "n" * 900} for i in range(4000)))
    _enqueue_pull(server, paired, entity="Customer", max_returned=4000)
    report = WebConnectorClient(server.soap_url, paired.username, paired.token, company).run_session()
    assert report.outcome == "done" and report.message_sets == 1
    assert len(set(_pulled(server, paired))) == 4000
