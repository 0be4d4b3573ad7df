"""QuickBooks documents into Fusion, end to end over HTTP: the simulated Web Connector and QuickBooks company talk
SOAP to the served service, which pulls the documents; the delivery worker takes them to the simulated Fusion API,
served over HTTP too. Judged by what ends up in the simulated Fusion."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import delivery_usecases, delivery_worker, fusion_accounts, links, usecases
from qbwc_service.db.enums import DeliveryStatus
from qbwc_service.delivery_worker import DeliveryWorker, Report
from qbwc_service.simulate.webconnector import WebConnectorClient
from tests.retrieve_support import Rig, rig
from tests.support import job_queue


def _sales_order(r: Rig, ref: str, *items: tuple[str, str]) -> str:
    lines = [{"ItemRef": item, "Quantity": quantity, "Rate": "10.00"} for item, quantity in items]
    return r.company.add("SalesOrder", CustomerRef="Cascade Robotics", RefNumber=ref, lines=lines).id


def _set_first_line_quantity(r: Rig, txn_id: str, quantity: str) -> None:
    """Edit the sales order in QuickBooks: its first line's quantity becomes ``quantity``."""
    order = r.company.find("SalesOrder", TxnID=txn_id)
    assert order is not None
    line_id = order.text("SalesOrderLineRet/TxnLineID") or ""
    r.company.modify("SalesOrder", txn_id, SalesOrderLineMod={"TxnLineID": line_id, "Quantity": quantity})


def _statuses(r: Rig) -> Counter[str]:
    return Counter(str(d.status) for d in r.deliveries())


def test_a_sales_order_appears_once_in_fusion_with_its_missing_products(engine: Engine,
                                                                        sessions: sessionmaker[Session]) -> None:
    with rig(engine, sessions) as r:
        txn_id = _sales_order(r, "SO-1", ("Widget", "3"), ("Hardware:Bolt M8", "10"), ("Gripper Frame GF-20", "1"))
        products_before = len(r.sim.entities("products"))
        r.pull("SalesOrder")
        assert r.deliver().delivered == 1
        r.pull("SalesOrder")  # read again: recognised, nothing new to deliver
        assert r.deliver().handled == 0

        (order,) = r.orders()
        assert order["code"] == "SO-1" and order["client"]["code"] == "Cascade Robotics"
        assert [(line["product"]["code"], line["quantity"]) for line in order["products"]] == [
            ("Widget", 3), ("Hardware:Bolt M8", 10), ("Gripper Frame GF-20", 1)]
        codes = [p["code"] for p in r.sim.entities("products")]
        assert len(codes) == products_before + 2 and codes.count("Widget") == 1
        (delivery,) = r.deliveries()
        assert delivery.status == DeliveryStatus.DELIVERED and delivery.fusion_id == str(order["id"])
        assert delivery.fusion_payload and delivery.fusion_payload["code"] == "SO-1"
        with sessions.begin() as db:
            link = links.find_by_qbd(db, r.paired.id, "retrieve_sales_order", txn_id)
            assert link is not None and link.fusion_id == str(order["id"])


def test_a_missing_product_fails_naming_it_unless_created_and_a_retry_delivers(
        engine: Engine, sessions: sessionmaker[Session]) -> None:
    with rig(engine, sessions) as r:
        r.options(create_missing_products=False, ignore_category_names=True)
        _sales_order(r, "SO-2", ("Hardware:Bolt M8", "4"))
        r.pull("SalesOrder")
        assert r.deliver().failed == 1
        (delivery,) = r.deliveries()
        assert "Fusion has no product 'Bolt M8'" in (delivery.last_error or "")
        assert r.orders() == []
        r.sim.add("products", {"code": "Bolt M8", "name": "Bolt M8"})
        with sessions.begin() as db:
            delivery_usecases.retry_delivery(db, delivery.id)
        assert r.deliver().delivered == 1
        (order,) = r.orders()
        assert order["products"][0]["product"]["code"] == "Bolt M8"


