"""The case page (every role, within its scope) and the actions people take on it.

The consoles never set a case's status: every change goes through tickets.service.act, which checks
the role and the state and appends the event.
"""
from __future__ import annotations

import uuid
from pathlib import Path

from flask import (Blueprint, current_app, flash, redirect, render_template, request, send_file, url_for)
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from intake import media, queue
from intake.department import KINDS as DEPARTMENT_KINDS
from intake.media import MAX_PHOTO_BYTES, image_kind
from intake.models import InboundMessage
from tickets import lifecycle, pii, reply_check, retention
from tickets.lifecycle import IllegalTransition
from tickets.models import Case, Department
from tickets.service import NOTE_REQUIRED, act
from web import access, present
from web.auth import roles_required
from web.http import media_page
from web.models import CasePhoto, photo_dir

try:
    from tickets.service import BadAction
except ImportError:  # pragma: no cover - older lifecycle without input checks
    class BadAction(ValueError):
        pass

bp = Blueprint("cases", __name__)
STAFF = ("operator", "dispatcher", "department", "verifier", "supervisor", "admin")
MAX_PHOTOS = 6
EXTENSIONS_WORKING = ["4工作时", "1工作日", "2工作日", "3工作日", "5工作日"]
EXTENSIONS_CLOCK = ["2小时", "6小时", "12小时", "1天", "2天"]
# Event data worth showing; anything else (phones of joined reporters, raw texts) stays out.
EVENT_FIELDS = {"department": "部门", "time_limit": "时限", "extra": "延长", "paused_hours": "挂账小时",
                "new_case": "拆分为", "split_from": "拆分自", "similarity": "相似度", "answer": "评价", "step": "级别",
                "reply_check": "办结说明提示"}


def _ctx():
    return current_app.extensions["gridline"]


def _not_found(number: str):
    return render_template("ui/error.html", title="没有这个案卷",
                           message=f"没有案卷 {number}，或您无权查看。"), 404


def _load(s, number: str) -> Case | None:
    case = s.scalar(select(Case).where(Case.number == number)
                    .options(selectinload(Case.events), selectinload(Case.reporters)))
    return case if case is not None and access.can_see_case(case) else None


def allowed(case: Case) -> list[str]:
    try:
        return lifecycle.allowed_actions(case.status, current_user.role, case)
    except TypeError:  # pragma: no cover - a lifecycle without the case argument
        return lifecycle.allowed_actions(case.status, current_user.role)


def actor_label(actor: str, case_id: int) -> str:
    """Survey answers are recorded with the citizen's number as actor: mask it like any number
    (or say it was forgotten: tickets.retention)."""
    if (actor or "").startswith(retention.PREFIX):
        return "市民" + access.mask_phone(actor)
    return access.show_phone(actor, case_id=case_id) if pii.PHONE_LIKE.match(actor or "") else actor


def event_details(ev) -> list[tuple[str, str]]:
    return [(label, "；".join(map(str, v)) if isinstance(v := ev.data[key], list) else str(v))
            for key, label in EVENT_FIELDS.items() if ev.data and key in ev.data]


@bp.get("/cases/<number>")
@roles_required(*STAFF)
def show(number: str):
    return _page(number)


def _page(number: str, draft: tuple[str, str] | None = None):
    """The case page; `draft`: (action, note) typed into a form that was refused, shown again."""
    ctx = _ctx()
    with ctx.db.session() as s:
        case = _load(s, number)
        if case is None:
            return _not_found(number)
        messages = s.scalars(select(InboundMessage).where(InboundMessage.case_id == case.id)
                             .order_by(InboundMessage.id)).all()
        photos = s.scalars(select(CasePhoto).where(CasePhoto.case_id == case.id).order_by(CasePhoto.id)).all()
        departments = s.scalars(select(Department).order_by(Department.name)).all()
        try:
            from intake.service import case_photos
            citizen_photos = [{**p, "here": media.shown_here(ctx.config, p["url"])} for p in case_photos(s, case.id)]
        except ImportError:  # pragma: no cover - intake without media
            citizen_photos = []
        working = getattr(case, "working_clock", "工作" in case.time_limit)
        return render_template(
            "ui/case.html", title=f"案卷 {case.number}", case=case, messages=messages, photos=photos,
            citizen_photos=citizen_photos, department_kinds=DEPARTMENT_KINDS,
            actions=allowed(case), departments=departments, event_details=event_details,
            actor_label=actor_label, extensions=EXTENSIONS_WORKING if working else EXTENSIONS_CLOCK,
            joined=lifecycle.joined_reporters(case), note_required={*NOTE_REQUIRED, "resolve"},
            reply_warnings=present.reply_warnings(case), draft=draft)


