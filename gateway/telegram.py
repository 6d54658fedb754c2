"""Telegram channel: POST /telegram/webhook, the Bot API's updates checked by the webhook secret.

Every update is stored before we answer 200, once per update_id (Telegram retries an update until
it gets a 2xx and holds back the ones behind it, so one bad update must never make us fail). What
is a report goes to the pipeline through intake.service.receive; commands, contacts and update
types we do not handle are stored for audit with their outcome, and any reply goes through the
outbox (channel "telegram", to = the chat id) so it is sent once, by the worker. With the database
down, what goes to the pipeline waits in Redis (intake.spool, outcome "spooled") and gets its 200;
the other updates answer 503 and Telegram sends them again.

    text                → a report, an answer to our question, a survey answer (the keyboard's
                          "3 不满意") or a status query: the conversation decides, from the text as sent
    location / venue    → meta lat/lon (and address): the pipeline places it in a grid cell directly
    photo               → meta photos ["telegram:<file_id>"], the caption is the text (a picture
                          sent as a file too)
    voice / audio /     → meta voice ["telegram:<file_id>"]: an operator listens to it (triage) and
    video (note)          types what was said
    contact             → the citizen's own phone number, remembered for the chat
    /start, /help       → welcome, with buttons to share location and phone
    /status <案卷号>     → stored as "查询<案卷号>": the conversation answers, as it does on SMS
    签收/办结/退回/延期   → a department's command (intake.department), in its group or chat: the words,
                          /accept /done /return /extend, or a reply to our notice without the number;
                          the conversation carries it out for the chat routing_rules.yaml names
    签收 button         → a department's chat accepts the new case under the notice (callback_query
                          "accept:<case id>"): only the chat routing_rules.yaml gives the case's
                          department, and only while the case waits to be accepted; the presser sees
                          the outcome (answerCallbackQuery in the webhook's answer), the chat a note
    anything else       → stored as ignored (edited messages, other callbacks, other group talk, stickers…)
"""
from __future__ import annotations

import hmac
import logging
import re
from typing import NamedTuple

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gateway.models import TelegramChat
from intake import department, queue, service
from intake.models import InboundMessage
from notify import outbox
from notify.telegram import ACCEPT_PREFIX
from store.db import utcnow
from tickets.models import Case
from web.http import BadRequest, error_response, json_body

log = logging.getLogger("gridline.telegram")
bp = Blueprint("telegram", __name__)
CHANNEL = "telegram"
MAX_BODY = 256 * 1024   # an update is a few kB; a long caption is 1 024 characters
MAX_TEXT = 2000          # what the pipeline reads; Telegram allows 4 096 characters
COMMAND = re.compile(r"^/([A-Za-z_]+)(?:@\w+)?(?:\s+(.*))?$", re.S)
# Update fields that are not a new private message: stored for audit, never processed.
OTHER_KINDS = ("edited_message", "channel_post", "edited_channel_post", "inline_query",
               "chosen_inline_result", "shipping_query", "pre_checkout_query", "poll", "poll_answer",
               "my_chat_member", "chat_member", "chat_join_request", "message_reaction", "business_message")

WELCOME = ("您好，这里是网格通（城市管理问题反映）。请直接发送文字描述问题和地点，例如“东四北大街18号井盖丢了”；"
           "也可以发送位置或照片。查询办理进度请发送 /status 案卷号。")
UNSUPPORTED = "暂不支持这种消息。请发送文字、语音、位置或照片；查询进度请发送 /status 案卷号。"
VOICE_KINDS = ("voice", "audio", "video_note", "video")     # listened to by an operator (triage)
CONTACT_SAVED = "已记录您的手机号 {phone}，办理结果也会在这里通知您。"
CONTACT_NOT_OWN = "请通过下方“提供手机号”按钮分享您本人的手机号。"
ACCEPT = re.compile(re.escape(ACCEPT_PREFIX) + r"(\d{1,18})")


class Reply(NamedTuple):
    """What we answer on the chat: an outbox row of this kind."""
    kind: str
    text: str
    case_id: int | None = None


def _ctx():
    return current_app.extensions["gridline"]


