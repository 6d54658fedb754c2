"""The hotline operator's console: enter a call with live suggestions, the triage queue, search."""
from __future__ import annotations

import re
import uuid

from flask import (Blueprint, current_app, flash, jsonify, redirect, render_template, request, url_for)
from flask_login import current_user
from sqlalchemy import or_, select, update

from intake import media, queue, service
from intake.models import InboundMessage
from intake.processing import analyse
from tickets.models import Case, CaseReporter
from web import access
from web.auth import roles_required
from web.http import media_page

bp = Blueprint("operator", __name__)
PHONE = re.compile(r"^\+?\d{5,20}$")
CASE_NUMBER = re.compile(r"^\d{8}-\d{6}$")
MAX_TEXT = 2000
TRIAGE_STATUSES = ("triage", "failed")


def _ctx():
    return current_app.extensions["gridline"]


def normalise_phone(raw: str) -> str:
    phone = re.sub(r"[\s\-()]", "", raw or "")
    if re.fullmatch(r"1\d{10}", phone):  # a mainland mobile number typed without the country code
        phone = "+86" + phone
    elif re.fullmatch(r"86\d{11}", phone):
        phone = "+" + phone
    return phone


def analysis_json(ctx, text: str) -> dict:
    """What the machine makes of a text, in the shape the console's script shows."""
    a = analyse(ctx, text)
    cls, place, cell, r = a["classification"], a["place"], a["cell"], a["route"]
    return {
        "category": {"code": cls.code, "name": cls.name} if cls.code else None,
        "department": r.department if r else None, "time_limit": str(r.time_limit) if r else None,
        "urgent": bool(r and r.urgent), "confidence": round(cls.confidence, 3), "words": cls.words,
        "urgency_words": cls.urgency_words, "alternatives": cls.alternatives,
        "place": place.as_dict() if place else None,
        "cell": cell.as_dict() if cell else None, "dispatch": not a["reason"], "reason": a["reason"],
    }


def _categories(ctx):
    return [(c.code, c.name, c.department) for c in sorted(ctx.rules.categories, key=lambda c: c.code)]


def _corrections(ctx, form) -> tuple[dict, list[str]]:
    """The operator's choices (category, cell, place) checked against the rules and the grid."""
    out, errors = {}, []
    code = (form.get("category_code") or "").strip()
    if code:
        try:
            ctx.rules.category(code)
            out["category_code"] = code
        except KeyError:
            errors.append(f"没有类别代码 {code}")
    grid = (form.get("grid_code") or "").strip().split(" ")[0]
    if grid:
        if grid in ctx.grids.by_code:
            out["grid_code"] = grid
        else:
            errors.append(f"没有网格编码 {grid}")
    place = (form.get("place") or "").strip()[:200]
    if place:
        out["place"] = place
    return out, errors


@bp.get("/operator")
@roles_required("operator")
def entry():
    ctx = _ctx()
    return render_template("ui/operator_entry.html", title="来电登记", call_id=uuid.uuid4().hex,
                           categories=_categories(ctx), form={}, errors=[])


@bp.post("/operator/analyse")
@roles_required("operator", "dispatcher", "supervisor")
def analyse_json():
    data = request.get_json(silent=True) or {}
    text = data.get("text") if isinstance(data.get("text"), str) else ""
    text = text.strip()[:MAX_TEXT]
    if not text:
        return jsonify({"category": None, "reason": "请输入通话内容", "dispatch": False, "words": []})
    return jsonify(analysis_json(_ctx(), text))


@bp.get("/operator/cells")
@roles_required("operator", "dispatcher", "supervisor", "admin")
def cells():
    q = (request.args.get("q") or "").strip()
    if not q:
        return jsonify({"cells": []})
    found = [c for c in _ctx().grids.cells
             if c.code.startswith(q) or q in c.name or q in c.street or q in c.community][:20]
    return jsonify({"cells": [{"code": c.code, "name": c.name} for c in found]})


