"""Non-US QuickBooks companies are pull-only (FAQ 5): any sign of another country than US, from the Web
Connector or from QuickBooks itself, refuses every send, and two signs that disagree refuse too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from qbwc_service import usecases
from qbwc_service.db.models import Delivery
from qbwc_service.errors import NonUsCompany
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from qbwc_service.simulate.webconnector import WebConnectorClient
from tests.conftest import LiveServer
from tests.support import connection, job_queue, jobs, pair

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DOCUMENTS = ("SalesOrder", "PurchaseOrder", "Invoice", "Bill", "TimeTracking", "InventoryAdjustment")


def example(name: str) -> Any:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


@pytest.mark.parametrize(("web_connector", "quickbooks"), [("CA", "US"), ("US", "CA"), ("UK", "UK")])
def test_any_sign_of_a_non_us_edition_refuses_every_send(
    server: LiveServer, web_connector: str, quickbooks: str
) -> None:
    company = QuickBooksCompany.from_seed(country=quickbooks)
    documents = {kind: company.count(kind) for kind in DOCUMENTS}
    paired = pair(server.sessions)
    with server.sessions.begin() as db:  # nothing is known of the company yet: both are queued
        (order,) = usecases.enqueue_flow(db, job_queue(server.clock), paired.name, "sales_order",
                                         example("sales-order"))
        pull = usecases.enqueue_pull(db, job_queue(server.clock), paired.name, "SalesOrder")

    report = WebConnectorClient(server.soap_url, paired.username, paired.token, company,
                                country=web_connector).run_session()

    assert report.outcome == "done"
    assert {kind: company.count(kind) for kind in DOCUMENTS} == documents  # nothing was written
    by_id = {job.id: job for job in jobs(server.sessions)}
    refused = by_id[order.job.id]
    assert refused.status == "dead" and refused.request_xml is None and "non-US" in (refused.status_message or "")
    assert all(country in (refused.status_message or "") for country in (web_connector, quickbooks))
    assert by_id[pull.job.id].status == "done"  # reads still work
    with server.sessions.begin() as db:
        assert len(db.scalars(select(Delivery).where(Delivery.connection_id == paired.id)).all()) == 2
    learned = connection(server.sessions, paired.id)
    assert (learned.client_country, learned.qb_country) == (web_connector, quickbooks)

    # Now that the signs are known, a send is refused when it is queued, naming them.
    for flow, data in (("purchase_order", example("purchase-order")), ("sales_order", example("sales-order"))):
        with server.sessions.begin() as db, pytest.raises(NonUsCompany) as caught:
            usecases.enqueue_flow(db, job_queue(server.clock), paired.name, flow, data)
        assert (caught.value.client_country, caught.value.host_country) == (web_connector, quickbooks)
        assert web_connector in caught.value.message and quickbooks in caught.value.message
    assert len(jobs(server.sessions)) == 2
