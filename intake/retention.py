"""Forgetting who wrote: the messages of long-finished cases (tickets.retention), and messages that
never became a case (a status query, a survey answer, an old triage item) once they are that old.

A message keeps its channel, time, status, kind, case and photos (the problem's evidence); it
loses the sender (a pseudonym), the numbers written in its words, the provider's fields about the
person (Twilio's From and caller city, Telegram's name, user id and chat id, Open311's e-mail and
name) and its voice recording, which is the citizen's own voice: the operator's transcript stays.
The citizen's conversation state goes too, unless it still waits for an answer.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from intake import media
from intake.models import Conversation, InboundMessage
from notify.models import OutboundMessage
from tickets import pii, retention

PERSONAL_META = ("twilio", "phone", "contact", "name", "username", "user_id", "language", "chat_id", "email",
                 "first_name", "last_name", "device_id", "account_id", "date")
WORDS_META = ("text_as_sent",)


def forget_cases(ctx, session, case_ids: list[int], key: bytes, addresses: set[str], files: list) -> dict:
    """One chunk of due cases (tickets.retention.due_cases), their messages with them."""
    counts = retention.forget_cases(session, case_ids, key, addresses)
    counts["messages"] = _forget_messages(ctx, session, select(InboundMessage).where(InboundMessage.case_id.in_(case_ids)),
                                          key, addresses, files)
    return counts


def forget_loose(ctx, session, cutoff: datetime, key: bytes, now: datetime, addresses: set[str], files: list) -> dict:
    """Messages before `cutoff` that never became a case, what we sent that belongs to no case, and
    the conversations of everyone forgotten (after the cases, so `addresses` has them all)."""
    counts = {"messages": _forget_messages(ctx, session, select(InboundMessage).where(
        InboundMessage.case_id.is_(None), InboundMessage.received_at < cutoff,
        InboundMessage.status.not_in(("received", "held"))), key, addresses, files)}
    counts["outbox"] = retention.forget_outbox(
        session, select(OutboundMessage).where(OutboundMessage.case_id.is_(None), OutboundMessage.created_at < cutoff),
        key, addresses)
    counts["conversations"] = 0
    for part in retention.chunks(addresses):
        for conv in session.scalars(select(Conversation).where(Conversation.sender.in_(part))):
            waiting = (conv.ask_until and conv.ask_until > now) or (conv.survey_until and conv.survey_until > now)
            if not waiting:
                session.delete(conv)
                counts["conversations"] += 1
    return counts


def _forget_messages(ctx, session, query, key: bytes, addresses: set[str], files: list) -> int:
    n = 0
    for msg in session.scalars(query):
        if msg.sender.startswith(retention.PREFIX):
            continue
        meta = dict(msg.meta or {})
        addresses.add(msg.sender)
        addresses.update(pii.numbers(msg.text))
        if meta.get("chat_id") is not None:
            addresses.add(str(meta["chat_id"]))
        for ref in meta.get("voice") or []:
            found = media.kept(ctx, ref, "voice")
            if found:
                files.append(found[0])
        if meta.get("voice"):
            meta["voice_removed"], meta["voice"] = len(meta["voice"]), []
        for k in WORDS_META:
            if isinstance(meta.get(k), str):
                meta[k] = pii.redact(meta[k])
        if isinstance(meta.get("answer"), dict):
            meta["answer"] = {**meta["answer"], "text": pii.redact(meta["answer"].get("text"))}
        msg.meta = {k: v for k, v in meta.items() if k not in PERSONAL_META}
        msg.sender, msg.text = retention.pseudonym(key, msg.sender), pii.redact(msg.text)
        n += 1
    return n
