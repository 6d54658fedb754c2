"""Lifecycle benchmark: a year of cases (default 1,000,000) with their events, written to PostgreSQL
with COPY, then the SLA scan and a month of statistics for all departments are timed. Not a test:
it prints figures. Goals: the scan ≤ 1 s, the month's statistics ≤ 2 s.

    python bench/lifecycle.py                          # generate into gridline_bench, then time
    python bench/lifecycle.py --reuse                  # time again on the data already there
    python bench/lifecycle.py --cases 100000 --down-minutes 1440

The data is a simulated year ending at a fixed moment (Friday 20 Nov 2026 10:00, Beijing time): every
case is filed and dispatched, most are handled on time, some late (yellow, red, 催办, escalation along
the chain), some returned and re-dispatched, reworked after a failed check or an unsatisfied citizen,
voided; surveys answered or not. The scheduler is taken to have last run `--down-minutes` before that
moment, so the timed scan does the work that piled up meanwhile (lights, reminders, escalations and
survey windows that came due) — the steady state, one sweep later, is timed too. The timed runs
happen inside a transaction that is rolled back, so --reuse times the same work again.
"""
from __future__ import annotations

import argparse
import io
import os
import json
import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.pgdb import ensure_database  # noqa: E402
from config import Config  # noqa: E402
from intake.context import Context  # noqa: E402
from tickets import clock, deadline, sla_scan, stats  # noqa: E402
from tickets.deadline import Env, make_env  # noqa: E402
from tickets.sla import parse_limit  # noqa: E402

TZ = "Asia/Shanghai"
EIGHT_HOURS = timedelta(hours=8)
NOW = clock.to_utc_naive(datetime(2026, 11, 20, 10, 0), TZ)
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/gridline_bench"
CASE_COLUMNS = ("id", "number", "status", "category_code", "category_name", "confidence", "decided_by", "urgent",
                "department_id", "grid_code", "place", "description", "reporter_phone", "channel", "time_limit",
                "created_at", "due_at", "closed_at", "working_clock", "limit_hours", "clock_start", "clock_round",
                "paused_hours", "warn_at", "sla_level", "escalation_step", "reminders", "last_reminder_at",
                "next_check_at")
EVENT_COLUMNS = ("case_id", "at", "actor", "action", "from_status", "to_status", "note", "data", "department_id",
                 "grid_code", "due_at")
SCHEDULED = {"yellow", "red", "remind", "escalate", "no_answer"}  # what only the SLA scan records
PROBLEMS = ["门口有暴露垃圾没人清理", "井盖丢了很危险", "路灯不亮", "有人占道经营", "机动车乱停放堵路", "小广告贴满墙"]


class ShanghaiEnv(Env):
    """Asia/Shanghai has kept UTC+8 without DST since 1991: the same answers as zoneinfo, cheaper
    for a million simulated cases. (The timed scan uses the ordinary Env.)"""
    def local(self, utc: datetime) -> datetime:
        return utc + EIGHT_HOURS

    def utc(self, local: datetime) -> datetime:
        return local - EIGHT_HOURS


def fresh_schema(url: str) -> None:
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")


def ts(dt: datetime | None) -> str:
    return "\\N" if dt is None else dt.strftime("%Y-%m-%d %H:%M:%S")


def field(v) -> str:
    if v is None:
        return "\\N"
    if isinstance(v, bool):
        return "t" if v else "f"
    if isinstance(v, datetime):
        return ts(v)
    return str(v).replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")