@bp.post("/operator/calls")
@roles_required("operator")
def submit():
    ctx = _ctx()
    form = request.form
    caller = normalise_phone(form.get("caller", ""))
    text = (form.get("text") or "").strip()
    call_id = (form.get("call_id") or "").strip()[:100] or uuid.uuid4().hex
    corrections, errors = _corrections(ctx, form)
    if not PHONE.match(caller):
        errors.append("来电号码格式不正确")
    if not text:
        errors.append("通话内容不能为空")
    elif len(text) > MAX_TEXT:
        errors.append(f"通话内容过长（{len(text)} 字，上限 {MAX_TEXT} 字）")
    if errors:  # the form comes back with everything typed, nothing is lost
        return render_template("ui/operator_entry.html", title="来电登记", call_id=call_id,
                               categories=_categories(ctx), form=form, errors=errors), 422
    suggested = {k: form.get(f"suggested_{k}", "")[:20] for k in ("category_code", "grid_code")}
    meta = {"operator": current_user.username, "corrections": corrections, "suggested": suggested}
    try:
        msg, created = service.receive(ctx, "hotline", call_id, caller, text, meta)
    except service.Spooled:  # no record page yet: it is filed when the database is back
        flash("数据库暂时不可用：这通电话已暂存，恢复后自动立案，来电人会收到案卷号短信")
        return redirect(url_for("operator.entry"))
    except service.DATABASE_DOWN:  # not kept anywhere (Redis is down too): the typed call stays on the form
        errors = ["数据库暂时不可用，这通电话尚未保存：请稍后再点“提交”，已填写的内容仍在本页"]
        return render_template("ui/operator_entry.html", title="来电登记", call_id=call_id,
                               categories=_categories(ctx), form=form, errors=errors), 503
    flash("已提交，正在立案派遣" if created else "这通电话已经登记过（同一来电编号），未重复提交")
    return redirect(url_for("operator.call", message_id=msg.id))


@bp.get("/operator/calls/<int:message_id>")
@roles_required("operator")
def call(message_id: int):
    with _ctx().db.session() as s:
        msg = s.get(InboundMessage, message_id)
        if msg is None:
            return render_template("ui/error.html", title="没有这条记录", message=f"没有编号 {message_id}"), 404
        number = s.scalar(select(Case.number).where(Case.id == msg.case_id)) if msg.case_id else None
        return render_template("ui/operator_call.html", title="来电处理结果", msg=msg, number=number)


@bp.get("/operator/triage")
@roles_required("operator", "dispatcher", "supervisor")
def triage():
    with _ctx().db.session() as s:
        rows = s.scalars(select(InboundMessage).where(InboundMessage.status.in_(TRIAGE_STATUSES))
                         .order_by(InboundMessage.received_at).limit(300)).all()
        return render_template("ui/triage.html", title="人工分拣", rows=rows)


@bp.route("/operator/triage/<int:message_id>", methods=["GET", "POST"])
@roles_required("operator", "dispatcher", "supervisor")
def triage_one(message_id: int):
    ctx = _ctx()
    with ctx.db.session() as s:
        msg = s.get(InboundMessage, message_id)
        if msg is None:
            return render_template("ui/error.html", title="没有这条记录", message=f"没有编号 {message_id}"), 404
        errors = []
        if request.method == "POST" and msg.status in TRIAGE_STATUSES:
            if request.form.get("decision") == "dismiss":
                reason = (request.form.get("reason") or "").strip()[:500]
                if not reason:
                    errors.append("不予立案须说明理由")
                else:
                    _requeue(s, msg, "dismissed", {"dismissed_by": current_user.username}, f"人工不予立案：{reason}")
                    flash("已记为不予立案")
                    return redirect(url_for("operator.triage"))
            else:
                corrections, errors = _corrections(ctx, request.form)
                heard = {}
                if not msg.text:    # a voice message or a photo alone: the operator writes what it says
                    text = (request.form.get("text") or "").strip()[:MAX_TEXT]
                    if not text:
                        errors.append("这条消息没有文字：请填写听写内容或问题描述")
                    heard = {"text": text, "transcribed_by": current_user.username}
                if not errors and not {"category_code", "grid_code"} <= corrections.keys():
                    errors.append("请选定类别和网格后再立案")
                if not errors:
                    _requeue(s, msg, "received", {"corrections": corrections, "triaged_by": current_user.username}, "",
                             **heard)
                    queue.kick(ctx, queue.INTAKE)
                    flash("已按人工分拣结果提交立案")
                    return redirect(url_for("operator.triage"))
        elif request.method == "POST":
            errors.append("这条消息已经处理过了")
        suggestion = analysis_json(ctx, msg.text or request.form.get("text") or "")
        return render_template("ui/triage_one.html", title="分拣", msg=msg, suggestion=suggestion,
                               categories=_categories(ctx), errors=errors,
                               shown_here=lambda ref: media.shown_here(ctx.config, ref)), (422 if errors else 200)


