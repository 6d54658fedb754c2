"""The JSON API: messages, cases and their actions, statistics, the outbox, health."""
from __future__ import annotations

import redis
from flask import Blueprint, Response, current_app, jsonify, request
from rq import Worker
from sqlalchemy import select, text
from sqlalchemy.orm import selectinload

from intake import media, spool
from intake.models import InboundMessage
from notify.models import OutboundMessage
from store.db import utcnow
from tickets import stats
from tickets.lifecycle import ROLES, IllegalTransition
from tickets.models import Case
from tickets.service import BadAction, act, case_as_dict
from web import access, workload
from web.http import BadRequest, error_response, json_body, media_response, require_token

bp = Blueprint("api", __name__)


def _ctx():
    return current_app.extensions["gridline"]


@bp.get("/healthz")
def healthz():
    ctx = _ctx()
    state = {"database": "ok", "redis": "ok", "workers": 0}
    try:
        with ctx.db.session() as s:
            s.execute(text("SELECT 1"))
    except Exception as exc:
        state["database"] = f"error: {exc.__class__.__name__}"
    if ctx.redis is None:
        state["redis"] = "not configured"
    else:
        try:
            ctx.redis.ping()
            state["workers"] = len(Worker.all(connection=ctx.redis))
            state["spooled"] = spool.waiting(ctx)  # messages kept while the database was down
        except redis.RedisError as exc:
            state["redis"] = f"error: {exc.__class__.__name__}"
    ok = state["database"] == "ok"
    state["status"] = "ok" if ok and state["redis"] == "ok" and state["workers"] > 0 else ("degraded" if ok else "down")
    return jsonify(state), 200 if ok else 503


@bp.get("/api/messages/<int:message_id>")
@require_token
def get_message(message_id: int):
    with _ctx().db.session() as s:
        msg = s.get(InboundMessage, message_id)
        if msg is None or not access.api_may_see_message(s, msg):
            return error_response(404, "not_found", f"没有编号为 {message_id} 的消息")
        number = s.scalar(select(Case.number).where(Case.id == msg.case_id)) if msg.case_id else None
        return jsonify({"message_id": msg.id, "channel": msg.channel, "status": msg.status,
                        "reason": msg.reason, "case_number": number})


def _load_case(s, number: str):
    return s.scalar(select(Case).where(Case.number == number)
                    .options(selectinload(Case.events), selectinload(Case.reporters)))


@bp.get("/api/cases/<number>")
@require_token
def get_case(number: str):
    ctx = _ctx()
    with ctx.db.session() as s:
        case = _load_case(s, number)
        if not access.api_may_see(case):
            return error_response(404, "not_found", f"没有案卷号 {number}")
        body = access.api_masked_case(case_as_dict(case, ctx.config.timezone))
        from intake.service import case_photos
        for field in media.FIELDS:          # photos and voice, each with the link that gives it
            body[field] = [{**p, "href": f"/api/cases/{number}/{field}/{p['message_id']}/{p['index']}"}
                           for p in case_photos(s, case.id, field)]
        return jsonify(body)


@bp.get("/api/cases/<number>/<any(photos, voice):field>/<int:message_id>/<int:n>")
@require_token
def get_media(number: str, field: str, message_id: int, n: int):
    """Photo (or voice message) n of a message on the case: the file we keep, or a redirect to
    a link we do not fetch."""
    ctx = _ctx()
    with ctx.db.session() as s:
        case = _load_case(s, number)
        ref = media.message_ref(s, case.id, message_id, n, field) if access.api_may_see(case) else None
    if ref is None:
        return error_response(404, "not_found", f"案卷 {number} 没有这个文件")
    try:
        return media_response(ctx, ref, field)
    except media.Unavailable as exc:
        return error_response(502, "media_unavailable", f"文件暂时无法取回：{exc}")


