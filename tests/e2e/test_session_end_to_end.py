"""The simulated Web Connector drains the queue through the real SOAP endpoint over HTTP."""

from __future__ import annotations

import pytest

from qbwc_service.kinds.probe import prepare_probe
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from qbwc_service.simulate.webconnector import WebConnectorClient
from tests.conftest import LiveServer, run_server
from tests.support import (
    connection,
    enqueue_customers,
    enqueue_raw,
    job_queue,
    jobs,
    pair,
    wc_sessions,
)


def _client(server: LiveServer, paired, company: QuickBooksCompany | None = None) -> WebConnectorClient:  # type: ignore[no-untyped-def]
    return WebConnectorClient(server.soap_url, paired.username, paired.token, company or QuickBooksCompany())


@pytest.mark.each_database  # the service's claims (FOR UPDATE SKIP LOCKED) and settlement, on each engine
def test_a_session_drains_every_job_and_keeps_quickbooks_ids(server: LiveServer) -> None:
    paired = pair(server.sessions)
    names = [f"Customer {i:03d}" for i in range(120)]
    job_ids = enqueue_customers(server.sessions, paired.id, names)
    company = QuickBooksCompany()

    report = _client(server, paired, company).run_session()

    assert report.outcome == "done"
    assert report.message_sets == 3  # batch size 50
    done = jobs(server.sessions)
    assert [j.id for j in done] == job_ids
    assert all(j.status == "done" for j in done)
    assert all(j.result and j.result["ListID"] and j.result["Name"] == n for j, n in zip(done, names, strict=True))
    assert all(j.request_xml and "CustomerAddRq" in j.request_xml for j in done)
    assert all(j.response_xml and "CustomerAddRs" in j.response_xml for j in done)
    assert company.count("Customer") == 120
    (session,) = wc_sessions(server.sessions)
    assert session.state == "closed" and session.jobs_done == 120
    seen = connection(server.sessions, paired.id)
    assert seen.company_file == company.company_file  # pinned after the first session
    assert seen.qb_country == "US" and seen.qb_product == company.product_name
    assert seen.qbxml_version == "16.0"
    assert seen.last_auth_outcome == "ok" and seen.client_version == "2.3.0.215"
    assert seen.live_ticket is None


def test_nothing_to_do_answers_none_with_a_minimum_interval(server: LiveServer) -> None:
    paired = pair(server.sessions)
    client = _client(server, paired)
    answer = client.authenticate(paired.username, paired.token)
    assert answer[1] == "none" and answer[2] == "" and answer[3] == "60"
    assert client.run_session().outcome == "nothing-to-do"


def test_errors_are_kept_on_the_job_and_the_session_goes_on(server: LiveServer) -> None:
    paired = pair(server.sessions)
    ok_first = enqueue_customers(server.sessions, paired.id, ["Dup"])[0]
    duplicate = enqueue_customers(server.sessions, paired.id, ["Dup"])[0]
    bad_ref = enqueue_raw(server.sessions, paired.id,
                          "<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>Nobody</FullName></CustomerRef>"
                          "<InvoiceLineAdd><Desc>x</Desc><Amount>1.00</Amount></InvoiceLineAdd></InvoiceAdd></InvoiceAddRq>")
    ok_last = enqueue_customers(server.sessions, paired.id, ["After"])[0]

    assert _client(server, paired).run_session().outcome == "done"

    by_id = {j.id: j for j in jobs(server.sessions)}
    assert by_id[ok_first].status == "done" and by_id[ok_last].status == "done"
    # 3100: the name exists already, so the job links to that entry instead of creating a second one
    assert by_id[duplicate].status == "done" and by_id[duplicate].status_code == "3100"
    assert by_id[duplicate].result and by_id[duplicate].result["existed"] is True
    assert by_id[duplicate].result["ListID"] == by_id[ok_first].result["ListID"]
    assert by_id[bad_ref].status == "dead" and by_id[bad_ref].status_code == "3140"
    assert "Nobody" in (by_id[bad_ref].status_message or "")


