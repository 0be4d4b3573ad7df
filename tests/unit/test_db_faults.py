"""Which database failures are made again (db.faults), and for how long."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError, PendingRollbackError

from qbwc_service.db.faults import is_transient, retrying


def _sqlite(message: str) -> OperationalError:
    return OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError(message))


def test_what_may_pass_and_what_may_not() -> None:
    assert is_transient(_sqlite("database is locked"))
    assert is_transient(OperationalError("SELECT 1", {}, psycopg.OperationalError("server closed the connection")))
    cut = OperationalError("SELECT 1", {}, psycopg.OperationalError("x"), connection_invalidated=True)
    assert is_transient(cut)
    try:  # the error SQLAlchemy raises next on a connection it lost, while the loss is handled
        raise PendingRollbackError("Can't reconnect until invalid transaction is rolled back") from cut
    except PendingRollbackError as after:
        assert is_transient(after)
    assert not is_transient(_sqlite("no such table: qbwc_jobs"))
    assert not is_transient(IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed")))
    assert not is_transient(ValueError("not the database"))


def test_a_failure_that_may_pass_is_tried_again_within_the_budget() -> None:
    waits: list[float] = []
    failures = iter([_sqlite("database is locked")] * 3)

    def call() -> str:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return "settled"

    assert retrying(call, budget_seconds=1, sleep=waits.append) == "settled"
    assert waits == [0.1, 0.2, 0.4]


def test_the_budget_bounds_the_waiting_and_a_bug_is_not_retried() -> None:
    waits: list[float] = []

    def locked() -> None:
        raise _sqlite("database is locked")

    with pytest.raises(OperationalError):
        retrying(locked, budget_seconds=1, sleep=waits.append)
    assert sum(waits) <= 1 and waits == [0.1, 0.2, 0.4]
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed"))

    with pytest.raises(IntegrityError):
        retrying(broken, budget_seconds=10, sleep=waits.append)
    assert calls == [1]
