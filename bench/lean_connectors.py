"""Many Web Connectors at once from a client that costs next to nothing: the latency of each SOAP call when the
server has the machine to itself (a benchmark, not a test).

`concurrent_sessions.py` runs a simulated Web Connector and a simulated QuickBooks company per connection: faithful,
but their HTTP client, SOAP envelopes and qbXML cost CPU on the same cores as the server.
Here one asyncio process plays every Web Connector over raw keep-alive HTTP/1.1 connections: each envelope is a
string template, each answer is read with a regular expression, and QuickBooks' answer to a CustomerAddRq is one
CustomerAddRs per requestID, made from a template. Each Web Connector makes the calls the real one makes (serverVersion,
clientVersion, authenticate, sendRequestXML with the host's answer first, receiveResponseXML until 100 percent,
closeConnection), asking again as soon as it has an answer, all starting together (``--spread-seconds``: evenly over
that many seconds). The client's own CPU is printed, so that what the calls wait on is seen to be the server.

Then the same against the floor (bench/floor_server.py: the same server stack answering canned values, no database)
in the same invocation. By Little's law, ``N`` Web Connectors that always have a call in flight wait on average
at least ``N x (CPU per call) / (cores)``: each run's second line prints that bound from the measured CPU per call
(server and database), for one core and for two. Linux only.

    .venv/bin/python bench/lean_connectors.py --connectors 200 --jobs 10
    .venv/bin/python bench/lean_connectors.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/qbwc_bench
"""

from __future__ import annotations

import asyncio
import re
import statistics
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, unescape

from _common import Server, floor, postgres_cpu_seconds, serve
from concurrent_sessions import load_options, prepare
from sqlalchemy import func, select

from qbwc_service.db.engine import make_engine
from qbwc_service.db.models import Job
from qbwc_service.simulate.quickbooks import QuickBooksCompany

TNS = "http://developer.intuit.com/"
ENVELOPE = ('<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"'
            ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
            '<soap:Body><{method} xmlns="' + TNS + '">{params}</{method}></soap:Body></soap:Envelope>')
ANSWER = ('<CustomerAddRs requestID="{rid}" statusCode="0" statusSeverity="Info" statusMessage="Status OK">'
          "<CustomerRet><ListID>{list_id}</ListID><TimeCreated>2026-11-29T10:00:00+00:00</TimeCreated><TimeModified>"
          "2026-11-29T10:00:00+00:00</TimeModified><EditSequence>1795987364</EditSequence><Name>{name}</Name>"
          "<FullName>{name}</FullName><IsActive>true</IsActive><Sublevel>0</Sublevel><Balance>0.00</Balance>"
          "<TotalBalance>0.00</TotalBalance><JobStatus>None</JobStatus></CustomerRet></CustomerAddRs>")
COMPANY_FILE = QuickBooksCompany().company_file
HOST_ANSWER = QuickBooksCompany().hcp_response()
STRINGS = re.compile(rb"<(?:\w+:)?string>([^<]*)</(?:\w+:)?string>")
REQUESTS = re.compile(r'<CustomerAddRq requestID="([^"]*)"><CustomerAdd><Name>([^<]*)</Name>')


def result_of(body: bytes, method: str) -> str:
    """The text of ``<methodResult>`` in a SOAP answer ("" when empty or absent)."""
    found = re.search(rb"<(?:\w+:)?" + method.encode() + rb"Result(?:\s[^>]*)?>(.*?)</(?:\w+:)?" + method.encode()
                      + rb"Result>", body, re.S)
    return unescape(found.group(1).decode(), {"&quot;": '"', "&apos;": "'"}) if found else ""


def quickbooks(request: str, serial: list[int]) -> str:
    """What QuickBooks answers to a message set of CustomerAddRq: each added."""
    answers = []
    for rid, name in REQUESTS.findall(request):
        serial[0] += 1
        answers.append(ANSWER.format(rid=rid, name=name, list_id=f"{serial[0]:08X}-1795987364"))
    return f'<?xml version="1.0" ?><QBXML><QBXMLMsgsRs>{"".join(answers)}</QBXMLMsgsRs></QBXML>'


