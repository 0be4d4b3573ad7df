"""Server CPU per job through the real SOAP endpoint, by message-set size, beside the floor (a benchmark, not a test).

For each batch size: starts `qbwc-service serve` on a fresh database (SQLite, or the PostgreSQL database
``--database-url`` names), queues N CustomerAdd jobs, lets the simulated Web Connector drain them against the
simulated QuickBooks company, and reads the server's CPU time (user + system, from /proc) before and after the
session; on PostgreSQL also the CPU of the database's own processes. Then the same for the floor
(bench/floor_server.py: the same server stack answering canned values, no database). Every configuration runs in
the same invocation, ``--repeat`` times alternating, and the table shows medians. Linux only.

    .venv/bin/python bench/soap_throughput.py --jobs 500 --batch 1 50 100
    .venv/bin/python bench/soap_throughput.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/qbwc_bench
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import httpx
from _common import floor as floor_server
from _common import postgres_cpu_seconds, queue_jobs, serve

from qbwc_service.simulate.quickbooks import QuickBooksCompany
from qbwc_service.simulate.webconnector import WebConnectorClient


def drain(url: str, username: str, token: str, label: str) -> int:
    with httpx.Client(timeout=120) as client:
        report = WebConnectorClient(f"{url}/qbwc", username, token, QuickBooksCompany(), client=client,
                                    max_calls=1_000_000).run_session()
    if report.outcome != "done":
        raise SystemExit(f"{label}: the session ended with {report.outcome}: {report.last_error}")
    return report.message_sets


def run_service(batch: int, jobs: int, database_url: str | None, workdir: Path, attempt: int) -> tuple[float, float]:
    """(server CPU s, database CPU s) for draining ``jobs`` at ``batch`` per message set, on a database of its own."""
    url, username, token = queue_jobs(database_url, workdir, f"bench-{batch}-{attempt}", jobs)
    with serve(url, workdir, batch=batch) as server:
        before, db_before = server.cpu(), postgres_cpu_seconds()
        drain(server.url, username, token, f"batch {batch}")
        return server.cpu() - before, (postgres_cpu_seconds() - db_before) if database_url else 0.0


def run_floor(batch: int, jobs: int, workdir: Path) -> float:
    with floor_server(workdir, batch=batch, jobs=jobs) as server:
        before = server.cpu()
        drain(server.url, "floor", "floor", f"floor batch {batch}")
        return server.cpu() - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 50, 100])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--database-url", help="a PostgreSQL database of its own (its tables are dropped)")
    args = parser.parse_args()
    service: dict[int, list[tuple[float, float]]] = {b: [] for b in args.batch}
    floor: dict[int, list[float]] = {b: [] for b in args.batch}
    with tempfile.TemporaryDirectory() as tmp:
        for attempt in range(args.repeat):
            for batch in args.batch:
                service[batch].append(run_service(batch, args.jobs, args.database_url, Path(tmp), attempt))
                floor[batch].append(run_floor(batch, args.jobs, Path(tmp)))
    engine = "postgresql" if args.database_url else "sqlite"
    print(f"{args.jobs} CustomerAdd jobs per run on {engine}, median of {args.repeat}; CPU (user+system) per job, ms\n")
    first = args.batch[0]
    base = statistics.median(s for s, _ in service[first]) / args.jobs
    print(f"{'batch':>6} {'service':>9} {'floor':>9} {'vs floor':>9} {'database':>9} {f'vs batch {first}':>11}")
    for batch in args.batch:
        used = statistics.median(s for s, _ in service[batch]) / args.jobs
        db = statistics.median(d for _, d in service[batch]) / args.jobs
        bare = statistics.median(floor[batch]) / args.jobs
        print(f"{batch:>6} {used * 1000:>9.3f} {bare * 1000:>9.3f} {used / bare if bare else 0:>8.2f}x "
              f"{db * 1000 if args.database_url else float('nan'):>9.3f} {used / base if base else 0:>10.3f}x")


if __name__ == "__main__":
    main()
