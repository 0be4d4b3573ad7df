"""Attack 2: memory amplification, unauthenticated. Six concurrent 120 MiB authenticate bodies (under the 128 MiB
cap) took `serve` from 99 MB to 2.5 GB. Only receiveResponseXML under a live session's ticket may be large; every
other request is refused past 64 KiB, unread beyond it (unread at all when its Content-Length and SOAPAction
tell), and the bytes held of all bodies stay within two process-wide budgets."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import Engine

from qbwc_service.body_budget import BodyBudget
from qbwc_service.db.models import Connection
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from qbwc_service.soap_transport import BodyLimits, SoapTransport
from tests.security.asgi import in_process_service
from tests.security.serving import Served, raw_post, serving
from tests.support import enqueue_customers, jobs, pair, snapshot, soap_envelope

KIB, MIB = 1024, 1024 * 1024
SMALL = 4 * KIB
LARGEST = 64 * KIB


# ---------------------------------------------------------------- the transport, with a gate of its own


class Gate:
    """Lets a body be large when its first bytes hold b'<live/>'; refuses by SOAPAction 'small'."""

    def action_may_be_large(self, soap_action: str | None) -> bool:
        return soap_action != "small"

    def refusal(self, head: bytes, content_type: str | None) -> str | None:
        return None if b"<live/>" in head else "not live"


def _echo_size(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(len(body)).encode()]


@dataclass
class Exchange:
    """One request driven by hand: the body's pieces are handed over as the transport asks for them, each
    piece after ``gate`` is set (when given); what was handed over and the answer are recorded."""

    headers: dict[str, str]
    pieces: list[bytes]
    gate: asyncio.Event | None = None
    gate_after: int = 0
    handed: int = 0
    answer: dict[str, Any] = field(default_factory=dict)

    async def receive(self) -> dict[str, Any]:
        if self.handed >= len(self.pieces):
            await asyncio.sleep(3600)
        if self.gate is not None and self.handed >= self.gate_after:
            await self.gate.wait()
        piece = self.pieces[self.handed]
        self.handed += 1
        return {"type": "http.request", "body": piece, "more_body": self.handed < len(self.pieces)}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.answer["status"] = message["status"]
            self.answer["headers"] = dict(message["headers"])
        else:
            self.answer["body"] = message["body"]

    async def run(self, transport: SoapTransport) -> Exchange:
        scope = {"type": "http", "method": "POST", "path": "/qbwc", "query_string": b"", "root_path": "",
                 "headers": [(k.lower().encode(), v.encode()) for k, v in self.headers.items()],
                 "client": ("192.0.2.1", 1), "server": ("testserver", 80), "http_version": "1.1"}
        await transport(scope, self.receive, self.send)  # type: ignore[arg-type]
        return self


def _transport(small_budget: int = 64 * KIB, large_budget: int = LARGEST, wait: float = 1.0) -> SoapTransport:
    limits = BodyLimits(largest=LARGEST, small=SMALL, small_budget=BodyBudget(small_budget),
                        large_budget=BodyBudget(large_budget), large=Gate(), wait=wait, retry_after_seconds=7)
    return SoapTransport(_echo_size, LARGEST, idle_timeout=5, limits=limits)


def _pieces(total: int, size: int = KIB, head: bytes = b"") -> list[bytes]:
    body = head + b"x" * (total - len(head))
    return [body[i:i + size] for i in range(0, total, size)]


def test_a_small_call_over_the_cap_is_refused_unread_by_its_content_length_and_soapaction() -> None:
    exchange = Exchange({"Content-Length": str(SMALL + 1), "SOAPAction": "small"}, _pieces(SMALL + 1))
    asyncio.run(exchange.run(_transport()))
    assert exchange.answer["status"] == 413 and exchange.handed == 0


def test_any_other_body_is_refused_once_its_first_bytes_pass_the_cap() -> None:
    for headers in ({"Content-Length": str(LARGEST)}, {}):  # declared, or chunked
        exchange = Exchange(headers, _pieces(LARGEST))
        asyncio.run(exchange.run(_transport()))
        assert exchange.answer["status"] == 413 and b"not live" in exchange.answer["body"]
        assert exchange.handed * KIB <= SMALL + KIB


def test_a_body_the_gate_lets_through_is_read_whole_up_to_the_largest() -> None:
    exchange = Exchange({"Content-Length": str(LARGEST)}, _pieces(LARGEST, head=b"<live/>"))
    asyncio.run(exchange.run(_transport()))
    assert exchange.answer["status"] == 200 and exchange.answer["body"] == str(LARGEST).encode()
    over = Exchange({}, _pieces(LARGEST + KIB, head=b"<live/>"))
    asyncio.run(over.run(_transport()))
    assert over.answer["status"] == 413


def test_large_bodies_beyond_their_budget_wait_then_get_503_with_retry_after() -> None:
    async def scenario() -> tuple[Exchange, Exchange, Exchange]:
        transport = _transport(large_budget=LARGEST, wait=1.0)
        release = asyncio.Event()
        first = Exchange({"Content-Length": str(LARGEST)}, _pieces(LARGEST, head=b"<live/>"), release, SMALL // KIB + 4)
        second = Exchange({"Content-Length": str(LARGEST)}, _pieces(LARGEST, head=b"<live/>"))
        holding = asyncio.create_task(first.run(transport))
        while first.handed < SMALL // KIB + 4:  # the first holds the whole budget, its body still arriving
            await asyncio.sleep(0.01)
        await second.run(transport)  # no room: waits 1 s, then 503
        third = Exchange({"Content-Length": str(LARGEST)}, _pieces(LARGEST, head=b"<live/>"))
        waiting = asyncio.create_task(third.run(transport))
        while not transport.limits.large_budget._waiters:  # the third is waiting for room
            await asyncio.sleep(0)
        release.set()  # the first finishes within the third's wait: the third goes through
        await asyncio.gather(holding, waiting)
        assert transport.limits.large_budget.held == 0 and transport.limits.small_budget.held == 0
        return first, second, third

    first, second, third = asyncio.run(scenario())
    assert first.answer["status"] == 200 and third.answer["status"] == 200
    assert second.answer["status"] == 503 and second.answer["headers"][b"retry-after"] == b"7"
    assert b"Fault" in second.answer["body"]


def test_small_bodies_beyond_their_budget_get_503() -> None:
    async def scenario() -> list[Exchange]:
        transport = _transport(small_budget=2 * SMALL)
        release = asyncio.Event()
        stalled = [Exchange({}, _pieces(SMALL), release, SMALL // KIB - 1) for _ in range(2)]
        tasks = [asyncio.create_task(exchange.run(transport)) for exchange in stalled]
        while any(exchange.handed < SMALL // KIB - 1 for exchange in stalled):
            await asyncio.sleep(0.01)
        refused = await Exchange({}, _pieces(3 * KIB)).run(transport)  # 6 KiB held: 2 fit, the third not
        release.set()
        await asyncio.gather(*tasks)
        after = await Exchange({}, _pieces(2 * KIB)).run(transport)
        assert transport.limits.small_budget.held == 0
        return [*stalled, refused, after]

    first, second, refused, after = asyncio.run(scenario())
    assert first.answer["status"] == second.answer["status"] == after.answer["status"] == 200
    assert refused.answer["status"] == 503 and b"retry-after" in refused.answer["headers"]


def test_the_budget_is_given_back_when_the_client_goes_away() -> None:
    async def scenario() -> SoapTransport:
        transport = _transport()
        exchange = Exchange({"Content-Length": str(LARGEST)}, [*_pieces(SMALL + KIB, head=b"<live/>")])

        async def leaves() -> dict[str, Any]:
            return {"type": "http.disconnect"}

        exchange.pieces.append(b"")
        original = exchange.receive

        async def receive() -> dict[str, Any]:
            return await (leaves() if exchange.handed >= SMALL // KIB + 1 else original())

        exchange.receive = receive  # type: ignore[method-assign]
        await exchange.run(transport)
        return transport

    transport = asyncio.run(scenario())
    assert transport.limits.large_budget.held == 0 and transport.limits.small_budget.held == 0


def test_body_budget_waits_in_order_and_never_lends_more_than_it_has() -> None:
    async def scenario() -> None:
        budget = BodyBudget(10)
        assert budget.try_take(6) and not budget.try_take(5)
        assert not await budget.take(11, timeout=5)  # never fits: no wait
        waiting = asyncio.create_task(budget.take(5, timeout=5))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        budget.give_back(6)
        assert await waiting and budget.held == 5

    asyncio.run(scenario())


# ---------------------------------------------------------------- the app: which call may be large


def test_only_receive_response_xml_under_a_live_ticket_is_read_past_the_small_cap(engine: Engine) -> None:
    # (the first sendRequestXML carries QuickBooks' host answer: ~5 KB simulated, ~7 KB from a real QuickBooks)
    with in_process_service(engine, max_small_body_bytes=12_000) as service:
        paired = pair(service.sessions)
        enqueue_customers(service.sessions, paired.id, ["Large Answer Co"])
        before = snapshot(service.sessions)
        big = "x" * 20_000
        refused = {
            "authenticate": soap_envelope("authenticate", strUserName=paired.username, strPassword=big),
            "serverVersion padded": soap_envelope("serverVersion").replace(b"<soap:Body>",
                                                                           b"<soap:Body>" + b" " * len(big)),
            "clientVersion": soap_envelope("clientVersion", strVersion=big),
            "receiveResponseXML, unknown ticket": soap_envelope("receiveResponseXML", ticket="0" * 32, response=big,
                                                                hresult="", message=""),
        }
        for case, body in refused.items():
            operation = case.split(",")[0].split()[0]
            for action in (operation, None):  # named in SOAPAction, or found in the body
                response = service.post(body, action)
                assert response.status_code == 413, (case, action, response.text)
                assert b"Fault" in response.content and b"12000-byte limit" in response.content
        assert snapshot(service.sessions) == before

        ticket = _authenticate(service, paired.username, paired.token)
        company = QuickBooksCompany()
        request = _result(service.post(soap_envelope(
            "sendRequestXML", ticket=ticket, strHCPResponse=company.hcp_response(),
            strCompanyFileName=company.company_file, qbXMLCountry="US", qbXMLMajorVers="13", qbXMLMinorVers="0"),
            "sendRequestXML"))
        answer = company.process(request)
        answer = answer.replace("<QBXML>", "<QBXML>" + " " * 20_000, 1)  # a large answer, well-formed
        # the ticket must come first, where the Web Connector puts it
        late_ticket = soap_envelope("receiveResponseXML", response=answer, ticket=ticket, hresult="", message="")
        assert service.post(late_ticket, "receiveResponseXML").status_code == 413
        accepted = service.post(soap_envelope("receiveResponseXML", ticket=ticket, response=answer, hresult="",
                                              message=""), "receiveResponseXML")
        assert accepted.status_code == 200 and b"receiveResponseXMLResult>100<" in accepted.content
        assert [job.status for job in jobs(service.sessions)] == ["done"]
        # once the session is over, its ticket no longer lets a large body in
        service.post(soap_envelope("closeConnection", ticket=ticket), "closeConnection")
        assert service.post(soap_envelope("receiveResponseXML", ticket=ticket, response=answer, hresult="",
                                          message=""), "receiveResponseXML").status_code == 413


def _authenticate(service: Any, username: str, token: str) -> str:
    response = service.post(soap_envelope("authenticate", strUserName=username, strPassword=token))
    values = [element.text for element in etree.fromstring(response.content).iter("{*}string")]
    assert values[0] and values[1] not in ("nvu", "busy", "none"), values
    return str(values[0])


def _result(response: Any) -> str:
    assert response.status_code == 200, response.text
    found = [element.text for element in etree.fromstring(response.content).iter() if str(element.tag).endswith(
        "Result")]
    return str(found[0] or "")


# ---------------------------------------------------------------- `serve`: the memory it takes


MEMORY_BOUND_MB = 64
"""What unauthenticated requests may add to `serve`'s resident memory: the bodies being read (the 16 MiB small
budget), uvicorn's buffers, and each refused body's first 64 KiB parsed once."""


def test_unauthenticated_large_bodies_leave_serve_memory_bounded(tmp_path: Path, database_url: str) -> None:
    with serving(tmp_path, database_url, request_body_timeout_seconds="2") as served:
        for _ in range(20):  # what the first requests allocate once (spyne's caches, the pool) is not the attack's
            served.post(soap_envelope("authenticate", strUserName="warm", strPassword="up"))
        baseline = served.rss_mb()
        peak = _peak_rss_while(served, lambda: _attack(served))
        statuses = _attack.statuses  # type: ignore[attr-defined]
    print(f"serve's resident memory: {baseline:.0f} MiB before, {peak:.0f} MiB at most during the attack")
    assert peak - baseline < MEMORY_BOUND_MB, f"{baseline:.0f} MiB -> {peak:.0f} MiB"
    for kind, seen in statuses.items():
        expected = 408 if kind == "stalled" else 413  # the stalled: answered once their body timed out
        assert seen and set(seen) <= {expected, 503, None} and expected in seen, (kind, seen)


def _attack(served: Served) -> None:
    size = 120 * MIB
    kinds: dict[str, tuple[dict[str, str], bytes]] = {
        "authenticate, SOAPAction": ({"SOAPAction": '"http://developer.intuit.com/authenticate"'},
                                     soap_envelope("authenticate", strUserName="u" * 64, strPassword="x")[:-60]),
        "no SOAPAction": ({}, soap_envelope("authenticate", strUserName="u" * 64, strPassword="x")[:-60]),
        "receiveResponseXML, bogus ticket": (
            {"SOAPAction": '"http://developer.intuit.com/receiveResponseXML"'},
            soap_envelope("receiveResponseXML", ticket="f" * 32, response="r")[:-60]),
    }
    statuses: dict[str, list[int | None]] = {kind: [] for kind in [*kinds, "chunked", "stalled"]}
    threads = []

    def one(kind: str, headers: dict[str, str], head: bytes, declared: bool) -> None:
        def body() -> Iterator[bytes]:
            yield head
            filler = b"u" * MIB
            for _ in range(size // MIB):
                yield filler if declared else b"100000\r\n" + filler + b"\r\n"

        all_headers = {"Content-Type": "text/xml; charset=utf-8", **headers,
                       **({"Content-Length": str(size)} if declared else {"Transfer-Encoding": "chunked"})}
        source = body() if declared else itertools.chain([f"{len(head):x}\r\n".encode() + head + b"\r\n"],
                                                         itertools.islice(body(), 1, None))
        statuses[kind].append(raw_post(served.port, all_headers, source, timeout=20))

    def stalled() -> None:  # a slow client: 60 KiB, then nothing until the body timeout
        statuses["stalled"].append(raw_post(served.port, {"Content-Type": "text/xml", "Content-Length": str(64 * KIB)},
                                            iter([b"<" + b"x" * (60 * KIB)]), timeout=20))

    for kind, (headers, head) in kinds.items():
        threads += [threading.Thread(target=one, args=(kind, headers, head, True)) for _ in range(6)]
    threads += [threading.Thread(target=one, args=("chunked", {}, kinds["no SOAPAction"][1], False)) for _ in range(6)]
    threads += [threading.Thread(target=stalled) for _ in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    _attack.statuses = statuses  # type: ignore[attr-defined]


def _peak_rss_while(served: Served, work: Callable[[], None]) -> float:
    peak = served.rss_mb()
    done = threading.Event()

    def run() -> None:
        try:
            work()
        finally:
            done.set()

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 90
    while not done.is_set() and time.monotonic() < deadline:
        peak = max(peak, served.rss_mb())
        time.sleep(0.02)
    worker.join(timeout=5)
    assert done.is_set(), "the attack did not end in time"
    return max(peak, served.rss_mb())



@pytest.mark.each_database
def test_only_a_real_client_version_is_remembered_for_the_next_authenticate(engine: Engine) -> None:
    """clientVersion comes before authenticate, from no one in particular: a 60 KB "version" was held in memory
    per address and, stored by the next authenticate from that address, broke it on PostgreSQL (VARCHAR(40))."""
    with in_process_service(engine) as service:
        paired = pair(service.sessions)
        enqueue_customers(service.sessions, paired.id, ["X"])
        for odd in ("2." + "9" * 60_000, "2.3.0.215; DROP TABLE", "v2.3"):
            assert service.post(soap_envelope("clientVersion", strVersion=odd), "clientVersion").status_code == 200
            ticket = _authenticate(service, paired.username, paired.token)
            service.post(soap_envelope("closeConnection", ticket=ticket), "closeConnection")
        service.post(soap_envelope("clientVersion", strVersion="2.3.0.215"), "clientVersion")
        _authenticate(service, paired.username, paired.token)
        with service.sessions.begin() as db:
            assert db.get(Connection, paired.id).client_version == "2.3.0.215"  # type: ignore[union-attr]
