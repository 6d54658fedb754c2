"""A case's handling clock (处置时限): due time, yellow light, suspension, extension, and when the
scheduler must look at the case next.

The clock starts at dispatch (and again at rework) and counts in working time unless the limit is on
the wall clock (urgent categories). Suspended (挂账) time does not count: on resume the due time moves
by the suspended time, counted the same way. An approved extension adds to the limit, so the due time
moves from where it was (an overdue case stays late by what the extension does not cover).
Arithmetic happens in local time (the calendar is local); the database keeps naive UTC.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from tickets import clock
from tickets.policy import Policy, Span
from tickets.policy import default as default_policy
from tickets.sla import WorkCalendar, default_calendar, parse_limit


@dataclass
class Env:
    """What the lifecycle needs from outside: calendar, time zone, policy, and optionally the
    citizen templates (result SMS) and the rules (escalation chains)."""
    calendar: WorkCalendar
    tz: str
    policy: Policy
    templates: object | None = None
    rules: object | None = None
    survey_hours: float = 7 * 24   # how long a survey answer is awaited (GRIDLINE_SURVEY_DAYS)

    def local(self, utc: datetime) -> datetime:
        return clock.local_naive(utc, self.tz)

    def utc(self, local: datetime) -> datetime:
        return clock.to_utc_naive(local, self.tz)

    def add(self, utc: datetime, span: Span | float, working: bool | None = None) -> datetime:
        hours, working = (span.hours, span.working) if isinstance(span, Span) else (span, working)
        return self.utc(self.calendar.add(self.local(utc), hours, working))

    def elapsed(self, a: datetime, b: datetime, working: bool) -> float:
        return self.calendar.elapsed(self.local(a), self.local(b), working)

    def next_working_moment(self, utc: datetime) -> datetime:
        return self.utc(self.calendar.next_working_moment(self.local(utc)))


def make_env(calendar=None, tz=None, policy=None, templates=None, rules=None) -> Env:
    cfg = _config()
    return Env(calendar or default_calendar(), tz or cfg.timezone, policy or default_policy(), templates, rules,
               float(getattr(cfg, "survey_days", 7)) * 24)


@lru_cache(maxsize=1)
def _config():
    from config import Config
    return Config()


def restart(case, env: Env, now: datetime) -> None:
    """A fresh limit from now (dispatch, re-dispatch, rework)."""
    case.limit_hours, case.working_clock = parse_limit(case.time_limit)
    case.clock_start, case.paused_hours = now, 0.0
    case.suspended_at = case.resume_status = None
    case.extension_request = None
    case.clock_round = (case.clock_round or 0) + 1
    _reset_lights(case)
    recompute(case, env)
    case.next_check_at = case.warn_at


def recompute(case, env: Env) -> None:
    total, paused = case.limit_hours, case.paused_hours or 0.0
    case.warn_at = env.add(case.clock_start, env.policy.warn_ratio * total + paused, case.working_clock)
    case.due_at = env.add(case.clock_start, total + paused, case.working_clock)


def pause(case, now: datetime, from_status: str) -> None:
    case.suspended_at, case.resume_status = now, from_status
    case.next_check_at = None


def resume(case, env: Env, now: datetime) -> float:
    """Add the suspended time to the clock; returns it (hours, in the clock's units)."""
    paused = env.elapsed(case.suspended_at, now, case.working_clock) if case.suspended_at else 0.0
    case.paused_hours = (case.paused_hours or 0.0) + paused
    case.suspended_at = case.resume_status = None
    recompute(case, env)
    _new_round(case, now)
    return paused


def extend(case, env: Env, hours: float, now: datetime) -> None:
    case.limit_hours += hours
    case.extension_request = None
    recompute(case, env)
    _new_round(case, now)


def _new_round(case, now: datetime) -> None:
    """The due time moved: the lights are judged afresh against it, right away, by the scan."""
    case.clock_round = (case.clock_round or 0) + 1
    _reset_lights(case)
    case.next_check_at = now


def _reset_lights(case) -> None:
    case.sla_level, case.escalation_step, case.reminders, case.last_reminder_at = "green", 0, 0, None


def stop(case) -> None:
    case.next_check_at = None


# ----------------------------------------------------------------------- what the scan needs


def next_reminder_at(case, env: Env) -> datetime:
    span = env.policy.remind_span(not case.working_clock)
    base = case.last_reminder_at or case.due_at
    return env.next_working_moment(env.add(base, span))


def escalation_at(case, env: Env, step: int) -> datetime:
    """When escalation step `step` (1, 2, …) is due: after the first delay, then every interval."""
    after, every = env.policy.escalate_spans(not case.working_clock)
    first = env.add(case.due_at, after)
    return env.add(first, every.hours * (step - 1), every.working) if step > 1 else first


def schedule(case, env: Env, chain_length: int, now: datetime) -> None:
    """Set next_check_at: the next moment something may happen to a running clock."""
    if case.sla_level == "green":
        case.next_check_at = case.warn_at
    elif case.sla_level == "yellow":
        case.next_check_at = case.due_at
    else:
        remind = next_reminder_at(case, env)
        if remind <= now:  # due, but not in working hours: wait for them
            remind = env.next_working_moment(now)
        times = [remind]
        if case.escalation_step < chain_length:
            times.append(escalation_at(case, env, case.escalation_step + 1))
        case.next_check_at = min(times)