class SoapError(Exception):
    """A call that did not get a 200 answer."""


@dataclass
class Connector:
    """One Web Connector: a keep-alive connection and the wall time of each of its calls."""

    host: str
    port: int
    times: list[float] = field(default_factory=list)
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def call(self, method: str, *params: tuple[str, str]) -> bytes:
        assert self.reader is not None and self.writer is not None
        body = ENVELOPE.format(method=method, params="".join(f"<{name}>{escape(value)}</{name}>"
                                                           for name, value in params)).encode()
        head = (f"POST /qbwc HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: text/xml; charset=utf-8\r\n"
                f'SOAPAction: "{TNS}{method}"\r\nContent-Length: {len(body)}\r\n\r\n').encode()
        start = time.perf_counter()
        self.writer.write(head + body)
        status = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        answer = await self.reader.readexactly(length)
        self.times.append(time.perf_counter() - start)
        if b" 200 " not in status:
            raise SoapError(f"{method}: {status.decode().strip()} {answer[:200]!r}")
        return answer

    async def session(self, username: str, password: str, quickbooks_seconds: float, after: float = 0.0) -> str:
        """One update, as the Web Connector runs it, ``after`` seconds from now; its outcome ("done", or what went
        wrong)."""
        serial = [0]
        if after:
            await asyncio.sleep(after)
        await self.call("serverVersion")
        await self.call("clientVersion", ("strVersion", "2.3.0.215"))
        strings = STRINGS.findall(await self.call("authenticate", ("strUserName", username),
                                                  ("strPassword", password)))
        if len(strings) < 2 or strings[1] in (b"nvu", b"none", b"busy"):
            return f"authenticate: {strings!r}"
        ticket = strings[0].decode()
        first = True
        while True:
            request = result_of(await self.call(
                "sendRequestXML", ("ticket", ticket), ("strHCPResponse", HOST_ANSWER if first else ""),
                ("strCompanyFileName", COMPANY_FILE), ("qbXMLCountry", "US"), ("qbXMLMajorVers", "13"),
                ("qbXMLMinorVers", "0")), "sendRequestXML")
            first = False
            if not request:
                said = result_of(await self.call("getLastError", ("ticket", ticket)), "getLastError")
                await self.call("closeConnection", ("ticket", ticket))
                return f"no request: {said}"
            if quickbooks_seconds:
                await asyncio.sleep(quickbooks_seconds)
            percent = int(result_of(await self.call(
                "receiveResponseXML", ("ticket", ticket), ("response", quickbooks(request, serial)), ("hresult", ""),
                ("message", "")), "receiveResponseXML") or "-1")
            if percent >= 100:
                await self.call("closeConnection", ("ticket", ticket))
                return "done"
            if percent < 0:
                said = result_of(await self.call("getLastError", ("ticket", ticket)), "getLastError")
                await self.call("closeConnection", ("ticket", ticket))
                return f"error: {said}"


@dataclass
class Run:
    times: list[float]
    outcomes: list[str]
    took: float
    server_cpu: float
    client_cpu: float
    database_cpu: float
    always_asking: bool
    """Every Web Connector started at once and asked again the moment it had an answer: Little's law applies."""

    def report(self, label: str) -> None:
        ordered = sorted(self.times)
        calls = len(ordered)
        problems = [outcome for outcome in self.outcomes if outcome != "done"]
        server, database = self.server_cpu / max(calls, 1), self.database_cpu / max(calls, 1)
        connectors = len(self.outcomes)
        print(f"{label}: sessions done {connectors - len(problems)} of {connectors}, {self.took:.1f} s in all; "
              f"SOAP calls {calls}: median {statistics.median(ordered) * 1000:.0f} ms, "
              f"p99 {ordered[min(calls - 1, int(calls * 0.99))] * 1000:.0f} ms, largest {ordered[-1] * 1000:.0f} ms")
        line = (f"  CPU per call: server {server * 1000:.2f} ms, database {database * 1000:.2f} ms, this client "
                f"{self.client_cpu / max(calls, 1) * 1000:.2f} ms")
        if self.always_asking:
            bound = connectors * (server + database) * 1000
            line += (f"; Little's law, {connectors} always asking: a mean wait of at least {bound:.0f} ms on one core, "
                     f"{bound / 2:.0f} ms on two")
        print(line)
        for problem in problems[:5]:
            print(f"    {problem}")


