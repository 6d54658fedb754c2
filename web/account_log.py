"""The account log (admin → 账户记录): sign-ins, failed attempts, lock-outs and every change made to
a staff account, appended in the same transaction as what it records."""
from __future__ import annotations

from flask import has_request_context, request
from flask_login import current_user

from web.models import AccountEvent

ACTIONS = {"login": "登录", "login_failed": "密码错误", "locked": "账户锁定", "password_changed": "本人修改密码",
           "created": "创建账户", "updated": "修改账户"}


def record(session, username: str, action: str, detail: str = "", actor: str | None = None) -> None:
    """actor: who did it; by default the signed-in person, else the account itself (a sign-in)."""
    ip = ""
    if has_request_context():
        ip = (request.remote_addr or "")[:64]
        if actor is None and current_user.is_authenticated:
            actor = current_user.username
    session.add(AccountEvent(username=username[:40], actor=(actor or username)[:40], action=action,
                             detail=detail, ip=ip))
