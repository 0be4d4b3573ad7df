"""The HTTP API in-process: an httpx client whose transport is httpx's ASGITransport to the app create_app makes
(driven from a blocking portal, so the tests stay plain functions), on a clock the test moves, with an admin key
and a read-only key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio.from_thread
import httpx
import pytest
from anyio.from_thread import BlockingPortal
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import connection_usecases, usecases
from qbwc_service.app import create_app
from qbwc_service.clock import FakeClock
from qbwc_service.kinds import REGISTRY
from qbwc_service.queue import JobQueue, RetryPolicy, sent_under
from qbwc_service.settings import Settings
from qbwc_service.settlements import Lost

PROBLEM = "application/problem+json"


class PortalTransport(httpx.BaseTransport):
    """httpx.ASGITransport for a plain httpx.Client: each request runs on the portal's event loop, and its answer
    is read whole there."""

    def __init__(self, app: Any, portal: BlockingPortal) -> None:
        self.asgi = httpx.ASGITransport(app=app)
        self.portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, httpx.AsyncByteStream):  # a body made by a generator: read it here
            request.stream = httpx.ByteStream(b"".join(request.stream))  # type: ignore[union-attr]

        async def send() -> httpx.Response:
            answer = await self.asgi.handle_async_request(request)
            body = await answer.aread()
            return httpx.Response(answer.status_code, headers=answer.headers, content=body,
                                  extensions=answer.extensions)

        return self.portal.call(send)


@dataclass
class Api:
    client: httpx.Client
    sessions: sessionmaker[Session]
    clock: FakeClock
    admin_key: str
    reader_key: str
    app: FastAPI

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    @property
    def reader(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.reader_key}"}

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(f"/api/v1{path}", headers={**self.admin, **kwargs.pop("headers", {})}, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.client.post(f"/api/v1{path}", headers={**self.admin, **kwargs.pop("headers", {})}, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.client.patch(f"/api/v1{path}", headers={**self.admin, **kwargs.pop("headers", {})}, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.client.delete(f"/api/v1{path}", headers={**self.admin, **kwargs.pop("headers", {})}, **kwargs)

    def connection(self, name: str = "Shop") -> str:
        made = self.post("/connections", json={"name": name})
        assert made.status_code == 201, made.text
        return name

    def lose_all(self, connection: str) -> None:
        """A session takes every due job of the connection, and their answers are lost."""
        queue = JobQueue(self.clock, RetryPolicy())
        with self.sessions.begin() as db:
            connection_id = usecases.connections.get_connection(db, connection).id
            queue.claim_batch(db, connection_id, "lost", 1000)
            for job in sent_under(db, "lost"):
                queue.settle(db, job, Lost("the session expired", REGISTRY.of(job).progress_when_lost(job)))


def make_api(settings: Settings, engine: Engine, sessions: sessionmaker[Session], **changes: Any) -> Iterator[Api]:
    clock = FakeClock()
    with sessions.begin() as db:
        admin = connection_usecases.create_api_key(db, "admin", clock=clock).key
        reader = connection_usecases.create_api_key(db, "reader", read_only=True, clock=clock).key
    app = create_app(settings.model_copy(update=changes), engine, clock)
    with anyio.from_thread.start_blocking_portal() as portal, \
            httpx.Client(transport=PortalTransport(app, portal), base_url="http://testserver") as client:
        yield Api(client, sessions, clock, admin, reader, app)


@pytest.fixture
def api(settings: Settings, engine: Engine, sessions: sessionmaker[Session]) -> Iterator[Api]:
    yield from make_api(settings, engine, sessions)


def assert_problem(response: Any, status: int, kind: str, **fields: Any) -> dict[str, Any]:
    """An error answer of the stable shape, of this kind, carrying these fields."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:qbwc-service:problem:{kind}" and body["status"] == status
    assert body["title"] and body["detail"]
    for name, value in fields.items():
        assert body.get(name) == value, (name, body)
    return body
