"""Administration: staff accounts, departments, grid assignments, and the phone-view audit log."""
from __future__ import annotations

import re

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError

from tickets.models import Department, GridCell
from web.auth import create_user, note_password_change, roles_required, set_password, set_revoked
from web import account_log
from web.models import ROLES, AccountEvent, PhoneView, User, UserGrid

bp = Blueprint("admin", __name__)
USERNAME = re.compile(r"^[A-Za-z0-9_.\-]{2,40}$")


def _ctx():
    return current_app.extensions["gridline"]


@bp.route("/admin/users", methods=["GET", "POST"])
@roles_required("admin")
def users():
    errors = []
    with _ctx().db.session() as s:
        if request.method == "POST":
            f = request.form
            username = (f.get("username") or "").strip()
            department = None
            if f.get("department_id", "").isdigit():
                dep = s.get(Department, int(f["department_id"]))
                department = dep.name if dep else None
            if not USERNAME.match(username):
                errors.append("用户名应为 2–40 位字母、数字、下划线、点或横线")
            elif s.scalar(select(User.id).where(User.username == username)):
                errors.append(f"用户名 {username} 已存在")
            else:
                try:
                    user = create_user(s, username, f.get("password") or "", f.get("role") or "",
                                       (f.get("name") or "").strip()[:60], department, must_change=True)
                    account_log.record(s, username, "created", f"角色 {ROLES[user.role]}" + (f"，{department}" if department else ""))
                    s.commit()
                    flash(f"已创建用户 {username}（首次登录须修改密码）")
                    return redirect(url_for("admin.users"))
                except ValueError as exc:
                    s.rollback()
                    errors.append(str(exc))
        rows = s.execute(select(User, Department.name).outerjoin(Department, User.department_id == Department.id)
                         .order_by(User.role, User.username)).all()
        grid_counts = dict(s.execute(select(UserGrid.user_id, func.count(UserGrid.id)).group_by(UserGrid.user_id)).all())
        departments = s.scalars(select(Department).order_by(Department.name)).all()
        return render_template("ui/admin_users.html", title="用户管理", rows=rows, departments=departments,
                               grid_counts=grid_counts, errors=errors, form=request.form), (422 if errors else 200)


def _grid_codes(s, text: str) -> tuple[set[str], list[str]]:
    """Cell codes from text; a 9-digit street or 12-digit community code stands for all its cells."""
    codes, unknown = set(), []
    for token in re.split(r"[\s,，、;；]+", text.strip()):
        if not token:
            continue
        if len(token) in (9, 12) and token.isdigit():
            found = set(s.scalars(select(GridCell.code).where(GridCell.code.startswith(token))))
        else:
            found = set(s.scalars(select(GridCell.code).where(GridCell.code == token)))
        if found:
            codes |= found
        else:
            unknown.append(token)
    return codes, unknown


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@roles_required("admin")
def user(user_id: int):
    errors = []
    with _ctx().db.session() as s:
        row = s.get(User, user_id)
        if row is None:
            return render_template("ui/error.html", title="没有这个用户", message=f"没有用户 {user_id}"), 404
        if request.method == "POST":
            f = request.form
            role = f.get("role") or row.role
            dep_id = int(f["department_id"]) if f.get("department_id", "").isdigit() else None
            if role not in ROLES:
                errors.append("未知角色")
            elif role == "department" and (dep_id is None or s.get(Department, dep_id) is None):
                errors.append("处置部门用户须指定部门")
            password = f.get("password") or ""
            if password and len(password) < 8:
                errors.append("密码至少 8 位")
            codes, unknown = _grid_codes(s, f.get("grids", ""))
            if unknown:
                errors.append("没有这些网格：" + "、".join(unknown[:10]))
            if not errors:
                before = _account_facts(s, row)
                row.name = (f.get("name") or row.name).strip()[:60]
                row.role, row.department_id = role, dep_id if role == "department" else None
                row.active = f.get("active") == "on"
                if password:  # someone else's password now known to the admin: they choose their own
                    set_password(row, password, must_change=row.id != current_user.id)
                if f.get("unlock") == "on":
                    row.failed_logins, row.locked_until = 0, None
                s.execute(delete(UserGrid).where(UserGrid.user_id == row.id))
                s.add_all(UserGrid(user_id=row.id, grid_code=c) for c in sorted(codes))
                s.flush()
                changes = _changes(before, _account_facts(s, row))
                if password:
                    changes.append("重设密码（本人登录后须修改）" if row.must_change_password else "重设密码")
                if f.get("unlock") == "on":
                    changes.append("解锁")
                if changes:
                    account_log.record(s, row.username, "updated", "；".join(changes))
                s.commit()
                if password:  # the admin's own: this session goes on
                    note_password_change(_ctx(), row, this_session=row.id == current_user.id)
                set_revoked(_ctx(), row.id, not row.active)
                flash(f"已保存用户 {row.username}")
                return redirect(url_for("admin.user", user_id=row.id))
        grids = list(s.scalars(select(UserGrid.grid_code).where(UserGrid.user_id == row.id).order_by(UserGrid.grid_code)))
        departments = s.scalars(select(Department).order_by(Department.name)).all()
        return render_template("ui/admin_user.html", title=f"用户 {row.username}", row=row, grids=grids,
                               departments=departments, errors=errors), (422 if errors else 200)


