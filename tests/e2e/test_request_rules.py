"""Requests QuickBooks would refuse are fixed or refused before they are sent, never sent to fail."""

from __future__ import annotations

import pytest

from qbwc_service import connection_usecases
from qbwc_service.kinds.raw import RAW
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from qbwc_service.simulate.webconnector import WebConnectorClient
from tests.conftest import LiveServer, run_server
from tests.support import enqueue_customers, enqueue_raw, jobs, pair, wc_sessions

WRONG_ORDER = ("<CustomerAddRq><CustomerAdd><IsActive>true</IsActive><Name>Wrong Order</Name>"
               "</CustomerAdd></CustomerAddRq>")  # IsActive belongs after Name: QuickBooks refuses the whole set


def _run(server: LiveServer, paired, company: QuickBooksCompany) -> None:  # type: ignore[no-untyped-def]
    assert WebConnectorClient(server.soap_url, paired.username, paired.token, company).run_session().outcome == "done"


def _transliterate_names(server: LiveServer, connection: str) -> None:
    with server.sessions.begin() as db:
        connection_usecases.update_options(db, connection, set_values=[("transliterate_names", True)])


def test_text_is_made_latin1_and_free_text_cut_to_length_with_warnings(server: LiveServer) -> None:
    paired = pair(server.sessions)
    _transliterate_names(server, paired.name)
    notes = "Dostawa — brama nr 2, " * 200  # 4,400 characters: Notes has 4,095
    enqueue_raw(server.sessions, paired.id, "<CustomerAddRq><CustomerAdd><Name>Zakład „Łódź” Sp. z o.o.</Name>"
                f"<Notes>{notes}</Notes></CustomerAdd></CustomerAddRq>")
    company = QuickBooksCompany()
    _run(server, paired, company)
    (job,) = jobs(server.sessions)
    assert job.status == "done"
    (customer,) = company.records("Customer")
    assert customer.full_name == 'Zaklad "Lódz" Sp. z o.o.'
    assert len(customer.text("Notes") or "") == 4095
    assert job.warnings and any("sent as 'Zaklad \"Lódz\" Sp. z o.o.' (transliterate_names)" in w
                                for w in job.warnings)
    assert any("Notes: 4400 characters cut to the maximum of 4095" in w for w in job.warnings)


def test_a_name_too_long_is_refused_before_sending_never_cut(server: LiveServer) -> None:
    paired = pair(server.sessions)
    long_name = "Zakład Produkcyjny „Łódź” — Wyroby Metalowe i Spółka z o.o."
    _transliterate_names(server, paired.name)
    refused = enqueue_raw(server.sessions, paired.id,
                          f"<CustomerAddRq><CustomerAdd><Name>{long_name}</Name></CustomerAdd></CustomerAddRq>")
    ok = enqueue_customers(server.sessions, paired.id, ["Fine Co"])[0]
    company = QuickBooksCompany()
    _run(server, paired, company)
    by_id = {j.id: j for j in jobs(server.sessions)}
    assert by_id[refused].status == "dead" and by_id[refused].request_xml is None  # never sent
    message = by_id[refused].status_message or ""
    assert "CustomerAddRq/CustomerAdd/Name 'Zaklad Produkcyjny" in message
    assert "has 59 characters, QuickBooks allows 41" in message
    assert by_id[ok].status == "done"
    assert [r.full_name for r in company.records("Customer")] == ["Fine Co"]