@bp.post("/api/cases/<number>/actions")
@require_token
def post_action(number: str):
    """{"action": "resolve", "note": "…"}; optional "role" (the token is a trusted integration: by
    default it may accept, resolve, verify and close; naming a role acts as that role), "actor",
    and what some actions need: "department" (dispatch), "extra" (延期, e.g. "2工作日"),
    "phone" or "message_id" (split)."""
    ctx = _ctx()
    data = json_body(request, 64 * 1024)
    action = data.get("action")
    note = data.get("note") or ""
    role = data.get("role") or "api"
    if access.api_user() is not None:  # a console session acts as its own role and name, never another
        role, data["actor"] = access.api_user().role, access.api_user().username
    if not isinstance(action, str) or not isinstance(note, str):
        return error_response(422, "bad_action", "action 与 note 应为字符串")
    if role not in ROLES - {"system"}:
        return error_response(422, "bad_role", f"未知角色 {role!r}")
    extra = {k: data[k] for k in ("department", "extra", "phone", "message_id") if data.get(k) is not None}
    with ctx.db.session() as s:
        case = _load_case(s, number)
        if not access.api_may_see(case):
            return error_response(404, "not_found", f"没有案卷号 {number}")
        try:
            act(s, case, action, actor=str(data.get("actor") or "api")[:60], role=role, note=note[:2000],
                templates=ctx.templates, tz=ctx.config.timezone, calendar=ctx.calendar, rules=ctx.rules,
                data=extra)
        except IllegalTransition as exc:
            return error_response(409, "illegal_transition", str(exc), allowed=exc.allowed, case_status=case.status)
        except BadAction as exc:
            s.rollback()
            return error_response(422, "bad_action", str(exc))
        if action == "split":  # the split reporter's message now belongs to the new case
            split = case.events[-1].data
            new_id = s.scalar(select(Case.id).where(Case.number == split["new_case"]))
            if split.get("message_id") is not None:
                msg = s.get(InboundMessage, split["message_id"])
                if msg is not None:
                    msg.case_id = new_id
        s.commit()
        body = access.api_masked_case(case_as_dict(case, ctx.config.timezone))
    from intake import queue
    queue.kick(ctx, queue.NOTIFY)
    return jsonify(body)


def _period(s, now):
    """The ?from=&to= period (local dates or months; default this month), or a 400."""
    if access.api_denied_stats():
        raise BadRequest(403, "forbidden", "处置部门账户不能查看全区统计")
    try:
        return stats.parse_period(request.args.get("from"), request.args.get("to"), _ctx().config.timezone, now)
    except stats.PeriodError as exc:
        raise BadRequest(400, "bad_query", str(exc)) from None


def _stats_rows():
    """The rows both stats endpoints answer with; refusals are BadRequest (app.py answers them)."""
    group_by = request.args.get("group_by", "department")
    with _ctx().db.session() as s:
        now = utcnow()
        start, end, first, last = _period(s, now)
        try:
            rows = stats.compute(s, group_by, start, end, now)
        except stats.PeriodError as exc:
            raise BadRequest(400, "bad_query", str(exc)) from None
    return rows, {"group_by": group_by, "from": first, "to": last}


@bp.get("/api/workload")
@require_token
def get_workload():
    """Each staff member's figures for the period (岗位工作量, web/workload.py): ?from=&to= as /api/stats."""
    ctx = _ctx()
    with ctx.db.session() as s:
        start, end, first, last = _period(s, utcnow())
        rows = workload.of_centre(ctx, s, start, end)
    return jsonify({"from": first, "to": last, "rows": [
        {k: r[k] for k in ("username", "name", "role", *(key for key, _label in workload.COLUMNS))} for r in rows]})


@bp.get("/api/stats")
@require_token
def get_stats():
    """Indicators and the evaluation from the event log: ?group_by=department|cell|community|street
    &from=2026-11-01&to=2026-11-30 (local dates, to inclusive; or months 2026-11; default this month)."""
    rows, meta = _stats_rows()
    return jsonify({**meta, "rows": [stats.public(r) for r in rows], "totals": stats.totals(rows)})


@bp.get("/api/stats.csv")
@require_token
def get_stats_csv():
    rows, meta = _stats_rows()
    name = f"gridline-{meta['group_by']}-{meta['from']}-{meta['to']}.csv"
    return Response(stats.to_csv(rows), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/api/outbox")
@require_token
def get_outbox():
    # A bare "+" in a query string arrives as a space; phone numbers never contain spaces.
    to = request.args.get("to", "").strip().replace(" ", "+")
    if to and not to.startswith("+") and to.startswith("86"):
        to = "+" + to
    with _ctx().db.session() as s:
        q = select(OutboundMessage).order_by(OutboundMessage.id)
        if to:
            q = q.where(OutboundMessage.to == to)
        rows = s.scalars(q.limit(500)).all()
        out = access.api_outbox_rows([{"id": m.id, "to": m.to, "channel": m.channel, "kind": m.kind,
                                       "text": m.text, "status": m.status, "provider_id": m.provider_id,
                                       "case_id": m.case_id, "error": m.error, "error_code": m.error_code,
                                       "attempts": m.attempts} for m in rows])
        if out is None:
            return error_response(403, "forbidden", "处置部门账户不能查看发件箱")
        return jsonify({"messages": out})
