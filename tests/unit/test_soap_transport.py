"""The SOAP transport answers whatever the WSGI app under it does: an exception, StopIteration included,
is a 500 SOAP fault, never a request left hanging."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx
import pytest

from qbwc_service.soap import WsgiApp
from qbwc_service.soap_transport import SoapTransport


def _post(app: WsgiApp, body: bytes = b"<x/>") -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=SoapTransport(app, max_body=1024))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await asyncio.wait_for(client.post("/qbwc", content=body), timeout=5)

    return asyncio.run(go())


def _raises_stop_iteration(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    next(iter([]))  # what spyne's parser does on an empty body
    return []


def _fails_midway(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/xml")])
    yield b"<partial"
    raise RuntimeError("broke while answering")


def _echo(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Seen", environ.get("CONTENT_LENGTH", "-"))])
    return [b"got ", body]


@pytest.mark.parametrize("app", [_raises_stop_iteration, _fails_midway], ids=["StopIteration", "midway"])
def test_an_exception_in_the_app_is_a_500_soap_fault(app: WsgiApp, caplog: pytest.LogCaptureFixture) -> None:
    response = _post(app)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/xml")
    assert b"<faultcode>soap11env:Server</faultcode>" in response.content and b"partial" not in response.content
    assert "the SOAP app failed" in caplog.text


def test_the_app_gets_the_whole_body_and_its_answer_is_sent_whole() -> None:
    response = _post(_echo, b"<hello/>")
    assert response.status_code == 200
    assert response.content == b"got <hello/>" and response.headers["x-seen"] == "8"
