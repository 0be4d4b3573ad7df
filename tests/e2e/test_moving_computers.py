"""The same QuickBooks company opened from another computer (FAQ 4): a new token, or an unpin, starts a new
pairing; the documents already sent stay linked, so nothing reaches QuickBooks twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from qbwc_service import connection_usecases, links, usecases
from qbwc_service.db.enums import EventKind
from qbwc_service.db.models import Event
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from qbwc_service.simulate.webconnector import SessionReport, WebConnectorClient
from tests.conftest import LiveServer
from tests.support import Paired, connection, job_queue, jobs, pair

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NEW_COMPUTER = r"D:\Accounting\QuickBooks\simulated.qbw"


def example(name: str) -> Any:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def send(server: LiveServer, paired: Paired, flow: str, data: Any) -> list[int]:
    with server.sessions.begin() as db:
        return [made.job.id for made in usecases.enqueue_flow(db, job_queue(server.clock), paired.name, flow, data)]


def update(server: LiveServer, paired: Paired, token: str, company: QuickBooksCompany) -> SessionReport:
    return WebConnectorClient(server.soap_url, paired.username, token, company).run_session()


def test_a_new_token_pairs_the_same_company_on_another_computer(server: LiveServer) -> None:
    company = QuickBooksCompany.from_seed()
    seed_orders = company.count("SalesOrder")
    paired = pair(server.sessions)
    (order_job,) = send(server, paired, "sales_order", example("sales-order"))
    assert update(server, paired, paired.token, company).outcome == "done"
    first_computer = company.company_file
    assert connection(server.sessions, paired.id).company_file == first_computer
    order_id = {job.id: job for job in jobs(server.sessions)}[order_job].result["TxnID"]

    company.company_file = NEW_COMPUTER  # the same books, opened on another computer
    (ship_job,) = send(server, paired, "shipment", example("shipment"))
    # Still pinned: the Web Connector is told to open the old path, cannot, and nothing is written.
    assert update(server, paired, paired.token, company).outcome == "connection-error"
    assert company.count("Invoice") == 0
    assert "connection unpin" in (connection(server.sessions, paired.id).last_connection_error or "")

    with server.sessions.begin() as db:
        made = connection_usecases.rotate_token(db, paired.name, server.clock)
        assert made.unpinned == first_computer
    assert update(server, paired, paired.token, company).outcome == "nvu"  # the old token stops working
    assert send(server, paired, "sales_order", example("sales-order")) == [order_job]  # already in QuickBooks

    assert update(server, paired, made.token, company).outcome == "done"

    assert company.count("SalesOrder") == seed_orders + 1  # the order was not sent again
    (invoice,) = company.find_all("Invoice", CustomerRef__FullName="Cascade Robotics")
    assert [linked.findtext("TxnID") for linked in invoice.element.findall("LinkedTxn")] == [order_id]
    order = company.find("SalesOrder", TxnID=order_id)
    assert order is not None and order.text("IsFullyInvoiced") == "true"  # linked line by line, not a copy
    assert {job.id: job.status for job in jobs(server.sessions)} == {order_job: "done", ship_job: "done"}
    assert connection(server.sessions, paired.id).company_file == NEW_COMPUTER  # pinned again, to the new path
    with server.sessions.begin() as db:
        shipped = links.find(db, paired.id, "shipment", 8001)
        assert shipped is not None and shipped.qbd_id == invoice.id
        kinds = list(db.scalars(select(Event.kind).where(Event.connection_id == paired.id).order_by(Event.id)))
    pins = [kind for kind in kinds if kind in (EventKind.COMPANY_FILE_PINNED, EventKind.COMPANY_FILE_UNPINNED)]
    assert pins == [EventKind.COMPANY_FILE_PINNED, EventKind.COMPANY_FILE_UNPINNED, EventKind.COMPANY_FILE_PINNED]


def test_unpin_keeps_the_token_and_the_links(server: LiveServer) -> None:
    company = QuickBooksCompany.from_seed()
    paired = pair(server.sessions)
    send(server, paired, "sales_order", example("sales-order"))
    assert update(server, paired, paired.token, company).outcome == "done"
    company.company_file = NEW_COMPUTER
    (ship_job,) = send(server, paired, "shipment", example("shipment"))
    with server.sessions.begin() as db:
        assert connection_usecases.unpin_company_file(db, paired.name, server.clock).company_file != NEW_COMPUTER
        # nothing left
        assert connection_usecases.unpin_company_file(db, paired.name, server.clock).company_file is None

    assert update(server, paired, paired.token, company).outcome == "done"

    (invoice,) = company.find_all("Invoice", CustomerRef__FullName="Cascade Robotics")
    assert {job.id: job.status for job in jobs(server.sessions)}[ship_job] == "done"
    assert len(invoice.element.findall("LinkedTxn")) == 1
    assert company.count("SalesOrder") == 3  # the seed's two and the one sent before the move
    assert connection(server.sessions, paired.id).company_file == NEW_COMPUTER