@bp.route("/admin/departments", methods=["GET", "POST"])
@roles_required("admin")
def departments():
    errors = []
    with _ctx().db.session() as s:
        if request.method == "POST":
            f = request.form
            name = (f.get("name") or "").strip()[:100]
            dep = s.get(Department, int(f["id"])) if f.get("id", "").isdigit() else None
            if not name:
                errors.append("部门名称不能为空")
            else:
                dep = dep or Department(name=name)
                dep.name, dep.short, dep.phone = name, (f.get("short") or "").strip()[:40], (f.get("phone") or "").strip()[:32]
                s.add(dep)
                try:
                    s.commit()
                    flash(f"已保存部门 {name}")
                    return redirect(url_for("admin.departments"))
                except IntegrityError:
                    s.rollback()
                    errors.append(f"部门 {name} 已存在")
        rows = s.execute(select(Department, func.count(User.id)).outerjoin(User, User.department_id == Department.id)
                         .group_by(Department.id).order_by(Department.name)).all()
        return render_template("ui/admin_departments.html", title="部门管理", rows=rows, errors=errors), \
            (422 if errors else 200)


@bp.get("/admin/grids")
@roles_required("admin")
def grids():
    q = (request.args.get("q") or "").strip()
    with _ctx().db.session() as s:
        streets = s.execute(select(GridCell.street_code, GridCell.street, func.count(GridCell.code))
                            .group_by(GridCell.street_code, GridCell.street).order_by(GridCell.street_code)).all()
        cells = []
        if q:
            cells = s.execute(select(GridCell, func.group_concat(User.username) if s.bind.dialect.name == "sqlite"
                                     else func.string_agg(User.username, ","))
                              .outerjoin(UserGrid, UserGrid.grid_code == GridCell.code)
                              .outerjoin(User, User.id == UserGrid.user_id)
                              .where(or_(GridCell.code.startswith(q), GridCell.street.contains(q, autoescape=True),
                                         GridCell.community.contains(q, autoescape=True)))
                              .group_by(GridCell.code).order_by(GridCell.code).limit(300)).all()
        return render_template("ui/admin_grids.html", title="网格分配", streets=streets, cells=cells, q=q)


def _account_facts(s, row: User) -> dict:
    dep = s.get(Department, row.department_id) if row.department_id else None
    grids = s.scalar(select(func.count(UserGrid.id)).where(UserGrid.user_id == row.id))
    return {"姓名": row.name, "角色": ROLES.get(row.role, row.role), "部门": dep.name if dep else "无",
            "状态": "启用" if row.active else "停用", "网格": f"{grids} 个"}


def _changes(before: dict, after: dict) -> list[str]:
    return [f"{k} {before[k]} → {after[k]}" for k in before if before[k] != after[k]]


@bp.get("/admin/accounts")
@roles_required("admin")
def accounts():
    """The account log, newest first: one account's (?user=) or everyone's last 500 entries."""
    who = (request.args.get("user") or "").strip()[:40]
    q = select(AccountEvent).order_by(AccountEvent.id.desc()).limit(500)
    if who:
        q = q.where(AccountEvent.username == who)
    with _ctx().db.session() as s:
        rows = s.scalars(q).all()
        return render_template("ui/admin_accounts.html", title="账户记录", rows=rows, who=who,
                               labels=account_log.ACTIONS)


@bp.get("/admin/audit")
@roles_required("admin")
def audit():
    with _ctx().db.session() as s:
        rows = s.scalars(select(PhoneView).order_by(PhoneView.id.desc()).limit(500)).all()
        return render_template("ui/admin_audit.html", title="号码查看记录", rows=rows)