def test_quickbooks_custom_fields_fill_the_fusion_orders_custom_fields(engine: Engine,
                                                                      sessions: sessionmaker[Session]) -> None:
    with rig(engine, sessions) as r:
        r.options(custom_fields=[{"qbd_field": "Customer PO", "fusion_field": "PO number"}])
        r.company.define_custom_field("Customer PO", assign_to=["SalesOrder"])
        txn_id = _sales_order(r, "SO-4", ("Widget", "1"))
        answer = r.company.process(
            '<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">'
            '<DataExtAddRq><DataExtAdd><OwnerID>0</OwnerID><DataExtName>Customer PO</DataExtName>'
            f'<TxnDataExtType>SalesOrder</TxnDataExtType><TxnID>{txn_id}</TxnID><DataExtValue>CR-8812'
            '</DataExtValue></DataExtAdd></DataExtAddRq></QBXMLMsgsRq></QBXML>')
        assert 'statusCode="0"' in answer
        r.pull("SalesOrder")
        assert r.deliver().delivered == 1
        (order,) = r.orders()
        assert order["customFields"] == {"PO number": "CR-8812"}


def test_a_voided_invoice_never_reaches_fusion(engine: Engine, sessions: sessionmaker[Session]) -> None:
    with rig(engine, sessions) as r:
        voided = r.company.add("Invoice", CustomerRef="Cascade Robotics", RefNumber="1043", Memo="wrong customer",
                               lines=[{"ItemRef": "Widget", "Quantity": "1", "Rate": "5.00"}]).id
        r.company.void(voided)
        r.company.add("Invoice", CustomerRef="Cascade Robotics", RefNumber="1044",
                      lines=[{"ItemRef": "Widget", "Quantity": "2", "Rate": "5.00"}])
        estimate = r.company.add("Estimate", CustomerRef="Cascade Robotics", RefNumber="E-1",
                                 lines=[{"ItemRef": "Widget", "Quantity": "7", "Rate": "5.00"}]).id
        r.pull("Invoice", "Estimate")
        report = r.deliver()
        assert (report.delivered, report.skipped) == (2, 1)
        assert sorted(o["code"] for o in r.orders()) == ["EST-E-1", "INV-1044"]
        skipped = [d for d in r.deliveries() if d.status == DeliveryStatus.SKIPPED]
        assert [(d.qbd_id, d.outcome) for d in skipped] == [(voided, "the invoice is voided in QuickBooks")]
        assert any(d.qbd_id == estimate and d.status == DeliveryStatus.DELIVERED for d in r.deliveries())


def test_manually_closed_orders_are_skipped_when_asked(engine: Engine, sessions: sessionmaker[Session]) -> None:
    with rig(engine, sessions) as r:
        r.options(skip_manually_closed=True)
        closed = _sales_order(r, "SO-3", ("Widget", "1"))
        r.company.close_manually("SalesOrder", closed)
        r.company.add("PurchaseOrder", VendorRef="Midwest Steel Service Center", RefNumber="PO-9",
                      lines=[{"ItemRef": "Widget", "Quantity": "5", "Rate": "1.00"}])
        r.pull("SalesOrder", "PurchaseOrder")
        report = r.deliver()
        assert (report.delivered, report.skipped) == (1, 1)
        assert r.orders() == []
        (po,) = r.orders("purchase-orders")
        assert po["code"] == "PO-9" and po["supplier"]["code"] == "Midwest Steel Service Center"


