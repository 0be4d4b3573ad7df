"""The request budget of a Fusion account: Fusion Operations allows about 120 requests a minute per account,
shared by every integration, and answers 429 beyond. The service keeps under it across all its processes by
asking a budget before each request.

The budget is a GCRA (generic cell rate algorithm, the "leaky bucket as a meter"): one number per account,
the theoretical arrival time (``tat``) of the next request. A request is allowed at ``now`` when
``tat - tolerance <= now``, and then ``tat = max(tat, now) + interval``. With ``interval = 60 / (limit -
burst)`` and ``tolerance = (burst - 1) * interval``, at most ``burst`` requests go at once after a quiet spell
and at most ``limit`` in any 60 seconds. A 429 from Fusion pauses the whole account (``pause``).

:class:`DatabaseBudget` keeps ``tat`` in ``qbwc_fusion_budgets`` (one row per account, written by one
conditional UPDATE, so concurrent processes never both take the last request) and is the one the service
uses; :class:`MemoryBudget` keeps it in the process; :data:`UNLIMITED` never waits. Time comes from the
injected clock. (Rate-limiting libraries were considered: none shares a budget through the service's own
SQLAlchemy database with an injected clock, so this is a small table instead.)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import case, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service.clock import Clock
from qbwc_service.db.models import FusionBudget

EPOCH = datetime(1970, 1, 1)


def seconds(moment: datetime) -> float:
    """A naive UTC datetime as seconds since the epoch."""
    return (moment - EPOCH).total_seconds()


@dataclass(frozen=True)
class Rate:
    """At most ``per_minute`` requests in any 60 seconds, ``burst`` of them at once."""

    per_minute: int = 120
    burst: int = 10

    def __post_init__(self) -> None:
        if not 1 <= self.burst < self.per_minute:
            raise ValueError("burst must be at least 1 and below per_minute")

    @property
    def interval(self) -> float:
        return 60.0 / (self.per_minute - self.burst)

    @property
    def tolerance(self) -> float:
        return (self.burst - 1) * self.interval


class RequestBudget(Protocol):
    def take(self) -> float:
        """Take one request: 0.0 when it may go now; else the seconds to wait before asking again (nothing
        was taken)."""
        ...

    def pause(self, seconds: float) -> None:
        """Fusion asked to wait (429): no request of this account goes for ``seconds``."""
        ...


class Unlimited:
    """No budget: every request goes at once."""

    def take(self) -> float:
        return 0.0

    def pause(self, seconds: float) -> None:
        return None


UNLIMITED = Unlimited()


class MemoryBudget:
    """The budget kept in this process (for one process, and for tests)."""

    def __init__(self, rate: Rate, clock: Clock) -> None:
        self.rate, self.clock = rate, clock
        self._tat = 0.0
        self._lock = threading.Lock()

    def take(self) -> float:
        now = seconds(self.clock.now())
        with self._lock:
            if self._tat - self.rate.tolerance <= now:
                self._tat = max(self._tat, now) + self.rate.interval
                return 0.0
            return _wait(self._tat - self.rate.tolerance - now)

    def pause(self, seconds_: float) -> None:
        until = seconds(self.clock.now()) + seconds_ + self.rate.tolerance
        with self._lock:
            self._tat = max(self._tat, until)


class DatabaseBudget:
    """The budget of one account (``account_key``) kept in the database, shared by every process using it.
    Each call is one short transaction of its own."""

    def __init__(self, sessions: sessionmaker[Session], account_key: str, rate: Rate, clock: Clock) -> None:
        self.sessions, self.account_key, self.rate, self.clock = sessions, account_key, rate, clock

    def take(self) -> float:
        moment = self.clock.now()
        now = seconds(moment)
        with self.sessions.begin() as db:
            # RETURNING, not the rowcount, says whether a row changed: under concurrent takes on PostgreSQL the
            # rowcount of the INSERT below was seen true when the conflict had made it insert nothing.
            granted = db.execute(
                update(FusionBudget)
                .where(FusionBudget.account_key == self.account_key, FusionBudget.tat - self.rate.tolerance <= now)
                .values(tat=case((FusionBudget.tat > now, FusionBudget.tat), else_=now) + self.rate.interval,
                        updated_at=moment)
                .returning(FusionBudget.id)
                .execution_options(synchronize_session=False)
            ).first()
            if granted is not None:
                return 0.0
            tat = db.scalar(select(FusionBudget.tat).where(FusionBudget.account_key == self.account_key))
            if tat is not None:
                return _wait(tat - self.rate.tolerance - now)
            # The account's first request: its row, holding this request already. Another process may insert
            # it at the same moment; then this one asks again.
            inserted = db.execute(
                _insert(db).values(account_key=self.account_key, tat=now + self.rate.interval, updated_at=moment)
                .on_conflict_do_nothing(index_elements=["account_key"]).returning(FusionBudget.id)
            ).first()
        return 0.0 if inserted is not None else self.take()

    def pause(self, seconds_: float) -> None:
        moment = self.clock.now()
        until = seconds(moment) + seconds_ + self.rate.tolerance
        with self.sessions.begin() as db:
            db.execute(
                update(FusionBudget).where(FusionBudget.account_key == self.account_key)
                .values(tat=case((FusionBudget.tat > until, FusionBudget.tat), else_=until), updated_at=moment)
                .execution_options(synchronize_session=False)
            )
            db.execute(_insert(db).values(account_key=self.account_key, tat=until, updated_at=moment)
                       .on_conflict_do_nothing(index_elements=["account_key"]))


def _wait(seconds_: float) -> float:
    """A wait a clock can measure: at least a millisecond (a clock counts microseconds; a wait rounded to
    nothing would be asked again and again)."""
    return max(seconds_, 0.001)


def _insert(db: Session) -> postgresql.Insert | sqlite.Insert:
    dialect = db.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(FusionBudget)