@bp.post("/telegram/webhook")
def webhook():
    ctx = _ctx()
    expected = ctx.config.telegram_webhook_secret
    if not expected:
        return error_response(403, "telegram_disabled", "Telegram 渠道未启用：未设置 TELEGRAM_WEBHOOK_SECRET")
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return error_response(403, "bad_secret", "X-Telegram-Bot-Api-Secret-Token 缺失或不正确")
    data = json_body(request, MAX_BODY)
    update_id = data.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise BadRequest(400, "missing_update_id", "更新缺少整数 update_id，无法识别")
    body = {"ok": True, "update_id": update_id, "outcome": handle_update(ctx, data)}
    press = data.get("callback_query")
    if isinstance(press, dict) and isinstance(press.get("id"), str):
        # A pressed button spins until answered; the webhook's answer may carry that one Bot API call.
        # Telegram passes the body's other fields to the method, which ignores what it does not know.
        reason = _stored_reason(ctx, update_id) if body["outcome"] != "duplicate" else ""
        body.update(method="answerCallbackQuery", callback_query_id=press["id"], text=reason[:200])
    return jsonify(body)


def handle_update(ctx, data: dict) -> str:
    """Store one update and queue its reply; returns what happened (received, command, ignored, duplicate…)."""
    from telegram import Update
    update_id = data["update_id"]
    try:
        update = Update.de_json(data, None)
    except Exception as exc:  # fields of the wrong shape: keep the body, do not make Telegram retry it
        log.warning("update %s unreadable: %s", update_id, exc)
        return _record(ctx, update_id, "unknown", "", {"raw": data}, "ignored", f"无法解析的更新：{exc}"[:500])
    if update.callback_query is not None:
        return _press(ctx, update_id, update.callback_query)
    msg = update.message
    if msg is None:
        kind = next((k for k in OTHER_KINDS if data.get(k) is not None), None) or \
            next((k for k in data if k != "update_id"), "empty")
        sender = str(update.effective_chat.id) if update.effective_chat else "unknown"
        return _record(ctx, update_id, sender, "", {"update_type": kind, "raw": data}, "ignored",
                       f"不处理的更新类型：{kind}")
    sender = str(msg.chat.id)
    meta = _meta(update_id, msg)
    if msg.chat.type != "private":      # a group: only a department's command, the rest is its own talk
        words = _department_words(msg)
        if words:
            meta["text_as_sent"] = msg.text or msg.caption
            _photo(msg, meta)           # kept with the message: the result's photo, for the log
            return _to_pipeline(ctx, update_id, sender, words, meta)
        return _record(ctx, update_id, sender, msg.text or "", meta, "ignored", f"只处理私聊（{msg.chat.type}）")
    phone = _remembered_phone(ctx, msg.chat.id)
    if phone:
        meta["phone"] = phone
    if msg.contact:
        return _contact(ctx, update_id, msg, meta)
    text = (msg.text or msg.caption or "").strip()
    command = COMMAND.match(text) if msg.text else None
    if command:
        return _command(ctx, update_id, sender, text, meta, command.group(1).lower(), (command.group(2) or "").strip())
    if msg.location:
        meta.update(lat=msg.location.latitude, lon=msg.location.longitude)
        if msg.venue:
            meta["address"] = " ".join(x for x in (msg.venue.title, msg.venue.address) if x)[:200]
    _photo(msg, meta)
    _voice(msg, meta)
    if not (text or msg.location or meta.get("photos") or meta.get("voice")):
        kind = next((k for k in ("sticker", "document", "animation", "poll", "dice") if getattr(msg, k, None)), "other")
        meta["message_type"] = kind
        return _record(ctx, update_id, sender, "", meta, "ignored", f"不支持的消息类型：{kind}",
                       Reply("unsupported", UNSUPPORTED))
    if len(text) > MAX_TEXT:  # kept whole; the conversation sends it to a person instead of guessing
        meta["too_long"] = len(text)
    words = "" if department.parse(text) else _department_words(msg)   # a private department chat's
    if words:                                                            # reply to a notice, no number
        meta["text_as_sent"], text = text, words
    return _to_pipeline(ctx, update_id, sender, text, meta)


