"""Statistics from the event log alone (never from counters): per department, grid cell, community
or street, over a period.

Each event carries the department responsible, the cell and the due time in force when it happened,
so a count is a count of events in the period, grouped by what the event says:
  立案数 file · 派遣数 dispatch · 结案数 close · 按期结案数 close at or before its due time ·
  处置数 resolve (按期: at or before due) · 返工数 rework · 退回数 return · 满意率 survey scores 1–2 of all
  survey answers · 平均办结时长 close − file of the same case (wall-clock hours).
超期未结案数 is a state at the end of the period (or now): the case's last clock event by then is a
red light — no close, void, suspension, return, re-dispatch, rework, extension or resume after it.
应结案数 = 结案数 + 超期未结案数 (so 结案率 and 按期结案率 use the same denominator, as in the
天门 monthly report: 911/972 and 737/972); 返工率 = 返工数/应结案数; 退回率 = 退回数/派遣数.
"""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import aliased

from tickets import clock, evaluation
from tickets.models import Case, CaseEvent, Department, GridCell

GROUPS = ("department", "cell", "community", "street")
# Events after which a red light no longer means "overdue and open" at a later moment.
CLOCK_RESETS = ("close", "void", "not_file", "suspend", "return", "dispatch", "rework", "approve_extension", "resume")
PATROL_CHANNELS = ("patrol", "supervisor")  # 监督员巡查: not a public report (监督举报)

COLUMNS = [  # key, Chinese header (CSV), kind
    ("name", "名称"), ("key", "编码"), ("filed", "立案数"), ("dispatched", "派遣数"), ("closed", "结案数"),
    ("closed_on_time", "按期结案数"), ("overdue_open", "超期未结案数"), ("due_to_close", "应结案数"),
    ("close_rate", "结案率"), ("on_time_close_rate", "按期结案率"), ("resolved", "处置数"),
    ("on_time_resolve_rate", "按期处置率"), ("rework", "返工数"), ("rework_rate", "返工率"),
    ("returned", "退回数"), ("return_rate", "退回率"), ("surveys", "回访数"), ("satisfied", "满意数"),
    ("satisfaction_rate", "满意率"), ("no_answer", "回访未回复数"), ("public_report_rate", "监督举报率"),
    ("avg_hours", "平均办结时长(小时)"), ("score", "综合指标值"), ("grade", "等级"),
]


class PeriodError(ValueError):
    pass


def parse_period(start: str | None, end: str | None, tz: str, now: datetime) -> tuple[datetime, datetime, str, str]:
    """from/to as local dates (to inclusive) or months (2026-11); default: this month.
    Returns (start_utc, end_utc, from_label, to_label)."""
    today = clock.local_naive(now, tz).date()
    try:
        first = _day(start, end_of_month=False) if start else today.replace(day=1)
        last = _day(end, end_of_month=True) if end else (_month_end(first) if start and len(start) == 7 else
                                                         _month_end(today.replace(day=1)))
    except ValueError:
        raise PeriodError("from/to 应为日期 2026-11-01 或月份 2026-11") from None
    if last < first:
        raise PeriodError("to 不能早于 from")
    to_utc = lambda d: clock.to_utc_naive(datetime.combine(d, datetime.min.time()), tz)  # noqa: E731
    return to_utc(first), to_utc(last + timedelta(days=1)), first.isoformat(), last.isoformat()


def _day(text: str, end_of_month: bool) -> date:
    if len(text) == 7:
        first = date.fromisoformat(text + "-01")
        return _month_end(first) if end_of_month else first
    return date.fromisoformat(text)