def test_transient_errors_are_retried_after_a_backoff(settings, engine, sessions) -> None:  # type: ignore[no-untyped-def]
    patient = settings.model_copy(update={"retry_backoff_seconds": 600})
    for server in run_server(patient, engine, sessions):
        paired = pair(server.sessions)
        enqueue_customers(server.sessions, paired.id, ["Locked Co"])
        company = QuickBooksCompany()
        company.lock("Customer", requests=1)
        assert _client(server, paired, company).run_session().outcome == "done"
        (job,) = jobs(server.sessions)
        assert job.status == "failed" and job.status_code == "3175" and job.not_before is not None
        # not due yet: the Web Connector is told there is nothing to do
        assert _client(server, paired, company).run_session().outcome == "nothing-to-do"
        server.clock.advance(seconds=601)  # past the first backoff
        assert _client(server, paired, company).run_session().outcome == "done"
        (job,) = jobs(server.sessions)
        assert job.status == "done" and job.attempts == 2 and job.result and job.result["ListID"]
        assert company.count("Customer") == 1


def test_a_transient_error_without_backoff_is_retried_in_the_same_session(server: LiveServer) -> None:
    paired = pair(server.sessions)
    enqueue_customers(server.sessions, paired.id, ["Locked Co"])
    company = QuickBooksCompany()
    company.lock("Customer", requests=2)
    assert _client(server, paired, company).run_session().outcome == "done"
    (job,) = jobs(server.sessions)
    assert job.status == "done" and job.attempts == 3
    assert company.count("Customer") == 1


def test_a_failed_message_set_leaves_writes_unknown(server: LiveServer) -> None:
    paired = pair(server.sessions)
    ids = enqueue_customers(server.sessions, paired.id, ["A", "B"])
    company = QuickBooksCompany()
    company.fail_next_with_hresult("0x80040402", "Unexpected error. Check the qbsdklog.txt file for possible "
                                   "additional information.")
    report = _client(server, paired, company).run_session()
    assert report.outcome == "error"
    assert "0x80040402" in (report.last_error or "")
    assert {j.id: j.status for j in jobs(server.sessions)} == {ids[0]: "unknown", ids[1]: "unknown"}
    # not re-sent blindly: the next session has nothing to do
    assert _client(server, paired, company).run_session().outcome == "nothing-to-do"
    assert company.count("Customer") == 0


def test_one_unreadable_request_no_longer_poisons_its_message_set(settings, engine, sessions) -> None:  # type: ignore[no-untyped-def]
    """Without the schema gate, one request QuickBooks cannot parse makes it refuse the whole set (0x80040400,
    nothing applied): the requests go out again one per set, the bad one ends dead with QuickBooks' message,
    and the nine others are created once each."""
    ungated = settings.model_copy(update={"qbxml_schema_gate": False})
    for server in run_server(ungated, engine, sessions):
        paired = pair(server.sessions)
        good = enqueue_customers(server.sessions, paired.id, [f"Customer {i}" for i in range(9)])
        bad = enqueue_raw(server.sessions, paired.id, "<CustomerAddRq><CustomerAdd><CompanyName>No name"
                          "</CompanyName></CustomerAdd></CustomerAddRq>")
        company = QuickBooksCompany()
        assert _client(server, paired, company).run_session().outcome == "error"  # the whole set refused
        assert company.count("Customer") == 0
        assert {j.status for j in jobs(server.sessions)} == {"queued"}
        # One per set now: the nine go through, then QuickBooks refuses the bad one alone (ending the session).
        report = _client(server, paired, company).run_session()
        assert report.outcome == "error" and report.message_sets == 10
        by_id = {j.id: j for j in jobs(server.sessions)}
        assert [by_id[i].status for i in good] == ["done"] * 9
        assert by_id[bad].status == "dead" and by_id[bad].status_code == "0x80040400"
        assert "could not read this request" in (by_id[bad].status_message or "")
        assert sorted(r.full_name for r in company.records("Customer")) == [f"Customer {i}" for i in range(9)]
        assert _client(server, paired, company).run_session().outcome == "nothing-to-do"


