"""Many Web Connectors at once against one `serve`: errors and the latency of each SOAP call (a benchmark, not a
test).

Pairs ``--connectors`` connections on a fresh database (SQLite, or the PostgreSQL database ``--database-url``
names), queues ``--jobs`` CustomerAdd jobs on each, starts one `qbwc-service serve`, then runs one simulated Web
Connector session per connection, all at once (one thread each, each with its own simulated QuickBooks company,
spread over ``--processes`` client processes so that the clients' own interpreter is not what the calls wait on).
It prints how many sessions ended done, the errors seen (a "database is locked" reaching a Web Connector among
them), and the median, p99 and largest wall time of a SOAP call. Then the same Web Connectors run against the floor
(bench/floor_server.py: the same server stack answering canned values, no database) in the same invocation, so
that the latency the server stack alone gives under the same load is printed beside the service's.

``--quickbooks-ms`` makes each simulated QuickBooks take that long over every message set, as a real one does (it
opens the company file and writes each request; hundreds of milliseconds a message set are usual). With 0, the
default, QuickBooks answers at once and every Web Connector asks again as soon as it has an answer: the calls
then queue behind one another, and their latency measures how long the server takes for all of them, not one.
``--servers N`` starts N serve processes on the same database (as behind a load balancer), client process i
talking to the i-th modulo N; give at least as many client processes. Linux only.

    .venv/bin/python bench/concurrent_sessions.py --connectors 200 --jobs 20
    .venv/bin/python bench/concurrent_sessions.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/qbwc_bench
    .venv/bin/python bench/concurrent_sessions.py --quickbooks-ms 300 --database-url ...
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from _common import Server, floor, fresh_database, serve

from qbwc_service import connections, usecases
from qbwc_service.clock import SYSTEM_CLOCK
from qbwc_service.db.engine import make_sessionmaker
from qbwc_service.queue import JobQueue, RetryPolicy
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from qbwc_service.simulate.webconnector import WebConnectorClient


class TimedClient(httpx.Client):
    """An HTTP client that notes the wall time of every request it sends."""

    def __init__(self, times: list[float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.times = times

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        start = time.perf_counter()
        try:
            response = super().send(request, **kwargs)
            response.read()
            return response
        finally:
            self.times.append(time.perf_counter() - start)


class PacedQuickBooks(QuickBooksCompany):
    """The simulated QuickBooks company, taking ``seconds`` over every message set as a real one would."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def process(self, request_xml: str) -> str:
        time.sleep(self.seconds)
        return super().process(request_xml)


def prepare(database_url: str | None, workdir: Path, count: int, jobs: int) -> tuple[str, list[tuple[str, str]]]:
    url, engine = fresh_database(database_url, workdir, "concurrent")
    pairs = []
    with make_sessionmaker(engine).begin() as db:
        items = []
        for n in range(count):
            made = connections.create_connection(db, f"plant-{n:03d}")
            pairs.append((made.connection.username, made.token))
            items += [usecases.RawItem(made.connection.name, f"<CustomerAddRq><CustomerAdd><Name>Plant {n} "
                                       f"Customer {i}</Name></CustomerAdd></CustomerAddRq>") for i in range(jobs)]
        usecases.enqueue_bulk(db, JobQueue(SYSTEM_CLOCK, RetryPolicy()), items)
    engine.dispose()
    return url, pairs


Outcome = tuple[str, str]
"""A session's end as a client process reports it: ("done", "") or (outcome or error, what it said)."""


