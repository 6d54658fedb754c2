"""The simulated phone of the demo (console SMS): a citizen types here, the message goes in through
the same intake path as a real SMS (channel "sms", a generated MessageSid), and the replies are the
outbox rows to that number. Off unless SMS goes to the console, so it never touches real numbers.
"""
from __future__ import annotations

import os
import random
import re
import uuid
from datetime import datetime

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, session, url_for
from sqlalchemy import select

from intake import service
from intake.models import InboundMessage
from notify.models import OutboundMessage
from tickets import clock
from web.http import error_response

bp = Blueprint("phone", __name__)
PHONE = re.compile(r"^\+\d{8,15}$")
MAX_TEXT = 1000


def demo_mode(ctx) -> bool:
    return ctx.config.sms_backend == "console" and os.environ.get("GRIDLINE_DEMO", "1") != "0"


def _ctx():
    return current_app.extensions["gridline"]


def _number() -> str:
    if "phone_number" not in session:
        session["phone_number"] = "+86139" + "".join(random.choice("0123456789") for _ in range(8))
    return session["phone_number"]


@bp.before_request
def _only_in_demo():
    if not demo_mode(_ctx()):
        return render_template("ui/error.html", title="模拟手机未开启",
                               message="模拟手机只在演示模式（短信走控制台）下可用。"), 404
    return None


@bp.get("/phone")
def page():
    return render_template("ui/phone.html", title="模拟手机", number=_number())


@bp.post("/phone/number")
def set_number():
    from web.operator import normalise_phone
    number = normalise_phone(request.form.get("number", ""))
    if PHONE.match(number):
        session["phone_number"] = number
    return redirect(url_for("phone.page"))


@bp.post("/phone/send")
def send():
    data = request.get_json(silent=True) if request.is_json else request.form
    text = ((data or {}).get("text") or "").strip()
    if not text:
        return error_response(422, "empty_text", "短信内容不能为空")
    if len(text) > MAX_TEXT:
        return error_response(413, "text_too_long", f"短信过长（{len(text)} 字，上限 {MAX_TEXT} 字）")
    number = _number()
    sid = "SM" + uuid.uuid4().hex  # the shape of a Twilio MessageSid: SM + 32 hex digits
    try:
        msg, _created = service.receive(_ctx(), "sms", sid, number, text, {"MessageSid": sid, "demo": True})
    except service.Spooled:  # as a real SMS: kept in Redis, stored and answered when the database is back
        msg = None
    if not request.is_json:
        return redirect(url_for("phone.page"))
    return jsonify({"message_id": msg.id if msg else None, "sid": sid, "spooled": msg is None}), 200 if msg else 202


@bp.get("/phone/thread")
def thread():
    number = _number()
    with _ctx().db.session() as s:
        ins = s.scalars(select(InboundMessage).where(InboundMessage.sender == number)
                        .order_by(InboundMessage.id.desc()).limit(100)).all()
        outs = s.scalars(select(OutboundMessage).where(OutboundMessage.to == number)
                         .order_by(OutboundMessage.id.desc()).limit(100)).all()
    items = [{"dir": "out", "text": m.text, "at": m.received_at.isoformat(), "id": f"i{m.id}"} for m in ins]
    items += [{"dir": "in", "text": m.text, "at": m.created_at.isoformat(), "id": f"o{m.id}", "kind": m.kind,
               "status": m.status} for m in outs if m.sent_at is not None or m.status in ("sent", "delivered")]
    items.sort(key=lambda x: x["at"])  # only what was sent arrives on a phone
    tz = _ctx().config.timezone
    for item in items:
        item["time"] = clock.to_local(datetime.fromisoformat(item["at"]), tz).strftime("%m-%d %H:%M:%S")
    return jsonify({"number": number, "messages": items})
