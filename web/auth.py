"""Sign-in for staff: Flask-Login sessions, hashed passwords, lock-out, idle time-out, CSRF.

CSRF is checked on every form of the consoles and on any request authenticated by the session
cookie. Webhooks and bearer-token API calls carry no cookie, so a forged browser request cannot
ride on them; they keep their own checks (signatures, tokens).
"""
from __future__ import annotations

import logging
import secrets
import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from functools import wraps
from urllib.parse import urlsplit

from flask import (Blueprint, current_app, flash, redirect, render_template, request, session,
                   url_for)
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect
import redis
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from intake.service import DATABASE_DOWN
from store.db import utcnow
from tickets.models import Department
from web import account_log
from web.models import ROLES, User, UserGrid

log = logging.getLogger("gridline.auth")
bp = Blueprint("auth", __name__)
csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "请先登录"

MAX_FAILURES = 5                    # consecutive wrong passwords before the account locks
LOCK_MINUTES = 15
SESSION_MINUTES = 30                # idle time after which a session ends
REVOKED = "gridline:staff:revoked"  # Redis set of deactivated user ids
PASSWORDS = "gridline:staff:password_changed"  # Redis hash: user id → password_stamp of the last change
# The blueprints whose every POST is a console form (CSRF always checked there).
UI_BLUEPRINTS = {"auth", "ui", "account", "operator", "cases", "dept", "centre", "admin", "phone"}
# A hash to compare against when the user does not exist, so timing does not tell names apart.
_DUMMY_HASH = generate_password_hash(secrets.token_hex(8))


@dataclass
class Staff(UserMixin):
    """The signed-in person, detached from the database session that loaded it."""
    id: int
    username: str
    name: str
    role: str
    department_id: int | None
    department: str
    grids: list[str] = field(default_factory=list)
    must_change: bool = False          # an admin or the CLI gave the password: choose one first
    password_stamp: str = ""           # when the password last changed (password_stamp())

    @property
    def role_label(self) -> str:
        return ROLES.get(self.role, self.role)

    def has(self, *roles: str) -> bool:
        return self.role in roles


def _ctx():
    return current_app.extensions["gridline"]


@login_manager.user_loader
def _load(user_id: str):
    try:
        staff = _from_database(user_id)
    except DATABASE_DOWN:
        # The database went away mid-shift: the signed session cookie still says who this is, so an
        # operator's typed call can be kept (spooled) instead of lost behind a sign-in page.
        # Without a snapshot (or deactivated) the request is anonymous: the sign-in page, not a 500.
        kept = session.get("staff")
        if not kept or str(kept.get("id")) != user_id or cookie_refused(_ctx(), user_id, session.get("pw", "")):
            return None
        return Staff(**kept)
    if staff is not None and session.get("pw", "") != staff.password_stamp:
        staff = None   # the password changed since this session signed in: it ends here
    if staff is None:  # deactivated, removed or signed out: nothing left to fall back on in an outage
        session.pop("staff", None)
    elif session.get("staff") != _snapshot(staff):
        session["staff"] = _snapshot(staff)
    return staff


def cookie_refused(ctx, user_id, stamp: str) -> bool:
    """In an outage, may this session's cookie stand in for the database? Not for an account
    deactivated since, nor once its password changed after this session signed in (both noted in
    Redis as they happen). With Redis unreachable too nothing can be spooled, so the cookie may
    stand: the operator's form comes back with what was typed, saved nowhere."""
    if ctx.redis is None:
        return False
    try:
        pipe = ctx.redis.pipeline(transaction=False)
        pipe.sismember(REVOKED, str(user_id))
        pipe.hget(PASSWORDS, str(user_id))
        deactivated, changed = pipe.execute()
    except redis.RedisError:
        return False
    changed = changed.decode() if isinstance(changed, bytes) else changed
    return bool(deactivated) or (changed is not None and changed != stamp)


def note_password_change(ctx, user: User, this_session: bool = False) -> None:
    """After the commit of a new password: sessions signed in before it end, in an outage too;
    this_session (the owner's own request) goes on under the new one."""
    if this_session:
        session["pw"] = password_stamp(user)
        session.pop("staff", None)   # the snapshot is made afresh at the next request
    try:
        if ctx.redis is not None:
            ctx.redis.hset(PASSWORDS, str(user.id), password_stamp(user))
    except redis.RedisError as exc:  # the database is the record; this only guards outages
        log.warning("could not note in Redis that user %s changed password: %s", user.id, exc)


