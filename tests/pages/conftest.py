"""The pages in-process, as a browser without JavaScript sees them: an httpx client (keeping cookies) whose
transport is the app create_app makes, with an admin key and a read-only key, and a secret key to sign sessions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio.from_thread
import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import connection_usecases
from qbwc_service.app import create_app
from qbwc_service.clock import FakeClock
from qbwc_service.secretbox import new_key
from qbwc_service.settings import Settings
from tests.api.conftest import PortalTransport

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


@dataclass
class Browser:
    client: httpx.Client
    sessions: sessionmaker[Session]
    clock: FakeClock
    admin_key: str
    reader_key: str

    def sign_in(self, key: str | None = None) -> httpx.Response:
        page = self.client.get("/signin")
        return self.client.post("/signin", data={"key": key or self.admin_key, "csrf": csrf_of(page), "next": "/"})

    def csrf(self, path: str = "/") -> str:
        return csrf_of(self.client.get(path))

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True) -> httpx.Response:
        form = dict(data or {})
        if csrf:
            form["csrf"] = self.csrf()
        return self.client.post(path, data=form)


def make_browser(settings: Settings, engine: Engine, sessions: sessionmaker[Session],
                 **changes: Any) -> Iterator[Browser]:
    clock = FakeClock()
    with sessions.begin() as db:
        admin = connection_usecases.create_api_key(db, "admin", clock=clock).key
        reader = connection_usecases.create_api_key(db, "reader", read_only=True, clock=clock).key
    changed = settings.model_copy(update={"secret_key": SecretStr(new_key()), **changes})
    app = create_app(changed, engine, clock)
    with anyio.from_thread.start_blocking_portal() as portal, \
            httpx.Client(transport=PortalTransport(app, portal), base_url="http://testserver") as client:
        yield Browser(client, sessions, clock, admin, reader)


@pytest.fixture
def browser(settings: Settings, engine: Engine, sessions: sessionmaker[Session]) -> Iterator[Browser]:
    yield from make_browser(settings, engine, sessions)


@pytest.fixture
def signed_in(browser: Browser) -> Browser:
    assert browser.sign_in().status_code == 303
    return browser