class Simulator:
    """One case's life as events, cut at the moment the scheduler last ran."""

    def __init__(self, ctx, env, departments: dict[str, int], seed: int, last_scan: datetime):
        self.env, self.rng, self.last = env, random.Random(seed), last_scan
        self.rules = ctx.rules
        self.categories = ctx.rules.categories
        self.cells = [c.code for c in ctx.grids.cells]
        self.dep_ids = departments
        self.dep_names = list(departments)
        self.chain = {name: 1 + len(d.escalate_to) for name, d in ctx.rules.departments.items()}
        self.limits = {c.code: parse_limit(str(c.time_limit)) for c in self.categories}

    def case(self, case_id: int, number: str, created: datetime):
        rng, env = self.rng, self.env
        cat = rng.choice(self.categories)
        hours, working = self.limits[cat.code]
        c = SimpleNamespace(id=case_id, number=number, status=None, category=cat, dep=cat.department,
                            cell=rng.choice(self.cells), created=created, working_clock=working, limit_hours=hours,
                            clock_start=None, clock_round=0, paused_hours=0.0, warn_at=None, due_at=None,
                            sla_level="green", escalation_step=0, reminders=0, last_reminder_at=None,
                            closed_at=None, next_check_at=None, time_limit=str(cat.time_limit))
        events: list[tuple] = []

        def ev(at, actor, action, to=None, data="{}") -> bool:
            """Record an event; people act until NOW, the scheduler only until it last ran."""
            if at > NOW:
                raise StopIteration
            if actor == "system" and action in SCHEDULED and at > self.last:
                return False
            events.append((at, actor, action, c.status, to or c.status, data, self.dep_ids[c.dep], c.due_at))
            if to:
                c.status = to
            return True

        def restart(at):
            c.clock_start, c.clock_round, c.paused_hours = at, c.clock_round + 1, 0.0
            c.sla_level, c.escalation_step, c.reminders, c.last_reminder_at = "green", 0, 0, None
            c.warn_at = env.add(at, 0.8 * c.limit_hours, working)
            c.due_at = env.add(at, c.limit_hours, working)

        def handle(start, late: bool):
            """Work the case until resolved; late cases collect their lights, reminders and escalations."""
            span = (c.due_at - start).total_seconds()
            done = start + timedelta(seconds=span * (rng.uniform(1.05, 3.0) if late else rng.uniform(0.2, 0.95)))
            if done > c.warn_at and ev(c.warn_at, "system", "yellow"):
                c.sla_level = "yellow"
            if done > c.due_at and c.sla_level == "yellow" and ev(c.due_at, "system", "red"):
                c.sla_level = "red"
                chain = self.chain.get(c.dep, 1)
                while True:
                    nxt = [(deadline.next_reminder_at(c, env), "remind")]
                    if c.escalation_step < chain:
                        nxt.append((deadline.escalation_at(c, env, c.escalation_step + 1), "escalate"))
                    at, kind = min(nxt)
                    if at >= done:
                        break
                    if kind == "remind":
                        if not ev(at, "system", "remind", data=json.dumps({"n": c.reminders + 1})):
                            break
                        c.reminders, c.last_reminder_at = c.reminders + 1, at
                    else:
                        if not ev(at, "system", "escalate", data=json.dumps({"step": c.escalation_step + 1})):
                            break
                        c.escalation_step += 1
            ev(done, "department", "resolve", "handled")
            c.next_check_at = None
            return done

        def close(at):
            ev(at, "verifier", "close", "closed")
            c.closed_at, c.next_check_at = at, at + timedelta(hours=env.survey_hours)

        try:
            ev(created, "system", "file", "filed")
            restart(created)
            ev(created, "system", "dispatch", "dispatched")
            r = rng.random()
            if r < 0.01:
                ev(created + timedelta(hours=rng.uniform(0.5, 4)), "supervisor", "void", "void")
                c.next_check_at = None
                return c, events
            t = created
            if r < 0.04:  # returned: not this department's job; re-dispatched elsewhere
                t = created + timedelta(hours=rng.uniform(0.5, 3))
                ev(t, "department", "return", "returned")
                t += timedelta(hours=rng.uniform(0.5, 2))
                c.dep = rng.choice(self.dep_names)
                restart(t)
                ev(t, "dispatcher", "dispatch", "dispatched")
            ev(t + (c.due_at - t) * rng.uniform(0.02, 0.15), "department", "accept", "accepted")
            done = handle(t, late=rng.random() < 0.12)
            if rng.random() < 0.05:  # failed verification
                t = done + timedelta(hours=rng.uniform(1, 4))
                restart(t)
                ev(t, "verifier", "rework", "accepted")
                done = handle(t, late=False)
            close(done + timedelta(hours=rng.uniform(0.5, 6)))
            if rng.random() < 0.65:
                t = c.closed_at + timedelta(hours=rng.uniform(1, 48))
                score = rng.choices([1, 2, 3], [72, 18, 10])[0]
                ev(t, "citizen", "survey", data=json.dumps({"score": score}))
                c.next_check_at = None
                if score != 3:
                    return c, events
                restart(t)
                ev(t, "citizen", "rework", "accepted")
                close(handle(t, late=False) + timedelta(hours=rng.uniform(0.5, 6)))
            if ev(c.closed_at + timedelta(hours=env.survey_hours), "system", "no_answer"):
                c.next_check_at = None
        except StopIteration:  # the rest lies after NOW: the case is as it is at NOW
            if c.status in ("dispatched", "accepted"):
                deadline.schedule(c, env, self.chain.get(c.dep, 1), self.last)
            elif c.status != "closed":
                c.next_check_at = None
        return c, events