def test_a_lost_response_is_not_resent_blindly(server: LiveServer) -> None:
    paired = pair(server.sessions)
    (job_id,) = enqueue_customers(server.sessions, paired.id, ["Lost Response Co"])
    company = QuickBooksCompany()
    company.drop_next_responses(1)
    assert _client(server, paired, company).run_session().outcome == "error"
    assert company.count("Customer") == 1  # QuickBooks applied it; the answer never came back
    # The session lease runs out; the next Web Connector run takes over.
    server.clock.advance(hours=2)  # the session's lease runs out
    enqueue_customers(server.sessions, paired.id, ["Next Co"])
    assert _client(server, paired, company).run_session().outcome == "done"
    by_id = {j.id: j for j in jobs(server.sessions)}
    assert by_id[job_id].status == "unknown"
    assert company.count("Customer") == 2  # the lost one was not created twice


@pytest.mark.each_database  # the lease: a conditional UPDATE comparing timestamps in SQL
def test_a_second_web_connector_is_busy_and_a_stale_one_is_taken_over(server: LiveServer) -> None:
    paired = pair(server.sessions)
    enqueue_customers(server.sessions, paired.id, ["Busy Co"])
    first = _client(server, paired)
    ticket = first.authenticate(paired.username, paired.token)[0]
    second = _client(server, paired)
    assert second.authenticate(paired.username, paired.token)[1] == "busy"
    server.clock.advance(hours=2)  # the session's lease runs out
    assert second.run_session().outcome == "done"
    # the first one's ticket is dead now
    assert first.send_request_xml(ticket, "", "", "US", 13, 0) == ""
    assert "expired" in first.get_last_error(ticket).lower()
    assert first.receive_response_xml(ticket, "<QBXML/>", "", "") < 0


def test_a_different_company_file_is_refused_once_pinned(server: LiveServer) -> None:
    paired = pair(server.sessions)
    enqueue_customers(server.sessions, paired.id, ["First"])
    assert _client(server, paired).run_session().outcome == "done"
    (job_id,) = enqueue_customers(server.sessions, paired.id, ["Second"])
    other = QuickBooksCompany(company_file=r"C:\Other\books.qbw", country="CA", company_name="Other Books Ltd")
    # authenticate names the pinned file; the real Web Connector then fails to open it...
    report = _client(server, paired, other).run_session()
    assert report.outcome == "connection-error"
    assert other.count("Customer") == 0
    # ...and a Web Connector that sends the other file's name anyway gets nothing to write.
    client = _client(server, paired, other)
    ticket = client.authenticate(paired.username, paired.token)[0]
    assert client.send_request_xml(ticket, other.hcp_response(), other.company_file, "US", 13, 0) == ""
    assert "pinned" in client.get_last_error(ticket)
    client.close_connection(ticket)
    learned = connection(server.sessions, paired.id)  # the wrong file taught the connection nothing
    assert learned.qb_country == "US" and learned.company_name != "Other Books Ltd"
    assert {j.id: j.status for j in jobs(server.sessions)}[job_id] == "queued"


def test_probe_reports_the_company(server: LiveServer) -> None:
    paired = pair(server.sessions)
    prepared = prepare_probe()
    with server.sessions.begin() as db:
        job_queue().enqueue(db, paired.id, prepared.kind, prepared.payload, read_only=True)
    company = QuickBooksCompany(company_name="Probe Works LLC")
    assert _client(server, paired, company).run_session().outcome == "done"
    (job,) = jobs(server.sessions)
    assert job.status == "done"
    assert job.result and job.result["company_name"] == "Probe Works LLC"
    assert job.result["country"] == "US" and job.result["highest_version"] == "16.0"
    assert connection(server.sessions, paired.id).company_name == "Probe Works LLC"


def test_client_version_warning_and_refusal(server: LiveServer) -> None:
    paired = pair(server.sessions)
    client = _client(server, paired)
    assert client.client_version("2.3.0.215") == ""
    assert client.client_version("2.2.0.80").startswith("W:")
    assert client.client_version("2.0.1.2").startswith("E:")
    old = WebConnectorClient(server.soap_url, paired.username, paired.token, QuickBooksCompany(), version="2.0.0.1")
    assert old.run_session().outcome == "client-version-refused"


