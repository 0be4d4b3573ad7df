"""Database errors that may pass, and running a transaction again after one.

A transaction that failed rolled back as a whole, so making it again from its inputs (a Web Connector's
answer is text in hand) applies nothing twice. Which failures may pass:

- the connection was lost: PostgreSQL terminated the backend (an administrator, a failover, a restart), the
  network cut it, or the server refused a new one (SQLSTATE class 08, 57P01-57P03, too many connections);
- PostgreSQL gave up the transaction to let another go on (serialization failure, deadlock);
- SQLite waited for its lock longer than its busy timeout, or could not open its file for a moment.

A bug (a constraint broken, a column missing) is not among them: it fails the same way every time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

T = TypeVar("T")

_PASSING_SQLSTATES = frozenset({"40001", "40P01", "53300", "57P01", "57P02", "57P03"})
_PASSING_SQLITE = ("database is locked", "database is busy", "database table is locked",
                   "unable to open database file", "disk i/o error")
FIRST_DELAY = 0.1
"""Seconds before the first retry; each next one waits twice as long."""


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it was raised while handling) is a database failure that may pass."""
    return any(_passes(error) for error in _chain(exc))


def _passes(error: BaseException) -> bool:
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    driver = error.orig
    module = type(driver).__module__
    if module.startswith("psycopg"):
        state = getattr(driver, "sqlstate", None)
        if state is None:  # raised by the driver itself: the connection failed or was lost
            return type(driver).__name__ in ("OperationalError", "InterfaceError")
        return state.startswith("08") or state in _PASSING_SQLSTATES
    if module == "sqlite3":
        return type(driver).__name__ == "OperationalError" and str(driver).lower().startswith(_PASSING_SQLITE)
    return False


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def retrying(call: Callable[[], T], *, budget_seconds: float, sleep: Callable[[float], None] = time.sleep,
             what: str = "a database transaction") -> T:
    """``call()``, made again after a failure that may pass (:func:`is_transient`) until it succeeds or
    ``budget_seconds`` of waiting are spent (waits of 0.1 s, 0.2 s, 0.4 s, ...); then its last error is
    raised. ``call`` must be one whole transaction, opened and ended inside it."""
    delay, waited = FIRST_DELAY, 0.0
    while True:
        try:
            return call()
        except Exception as exc:
            if not is_transient(exc) or waited + delay > budget_seconds:
                raise
            log.warning("%s failed on the database (%s); trying again in %.1f s", what,
                        _one_line(exc), delay)
            sleep(delay)
            waited += delay
            delay *= 2


def _one_line(exc: BaseException) -> str:
    text = str(exc.orig) if isinstance(exc, DBAPIError) else str(exc)
    return " ".join(text.split())[:200]
