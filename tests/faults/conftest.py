"""Faults injected into a running service: a dropped database connection, a lock held too long, an outage,
a crash, years of use. Each test is bounded in time and stays on loopback; the PostgreSQL ones are marked
``postgres`` and run wherever QBWC_TEST_POSTGRES_URL is set (CI sets it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import httpx
import pytest
from sqlalchemy import Engine

from tests.conftest import POSTGRES_URL, PostgresDatabase, free_port
from tests.inprocess import protocol

__all__ = ["postgres_engine", "protocol", "serve"]

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TIME_LIMIT = 60
"""Seconds a test here may run; a module sets ``TIME_LIMIT`` for another bound."""

needs_postgres = pytest.mark.skipif(not POSTGRES_URL, reason="QBWC_TEST_POSTGRES_URL is not set; PostgreSQL tests "
                                    "skipped")
"""With ``@pytest.mark.postgres``: a test of PostgreSQL alone."""


@pytest.fixture(autouse=True)
def _time_limit(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that runs past its module's TIME_LIMIT, rather than hang the run."""
    seconds = getattr(request.module, "TIME_LIMIT", DEFAULT_TIME_LIMIT)
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(_signum: int, _frame: FrameType | None) -> None:
        raise TimeoutError(f"the test ran past its {seconds} s limit")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def postgres_engine(postgres_database: PostgresDatabase) -> Iterator[Engine]:
    """The tests' PostgreSQL schema, migrated, with no rows."""
    engine = postgres_database.migrated()
    yield engine
    engine.dispose()


class Serve:
    """`serve` as a user runs it, on a SQLite file, on loopback."""

    def __init__(self, database: Path, log: Path) -> None:
        self.database, self.log = database, log
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def soap_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/qbwc"

    def start(self) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith("QBWC_")}
        env.update(PYTHONPATH=str(ROOT), QBWC_DATABASE_URL=f"sqlite:///{self.database}", QBWC_PORT=str(self.port))
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen([sys.executable, "-m", "qbwc_service.cli", "serve"], cwd=self.log.parent,
                                            env=env, stdout=sink, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"serve did not start:\n{self.log.read_text(errors='replace')}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    """`serve` started on a new SQLite file, stopped at the end."""
    served = Serve(tmp_path / "served.db", tmp_path / "serve.log")
    served.start()
    try:
        yield served
    finally:
        served.stop()
