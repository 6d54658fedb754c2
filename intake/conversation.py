"""The conversation with one citizen on one channel: what is this message, given what we asked?

decide() reads the message and the explicit state we keep (intake.models.Conversation), never a
guess from old text: STOP/退订/TD and START first, then flood control, then a survey answer (only
while a survey we sent is open), a status query (查询 + case number, or 进度), a department's
签收/办结/退回/延期 + case number (from its own phone or chat: intake.department), an answer to our
ask-back (only while a report is held for its place), and otherwise a new report. Each wait has
an expiry; a held report whose wait expires goes to the operators' triage, never to a guessed cell.
The replies here are queued to the outbox on the message's channel (hotline callers get SMS).
"""
from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from intake import department
from intake.models import Conversation, InboundMessage
from notify import outbox
from tickets import clock
from tickets.lifecycle import STATUS_LABELS, IllegalTransition
from tickets.models import Case, CaseEvent, CaseReporter
from store.db import utcnow
from tickets.service import act

log = logging.getLogger("gridline.conversation")

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "TD", "退订", "取消订阅"})
OPT_IN = frozenset({"START", "UNSTOP", "订阅", "恢复订阅"})
HELP = frozenset({"HELP", "INFO", "帮助", "?"})
SCORES = {1: "满意", 2: "基本满意", 3: "不满意"}
_SURVEY = re.compile(r"([123])\s*(满意|基本满意|不满意)?|(满意|基本满意|不满意|非常满意)")
_CASE_NUMBER = department.CASE_NUMBER
_QUERY = re.compile(rf"(?:查询|查|进度|查进度|查询进度|进度查询)?\s*(?:案卷号?|案件号?|编号)?\s*:?\s*{_CASE_NUMBER}")
_QUERY_BARE = re.compile(r"(?:查询|进度|查进度|查询进度|进度查询|查询案卷|进展)\s*\??")
_TRAILING = " \t\r\n。.!！~～"
FLOOD_WINDOW = timedelta(minutes=1)
FLOOD_NOTICE_EVERY = timedelta(hours=1)   # one polite reply per flood, not one per message
FLOOD_COUNTS = "gridline.flood_counts"    # session.info: message id → flood_count, filled by a batch
REPLY_CHANNELS = frozenset({"sms", "telegram"})
_PHONE = re.compile(r"^\+?\d{5,20}$")


@dataclass
class Intent:
    kind: str            # optout, optin, flood, too_long, empty, voice, survey, query, department(_help), answer, help, report
    score: int | None = None
    number: str | None = None
    command: department.Command | None = None


def normalize(text: str) -> str:
    """Full-width digits and colons as typed on phones (１２３，：) become plain ones."""
    return unicodedata.normalize("NFKC", text or "").strip()


def survey_score(text: str) -> int | None:
    m = _SURVEY.fullmatch(normalize(text).strip(_TRAILING))
    if not m:
        return None
    if m.group(1):
        return int(m.group(1))
    return {"满意": 1, "非常满意": 1, "基本满意": 2, "不满意": 3}[m.group(3)]


def reply_channel(channel: str, sender: str) -> str | None:
    """Where a reply to this message goes: its own channel, SMS for a phone number, else nowhere."""
    channel = outbox.delivery_channel(channel)
    if channel in REPLY_CHANNELS:
        return channel
    return "sms" if _PHONE.match(sender or "") else None


def state(session, msg: InboundMessage) -> Conversation:
    conv = session.scalar(select(Conversation).where(Conversation.channel == msg.channel,
                                                     Conversation.sender == msg.sender))
    if conv is None:
        conv = Conversation(channel=msg.channel, sender=msg.sender)
        session.add(conv)
        # A second worker inserting the same row fails this batch; it is retried one by one
        # (process_messages), and then the row exists.
        session.flush()
    return conv


def _active(until: datetime | None, at: datetime) -> bool:
    return until is not None and at <= until


