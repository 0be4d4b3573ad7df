"""Attack 8: no security headers, docs public. Every response says nosniff and no-store (SOAP answers carry
tickets and QuickBooks data), /healthz names no version without authentication, and FastAPI's docs and
OpenAPI schema are not served until there is an authenticated API."""

from __future__ import annotations

from pathlib import Path

import httpx

from qbwc_service import __version__
from tests.conftest import LiveServer
from tests.security.serving import serving
from tests.support import pair, post_soap, soap_envelope


def test_every_response_says_nosniff_and_no_store(server: LiveServer) -> None:
    paired = pair(server.sessions)
    answers = {
        "GET /healthz": httpx.get(f"{server.url}/healthz", timeout=10),
        "HEAD /healthz": httpx.head(f"{server.url}/healthz", timeout=10),
        "GET /support": httpx.get(f"{server.url}/support", timeout=10),
        "GET /qbwc?wsdl": httpx.get(f"{server.soap_url}?wsdl", timeout=10),
        "POST authenticate": post_soap(server.soap_url, "authenticate", soap_envelope(
            "authenticate", strUserName=paired.username, strPassword=paired.token)),
        "POST a fault": post_soap(server.soap_url, "authenticate", b"<not-soap/>"),
        "POST refused by the guard": post_soap(server.soap_url, "authenticate", b""),
        "GET a page that is not there": httpx.get(f"{server.url}/nothing-here", timeout=10),
        "POST /healthz": httpx.post(f"{server.url}/healthz", timeout=10),
    }
    for case, response in answers.items():
        assert response.headers.get("x-content-type-options") == "nosniff", case
        assert response.headers.get("cache-control") == "no-store", case
    page = answers["GET /support"].headers["content-security-policy"]
    assert "default-src 'none'" in page and "frame-ancestors 'none'" in page


def test_healthz_names_no_version(server: LiveServer) -> None:
    response = httpx.get(f"{server.url}/healthz", timeout=10)
    assert response.status_code == 200 and response.json() == {"status": "ok", "database": "reachable"}
    assert __version__ not in response.text


def test_the_docs_and_the_openapi_schema_are_not_served(server: LiveServer) -> None:
    for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
        response = httpx.get(f"{server.url}{path}", timeout=10)
        assert response.status_code == 404, path
        assert "swagger" not in response.text.lower() and '"paths"' not in response.text, path


def test_serve_names_no_server_software(tmp_path: Path, database_url: str) -> None:
    with serving(tmp_path, database_url) as served:
        response = httpx.get(f"http://127.0.0.1:{served.port}/healthz", timeout=10)
    assert response.status_code == 200 and "server" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"
