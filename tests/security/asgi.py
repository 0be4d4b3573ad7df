"""The whole app (create_app: the transport, the guard, spyne, the protocol) called in-process through
httpx.ASGITransport, on one event loop, with a clock the test moves: fast enough to fuzz."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service.app import create_app
from qbwc_service.clock import FakeClock
from qbwc_service.db.engine import make_sessionmaker
from qbwc_service.settings import Settings, load_settings

TNS = "http://developer.intuit.com/"


@dataclass
class InProcessService:
    app: FastAPI
    settings: Settings
    sessions: sessionmaker[Session]
    clock: FakeClock
    runner: asyncio.Runner

    def request(self, method: str, path: str, *, content: bytes = b"", headers: dict[str, str] | None = None,
                client: tuple[str, int] = ("192.0.2.10", 50000)) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=client)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                return await asyncio.wait_for(http.request(method, path, content=content, headers=headers or {}),
                                              timeout=30)

        return self.runner.run(call())

    def post(self, body: bytes, operation: str | None = "authenticate",
             content_type: str | None = "text/xml; charset=utf-8",
             client: tuple[str, int] = ("192.0.2.10", 50000)) -> httpx.Response:
        headers = {"Content-Type": content_type} if content_type is not None else {}
        if operation is not None:
            headers["SOAPAction"] = f'"{TNS}{operation}"'
        return self.request("POST", "/qbwc", content=body, headers=headers, client=client)


@contextmanager
def in_process_service(engine: Engine, **settings: object) -> Iterator[InProcessService]:
    loaded = load_settings(**{"database_url": engine.url.render_as_string(hide_password=False),
                              "public_url": "https://qb.example.com", "retry_backoff_seconds": 0, **settings})
    clock = FakeClock()
    with asyncio.Runner() as runner:
        yield InProcessService(create_app(loaded, engine, clock), loaded, make_sessionmaker(engine), clock, runner)