def decide(ctx, session, conv: Conversation, msg: InboundMessage) -> Intent:
    text = normalize(msg.text)
    key = text.strip(_TRAILING).upper()
    opt_type = str((msg.meta or {}).get("opt_out_type") or "").upper()  # Twilio Advanced Opt-Out
    if key in OPT_OUT or opt_type == "STOP":
        return Intent("optout")
    if key in OPT_IN or opt_type == "START":
        return Intent("optin")
    if flood_count(session, msg) > ctx.config.flood_per_minute:
        return Intent("flood")
    at = msg.received_at
    meta = msg.meta or {}
    if meta.get("too_long"):
        return Intent("too_long")
    if not text and meta.get("voice") and not meta.get("corrections"):
        return Intent("voice")          # a person listens to it; the machine cannot
    if not text and not (meta.get("photos") or meta.get("lat") is not None):
        return Intent("empty")
    score = survey_score(text)
    if score is not None and conv.survey_case_id and _active(conv.survey_until, at):
        return Intent("survey", score=score)
    m = _QUERY.fullmatch(key)
    if m:
        return Intent("query", number=f"{m.group(1)}-{m.group(2)}")
    if _QUERY_BARE.fullmatch(key):
        return Intent("query")
    command = department.parse(msg.text)
    if command:
        return Intent("department", number=command.number, command=command)
    if (department.looks_like_command(msg.text) or key in HELP) and \
            department.is_department_target(ctx.rules, msg.channel, msg.sender):
        return Intent("department_help")  # a department's words without the case number: not a report
    if conv.held_message_id and _active(conv.ask_until, at):
        return Intent("answer")
    if score is not None or key in HELP:
        return Intent("help")  # a lone "3" with no survey open is not a report
    return Intent("report")


def flood_count(session, msg: InboundMessage) -> int:
    """Messages from this sender in the minute up to this one, this one included."""
    counted = session.info.get(FLOOD_COUNTS)  # a batch counts all its messages in one query (intake.processing)
    if counted is not None and msg.id in counted:
        return counted[msg.id]
    return session.scalar(select(func.count(InboundMessage.id)).where(
        InboundMessage.channel == msg.channel, InboundMessage.sender == msg.sender,
        InboundMessage.id <= msg.id, InboundMessage.received_at > msg.received_at - FLOOD_WINDOW)) or 0


def reply(ctx, session, msg: InboundMessage, kind: str, text: str, case_id=None):
    """Queue a reply to this message (one per message and kind) on the channel it came from."""
    channel = reply_channel(msg.channel, msg.sender)
    if channel is None:
        return None
    return outbox.queue(session, msg.sender, text, kind, f"{kind}:{msg.id}", case_id, channel=channel,
                        sender=str((msg.meta or {}).get("to") or ""))


def handle(ctx, session, conv: Conversation, msg: InboundMessage, intent: Intent) -> None:
    """Everything that is not a report or an answer: opt-out/in, flood, survey, query, help."""
    msg.kind = intent.kind
    msg.status = "done"
    if intent.kind == "optout":
        _opt_out(ctx, session, conv, msg)
    elif intent.kind == "optin":
        outbox.set_opt_out(session, reply_channel(msg.channel, msg.sender) or msg.channel, msg.sender, False,
                           normalize(msg.text)[:20])
        reply(ctx, session, msg, "optin", ctx.templates.render("optin"))
        msg.reason = "市民恢复接收短信"
    elif intent.kind == "flood":
        msg.status = "flooded"
        msg.reason = f"1 分钟内消息超过 {ctx.config.flood_per_minute} 条：已保存，未作为新反映处理"
        if conv.flood_notice_at is None or conv.flood_notice_at < msg.received_at - FLOOD_NOTICE_EVERY:
            conv.flood_notice_at = msg.received_at
            reply(ctx, session, msg, "flood", ctx.templates.render("flood"))
    elif intent.kind == "empty":
        missing = "请求缺少 Body 字段" if (msg.meta or {}).get("body_missing") else "消息没有文字内容"
        msg.status, msg.reason = "triage", f"{missing}，已保存待人工查看"
    elif intent.kind == "voice":
        msg.status = "triage"
        msg.reason = "语音或视频留言，待话务员收听后分拣"
        reply(ctx, session, msg, "voice_received", ctx.templates.render("voice_received", message_id=msg.id))
    elif intent.kind == "too_long":
        msg.status = "triage"
        msg.reason = f"消息过长（{msg.meta['too_long']} 字），已完整保存，未自动处理，待人工查看"
    elif intent.kind == "survey":
        _survey(ctx, session, conv, msg, intent.score)
    elif intent.kind == "query":
        _status(ctx, session, msg, intent.number)
    elif intent.kind == "department":
        _department(ctx, session, msg, intent.command)
    elif intent.kind == "department_help":
        reply(ctx, session, msg, "department_help", ctx.templates.render("department_help"))
        msg.reason = "部门电话或会话的指令没有案卷号（或求助），已回复部门指令用法"
    elif intent.kind == "help":
        reply(ctx, session, msg, "help", ctx.templates.render("help"))
        msg.reason = "不是问题反映（无待评价案卷时的数字或求助），已回复使用说明"
    else:
        raise ValueError(f"handle() does not take {intent.kind!r}")


