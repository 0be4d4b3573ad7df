"""The request budget (GCRA): a burst at once, then never more than the limit in any minute; a 429 pauses it."""

from __future__ import annotations

from datetime import datetime

import pytest

from qbwc_service.clock import FakeClock
from qbwc_service.fusion.budget import MemoryBudget, Rate, seconds


def run(budget: MemoryBudget, clock: FakeClock, requests: int) -> list[float]:
    """Send ``requests`` as fast as the budget allows; when each went (clock seconds)."""
    sent: list[float] = []
    while len(sent) < requests:
        wait = budget.take()
        if wait > 0:
            clock.advance(seconds=wait)
        else:
            sent.append(seconds(clock.now()))
    return sent


@pytest.mark.parametrize(("limit", "burst"), [(120, 10), (120, 1), (60, 59), (7, 3)])
def test_never_more_than_the_limit_in_any_minute(limit: int, burst: int) -> None:
    clock = FakeClock(datetime(2026, 12, 5, 10, 0, 0))
    rate = Rate(limit, burst)
    sent = run(MemoryBudget(rate, clock), clock, limit * 4)
    assert sent[:burst] == [sent[0]] * burst  # the burst goes at once
    most = max(sum(1 for t in sent if start <= t <= start + 60) for start in sent)
    assert most <= limit
    assert sent[-1] - sent[0] <= (limit * 4 - burst) * rate.interval + 1  # and it is no slower than it must be


def test_a_pause_holds_every_request_for_that_long() -> None:
    clock = FakeClock(datetime(2026, 12, 5, 10, 0, 0))
    budget = MemoryBudget(Rate(120, 10), clock)
    budget.pause(30)
    wait = budget.take()
    assert wait == pytest.approx(30)
    clock.advance(seconds=wait)
    assert budget.take() == 0


def test_a_burst_below_one_or_not_below_the_limit_is_refused() -> None:
    with pytest.raises(ValueError):
        Rate(120, 120)
    with pytest.raises(ValueError):
        Rate(120, 0)
