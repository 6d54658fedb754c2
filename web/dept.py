"""A department's console: its own queue only, by due time, with the time-limit lights."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from store.db import utcnow
from tickets.models import Case
from tickets.service import supervised
from web.auth import roles_required
from web.present import CLOSED_STATUSES

bp = Blueprint("dept", __name__)
DONE_STATUSES = ("handled", "verified", "closed")


@bp.get("/dept")
@roles_required("department")
def queue():
    ctx = current_app.extensions["gridline"]
    tab = request.args.get("tab", "open")
    # A grid worker (网格员) with cells assigned by the admin sees those cells first; "all" shows
    # the whole department's queue, which stays theirs to see.
    mine = bool(current_user.grids) and request.args.get("cells") != "all"
    q = select(Case).where(Case.department_id == current_user.department_id)
    if mine:
        q = q.where(Case.grid_code.in_(current_user.grids))
    if tab == "done":
        since = utcnow() - timedelta(days=30)
        q = q.where(Case.status.in_(DONE_STATUSES), Case.created_at >= since).order_by(Case.created_at.desc())
    else:
        tab = "open"
        # A returned case waits for the centre to send it on: it is not this department's to work.
        q = q.where(Case.status.not_in(sorted(CLOSED_STATUSES | set(DONE_STATUSES) | {"returned"})))
        q = q.order_by(Case.due_at.is_(None), Case.due_at, Case.id)
    with ctx.db.session() as s:
        cases = s.scalars(q.options(selectinload(Case.grid), selectinload(Case.department)).limit(500)).all()
        counts = {c: sum(1 for x in cases if x.status == c) for c in ("dispatched", "accepted", "suspended")}
        return render_template("ui/dept_queue.html", title="本部门案卷", cases=cases, tab=tab, counts=counts,
                               mine=mine, pressed=supervised(s, cases))
