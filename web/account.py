"""A staff member's own account: changing the password, which is required first when an admin or
`gridline create-user` set it (someone else knows that one)."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.security import check_password_hash

from web import account_log
from web.auth import UI_BLUEPRINTS, home_for, note_password_change, roles_required, set_password
from web.http import error_response
from web.models import User

bp = Blueprint("account", __name__)
# What a user who must choose a password can still reach: the page itself, signing out, styles.
OPEN_WHILE_FORCED = {"account.password", "auth.logout", "auth.login", "ui.static"}


@bp.route("/account/password", methods=["GET", "POST"])
@roles_required()
def password():
    error = ""
    if request.method == "POST":
        f = request.form
        current, new, again = f.get("current") or "", f.get("new") or "", f.get("again") or ""
        with current_app.extensions["gridline"].db.session() as s:
            user = s.get(User, current_user.id)
            if not check_password_hash(user.password_hash, current):
                error = "当前密码不正确"
            elif len(new) < 8:
                error = "新密码至少 8 位"
            elif new != again:
                error = "两次输入的新密码不一致"
            elif new == current:
                error = "新密码不能与当前密码相同"
            else:
                set_password(user, new, must_change=False)
                account_log.record(s, user.username, "password_changed")
                s.commit()
                note_password_change(current_app.extensions["gridline"], user, this_session=True)
                flash("密码已修改；此账户在其他地方的登录已失效")
                return redirect(url_for(home_for(current_user.role)))
    return render_template("ui/account_password.html", title="修改密码", error=error,
                           forced=current_user.must_change), (422 if error else 200)


def require_new_password():
    """Before anything else, a user whose password an admin or the CLI set chooses their own."""
    if not current_user.is_authenticated or not current_user.must_change:
        return None
    if request.endpoint in OPEN_WHILE_FORCED or request.headers.get("Authorization", "").startswith("Bearer "):
        return None
    if request.blueprint in UI_BLUEPRINTS and not request.is_json:
        flash("请先设置您自己的密码（当前密码由管理员设置）")
        return redirect(url_for("account.password"))
    return error_response(403, "password_change_required", "请先在“修改密码”页面设置您自己的密码")