def _opt_out(ctx, session, conv: Conversation, msg: InboundMessage) -> None:
    channel = reply_channel(msg.channel, msg.sender) or msg.channel
    outbox.set_opt_out(session, channel, msg.sender, True, normalize(msg.text)[:20] or "STOP")
    reply(ctx, session, msg, "optout", ctx.templates.render("optout"))
    msg.reason = "市民退订：不再发送短信"
    conv.survey_case_id = conv.survey_until = None
    # A report held for its place can no longer be asked about: a person takes it now.
    release_held(ctx, session, conv, "市民已退订，无法追问地点，转人工分拣", notify=False)


# ---- ask-back ---------------------------------------------------------------------------------

def can_ask(ctx, session, msg: InboundMessage) -> bool:
    channels = {c.strip() for c in ctx.config.ask_back_channels.split(",") if c.strip()}
    channel = reply_channel(msg.channel, msg.sender)
    return (msg.channel in channels and channel is not None
            and not outbox.is_opted_out(session, channel, msg.sender))


def ask_where(ctx, session, conv: Conversation, msg: InboundMessage, reason: str) -> None:
    """Hold the report and ask once for the place (请回复具体地址…)."""
    until = msg.received_at + timedelta(minutes=ctx.config.ask_back_minutes)
    deadline = clock.to_local(until, ctx.config.timezone).strftime("%m月%d日%H:%M")
    conv.held_message_id, conv.ask_until = msg.id, until
    msg.status, msg.reason = "held", f"{reason}：已追问地点，等待市民回复（{deadline}前）"
    reply(ctx, session, msg, "askback", ctx.templates.render("askback", deadline=deadline))


def take_held(session, conv: Conversation) -> InboundMessage | None:
    """The held report this answer belongs to; the wait ends either way (we ask only once)."""
    held = session.get(InboundMessage, conv.held_message_id) if conv.held_message_id else None
    conv.held_message_id = conv.ask_until = None
    return held if held is not None and held.status == "held" else None


def release_held(ctx, session, conv: Conversation, reason: str, notify: bool = True) -> InboundMessage | None:
    """Send the held report to the operators' triage (time-out, opt-out)."""
    held = take_held(session, conv)
    if held is None:
        return None
    held.status, held.reason, held.processed_at = "triage", reason, utcnow()
    if notify:
        reply(ctx, session, held, "received", ctx.templates.render("received", message_id=held.id))
    return held


def expire_one(ctx, session, conv: Conversation) -> InboundMessage | None:
    until = clock.to_local(conv.ask_until, ctx.config.timezone).strftime("%m月%d日%H:%M")
    return release_held(ctx, session, conv, f"追问地点超时：{until}前市民未回复，转人工分拣")


def expire(ctx, session, now: datetime | None = None) -> int:
    """Held reports whose wait ran out go to triage (the caller commits). Safe to re-run."""
    now = now or utcnow()
    convs = session.scalars(select(Conversation).where(Conversation.ask_until.is_not(None),
                                                       Conversation.ask_until < now)
                            .with_for_update(skip_locked=True)).all()
    return sum(1 for conv in convs if expire_one(ctx, session, conv) is not None)


# ---- survey -----------------------------------------------------------------------------------

def expect_survey(ctx, session, channel: str, to: str, case_id: int) -> None:
    """The result SMS (which asks 1/2/3) went out: open the survey wait for this citizen."""
    conv = session.scalar(select(Conversation).where(Conversation.channel == channel, Conversation.sender == to))
    if conv is None:
        conv = Conversation(channel=channel, sender=to)
        session.add(conv)
    conv.survey_case_id = case_id
    conv.survey_until = utcnow() + timedelta(days=ctx.config.survey_days)