async def all_at_once(servers: list[Server], pairs: list[tuple[str, str]], quickbooks_seconds: float,
                      with_database: bool, spread: float = 0.0) -> Run:
    """Every Web Connector of ``pairs`` at once (with ``spread``, each starting at its own moment within that many
    seconds, evenly), the i-th talking to server i modulo their number (as a load balancer would spread them); the
    servers' CPU summed."""
    addresses = [server.url.removeprefix("http://").split(":") for server in servers]
    connectors = [Connector(addresses[i % len(servers)][0], int(addresses[i % len(servers)][1]))
                  for i in range(len(pairs))]
    for connector in connectors:
        await connector.open()
    began, client, database = time.perf_counter(), time.process_time(), postgres_cpu_seconds()
    cpu = sum(server.cpu() for server in servers)
    starts = [spread * i / len(pairs) for i in range(len(pairs))]
    outcomes = await asyncio.gather(*(connector.session(username, token, quickbooks_seconds, after)
                                      for connector, (username, token), after in zip(connectors, pairs, starts,
                                                                                     strict=True)),
                                    return_exceptions=True)
    took = time.perf_counter() - began
    run = Run([t for connector in connectors for t in connector.times],
              [outcome if isinstance(outcome, str) else f"{type(outcome).__name__}: {outcome}" for outcome in outcomes],
              took, sum(server.cpu() for server in servers) - cpu, time.process_time() - client,
              postgres_cpu_seconds() - database if with_database else 0.0, not spread and not quickbooks_seconds)
    for connector in connectors:
        if connector.writer is not None:
            connector.writer.close()
    return run


def job_statuses(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as db:
            counted = db.execute(select(Job.status, func.count()).group_by(Job.status))
            return {str(status): count for status, count in counted}
    finally:
        engine.dispose()


def main() -> None:
    parser = load_options(__doc__.splitlines()[0], jobs=10)
    parser.add_argument("--spread-seconds", type=float, default=0.0,
                        help="start the sessions evenly over this many seconds instead of all at the same instant")
    parser.add_argument("--floor-servers", type=int, default=1,
                        help="floor processes, the Web Connectors spread over them")
    args = parser.parse_args()
    paced = args.quickbooks_ms / 1000
    engine = "postgresql" if args.database_url else "sqlite"
    start = f"starting within {args.spread_seconds:g} s" if args.spread_seconds else "at once"
    print(f"{args.connectors} Web Connectors {start} from one lean client process, {args.jobs} jobs each, batch "
          f"{args.batch}, QuickBooks taking {args.quickbooks_ms:g} ms a message set\n")
    with tempfile.TemporaryDirectory() as tmp:
        url, pairs = prepare(args.database_url, Path(tmp), args.connectors, args.jobs)
        with ExitStack() as stack:
            servers = [stack.enter_context(serve(url, Path(tmp), batch=args.batch)) for _ in range(args.servers)]
            asyncio.run(all_at_once(servers, pairs, paced, bool(args.database_url), args.spread_seconds)).report(
                f"serve ({args.servers} process(es), {engine})")
        print(f"  jobs by status afterwards: {job_statuses(url)}")
        if not args.no_floor:
            with ExitStack() as stack:
                servers = [stack.enter_context(floor(Path(tmp), batch=args.batch, jobs=args.jobs))
                           for _ in range(args.floor_servers)]
                names = [(f"floor-{n:03d}", "floor") for n in range(args.connectors)]
                asyncio.run(all_at_once(servers, names, paced, False, args.spread_seconds)).report(
                    f"floor ({args.floor_servers} process(es), no database)")


if __name__ == "__main__":
    main()
