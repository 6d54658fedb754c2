"""Due times in working time with the holiday and 调休 calendar shipped in data/calendar.yaml."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from routing.rules import parse_time_limit
from tickets.sla import WorkCalendar

CALENDAR = WorkCalendar.load(Path(__file__).resolve().parent.parent / "data" / "calendar.yaml")


@pytest.mark.parametrize("start, limit, due", [
    # Friday 17:50, four working hours: ten minutes on Friday, the rest on Monday morning.
    ("2026-11-20 17:50", "4工作时", "2026-11-23 11:50"),
    # Friday before the 春节 make-up Saturday (2026-02-14 is a working day).
    ("2026-02-13 17:50", "4工作时", "2026-02-14 11:50"),
    # Lunch break does not count.
    ("2026-11-23 11:00", "2工作时", "2026-11-23 15:00"),
    # Before the National Day holiday: 1 hour on 30 Sep, then nothing until 8 Oct.
    ("2026-09-30 17:00", "2工作时", "2026-10-08 09:00"),
    # Reported at night: the clock starts at 08:00 the next working day.
    ("2026-11-23 22:00", "1工作日", "2026-11-24 18:00"),
    # Wall clock for urgent limits.
    ("2026-10-01 23:00", "2小时", "2026-10-02 01:00"),
])
def test_due_time(start, limit, due):
    fmt = "%Y-%m-%d %H:%M"
    assert CALENDAR.due(datetime.strptime(start, fmt), parse_time_limit(limit)) == datetime.strptime(due, fmt)


def test_calendar_knows_holidays_and_make_up_days():
    assert not CALENDAR.is_working_day(datetime(2026, 10, 1).date())
    assert CALENDAR.is_working_day(datetime(2026, 10, 10).date())   # Saturday, 调休
    assert not CALENDAR.is_working_day(datetime(2026, 11, 22).date())  # an ordinary Sunday
