"""Every Fusion -> QuickBooks flow, through the simulated Web Connector and company, with the options
that change it; missing dependencies; lost responses; refusals."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mappings.custom_fields import build_data_ext_add
from qbwc_service import connections, links, usecases
from qbwc_service.db.models import Job
from qbwc_service.errors import InvalidInput, InvalidJobPayload, Refusal, Refused
from qbwc_service.kinds import REGISTRY
from qbwc_service.kinds.base import Answer, SettleContext
from qbwc_service.kinds.flows import FLOWS, FlowKind
from qbwc_service.qbxml.envelope import Request, build_message_set
from qbwc_service.settings import Settings
from qbwc_service.settlements import Settlement
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from qbwc_service.simulate.webconnector import WebConnectorClient
from tests.conftest import LiveServer, run_server
from tests.support import Paired, job_queue, jobs, pair

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example(name: str) -> Any:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def set_options(sessions: sessionmaker[Session], paired: Paired, **options: Any) -> None:
    with sessions.begin() as db:
        connections.get_connection(db, paired.name).options = options


def send(sessions: sessionmaker[Session], paired: Paired, flow: str, data: Any) -> list[int]:
    with sessions.begin() as db:
        return [made.job.id for made in usecases.enqueue_flow(db, job_queue(), paired.name, flow, data)]


def run(server: LiveServer, paired: Paired, company: QuickBooksCompany, expect: str = "done") -> None:
    report = WebConnectorClient(server.soap_url, paired.username, paired.token, company).run_session()
    assert report.outcome == expect, report


def production_order_missing_from_seed() -> Any:
    """The example production order with a code and a second operator the seed company does not have (the
    example itself matches the seed), for the tests of what is missing in QuickBooks."""
    order = example("production-order")
    order["code"] = "WO-1050"
    order["timeRecords"][1]["worker"] = {"number": "14", "name": "Sam Ortiz"}
    return order


@pytest.fixture
def company() -> QuickBooksCompany:
    return QuickBooksCompany.from_seed()


def by_id(server: LiveServer) -> dict[int, Any]:
    return {job.id: job for job in jobs(server.sessions)}


# ---------------------------------------------------------------- sales orders


def test_sales_order_default(server: LiveServer, company: QuickBooksCompany) -> None:
    paired = pair(server.sessions)
    (job_id,) = send(server.sessions, paired, "sales_order", example("sales-order"))
    run(server, paired, company)
    job = by_id(server)[job_id]
    assert job.status == "done", job.status_message
    (order,) = company.find_all("SalesOrder", CustomerRef__FullName="Cascade Robotics")
    assert order.text("RefNumber") != "SO-5001"  # QuickBooks numbered it (the default)
    assert order.text("TxnDate") == "2026-11-21"  # the transfer date
    assert order.text("ShipDate") is None
    assert order.id == job.result["TxnID"]
    with server.sessions.begin() as db:
        link = links.find(db, paired.id, "sales_order", 5001)
        assert link is not None and link.qbd_id == order.id and set(link.line_ids or {}) == {"1", "2"}


def test_sales_order_options_change_the_document(server: LiveServer, company: QuickBooksCompany) -> None:
    paired = pair(server.sessions)
    set_options(server.sessions, paired, document_number="fusion_code", document_date="document_date",
                ship_date="due_date", customer_name="market_custom_field", line_description="product_notes")
    send(server.sessions, paired, "sales_order", example("sales-order"))
    run(server, paired, company)
    order = company.find("SalesOrder", RefNumber="SO-5001")
    assert order is not None
    assert order.text("TxnDate") == "2026-11-20" and order.text("ShipDate") == "2026-12-15"
    assert order.text("CustomerRef/FullName") == "Cascade Robotics"
    assert order.element.findtext("SalesOrderLineRet/Desc") == "Anodised"


def test_the_quickbooks_customer_field_is_read_from_the_market_then_the_client(
    server: LiveServer, company: QuickBooksCompany
) -> None:
    paired = pair(server.sessions)
    set_options(server.sessions, paired, customer_name="market_custom_field")
    distributors = {"id": 3, "name": "Distributors",
                    "customFields": {"QuickBooks customer": "Baker Industrial Controls"}}
    on_market = example("sales-order")  # the client's own field says Cascade Robotics: the market's wins
    on_market["client"].update(market=distributors, customFields={"QuickBooks customer": "Cascade Robotics"})
    on_client = example("sales-order")
    on_client.update(id=5002, code="SO-5002")
    on_client["client"].update(id=32, code="HBB", market={"id": 4, "name": "Marine"},
                               customFields={"QuickBooks customer": "Heron Bay Boatworks"})
    on_neither = example("sales-order")
    on_neither.update(id=5003, code="SO-5003")
    on_neither["client"].update(id=33, code="NEW", market={"id": 4, "name": "Marine"}, customFields={})
    ids = [job_id for order in (on_market, on_client, on_neither)
           for job_id in send(server.sessions, paired, "sales_order", order)]
    before = company.count("SalesOrder")
    run(server, paired, company)
    done = by_id(server)
    assert [done[i].status for i in ids] == ["done", "done", "dead"]
    assert [o.id for o in company.find_all("SalesOrder", CustomerRef__FullName="Baker Industrial Controls")] == [
        done[ids[0]].result["TxnID"]]
    assert [o.id for o in company.find_all("SalesOrder", CustomerRef__FullName="Heron Bay Boatworks")] == [
        done[ids[1]].result["TxnID"]]
    assert company.find_all("SalesOrder", CustomerRef__FullName="Cascade Robotics") == []
    assert company.count("SalesOrder") == before + 2
    message = done[ids[2]].status_message or ""
    assert "client 'NEW'" in message and "market 'Marine'" in message
    assert "client.market.custom_fields['QuickBooks customer']" in message
    assert "client.custom_fields['QuickBooks customer']" in message


def test_custom_fields_follow_the_document(server: LiveServer, company: QuickBooksCompany) -> None:
    paired = pair(server.sessions)
    company.define_custom_field("Fusion code", assign_to=["SalesOrder"])
    company.define_custom_field("Customer PO", assign_to=["SalesOrder"])
    set_options(server.sessions, paired, entity_code_field="Fusion code",
                custom_fields=[{"qbd_field": "Customer PO", "fusion_field": "Customer PO"},
                               {"qbd_field": "Unused", "fusion_field": "customer po"}])  # case-sensitive miss
    send(server.sessions, paired, "sales_order", example("sales-order"))
    run(server, paired, company)
    assert {j.kind: j.status for j in jobs(server.sessions)} == {"sales_order": "done", "custom_fields": "done"}
    (order,) = company.find_all("SalesOrder", CustomerRef__FullName="Cascade Robotics")
    values = company.custom_field_values(order) if hasattr(company, "custom_field_values") else {
        ext.findtext("DataExtName"): ext.findtext("DataExtValue") for ext in order.element.iter("DataExtRet")}
    assert values.get("Fusion code") == "SO-5001" and values.get("Customer PO") == "CR-8812"
    assert "Unused" not in values


def stored_custom_fields(company: QuickBooksCompany, kind: str, txn_id: str) -> dict[str | None, str | None]:
    """The public custom field values QuickBooks holds on a document, as its UI shows them."""
    record = company.find(kind, TxnID=txn_id)
    assert record is not None
    return {ext.findtext("DataExtName"): ext.findtext("DataExtValue") for ext in record.element.iter("DataExtRet")
            if ext.findtext("OwnerID") == "0"}


def custom_fields_job(server: LiveServer) -> Job:
    (job,) = [j for j in jobs(server.sessions) if j.kind == "custom_fields"]
    return job


def test_an_undefined_custom_field_is_refused_alone_and_the_others_are_written(
    server: LiveServer, company: QuickBooksCompany
) -> None:
    paired = pair(server.sessions)
    company.define_custom_field("Fusion code", assign_to=["SalesOrder"])
    company.define_custom_field("Customer PO", assign_to=["SalesOrder"])  # "Carrier" is not defined in QuickBooks
    set_options(server.sessions, paired, entity_code_field="Fusion code",
                custom_fields=[{"qbd_field": "Carrier", "fusion_field": "Carrier"},
                               {"qbd_field": "Customer PO", "fusion_field": "Customer PO"}])
    order = example("sales-order")
    order["customFields"]["Carrier"] = "DHL"
    (order_job_id,) = send(server.sessions, paired, "sales_order", order)
    run(server, paired, company)
    txn_id = by_id(server)[order_job_id].result["TxnID"]
    assert stored_custom_fields(company, "SalesOrder", txn_id) == {"Fusion code": "SO-5001", "Customer PO": "CR-8812"}
    job = custom_fields_job(server)
    assert job.status == "dead" and job.status_code == "3120"
    assert job.status_message.startswith("Custom field 'Carrier' refused: QuickBooks has no custom field 'Carrier' "
                                         "for sales orders")
    assert "The others are in QuickBooks: written 'Fusion code', 'Customer PO'." in job.status_message
    assert job.result["fields"]["Fusion code"] == job.result["fields"]["Customer PO"] == "written"
    assert job.result["fields"]["Carrier"].startswith("refused: ")

    # The field is defined in QuickBooks and the job retried: only the refused value is sent.
    company.define_custom_field("Carrier", assign_to=["SalesOrder"])
    with server.sessions.begin() as db:
        usecases.retry_job(db, job_queue(), job.id)
    run(server, paired, company)
    job = custom_fields_job(server)
    assert job.status == "done", job.status_message
    assert job.request_xml.count("<DataExtAddRq") == 1 and "<DataExtName>Carrier</DataExtName>" in job.request_xml
    assert job.result["fields"] == {"Fusion code": "written", "Carrier": "written", "Customer PO": "written"}
    assert stored_custom_fields(company, "SalesOrder", txn_id) == {
        "Fusion code": "SO-5001", "Carrier": "DHL", "Customer PO": "CR-8812"}


def test_a_custom_field_that_already_holds_a_value_is_updated(server: LiveServer, company: QuickBooksCompany) -> None:
    paired = pair(server.sessions)
    company.define_custom_field("Fusion code", assign_to=["SalesOrder"])
    company.define_custom_field("Customer PO", assign_to=["SalesOrder"])
    set_options(server.sessions, paired, entity_code_field="Fusion code",
                custom_fields=[{"qbd_field": "Customer PO", "fusion_field": "Customer PO"}])
    (order_job_id,) = send(server.sessions, paired, "sales_order", example("sales-order"))
    company.drop_next_responses(1)
    run(server, paired, company, expect="error")  # the sales order landed; its answer was lost
    (order,) = company.find_all("SalesOrder", CustomerRef__FullName="Cascade Robotics")
    # Meanwhile someone types a PO number on the order in QuickBooks.
    typed = company.process(build_message_set(
        [Request("1", build_data_ext_add("SalesOrder", order.id, "Customer PO", "phoned in"))], (13, 0)))
    assert 'statusCode="0"' in typed
    assert stored_custom_fields(company, "SalesOrder", order.id) == {"Customer PO": "phoned in"}
    server.clock.advance(hours=2)  # the session's lease runs out
    run(server, paired, company)
    assert by_id(server)[order_job_id].result == {"TxnID": order.id, "RefNumber": order.text("RefNumber"),
                                                  "reconciled": True}
    job = custom_fields_job(server)
    assert job.status == "done", job.status_message
    assert job.result["fields"] == {"Fusion code": "written", "Customer PO": "updated"}
    assert job.read_only  # a lost answer sends the values again: an add of a value already there becomes a Mod
    assert stored_custom_fields(company, "SalesOrder", order.id) == {"Fusion code": "SO-5001", "Customer PO": "CR-8812"}


# ---------------------------------------------------------------- purchase orders and receivings


def _lines(record: Any, tag: str) -> list[tuple[str | None, float]]:
    return [(line.findtext("ItemRef/FullName"), float(line.findtext("Quantity") or 0))
            for line in record.element.findall(tag)]


def _done_per_line(record: Any, line_tag: str, done_tag: str) -> list[tuple[float, float]]:
    """(done, ordered) for each line of an order: invoiced or received of what was ordered."""
    return [(float(line.findtext(done_tag) or 0), float(line.findtext("Quantity") or 0))
            for line in record.element.findall(line_tag)]


def test_purchase_order_then_receiving_becomes_a_linked_bill(server: LiveServer, company: QuickBooksCompany) -> None:
    """FAQ 6: the bill carries the ordered quantity of the whole purchase order (only the plates were received),
    linked line by line, so QuickBooks sees the order received in full."""
    paired = pair(server.sessions)
    (po_job,) = send(server.sessions, paired, "purchase_order", example("purchase-order"))
    run(server, paired, company)
    po_id = by_id(server)[po_job].result["TxnID"]
    assert company.find("PurchaseOrder", TxnID=po_id) is not None
    bills_before = company.count("Bill")
    (bill_job,) = send(server.sessions, paired, "receiving", example("receiving"))
    run(server, paired, company)
    assert company.count("Bill") == bills_before + 1
    bill = company.find("Bill", TxnID=by_id(server)[bill_job].result["TxnID"])
    assert bill is not None
    assert _lines(bill, "ItemLineRet") == [("Steel Plate 1/4in", 40), ("Steel Tube 2in", 25)]
    linked = [t.findtext("TxnID") for t in bill.element.iter("LinkedTxn")]
    assert po_id in linked
    order = company.find("PurchaseOrder", TxnID=po_id)
    assert order is not None and order.text("IsFullyReceived") == "true"
    assert _done_per_line(order, "PurchaseOrderLineRet", "ReceivedQuantity") == [(40, 40), (25, 25)]


def test_a_second_receiving_of_a_purchase_order_never_bills_it_twice(
    server: LiveServer, company: QuickBooksCompany
) -> None:
    paired = pair(server.sessions)
    send(server.sessions, paired, "purchase_order", example("purchase-order"))
    send(server.sessions, paired, "receiving", example("receiving"))
    run(server, paired, company)
    bills = company.count("Bill")
    with pytest.raises(Refused, match=r"REC-9002.*not billed.*PO-7001.*already billed by receiving 'REC-9001'"
                                      r".*partial_billing") as refused:
        send(server.sessions, paired, "receiving", example("receiving-partial"))
    assert refused.value.reason is Refusal.ORDER_ALREADY_BILLED
    run(server, paired, company, expect="nothing-to-do")
    assert company.count("Bill") == bills
    (order,) = company.find_all("PurchaseOrder", RefNumber="PO-7001") or company.records("PurchaseOrder")[-1:]
    assert _done_per_line(order, "PurchaseOrderLineRet", "ReceivedQuantity") == [(40, 40), (25, 25)]


def test_partial_billing_bills_each_receiving_and_closes_the_order_when_all_is_received(
    server: LiveServer, company: QuickBooksCompany
) -> None:
    paired = pair(server.sessions)
    set_options(server.sessions, paired, partial_billing=True)
    (po_job,) = send(server.sessions, paired, "purchase_order", example("purchase-order"))
    run(server, paired, company)
    po_id = by_id(server)[po_job].result["TxnID"]
    partial = example("receiving-partial")  # 30 of the 40 plates
    rest = copy.deepcopy(partial)
    rest.update(id=9003, code="REC-9003")
    rest["lines"] = [{"id": 1, "orderLineId": 11, "product": {"code": "Steel Plate 1/4in"}, "quantity": 10},
                     {"id": 2, "orderLineId": 12, "product": {"code": "Steel Tube 2in"}, "quantity": 25}]
    send(server.sessions, paired, "receiving", partial)
    run(server, paired, company)
    order = company.find("PurchaseOrder", TxnID=po_id)
    assert order is not None and order.text("IsFullyReceived") == "false"
    assert _done_per_line(order, "PurchaseOrderLineRet", "ReceivedQuantity") == [(30, 40), (0, 25)]
    send(server.sessions, paired, "receiving", rest)
    run(server, paired, company)
    bills = [bill for bill in company.records("Bill") if po_id in [t.findtext("TxnID") for t in
                                                                   bill.element.iter("LinkedTxn")]]
    assert [_lines(bill, "ItemLineRet") for bill in bills] == [
        [("Steel Plate 1/4in", 30)], [("Steel Plate 1/4in", 10), ("Steel Tube 2in", 25)]]
    order = company.find("PurchaseOrder", TxnID=po_id)
    assert order is not None and order.text("IsFullyReceived") == "true"
    assert _done_per_line(order, "PurchaseOrderLineRet", "ReceivedQuantity") == [(40, 40), (25, 25)]


def test_missing_item_is_created_when_the_option_is_on(server: LiveServer, company: QuickBooksCompany) -> None:
    paired = pair(server.sessions)
    order = example("purchase-order")
    order["lines"][0]["product"] = {"code": "Laser Cut Gusset LG-3", "name": "Laser cut gusset LG-3"}
    set_options(server.sessions, paired, create_missing_items=True, item_income_account="Sales")
    send(server.sessions, paired, "purchase_order", order)
    run(server, paired, company)
    kinds = {j.kind: j for j in jobs(server.sessions)}
    assert kinds["purchase_order"].status == "done", kinds["purchase_order"].status_message
    assert kinds["list_add"].status == "done"
    assert company.find("Item", FullName="Laser Cut Gusset LG-3") is not None


def test_missing_item_without_the_option_is_dead_naming_it(server: LiveServer, company: QuickBooksCompany) -> None:
    paired = pair(server.sessions)
    order = example("purchase-order")
    order["lines"][0]["product"] = {"code": "Laser Cut Gusset LG-3"}
    (job_id,) = send(server.sessions, paired, "purchase_order", order)
    run(server, paired, company)
    job = by_id(server)[job_id]
    assert job.status == "dead" and job.status_code == "3140"
    assert "Laser Cut Gusset LG-3" in (job.status_message or "")
    assert company.find("Item", FullName="Laser Cut Gusset LG-3") is None


# ---------------------------------------------------------------- shipments and invoices


def test_invoice_carries_the_full_ordered_quantity_by_default(server: LiveServer, company: QuickBooksCompany) -> None:
    paired = pair(server.sessions)
    send(server.sessions, paired, "sales_order", example("sales-order"))
    send(server.sessions, paired, "shipment", example("shipment"))
    run(server, paired, company)
    (invoice,) = company.find_all("Invoice", CustomerRef__FullName="Cascade Robotics")
    quantities = [float(line.findtext("Quantity") or 0) for line in invoice.element.findall("InvoiceLineRet")]
    assert quantities == [4, 20]  # shipped only 2, invoiced what was ordered (vendor behaviour)


def test_a_second_shipment_of_an_invoiced_order_never_invoices_it_again(
    server: LiveServer, company: QuickBooksCompany
) -> None:
    """Default options (one shipment per order): SHP-8002 of an order SHP-8001 invoiced in full is refused at
    enqueue, naming SHP-8001 and partial_invoicing; the order stays invoiced 4 of 4 and 20 of 20."""
    paired = pair(server.sessions)
    send(server.sessions, paired, "sales_order", example("sales-order"))
    send(server.sessions, paired, "shipment", example("shipment"))
    run(server, paired, company)
    with pytest.raises(Refused, match=r"SHP-8002.*not invoiced.*SO-5001.*already invoiced by shipment 'SHP-8001'"
                                      r".*partial_invoicing") as refused:
        send(server.sessions, paired, "shipment", example("shipment-second"))
    assert refused.value.reason is Refusal.ORDER_ALREADY_BILLED and refused.value.subject == "SHP-8002"
    run(server, paired, company, expect="nothing-to-do")
    assert len(company.find_all("Invoice", CustomerRef__FullName="Cascade Robotics")) == 1
    (order,) = company.find_all("SalesOrder", CustomerRef__FullName="Cascade Robotics")
    assert _done_per_line(order, "SalesOrderLineRet", "Invoiced") == [(4, 4), (20, 20)]


def test_a_second_shipment_the_service_did_not_know_of_is_dead_when_it_is_sent(
    server: LiveServer, company: QuickBooksCompany
) -> None:
    """SHP-8001 was cancelled, so SHP-8002 could be queued; an operator then retries SHP-8001: both reach the
    same message set, the first is invoiced, the second is dead before sending, naming the first."""
    paired = pair(server.sessions)
    send(server.sessions, paired, "sales_order", example("sales-order"))
    run(server, paired, company)
    (first,) = send(server.sessions, paired, "shipment", example("shipment"))
    with server.sessions.begin() as db:
        usecases.cancel_job(db, job_queue(), first)
    (second,) = send(server.sessions, paired, "shipment", example("shipment-second"))
    with server.sessions.begin() as db:
        usecases.retry_job(db, job_queue(), first)
    run(server, paired, company)
    done = by_id(server)
    assert done[first].status == "done"
    assert done[second].status == "dead" and "already invoiced by shipment 'SHP-8001'" in done[second].status_message
    assert len(company.find_all("Invoice", CustomerRef__FullName="Cascade Robotics")) == 1
    (order,) = company.find_all("SalesOrder", CustomerRef__FullName="Cascade Robotics")
    assert _done_per_line(order, "SalesOrderLineRet", "Invoiced") == [(4, 4), (20, 20)]


def test_partial_invoicing_closes_the_sales_order_after_the_last_shipment(
    server: LiveServer, company: QuickBooksCompany
) -> None:
    paired = pair(server.sessions)
    set_options(server.sessions, paired, partial_invoicing=True)
    send(server.sessions, paired, "sales_order", example("sales-order"))
    run(server, paired, company)
    first = example("shipment")
    second = copy.deepcopy(first)
    second.update(id=8002, code="SHP-8002")
    second["lines"] = [{"id": 1, "orderLineId": 1, "product": {"code": "Gripper Frame GF-20"}, "quantity": 2},
                       {"id": 2, "orderLineId": 2, "product": {"code": "Mounting Bracket MB-100"}, "quantity": 20}]
    send(server.sessions, paired, "shipment", first)
    run(server, paired, company)
    (order,) = company.find_all("SalesOrder", CustomerRef__FullName="Cascade Robotics")
    assert order.text("IsFullyInvoiced") != "true"
    send(server.sessions, paired, "shipment", second)
    run(server, paired, company)
    invoices = company.find_all("Invoice", CustomerRef__FullName="Cascade Robotics")
    assert [[float(line.findtext("Quantity") or 0) for line in inv.element.findall("InvoiceLineRet")]
            for inv in invoices] == [[2], [2, 20]]
    order = company.find("SalesOrder", TxnID=order.id)
    assert order is not None and order.text("IsFullyInvoiced") == "true"


# ---------------------------------------------------------------- time tracking


def test_time_entries_create_missing_employee_and_customer_job(
    server: LiveServer, company: QuickBooksCompany
) -> None:
    paired = pair(server.sessions)
    set_options(server.sessions, paired, create_missing_employee=True, create_missing_customer_job=True,
                time_customer_parent="Cascade Robotics", billable=True)
    ids = send(server.sessions, paired, "time_tracking", production_order_missing_from_seed())
    assert len(ids) == 2
    run(server, paired, company)
    done = by_id(server)
    assert all(done[i].status == "done" for i in ids), [done[i].status_message for i in ids]
    entries = [e for e in company.records("TimeTracking") if "fusion:time_tracking" in (e.text("Notes") or "")]
    assert len(entries) == 2
    assert {e.text("Duration") for e in entries} == {"PT4H15M0S", "PT2H30M0S"}
    assert {e.text("CustomerRef/FullName") for e in entries} == {"Cascade Robotics:WO-1050"}
    assert company.find("Customer", FullName="Cascade Robotics:WO-1050") is not None
    assert company.find("Employee", Name="Sam Ortiz") is not None
    assert {e.text("BillableStatus") for e in entries} == {"Billable"}


def test_time_entries_go_on_a_job_under_the_production_orders_client(
    server: LiveServer, company: QuickBooksCompany
) -> None:
    paired = pair(server.sessions)
    # The connection-wide parent is only the fallback, for orders without a client.
    set_options(server.sessions, paired, create_missing_customer_job=True,
                time_customer_parent="Abercrombie Marine Supply")
    orders = []
    for fusion_id, code, client in ((46, "WO-1050", {"code": "Cascade Robotics"}),
                                    (47, "WO-1051", {"code": "Heron Bay Boatworks"}),
                                    (48, "WO-1052", None),
                                    (49, "WO-1053", {"code": "Nobody Industries"})):
        order = production_order_missing_from_seed()
        order.update(id=fusion_id, code=code, client=client)
        order["timeRecords"] = [dict(order["timeRecords"][0], id=9100 + fusion_id)]  # Maria Gonzalez, who exists
        orders.append(order)
    ids = [job_id for order in orders for job_id in send(server.sessions, paired, "time_tracking", order)]
    customers_before = company.count("Customer")
    run(server, paired, company)
    done = by_id(server)
    assert [done[i].status for i in ids] == ["done", "done", "done", "dead"], [done[i].status_message for i in ids]
    entries = {e.text("CustomerRef/FullName") for e in company.records("TimeTracking")
               if "fusion:time_tracking" in (e.text("Notes") or "")}
    assert entries == {"Cascade Robotics:WO-1050", "Heron Bay Boatworks:WO-1051", "Abercrombie Marine Supply:WO-1052"}
    for client, job in (("Cascade Robotics", "WO-1050"), ("Heron Bay Boatworks", "WO-1051"),
                        ("Abercrombie Marine Supply", "WO-1052")):
        created = company.find("Customer", FullName=f"{client}:{job}")
        assert created is not None and created.text("ParentRef/FullName") == client
    # The client missing from QuickBooks is not created (a send never creates a client), nor is its job
    # put anywhere else.
    assert "no Customer named 'Nobody Industries'" in (done[ids[3]].status_message or "")
    assert company.count("Customer") == customers_before + 3
    assert all(company.find("Customer", FullName=name) is None
               for name in ("WO-1050", "WO-1053", "Abercrombie Marine Supply:WO-1050", "Nobody Industries"))


def test_a_qbxml_5_0_company_gets_its_time_entries_with_is_billable(server: LiveServer) -> None:
    # Before 6.0 the billable flag is IsBillable: the 13.0 schema has BillableStatus in its place, and the
    # schema gate (on by default) must not refuse what the company's own version accepts.
    assert server.settings.qbxml_schema_gate
    company = QuickBooksCompany.from_seed(supported_versions=("1.0", "2.0", "3.0", "4.0", "5.0"))
    paired = pair(server.sessions)
    set_options(server.sessions, paired, create_missing_employee=True, create_missing_customer_job=True,
                time_customer_parent="Cascade Robotics", billable=True)
    ids = send(server.sessions, paired, "time_tracking", production_order_missing_from_seed())
    run(server, paired, company)
    done = by_id(server)
    assert all(done[i].status == "done" for i in ids), [done[i].status_message for i in ids]
    assert all("<IsBillable>true</IsBillable>" in (done[i].request_xml or "") for i in ids)
    entries = [e for e in company.records("TimeTracking") if "fusion:time_tracking" in (e.text("Notes") or "")]
    assert {e.text("Duration") for e in entries} == {"PT4H15M0S", "PT2H30M0S"}


def test_missing_employee_without_the_option_is_dead_naming_them(
    server: LiveServer, company: QuickBooksCompany
) -> None:
    paired = pair(server.sessions)
    set_options(server.sessions, paired, create_missing_customer_job=True)
    ids = send(server.sessions, paired, "time_tracking", production_order_missing_from_seed())
    run(server, paired, company)
    done = by_id(server)
    tom = done[ids[1]]
    assert tom.status == "dead" and "Sam Ortiz" in (tom.status_message or "")
    assert done[ids[0]].status == "done"  # Maria Gonzalez exists in the company


# ---------------------------------------------------------------- stock


def test_stock_sets_the_quantity_on_hand(server: LiveServer, company: QuickBooksCompany) -> None:
    paired = pair(server.sessions)
    set_options(server.sessions, paired, stock_sync=True, stock_adjustment_account="Inventory Adjustment",
                stock_adjustment_memo="Fusion stock sync", stock_only_quickbooks_label=True)
    levels = example("stock")["products"]
    send(server.sessions, paired, "stock", levels[0])
    with pytest.raises(InvalidInput, match="label"):
        send(server.sessions, paired, "stock", levels[2])
    run(server, paired, company)
    assert company.quantity_on_hand("Mounting Bracket MB-100") == 290
    (adjustment,) = company.records("InventoryAdjustment")
    assert (adjustment.text("Memo") or "").startswith("Fusion stock sync")


# ---------------------------------------------------------------- references and names are never cut


def test_a_document_number_too_long_is_dead_never_cut_into_another(
    server: LiveServer, company: QuickBooksCompany
) -> None:
    paired = pair(server.sessions)
    set_options(server.sessions, paired, document_number="fusion_code", line_description="product_notes")
    ids = []
    for fusion_id, code in ((5123, "SO-2026-000123"), (5124, "SO-2026-000124")):
        order = example("sales-order")
        order.update(id=fusion_id, code=code)
        ids += send(server.sessions, paired, "sales_order", order)
    fits = example("sales-order")
    fits.update(id=5125, code="SO-2026-125")  # 11 characters, the most a RefNumber holds
    fits["lines"][0]["product"]["notes"] = "Anodised;" * 500  # a line description is free text: cut to fit
    (fits_id,) = send(server.sessions, paired, "sales_order", fits)
    before = company.count("SalesOrder")
    run(server, paired, company)
    done = by_id(server)
    for job_id, code in zip(ids, ("SO-2026-000123", "SO-2026-000124"), strict=True):
        job = done[job_id]
        assert job.status == "dead" and job.request_xml is None  # never sent
        assert f"SalesOrderAddRq/SalesOrderAdd/RefNumber {code!r} has 14 characters, QuickBooks allows 11" in (
            job.status_message or "")
    assert company.find_all("SalesOrder", RefNumber="SO-2026-000") == []
    assert company.count("SalesOrder") == before + 1
    order = company.find("SalesOrder", RefNumber="SO-2026-125")
    assert order is not None and order.id == done[fits_id].result["TxnID"]
    assert len(order.element.findtext("SalesOrderLineRet/Desc") or "") == 4095
    assert any("Desc: 4500 characters cut to the maximum of 4095" in w for w in done[fits_id].warnings or [])


def test_a_payroll_item_name_too_long_is_dead_never_cut(server: LiveServer, company: QuickBooksCompany) -> None:
    paired = pair(server.sessions)
    set_options(server.sessions, paired, time_customer_parent="Cascade Robotics", create_missing_customer_job=True,
                time_payroll_item="section_name")
    order = production_order_missing_from_seed()
    order["timeRecords"] = order["timeRecords"][:1]  # Maria Gonzalez, who exists
    order["timeRecords"][0]["section"]["name"] = "Regular Pay - Second Shift Overtime"  # 35; payroll items: 31
    (job_id,) = send(server.sessions, paired, "time_tracking", order)
    before = company.count("TimeTracking")
    run(server, paired, company, expect="error")  # nothing could be sent
    job = by_id(server)[job_id]
    assert job.status == "dead" and job.request_xml is None
    assert ("TimeTrackingAddRq/TimeTrackingAdd/PayrollItemWageRef/FullName 'Regular Pay - Second Shift Overtime' "
            "has 35 characters, QuickBooks allows 31") in (job.status_message or "")
    assert company.count("TimeTracking") == before
    assert company.find("Customer", FullName="Cascade Robotics:WO-1050") is None


# ---------------------------------------------------------------- lost responses


@pytest.mark.parametrize("flow", ["sales_order", "shipment"])
def test_a_lost_response_never_makes_a_second_document(
    server: LiveServer, company: QuickBooksCompany, flow: str
) -> None:
    paired = pair(server.sessions)
    if flow == "shipment":
        send(server.sessions, paired, "sales_order", example("sales-order"))
        run(server, paired, company)
    kind = {"sales_order": "SalesOrder", "shipment": "Invoice"}[flow]
    before = company.count(kind)
    (job_id,) = send(server.sessions, paired, flow, example(flow.replace("_", "-")))
    company.drop_next_responses(1)
    run(server, paired, company, expect="error")
    assert company.count(kind) == before + 1  # it landed; the answer was lost
    server.clock.advance(hours=2)  # the session's lease runs out
    run(server, paired, company)
    job = by_id(server)[job_id]
    assert job.status == "done" and job.result["reconciled"] is True
    assert company.count(kind) == before + 1  # exactly once


def test_a_lost_add_that_did_not_land_is_sent_after_the_lookup(
    server: LiveServer, company: QuickBooksCompany
) -> None:
    paired = pair(server.sessions)
    (job_id,) = send(server.sessions, paired, "sales_order", example("sales-order"))
    company.fail_next_with_hresult("0x80040414", "A modal dialog box is showing in QuickBooks.")
    run(server, paired, company, expect="error")
    assert by_id(server)[job_id].status == "unknown"
    run(server, paired, company)
    job = by_id(server)[job_id]
    assert job.status == "done" and job.result["reconciled"] is False
    assert company.count("SalesOrder") == 2 + 1  # the seed's two, and this one


# ---------------------------------------------------------------- refusals


def test_non_us_companies_are_pull_only(server: LiveServer) -> None:
    paired = pair(server.sessions)
    canadian = QuickBooksCompany.from_seed(country="CA")
    (job_id,) = send(server.sessions, paired, "sales_order", example("sales-order"))
    # the country is learned in this session; the job is refused, not sent, and the Web Connector is told why
    run(server, paired, canadian, expect="error")
    job = by_id(server)[job_id]
    assert job.status == "dead" and "non-US" in (job.status_message or "")
    assert canadian.count("SalesOrder") == 2
    with pytest.raises(InvalidInput, match="non-US"):
        send(server.sessions, paired, "purchase_order", example("purchase-order"))


@pytest.mark.parametrize(
    ("flow", "change", "field"),
    [
        ("sales_order", lambda d: d.pop("client"), "client"),
        ("sales_order", lambda d: d["lines"][0].update(quantity="lots"), "lines.0.quantity"),
        ("purchase_order", lambda d: d.update(lines=[]), "lines"),
        ("time_tracking", lambda d: d["timeRecords"][0].update(endTime="2026-11-24T07:00:00"),
         "timeRecords.0.endTime"),
        ("shipment", lambda d: d["salesOrder"].pop("code"), "salesOrder.code"),
    ],
)
def test_a_bad_entity_is_refused_naming_the_field(server: LiveServer, flow: str, change: Any, field: str) -> None:
    paired = pair(server.sessions)
    data = example({"time_tracking": "production-order"}.get(flow, flow.replace("_", "-")))
    change(data)
    with pytest.raises(InvalidJobPayload, match=field.replace(".", r"\.")):
        send(server.sessions, paired, flow, data)
    assert jobs(server.sessions) == []


def test_missing_customer_job_without_the_option_is_dead_naming_it(
    server: LiveServer, company: QuickBooksCompany
) -> None:
    paired = pair(server.sessions)
    order = production_order_missing_from_seed()
    order["timeRecords"] = order["timeRecords"][:1]  # Maria Gonzalez, who exists
    (job_id,) = send(server.sessions, paired, "time_tracking", order)
    run(server, paired, company)
    job = by_id(server)[job_id]
    assert job.status == "dead" and "WO-1050" in (job.status_message or "")
    assert company.find("Customer", FullName="WO-1050") is None


def test_a_sales_order_for_an_unknown_customer_is_dead_naming_it(
    server: LiveServer, company: QuickBooksCompany
) -> None:
    paired = pair(server.sessions)
    order = example("sales-order")
    order["client"]["code"] = "Nobody Industries"
    (job_id,) = send(server.sessions, paired, "sales_order", order)
    run(server, paired, company)
    job = by_id(server)[job_id]
    assert job.status == "dead" and job.status_code == "3140"
    assert "no Customer named 'Nobody Industries'" in (job.status_message or "")


def test_a_lost_add_is_found_days_later(server: LiveServer) -> None:
    """The answer is lost on a Friday; the Web Connector next runs on Monday: still exactly one document."""
    from datetime import datetime, timedelta

    days_ago = {"n": 3}
    company = QuickBooksCompany.from_seed(clock=lambda: datetime.now() - timedelta(days=days_ago["n"]))
    paired = pair(server.sessions)
    (job_id,) = send(server.sessions, paired, "sales_order", example("sales-order"))
    company.drop_next_responses(1)
    server.clock.advance(days=-3)  # Friday
    run(server, paired, company, expect="error")
    server.clock.advance(days=3)  # Monday: the Web Connector runs again
    days_ago["n"] = 0
    run(server, paired, company)
    job = by_id(server)[job_id]
    assert job.status == "done" and job.result["reconciled"] is True
    assert company.count("SalesOrder") == 3  # the seed's two and this one, once


class _FailingToSettle(FlowKind):
    """The sales order kind, failing unexpectedly while it settles an answer (a fault, injected)."""

    def __init__(self) -> None:
        super().__init__(FLOWS["sales_order"])
        self.failing = True

    def settle(self, job: Job, answer: Answer, ctx: SettleContext) -> Settlement:
        if self.failing:
            raise RuntimeError("boom")
        return super().settle(job, answer, ctx)


@pytest.mark.each_database  # rolling back to a savepoint and settling again, in each engine's transactions
def test_a_failure_while_processing_one_answer_keeps_the_others(
    settings: Settings, engine: Engine, sessions: sessionmaker[Session], company: QuickBooksCompany
) -> None:
    """An unexpected error settling one job makes that job dead with a reason and the answer kept; the rest
    of the message set keeps its results, and no job is left to fail the same way on every run."""
    failing = _FailingToSettle()
    for server in run_server(settings, engine, sessions, registry=REGISTRY.replacing(failing)):
        paired = pair(server.sessions)
        (order_job,) = send(server.sessions, paired, "sales_order", example("sales-order"))
        (po_job,) = send(server.sessions, paired, "purchase_order", example("purchase-order"))
        run(server, paired, company)
        done = by_id(server)
        assert done[po_job].status == "done" and done[po_job].result["TxnID"]
        assert done[order_job].status == "dead" and "boom" in (done[order_job].status_message or "")
        assert "SalesOrderAddRs" in (done[order_job].response_xml or "")
        failing.failing = False
        run(server, paired, company, expect="nothing-to-do")


@pytest.mark.each_database  # the whole call rolled back and made again, in each engine's transactions
def test_a_job_settled_before_the_failing_one_is_settled_once(
    settings: Settings, engine: Engine, sessions: sessionmaker[Session], company: QuickBooksCompany
) -> None:
    """The answers settle together with no savepoint; when one fails unexpectedly the call is rolled back and made
    again, each job settled on its own: what the first try settled before the failure (a job done, its link, its
    events) is undone with it and settled once, not twice."""
    from sqlalchemy import func, select

    from qbwc_service.db.models import Event, Link

    failing = _FailingToSettle()
    for server in run_server(settings, engine, sessions, registry=REGISTRY.replacing(failing)):
        paired = pair(server.sessions)
        (po_job,) = send(server.sessions, paired, "purchase_order", example("purchase-order"))
        (order_job,) = send(server.sessions, paired, "sales_order", example("sales-order"))
        assert po_job < order_job  # settled first in the message set, before the failure
        purchase_orders = company.count("PurchaseOrder")
        report = WebConnectorClient(server.soap_url, paired.username, paired.token, company).run_session()
        assert report.outcome == "done", report
        assert company.count("PurchaseOrder") == purchase_orders + 1  # sent once: the redo settles, sends nothing
        assert report.close_message == "OK: 1 done, 1 failed"  # each job counted once on the session's tally
        done = by_id(server)
        assert done[po_job].status == "done" and done[order_job].status == "dead"
        with server.sessions.begin() as db:
            assert db.scalar(select(func.count()).select_from(Link).where(Link.flow == "purchase_order")) == 1
            assert db.scalar(select(func.count()).select_from(Event).where(
                Event.job_id == po_job, Event.kind == "job-done")) == 1
            assert db.scalar(select(func.count()).select_from(Event).where(
                Event.job_id == po_job, Event.kind == "job-sent")) == 1
        failing.failing = False


def test_an_order_and_its_shipment_in_one_run_are_linked(server: LiveServer, company: QuickBooksCompany) -> None:
    paired = pair(server.sessions)
    set_options(server.sessions, paired, partial_invoicing=True)
    shipment = example("shipment")
    shipment["lines"] = [{"id": 1, "orderLineId": 1, "product": {"code": "Gripper Frame GF-20"}, "quantity": 4},
                         {"id": 2, "orderLineId": 2, "product": {"code": "Mounting Bracket MB-100"}, "quantity": 20}]
    (order_job,) = send(server.sessions, paired, "sales_order", example("sales-order"))
    (ship_job,) = send(server.sessions, paired, "shipment", shipment)
    run(server, paired, company)
    done = by_id(server)
    assert done[ship_job].depends_on == order_job and done[ship_job].status == "done"
    order = company.find("SalesOrder", TxnID=done[order_job].result["TxnID"])
    assert order is not None and order.text("IsFullyInvoiced") == "true"


def test_stock_sent_back_to_an_earlier_quantity_is_sent_again(server: LiveServer, company: QuickBooksCompany) -> None:
    paired = pair(server.sessions)
    set_options(server.sessions, paired, stock_sync=True, stock_adjustment_account="Inventory Adjustment")
    level = example("stock")["products"][1]  # 12 in stock, 4 on orders
    for in_stock, expected in ((12, 8), (19, 15), (12, 8)):
        level["quantityInStock"] = in_stock
        first = send(server.sessions, paired, "stock", level)
        assert send(server.sessions, paired, "stock", level) == first  # the same while it is on its way
        run(server, paired, company)
        assert company.quantity_on_hand("Gripper Frame GF-20") == expected
    assert len([j for j in jobs(server.sessions) if j.kind == "stock"]) == 3


def test_stock_changed_back_before_a_run_ends_at_the_newest_quantity(
    server: LiveServer, company: QuickBooksCompany
) -> None:
    paired = pair(server.sessions)
    set_options(server.sessions, paired, stock_sync=True, stock_adjustment_account="Inventory Adjustment")
    level = example("stock")["products"][1]  # 4 on orders
    ids = []
    for in_stock in (12, 19, 12):
        level["quantityInStock"] = in_stock
        ids += send(server.sessions, paired, "stock", level)
    assert len(set(ids)) == 3
    run(server, paired, company)
    assert company.quantity_on_hand("Gripper Frame GF-20") == 8
