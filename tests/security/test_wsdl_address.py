"""Attack 5: WSDL address poisoning. The first GET /qbwc?wsdl fixed the address of every later WSDL from its Host
header (Host: evil.example:666 stuck). The address comes from public_url, whatever a request says."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import run_server


def _addresses(wsdl: str) -> list[str]:
    return re.findall(r'<[A-Za-z0-9]*:address location="([^"]+)"', wsdl)


def test_the_wsdl_names_public_url_whatever_the_host_header(engine: Engine, sessions: sessionmaker[Session],
                                                           settings) -> None:  # type: ignore[no-untyped-def]
    public = settings.model_copy(update={"public_url": "https://qb.example.com"})
    for server in run_server(public, engine, sessions):
        poisoned = httpx.get(f"{server.soap_url}?wsdl", headers={"Host": "evil.example:666"}, timeout=10)
        normal = httpx.get(f"{server.soap_url}?wsdl", timeout=10)
        forwarded = httpx.get(f"{server.soap_url}?wsdl", timeout=10,
                              headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"})
        for response in (poisoned, normal, forwarded):
            assert response.status_code == 200
            assert _addresses(response.text) == ["https://qb.example.com/qbwc"]
        assert "evil.example" not in poisoned.text + normal.text + forwarded.text
