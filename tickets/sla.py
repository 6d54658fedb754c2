"""Due times counted in working time, with a holiday and 调休 calendar kept as data.

Working time: the rules' working hours (default 08:00–12:00 and 14:00–18:00) on working days.
A working day is a weekday that is not a holiday, or a weekend day listed as a make-up day (调休).
Urgent limits count on the wall clock. Times here are local (Asia/Shanghai) and naive.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path

import yaml

HOURS_PER_WORKING_DAY = 8
_LIMIT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(工作时|工作日|小时|天|分钟)\s*$")


def parse_limit(text: str) -> tuple[float, bool]:
    """'4工作时' → (4.0, True), '2工作日' → (16.0, True), '6小时' → (6.0, False), '1天' → (24.0, False),
    '15分钟' → (0.25, False) (the centre's own steps: data/lifecycle.yaml centre_limits).

    Hours, and whether they count in working time. (The units of routing.rules.TimeLimit, plus
    minutes for the centre's steps and extensions; tickets keep limits as text on the case, so a
    case can be re-clocked without the rules.)
    """
    m = _LIMIT_RE.match(str(text))
    if not m:
        raise ValueError(f"时限格式错误 {text!r}（应为 N工作时、N工作日、N小时、N天 或 N分钟）")
    amount, unit = float(m.group(1)), m.group(2)
    factor = {"工作时": 1, "工作日": HOURS_PER_WORKING_DAY, "小时": 1, "天": 24, "分钟": 1 / 60}[unit]
    return amount * factor, unit in ("工作时", "工作日")


@dataclass
class WorkCalendar:
    holidays: set[date] = field(default_factory=set)
    workdays: set[date] = field(default_factory=set)  # 调休: weekend days that are working days
    hours: list[tuple[time, time]] = field(default_factory=lambda: [(time(8), time(12)), (time(14), time(18))])
    _spans: dict = field(default_factory=dict, init=False, repr=False, compare=False)

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
        cal._spans.clear()
        return cal

    def is_working_day(self, d: date) -> bool:
        if d in self.workdays:
            return True
        return d.weekday() < 5 and d not in self.holidays

    def spans(self, d: date) -> tuple[tuple[datetime, datetime], ...]:
        """The working spans of a day as datetimes ((), if it is not a working day). Cached: the
        scheduler and the due-time arithmetic ask for the same days over and over."""
        got = self._spans.get(d)
        if got is None:
            got = tuple((datetime.combine(d, b), datetime.combine(d, e)) for b, e in self.hours) \
                if self.is_working_day(d) else ()
            self._spans[d] = got
        return got

    def is_working_time(self, t: datetime) -> bool:
        return any(b <= t < e for b, e in self.spans(t.date()))

    def next_working_moment(self, t: datetime) -> datetime:
        """t itself if it is working time, else the start of the next working span."""
        day = t.date()
        for _ in range(3660):
            for begin, end in self.spans(day):
                if t < end:
                    return max(t, begin)
            day += timedelta(days=1)
        raise ValueError("working-time calendar has no working hours")

    def working_hours_between(self, a: datetime, b: datetime) -> float:
        """Working hours elapsed from a to b (0 if b is not after a)."""
        if b <= a:
            return 0.0
        total = timedelta()
        day = a.date()
        while day <= b.date():
            for begin, end in self.spans(day):
                s, e = max(a, begin), min(b, end)
                if e > s:
                    total += e - s
            day += timedelta(days=1)
        return total.total_seconds() / 3600

    def add(self, start: datetime, hours: float, working: bool) -> datetime:
        """start + hours, in working time or on the wall clock."""
        if not working:
            return start + timedelta(hours=hours)
        return self.add_working_hours(start, hours) if hours > 0 else start

    def elapsed(self, a: datetime, b: datetime, working: bool) -> float:
        """Hours from a to b, in working time or on the wall clock."""
        if not working:
            return max(0.0, (b - a).total_seconds() / 3600)
        return self.working_hours_between(a, b)

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The moment `hours` of working time after `start`."""
        remaining = timedelta(hours=hours)
        day = start.date()
        for _ in range(3660):  # ten years of days: a bound, not a limit anyone reaches
            for begin, end in self.spans(day):
                span_start = max(start, begin)
                if span_start >= end:
                    continue
                available = end - span_start
                if remaining <= available:
                    return span_start + remaining
                remaining -= available
            day += timedelta(days=1)
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


@lru_cache(maxsize=1)
def default_calendar() -> WorkCalendar:
    """The calendar named in the rules file's settings, for callers that do not pass one
    (e.g. a survey answer handled outside the worker's context)."""
    from config import Config
    rules_path = Config().rules_path
    settings = {}
    if rules_path.exists():
        settings = (yaml.safe_load(rules_path.read_text(encoding="utf-8")) or {}).get("settings") or {}
    path = settings.get("calendar") or "data/calendar.yaml"
    path = Path(path) if Path(path).is_absolute() else rules_path.parent / path
    return WorkCalendar.load(path, settings.get("working_hours"))


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