def run_share(url: str, pairs: list[tuple[str, str]], quickbooks_seconds: float, start: Any, results: Any) -> None:
    """One client process: a thread per Web Connector of its share, all waiting on ``start`` (shared by every client
    process); puts (times, outcomes) on ``results``."""
    times: list[float] = []
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def one(username: str, token: str) -> None:
        mine: list[float] = []
        outcome: Outcome
        try:
            with TimedClient(mine, timeout=120) as client:
                start.wait()
                report = WebConnectorClient(f"{url}/qbwc", username, token, PacedQuickBooks(quickbooks_seconds),
                                            client=client).run_session()
                outcome = (report.outcome, str(report.last_error or ""))
        except BaseException as exc:  # noqa: BLE001 - counted and printed by the parent
            outcome = (type(exc).__name__, str(exc))
        with lock:
            times.extend(mine)
            outcomes.append(outcome)

    threads = [threading.Thread(target=one, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((times, outcomes))


@dataclass
class Run:
    """What one server did for every Web Connector at once."""

    times: list[float]
    outcomes: list[Outcome]
    took: float
    cpu: float

    def report(self, label: str) -> None:
        problems = [f"{outcome}: {said}" for outcome, said in self.outcomes if outcome != "done"]
        locked = sum("locked" in problem for problem in problems)
        ordered = sorted(self.times)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        print(f"{label}: sessions done {len(self.outcomes) - len(problems)} of {len(self.outcomes)}; other outcomes "
              f"{len(problems)} ({locked} saying 'database is locked'); {self.took:.1f} s in all")
        median = statistics.median(ordered)
        print(f"  SOAP calls {len(ordered)}: median {median * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
              f"largest {ordered[-1] * 1000:.0f} ms; server CPU {self.cpu:.1f} s, "
              f"{self.cpu / max(len(ordered), 1) * 1000:.2f} ms per call")
        for problem in problems[:5]:
            print(f"    {problem}")


def run_clients(servers: list[Server], pairs: list[tuple[str, str]], processes: int, quickbooks_seconds: float) -> Run:
    """Every Web Connector of ``pairs`` at once, spread over ``processes`` client processes, client process i talking
    to server i modulo their number (what a load balancer in front of them would do); the servers' CPU summed."""
    context = multiprocessing.get_context("fork")
    start = context.Barrier(len(pairs))
    results = context.Queue()
    shares = [pairs[i::processes] for i in range(processes)]
    clients = [context.Process(target=run_share, args=(servers[i % len(servers)].url, share, quickbooks_seconds,
                                                       start, results))
               for i, share in enumerate(shares) if share]
    times: list[float] = []
    outcomes: list[Outcome] = []
    began, cpu_before = time.perf_counter(), sum(server.cpu() for server in servers)
    for client in clients:
        client.start()
    for _ in clients:
        share_times, share_outcomes = results.get()
        times.extend(share_times)
        outcomes.extend(share_outcomes)
    for client in clients:
        client.join()
    return Run(times, outcomes, time.perf_counter() - began, sum(server.cpu() for server in servers) - cpu_before)


def load_options(description: str, *, jobs: int) -> argparse.ArgumentParser:
    """The options of a run of many Web Connectors at once, shared with lean_connectors.py."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--connectors", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=jobs, help="jobs queued on each connection")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--quickbooks-ms", type=float, default=0.0,
                        help="how long QuickBooks takes over each message set")
    parser.add_argument("--servers", type=int, default=1,
                        help="serve processes on the same database, the Web Connectors spread over them as a load "
                             "balancer would")
    parser.add_argument("--no-floor", action="store_true", help="leave out the floor's run")
    parser.add_argument("--database-url", help="a PostgreSQL database of its own (its tables are dropped)")
    return parser


def main() -> None:
    parser = load_options(__doc__.splitlines()[0], jobs=20)
    parser.add_argument("--processes", type=int, default=1,
                        help="client processes sharing the Web Connectors (each runs a thread per Web Connector)")
    args = parser.parse_args()
    paced = args.quickbooks_ms / 1000
    engine = "postgresql" if args.database_url else "sqlite"
    with tempfile.TemporaryDirectory() as tmp:
        url, pairs = prepare(args.database_url, Path(tmp), args.connectors, args.jobs)
        with ExitStack() as stack:
            servers = [stack.enter_context(serve(url, Path(tmp), batch=args.batch)) for _ in range(args.servers)]
            service = run_clients(servers, pairs, args.processes, paced)
        if not args.no_floor:
            with floor(Path(tmp), batch=args.batch, jobs=args.jobs) as server:
                bare = run_clients([server], [(f"floor-{n:03d}", "floor") for n in range(args.connectors)],
                                   args.processes, paced)
    print(f"{args.connectors} Web Connectors at once, {args.jobs} jobs each, batch {args.batch}, QuickBooks taking "
          f"{args.quickbooks_ms:g} ms a message set, {args.processes} client process(es)\n")
    service.report(f"serve ({args.servers} process(es), {engine})")
    if not args.no_floor:
        bare.report("floor (one process, no database)")


if __name__ == "__main__":
    main()
