"""The JSON API: messages, cases and their actions, the outbox, health."""
from __future__ import annotations

import redis
from flask import Blueprint, current_app, jsonify, request
from rq import Worker
from sqlalchemy import select, text
from sqlalchemy.orm import selectinload

from intake.models import InboundMessage
from notify.models import OutboundMessage
from tickets.lifecycle import IllegalTransition
from tickets.models import Case
from tickets.service import act, case_as_dict
from web.http import error_response, json_body, require_token

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
        if msg is None:
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
        if case is None:
            return error_response(404, "not_found", f"没有案卷号 {number}")
        body = case_as_dict(case, ctx.config.timezone)
        from intake.service import case_photos
        body["photos"] = case_photos(s, case.id)
        return jsonify(body)


@bp.post("/api/cases/<number>/actions")
@require_token
def post_action(number: str):
    ctx = _ctx()
    data = json_body(request, 64 * 1024)
    action = data.get("action")
    note = data.get("note") or ""
    if not isinstance(action, str) or not isinstance(note, str):
        return error_response(422, "bad_action", "action 与 note 应为字符串")
    with ctx.db.session() as s:
        case = _load_case(s, number)
        if case is None:
            return error_response(404, "not_found", f"没有案卷号 {number}")
        try:
            act(s, case, action, actor=data.get("actor") or "api", role="api", note=note[:2000],
                templates=ctx.templates, tz=ctx.config.timezone)
        except IllegalTransition as exc:
            return error_response(409, "illegal_transition", str(exc), allowed=exc.allowed, case_status=case.status)
        s.commit()
        body = case_as_dict(case, ctx.config.timezone)
    from intake import queue
    queue.kick(ctx, queue.NOTIFY)
    return jsonify(body)


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
        return jsonify({"messages": [{"id": m.id, "to": m.to, "channel": m.channel, "kind": m.kind, "text": m.text,
                                      "status": m.status, "provider_id": m.provider_id, "case_id": m.case_id}
                                     for m in rows]})