def generate(ctx, url: str, n: int, down: timedelta) -> None:
    e = make_env(ctx.calendar, TZ, rules=ctx.rules)
    env = ShanghaiEnv(e.calendar, e.tz, e.policy, None, e.rules, e.survey_hours)
    with ctx.db.session() as s:
        departments = dict(s.execute(text("SELECT name, id FROM departments")).all())
    sim = Simulator(ctx, env, departments, seed=6, last_scan=NOW - down)
    start = NOW - timedelta(days=365)
    step = (NOW - start) / n
    day_seq: dict[str, int] = {}
    t0 = time.perf_counter()
    n_events = 0
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        chunk = 50_000
        for lo in range(0, n, chunk):
            cases_buf, events_buf = io.StringIO(), io.StringIO()
            for i in range(lo, min(n, lo + chunk)):
                created = start + step * i
                day = clock.local_naive(created, TZ).strftime("%Y%m%d")
                day_seq[day] = day_seq.get(day, 0) + 1
                c, events = sim.case(i + 1, f"{day}-{day_seq[day]:06d}", created)
                cat = c.category
                cases_buf.write("\t".join(field(v) for v in (
                    c.id, c.number, c.status, cat.code, cat.name, 0.9, "[]", cat.urgent, departments[c.dep], c.cell,
                    "", cat.name + PROBLEMS[i % len(PROBLEMS)], f"+86139{i:08d}", "hotline", c.time_limit, created,
                    c.due_at, c.closed_at, c.working_clock, c.limit_hours, c.clock_start, c.clock_round, 0.0,
                    c.warn_at, c.sla_level, c.escalation_step, c.reminders, c.last_reminder_at, c.next_check_at)))
                cases_buf.write("\n")
                for at, actor, action, frm, to, data, dep, due in events:
                    events_buf.write("\t".join(field(v) for v in (
                        c.id, at, actor, action, frm, to, "", data, dep, c.cell, due)))
                    events_buf.write("\n")
                n_events += len(events)
            with conn.cursor() as cur:
                with cur.copy(f"COPY cases ({', '.join(CASE_COLUMNS)}) FROM STDIN") as cp:
                    cp.write(cases_buf.getvalue())
                with cur.copy(f"COPY case_events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as cp:
                    cp.write(events_buf.getvalue())
            conn.commit()
            done = min(n, lo + chunk)
            print(f"\r  {done:,} cases, {n_events:,} events  ({time.perf_counter() - t0:.0f} s)", end="", flush=True)
        conn.execute("SELECT setval('cases_id_seq', (SELECT max(id) FROM cases))")
        conn.execute("SELECT setval('case_events_id_seq', (SELECT max(id) FROM case_events))")
        conn.commit()
    print()
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE cases")
        conn.execute("VACUUM ANALYZE case_events")
    print(f"generated {n:,} cases and {n_events:,} events in {time.perf_counter() - t0:.0f} s")


def timed_scan(ctx, env, now: datetime) -> tuple[float, dict, float, dict]:
    """The scan at `now` and one sweep later, in a transaction rolled back afterwards."""
    with ctx.db.engine.connect() as conn:
        outer = conn.begin()
        # expire_on_commit=False as the worker's sessions (store/db.py): a commit a batch does not
        # send every department held for the scan back to the database.
        with Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False) as s:
            t0 = time.perf_counter()
            first = sla_scan.scan(s, env, now=now)
            t1 = time.perf_counter()
            second = sla_scan.scan(s, env, now=now + timedelta(seconds=5))
            t2 = time.perf_counter()
        outer.rollback()
    return t1 - t0, dict(first), t2 - t1, dict(second)