def _photos(files) -> tuple[list[tuple[bytes, str, str]], str]:
    """The uploaded images as (bytes, extension, content type), or an error to show."""
    out = []
    files = [f for f in files if f and f.filename]
    if len(files) > MAX_PHOTOS:
        return [], f"最多上传 {MAX_PHOTOS} 张照片"
    for f in files:
        data = f.read(MAX_PHOTO_BYTES + 1)
        if len(data) > MAX_PHOTO_BYTES:
            return [], f"照片 {f.filename} 超过 {MAX_PHOTO_BYTES // 1024 // 1024} MB"
        kind = image_kind(data)       # by the first bytes, not by the name or type the browser claims
        if kind is None:
            return [], f"{f.filename} 不是 JPEG/PNG/GIF/WebP 图片"
        out.append((data, *kind))
    return out, ""


def _data_for(action: str, form, case: Case) -> dict:
    data = {}
    if action == "dispatch" and form.get("department"):
        data["department"] = form["department"]
    if action in ("request_extension", "approve_extension") and form.get("extra"):
        data["extra"] = form["extra"]
    if action == "split" and form.get("reporter_id", "").isdigit():
        rid = int(form["reporter_id"])
        picked = [r for r in case.reporters if r.id == rid]
        if picked:  # the phone never travels through the page: the form names the reporter row
            data["phone"] = picked[0].phone
    return data


@bp.post("/cases/<number>/act")
@roles_required(*STAFF)
def act_on(number: str):
    ctx = _ctx()
    # Phones upload photos straight from the camera: allow more than the API's 1 MB here.
    request.max_content_length = MAX_PHOTOS * MAX_PHOTO_BYTES + 64 * 1024
    action = (request.form.get("action") or "").strip()
    note = (request.form.get("note") or "").strip()[:2000]
    with ctx.db.session() as s:
        case = _load(s, number)
        if case is None:
            return _not_found(number)
        photos, error = _photos(request.files.getlist("photos")) if action == "resolve" else ([], "")
        if error:
            flash(error, "error")
            return redirect(url_for("cases.show", number=number))
        try:
            act(s, case, action, actor=current_user.username, role=current_user.role, note=note,
                templates=ctx.templates, tz=ctx.config.timezone, calendar=ctx.calendar,
                data=_data_for(action, request.form, case), rules=ctx.rules)
        except IllegalTransition as exc:
            s.rollback()
            flash(str(exc), "error")
            return redirect(url_for("cases.show", number=number))
        except (BadAction, ValueError) as exc:
            s.rollback()
            flash(str(exc), "error")
            return _page(number, draft=(action, note)), 422     # what was typed stays in the form
        warnings = reply_check.noted(case) if action == "resolve" else []
        if action == "split":  # the split reporter's message now belongs to the new case (as the API does)
            split = case.events[-1].data
            if split.get("message_id") is not None and (msg := s.get(InboundMessage, split["message_id"])):
                msg.case_id = s.scalar(select(Case.id).where(Case.number == split["new_case"]))
        saved = _save_photos(s, case, photos, action)
        try:
            s.commit()
        except Exception:
            for path in saved:
                path.unlink(missing_ok=True)
            raise
    queue.kick(ctx, queue.NOTIFY)
    from web.present import action_label
    flash(f"已{action_label(action)}：案卷 {number}" + (f"。提示：{'；'.join(warnings)}" if warnings else ""),
          "warn" if warnings else "message")
    if current_user.role == "department" and action == "return":
        return redirect(url_for("dept.queue"))
    return redirect(url_for("cases.show", number=number))


def _upload_dir(case_id: int) -> Path:
    path = photo_dir(_ctx().config.var_dir, case_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _save_photos(s, case: Case, photos, action: str) -> list[Path]:
    saved = []
    for data, ext, ctype in photos:
        name = f"{uuid.uuid4().hex}.{ext}"
        path = _upload_dir(case.id) / name
        path.write_bytes(data)
        saved.append(path)
        s.add(CasePhoto(case_id=case.id, filename=name, content_type=ctype, size=len(data), action=action,
                        uploaded_by=current_user.username))
    return saved


@bp.get("/cases/<number>/photos/<int:photo_id>")
@roles_required(*STAFF)
def photo(number: str, photo_id: int):
    with _ctx().db.session() as s:
        case = _load(s, number)
        row = s.get(CasePhoto, photo_id)
        if case is None or row is None or row.case_id != case.id:
            return _not_found(number)
        path = _upload_dir(case.id) / row.filename
        if not path.exists():
            return _not_found(number)
        response = send_file(path, mimetype=row.content_type, max_age=3600)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


@bp.get("/cases/<number>/messages/<int:message_id>/<any(photos, voice):field>/<int:n>")
@roles_required(*STAFF)
def message_media(number: str, message_id: int, field: str, n: int):
    """Photo (or voice message) n of a message on the case: a citizen's, or a department's reply."""
    ctx = _ctx()
    with ctx.db.session() as s:
        case = _load(s, number)
        ref = media.message_ref(s, case.id, message_id, n, field) if case is not None else None
    if ref is None:
        return _not_found(number)
    return media_page(ctx, ref, field, f"案卷 {number} ")
