"""Intuit's WSDL is the contract: zeep, built from it, drives a whole session against the service."""

from __future__ import annotations

import zeep
from zeep.transports import Transport

from qbwc_service.simulate.quickbooks import QuickBooksCompany
from tests.conftest import LiveServer, shared_path
from tests.support import enqueue_customers, jobs, pair

BINDING = "{http://developer.intuit.com/}QBWebConnectorSvcSoap"


def _service(wsdl_name: str, server: LiveServer) -> zeep.proxy.ServiceProxy:
    client = zeep.Client(str(shared_path("qbwc", wsdl_name)), transport=Transport(timeout=30))
    return client.create_service(BINDING, server.soap_url)


def test_zeep_from_intuits_wsdl_drives_a_session(server: LiveServer) -> None:
    paired = pair(server.sessions)
    job_ids = enqueue_customers(server.sessions, paired.id, ["Zeep One", "Zeep Two"])
    company = QuickBooksCompany()
    versions = _service("QBWebConnectorSvc.with-versions.wsdl", server)
    assert versions.serverVersion().startswith("qbwc-service")
    assert versions.clientVersion("2.3.0.215") in ("", None)
    assert versions.clientVersion("1.0.0.0").startswith("E:")

    svc = _service("QBWebConnectorSvc.wsdl", server)
    assert list(svc.authenticate(paired.username, "wrong")) == [None, "nvu"] or list(
        svc.authenticate(paired.username, "wrong")) == ["", "nvu"]
    ticket, company_file = list(svc.authenticate(paired.username, paired.token))[:2]
    assert ticket and company_file in ("", None)

    request = svc.sendRequestXML(ticket, company.hcp_response(), company.company_file, "US", 13, 0)
    assert request and '<?qbxml version="13.0"?>' in request
    percent = svc.receiveResponseXML(ticket, company.process(request), "", "")
    assert percent == 100
    assert svc.getLastError(ticket)
    assert svc.closeConnection(ticket).startswith("OK")

    done = {j.id: j for j in jobs(server.sessions)}
    assert all(done[i].status == "done" and done[i].result and done[i].result.get("ListID") for i in job_ids)
    assert company.count("Customer") == 2

    # connectionError, through the contract too
    enqueue_customers(server.sessions, paired.id, ["Zeep Three"])
    ticket = next(iter(svc.authenticate(paired.username, paired.token)))
    assert svc.connectionError(ticket, "0x80040408", "Could not start QuickBooks.").lower() == "done"
    assert "QuickBooks" in svc.getLastError(ticket)
