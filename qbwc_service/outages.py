"""What the Web Connector protocol does when its database fails.

Each protocol call is one transaction, made from what the Web Connector sent. When it fails on the database in a
way that may pass (a dropped connection, a lock held too long: db.faults), :func:`retried` makes it again, on a
new connection, for up to ``database_retry_seconds``: an answer in hand is settled, not dropped, and what the call
returns (closeConnection's counts) is what was stored.

When a call naming a session fails all the same, its Web Connector is told the session failed and ends it, but
that end cannot be recorded then. :func:`retried_for_session` notes the ticket in :class:`CutOffSessions`, in the
process's memory (the database is what failed), until the end is recorded: by the next authenticate of the
connection in this process, or by `serve`'s background run. A session so noted is known not to be alive,
whatever its quiet time, so its Web Connector's next run is not told "busy".
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from qbwc_service.db.faults import is_transient, retrying

DATABASE_UNREACHABLE = (
    "The service cannot reach its database, so nothing was exchanged. The next scheduled update tries again; "
    "if this goes on, tell whoever runs the service."
)
"""What authenticate answers while the database is out (as a SOAP fault, which the Web Connector shows as QBWC1012
with this text): not "busy", which would say that another update is running."""
CUT_OFF_BY_THE_DATABASE = (
    "The service lost its database during this update, so what QuickBooks answered could not be recorded. Nothing "
    "is sent again before it is checked; the next scheduled update starts afresh."
)
"""What getLastError and closeConnection answer when the database failed during the session."""
CUT_OFF_REASON = "the database could not be reached during the session, and its Web Connector was told it failed"
"""Why such a session ended, as its end records it."""
LIMIT = 4096
"""Tickets remembered at most; beyond, the oldest are forgotten (their sessions end by the usual rules)."""


class CutOffSessions:
    """The tickets of sessions the database cut off, whose end is not recorded yet."""

    def __init__(self, limit: int = LIMIT) -> None:
        self._tickets: OrderedDict[str, None] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def note(self, ticket: str) -> None:
        with self._lock:
            self._tickets[ticket] = None
            while len(self._tickets) > self._limit:
                self._tickets.popitem(last=False)

    def __contains__(self, ticket: object) -> bool:
        with self._lock:
            return ticket in self._tickets

    def tickets(self) -> list[str]:
        with self._lock:
            return list(self._tickets)

    def forget(self, ticket: str) -> None:
        with self._lock:
            self._tickets.pop(ticket, None)


class DatabaseCalls(Protocol):
    """What the decorated protocol offers: how long a call may wait for its database, and where the sessions it
    could not end are noted."""

    @property
    def database_retry_seconds(self) -> float: ...

    @property
    def cut_off(self) -> CutOffSessions: ...


S = TypeVar("S", bound=DatabaseCalls)
P = ParamSpec("P")
R = TypeVar("R")
SessionCall = Callable[Concatenate[S, str | None, P], R]


def retried(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """The call, made again on a database failure that may pass, for up to ``database_retry_seconds``."""

    def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return retrying(lambda: method(self, *args, **kwargs), budget_seconds=self.database_retry_seconds,
                        what=method.__name__)

    functools.update_wrapper(run, method)
    return run


def retried_for_session(method: SessionCall[S, P, R]) -> SessionCall[S, P, R]:
    """:func:`retried`, for a call naming a session by its ticket; when it fails on the database all the same,
    the session is noted as cut off."""
    again = retried(method)

    def run(self: S, ticket: str | None, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return again(self, ticket, *args, **kwargs)
        except Exception as exc:
            if ticket and is_transient(exc):
                self.cut_off.note(ticket)
            raise

    functools.update_wrapper(run, method)
    return run