def _photo(msg, meta: dict) -> None:
    """The largest size of a photo, as meta photos ["telegram:<file_id>"]; a picture sent "as a
    file" (uncompressed, a document with an image type) is a photo too."""
    if msg.photo:
        largest = max(msg.photo, key=lambda p: (p.width or 0) * (p.height or 0))
        meta["photos"] = [f"telegram:{largest.file_id}"]
    elif _image_document(msg):
        meta["photos"] = [f"telegram:{msg.document.file_id}"]


def _voice(msg, meta: dict) -> None:
    """A voice message, a sound file or a video (note) is kept for an operator to listen to, as
    meta voice ["telegram:<file_id>"] and its message_type (intake.conversation sends it to triage)."""
    kind = next((k for k in VOICE_KINDS if getattr(msg, k, None)), None)
    if kind:
        meta["voice"], meta["message_type"] = [f"telegram:{getattr(msg, kind).file_id}"], kind


def _image_document(msg) -> bool:
    return bool(msg.document and (msg.document.mime_type or "").startswith("image/"))


def _to_pipeline(ctx, update_id: int, sender: str, text: str, meta: dict) -> str:
    """Store the update for the worker: received, duplicate, or spooled (the database is down and
    it waits in Redis; Telegram gets its 200 all the same and the sweeper stores it later)."""
    try:
        _, created = service.receive(ctx, CHANNEL, str(update_id), sender, text, meta)
    except service.Spooled:
        return "spooled"
    return "received" if created else "duplicate"


def _meta(update_id: int, msg) -> dict:
    user = msg.from_user
    meta = {"update_id": update_id, "message_id": msg.message_id, "chat_id": msg.chat.id,
            "date": msg.date.isoformat() if msg.date else None}
    if user:
        meta.update(user_id=user.id, name=user.full_name[:100], username=user.username or "",
                    language=user.language_code or "")
    return meta


def _remembered_phone(ctx, chat_id: int) -> str:
    try:
        with ctx.db.session() as s:
            return s.scalar(select(TelegramChat.phone).where(TelegramChat.chat_id == chat_id)) or ""
    except service.DATABASE_DOWN:  # only a note in meta: the report itself can still be spooled
        return ""


def _contact(ctx, update_id: int, msg, meta: dict) -> str:
    contact = msg.contact
    own = msg.from_user is not None and contact.user_id == msg.from_user.id
    phone = re.sub(r"[\s()-]", "", contact.phone_number or "")
    if phone and not phone.startswith("+"):
        phone = "+" + phone  # Telegram sends international numbers, sometimes without the plus
    meta["contact"] = {"phone": phone, "user_id": contact.user_id, "own": own}
    if not own or not re.fullmatch(r"\+\d{5,20}", phone):
        return _record(ctx, update_id, str(msg.chat.id), "", meta, "ignored", "不是本人的手机号",
                       Reply("contact_rejected", CONTACT_NOT_OWN))
    masked = phone[:-8] + "****" + phone[-4:] if len(phone) > 8 else phone

    def remember(s):
        row = s.get(TelegramChat, msg.chat.id) or TelegramChat(chat_id=msg.chat.id)
        row.phone, row.updated_at = phone, utcnow()
        row.name = (msg.from_user.full_name or "")[:100]
        row.username = (msg.from_user.username or "")[:64]
        s.add(row)

    return _record(ctx, update_id, str(msg.chat.id), "", meta, "done", "已记录手机号",
                   Reply("contact_saved", CONTACT_SAVED.format(phone=masked)), also=remember)


def _command(ctx, update_id: int, sender: str, text: str, meta: dict, name: str, arg: str) -> str:
    meta["command"] = name
    if name in ("start", "help"):
        return _record(ctx, update_id, sender, text, meta, "done", f"命令 /{name}",
                       Reply("telegram_welcome", _template(ctx, "telegram_welcome", WELCOME)))
    if name == "status":  # the conversation answers status queries for every channel: ask it in its words
        meta["text_as_sent"] = text
        return _to_pipeline(ctx, update_id, sender, f"查询{arg}", meta)
    if name in department.COMMANDS:     # /done 20261122-000123 已修复: the department's words, as on SMS
        meta["text_as_sent"] = text
        return _to_pipeline(ctx, update_id, sender, department.command_text(name, arg), meta)
    return _record(ctx, update_id, sender, text, meta, "ignored", f"未知命令 /{name}", Reply("unsupported", UNSUPPORTED))


