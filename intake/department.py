"""A department's own answer to a 新派遣 notice: 签收 (accept) from the target the notice went to.

The notice reaches a department by SMS to its phone and in its Telegram group (tickets.recipients);
whoever holds that phone or is in that group acts for the department. So a case is accepted only
from the phone or the group that routing_rules.yaml names for the case's own department (a street
office: the 属地街道办事处 entry), and only while it waits to be accepted. Handling, 退回 and 延期
need words and photos: they stay in the console and the API.
"""
from __future__ import annotations

from tickets.deadline import make_env
from tickets.lifecycle import IllegalTransition
from tickets.service import act, message_fields

NOT_THEIRS = {"sms": "本号码不是该案卷承办部门的电话，不能签收",
              "telegram": "本会话不是该案卷承办部门的会话，不能签收"}


def accept(ctx, session, case, channel: str, target: str, actor: str, note: str) -> str:
    """Accept `case` for its department when `target` (a phone, a chat id) is the department's own
    on `channel`. Returns '' when accepted, else why not (in Chinese, for the sender)."""
    entry = ctx.rules.department_or_office(case.department.name) if case is not None and case.department else None
    own = {"sms": entry.phone, "telegram": entry.telegram_chat} if entry is not None else {}
    if not own.get(channel) or str(own[channel]) != target:
        return NOT_THEIRS[channel]
    try:
        act(session, case, "accept", actor=actor[:60], role="department", note=note, templates=ctx.templates,
            tz=ctx.config.timezone, calendar=ctx.calendar, rules=ctx.rules)
    except IllegalTransition as exc:
        return f"案卷{case.number}：{exc}"
    return ""


def confirmation(ctx, case, who: str) -> str:
    """What the department reads once its 签收 is recorded: the case and its due time."""
    fields = message_fields(case, make_env(tz=ctx.config.timezone))
    return ctx.templates.render("department_accepted", who=who, **fields)