def test_names_quickbooks_cannot_store_are_refused_never_sent_as_question_marks(server: LiveServer) -> None:
    """北京机械 and 上海工厂 were both sent as "????", and the second was linked to the first customer."""
    paired = pair(server.sessions)
    ids = [enqueue_raw(server.sessions, paired.id, f"<CustomerAddRq><CustomerAdd><Name>{name}</Name></CustomerAdd>"
                       "</CustomerAddRq>") for name in ("北京机械", "上海工厂")]
    (fine,) = enqueue_customers(server.sessions, paired.id, ["Shanghai Works"])
    company = QuickBooksCompany()
    _run(server, paired, company)
    by_id = {j.id: j for j in jobs(server.sessions)}
    for job_id, characters in zip(ids, ("'北' (U+5317), '京' (U+4EAC)", "'上' (U+4E0A), '海' (U+6D77)"), strict=True):
        job = by_id[job_id]
        assert job.status == "dead" and job.request_xml is None and not job.result
        assert "CustomerAddRq/CustomerAdd/Name" in (job.status_message or "")
        assert characters in (job.status_message or "")
    assert by_id[fine].status == "done"
    assert [r.full_name for r in company.records("Customer")] == ["Shanghai Works"]


def test_a_respelled_name_in_use_is_not_linked_to_the_entry_holding_it(server: LiveServer) -> None:
    paired = pair(server.sessions)
    _transliterate_names(server, paired.name)
    company = QuickBooksCompany()
    company.add("Customer", Name="Lódz Tools")  # someone else's customer, already in QuickBooks
    job_id = enqueue_raw(server.sessions, paired.id,
                         "<CustomerAddRq><CustomerAdd><Name>Łódź Tools</Name></CustomerAdd></CustomerAddRq>")
    _run(server, paired, company)
    job = {j.id: j for j in jobs(server.sessions)}[job_id]
    assert job.status == "dead" and job.status_code == "3100" and not (job.result or {}).get("ListID")
    assert [r.full_name for r in company.records("Customer")] == ["Lódz Tools"]


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
    # Default settings: the gate is on, with Intuit's schema as shipped in the package.
    assert server.settings.qbxml_schema_gate and server.settings.qbxml_schema_dir is None
    paired = pair(server.sessions)
    left = enqueue_customers(server.sessions, paired.id, ["Left"])[0]
    bad = enqueue_raw(server.sessions, paired.id, WRONG_ORDER)
    right = enqueue_customers(server.sessions, paired.id, ["Right"])[0]
    company = QuickBooksCompany()
    _run(server, paired, company)
    by_id = {j.id: j for j in jobs(server.sessions)}
    assert by_id[bad].status == "dead" and by_id[bad].request_xml is None  # never sent
    assert "schema" in (by_id[bad].status_message or "") and "IsActive" in (by_id[bad].status_message or "")
    assert by_id[left].status == by_id[right].status == "done"
    assert sorted(r.full_name for r in company.records("Customer")) == ["Left", "Right"]
    assert [s.message_sets for s in wc_sessions(server.sessions)] == [1]  # the neighbours went in one message set


def test_with_the_gate_turned_off_an_invalid_request_is_sent(settings, engine, sessions) -> None:  # type: ignore[no-untyped-def]
    for server in run_server(settings.model_copy(update={"qbxml_schema_gate": False}), engine, sessions):
        paired = pair(server.sessions)
        bad = enqueue_raw(server.sessions, paired.id, WRONG_ORDER)
        _run(server, paired, QuickBooksCompany())
        (job,) = jobs(server.sessions)
        assert job.id == bad and job.request_xml is not None and "IsActive" in job.request_xml


@pytest.mark.parametrize(("versions", "sent"), [
    (("12.0", "13.0"), False),
    (("13.0", "16.0"), True),
])
def test_the_company_version_decides_which_schema_judges_a_request(
    server: LiveServer, versions: tuple[str, ...], sent: bool
) -> None:
    paired = pair(server.sessions)
    newer = enqueue_raw(server.sessions, paired.id, "<EmployeeDefaultQueryRq/>")  # qbXML 14.0 and later only
    ok = enqueue_customers(server.sessions, paired.id, ["Fine Co"])[0]
    _run(server, paired, QuickBooksCompany(supported_versions=versions))
    by_id = {j.id: j for j in jobs(server.sessions)}
    assert (by_id[newer].request_xml is not None) is sent
    if not sent:
        assert by_id[newer].status == "dead" and "EmployeeDefaultQueryRq" in (by_id[newer].status_message or "")
    assert by_id[ok].status == "done"


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
