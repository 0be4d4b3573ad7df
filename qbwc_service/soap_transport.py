"""Serves the SOAP app (spyne speaks WSGI) from the ASGI server so that every request is answered in bounded
time and nothing it does can hold the process open at shutdown.

- The body is read here, on the event loop, within :class:`BodyLimits`: every call but one is refused (413)
  past a small cap, unread beyond it; only receiveResponseXML under a live session's ticket is read further,
  and the bytes held of all bodies together stay within two process-wide budgets (503 beyond). A body that
  stops arriving for ``idle_timeout`` seconds is answered 408. The WSGI app gets it whole and never waits on
  the network.
- The WSGI app runs in a daemon thread (kept for the next request), answers into a buffer, and whatever it
  raises becomes a 500 SOAP fault in that thread. (spyne raises ``StopIteration`` on an empty body; raised into
  the event loop's future it left the request unanswered for ever.)
- A thread still busy when the server gives up on it at shutdown (a database that does not answer) does not
  keep the process alive, and the request's task is cancelled without waiting for it.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import logging
import queue
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from starlette.types import Message, Receive, Scope, Send

from qbwc_service.body_budget import BodyBudget, Holding
from qbwc_service.soap import WsgiApp, soap_fault
from qbwc_service.soap_body import BodyRefused

log = logging.getLogger(__name__)
T = TypeVar("T")

@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def fault_answer(status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None) -> Answer:
    body = soap_fault("Client" if status < 500 else "Server", text)
    return Answer(status, [(b"content-type", b"text/xml; charset=utf-8"),
                           (b"content-length", str(len(body)).encode()), *(headers or [])], body)


class LargeBodyGate(Protocol):
    """Which requests may carry a body over the small cap (:class:`qbwc_service.soap.LargeBodies`)."""

    def action_may_be_large(self, soap_action: str | None) -> bool:
        """False when the SOAPAction header alone shows the request may not be large."""
        ...

    def refusal(self, head: bytes, content_type: str | None) -> str | None:
        """Why a body whose first bytes are ``head`` may not be large (None: it may); may raise BodyRefused."""
        ...


@dataclass(frozen=True)
class BodyLimits:
    """How much of a request body is read and held.

    Every body up to ``small`` bytes is read, its bytes taken from ``small_budget`` as they arrive (503 when
    it has no room). A body past ``small`` is read on only when ``large`` lets it (receiveResponseXML under a
    live session), up to ``largest`` bytes, after its whole size (its Content-Length, else ``largest``) is
    taken from ``large_budget``, waiting up to ``wait`` seconds for room (then 503 with Retry-After). Every
    other body over ``small`` is refused with 413, unread past its first ``small`` bytes (or unread at all,
    when its Content-Length or SOAPAction already tells)."""

    largest: int
    small: int
    small_budget: BodyBudget
    large_budget: BodyBudget
    large: LargeBodyGate | None = None
    wait: float = 30.0
    retry_after_seconds: int = 30

    @classmethod
    def one_size(cls, largest: int) -> BodyLimits:
        """Every body up to ``largest`` bytes, with no distinction of calls (a plain WSGI app's transport)."""
        return cls(largest, largest, BodyBudget(largest * 16), BodyBudget(largest))


class SoapTransport:
    """An ASGI app serving ``wsgi_app``; at most ``workers`` requests run it at once, the others wait their turn."""

    def __init__(self, wsgi_app: WsgiApp, max_body: int, workers: int = 16,
                 idle_timeout: float = 60.0, limits: BodyLimits | None = None) -> None:
        self.wsgi_app, self.max_body, self.idle_timeout = wsgi_app, max_body, idle_timeout
        self.limits = limits or BodyLimits.one_size(max_body)
        self._workers = workers
        self._turns: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        holding = Holding()
        try:
            body = await self._read_body(scope, receive, holding)
            if body is None:
                return  # the client went away: nobody to answer
            if isinstance(body, Answer):
                # Refused before its body was read whole: the connection is closed after the answer, else the
                # server would go on reading (and dropping) the rest of the body to keep it alive.
                answer = Answer(body.status, [*body.headers, (b"connection", b"close")], body.body)
            else:
                if self._turns is None:
                    self._turns = asyncio.Semaphore(self._workers)
                async with self._turns:
                    answer = await _in_daemon_thread(
                        lambda: call_wsgi(self.wsgi_app, wsgi_environ(scope, body)))
            address = (scope.get("client") or ("",))[0]
            if answer.status >= 400:
                log.warning("SOAP request refused: %d %s", answer.status, _fault_code(answer.body),
                            extra={"address": address})
            else:
                log.debug("SOAP request answered: %d bytes in, %d out", len(body) if isinstance(body, bytes) else 0,
                          len(answer.body), extra={"address": address})
            await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
            await send({"type": "http.response.body", "body": answer.body})
        finally:
            holding.release()

    async def _read_body(self, scope: Scope, receive: Receive, holding: Holding) -> bytes | Answer | None:
        if scope["method"] != "POST":
            return b""
        limits = self.limits
        headers = dict(scope.get("headers", []))
        declared_text = headers.get(b"content-length", b"")
        declared = int(declared_text) if declared_text.isdigit() else None
        action = headers[b"soapaction"].decode("latin-1") if b"soapaction" in headers else None
        if declared is not None and declared > limits.largest:
            return _too_large(limits.largest)
        if declared is not None and declared > limits.small and (
                limits.large is None or not limits.large.action_may_be_large(action)):
            return _too_large(limits.small)
        read = await self._read(receive, limits.small, limits.small_budget, holding)
        if not isinstance(read, Read):
            return read
        body = read.body
        if len(body) <= limits.small:
            return bytes(body)
        if limits.large is None:
            return _too_large(limits.small)
        content_type = headers[b"content-type"].decode("latin-1") if b"content-type" in headers else None
        head = bytes(body)
        gate = limits.large
        try:
            refusal = await _in_daemon_thread(lambda: gate.refusal(head, content_type))
        except BodyRefused as exc:
            return fault_answer(exc.status, exc.text)
        except Exception:
            log.exception("reading the first bytes of a large request failed; answered 500")
            return fault_answer(500, "The service had an unexpected error; see its log.")
        if refusal is not None:
            return fault_answer(413, refusal)
        size = declared if declared is not None else limits.largest
        if not await limits.large_budget.take(size, limits.wait):
            log.warning("a large request body waited %s s for room among the large bodies in memory; answered 503",
                        limits.wait, extra={"reason": "large-bodies-budget"})
            return fault_answer(503, "The service holds as many large answers as it may at once; try again later.",
                                [(b"retry-after", str(limits.retry_after_seconds).encode())])
        holding.add(limits.large_budget, size)
        holding.release(limits.small_budget)
        if not read.complete:
            rest = await self._read(receive, limits.largest - len(body), None, holding)
            if not isinstance(rest, Read):
                return rest
            body += rest.body
        if len(body) > limits.largest:
            return _too_large(limits.largest)
        return bytes(body)

    async def _read(self, receive: Receive, limit: int, budget: BodyBudget | None,
                    holding: Holding) -> Read | Answer | None:
        """At most ``limit + 1`` bytes of the body (the ``+ 1`` shows it is longer), each taken from ``budget``
        (when given) before it is held; an Answer when the budget has no room or the body stops arriving, None
        when the client went away."""
        body = bytearray()
        while len(body) <= limit:
            try:
                message: Message = await asyncio.wait_for(receive(), self.idle_timeout)
            except TimeoutError:
                log.warning("a request body stopped arriving for %s s; answered 408", self.idle_timeout,
                            extra={"reason": "body-timeout"})
                return fault_answer(408, f"The request body stopped arriving for {self.idle_timeout:g} seconds.")
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            if budget is not None:
                if not budget.try_take(len(chunk)):
                    log.warning("the request bodies being read fill their budget; answered 503",
                                extra={"reason": "small-bodies-budget"})
                    return fault_answer(503, "The service is reading as many requests as it may at once; try "
                                        "again later.", [(b"retry-after", b"5")])
                holding.add(budget, len(chunk))
            body += chunk
            if not message.get("more_body", False):
                return Read(body, complete=True)
        return Read(body, complete=False)


@dataclass
class Read:
    body: bytearray
    complete: bool


def _too_large(limit: int) -> Answer:
    return fault_answer(413, f"The request body is larger than the {limit}-byte limit.")


def _fault_code(body: bytes) -> str:
    """The faultcode of a SOAP fault (from its first bytes), e.g. ``soap11env:Client``; '' when there is none."""
    found = _FAULT_CODE.search(body[:4096])
    return found.group(1).decode("ascii", "replace") if found else ""


_FAULT_CODE = re.compile(rb"<faultcode>([A-Za-z0-9_.:-]{1,80})</faultcode>")


class DaemonThreads:
    """Daemon threads that run what they are handed, kept from one request to the next: a new thread per request
    cost the call its start and a cold stack. A thread is started when none is idle, so a request never waits for
    another to end (how many run at once is the transport's to limit); one still busy at shutdown (a database that
    does not answer) does not keep the process alive."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._work: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0

    def submit(self, work: Callable[[], None]) -> None:
        with self._lock:
            start = self._idle == 0
            if not start:
                self._idle -= 1  # that idle thread takes this work
        if start:
            threading.Thread(target=self._serve, args=(work,), name=self._name, daemon=True).start()
        else:
            self._work.put(work)

    def _serve(self, first: Callable[[], None]) -> None:
        work = first
        while True:
            work()
            with self._lock:
                self._idle += 1
            work = self._work.get()


_THREADS = DaemonThreads("soap-request")


async def _in_daemon_thread(work: Callable[[], T]) -> T:
    """``work()`` in a daemon thread (:class:`DaemonThreads`); what it raises is raised here. Cancelling the caller
    leaves the thread to finish unobserved."""
    loop = asyncio.get_running_loop()
    answered: asyncio.Future[T] = loop.create_future()

    def deliver(answer: T | None, error: BaseException | None) -> None:
        if answered.done():  # done: the caller was cancelled meanwhile
            return
        if error is not None:
            answered.set_exception(error)
        else:
            answered.set_result(answer)  # type: ignore[arg-type]

    def run() -> None:
        answer: T | None = None
        error: BaseException | None = None
        try:
            answer = context.run(work)
        except StopIteration as exc:  # a future cannot hold a StopIteration
            error = RuntimeError(f"StopIteration: {exc}")
        except Exception as exc:  # noqa: BLE001 - handed to the caller, raised there
            error = exc
        try:
            loop.call_soon_threadsafe(deliver, answer, error)
        except RuntimeError:
            log.warning("a SOAP answer was ready after the server stopped; it was dropped")

    context = contextvars.copy_context()
    _THREADS.submit(run)
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
