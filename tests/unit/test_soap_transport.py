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


def test_the_request_threads_are_daemons_kept_for_the_next_request_and_never_waited_for() -> None:
    """One request after another runs in the same thread; requests at once each get a thread, none waits for another
    to end; and every thread is a daemon, so one stuck in a call does not keep the process alive at shutdown."""
    import threading

    from qbwc_service.soap_transport import DaemonThreads

    threads = DaemonThreads("test-request")
    ran: list[threading.Thread] = []
    done = threading.Semaphore(0)

    def note() -> None:
        ran.append(threading.current_thread())
        done.release()

    for _ in range(3):
        threads.submit(note)
        assert done.acquire(timeout=5)
    assert len(set(ran)) == 1 and ran[0].daemon and ran[0].name == "test-request"

    release = threading.Event()
    both = threading.Barrier(3, timeout=5)

    def wait_for_the_other() -> None:
        both.wait()  # each waits for the other to be running: one thread for both would never get here
        release.wait(5)

    threads.submit(wait_for_the_other)
    threads.submit(wait_for_the_other)
    both.wait()
    release.set()
