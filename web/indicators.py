"""The dashboard's figures. The indicators, scores and grades come from the lifecycle's statistics
(tickets.stats: from the event log alone); this module picks the columns the pages show and adds
what only the pages need: cases per day for the trend chart and the cells' shapes for the heat map."""
from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import select

from store.db import utcnow
from tickets import clock, stats
from tickets.models import CaseEvent, GridCell

GROUPS = {"department": "部门", "street": "街道", "community": "社区", "cell": "网格"}
COLUMNS = [("filed", "立案数"), ("dispatched", "派遣数"), ("closed", "结案数"), ("due_to_close", "应结案数"),
           ("close_rate", "结案率"), ("on_time_close_rate", "按期结案率"), ("on_time_resolve_rate", "按期处置率"),
           ("overdue_open", "超期未结案数"), ("rework_rate", "返工率"), ("return_rate", "退回率"),
           ("satisfaction_rate", "满意率"), ("avg_hours", "平均办结时长(小时)"), ("score", "综合指标值"),
           ("grade", "等级")]
RATES = {k for k, _label in COLUMNS if k.endswith("_rate")}
EVALUATION = [("dispatched", "派遣数"), ("close_rate", "结案率"), ("on_time_resolve_rate", "按期处置率"),
              ("rework_rate", "返工率"), ("satisfaction_rate", "满意率"), ("score", "综合得分"), ("grade", "等级")]


def month_bounds(month: str | None, tz: str) -> tuple[str, datetime, datetime]:
    """'2026-11' → (label, start, end) in naive UTC; anything else → the current month."""
    now = utcnow()
    try:
        start, end, first, _last = stats.parse_period(month, None, tz, now) if month and len(month) == 7 \
            else stats.parse_period(None, None, tz, now)
    except stats.PeriodError:
        start, end, first, _last = stats.parse_period(None, None, tz, now)
    return first[:7], start, end


def indicators(session, by: str, start: datetime, end: datetime) -> list[dict]:
    """Rows with activity in the period (every department is listed, cells only when they had cases)."""
    rows = stats.compute(session, by, start, end, utcnow())
    if by != "department":
        rows = [r for r in rows if r["filed"] or r["dispatched"] or r["closed"] or r["overdue_open"]]
    return rows


def totals(rows: list[dict]) -> dict:
    return stats.totals(rows)


def evaluation(session, start: datetime, end: datetime) -> list[dict]:
    """Departments ranked by score. One given nothing in the month and with nothing due is not
    evaluated (no score, no grade, listed last): the formula's full marks for "nothing late" would
    otherwise rank the idle above those who worked."""
    rows = stats.compute(session, "department", start, end, utcnow())
    for r in rows:
        if not r["dispatched"] and not r["due_to_close"]:
            r["score"] = r["grade"] = None
    return sorted(rows, key=lambda r: (r["score"] is None, -(r["score"] or 0), r["name"]))


def daily(session, days: int, tz: str, now: datetime | None = None) -> list[dict]:
    """Cases filed, reported done and closed per local day, for the trend chart (from events)."""
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


def cell_counts(rows_by_cell: list[dict]) -> dict[str, int]:
    return {r["key"]: r["filed"] for r in rows_by_cell if r["filed"]}


def cell_shapes(session) -> list[tuple[str, str, str, list]]:
    """(code, name, street, rings) of every cell; rings are lists of [lon, lat]."""
    out = []
    for code, name, street, geometry in session.execute(
            select(GridCell.code, GridCell.name, GridCell.street, GridCell.geometry).order_by(GridCell.code)):
        geom = geometry if isinstance(geometry, dict) else json.loads(geometry)
        polys = geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]
        out.append((code, name, street, [poly[0] for poly in polys]))
    return out
