"""Statistics and the monthly evaluation from the event log, through GET /api/stats and its CSV.

A past month (November 2025, no holidays) is built event by event at the times things happened
(4 working hours per case, see build()); the API computes "as of" the end of the period.
"""
from __future__ import annotations

import csv
import io
from collections import Counter

import pytest
from sqlalchemy import select

from case_factory import act_at, at, env, open_at
from tickets import sla_scan
from tickets.models import Department
from tickets.service import record_survey


def two_cells(ctx) -> tuple[str, str]:
    """Two cells of one community (so the community row adds them up)."""
    by_community = Counter(c.community_code for c in ctx.grids.cells)
    community = by_community.most_common(1)[0][0]
    x, y = [c.code for c in ctx.grids.cells if c.community_code == community][:2]
    return x, y


def build(ctx) -> dict:
    """The month, event by event, at the times it happened."""
    x, y = two_cells(ctx)
    e = env(ctx)
    with ctx.db.session() as s:
        d1 = s.scalar(select(Department).where(Department.name == ctx.rules.categories[0].department))
        d2 = s.scalar(select(Department).where(Department.id != d1.id).order_by(Department.id))
        kw = {"department": d1.name}
        # c1: on time, citizen satisfied.
        c1 = open_at(ctx, s, at(2025, 11, 3, 9, 0), cell=x, phone="+8613800000201", **kw)
        act_at(ctx, s, c1, "resolve", "department", at(2025, 11, 3, 10, 0), note="已清理")
        act_at(ctx, s, c1, "close", "verifier", at(2025, 11, 3, 11, 0))
        record_survey(s, c1, 1, actor="+8613800000201", now=at(2025, 11, 3, 12, 0))
        # c2: late (red), closed late, citizen unsatisfied → rework, then on time.
        c2 = open_at(ctx, s, at(2025, 11, 4, 9, 0), cell=x, phone="+8613800000202", **kw)
        sla_scan.scan(s, e, now=at(2025, 11, 4, 16, 0))
        act_at(ctx, s, c2, "resolve", "department", at(2025, 11, 5, 9, 0), note="已清理")
        act_at(ctx, s, c2, "close", "verifier", at(2025, 11, 5, 10, 0))
        record_survey(s, c2, 3, actor="+8613800000202", now=at(2025, 11, 6, 9, 0))
        act_at(ctx, s, c2, "resolve", "department", at(2025, 11, 6, 10, 0), note="已彻底清理")
        act_at(ctx, s, c2, "close", "verifier", at(2025, 11, 6, 11, 0))
        # c4: dispatched to D2, returned, re-dispatched to D1, on time.
        c4 = open_at(ctx, s, at(2025, 11, 10, 9, 0), cell=x, phone="+8613800000204", department=d2.name)
        act_at(ctx, s, c4, "return", "department", at(2025, 11, 10, 9, 30), note="非本单位职责")
        act_at(ctx, s, c4, "dispatch", "dispatcher", at(2025, 11, 10, 10, 0), department=d1.name)
        act_at(ctx, s, c4, "resolve", "department", at(2025, 11, 10, 11, 0), note="已清理")
        act_at(ctx, s, c4, "close", "verifier", at(2025, 11, 10, 12, 0))
        # c5: suspended before its due time and still suspended: not overdue.
        c5 = open_at(ctx, s, at(2025, 11, 12, 9, 0), cell=y, phone="+8613800000205", **kw)
        act_at(ctx, s, c5, "suspend", "dispatcher", at(2025, 11, 12, 10, 0), note="需专项资金")
        # c3: overdue and open at the end of the month; closed (late) in December.
        c3 = open_at(ctx, s, at(2025, 11, 24, 9, 0), cell=y, phone="+8613800000203", **kw)
        sla_scan.scan(s, e, now=at(2025, 11, 24, 16, 0))   # c3 red; c2 and c4: survey window over
        act_at(ctx, s, c3, "resolve", "department", at(2025, 12, 2, 9, 0), note="已清理")
        act_at(ctx, s, c3, "close", "verifier", at(2025, 12, 2, 10, 0))
        s.commit()
        community = ctx.grids.by_code[x].community_code
        return {"d1": d1.id, "d2": d2.id, "x": x, "y": y, "community": community}


def stats(client, auth, **query):
    r = client.get("/api/stats", query_string=query, headers=auth)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def row(body, key):
    return next(r for r in body["rows"] if r["key"] == str(key))