def set_revoked(ctx, user_id, is_revoked: bool) -> None:
    try:
        if ctx.redis is not None:
            (ctx.redis.sadd if is_revoked else ctx.redis.srem)(REVOKED, str(user_id))
    except redis.RedisError as exc:  # the database is the record; this only guards outages
        log.warning("could not note in Redis that user %s is %s: %s", user_id,
                    "deactivated" if is_revoked else "active", exc)


def _snapshot(staff: Staff) -> dict:
    # Without the grid assignments: they only filter pages that need the database anyway, and a
    # department's hundreds of cells would not fit in a cookie.
    return {k: v for k, v in asdict(staff).items() if k != "grids"}


def _from_database(user_id: str):
    with _ctx().db.session() as s:
        row = s.get(User, int(user_id)) if user_id.isdigit() else None
        if row is None or not row.active:
            return None
        dep = s.get(Department, row.department_id) if row.department_id else None
        grids = list(s.scalars(select(UserGrid.grid_code).where(UserGrid.user_id == row.id)))
        return Staff(row.id, row.username, row.name or row.username, row.role, row.department_id,
                     dep.name if dep else "", grids, row.must_change_password, password_stamp(row))


def password_stamp(user: User) -> str:
    """What a session keeps of its account's last password change, to end when it changes again."""
    return user.password_changed_at.isoformat() if user.password_changed_at else ""


def set_password(user: User, password: str, must_change: bool) -> None:
    """A new password; every session signed in under the old one ends at its next request."""
    if len(password) < 8:
        raise ValueError("密码至少 8 位")
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    user.must_change_password = must_change


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def check_login(session, username: str, password: str) -> tuple[User | None, str]:
    """The user when the password is right; else None and the reason to show. Counts failures."""
    user = session.scalar(select(User).where(User.username == username))
    now = utcnow()
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        if username:  # someone guessing names shows in the log too
            account_log.record(session, username, "login_failed", "没有此用户")
        return None, "用户名或密码错误"
    if user.locked_until and user.locked_until > now:
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        account_log.record(session, user.username, "login_failed", "账户锁定期间尝试登录")
        return None, f"连续输错密码次数过多，账户已锁定，请 {minutes} 分钟后再试或联系管理员"
    if not check_password_hash(user.password_hash, password):
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= MAX_FAILURES:
            user.locked_until = now + timedelta(minutes=LOCK_MINUTES)
            user.failed_logins = 0
            account_log.record(session, user.username, "locked", f"连续输错密码 {MAX_FAILURES} 次，锁定 {LOCK_MINUTES} 分钟")
            return None, f"连续输错密码 {MAX_FAILURES} 次，账户已锁定 {LOCK_MINUTES} 分钟"
        account_log.record(session, user.username, "login_failed", f"第 {user.failed_logins} 次")
        return None, f"用户名或密码错误（还可尝试 {MAX_FAILURES - user.failed_logins} 次）"
    if not user.active:
        account_log.record(session, user.username, "login_failed", "账户已停用")
        return None, "账户已停用，请联系管理员"
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    account_log.record(session, user.username, "login")
    return user, ""


def home_for(role: str) -> str:
    return {
        "operator": "operator.entry", "department": "dept.queue", "dispatcher": "centre.todo",
        "verifier": "centre.todo", "supervisor": "centre.dashboard", "admin": "admin.users",
    }.get(role, "auth.login")


def _safe_next(target: str | None) -> str | None:
    # Only paths on this site: an open redirect would hand a phished user to another host.
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for(home_for(current_user.role)))
    error = ""
    username = ""
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()[:40]
        password = request.form.get("password") or ""
        with _ctx().db.session() as s:
            user, error = check_login(s, username, password)
            s.commit()
            if user is not None:
                session.clear()  # a fresh session on sign-in: no fixation
                session.permanent = True
                session["pw"] = password_stamp(user)
                login_user(_load(str(user.id)))  # keeps the staff snapshot in the session too
                set_revoked(_ctx(), user.id, False)  # active again (the CLI can reactivate)
                session["seen"] = time.time()
                return redirect(_safe_next(request.args.get("next")) or url_for(home_for(user.role)))
    return render_template("ui/login.html", error=error, username=username), (401 if error else 200)


