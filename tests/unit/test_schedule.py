"""The automatic retrieve's window and slots: time zones, daylight saving time, windows across midnight."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from qbwc_service.schedule import due_slot, in_window, is_due, local_time

NY = "America/New_York"


@pytest.mark.parametrize(("now", "inside"), [
    (datetime(2026, 1, 15, 13, 30), False),  # 08:30 EST
    (datetime(2026, 1, 15, 14, 0), True),  # 09:00 EST: the start is inside
    (datetime(2026, 1, 15, 21, 59), True),  # 16:59 EST
    (datetime(2026, 1, 15, 22, 0), False),  # 17:00 EST: the end is outside
    (datetime(2026, 7, 15, 13, 30), True),  # 09:30 EDT: the same UTC moment as in January is now inside
    (datetime(2026, 7, 15, 21, 30), False),  # 17:30 EDT
])
def test_a_day_window_follows_the_zone_and_its_daylight_saving_time(now: datetime, inside: bool) -> None:
    assert in_window(now, NY, time(9), time(17)) is inside


@pytest.mark.parametrize(("now", "inside"), [
    (datetime(2026, 1, 16, 3, 30), True),  # 22:30 EST
    (datetime(2026, 1, 16, 10, 59), True),  # 05:59 EST, the next day
    (datetime(2026, 1, 16, 11, 0), False),  # 06:00 EST
    (datetime(2026, 1, 15, 20, 0), False),  # 15:00 EST
])
def test_a_window_across_midnight(now: datetime, inside: bool) -> None:
    assert in_window(now, NY, time(22), time(6)) is inside


def test_no_window_is_all_day() -> None:
    assert in_window(datetime(2026, 1, 15, 3, 0), NY, None, None)


def test_the_night_the_clocks_go_forward_and_back() -> None:
    # 2026-03-08: 02:00 EST becomes 03:00 EDT; 2026-11-01: 02:00 EDT becomes 01:00 EST.
    assert local_time(datetime(2026, 3, 8, 6, 59), NY) == time(1, 59)
    assert local_time(datetime(2026, 3, 8, 7, 0), NY) == time(3, 0)
    assert in_window(datetime(2026, 3, 8, 7, 10), NY, time(2, 30), time(3, 30))  # 03:10 EDT
    assert not in_window(datetime(2026, 3, 8, 6, 50), NY, time(2, 30), time(3, 30))  # 01:50 EST
    # 01:30 happens twice in November: both are inside a 01:00-02:00 window.
    assert in_window(datetime(2026, 11, 1, 5, 30), NY, time(1), time(2))  # 01:30 EDT
    assert in_window(datetime(2026, 11, 1, 6, 30), NY, time(1), time(2))  # 01:30 EST
    assert not in_window(datetime(2026, 11, 1, 7, 0), NY, time(1), time(2))  # 02:00 EST


def test_a_zone_east_of_utc_crosses_the_date_line_of_utc() -> None:
    # Sydney is UTC+11 in January: 08:00-18:00 there is 21:00-07:00 UTC, the day before.
    assert in_window(datetime(2026, 1, 14, 21, 30), "Australia/Sydney", time(8), time(18))
    assert not in_window(datetime(2026, 1, 15, 8, 0), "Australia/Sydney", time(8), time(18))


def test_slots_are_the_same_for_every_process_and_the_interval_counts_from_the_last() -> None:
    assert due_slot(datetime(2026, 1, 15, 10, 29, 59), 30) == datetime(2026, 1, 15, 10, 0)
    assert due_slot(datetime(2026, 1, 15, 10, 30), 30) == datetime(2026, 1, 15, 10, 30)
    slot = due_slot(datetime(2026, 1, 15, 10, 44), 45)
    assert due_slot(slot + timedelta(minutes=44), 45) == slot != due_slot(slot + timedelta(minutes=45), 45)
    assert is_due(datetime(2026, 1, 15, 10, 0), None, 30)
    assert not is_due(datetime(2026, 1, 15, 10, 29), datetime(2026, 1, 15, 10, 0), 30)
    assert is_due(datetime(2026, 1, 15, 10, 30), datetime(2026, 1, 15, 10, 0), 30)