def _department_words(msg) -> str:
    """A group message that is a department's command, as the text the conversation reads ('' if
    it is not one). A bot in a group sees only /commands and replies to its own messages (Telegram's
    privacy mode), so a reply to our notice may leave out the case number: the notice has it."""
    text = (msg.text or msg.caption or "").strip()
    replied = msg.reply_to_message
    replied = (replied.text or replied.caption or "") if replied else ""
    command = COMMAND.match(text)
    if command:
        name, arg = command.group(1).lower(), (command.group(2) or "").strip()
    else:
        name = next((w for w in department.WORDS if text.startswith(w)), "")
        arg = text[len(name):].strip()
    if name not in department.COMMANDS and name not in department.WORDS:
        return ""
    words = department.command_text(name, arg, replied)
    return words if department.parse(words) else ""


def _press(ctx, update_id: int, press) -> str:
    """A button under one of our messages. 签收: the department accepts the case in its own chat; the
    group's members are the department's staff (the city adds them), so the chat is who may press."""
    chat = str(press.message.chat.id) if press.message else ""   # no chat: a message sent inline
    user = press.from_user
    who = (user.full_name or user.username or str(user.id))[:40]
    meta = {"update_type": "callback_query", "chat_id": chat, "user_id": user.id, "name": who,
            "username": user.username or "", "data": (press.data or "")[:64]}
    wanted = ACCEPT.fullmatch(press.data or "")
    if not wanted:
        return _record(ctx, update_id, chat or "unknown", "", meta, "ignored", "不支持的按钮")

    def accept(s):
        case = s.get(Case, int(wanted.group(1)))
        command = department.Command("accept", case.number if case is not None else "", "")
        actor, via, _ = department.signed(CHANNEL, chat, meta)
        why = department.carry_out(ctx, s, case, command, CHANNEL, chat, actor, via)
        if why:
            return "ignored", why, None
        return "done", f"已签收案卷{case.number}", Reply("accepted", department.confirmation(ctx, case, command, who),
                                                      case.id)

    return _record(ctx, update_id, chat or "unknown", "", meta, "ignored", "", also=accept)


def _stored_reason(ctx, update_id: int) -> str:
    with ctx.db.session() as s:
        return s.scalar(select(InboundMessage.reason).where(InboundMessage.channel == CHANNEL,
                                                            InboundMessage.external_id == str(update_id))) or ""


def _template(ctx, name: str, default: str, **fields) -> str:
    """The city's wording from the templates file when it has one, else ours."""
    try:
        return ctx.templates.render(name, **fields)
    except (KeyError, IndexError):
        return default.format(**fields)


def _record(ctx, update_id: int, sender: str, text: str, meta: dict, status: str, reason: str,
            reply: Reply | None = None, also=None) -> str:
    """Store an update that does not go to the pipeline, with its reply, in one transaction.
    `also(s)` does the update's own work in that transaction; it may return what came of it
    (status, reason, reply) in place of the given ones."""
    with ctx.db.session() as s:
        if s.scalar(select(InboundMessage.id).where(InboundMessage.channel == CHANNEL,
                                                    InboundMessage.external_id == str(update_id))):
            return "duplicate"
        if also:
            status, reason, reply = also(s) or (status, reason, reply)
        s.add(InboundMessage(channel=CHANNEL, external_id=str(update_id), sender=sender[:64], text=text,
                             meta=meta, status=status, reason=reason, processed_at=utcnow(),
                             case_id=reply.case_id if reply else None))
        if reply:
            outbox.queue(s, sender, reply.text, reply.kind, f"telegram:{update_id}:{reply.kind}", reply.case_id,
                         channel=CHANNEL)
        try:
            s.commit()
        except IntegrityError:  # a retry of this update won the race: it is stored once
            s.rollback()
            return "duplicate"
    if reply:
        queue.kick(ctx, queue.NOTIFY)
    return "command" if meta.get("command") and status == "done" else status