@bp.post("/logout")
def logout():
    logout_user()
    session.clear()
    flash("已退出登录")
    return redirect(url_for("auth.login"))


def roles_required(*roles: str):
    """Signed in, with one of these roles; else the sign-in page or a 403 page."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if roles and current_user.role not in roles:
                return render_template("ui/error.html", title="没有权限",
                                       message="您的角色不能使用这个页面。"), 403
            return view(*args, **kwargs)
        return wrapped
    return decorator


def _secret_key(ctx) -> str:
    """GRIDLINE_SECRET_KEY, else a key made once and kept in var/ (several nodes: set the variable)."""
    import os
    key = os.environ.get("GRIDLINE_SECRET_KEY")
    if key:
        return key
    path = ctx.config.var_dir / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _idle_timeout():
    if not current_user.is_authenticated:
        return None
    limit = current_app.config["GRIDLINE_SESSION_MINUTES"] * 60
    now = time.time()
    seen = session.get("seen", 0)
    if now - seen > limit:
        logout_user()
        session.clear()
        if request.blueprint in UI_BLUEPRINTS and request.method == "GET":
            flash("长时间未操作，已自动退出，请重新登录")
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return None  # the view's own check then answers 401/redirect
    session["seen"] = now
    return None


def _check_csrf():
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    bearer = request.headers.get("Authorization", "").startswith("Bearer ")
    if request.blueprint in UI_BLUEPRINTS or (current_user.is_authenticated and not bearer):
        csrf.protect()


def init_app(app, ctx) -> None:
    import os
    app.secret_key = _secret_key(ctx)
    minutes = float(os.environ.get("GRIDLINE_SESSION_MINUTES", SESSION_MINUTES))
    app.config.update(
        GRIDLINE_SESSION_MINUTES=minutes,
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=minutes),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool((ctx.config.public_url or "").startswith("https://")),
        WTF_CSRF_CHECK_DEFAULT=False,   # checked in _check_csrf, after the session user is known
        WTF_CSRF_TIME_LIMIT=None,       # the token lives as long as the session, which times out
    )
    csrf.init_app(app)
    login_manager.init_app(app)
    app.before_request(_idle_timeout)
    app.before_request(_check_csrf)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc):
        if request.accept_mimetypes.best == "application/json" or request.is_json:
            from web.http import error_response
            return error_response(400, "csrf", "缺少或无效的 CSRF 令牌，请刷新页面后重试")
        return render_template("ui/error.html", title="页面已过期",
                               message="表单缺少有效的安全令牌（CSRF），请刷新页面后重试。"), 400

    @app.context_processor
    def _globals():
        return {"current_user": current_user, "ROLES": ROLES}


def create_user(session, username: str, password: str, role: str, name: str = "",
                department: str | None = None, password_hash: str | None = None,
                must_change: bool = False) -> User:
    """Create or update a user (the CLI, the admin page and the demo loader use this).
    `password_hash`, when given, is hash_password(password) made once for many accounts that share
    it (the demo staff): each hash costs a deliberate ~0.3 s. must_change: the owner chooses their
    own password at the next sign-in."""
    if role not in ROLES:
        raise ValueError(f"未知角色 {role}：可选 {', '.join(ROLES)}")
    if len(password) < 8:
        raise ValueError("密码至少 8 位")
    dep_id = None
    if role == "department":
        if not department:
            raise ValueError("处置部门用户须指定部门")
        dep_id = session.scalar(select(Department.id).where(Department.name == department))
        if dep_id is None:
            raise ValueError(f"没有部门“{department}”")
    user = session.scalar(select(User).where(User.username == username)) or User(username=username)
    user.name, user.role, user.department_id = name or user.name or username, role, dep_id
    if password_hash:
        user.password_hash, user.must_change_password = password_hash, must_change
    else:
        set_password(user, password, must_change)
    user.active, user.failed_logins, user.locked_until = True, 0, None
    session.add(user)
    return user