def _month_end(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def compute(session, group_by: str, start: datetime, end: datetime, now: datetime) -> list[dict]:
    """One row per group (every department / every known cell, community or street, plus any
    group that only events name), with counts, rates, score and grade."""
    if group_by not in GROUPS:
        raise PeriodError(f"group_by 应为 {'、'.join(GROUPS)} 之一")
    as_of = min(end, now)
    if session.bind.dialect.name == "postgresql":
        # Short index-only queries: compiling them (JIT) would cost more than running them.
        session.execute(text("SET LOCAL jit = off"))
    rows: dict = {}
    for key, counts in _event_counts(session, group_by, start, end).items():
        rows.setdefault(key, _blank()).update(counts)
    for key, (overdue, unhandled) in _overdue(session, group_by, as_of).items():
        rows.setdefault(key, _blank()).update(overdue_open=overdue, overdue_unhandled=unhandled)
    for key, (hours, n) in _handling_hours(session, group_by, start, end).items():
        rows.setdefault(key, _blank()).update(hours_sum=hours, hours_n=n)
    if group_by != "department":  # 监督举报率 is part of the region evaluation only
        for key, public in _public_reports(session, group_by, start, end).items():
            rows.setdefault(key, _blank())["public_filed"] = public
    names, cells = _groups(session, group_by)
    for key in names:
        rows.setdefault(key, _blank())
    out = []
    for key, r in rows.items():
        if group_by == "department":
            r["public_filed"] = None
        _rates(r)
        r["key"] = "" if key is None else str(key)
        r["name"] = names.get(key) or ("（未定位）" if group_by != "department" else "（未知部门）")
        if group_by == "department":
            r["score"] = evaluation.department_score(r)
        else:
            r["score"] = evaluation.region_score(r, cells.get(key, 1))
        r["grade"] = evaluation.grade(r["score"])
        out.append(r)
    return sorted(out, key=lambda r: (-r["filed"] - r["dispatched"], r["key"]))


def _blank() -> dict:
    return dict.fromkeys(["filed", "dispatched", "closed", "closed_on_time", "resolved", "resolved_on_time",
                          "rework", "returned", "surveys", "satisfied", "no_answer", "overdue_open",
                          "overdue_unhandled", "public_filed", "hours_n"], 0) | {"hours_sum": 0.0}


def _rates(r: dict) -> None:
    div = lambda a, b: round(a / b, 4) if b else None  # noqa: E731
    r["due_to_close"] = r["closed"] + r["overdue_open"]
    r["close_rate"] = div(r["closed"], r["due_to_close"])
    r["on_time_close_rate"] = div(r["closed_on_time"], r["due_to_close"])
    r["on_time_resolve_rate"] = div(r["resolved_on_time"], r["resolved"] + r["overdue_unhandled"])
    r["rework_rate"] = div(r["rework"], r["due_to_close"])
    r["return_rate"] = div(r["returned"], r["dispatched"])
    r["satisfaction_rate"] = div(r["satisfied"], r["surveys"])
    r["public_report_rate"] = None if r["public_filed"] is None else div(r["public_filed"], r["filed"])
    r["avg_hours"] = round(r["hours_sum"] / r["hours_n"], 1) if r["hours_n"] else None


def _key(group_by: str, ev):
    """The grouping column for events `ev` (an alias of case_events), and the join it needs."""
    if group_by == "department":
        return ev.department_id, None
    if group_by == "cell":
        return ev.grid_code, None
    cell = aliased(GridCell)
    column = cell.community_code if group_by == "community" else cell.street_code
    return column, (cell, cell.code == ev.grid_code)


def _select(group_by: str, ev, *columns, group=()):
    key, join = _key(group_by, ev)
    q = select(key.label("k"), *group, *columns).select_from(ev)
    if join is not None:
        q = q.outerjoin(*join)
    return q.group_by(key, *group)


COUNTED = {"file": "filed", "dispatch": "dispatched", "close": "closed", "resolve": "resolved", "rework": "rework",
           "return": "returned", "survey": "surveys", "no_answer": "no_answer"}
ON_TIME = {"close": "closed_on_time", "resolve": "resolved_on_time"}


def _event_counts(session, group_by: str, start: datetime, end: datetime) -> dict:
    """Events in the period by action (one index range per action), and the satisfied answers."""
    ev = aliased(CaseEvent)
    out: dict = {}
    q = _select(group_by, ev, func.count(), func.count().filter(ev.at <= ev.due_at), group=(ev.action,)) \
        .where(ev.action.in_(list(COUNTED)), ev.at >= start, ev.at < end)
    for key, action, n, on_time in session.execute(q):
        row = out.setdefault(key, {})
        row[COUNTED[action]] = n
        if action in ON_TIME:
            row[ON_TIME[action]] = on_time
    score = ev.data["score"].as_integer()
    q = _select(group_by, ev, func.count()).where(ev.action == "survey", ev.at >= start, ev.at < end,
                                                  score.in_([1, 2]))
    for key, n in session.execute(q):
        out.setdefault(key, {})["satisfied"] = n
    return out


def _overdue(session, group_by: str, as_of: datetime) -> dict:
    """{group: (overdue and open, overdue and not yet handled)} at `as_of`: red lights by then
    with no later clock event (a later red counts instead) — the department of the red light."""
    red, later = aliased(CaseEvent), aliased(CaseEvent)

    def after_red(actions):
        return (select(later.id).where(later.case_id == red.case_id, later.id > red.id, later.at <= as_of,
                                       later.action.in_(actions)).exists())

    key, join = _key(group_by, red)
    inner = select(key.label("k"), (~after_red(["resolve"])).label("unhandled")).select_from(red)
    if join is not None:
        inner = inner.outerjoin(*join)
    inner = inner.where(red.action == "red", red.at <= as_of, ~after_red(list(CLOCK_RESETS) + ["red"])).subquery()
    q = select(inner.c.k, func.count(), func.count().filter(inner.c.unhandled)).group_by(inner.c.k)
    return {row[0]: (row[1], row[2]) for row in session.execute(q)}


def _hours_between(session, later, earlier):
    if session.bind.dialect.name == "postgresql":
        return func.extract("epoch", later - earlier) / 3600.0
    return (func.julianday(later) - func.julianday(earlier)) * 24.0


def _handling_hours(session, group_by: str, start: datetime, end: datetime) -> dict:
    """{group: (sum of close − file hours, number of closings)} for closings in the period."""
    close, filed = aliased(CaseEvent), aliased(CaseEvent)
    filed_at = (select(filed.at).where(filed.case_id == close.case_id, filed.action == "file")
                .order_by(filed.id).limit(1).scalar_subquery())
    q = _select(group_by, close, func.sum(_hours_between(session, close.at, filed_at)), func.count()) \
        .where(close.action == "close", close.at >= start, close.at < end)
    return {row[0]: (float(row[1] or 0), row[2]) for row in session.execute(q)}


def _public_reports(session, group_by: str, start: datetime, end: datetime) -> dict:
    """{group: cases filed in the period that came from the public (not a supervisor's patrol)}."""
    ev = aliased(CaseEvent)
    q = (_select(group_by, ev, func.count()).join(Case, Case.id == ev.case_id)
         .where(ev.action == "file", ev.at >= start, ev.at < end, Case.channel.not_in(PATROL_CHANNELS)))
    return {row[0]: row[1] for row in session.execute(q)}


def _groups(session, group_by: str) -> tuple[dict, dict]:
    """({key: name}, {key: number of cells}) for every known group."""
    if group_by == "department":
        return {i: n for i, n in session.execute(select(Department.id, Department.name))}, {}
    if group_by == "cell":
        return {c: n for c, n in session.execute(select(GridCell.code, GridCell.name))}, {}
    code, name = ((GridCell.community_code, GridCell.community) if group_by == "community"
                  else (GridCell.street_code, GridCell.street))
    rows = session.execute(select(code, func.min(name), func.count()).group_by(code)).all()
    return {r[0]: r[1] for r in rows}, {r[0]: r[2] for r in rows}


def totals(rows: list[dict]) -> dict:
    """The whole city over the same period (sums of counts; rates recomputed)."""
    t = _blank()
    for r in rows:
        for k in t:
            t[k] = None if t[k] is None or r[k] is None else t[k] + r[k]
    _rates(t)
    return public(t)


def public(row: dict) -> dict:
    """A row as the API shows it: the columns, without the sums they were computed from."""
    return {k: row[k] for k, _label in COLUMNS if k in row}


def to_csv(rows: list[dict]) -> str:
    """CSV with Chinese headers and a BOM, so Excel opens it in the right encoding."""
    buf = io.StringIO()
    buf.write("\ufeff")
    writer = csv.writer(buf)
    writer.writerow([label for _k, label in COLUMNS])
    for r in rows:
        writer.writerow(["" if r.get(k) is None else r.get(k) for k, _label in COLUMNS])
    return buf.getvalue()
