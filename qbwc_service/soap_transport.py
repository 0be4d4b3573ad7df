"""Serves the SOAP app (spyne speaks WSGI) from the ASGI server so that every request is answered in bounded
time and nothing it does can hold the process open at shutdown.

- The body is read here, on the event loop: at most ``max_body + 1`` bytes (none when the declared length is
  already over the limit), and a body that stops arriving for ``idle_timeout`` seconds is answered 408. The
  WSGI app gets it whole and never waits on the network.
- The WSGI app runs in a daemon thread, answers into a buffer, and whatever it raises becomes a 500 SOAP
  fault in that thread. (spyne raises ``StopIteration`` on an empty body; raised into the event loop's future
  it left the request unanswered for ever.)
- A thread still busy when the server gives up on it at shutdown (a database that does not answer) does not
  keep the process alive, and the request's task is cancelled without waiting for it.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from qbwc_service.soap import WsgiApp, soap_fault

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def fault_answer(status: int, text: str) -> Answer:
    body = soap_fault("Client" if status < 500 else "Server", text)
    return Answer(status, [(b"content-type", b"text/xml; charset=utf-8"),
                           (b"content-length", str(len(body)).encode())], body)


class SoapTransport:
    """An ASGI app serving ``wsgi_app``; at most ``workers`` requests run it at once, the others wait their turn."""

    def __init__(self, wsgi_app: WsgiApp, max_body: int, workers: int = 16,
                 idle_timeout: float = 60.0) -> None:
        self.wsgi_app, self.max_body, self.idle_timeout = wsgi_app, max_body, idle_timeout
        self._workers = workers
        self._turns: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = await self._read_body(scope, receive)
        if body is None:
            return  # the client went away: nobody to answer
        if isinstance(body, Answer):
            answer = body
        else:
            if self._turns is None:
                self._turns = asyncio.Semaphore(self._workers)
            async with self._turns:
                answer = await _in_daemon_thread(lambda: call_wsgi(self.wsgi_app, wsgi_environ(scope, body)))
        await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
        await send({"type": "http.response.body", "body": answer.body})

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | Answer | None:
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body:
            return b""  # the SOAP guard refuses it by its declared length; reading it would be wasted
        body = bytearray()
        while len(body) <= self.max_body:
            try:
                message: Message = await asyncio.wait_for(receive(), self.idle_timeout)
            except TimeoutError:
                log.warning("a request body stopped arriving for %s s; answered 408", self.idle_timeout,
                            extra={"reason": "body-timeout"})
                return fault_answer(408, f"The request body stopped arriving for {self.idle_timeout:g} seconds.")
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        return bytes(body)


async def _in_daemon_thread(work: Callable[[], Answer]) -> Answer:
    """``work()`` in a daemon thread of its own. Cancelling the caller leaves the thread to finish unobserved."""
    loop = asyncio.get_running_loop()
    answered: asyncio.Future[Answer] = loop.create_future()

    def deliver(answer: Answer) -> None:
        if not answered.done():  # done: the caller was cancelled meanwhile
            answered.set_result(answer)

    def run() -> None:
        answer = context.run(work)
        try:
            loop.call_soon_threadsafe(deliver, answer)
        except RuntimeError:
            log.warning("a SOAP answer was ready after the server stopped; it was dropped")

    context = contextvars.copy_context()
    threading.Thread(target=run, name="soap-request", daemon=True).start()
    return await answered


def call_wsgi(app: WsgiApp, environ: dict[str, Any]) -> Answer:
    """The WSGI app's whole answer; an exception from it (any, StopIteration included) is a 500 SOAP fault."""
    started: list[Any] = []
    chunks: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        started[:] = [status, headers]
        return chunks.append

    try:
        iterable = app(environ, start_response)
        try:
            chunks.extend(iterable)
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
    except Exception:
        log.exception("the SOAP app failed on a request; answered 500")
        return fault_answer(500, "The service had an unexpected error; see its log.")
    if not started:
        log.error("the SOAP app answered without a status; answered 500")
        return fault_answer(500, "The service had an unexpected error; see its log.")
    status, headers = started
    return Answer(int(status.split(" ", 1)[0]),
                  [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
                  b"".join(chunks))


def wsgi_environ(scope: Scope, body: bytes) -> dict[str, Any]:
    """PEP 3333's environ for an ASGI HTTP request whose body has been read."""
    root_path = scope.get("root_path", "")
    path = scope["path"]
    if root_path and path.startswith(root_path):
        path = path[len(root_path):]
    server_host, server_port = scope.get("server") or ("localhost", 80)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": root_path.encode("utf-8").decode("latin-1"),
        "PATH_INFO": path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server_host),
        "SERVER_PORT": str(server_port or 0),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = client[0], str(client[1])
    for raw_name, raw_value in scope.get("headers", []):
        name, value = raw_name.decode("latin-1").upper().replace("-", "_"), raw_value.decode("latin-1")
        key = name if name in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{name}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ
