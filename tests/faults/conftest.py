"""Faults injected into a running service: a dropped database connection, a lock held too long, an outage,
a crash, years of use. Each test is bounded in time and stays on loopback; the PostgreSQL ones are marked
``postgres`` and run wherever QBWC_TEST_POSTGRES_URL is set (CI sets it)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from types import FrameType

import pytest
from sqlalchemy import Engine

from tests.conftest import POSTGRES_URL, PostgresDatabase
from tests.inprocess import protocol

__all__ = ["postgres_engine", "protocol"]

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
