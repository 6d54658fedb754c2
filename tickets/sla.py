"""Due times counted in working time, with a holiday and 调休 calendar kept as data.

Working time: the rules' working hours (default 08:00–12:00 and 14:00–18:00) on working days.
A working day is a weekday that is not a holiday, or a weekend day listed as a make-up day (调休).
Urgent limits count on the wall clock. Times here are local (Asia/Shanghai) and naive.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

import yaml

HOURS_PER_WORKING_DAY = 8


@dataclass
class WorkCalendar:
    holidays: set[date] = field(default_factory=set)
    workdays: set[date] = field(default_factory=set)  # 调休: weekend days that are working days
    hours: list[tuple[time, time]] = field(default_factory=lambda: [(time(8), time(12)), (time(14), time(18))])

    @classmethod
    def load(cls, path: str | Path | None, working_hours: list[str] | None = None) -> "WorkCalendar":
        cal = cls()
        if working_hours:
            cal.hours = [tuple(time.fromisoformat(x) for x in span.split("-")) for span in working_hours]
        if path and Path(path).exists():
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
            for year in (data.get("years") or {}).values():
                cal.holidays.update(_dates(year.get("holidays", [])))
                cal.workdays.update(_dates(year.get("workdays", [])))
        return cal

    def is_working_day(self, d: date) -> bool:
        if d in self.workdays:
            return True
        return d.weekday() < 5 and d not in self.holidays

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The moment `hours` of working time after `start`."""
        remaining = timedelta(hours=hours)
        day = start.date()
        cursor = start
        for _ in range(3660):  # ten years of days: a bound, not a limit anyone reaches
            if self.is_working_day(day):
                for begin, end in self.hours:
                    span_start = max(cursor, datetime.combine(day, begin))
                    span_end = datetime.combine(day, end)
                    if span_start >= span_end:
                        continue
                    available = span_end - span_start
                    if remaining <= available:
                        return span_start + remaining
                    remaining -= available
            day += timedelta(days=1)
            cursor = datetime.combine(day, time(0))
        raise ValueError("working-time calendar has no working hours")

    def due(self, start: datetime, limit) -> datetime:
        """start + a routing.rules.TimeLimit (工作时, 工作日, 小时, 天)."""
        if limit.unit == "工作时":
            return self.add_working_hours(start, limit.amount)
        if limit.unit == "工作日":
            return self.add_working_hours(start, limit.amount * HOURS_PER_WORKING_DAY)
        if limit.unit == "小时":
            return start + timedelta(hours=limit.amount)
        if limit.unit == "天":
            return start + timedelta(days=limit.amount)
        raise ValueError(f"unknown time-limit unit {limit.unit!r}")


def _dates(items) -> set[date]:
    out: set[date] = set()
    for item in items:
        if isinstance(item, date):
            out.add(item)
        elif isinstance(item, str) and ".." in item:  # a range: 2026-10-01..2026-10-07
            a, b = (date.fromisoformat(x.strip()) for x in item.split(".."))
            out.update(a + timedelta(days=i) for i in range((b - a).days + 1))
        else:
            out.add(date.fromisoformat(str(item)))
    return out
