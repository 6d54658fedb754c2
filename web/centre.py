"""The command centre: work queues (dispatch, extensions, verify, overdue, escalated, duplicates),
the dashboard (indicators, heat map, trends), the monthly evaluation, and CSV/XLSX exports."""
from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, current_app, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from store.db import utcnow
from tickets.models import Case, CaseEvent, CaseReporter, GridCell
from tickets.service import supervised
from web import charts, indicators, workload
from web.auth import roles_required
from web.present import reply_warnings, status_label

bp = Blueprint("centre", __name__)
CENTRE = ("dispatcher", "verifier", "supervisor", "admin")
OPEN = sorted({"filed", "dispatched", "accepted", "returned", "suspended", "handled", "verified", "reported"})
TABS = [  # (key, label)
    ("dispatch", "待派遣/退回"), ("extension", "延期待批"), ("verify", "待核查/结案"), ("overdue", "超期"),
    ("escalated", "已升级"), ("duplicates", "重复反映"), ("suspended", "挂账"), ("all", "全部在办"),
]


def _ctx():
    return current_app.extensions["gridline"]


def _tab_query(tab: str):
    q = select(Case)
    now = utcnow()
    if tab == "dispatch":
        return q.where(Case.status.in_(("filed", "returned", "reported"))).order_by(Case.created_at)
    if tab == "extension":
        return q.where(Case.extension_request.is_not(None), Case.status.in_(OPEN)).order_by(Case.due_at)
    if tab == "verify":
        return q.where(Case.status.in_(("handled", "verified"))).order_by(Case.created_at)
    if tab == "overdue":
        return q.where(Case.status.in_(("dispatched", "accepted")), Case.due_at < now).order_by(Case.due_at)
    if tab == "escalated":
        ids = select(CaseEvent.case_id).where(CaseEvent.action == "escalate")
        return q.where(Case.id.in_(ids), Case.status.in_(OPEN)).order_by(Case.due_at)
    if tab == "duplicates":
        ids = select(CaseReporter.case_id).group_by(CaseReporter.case_id).having(func.count(CaseReporter.id) > 1)
        return q.where(Case.id.in_(ids)).order_by(Case.created_at.desc())
    if tab == "suspended":
        return q.where(Case.status == "suspended").order_by(Case.created_at)
    return q.where(Case.status.in_(OPEN)).order_by(Case.due_at.is_(None), Case.due_at)


@bp.get("/centre")
@roles_required(*CENTRE)
def todo():
    tab = request.args.get("tab") or "dispatch"
    if tab not in dict(TABS):
        tab = "dispatch"
    with _ctx().db.session() as s:
        counts = {key: s.scalar(select(func.count()).select_from(_tab_query(key).order_by(None).subquery()))
                  for key, _label in TABS}
        loads = [selectinload(Case.grid), selectinload(Case.department)]
        if tab == "duplicates":  # only the clusters show reporters and joins; the badges count on their own
            loads += [selectinload(Case.reporters), selectinload(Case.events)]
        if tab == "verify":      # the 办结 notes a verifier should read first (tickets.reply_check)
            loads += [selectinload(Case.events)]
        cases = s.scalars(_tab_query(tab).options(*loads).limit(300)).all()
        clusters = []
        if tab == "duplicates":
            for c in cases:
                joins = [e for e in c.events if e.action == "join"]
                clusters.append((c, joins))
        return render_template("ui/centre_todo.html", title="指挥中心", tabs=TABS, tab=tab, counts=counts,
                               cases=cases, clusters=clusters, pressed=supervised(s, cases),
                               flagged={c.id: reply_warnings(c) for c in cases} if tab == "verify" else {})


@bp.get("/centre/cases")
@roles_required(*CENTRE)
def cases():
    """Cases filtered by cell, community, street, department and status, filed in a month (links from
    the dashboard: the cases behind a row's 立案数)."""
    ctx = _ctx()
    month, start, end = indicators.month_bounds(request.args.get("month"), ctx.config.timezone)
    q = select(Case).where(Case.created_at >= start, Case.created_at < end)
    if request.args.get("grid"):
        q = q.where(Case.grid_code == request.args["grid"])
    for arg, column in (("street", GridCell.street_code), ("community", GridCell.community_code)):
        if request.args.get(arg):
            q = q.where(Case.grid_code.in_(select(GridCell.code).where(column == request.args[arg])))
    if request.args.get("department", "").isdigit():
        q = q.where(Case.department_id == int(request.args["department"]))
    if request.args.get("status"):
        q = q.where(Case.status == request.args["status"])
    with ctx.db.session() as s:
        rows = s.scalars(q.options(selectinload(Case.grid), selectinload(Case.department))
                         .order_by(Case.created_at.desc()).limit(500)).all()
        return render_template("ui/centre_cases.html", title="案卷列表", cases=rows, month=month)


