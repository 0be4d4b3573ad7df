"""Enqueue throughput: the HTTP API's bulk endpoint, its one-job endpoint, and the CLI, side by side (a benchmark,
not a test).

Starts `qbwc-service serve` in a child process on a fresh database (SQLite by default; --database-url for
PostgreSQL, whose tables are then emptied first), then queues CustomerAdd jobs three ways, each timed from the
client's side (wall clock), in the same invocation so the ratios compare like with like:

- bulk: one POST /api/v1/jobs/bulk with --bulk jobs (one transaction);
- API: --single POSTs to /api/v1/connections/NAME/raw, one job each, over one keep-alive connection;
- CLI, JSON lines: one `qbwc-service enqueue raw --jsonl FILE` of --jsonl jobs (one process, one transaction);
- CLI: --cli runs of `qbwc-service enqueue raw`, one process per job (what a script did before the API).

It also prints the median wall time of `qbwc-service --help`.

    .venv/bin/python bench/enqueue_throughput.py --bulk 10000 --single 500 --cli 10
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _common import serve
from sqlalchemy import func, select, text

from qbwc_service import connection_usecases
from qbwc_service.db.engine import make_engine, make_sessionmaker
from qbwc_service.db.migrate import upgrade
from qbwc_service.db.models import Base, Job


def customer(run: str, index: int) -> str:
    return f"<CustomerAddRq><CustomerAdd><Name>{run} {index:06d}</Name></CustomerAdd></CustomerAddRq>"


def prepare(url: str) -> str:
    """A migrated, empty database with the connection "bench"; an admin API key to it."""
    engine = make_engine(url)
    upgrade(engine)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(text(f"DELETE FROM {table.name}"))
    with make_sessionmaker(engine).begin() as db:
        connection_usecases.create_connection(db, "bench")
        key = connection_usecases.create_api_key(db, "bench").key
    engine.dispose()
    return key


def count_jobs(url: str) -> int:
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as db:
        found = db.scalar(select(func.count()).select_from(Job)) or 0
    engine.dispose()
    return found


def bench_bulk(url: str, key: str, jobs: int) -> float:
    body = {"jobs": [{"type": "raw", "connection": "bench", "request": customer("Bulk", i)} for i in range(jobs)]}
    with httpx.Client(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=600) as api:
        started = time.perf_counter()
        answer = api.post("/jobs/bulk", json=body)
        took = time.perf_counter() - started
    if answer.status_code != 201 or answer.json()["created"] != jobs:
        raise SystemExit(f"bulk: {answer.status_code} {answer.text[:300]}")
    return took


def bench_single(url: str, key: str, jobs: int) -> float:
    with httpx.Client(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=60) as api:
        started = time.perf_counter()
        for i in range(jobs):
            answer = api.post("/connections/bench/raw", json={"request": customer("Single", i)})
            if answer.status_code != 201:
                raise SystemExit(f"API: {answer.status_code} {answer.text[:300]}")
        return time.perf_counter() - started


def bench_cli(env: dict[str, str], workdir: Path, jobs: int) -> float:
    files = []
    for i in range(jobs):
        path = workdir / f"cli-{i}.xml"
        path.write_text(customer("Cli", i))
        files.append(path)
    started = time.perf_counter()
    for path in files:
        subprocess.run([sys.executable, "-m", "qbwc_service.cli", "enqueue", "raw", "bench", str(path)], env=env,
                       cwd=workdir, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def bench_jsonl(env: dict[str, str], workdir: Path, jobs: int) -> float:
    path = workdir / "jobs.jsonl"
    path.write_text("".join(json.dumps({"request": customer("Lines", i)}) + "\n" for i in range(jobs)))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "qbwc_service.cli", "enqueue", "raw", "bench", "--jsonl", str(path)], env=env,
                   cwd=workdir, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def help_seconds(env: dict[str, str], workdir: Path, runs: int = 5) -> float:
    """The median wall time of `qbwc-service --help`, a process each."""
    took = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "qbwc_service.cli", "--help"], env=env, cwd=workdir, check=True,
                       stdout=subprocess.DEVNULL)
        took.append(time.perf_counter() - started)
    return statistics.median(took)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--bulk", type=int, default=10_000, help="Jobs in the one bulk request.")
    parser.add_argument("--single", type=int, default=500, help="One-job API requests.")
    parser.add_argument("--cli", type=int, default=10, help="CLI runs, one job each.")
    parser.add_argument("--jsonl", type=int, default=10_000, help="Jobs in the one CLI run with --jsonl (0: none).")
    parser.add_argument("--database-url", help="Default: a SQLite file in a temporary folder. A PostgreSQL "
                        "database named here is emptied first.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
        key = prepare(url)
        env = {**os.environ, "QBWC_DATABASE_URL": url, "QBWC_LOG_LEVEL": "WARNING"}
        env.pop("QBWC_CONFIG", None)
        with serve(url, workdir) as server:
            results = [("bulk endpoint", args.bulk, bench_bulk(server.url, key, args.bulk)),
                       ("API, one job per request", args.single, bench_single(server.url, key, args.single))]
        if args.jsonl:
            results.append(("CLI, one call, --jsonl", args.jsonl, bench_jsonl(env, workdir, args.jsonl)))
        results.append(("CLI, one process per job", args.cli, bench_cli(env, workdir, args.cli)))
        expected = args.bulk + args.single + args.cli + args.jsonl
        helped = help_seconds(env, workdir)
        if count_jobs(url) != expected:
            raise SystemExit(f"expected {expected} jobs in the database, found {count_jobs(url)}")
    cli_rate = results[-1][1] / results[-1][2]
    print(f"CustomerAdd raw jobs queued on {make_engine(url).dialect.name}; wall clock from the client\n")
    print(f"{'how':<26} {'jobs':>7} {'seconds':>9} {'jobs/s':>10} {'ms per job':>11} {'vs CLI':>9}")
    for how, jobs, took in results:
        rate = jobs / took
        print(f"{how:<26} {jobs:>7} {took:>9.2f} {rate:>10.1f} {took / jobs * 1000:>11.3f} {rate / cli_rate:>8.0f}x")
    print(f"\nqbwc-service --help: {helped:.2f} s (median of 5 runs)")
    bulk_rate = results[0][1] / results[0][2]
    print(f"\n{args.bulk} jobs: bulk {args.bulk / bulk_rate:.1f} s; through the CLI about "
          f"{args.bulk / cli_rate / 60:.0f} minutes")


if __name__ == "__main__":
    main()