def test_2500_documents_over_two_sessions_and_two_workers_land_once_each(
        engine: Engine, sessions: sessionmaker[Session]) -> None:
    with rig(engine, sessions) as r:
        r.company.add_many("SalesOrder", ({"CustomerRef": "Cascade Robotics", "RefNumber": f"SO-{i:05d}",
                                           "lines": [{"ItemRef": "Widget", "Quantity": "2"}]}
                                          for i in range(2500)))
        with sessions.begin() as db:
            usecases.enqueue_pull(db, job_queue(r.server.clock), r.paired.name, "SalesOrder", max_returned=500)
        # the first session reads one page, then the Web Connector goes silent and QuickBooks' session ends
        client = WebConnectorClient(r.server.soap_url, r.paired.username, r.paired.token, r.company)
        ticket = client.authenticate(r.paired.username, r.paired.token)[0]
        request = client.send_request_xml(ticket, r.company.hcp_response(), r.company.company_file, "US", 13, 0)
        assert client.receive_response_xml(ticket, r.company.process(request), "", "") < 100
        assert len(r.deliveries()) == 500
        assert two_workers(r) == 500  # what came in so far goes to Fusion meanwhile
        r.company.end_qb_session()
        r.server.clock.advance(hours=2)  # the first session's lease runs out
        assert client.run_session().outcome == "done"  # the pull starts over: the first 500 are recognised
        assert len(r.deliveries()) == 2500
        assert two_workers(r) == 2000

        codes = Counter(o["code"] for o in r.orders())
        assert len(codes) == 2500 and set(codes.values()) == {1}
        assert [p["code"] for p in r.sim.entities("products")].count("Widget") == 1
        assert _statuses(r) == {"delivered": 2500}


