"""A department's own answers to a notice, from the target the notice went to: 签收, 办结, 退回, 延期.

The notices reach a department by SMS to its phone and in its Telegram group (tickets.recipients);
whoever holds that phone or is in that group acts for the department. So a department's text acts
on a case only from the phone or the group that routing_rules.yaml names for the case's own
department (a street office: the 属地街道办事处 entry), and only where the case's state allows it
(tickets.lifecycle). What a field worker can type on a phone:

    签收 20261122-000123                      accept the case
    办结 20261122-000123 井盖已更换            report it handled, with the result the citizen will read
    退回 20261122-000123 不属于本单位职责      send it back to the command centre, with the reason
    延期 20261122-000123 2工作日 等待配件      ask for more time (the centre approves it in the console)

The case number may be written without its dash or after 案卷号; in Telegram the same words follow
/accept, /done, /return or /extend, and a reply to our notice may leave the number out. A photo sent
with the words stays with the message; intake.media fetches it and the case page shows it among the
case's 处置照片.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from tickets import reply_check
from tickets.deadline import make_env
from tickets.lifecycle import IllegalTransition
from tickets.service import BadAction, act, message_fields

WORDS = {"签收": "accept", "办结": "resolve", "退回": "return", "延期": "request_extension"}
LABELS = {action: word for word, action in WORDS.items()}      # the department's own word, in replies
KINDS = frozenset(WORDS.values())   # InboundMessage.kind of a department's command (the message log)
COMMANDS = {"accept": "签收", "done": "办结", "return": "退回", "extend": "延期"}   # Telegram's /commands
CASE_NUMBER = r"(\d{8})-?(\d{6})"
_COMMAND = re.compile(rf"({'|'.join(WORDS)})\s*[:：]?\s*(?:案卷号?|案件号?)?\s*[:：]?\s*{CASE_NUMBER}(?:[\s,，:：;；]+(.*))?", re.S)
_EXTRA = re.compile(r"(\d+(?:\.\d+)?\s*(?:工作时|工作日|小时|天|分钟))\s*(.*)", re.S)
_TRAILING = " \t\r\n。.!！"
# Full-width digits and dashes as typed on phones, one character for one: the note stays as written.
_HALF_WIDTH = str.maketrans("０１２３４５６７８９－—", "0123456789--")
NOT_THEIRS = {"sms": "本号码不是该案卷承办部门的电话，不能{action}",
              "telegram": "本会话不是该案卷承办部门的会话，不能{action}"}
REPLIED = {"accept": "department_accepted", "resolve": "department_resolved", "return": "department_returned",
           "request_extension": "department_extension_requested"}    # the template of each confirmation
REPLY_KINDS = {"accept": ("accepted", "accept_refused"), "resolve": ("resolved", "resolve_refused"),
               "return": ("returned", "return_refused"), "request_extension": ("extension_asked", "extension_refused")}
USAGE = {"resolve": "办结须写明处理结果，例如：办结 {number} 井盖已更换",
         "return": "退回须写明理由，例如：退回 {number} 不属于本单位职责",
         "request_extension": "延期须写明时长和理由，例如：延期 {number} 2工作日 等待配件"}


def looks_like_command(text: str) -> bool:
    """Whether `text` starts with a command's word (a department that forgot the case number)."""
    return (text or "").lstrip().startswith(tuple(WORDS))


def is_department_target(rules, channel: str, sender: str) -> bool:
    """Whether `sender` is the phone or the chat routing_rules.yaml gives some department on `channel`."""
    field = {"sms": "phone", "telegram": "telegram_chat"}.get(channel)
    return field is not None and any(str(getattr(d, field) or "") == sender for d in rules.departments.values())


class Command(NamedTuple):
    action: str          # accept, resolve, return, request_extension
    number: str          # 20261122-000123
    note: str            # the result, the reason ('' for 签收)
    extra: str = ""      # 延期: the time asked for, e.g. 2工作日

    @property
    def label(self) -> str:
        return LABELS[self.action]