def test_department_indicators_and_evaluation_for_a_month(client, auth, ctx):
    ids = build(ctx)
    body = stats(client, auth, group_by="department", **{"from": "2025-11-01", "to": "2025-11-30"})
    assert (body["from"], body["to"]) == ("2025-11-01", "2025-11-30")
    d1 = row(body, ids["d1"])
    assert {k: d1[k] for k in ("filed", "dispatched", "closed", "closed_on_time", "overdue_open", "due_to_close",
                               "resolved", "rework", "returned", "surveys", "satisfied", "no_answer")} == {
        "filed": 4, "dispatched": 5, "closed": 4, "closed_on_time": 3, "overdue_open": 1, "due_to_close": 5,
        "resolved": 4, "rework": 1, "returned": 0, "surveys": 2, "satisfied": 1, "no_answer": 2}
    assert (d1["close_rate"], d1["on_time_close_rate"], d1["rework_rate"], d1["return_rate"]) == (0.8, 0.6, 0.2, 0.0)
    assert d1["on_time_resolve_rate"] == 0.6 and d1["satisfaction_rate"] == 0.5
    assert d1["avg_hours"] == 20.0   # (2 + 25 + 50 + 3) / 4 closings, filing to closing
    # 立案数分值 100×10% + 结案率 80×30% + 按期处置率 60×30% + (100 − 返工率 20)×30%
    assert (d1["score"], d1["grade"]) == (76.0, "B")
    d2 = row(body, ids["d2"])
    assert (d2["filed"], d2["dispatched"], d2["returned"], d2["return_rate"], d2["closed"]) == (1, 1, 1, 1.0, 0)
    assert body["totals"]["filed"] == 5 and body["totals"]["closed"] == 4


def test_a_month_stays_as_it_was_when_later_events_arrive(client, auth, ctx):
    ids = build(ctx)
    december = row(stats(client, auth, group_by="department", **{"from": "2025-12"}), ids["d1"])
    assert (december["filed"], december["closed"], december["closed_on_time"], december["overdue_open"]) == (0, 1, 0, 0)
    assert row(stats(client, auth, group_by="department", **{"from": "2025-11"}), ids["d1"])["overdue_open"] == 1
    # Mid-month the suspended case and c3 did not exist yet; c2 was overdue and still open on the 4th.
    assert row(stats(client, auth, group_by="department", **{"from": "2025-11-01", "to": "2025-11-04"}),
               ids["d1"])["overdue_open"] == 1


def test_grouped_by_cell_community_and_street(client, auth, ctx):
    ids = build(ctx)
    month = {"from": "2025-11-01", "to": "2025-11-30"}
    x = row(stats(client, auth, group_by="cell", **month), ids["x"])
    y = row(stats(client, auth, group_by="cell", **month), ids["y"])
    assert (x["filed"], x["closed"], x["closed_on_time"], x["overdue_open"]) == (3, 4, 3, 0)
    assert (y["filed"], y["closed"], y["overdue_open"]) == (2, 0, 1)
    # (100 − 监督举报率 100)×10% + 立案数分值(3 per cell → 75)×20% + 结案率 100×30% + 按期结案率 75×40%
    assert (x["score"], x["grade"]) == (75.0, "B") and x["public_report_rate"] == 1.0
    community = row(stats(client, auth, group_by="community", **month), ids["community"])
    assert (community["filed"], community["closed"], community["overdue_open"]) == (5, 4, 1)
    streets = stats(client, auth, group_by="street", **month)["rows"]
    assert sum(r["filed"] for r in streets) == 5


def test_csv_export_opens_in_excel(client, auth, ctx):
    ids = build(ctx)
    r = client.get("/api/stats.csv?group_by=department&from=2025-11", headers=auth)
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    text = r.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    d1 = next(r for r in rows if r["编码"] == str(ids["d1"]))
    assert (d1["立案数"], d1["结案数"], d1["超期未结案数"], d1["等级"]) == ("4", "4", "1", "B")
    assert "综合指标值" in rows[0] and "满意率" in rows[0]


@pytest.mark.parametrize("query", [{"group_by": "worker"}, {"from": "2025-13"}, {"from": "2025-11-30", "to": "2025-11-01"},
                                   {"from": "yesterday"}])
def test_bad_queries_say_what_is_wrong(client, auth, ctx, query):
    r = client.get("/api/stats", query_string=query, headers=auth)
    assert r.status_code == 400 and r.get_json()["error"] == "bad_query" and r.get_json()["message"]


def test_stats_need_the_token(client):
    assert client.get("/api/stats").status_code == 401
    assert client.get("/api/stats.csv").status_code == 401
