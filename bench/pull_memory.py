"""`serve`'s memory through a long pull: does it grow with the number of documents read? (a benchmark, not a test)

For each size: a simulated QuickBooks company holding SIZE customers, a fresh database (SQLite, or the PostgreSQL
database ``--database-url`` names) with one customer pull (``--page`` records per page), one `qbwc-service serve`,
and one simulated Web Connector session that reads every page into the service's outbox. The server's VmRSS is
sampled from /proc all along; the script prints it before the session, at its peak and at the end, and the ratio
of each size's peak to the first size's. Linux only.

    .venv/bin/python bench/pull_memory.py --sizes 10000 100000 --page 500
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import httpx
from _common import fresh_database, rss_kib, serve

from qbwc_service import connections, usecases
from qbwc_service.clock import SYSTEM_CLOCK
from qbwc_service.db.engine import make_sessionmaker
from qbwc_service.queue import JobQueue, RetryPolicy
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from qbwc_service.simulate.webconnector import WebConnectorClient


def company_of(size: int) -> QuickBooksCompany:
    company = QuickBooksCompany()
    for n in range(size):
        company.add("Customer", Name=f"Pulled Customer {n:06d}", CompanyName=f"Pulled {n} Inc.",
                    BillAddress={"Addr1": f"{n} Main Street", "City": "Springfield", "PostalCode": "12345"},
                    Phone="555-0100", Email=f"buyer{n}@example.com")
    return company


def run(size: int, page: int, database_url: str | None, workdir: Path) -> tuple[float, float, float, int]:
    """(VmRSS before, at its peak, at the end; in MiB) and the number of message sets."""
    company = company_of(size)
    url, engine = fresh_database(database_url, workdir, f"pull-{size}")
    with make_sessionmaker(engine).begin() as db:
        made = connections.create_connection(db, "pulled")
        usecases.enqueue_pull(db, JobQueue(SYSTEM_CLOCK, RetryPolicy()), "pulled", "Customer", max_returned=page)
        username, token = made.connection.username, made.token
    engine.dispose()
    with serve(url, workdir) as server:
        before = rss_kib(server.pid)
        peak = [before]
        running = threading.Event()
        running.set()

        def sample() -> None:
            while running.is_set():
                peak[0] = max(peak[0], rss_kib(server.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            with httpx.Client(timeout=300) as client:
                report = WebConnectorClient(f"{server.url}/qbwc", username, token, company, client=client,
                                            max_calls=1_000_000).run_session()
        finally:
            running.clear()
            sampler.join()
        after = rss_kib(server.pid)
    if report.outcome != "done":
        raise SystemExit(f"{size}: the session ended with {report.outcome}: {report.last_error}")
    return before / 1024, max(peak[0], after) / 1024, after / 1024, report.message_sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--page", type=int, default=500, help="records per page (the pull's max_returned)")
    parser.add_argument("--database-url", help="a PostgreSQL database of its own (its tables are dropped)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = [(size, *run(size, args.page, args.database_url, Path(tmp))) for size in args.sizes]
    engine = "postgresql" if args.database_url else "sqlite"
    print(f"one customer pull of SIZE records, {args.page} per page, through serve on {engine}; VmRSS in MiB\n")
    print(f"{'size':>8} {'pages':>6} {'before':>8} {'peak':>8} {'end':>8} {'peak vs first':>14}")
    first = results[0][2]
    for size, before, peak, after, sets in results:
        print(f"{size:>8} {sets:>6} {before:>8.1f} {peak:>8.1f} {after:>8.1f} {peak / first:>13.2f}x")


if __name__ == "__main__":
    main()
