"""What is served beside SOAP: the health probe (GET and HEAD) and the help page the .qwc's AppSupport names."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import __version__
from qbwc_service.connections import render_qwc
from qbwc_service.db.models import Connection
from qbwc_service.settings import Settings
from tests.conftest import LiveServer, run_server


def test_healthz_answers_get_and_head(server: LiveServer) -> None:
    got = httpx.get(f"{server.url}/healthz", timeout=10)
    assert got.status_code == 200 and got.json()["status"] == "ok"
    head = httpx.head(f"{server.url}/healthz", timeout=10)
    assert head.status_code == 200 and head.content == b""


def test_the_qwc_support_url_answers_with_a_help_page(settings: Settings, engine: Engine,
                                                      sessions: sessionmaker[Session]) -> None:
    settings = settings.model_copy(update={"support_contact": "Dana at it@example.com, 555-0100",
                                           "app_name": "Plant <Sync>"})
    for server in run_server(settings, engine, sessions):
        qwc = render_qwc(Connection(name="Acme", username="acme", owner_id="{A}", file_id="{B}"), settings)
        support = qwc.split("<AppSupport>")[1].split("</AppSupport>")[0]
        assert support.startswith(settings.public_url)
        page = httpx.get(server.url + urlsplit(support).path, timeout=10)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        text = page.text
        assert "<h1>Plant &lt;Sync&gt;</h1>" in text
        assert "Web Connector" in text and r"C:\ProgramData\Intuit\QBWebConnector\log\QWCLog.txt" in text
        assert "Dana at it@example.com, 555-0100" in text
        assert __version__ not in text
        head = httpx.head(server.url + urlsplit(support).path, timeout=10)
        assert head.status_code == 200 and head.content == b""
