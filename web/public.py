"""The result page a citizen opens from the result SMS (notify/links.py): no account, no cookie.

It shows what the citizen needs to judge the work before answering the 1/2/3 survey: the case,
its state, the department's result and its photos taken after the work (处置照片). It names no
reporter, shows no phone number and not the citizen's own words (they may hold a name or an
address they would not want on a forwarded link). A wrong or missing signature answers the same
404 as an unknown case, so the page tells nothing about which numbers exist.
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request, send_file
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from intake import media
from intake.models import InboundMessage
from tickets.lifecycle import last_event
from tickets.models import Case
from web.models import CasePhoto, photo_dir

bp = Blueprint("public", __name__)
CITIZEN_STATUS = {"closed": "已办结", "void": "已作废", "not_filed": "不予立案"}   # anything else: 办理中
HEADERS = {"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex", "Cache-Control": "private, max-age=300",
           "X-Content-Type-Options": "nosniff"}


def _ctx():
    return current_app.extensions["gridline"]


@bp.errorhandler(404)
def _missing(_exc):
    """A citizen reads a page, not the API's JSON error."""
    return render_template("ui/public_missing.html"), 404, HEADERS


def _case(s, number: str) -> Case:
    """The case the signed link names, or 404 (unknown number and bad signature alike)."""
    if not _ctx().templates.links.valid(number, request.args.get("t")):
        abort(404)
    case = s.scalar(select(Case).where(Case.number == number).options(selectinload(Case.events)))
    if case is None:
        abort(404)
    return case


def _department_photos(s, case: Case) -> list[tuple[int, int]]:
    """(message id, index) of photos the department sent with its 办结 reply (SMS or Telegram)."""
    rows = s.scalars(select(InboundMessage).where(InboundMessage.case_id == case.id, InboundMessage.kind == "resolve")
                     .order_by(InboundMessage.id)).all()
    return [(m.id, n) for m in rows for n, _ref in enumerate((m.meta or {}).get("photos") or [])]


@bp.get("/r/<number>")
def result(number: str):
    ctx = _ctx()
    with ctx.db.session() as s:
        case = _case(s, number)
        closed = last_event(case, "close")
        done = case.status == "closed"      # the result and its photos: only while the case stands closed
        resolved = last_event(case, "resolve") if done else None
        photos = s.scalars(select(CasePhoto.id).where(CasePhoto.case_id == case.id, CasePhoto.action == "resolve")
                           .order_by(CasePhoto.id)).all() if done else []
        html = render_template(
            "ui/public_result.html", case=case, token=request.args["t"],
            status=CITIZEN_STATUS.get(case.status, "办理中"), closed_at=closed.at if closed else None,
            result=((resolved.note if resolved else "") or "已处理完毕") if done else "",
            reopened=case.status not in CITIZEN_STATUS and closed is not None,
            photos=photos, department_photos=_department_photos(s, case) if done else [],
            department=case.department.name if case.department else "")
    return html, 200, HEADERS


@bp.get("/r/<number>/photos/<int:photo_id>")
def photo(number: str, photo_id: int):
    ctx = _ctx()
    with ctx.db.session() as s:
        case = _case(s, number)
        row = s.get(CasePhoto, photo_id)
        if row is None or row.case_id != case.id or row.action != "resolve" or case.status != "closed":
            abort(404)
        path = photo_dir(ctx.config.var_dir, case.id) / row.filename
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype=row.content_type, max_age=300)
    response.headers.update(HEADERS)
    return response


@bp.get("/r/<number>/replies/<int:message_id>/<int:n>")
def reply_photo(number: str, message_id: int, n: int):
    ctx = _ctx()
    with ctx.db.session() as s:
        case = _case(s, number)
        msg = s.get(InboundMessage, message_id)
        ok = msg is not None and msg.kind == "resolve" and case.status == "closed"
        ref = media.message_ref(s, case.id, message_id, n) if ok else None
    if ref is None:
        abort(404)
    try:        # our copy only: a public page sends no one on to a provider's address
        path, ctype = media.fetch(ctx, ref, "photos")
    except media.Unavailable:
        abort(404)
    response = send_file(path, mimetype=ctype, max_age=300)
    response.headers.update(HEADERS)
    return response
