"""The consoles' shell: blueprint registration, the home redirect, template helpers and static files."""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, url_for
from flask_login import current_user

from web import access, present

bp = Blueprint("ui", __name__, template_folder="templates", static_folder="static",
               static_url_path="/ui-static")

NAV = [  # (endpoint, label, roles)
    ("operator.entry", "来电登记", {"operator"}),
    ("operator.triage", "人工分拣", {"operator", "dispatcher", "supervisor"}),
    ("operator.search", "查询", {"operator", "dispatcher", "verifier", "supervisor", "admin", "department"}),
    ("dept.queue", "本部门案卷", {"department"}),
    ("centre.todo", "指挥中心", {"dispatcher", "verifier", "supervisor", "admin"}),
    ("centre.dashboard", "统计", {"dispatcher", "verifier", "supervisor", "admin"}),
    ("centre.evaluation", "月度考评", {"supervisor", "admin", "dispatcher"}),
    ("admin.users", "系统管理", {"admin"}),
]


def _ctx():
    return current_app.extensions["gridline"]


@bp.get("/")
def home():
    from web.auth import home_for
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(url_for(home_for(current_user.role)))


def init_app(app, ctx) -> None:
    """Everything the consoles add to the app: sign-in, CSRF, blueprints, helpers, the audit hook."""
    from web import account, admin, auth, cases, centre, dept, operator, phone, public
    auth.init_app(app, ctx)
    app.before_request(account.require_new_password)   # after the idle time-out and CSRF checks
    for blueprint in (bp, auth.bp, account.bp, operator.bp, cases.bp, dept.bp, centre.bp, admin.bp, phone.bp,
                      public.bp):
        app.register_blueprint(blueprint)
    app.after_request(access.write_audit)

    @app.context_processor
    def _helpers():
        tz = ctx.config.timezone
        nav = [(e, label) for e, label, roles in NAV
               if current_user.is_authenticated and current_user.role in roles]
        return {
            "nav": nav, "phone": access.show_phone, "words": access.show_text, "status_label": present.status_label,
            "channel_label": present.channel_label, "message_status": present.message_status_label,
            "action_label": present.action_label, "local": lambda dt, fmt="%Y-%m-%d %H:%M": present.local(dt, tz, fmt),
            "light": lambda case: present.light(case, _ctx()), "demo_mode": phone.demo_mode(ctx),
        }