def timed_stats(ctx, group_by: str) -> tuple[float, list[dict]]:
    start, end, _, _ = stats.parse_period("2026-10", None, TZ, NOW)
    with ctx.db.session() as s:
        t0 = time.perf_counter()
        rows = stats.compute(s, group_by, start, end, NOW)
        return time.perf_counter() - t0, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", default=DEFAULT_URL)
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--down-minutes", type=float, default=60, help="how long before NOW the scheduler last ran")
    ap.add_argument("--reuse", action="store_true", help="time the data already in the database")
    args = ap.parse_args()
    import tempfile
    from cli import load_demo_city
    from store.migrate import upgrade
    ensure_database(args.database_url)
    cfg = Config(var_dir=Path(tempfile.mkdtemp(prefix="gridline-bench-")), database_url=args.database_url)
    ctx = Context(cfg)
    if not args.reuse:
        fresh_schema(args.database_url)
    upgrade(args.database_url)  # with --reuse too: data made by an older checkout gets the new columns
    if not args.reuse:
        load_demo_city(ctx)
        print(f"generating {args.cases:,} cases (scheduler last ran {args.down_minutes:g} min before "
              f"{clock.local_naive(NOW, TZ):%Y-%m-%d %H:%M})")
        generate(ctx, args.database_url, args.cases, timedelta(minutes=args.down_minutes))
    with ctx.db.session() as s:
        n_cases = s.scalar(text("SELECT count(*) FROM cases"))
        n_events = s.scalar(text("SELECT count(*) FROM case_events"))
        due = s.scalar(text("SELECT count(*) FROM cases WHERE next_check_at <= :now"), {"now": NOW})
        open_ = s.scalar(text("SELECT count(*) FROM cases WHERE status IN ('dispatched', 'accepted')"))
    print(f"database: {n_cases:,} cases, {n_events:,} events; {open_:,} with a running clock, {due:,} due for a check")
    env = make_env(ctx.calendar, TZ, rules=ctx.rules, templates=ctx.templates)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (other work slows every figure)")
    for _ in range(2):
        took, first, again, second = timed_scan(ctx, env, NOW)
        print(f"SLA scan:        {took * 1000:7.0f} ms  {first}   (one sweep later: {again * 1000:.0f} ms {second})")
    took, first, _, _ = timed_scan(ctx, env, NOW + timedelta(days=1))
    print(f"SLA scan after a day with no scheduler and nobody working: {took * 1000:.0f} ms  {first}")
    for group_by in stats.GROUPS:
        for run in ("cold", "warm"):
            took, rows = timed_stats(ctx, group_by)
            total = stats.totals(rows)
            print(f"stats 2026-10 by {group_by:<10} ({run}): {took * 1000:7.0f} ms  {len(rows)} rows; 立案 {total['filed']:,}, "
                  f"结案 {total['closed']:,}, 按期结案率 {total['on_time_close_rate']}, 超期未结案 {total['overdue_open']:,}, "
                  f"满意率 {total['satisfaction_rate']}")
    ctx.db.dispose()


if __name__ == "__main__":
    main()
