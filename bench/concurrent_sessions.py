"""Many Web Connectors at once against one `serve`: errors and the latency of each SOAP call (a benchmark, not a
test).

Pairs ``--connectors`` connections on a fresh database (SQLite, or the PostgreSQL database ``--database-url``
names), queues ``--jobs`` CustomerAdd jobs on each, starts one `qbwc-service serve`, then runs one simulated Web
Connector session per connection, all at once (one thread each, each with its own simulated QuickBooks company,
spread over ``--processes`` client processes so that the clients' own interpreter is not what the calls wait on).
It prints how many sessions ended done, the errors seen (a "database is locked" reaching a Web Connector among
them), and the median, p99 and largest wall time of a SOAP call. Linux only.

    .venv/bin/python bench/concurrent_sessions.py --connectors 200 --jobs 20
    .venv/bin/python bench/concurrent_sessions.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/qbwc_bench
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from _common import fresh_database, serve

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


def run_share(url: str, pairs: list[tuple[str, str]], start: Any, results: Any) -> None:
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
                report = WebConnectorClient(f"{url}/qbwc", username, token, QuickBooksCompany(),
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connectors", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=20, help="jobs queued on each connection")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--processes", type=int, default=1,
                        help="client processes sharing the Web Connectors (each runs a thread per Web Connector)")
    parser.add_argument("--database-url", help="a PostgreSQL database of its own (its tables are dropped)")
    args = parser.parse_args()
    times: list[float] = []
    outcomes: list[Outcome] = []
    context = multiprocessing.get_context("fork")
    with tempfile.TemporaryDirectory() as tmp:
        url, pairs = prepare(args.database_url, Path(tmp), args.connectors, args.jobs)
        with serve(url, Path(tmp), batch=args.batch) as server:
            start = context.Barrier(len(pairs))
            results = context.Queue()
            shares = [pairs[i::args.processes] for i in range(args.processes)]
            clients = [context.Process(target=run_share, args=(server.url, share, start, results))
                       for share in shares if share]
            began, cpu_before = time.perf_counter(), server.cpu()
            for client in clients:
                client.start()
            for _ in clients:
                share_times, share_outcomes = results.get()
                times.extend(share_times)
                outcomes.extend(share_outcomes)
            for client in clients:
                client.join()
            took, serve_cpu = time.perf_counter() - began, server.cpu() - cpu_before
    problems = [f"{outcome}: {said}" for outcome, said in outcomes if outcome != "done"]
    locked = sum("locked" in problem for problem in problems)
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    engine = "postgresql" if args.database_url else "sqlite"
    print(f"{args.connectors} Web Connectors at once, {args.jobs} jobs each, batch {args.batch}, one serve on "
          f"{engine}, {len(clients)} client process(es)\n")
    print(f"sessions done: {len(outcomes) - len(problems)} of {len(outcomes)}; other outcomes: {len(problems)} "
          f"({locked} saying 'database is locked'); {took:.1f} s in all")
    print(f"SOAP calls: {len(times)}; median {statistics.median(times) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
          f"largest {ordered[-1] * 1000:.0f} ms")
    print(f"serve's CPU: {serve_cpu:.1f} s in all, {serve_cpu / max(len(times), 1) * 1000:.1f} ms per SOAP call "
          f"(the calls wait on it: {len(times)} calls at once on one process)")
    for problem in problems[:5]:
        print(f"  {problem}")


if __name__ == "__main__":
    main()