def _requeue(s, msg: InboundMessage, status: str, meta_update: dict, reason: str, text: str | None = None,
             transcribed_by: str | None = None) -> None:
    """Guarded on the status it had: two operators deciding the same message do it once. `text`:
    what the operator heard in a voice message (or saw in a photo), which the pipeline then reads;
    the voice itself stays in the message."""
    meta = {**(msg.meta or {}), **meta_update}
    values = {"status": status, "meta": meta, "reason": reason}
    if text:
        values["text"], meta["transcribed_by"] = text, transcribed_by
    s.execute(update(InboundMessage).where(InboundMessage.id == msg.id, InboundMessage.status.in_(TRIAGE_STATUSES))
              .values(**values))
    s.commit()


@bp.get("/operator/messages/<int:message_id>/<any(photos, voice):field>/<int:n>")
@roles_required("operator", "dispatcher", "supervisor")
def message_media(message_id: int, field: str, n: int):
    """A message's photo or voice message, for the triage page (before it belongs to a case)."""
    ctx = _ctx()
    with ctx.db.session() as s:
        msg = s.get(InboundMessage, message_id)
        ref = media.ref_of(msg.meta, field, n) if msg is not None else None
    if ref is None:
        return render_template("ui/error.html", title="没有这个文件", message=f"消息 {message_id} 没有这个文件"), 404
    return media_page(ctx, ref, field, f"消息 {message_id} ")


@bp.get("/search")
@roles_required("operator", "dispatcher", "verifier", "supervisor", "admin", "department")
def search():
    q = (request.args.get("q") or "").strip()[:40]
    cases, messages, note = [], [], ""
    if q:
        with _ctx().db.session() as s:
            if CASE_NUMBER.match(q):
                case = access.visible_case(s, q)
                if case is not None:
                    return redirect(url_for("cases.show", number=q))
                note = f"没有找到案卷 {q}"
            elif re.fullmatch(r"[+\d\s\-]{5,24}", q):
                if not access.sees_phones():
                    note = "只有话务员可以按电话号码查询"
                else:
                    phones = {q, normalise_phone(q)}
                    ids = select(CaseReporter.case_id).where(CaseReporter.phone.in_(phones))
                    cases = s.scalars(select(Case).where(or_(Case.reporter_phone.in_(phones), Case.id.in_(ids)))
                                      .order_by(Case.created_at.desc()).limit(100)).all()
                    messages = s.scalars(select(InboundMessage).where(InboundMessage.sender.in_(phones))
                                         .order_by(InboundMessage.received_at.desc()).limit(100)).all()
            else:
                cases = s.scalars(access.scoped(select(Case).where(Case.number.contains(q, autoescape=True)))
                                  .order_by(Case.created_at.desc()).limit(100)).all()
            if not cases and not messages and not note:
                note = "没有找到"
            return render_template("ui/search.html", title="查询", q=q, cases=cases, messages=messages, note=note)
    return render_template("ui/search.html", title="查询", q=q, cases=[], messages=[], note="")
