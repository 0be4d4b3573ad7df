"""Requests QuickBooks would refuse are fixed or refused before they are sent, never sent to fail."""

from __future__ import annotations

from qbwc_service.kinds.raw import RAW
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from qbwc_service.simulate.webconnector import WebConnectorClient
from tests.conftest import LiveServer
from tests.support import enqueue_customers, enqueue_raw, jobs, pair


def _run(server: LiveServer, paired, company: QuickBooksCompany) -> None:  # type: ignore[no-untyped-def]
    assert WebConnectorClient(server.soap_url, paired.username, paired.token, company).run_session().outcome == "done"


def test_text_is_made_latin1_and_cut_to_length_with_warnings(server: LiveServer) -> None:
    paired = pair(server.sessions)
    long_name = "Zakład Produkcyjny „Łódź” — Wyroby Metalowe i Spółka z o.o."
    enqueue_raw(server.sessions, paired.id,
                f"<CustomerAddRq><CustomerAdd><Name>{long_name}</Name></CustomerAdd></CustomerAddRq>")
    company = QuickBooksCompany()
    _run(server, paired, company)
    (job,) = jobs(server.sessions)
    assert job.status == "done"
    (customer,) = company.records("Customer")
    name = customer.full_name
    assert len(name) == 41 and name.startswith('Zaklad Produkcyjny "Lódz" - Wyroby')
    name.encode("latin-1")
    assert job.warnings and any("ISO-8859-1" in w for w in job.warnings)
    assert any("cut to the maximum of 41" in w for w in job.warnings)


def test_a_field_the_company_version_lacks_is_refused_before_sending(server: LiveServer) -> None:
    paired = pair(server.sessions)
    job_id = enqueue_raw(server.sessions, paired.id,
                         "<CustomerAddRq><CustomerAdd><Name>Old Books Co</Name>"
                         "<ExternalGUID>{6B3A7C4E-8F5D-4E3A-9C1B-2D4E6F8A0B1C}</ExternalGUID>"
                         "</CustomerAdd></CustomerAddRq>")
    ok_id = enqueue_customers(server.sessions, paired.id, ["Fine Co"])[0]
    company = QuickBooksCompany(supported_versions=("1.0", "2.0", "3.0", "4.0", "5.0", "6.0", "7.0"))
    _run(server, paired, company)
    by_id = {j.id: j for j in jobs(server.sessions)}
    assert by_id[job_id].status == "dead"
    assert "ExternalGUID needs qbXML 8.0" in (by_id[job_id].status_message or "")
    assert by_id[job_id].request_xml is None  # never sent
    assert by_id[ok_id].status == "done"
    assert company.count("Customer") == 1


def test_a_request_that_breaks_the_schema_is_never_sent(server: LiveServer) -> None:
    paired = pair(server.sessions)
    bad = enqueue_raw(server.sessions, paired.id,
                      "<CustomerAddRq><CustomerAdd><IsActive>true</IsActive><Name>Wrong Order</Name>"
                      "</CustomerAdd></CustomerAddRq>")
    good = enqueue_customers(server.sessions, paired.id, ["Right"])[0]
    company = QuickBooksCompany()
    _run(server, paired, company)
    by_id = {j.id: j for j in jobs(server.sessions)}
    assert by_id[bad].status == "dead"
    assert "schema" in (by_id[bad].status_message or "") and "IsActive" in (by_id[bad].status_message or "")
    assert by_id[good].status == "done"
    assert [r.full_name for r in company.records("Customer")] == ["Right"]


def test_a_stale_edit_sequence_is_read_again_then_the_change_is_sent(server: LiveServer) -> None:
    paired = pair(server.sessions)
    company = QuickBooksCompany()
    customer = company.add("Customer", Name="Renamed Later")
    job_id = enqueue_raw(server.sessions, paired.id,
                         f"<CustomerModRq><CustomerMod><ListID>{customer.id}</ListID>"
                         "<EditSequence>123-stale</EditSequence><CompanyName>New Name Ltd</CompanyName>"
                         "</CustomerMod></CustomerModRq>")
    _run(server, paired, company)
    (job,) = jobs(server.sessions)
    assert job.id == job_id and job.status == "done"
    assert RAW.progress(job).requeries == 1
    assert company.find("Customer", ListID=customer.id).text("CompanyName") == "New Name Ltd"  # type: ignore[union-attr]


def test_a_modified_record_that_vanished_is_dead_with_a_reason(server: LiveServer) -> None:
    paired = pair(server.sessions)
    company = QuickBooksCompany()
    enqueue_raw(server.sessions, paired.id,
                "<CustomerModRq><CustomerMod><ListID>80000999-1234567890</ListID>"
                "<EditSequence>1</EditSequence><CompanyName>X</CompanyName></CustomerMod></CustomerModRq>")
    _run(server, paired, company)
    (job,) = jobs(server.sessions)
    assert job.status == "dead" and job.status_code == "3120"
