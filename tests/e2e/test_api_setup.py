"""The setup steps through the HTTP API, over real HTTP, against the simulated Web Connector and QuickBooks
company: create a connection, get its .qwc, test the connection, test access."""

from __future__ import annotations

import httpx
from lxml import etree

from qbwc_service import connection_usecases
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from qbwc_service.simulate.webconnector import WebConnectorClient
from tests.conftest import LiveServer


def test_setup_through_the_api_ends_with_a_passing_access_test(server: LiveServer) -> None:
    with server.sessions.begin() as db:
        key = connection_usecases.create_api_key(db, "wizard").key
    with httpx.Client(base_url=f"{server.url}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=30) as api:
        made = api.post("/connections", json={"name": "Acme Plant"}).json()
        qwc = etree.fromstring(api.get("/connections/Acme Plant/qwc").content)
        assert qwc.findtext("UserName") == made["username"]
        assert api.get("/connections/Acme Plant/connection-test").json()["reached"] is False

        wrong = WebConnectorClient(server.soap_url, made["username"], "not the token",
                                   QuickBooksCompany()).run_session()
        assert wrong.outcome == "nvu"
        check = api.get("/connections/Acme Plant/connection-test").json()
        assert check["reached"] is True and check["authenticated"] is False
        assert "type the token again" in check["advice"]

        queued = api.post("/connections/Acme Plant/access-test")
        assert queued.status_code == 201
        assert api.get("/connections/Acme Plant/access-test").json()["status"] == "queued"
        company = QuickBooksCompany(company_name="Acme Plant Books", country="US")
        report = WebConnectorClient(server.soap_url, made["username"], made["token"], company).run_session()
        assert report.outcome == "done"
        check = api.get("/connections/Acme Plant/connection-test").json()
        assert check["authenticated"] is True and check["last_auth_outcome"] == "ok"
        assert check["client_version"] == "2.3.0.215"
        access = api.get("/connections/Acme Plant/access-test").json()
        assert access["status"] == "done" and access["job_id"] == queued.json()["id"]
        assert access["company_name"] == "Acme Plant Books" and access["country"] == "US"
        assert access["product"] and access["qbxml_version"] == "16.0" and "13.0" in access["supported_versions"]
        metrics = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {key}"}, timeout=30).text
        assert 'qbwc_sessions_recent{connection="Acme Plant"} 1.0' in metrics  # a refused token opens no session
        assert 'qbwc_round_trips_recent{connection="Acme Plant"} 1.0' in metrics
        assert 'qbwc_quickbooks_status_codes_recent{code="0",connection="Acme Plant"} 1.0' in metrics
