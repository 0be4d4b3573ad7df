"""Server CPU per job through the real SOAP endpoint, by message-set size (a benchmark, not a test).

Starts `qbwc-service serve` on SQLite in a child process, queues N CustomerAdd jobs, lets the simulated
Web Connector drain them against the simulated QuickBooks company, and reads the server process's CPU time
(user + system, from /proc) before and after. Every batch size runs in the same invocation, so the ratios
compare like with like. Linux only (it reads /proc).

    .venv/bin/python bench/soap_throughput.py --jobs 500 --batch 1 10 50 100
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from qbwc_service import connections, usecases
from qbwc_service.clock import SYSTEM_CLOCK
from qbwc_service.db.engine import make_engine, make_sessionmaker
from qbwc_service.db.migrate import upgrade
from qbwc_service.queue import JobQueue, RetryPolicy
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from qbwc_service.simulate.webconnector import WebConnectorClient


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(batch: int, jobs: int, workdir: Path) -> tuple[float, int]:
    db_url = f"sqlite:///{workdir / f'bench-{batch}.db'}"
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as db:
        made = connections.create_connection(db, f"bench-{batch}")
        username, token = made.connection.username, made.token
        job_queue = JobQueue(SYSTEM_CLOCK, RetryPolicy())
        for i in range(jobs):
            usecases.enqueue_raw(db, job_queue, made.connection.name, f"<CustomerAddRq><CustomerAdd><Name>Bench "
                                 f"Customer {i:05d}</Name></CustomerAdd></CustomerAddRq>")
    engine.dispose()
    port = free_port()
    env = {**os.environ, "QBWC_DATABASE_URL": db_url, "QBWC_PORT": str(port), "QBWC_BATCH_SIZE": str(batch),
           "QBWC_LOG_LEVEL": "WARNING", "QBWC_CONFIG": ""}
    env.pop("QBWC_CONFIG")
    server = subprocess.Popen([sys.executable, "-m", "qbwc_service.cli", "serve"], env=env, cwd=workdir,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"the server did not start: {server.stderr.read().decode() if server.stderr else ''}")
            time.sleep(0.1)
        before = cpu_seconds(server.pid)
        with httpx.Client(timeout=60) as client:
            report = WebConnectorClient(f"{url}/qbwc", username, token, QuickBooksCompany(), client=client,
                                        max_calls=100_000).run_session()
        used = cpu_seconds(server.pid) - before
        if report.outcome != "done":
            raise SystemExit(f"batch {batch}: the session ended with {report.outcome}: {report.last_error}")
        return used, report.message_sets
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 10, 50, 100])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = [(batch, *run(batch, args.jobs, Path(tmp))) for batch in args.batch]
    base = results[0][1] / args.jobs
    print(f"{args.jobs} CustomerAdd jobs per run; server CPU (user+system) per job\n")
    versus = f"vs batch {args.batch[0]}"
    print(f"{'batch':>6} {'message sets':>13} {'server CPU s':>13} {'ms per job':>11} {versus:>12}")
    for batch, used, sets in results:
        per_job = used / args.jobs
        print(f"{batch:>6} {sets:>13} {used:>13.2f} {per_job * 1000:>11.3f} {per_job / base if base else 0:>11.2f}x")


if __name__ == "__main__":
    main()
