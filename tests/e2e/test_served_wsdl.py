"""The service's own WSDL (GET /qbwc?wsdl) is enough to build a working client."""

from __future__ import annotations

import httpx
import zeep
from zeep.transports import Transport

from tests.conftest import LiveServer
from tests.support import pair


def test_a_client_built_from_the_served_wsdl_authenticates(server: LiveServer) -> None:
    response = httpx.get(f"{server.soap_url}?wsdl", timeout=10)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml")
    for operation in ("serverVersion", "clientVersion", "authenticate", "sendRequestXML", "receiveResponseXML",
                      "connectionError", "getLastError", "closeConnection", "getInteractiveURL",
                      "interactiveDone", "interactiveRejected"):
        assert f'name="{operation}"' in response.text
    paired = pair(server.sessions)
    client = zeep.Client(f"{server.soap_url}?wsdl", transport=Transport(timeout=10))
    service = client.create_service(next(iter(client.wsdl.bindings)), server.soap_url)
    answer = service.authenticate(paired.username, paired.token)
    values = list(answer) if not hasattr(answer, "string") else list(answer.string)
    assert values[1] == "none" and values[0]
    assert service.interactiveDone(values[0]) == "Done"