def test_a_repeated_response_changes_nothing(server: LiveServer) -> None:
    paired = pair(server.sessions)
    enqueue_customers(server.sessions, paired.id, ["Once", "Twice"])
    company = QuickBooksCompany()
    client = _client(server, paired, company)
    ticket = client.authenticate(paired.username, paired.token)[0]
    request = client.send_request_xml(ticket, company.hcp_response(), company.company_file, "US", 13, 0)
    answer = company.process(request)
    assert client.receive_response_xml(ticket, answer, "", "") == 100
    before = [(j.id, j.status, j.result) for j in jobs(server.sessions)]
    assert client.receive_response_xml(ticket, answer, "", "") == 100
    assert [(j.id, j.status, j.result) for j in jobs(server.sessions)] == before
    client.close_connection(ticket)


@pytest.mark.each_database  # taking over a live lease
def test_the_same_web_connector_coming_back_takes_over_its_dead_session(settings, engine, sessions) -> None:  # type: ignore[no-untyped-def]
    """After a lost connection, the Web Connector's next run is not locked out until the ticket expires;
    another computer still is."""
    import httpx

    quick = settings.model_copy(update={"session_takeover_seconds": 0})
    for server in run_server(quick, engine, sessions):
        paired = pair(server.sessions)
        (lost,) = enqueue_customers(server.sessions, paired.id, ["Lost Co"])
        company = QuickBooksCompany()
        company.drop_next_responses(1)
        assert _client(server, paired, company).run_session().outcome == "error"  # from 127.0.0.1
        enqueue_customers(server.sessions, paired.id, ["Next Co"])
        with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as elsewhere:
            other = WebConnectorClient(server.soap_url, paired.username, paired.token, company, client=elsewhere)
            assert other.authenticate(paired.username, paired.token)[1] == "busy"
        assert _client(server, paired, company).run_session().outcome == "done"  # 127.0.0.1 again
        statuses = {j.id: j.status for j in jobs(server.sessions)}
        assert statuses[lost] == "unknown" and list(statuses.values()).count("done") == 1
        assert company.count("Customer") == 2


def test_idle_polls_leave_no_trail_beyond_a_day(server: LiveServer) -> None:
    from sqlalchemy import func, select

    from qbwc_service.db.enums import EventKind
    from qbwc_service.db.models import Event, WebConnectorSession

    SESSION_EVENTS = [kind for kind in EventKind if kind.startswith("session-")]

    paired = pair(server.sessions)
    for _ in range(3):
        assert _client(server, paired).run_session().outcome == "nothing-to-do"
    with server.sessions.begin() as db:
        assert db.scalar(select(func.count()).select_from(WebConnectorSession)) == 3
        assert db.scalar(select(func.count()).select_from(Event).where(Event.kind.in_(SESSION_EVENTS))) == 0
    server.clock.advance(days=2)
    assert _client(server, paired).run_session().outcome == "nothing-to-do"
    with server.sessions.begin() as db:
        assert db.scalar(select(func.count()).select_from(WebConnectorSession)) == 1  # only the newest poll remains


def test_a_failed_message_set_requeues_its_reads(server: LiveServer) -> None:
    paired = pair(server.sessions)
    prepared = prepare_probe()
    with server.sessions.begin() as db:
        probe = job_queue().enqueue(db, paired.id, prepared.kind, prepared.payload, read_only=True).job.id
    (write,) = enqueue_customers(server.sessions, paired.id, ["Written Co"])
    company = QuickBooksCompany()
    company.fail_next_with_hresult("0x80040414", "A modal dialog box is showing in QuickBooks.")
    assert _client(server, paired, company).run_session().outcome == "error"
    statuses = {j.id: j.status for j in jobs(server.sessions)}
    assert statuses == {probe: "queued", write: "unknown"}  # a read is asked again; a write is never re-sent blindly
    assert _client(server, paired, company).run_session().outcome == "done"  # the probe runs again
    assert {j.id: j.status for j in jobs(server.sessions)}[probe] == "done"


def test_a_name_held_by_another_kind_of_list_entry_is_dead_with_a_reason(server: LiveServer) -> None:
    paired = pair(server.sessions)
    company = QuickBooksCompany()
    company.add("Vendor", Name="Shared Name Co")
    enqueue_customers(server.sessions, paired.id, ["Shared Name Co"])
    assert _client(server, paired, company).run_session().outcome == "done"
    (job,) = jobs(server.sessions)
    assert job.status == "dead" and "another kind of list entry" in (job.status_message or "")
    assert company.count("Customer") == 0