def _survey(ctx, session, conv: Conversation, msg: InboundMessage, score: int) -> None:
    case = session.get(Case, conv.survey_case_id)
    conv.survey_case_id = conv.survey_until = None   # one answer per survey
    if case is None:
        msg.status, msg.reason = "triage", "评价对应的案卷已不存在"
        return
    msg.case_id = case.id
    # The event carries the department, cell and due time in force, as every case event does
    # (statistics read events alone).
    session.add(CaseEvent(case_id=case.id, actor="citizen", action="survey", from_status=case.status,
                          to_status=case.status, note=f"市民评价：{score} {SCORES[score]}",
                          data={"score": score, "message_id": msg.id}, at=utcnow(),
                          department_id=case.department_id, grid_code=case.grid_code, due_at=case.due_at))
    msg.reason = f"回访评价 {score} {SCORES[score]}"
    if score != 3:
        reply(ctx, session, msg, "survey_thanks", ctx.templates.render("survey_thanks"), case.id)
        return
    try:
        act(session, case, "rework", actor="citizen", role="citizen", note="市民回访不满意，返工重办",
            templates=ctx.templates, tz=ctx.config.timezone)
    except (IllegalTransition, LookupError) as exc:
        log.warning("case %s could not be reopened as rework: %s", case.number, exc)
        msg.status, msg.reason = "triage", f"市民不满意，但案卷未能返工（{exc}），请人工处理"
        reply(ctx, session, msg, "survey_thanks", ctx.templates.render("survey_thanks"), case.id)
        return
    reply(ctx, session, msg, "survey_rework", ctx.templates.render("survey_rework", number=case.number), case.id)


# ---- a department's 签收, 办结, 退回, 延期 ------------------------------------------------------------

def _department(ctx, session, msg: InboundMessage, command: department.Command) -> None:
    """A department's command from its own phone or chat: carried out when the case is its own."""
    msg.kind = command.action           # accept, resolve, return, request_extension: the message log says which
    case = session.scalar(select(Case).where(Case.number == command.number))
    name = ""
    if msg.channel in ("sms", "telegram"):    # a hotline caller's number is typed, not proof of the phone
        actor, via, name = department.signed(msg.channel, msg.sender, msg.meta or {})
        why = department.carry_out(ctx, session, case, command, msg.channel, msg.sender, actor, via)
    else:
        why = department.NOT_THEIRS["sms"].format(action=command.label)
    if why:
        msg.reason = f"{command.label}案卷 {command.number}：{why}"
        reply(ctx, session, msg, department.REPLY_KINDS[command.action][1], department.refusal(ctx, command, why))
        return
    who = name or case.department.name
    msg.case_id, msg.reason = case.id, f"部门{'短信' if msg.channel == 'sms' else ' Telegram '}{command.label}案卷 {command.number}"
    reply(ctx, session, msg, department.REPLY_KINDS[command.action][0],
          department.confirmation(ctx, case, command, who), case.id)


# ---- status query -----------------------------------------------------------------------------

def _status(ctx, session, msg: InboundMessage, number: str | None) -> None:
    mine = select(CaseReporter.case_id).where(CaseReporter.phone == msg.sender)
    if number:
        case = session.scalar(select(Case).where(Case.number == number, Case.id.in_(mine)))
        if case is None:
            reply(ctx, session, msg, "status", ctx.templates.render("status_not_found", number=number))
            msg.reason = f"查询案卷 {number}：未找到或非本人反映"
            return
    else:
        case = session.scalar(select(Case).where(Case.id.in_(mine)).order_by(Case.id.desc()).limit(1))
        if case is None:
            reply(ctx, session, msg, "status", ctx.templates.render("status_none"))
            msg.reason = "查询进度：本号码没有案卷"
            return
    tz, t = ctx.config.timezone, ctx.templates
    if case.closed_at is not None and case.status == "closed":
        deadline = t.render("status_closed", closed=clock.to_local(case.closed_at, tz).strftime("%m月%d日%H:%M"))
    else:
        deadline = t.render("status_due", due=clock.to_local(case.due_at, tz).strftime("%m月%d日%H:%M"))
    text = t.render("status", number=case.number, status=STATUS_LABELS.get(case.status, case.status),
                    department=case.department.name, deadline=deadline)
    reply(ctx, session, msg, "status", text, case.id)
    msg.case_id, msg.reason = case.id, f"查询案卷 {case.number}"
