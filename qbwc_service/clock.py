"""Time, as a parameter: the service reads "now" from a Clock it is given, never from the system directly.

Every timestamp the service stores is naive UTC. ``SystemClock`` reads the real time; ``FakeClock`` stands
still until a test moves it, so a test ages a session or a backoff by advancing the clock, not by editing
timestamps in the tables.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, naive UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC).replace(tzinfo=None)


class FakeClock:
    """A clock that moves only when told to (a test double)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or SystemClock().now()
        self._failure: Exception | None = None

    def now(self) -> datetime:
        if self._failure is not None:
            raise self._failure
        return self._now

    def fail_with(self, failure: Exception | None) -> None:
        """Every reading raises ``failure`` until it is set back to None: an unexpected error, injected."""
        self._failure = failure

    def advance(self, delta: timedelta | None = None, **parts: float) -> datetime:
        self._now += delta if delta is not None else timedelta(**parts)
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment


SYSTEM_CLOCK = SystemClock()


def local_date(clock: Clock, zone: str) -> date:
    """Today's date in the named IANA time zone (a QuickBooks company dates documents in its own zone)."""
    return clock.now().replace(tzinfo=UTC).astimezone(ZoneInfo(zone)).date()