def two_workers(r: Rig) -> int:
    """Two workers at once, each in its own thread; how many records they delivered."""
    reports: list[Report] = []
    threads = [threading.Thread(target=lambda w=w: reports.append(w.run_once()))
               for w in (r.worker("worker-a"), r.worker("worker-b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(report.failed == report.lost == 0 for report in reports)
    return sum(report.delivered for report in reports)


def test_fusion_busy_or_down_delays_deliveries_and_loses_none(engine: Engine,
                                                              sessions: sessionmaker[Session]) -> None:
    with rig(engine, sessions) as r:
        for n in range(6):
            _sales_order(r, f"SO-{n}", ("Gripper Frame GF-20", "1"))
        r.pull("SalesOrder")
        r.sim.throttle_next(40, retry_after=2)  # beyond fusion_max_wait_seconds: the client gives up
        r.sim.fail_next(30, 503)
        first = r.deliver()
        assert first.postponed > 0 and first.delivered < 6
        waiting = [d for d in r.deliveries() if d.status == DeliveryStatus.PENDING]
        assert waiting and all(d.not_before and d.last_error for d in waiting)
        assert r.deliver().handled == 0  # not due yet: nothing is tried before its time
        for _ in range(10):
            r.server.clock.advance(minutes=10)
            r.deliver()
            if _statuses(r) == {"delivered": 6}:
                break
        assert _statuses(r) == {"delivered": 6}
        assert sorted(o["code"] for o in r.orders()) == [f"SO-{n}" for n in range(6)]


def test_a_create_whose_answer_was_lost_is_found_not_made_twice(engine: Engine,
                                                                sessions: sessionmaker[Session]) -> None:
    with rig(engine, sessions) as r:
        _sales_order(r, "SO-7", ("Gripper Frame GF-20", "2"))
        r.pull("SalesOrder")
        r.sim.lose_next(1)  # Fusion makes the order; its answer is lost on the way back
        assert r.deliver().postponed == 1
        (delivery,) = r.deliveries()
        assert delivery.status == DeliveryStatus.PENDING and delivery.create_started_at is not None
        assert len(r.orders()) == 1
        r.server.clock.advance(seconds=r.server.settings.delivery_retry_seconds + 1)
        assert r.deliver().delivered == 1
        (order,) = r.orders()
        (delivery,) = r.deliveries()
        assert delivery.fusion_id == str(order["id"]) and r.sim.stats["lost-502"] == 1


def test_a_later_quickbooks_edit_changes_fusion_only_with_update_open_orders(
        engine: Engine, sessions: sessionmaker[Session]) -> None:
    with rig(engine, sessions) as r:
        txn_id = _sales_order(r, "SO-8", ("Widget", "2"))
        r.pull("SalesOrder")
        r.deliver()
        (order,) = r.orders()
        r.server.clock.advance(minutes=1)
        _set_first_line_quantity(r, txn_id, "5")
        r.pull("SalesOrder")
        assert r.deliver().skipped == 1
        (unchanged,) = r.orders()
        assert unchanged["products"][0]["quantity"] == 2 and unchanged["updatedAt"] == order["updatedAt"]
        assert "update_open_orders is off" in (r.deliveries()[-1].outcome or "")

        r.options(update_open_orders=True)
        _set_first_line_quantity(r, txn_id, "6")
        r.pull("SalesOrder")
        assert r.deliver().delivered == 1
        (updated,) = r.orders()
        assert updated["id"] == order["id"] and updated["products"][0]["quantity"] == 6

        r.sim.account.patch("sales-orders", str(order["id"]), {"status": "CLOSED"}, r.server.clock.now())
        _set_first_line_quantity(r, txn_id, "9")
        r.pull("SalesOrder")
        assert r.deliver().skipped == 1
        (closed,) = r.orders()
        assert closed["products"][0]["quantity"] == 6
        assert "closed" in (r.deliveries()[-1].outcome or "")
        assert len(r.deliveries()) == 4


def test_records_wait_without_a_secret_key_or_a_fusion_account(engine: Engine,
                                                               sessions: sessionmaker[Session]) -> None:
    with rig(engine, sessions) as r:
        _sales_order(r, "SO-9", ("Widget", "1"))
        r.pull("SalesOrder")
        keyless = r.server.settings.model_copy(update={"secret_key": None})
        report = DeliveryWorker(sessions, keyless, r.server.clock).run_once()
        assert report.waiting == [r.paired.name] and report.handled == 0
        with sessions.begin() as db:
            fusion_accounts.forget(db, r.paired.id)
        report = r.deliver()
        assert report.waiting == [] and report.handled == 0
        assert _statuses(r) == {"pending": 1}


def test_a_record_that_breaks_the_worker_fails_naming_the_error_and_the_others_go_on(
        engine: Engine, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    with rig(engine, sessions) as r:
        broken = _sales_order(r, "SO-10", ("Widget", "1"))
        _sales_order(r, "SO-11", ("Widget", "1"))
        r.pull("SalesOrder")
        real = delivery_worker.build_order

        def build(ret: Any, options: Any) -> Any:
            if ret.findtext("TxnID") == broken:
                raise RuntimeError("a bug")
            return real(ret, options)

        monkeypatch.setattr(delivery_worker, "build_order", build)
        report = r.deliver()
        assert (report.delivered, report.failed) == (1, 1)
        (failed,) = [d for d in r.deliveries() if d.status == DeliveryStatus.FAILED]
        assert failed.qbd_id == broken and failed.last_error == "unexpected RuntimeError: a bug"
        assert [o["code"] for o in r.orders()] == ["SO-11"]


def test_an_older_version_retried_after_a_newer_one_was_imported_changes_nothing(
        engine: Engine, sessions: sessionmaker[Session]) -> None:
    with rig(engine, sessions) as r:
        r.options(create_missing_products=False, update_open_orders=True)
        txn_id = _sales_order(r, "SO-12", ("Widget", "2"))
        r.pull("SalesOrder")
        assert r.deliver().failed == 1  # Fusion has no Widget
        r.server.clock.advance(minutes=1)
        _set_first_line_quantity(r, txn_id, "7")
        r.pull("SalesOrder")
        r.sim.add("products", {"code": "Widget", "name": "Widget"})
        assert r.deliver().delivered == 1  # the newer version, once the older one is settled (failed)
        older, newer = r.deliveries()
        with sessions.begin() as db:
            delivery_usecases.retry_delivery(db, older.id)
        assert r.deliver().skipped == 1
        (order,) = r.orders()
        assert order["products"][0]["quantity"] == 7
        assert "holds a newer QuickBooks version" in (r.deliveries()[0].outcome or "")
        assert newer.status == DeliveryStatus.DELIVERED
