"""Server CPU per SOAP call against the depth of the queue behind it (a benchmark, not a test).

For each depth: a fresh database (SQLite, or the PostgreSQL database ``--database-url`` names) with DEPTH queued
CustomerAdd raw jobs (and, for ``--done``, that many done jobs besides), written by one INSERT ... SELECT; then
`qbwc-service serve`, and one simulated Web Connector session of ``--calls`` SOAP calls at ``--batch`` jobs per
message set. It prints the server's CPU per call (user + system, from /proc) and the ratio to the first depth. The
call's cost should not follow the queue. Linux only.

    .venv/bin/python bench/queue_depth.py --depths 1000 100000 --done 1000000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import httpx
from _common import fresh_database, postgres_cpu_seconds, serve
from sqlalchemy import text

from qbwc_service import connections
from qbwc_service.db.engine import make_sessionmaker
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from qbwc_service.simulate.webconnector import WebConnectorClient

_SERIES = {
    "sqlite": "WITH RECURSIVE series(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM series WHERE n < :count) "
              "SELECT n FROM series",
    "postgresql": "SELECT n FROM generate_series(1, :count) AS series(n)",
}
_JOBS = """
INSERT INTO qbwc_jobs (connection_id, kind, payload, idempotency_key, key_given, status, priority, read_only,
                       reconcilable, send_alone, attempts, created_at, updated_at, finished_at)
SELECT :connection, 'raw', {payload}, :prefix || n, {false}, :status, 0, {false}, {false}, {false}, 0,
       CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, {finished}
FROM ({series}) AS numbers
"""


def fill(database_url: str | None, workdir: Path, name: str, queued: int, done: int) -> tuple[str, str, str]:
    url, engine = fresh_database(database_url, workdir, name)
    dialect = engine.dialect.name
    request = "'{\"request\": \"<CustomerAddRq><CustomerAdd><Name>Depth ' || :prefix || n || '</Name></CustomerAdd>" \
              "</CustomerAddRq>\"}'"
    with make_sessionmaker(engine).begin() as db:
        made = connections.create_connection(db, "depth")
        username, token, connection_id = made.connection.username, made.token, made.connection.id
    with engine.begin() as conn:
        for prefix, status, count in (("done-", "done", done), ("queued-", "queued", queued)):
            if count:
                conn.execute(text(_JOBS.format(
                    payload=f"CAST({request} AS JSON)" if dialect == "postgresql" else request,
                    false="false" if dialect == "postgresql" else "0",
                    finished="CURRENT_TIMESTAMP" if status == "done" else "NULL", series=_SERIES[dialect])),
                    {"connection": connection_id, "prefix": prefix, "status": status, "count": count})
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return url, username, token


def run(database_url: str | None, workdir: Path, queued: int, done: int, batch: int, calls: int,
        attempt: int) -> tuple[float, float]:
    """(server CPU per SOAP call, database CPU per call) over one session of ``calls`` calls, on a database of its
    own (each repeat fills a new one)."""
    url, username, token = fill(database_url, workdir, f"depth-{queued}-{done}-{attempt}", queued, done)
    with serve(url, workdir, batch=batch) as server:
        before, db_before = server.cpu(), postgres_cpu_seconds()
        with httpx.Client(timeout=120) as client:
            report = WebConnectorClient(f"{server.url}/qbwc", username, token, QuickBooksCompany(), client=client,
                                        max_calls=calls).run_session()
        used, db_used = server.cpu() - before, postgres_cpu_seconds() - db_before
    if report.message_sets == 0:
        raise SystemExit(f"depth {queued}: nothing was sent ({report.outcome}: {report.last_error})")
    count = len(report.calls)
    return used / count, (db_used / count if database_url else 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--done", type=int, default=0, help="also run the first depth with this many done jobs")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--database-url", help="a PostgreSQL database of its own (its tables are dropped)")
    args = parser.parse_args()
    configs = [(depth, 0) for depth in args.depths] + ([(args.depths[0], args.done)] if args.done else [])
    results: dict[tuple[int, int], list[tuple[float, float]]] = {config: [] for config in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for attempt in range(args.repeat):
            for queued, done in configs:
                results[(queued, done)].append(run(args.database_url, Path(tmp), queued, done, args.batch, args.calls,
                                                   attempt))
    engine = "postgresql" if args.database_url else "sqlite"
    print(f"{args.calls} SOAP calls per session at batch {args.batch} on {engine}, median of {args.repeat}; "
          "server CPU per call, ms\n")
    print(f"{'queued':>9} {'done':>9} {'per call':>9} {'database':>9} {'vs first':>9}")
    first = statistics.median(c for c, _ in results[configs[0]])
    for queued, done in configs:
        per_call = statistics.median(c for c, _ in results[(queued, done)])
        db = statistics.median(d for _, d in results[(queued, done)])
        print(f"{queued:>9} {done:>9} {per_call * 1000:>9.3f} {db * 1000 if args.database_url else float('nan'):>9.3f}"
              f" {per_call / first:>8.2f}x")


if __name__ == "__main__":
    main()
