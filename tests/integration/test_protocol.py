"""The Web Connector protocol below HTTP: WebConnectorSessions driven in-process by the simulated Web
Connector, on SQLite and a fake clock, judged by what ends up in the simulated QuickBooks company."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from qbwc_service import connection_usecases, usecases
from qbwc_service.errors import InvalidJobPayload, JobStateConflict, Refusal, Refused
from qbwc_service.kinds.flows import FlowProgress
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from tests.inprocess import Protocol, in_process
from tests.support import enqueue_customers, enqueue_raw, job_queue, jobs, pair

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example(name: str) -> Any:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def _send(wc: Protocol, connection: str, flow: str, data: Any) -> list[int]:
    with wc.sessions.begin() as db:
        return [made.job.id for made in usecases.enqueue_flow(db, job_queue(wc.clock), connection, flow, data)]


def test_close_connection_counts_every_job_the_session_settled(protocol: Protocol) -> None:
    """Two customers made, one refused by QuickBooks (missing parent), one refused before sending (the
    company turned out to be Canadian): closeConnection reports 2 done and 2 failed."""
    paired = pair(protocol.sessions)
    enqueue_customers(protocol.sessions, paired.id, ["Good One", "Good Two"])
    enqueue_raw(protocol.sessions, paired.id, "<CustomerAddRq><CustomerAdd><Name>Orphan</Name><ParentRef>"
                "<FullName>Nobody</FullName></ParentRef></CustomerAdd></CustomerAddRq>")
    (order,) = _send(protocol, paired.name, "sales_order", _example("sales-order"))
    company = QuickBooksCompany.from_seed()
    company.country = "CA"
    report = protocol.web_connector(paired, company).run_session()
    assert report.outcome == "done"
    assert report.close_message == "OK: 2 done, 2 failed"
    statuses = {job.id: job.status for job in jobs(protocol.sessions)}
    assert statuses[order] == "dead" and list(statuses.values()).count("done") == 2
    assert company.count("SalesOrder") == 2  # the seed's two; nothing was sent to the Canadian company


def test_a_backoff_waits_on_the_clock(engine: Engine) -> None:
    patient = in_process(engine, retry_backoff_seconds=300)
    paired = pair(patient.sessions)
    enqueue_customers(patient.sessions, paired.id, ["Locked Co"])
    company = QuickBooksCompany()
    company.lock("Customer", requests=1)
    assert patient.web_connector(paired, company).run_session().outcome == "done"
    assert [job.status for job in jobs(patient.sessions)] == ["failed"]
    patient.clock.advance(seconds=299)
    assert patient.web_connector(paired, company).run_session().outcome == "nothing-to-do"
    patient.clock.advance(seconds=2)
    assert patient.web_connector(paired, company).run_session().outcome == "done"
    assert [job.status for job in jobs(patient.sessions)] == ["done"]
    assert company.count("Customer") == 1


def test_a_lost_session_asks_reads_again_and_parks_writes_for_a_lookup(protocol: Protocol) -> None:
    paired = pair(protocol.sessions)
    with protocol.sessions.begin() as db:
        probe = usecases.enqueue_probe(db, job_queue(protocol.clock), paired.name).job.id
    (order,) = _send(protocol, paired.name, "sales_order", _example("sales-order"))
    company = QuickBooksCompany.from_seed()
    client = protocol.web_connector(paired, company)
    ticket = client.authenticate(paired.username, paired.token)[0]
    assert client.send_request_xml(ticket, company.hcp_response(), company.company_file, "US", 13, 0)
    sent_at = protocol.clock.now()
    protocol.clock.advance(hours=2)  # the answer never comes; the session expires
    assert client.receive_response_xml(ticket, "<QBXML/>", "", "") == -1
    by_id = {job.id: job for job in jobs(protocol.sessions)}
    assert by_id[probe].status == "queued"
    assert by_id[order].status == "unknown"
    assert FlowProgress.model_validate(by_id[order].cursor) == FlowProgress(reconcile=True, lost_sent_at=sent_at)
    assert company.count("SalesOrder") == 2  # the lost add never reached QuickBooks...
    assert protocol.web_connector(paired, company).run_session().outcome == "done"
    by_id = {job.id: job for job in jobs(protocol.sessions)}
    assert by_id[order].status == "done" and not by_id[order].result["reconciled"]  # ...the lookup said so
    assert by_id[probe].status == "done"
    assert company.count("SalesOrder") == 3  # and it was sent once


def test_the_sync_date_is_today_in_the_company_time_zone(protocol: Protocol) -> None:
    protocol.clock.set(datetime(2026, 11, 30, 3, 0))  # 03:00 UTC is still the 29th in Chicago
    paired = pair(protocol.sessions)
    with protocol.sessions.begin() as db:
        connection_usecases.update_options(db, paired.name, set_values=[("document_date", "sync_date"),
                                                             ("time_zone", "America/Chicago")])
    _send(protocol, paired.name, "sales_order", _example("sales-order"))
    company = QuickBooksCompany.from_seed()
    assert protocol.web_connector(paired, company).run_session().outcome == "done"
    (order,) = company.find_all("SalesOrder", CustomerRef__FullName="Cascade Robotics")
    assert order.text("TxnDate") == "2026-11-29"


def test_requests_held_when_quickbooks_was_not_reached_go_out_again(protocol: Protocol) -> None:
    """A connectionError means QuickBooks was never reached: what was handed out under that ticket was not
    applied, so it is sent again (not parked as unknown), and no attempt is spent."""
    paired = pair(protocol.sessions)
    (job_id,) = enqueue_customers(protocol.sessions, paired.id, ["Held Co"])
    company = QuickBooksCompany()
    client = protocol.web_connector(paired, company)
    ticket = client.authenticate(paired.username, paired.token)[0]
    assert client.send_request_xml(ticket, company.hcp_response(), company.company_file, "US", 13, 0)
    assert client.connection_error(ticket, "0x80040408", "Could not start QuickBooks.") == "done"
    (job,) = jobs(protocol.sessions)
    assert job.id == job_id and job.status == "queued" and job.attempts == 0
    assert protocol.web_connector(paired, company).run_session().outcome == "done"
    assert [r.full_name for r in company.records("Customer")] == ["Held Co"]


def test_message_sets_are_sized_by_bytes_as_well_as_by_count(engine: Engine) -> None:
    small = in_process(engine, max_message_set_bytes=64 * 1024)
    paired = pair(small.sessions)
    notes = "n" * 4000  # a customer's notes hold at most 4095 characters
    for i in range(40):
        enqueue_raw(small.sessions, paired.id, f"<CustomerAddRq><CustomerAdd><Name>Big {i}</Name><Notes>{notes}"
                    "</Notes></CustomerAdd></CustomerAddRq>")
    company = QuickBooksCompany()
    report = small.web_connector(paired, company).run_session()
    assert report.outcome == "done" and report.message_sets == 3  # 15 requests of 4 kB fit in 64 kB
    assert company.count("Customer") == 40


def test_max_attempts_holds_when_every_answer_is_lost(engine: Engine) -> None:
    """A send whose answers are always lost is looked up, sent again, lost again... and dead once its
    attempts are spent, asking for QuickBooks to be checked, instead of going round for ever."""
    impatient = in_process(engine, max_attempts=3)
    paired = pair(impatient.sessions)
    (order,) = _send(impatient, paired.name, "sales_order", _example("sales-order"))
    company = QuickBooksCompany.from_seed()
    for _ in range(8):
        company.drop_next_responses(1)
        impatient.web_connector(paired, company).run_session()
        impatient.clock.advance(hours=1)  # the lease of the session that lost its answer runs out
        (job,) = [j for j in jobs(impatient.sessions) if j.id == order]
        if job.status == "dead":
            break
    assert job.status == "dead" and "check QuickBooks" in (job.status_message or "")
    assert job.attempts <= 3
    assert company.count("SalesOrder") == 3  # the seed's two, and this one once: the lookups found nothing else


def test_a_job_left_sent_by_a_session_that_is_over_can_be_cancelled(protocol: Protocol) -> None:
    paired = pair(protocol.sessions)
    (job_id,) = enqueue_customers(protocol.sessions, paired.id, ["Stuck Co"])
    company = QuickBooksCompany()
    client = protocol.web_connector(paired, company)
    ticket = client.authenticate(paired.username, paired.token)[0]
    assert client.send_request_xml(ticket, company.hcp_response(), company.company_file, "US", 13, 0)
    with protocol.sessions.begin() as db:
        with pytest.raises(JobStateConflict):  # its session is live: the answer may still come
            usecases.cancel_job(db, job_queue(protocol.clock), job_id)
    protocol.clock.advance(hours=2)  # the Web Connector vanished; the lease ran out
    with protocol.sessions.begin() as db:
        assert usecases.cancel_job(db, job_queue(protocol.clock), job_id).status == "cancelled"


def test_a_request_larger_than_a_message_set_is_dead_and_its_neighbours_go_through(engine: Engine) -> None:
    small = in_process(engine, max_message_set_bytes=64 * 1024)
    paired = pair(small.sessions)
    lines = "".join(f"<SalesOrderLineAdd><ItemRef><FullName>Widget</FullName></ItemRef><Quantity>{i}</Quantity>"
                    "</SalesOrderLineAdd>" for i in range(1, 1200))
    huge = enqueue_raw(small.sessions, paired.id, "<SalesOrderAddRq><SalesOrderAdd><CustomerRef><FullName>Big"
                       f"</FullName></CustomerRef>{lines}</SalesOrderAdd></SalesOrderAddRq>")
    (fine,) = enqueue_customers(small.sessions, paired.id, ["Small Co"])
    company = QuickBooksCompany()
    assert small.web_connector(paired, company).run_session().outcome == "done"
    by_id = {job.id: job for job in jobs(small.sessions)}
    assert by_id[huge].status == "dead" and "max_message_set_bytes" in (by_id[huge].status_message or "")
    assert by_id[fine].status == "done" and company.count("SalesOrder") == 0


def test_a_sales_order_too_big_to_send_is_refused_when_queued(protocol: Protocol) -> None:
    paired = pair(protocol.sessions)
    order = _example("sales-order")
    order["lines"] = [{**order["lines"][0], "id": i} for i in range(1, 2002)]
    with pytest.raises(InvalidJobPayload, match=r"2001 lines.*at most 2000") as refused:
        _send(protocol, paired.name, "sales_order", order)
    assert refused.value.field == "lines"
    assert jobs(protocol.sessions) == []


def _sales_order_line(order: Any) -> list[tuple[str | None, float]]:
    return [(line.findtext("ItemRef/FullName"), float(line.findtext("Quantity") or 0))
            for line in order.element.findall("SalesOrderLineRet")]


def test_an_order_changed_after_it_was_sent_is_refused_naming_what_differs(protocol: Protocol) -> None:
    paired = pair(protocol.sessions)
    order = _example("sales-order")
    _send(protocol, paired.name, "sales_order", order)
    company = QuickBooksCompany.from_seed()
    assert protocol.web_connector(paired, company).run_session().outcome == "done"
    order["lines"][0]["quantity"] = 400
    with pytest.raises(Refused, match=r"'SO-5001' was queued before \(job 1, done\).*lines\[0\]\.quantity: 4 -> 400"
                                      r".*update_sent_orders") as refused:
        _send(protocol, paired.name, "sales_order", order)
    assert refused.value.reason is Refusal.ALREADY_SENT
    assert len(jobs(protocol.sessions)) == 1
    (sent,) = company.find_all("SalesOrder", CustomerRef__FullName="Cascade Robotics")
    assert _sales_order_line(sent)[0][1] == 4


def test_an_order_changed_before_it_was_sent_is_sent_as_changed(protocol: Protocol) -> None:
    paired = pair(protocol.sessions)
    order = _example("sales-order")
    (first,) = _send(protocol, paired.name, "sales_order", order)
    order["lines"][0]["quantity"] = 400
    with protocol.sessions.begin() as db:
        (made,) = usecases.enqueue_flow(db, job_queue(protocol.clock), paired.name, "sales_order", order)
        assert made.job.id == first and made.changed and not made.created
    company = QuickBooksCompany.from_seed()
    assert protocol.web_connector(paired, company).run_session().outcome == "done"
    (sent,) = company.find_all("SalesOrder", CustomerRef__FullName="Cascade Robotics")
    assert _sales_order_line(sent)[0][1] == 400


def test_with_update_sent_orders_a_change_is_sent_as_a_mod_until_the_order_is_invoiced(protocol: Protocol) -> None:
    paired = pair(protocol.sessions)
    with protocol.sessions.begin() as db:
        connection_usecases.update_options(db, paired.name, set_values=[("update_sent_orders", True)])
    order = _example("sales-order")
    _send(protocol, paired.name, "sales_order", order)
    company = QuickBooksCompany.from_seed()
    assert protocol.web_connector(paired, company).run_session().outcome == "done"
    (sent,) = company.find_all("SalesOrder", CustomerRef__FullName="Cascade Robotics")
    company.process(  # someone edits it in QuickBooks: the EditSequence the service knows is stale now
        '<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError"><SalesOrderModRq>'
        f"<SalesOrderMod><TxnID>{sent.id}</TxnID><EditSequence>{sent.text('EditSequence')}</EditSequence>"
        "<Memo>edited in QuickBooks</Memo></SalesOrderMod></SalesOrderModRq></QBXMLMsgsRq></QBXML>")
    order["lines"][0]["quantity"] = 400
    order["lines"].append({"id": 3, "product": {"code": "Gripper Frame GF-20"}, "quantity": 1, "unitPrice": 245.0})
    (change,) = _send(protocol, paired.name, "sales_order", order)
    assert protocol.web_connector(paired, company).run_session().outcome == "done"
    assert {job.id: job.status for job in jobs(protocol.sessions)}[change] == "done"
    assert company.count("SalesOrder") == 3  # still the seed's two and this one
    changed = company.find("SalesOrder", TxnID=sent.id)
    assert changed is not None
    assert _sales_order_line(changed) == [("Gripper Frame GF-20", 400), ("Mounting Bracket MB-100", 20),
                                          ("Gripper Frame GF-20", 1)]
    # Once it is invoiced, QuickBooks keeps the order as it is: a later change is refused, naming the invoice.
    _send(protocol, paired.name, "shipment", {**_example("shipment"), "salesOrder": {**_example("shipment")[
        "salesOrder"], "lines": order["lines"]}})
    order["lines"][1]["quantity"] = 10
    (late,) = _send(protocol, paired.name, "sales_order", order)
    assert protocol.web_connector(paired, company).run_session().outcome == "done"
    late_job = {job.id: job for job in jobs(protocol.sessions)}[late]
    assert late_job.status == "dead" and "SHP-8001" in (late_job.status_message or "")
    changed = company.find("SalesOrder", TxnID=sent.id)
    assert changed is not None and _sales_order_line(changed)[1] == ("Mounting Bracket MB-100", 20)


def test_every_example_goes_through_on_the_seed_company_with_default_options(protocol: Protocol) -> None:
    """What the README shows a new user: each example becomes its QuickBooks document, none ends dead."""
    paired = pair(protocol.sessions)
    for flow, name in (("sales_order", "sales-order"), ("purchase_order", "purchase-order"),
                       ("receiving", "receiving"), ("shipment", "shipment"), ("time_tracking", "production-order")):
        _send(protocol, paired.name, flow, _example(name))
    with protocol.sessions.begin() as db:
        connection_usecases.update_options(db, paired.name, set_values=[
            ("stock_sync", True), ("stock_adjustment_account", "Inventory Adjustment"),
            ("stock_only_quickbooks_label", True)])  # as the README shows
        sent = usecases.send_stock(db, job_queue(protocol.clock), paired.name, _example("stock")["products"])
        assert sent.not_labelled == ["Prototype X"]
    company = QuickBooksCompany.from_seed()
    before = {kind: company.count(kind) for kind in ("SalesOrder", "PurchaseOrder", "Bill", "Invoice", "TimeTracking",
                                                     "InventoryAdjustment")}
    assert protocol.web_connector(paired, company).run_session().outcome == "done"
    assert {(job.kind, job.status, job.status_message) for job in jobs(protocol.sessions) if job.status != "done"} \
        == set()
    after = {kind: company.count(kind) - count for kind, count in before.items()}
    assert after["SalesOrder"] == after["PurchaseOrder"] == after["Bill"] == after["Invoice"] == 1
    assert after["TimeTracking"] == 2 and after["InventoryAdjustment"] >= 1


def test_notes_cut_to_fit_the_memo_are_a_warning_on_the_job(protocol: Protocol) -> None:
    paired = pair(protocol.sessions)
    order = _example("sales-order")
    order["notes"] = "n" * 1_000_000
    (job_id,) = _send(protocol, paired.name, "sales_order", order)
    company = QuickBooksCompany.from_seed()
    assert protocol.web_connector(paired, company).run_session().outcome == "done"
    (job,) = [job for job in jobs(protocol.sessions) if job.id == job_id]
    assert job.status == "done"
    assert job.warnings and any("Memo: the notes' 1000000 characters cut to" in w for w in job.warnings)
    (sent,) = company.find_all("SalesOrder", CustomerRef__FullName="Cascade Robotics")
    memo = sent.text("Memo") or ""
    assert len(memo) <= 4095 and memo.endswith("[fusion:sales_order:5001]")
