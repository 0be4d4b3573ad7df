"""What the benchmarks share: a free port, a process's CPU time from /proc, a fresh database (SQLite file or an
emptied PostgreSQL database), and one way to start ``qbwc-service serve`` (or the floor server) and wait for it.
Linux only (it reads /proc)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import Engine, MetaData, text

from qbwc_service import connections, usecases
from qbwc_service.clock import SYSTEM_CLOCK
from qbwc_service.db.engine import make_engine, make_sessionmaker
from qbwc_service.db.migrate import upgrade
from qbwc_service.queue import JobQueue, RetryPolicy

BENCH = Path(__file__).resolve().parent


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """User + system CPU of every PostgreSQL process on this machine (its backends and helpers), in seconds: the
    database's own share of a run, read before and after it."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if "(postgres)" in stat or "(postmaster)" in stat:
            fields = stat.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fresh_database(url: str | None, workdir: Path, name: str) -> tuple[str, Engine]:
    """A migrated, empty database: a new SQLite file in ``workdir``, or the PostgreSQL database ``url`` names with
    its tables dropped first (give it a database of its own)."""
    if url is None:
        url = f"sqlite:///{workdir / f'{name}.db'}"
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            meta = MetaData()
            meta.reflect(conn)
            meta.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade(engine)
    return url, engine


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)


@contextmanager
def started(command: list[str], env: dict[str, str], cwd: Path, port: int,
            ready_path: str = "/healthz") -> Iterator[Server]:
    """Start a server process, wait until ``ready_path`` answers 200, and stop it afterwards."""
    server = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}{ready_path}", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise SystemExit(f"the server did not start: {server.stderr.read().decode() if server.stderr else ''}")
            time.sleep(0.1)
        yield Server(server, url)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def serve(database_url: str, workdir: Path, *, batch: int = 50, extra: dict[str, str] | None = None
          ) -> AbstractContextManager[Server]:
    """``qbwc-service serve`` on ``database_url``, logging warnings only, answering on a free port."""
    port = free_port()
    env = {**os.environ, "QBWC_DATABASE_URL": database_url, "QBWC_PORT": str(port), "QBWC_BATCH_SIZE": str(batch),
           "QBWC_LOG_LEVEL": "WARNING", **(extra or {})}
    env.pop("QBWC_CONFIG", None)
    return started([sys.executable, "-m", "qbwc_service.cli", "serve"], env, workdir, port)


def floor(workdir: Path, *, batch: int, jobs: int) -> AbstractContextManager[Server]:
    """The floor: the same HTTP and SOAP stack as serve (uvicorn, FastAPI, the guarded spyne app) answering canned
    values from memory, no database (bench/floor_server.py)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH") or str(BENCH.parent)}
    return started([sys.executable, str(BENCH / "floor_server.py"), "--port", str(port), "--batch", str(batch),
                    "--jobs", str(jobs)], env, workdir, port)


def queue_jobs(database_url: str | None, workdir: Path, name: str, jobs: int) -> tuple[str, str, str]:
    """A fresh database (:func:`fresh_database`) holding one connection with ``jobs`` CustomerAdd raw jobs: (url,
    username, token)."""
    url, engine = fresh_database(database_url, workdir, name)
    with make_sessionmaker(engine).begin() as db:
        made = connections.create_connection(db, "bench")
        items = [usecases.RawItem("bench", f"<CustomerAddRq><CustomerAdd><Name>Bench Customer {i:06d}</Name>"
                                  "</CustomerAdd></CustomerAddRq>") for i in range(jobs)]
        usecases.enqueue_bulk(db, JobQueue(SYSTEM_CLOCK, RetryPolicy()), items)
        username, token = made.connection.username, made.token
    engine.dispose()
    return url, username, token