@bp.get("/centre/dashboard")
@roles_required(*CENTRE)
def dashboard():
    ctx = _ctx()
    by = request.args.get("by") if request.args.get("by") in indicators.GROUPS else "department"
    month, start, end = indicators.month_bounds(request.args.get("month"), ctx.config.timezone)
    with ctx.db.session() as s:
        rows = indicators.indicators(s, by, start, end)
        total = indicators.totals(rows)
        if not request.args.get("all"):  # groups with nothing this month only lengthen the table
            rows = [r for r in rows if r["filed"] or r["dispatched"] or r["closed"] or r["overdue_open"]]
        by_cell = rows if by == "cell" else indicators.indicators(s, "cell", start, end)
        heat = charts.heatmap(indicators.cell_shapes(s), indicators.cell_counts(by_cell),
                              href=lambda code: url_for("centre.cases", grid=code, month=month))
        trend = charts.trend(indicators.daily(s, 30, ctx.config.timezone),
                             [("filed", "立案", "#0b5cad"), ("resolved", "处置反馈", "#c98a00"),
                              ("closed", "结案", "#1f8a3b")])
    return render_template("ui/dashboard.html", title="统计", rows=rows, total=total, by=by, month=month,
                           groups=indicators.GROUPS, columns=indicators.COLUMNS, rates=indicators.RATES,
                           heat=heat, trend=trend)


@bp.get("/centre/evaluation")
@roles_required(*CENTRE)
def evaluation():
    ctx = _ctx()
    month, start, end = indicators.month_bounds(request.args.get("month"), ctx.config.timezone)
    with ctx.db.session() as s:
        rows = indicators.evaluation(s, start, end)
        staff = workload.of_centre(ctx, s, start, end)
    return render_template("ui/evaluation.html", title="月度考评", rows=rows, month=month,
                           columns=indicators.EVALUATION, rates=indicators.RATES, staff=staff,
                           staff_columns=workload.COLUMNS, staff_rates=workload.RATES)


# ----------------------------------------------------------------------------- exports


def _pct(v):
    return "" if v is None else f"{v * 100:.1f}%"


def _row(r: dict, columns, rates=indicators.RATES) -> list:
    return [_pct(r[k]) if k in rates else ("" if r.get(k) is None else r[k]) for k, _label in columns]


def _table(what: str, by: str, month: str) -> tuple[str, list[str], list[list]]:
    ctx = _ctx()
    month, start, end = indicators.month_bounds(month, ctx.config.timezone)
    with ctx.db.session() as s:
        if what == "evaluation":
            rows = indicators.evaluation(s, start, end)
            return (f"月度考评-{month}", ["部门"] + [label for _k, label in indicators.EVALUATION],
                    [[r["name"]] + _row(r, indicators.EVALUATION) for r in rows])
        if what == "workload":
            rows = workload.of_centre(ctx, s, start, end)
            return (f"岗位工作量-{month}", ["用户名", "姓名", "岗位"] + [label for _k, label in workload.COLUMNS],
                    [[r["username"], r["name"], r["role"]] + _row(r, workload.COLUMNS, workload.RATES) for r in rows])
        if what == "cases":
            cases = s.scalars(select(Case).where(Case.created_at >= start, Case.created_at < end)
                              .options(selectinload(Case.grid), selectinload(Case.department))
                              .order_by(Case.created_at)).all()
            from web.present import local
            tz = ctx.config.timezone
            head = ["案卷号", "状态", "类别代码", "类别", "部门", "街道", "社区", "网格", "地点", "时限",
                    "立案时间", "到期时间", "结案时间", "紧急"]
            # No phone numbers and no citizen text in exports: they leave the system's access control.
            body = [[c.number, status_label(c.status), c.category_code, c.category_name,
                     c.department.name if c.department else "", c.grid.street if c.grid else "",
                     c.grid.community if c.grid else "", c.grid_code or "", c.place, c.time_limit,
                     local(c.created_at, tz), local(c.due_at, tz), local(c.closed_at, tz), "是" if c.urgent else ""]
                    for c in cases]
            return f"案卷-{month}", head, body
        rows = indicators.indicators(s, by, start, end)
        head = [indicators.GROUPS[by], "编码"] + [label for _k, label in indicators.COLUMNS]
        return (f"统计-{indicators.GROUPS[by]}-{month}", head,
                [[r["name"], r["key"]] + _row(r, indicators.COLUMNS) for r in rows])


def _safe_cell(v):
    # A cell that starts with = + - @ is a formula to a spreadsheet: neutralise it (CSV injection).
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@"):
        return "'" + v
    return v


@bp.get("/centre/export.<fmt>")
@roles_required(*CENTRE)
def export(fmt: str):
    what = request.args.get("what", "indicators")
    by = request.args.get("by") if request.args.get("by") in indicators.GROUPS else "department"
    name, head, body = _table(what if what in ("indicators", "evaluation", "workload", "cases") else "indicators", by,
                              request.args.get("month"))
    from urllib.parse import quote
    disposition = f"attachment; filename*=UTF-8''{quote(name)}.{fmt}"
    if fmt == "csv":
        buf = io.StringIO()
        buf.write("\ufeff")  # Excel opens UTF-8 CSV as Chinese only with the BOM
        writer = csv.writer(buf)
        writer.writerow(head)
        writer.writerows([[_safe_cell(v) for v in row] for row in body])
        return Response(buf.getvalue(), mimetype="text/csv; charset=utf-8",
                        headers={"Content-Disposition": disposition})
    if fmt == "xlsx":
        from openpyxl import Workbook
        wb = Workbook()
        ws = wb.active
        ws.title = name[:31]
        ws.append(head)
        for row in body:
            ws.append([_safe_cell(v) for v in row])
        ws.freeze_panes = "A2"
        out = io.BytesIO()
        wb.save(out)
        return Response(out.getvalue(), headers={"Content-Disposition": disposition},
                        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return render_template("ui/error.html", title="不支持的格式", message="导出格式应为 csv 或 xlsx"), 404
