"""Indicators for the command centre's dashboard, computed from the case event log.

When the lifecycle's statistics module (tickets.stats) is present its figures are used; this module
then only shapes them for the pages. Without it the same indicators are computed here, from the
events of the cases filed in the period (a cohort), so a month's figures do not move when later
months are added:

  立案数      cases filed in the period            结案率     closed / filed
  按期结案率  closed with the department's report  返工率     reworked at least once / filed
              (resolve) before its due time / filed 退回率     returned at least once / filed
  超期未结案  open and past the due time now        满意率     (满意 + 基本满意) / survey answers
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from store.db import utcnow
from tickets import clock
from tickets.models import Case, CaseEvent, Department, GridCell

BANDS = [(90, "A"), (75, "B"), (60, "C"), (40, "D"), (0, "E")]
# 立案数分值 for a department: fewer cases filed against it scores higher (evaluation_indicators.json).
FILED_SCORE = [(50, 100), (100, 90), (200, 75), (500, 60), (1000, 40)]
GROUPS = {"department": "部门", "street": "街道", "community": "社区", "cell": "网格"}
COLUMNS = [("filed", "立案数"), ("dispatched", "派遣数"), ("closed", "结案数"), ("close_rate", "结案率"),
           ("ontime_rate", "按期结案率"), ("overdue_open", "超期未结案数"), ("rework_rate", "返工率"),
           ("return_rate", "退回率"), ("satisfaction", "满意率"), ("avg_hours", "平均处置时长(小时)")]
SATISFIED = {"satisfied", "basically_satisfied"}
SURVEYED = SATISFIED | {"unsatisfied"}


def month_bounds(month: str | None, tz: str) -> tuple[str, datetime, datetime]:
    """'2026-11' → that local month as naive UTC bounds; default the current month."""
    today = clock.local_naive(utcnow(), tz).date()
    try:
        y, m = (int(x) for x in (month or "").split("-"))
        first = date(y, m, 1)
    except ValueError:
        first = today.replace(day=1)
    nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    start = clock.to_utc_naive(datetime.combine(first, datetime.min.time()), tz)
    end = clock.to_utc_naive(datetime.combine(nxt, datetime.min.time()), tz)
    return f"{first:%Y-%m}", start, end


def _rate(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _key(case: Case, by: str) -> str:
    if by == "department":
        return case.department.name if case.department else "—"
    if by == "street":
        return case.grid.street if case.grid else "—"
    if by == "community":
        return case.grid.community if case.grid else "—"
    return case.grid_code or "—"


def indicators(session, by: str, start: datetime, end: datetime, now: datetime | None = None) -> list[dict]:
    """One row per department / street / community / cell, for cases filed in [start, end)."""
    now = now or utcnow()
    cases = session.scalars(select(Case).where(Case.created_at >= start, Case.created_at < end)).all()
    ids = [c.id for c in cases]
    events: dict[int, list[CaseEvent]] = defaultdict(list)
    for i in range(0, len(ids), 500):
        for ev in session.scalars(select(CaseEvent).where(CaseEvent.case_id.in_(ids[i:i + 500]))
                                  .order_by(CaseEvent.id)):
            events[ev.case_id].append(ev)
    rows: dict[str, Counter] = defaultdict(Counter)
    hours: dict[str, list[float]] = defaultdict(list)
    names: dict[str, str] = {}
    for case in cases:
        k = _key(case, by)
        if by == "cell" and case.grid:
            names[k] = case.grid.name
        r = rows[k]
        evs = events[case.id]
        actions = [e.action for e in evs]
        r["filed"] += 1
        r["dispatched"] += "dispatch" in actions
        closed = case.status == "closed"
        r["closed"] += closed
        resolves = [e for e in evs if e.action == "resolve"]
        if closed and resolves:
            due = resolves[-1].due_at if getattr(resolves[-1], "due_at", None) else case.due_at
            r["ontime"] += bool(due and resolves[-1].at <= due)
        dispatch = next((e for e in evs if e.action == "dispatch"), None)
        if dispatch and resolves:
            hours[k].append((resolves[-1].at - dispatch.at).total_seconds() / 3600)
        r["overdue_open"] += case.status not in ("closed", "void", "not_filed", "handled", "verified") \
            and case.due_at is not None and case.due_at < now
        r["rework"] += "rework" in actions
        r["returned"] += "return" in actions
        r["surveyed"] += sum(a in SURVEYED for a in actions)
        r["satisfied"] += sum(a in SATISFIED for a in actions)
    out = []
    for k, r in sorted(rows.items(), key=lambda kv: (-kv[1]["filed"], kv[0])):
        out.append({
            "key": k, "name": names.get(k, k), "filed": r["filed"], "dispatched": r["dispatched"],
            "closed": r["closed"], "close_rate": _rate(r["closed"], r["filed"]),
            "ontime_rate": _rate(r["ontime"], r["filed"]), "overdue_open": r["overdue_open"],
            "rework_rate": _rate(r["rework"], r["filed"]), "return_rate": _rate(r["returned"], r["filed"]),
            "satisfaction": _rate(r["satisfied"], r["surveyed"]),
            "avg_hours": round(sum(hours[k]) / len(hours[k]), 1) if hours[k] else None,
        })
    return out


def totals(rows: list[dict]) -> dict:
    filed = sum(r["filed"] for r in rows)
    closed = sum(r["closed"] for r in rows)
    def weighted(field):
        have = [(r[field], r["filed"]) for r in rows if r[field] is not None]
        n = sum(w for _, w in have)
        return round(sum(v * w for v, w in have) / n, 4) if n else None
    return {"filed": filed, "closed": closed, "close_rate": _rate(closed, filed),
            "ontime_rate": weighted("ontime_rate"), "rework_rate": weighted("rework_rate"),
            "overdue_open": sum(r["overdue_open"] for r in rows), "satisfaction": weighted("satisfaction")}


def _band_score(n: int) -> int:
    return next((score for limit, score in FILED_SCORE if n <= limit), 0)


def grade(score: float) -> str:
    return next(letter for floor, letter in BANDS if score >= floor)


def evaluation(session, start: datetime, end: datetime) -> list[dict]:
    """The month's department evaluation (GB/T 30428.4 style): composite score and grade A–E.

    立案数分值×10% + 结案率分值×30% + 按期处置率分值×30% + (100−返工率)分值×30%.
    """
    rows = {r["key"]: r for r in indicators(session, "department", start, end)}
    for name in session.scalars(select(Department.name)):
        rows.setdefault(name, None)
    out = []
    for name, r in rows.items():
        if r is None:
            out.append({"department": name, "filed": 0, "score": None, "grade": "—", "close_rate": None,
                        "ontime_rate": None, "rework_rate": None})
            continue
        score = (_band_score(r["filed"]) * 0.1 + (r["close_rate"] or 0) * 100 * 0.3
                 + (r["ontime_rate"] or 0) * 100 * 0.3 + (100 - (r["rework_rate"] or 0) * 100) * 0.3)
        out.append({"department": name, "filed": r["filed"], "close_rate": r["close_rate"],
                    "ontime_rate": r["ontime_rate"], "rework_rate": r["rework_rate"],
                    "score": round(score, 1), "grade": grade(score)})
    out.sort(key=lambda x: (x["score"] is None, -(x["score"] or 0), x["department"]))
    return out


def daily(session, days: int, tz: str, now: datetime | None = None) -> list[dict]:
    """Cases filed and closed per local day, for the trend chart."""
    now = now or utcnow()
    today = clock.local_naive(now, tz).date()
    first = today - timedelta(days=days - 1)
    since = clock.to_utc_naive(datetime.combine(first, datetime.min.time()), tz)
    counts = {first + timedelta(days=i): Counter() for i in range(days)}
    for action, at in session.execute(select(CaseEvent.action, CaseEvent.at).where(
            CaseEvent.at >= since, CaseEvent.action.in_(("file", "close", "resolve")))):
        d = clock.local_naive(at, tz).date()
        if d in counts:
            counts[d][action] += 1
    return [{"day": d.isoformat(), "filed": c["file"], "resolved": c["resolve"], "closed": c["close"]}
            for d, c in counts.items()]


def cell_counts(session, start: datetime, end: datetime) -> dict[str, int]:
    return dict(session.execute(select(Case.grid_code, func.count(Case.id))
                                .where(Case.created_at >= start, Case.created_at < end, Case.grid_code.is_not(None))
                                .group_by(Case.grid_code)).all())


def cell_shapes(session) -> list[tuple[str, str, str, list]]:
    """(code, name, street, rings) of every cell; rings are lists of [lon, lat]."""
    out = []
    for code, name, street, geometry in session.execute(
            select(GridCell.code, GridCell.name, GridCell.street, GridCell.geometry).order_by(GridCell.code)):
        geom = geometry if isinstance(geometry, dict) else json.loads(geometry)
        polys = geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]
        out.append((code, name, street, [ring for poly in polys for ring in poly[:1]]))
    return out