def parse(text: str) -> Command | None:
    """The department command in `text`, or None. The note keeps the department's punctuation."""
    m = _COMMAND.fullmatch((text or "").translate(_HALF_WIDTH).strip().rstrip(_TRAILING))
    if not m:
        return None
    action, number, rest = WORDS[m.group(1)], f"{m.group(2)}-{m.group(3)}", (m.group(4) or "").strip()
    if action == "request_extension":
        amount = _EXTRA.fullmatch(rest)
        return Command(action, number, amount.group(2).strip() if amount else rest,
                       amount.group(1).replace(" ", "") if amount else "")
    return Command(action, number, rest)


def command_text(name: str, arg: str, replied_to: str = "") -> str:
    """A Telegram /command (or plain words) as the text `parse` reads: /done 20261122-000123 已修复 →
    办结 20261122-000123 已修复. With no case number, the one in the notice it replies to is used."""
    word = COMMANDS.get(name, name)
    if not re.match(rf"[:：]?\s*(?:案卷号?|案件号?)?\s*[:：]?\s*{CASE_NUMBER}", arg):
        number = re.search(CASE_NUMBER, replied_to or "")
        if number:
            arg = f"{number.group(1)}-{number.group(2)} {arg}"
    return f"{word} {arg}".strip()


def carry_out(ctx, session, case, command: Command, channel: str, target: str, actor: str, via: str) -> str:
    """Carry out `command` on `case` for its department when `target` (a phone, a chat id) is the
    department's own on `channel`. Returns '' when done, else why not (in Chinese, for the sender)."""
    entry = ctx.rules.department_or_office(case.department.name) if case is not None and case.department else None
    own = {"sms": entry.phone, "telegram": entry.telegram_chat} if entry is not None else {}
    if not own.get(channel) or str(own[channel]) != target:
        return NOT_THEIRS.get(channel, NOT_THEIRS["sms"]).format(action=command.label)
    missing = not command.note or (command.action == "request_extension" and not command.extra)
    if command.action in USAGE and missing:
        return USAGE[command.action].format(number=case.number)
    # 签收 has no words of its own: its note says how it came. The others' note is the department's
    # own words (the result goes to the citizen as written); the actor says the phone or the chat.
    note = command.note if command.action != "accept" else via
    try:
        act(session, case, command.action, actor=actor[:60], role="department", note=note,
            templates=ctx.templates, tz=ctx.config.timezone, calendar=ctx.calendar, rules=ctx.rules,
            data={"extra": command.extra} if command.extra else None)
    except (IllegalTransition, BadAction) as exc:
        return f"案卷{case.number}：{exc}"
    return ""


def signed(channel: str, sender: str, meta: dict) -> tuple[str, str, str]:
    """Who acted, as the event records it: (actor, the 签收 note, the name the confirmation shows;
    '' for a phone, which the department holds as a whole). In a group the department is the chat
    and the actor the member who wrote or pressed (meta: user_id, username, name)."""
    if channel != "telegram":
        return f"sms:{sender}", "经短信签收", ""
    actor = f"telegram:{meta.get('username') or meta.get('user_id') or sender}"
    name = str(meta.get("name") or actor)[:40]
    return actor, f"经 Telegram 签收（{name}）", name


def confirmation(ctx, case, command: Command, who: str) -> str:
    """What the department reads once its command is recorded: the case, and what happens next."""
    fields = {**message_fields(case, make_env(tz=ctx.config.timezone)), "note": command.note, "extra": command.extra}
    text = ctx.templates.render(REPLIED[command.action], who=who, **fields)
    warnings = reply_check.noted(case) if command.action == "resolve" else []
    return text + (f"提示：{'；'.join(warnings)}。" if warnings else "")


def refusal(ctx, command: Command, reason: str) -> str:
    return ctx.templates.render("department_refused", number=command.number, action=command.label, reason=reason)
