"""When an automatic retrieve is due: the sync window in the connection's time zone, the interval since the last
one, and the slot a due retrieve belongs to. Pure functions of the moment given (naive UTC, as the clock gives)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

EPOCH = datetime(2000, 1, 1)


def local_time(now: datetime, zone: str) -> time:
    """The wall-clock time in ``zone`` at ``now`` (naive UTC): daylight saving time included."""
    return now.replace(tzinfo=UTC).astimezone(ZoneInfo(zone)).time().replace(tzinfo=None)


def in_window(now: datetime, zone: str, start: time | None, end: time | None) -> bool:
    """Whether ``now`` falls in the sync window [start, end) of ``zone``'s wall clock. A window whose end is
    before its start crosses midnight (22:00-06:00); no window is all day."""
    if start is None or end is None:
        return True
    local = local_time(now, zone)
    if start < end:
        return start <= local < end
    return local >= start or local < end


def due_slot(now: datetime, interval_minutes: int) -> datetime:
    """The start of the interval-long slot ``now`` is in, counted from a fixed epoch: every process computes the
    same slot for the same moment, so a retrieve due in it gets one idempotency key."""
    step = timedelta(minutes=interval_minutes)
    return EPOCH + step * ((now - EPOCH) // step)


def is_due(now: datetime, last: datetime | None, interval_minutes: int) -> bool:
    """At least ``interval_minutes`` since the last automatic retrieve (or none yet)."""
    return last is None or now - last >= timedelta(minutes=interval_minutes)
