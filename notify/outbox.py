"""Queue outbound messages and deliver them; each purpose (dedupe_key) is sent at most once.

A row's life: pending → sending (claimed, committed) → the provider's status (queued, sent, then
delivered / undelivered / failed from its callbacks). A transient error (5xx, 429, network) puts
the row back as pending with a retry time; a permanent one (21211 bad number) fails it at once with
the reason; a row too old to be useful, or for a citizen who opted out, is dropped with the reason.
A row left in 'sending' by a crash is never resent (the provider may have it): never twice.
"""
from __future__ import annotations

import logging
import random
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from notify.models import DeliveryReceipt, OptOut, OutboundMessage
from store.db import utcnow

log = logging.getLogger("gridline.outbox")

# A hotline caller is answered by SMS on the number they called from.
DELIVERED_AS = {"hotline": "sms"}
# Sent even to a citizen who has just opted out: the confirmation that they did.
OPT_OUT_EXEMPT = frozenset({"optout"})
# Provider statuses in the order they happen; a late callback never moves a row backwards.
STATUS_RANK = {"pending": 0, "sending": 0, "accepted": 1, "scheduled": 1, "queued": 1, "sent": 3,
               "delivered": 4, "undelivered": 4, "failed": 4, "read": 5, "canceled": 4}
# How long a message stays worth sending, by kind; the rest use "*".
DEFAULT_MAX_AGE = {"ack": "24h", "received": "24h", "voice_received": "24h", "askback": "2h", "status": "1h",
                   "help": "1h", "flood": "1h", "survey_thanks": "24h", "optout": "24h", "optin": "24h",
                   "result": "7d", "*": "48h"}
# Twilio's delivery error codes, said so that an operator understands them.
DELIVERY_ERRORS = {"30003": "手机无法接通或已停机", "30004": "对方拒收", "30005": "号码不存在",
                   "30006": "固定电话或无法接收短信的号码", "30007": "被运营商拦截", "30008": "未知的投递错误"}
MAX_WAIT = 2.0              # seconds a send may wait for its number's rate before the row is put back
STUCK_AFTER = timedelta(minutes=10)
_KNOWN_KEYS = "gridline.outbox_keys"  # session.info: dedupe key → its row (None: free), see expect_keys


class SendError(Exception):
    """A provider refused or failed a send. Transient ones are retried later, the rest fail at once."""

    def __init__(self, message: str, transient: bool, code: str = "", retry_after: float | None = None,
                 opted_out: bool = False):
        super().__init__(message)
        self.transient, self.code, self.retry_after, self.opted_out = transient, code, retry_after, opted_out


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")


def parse_duration(text: str) -> timedelta:
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"时长格式应为 数字+s/m/h/d（如 24h），而不是 {text!r}")
    return timedelta(seconds=float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)])


def parse_max_age(spec: str) -> dict[str, timedelta]:
    """'ack=24h,status=30m' on top of DEFAULT_MAX_AGE; a bad entry is a clear error at start-up."""
    ages = dict(DEFAULT_MAX_AGE)
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        kind, sep, value = part.partition("=")
        if not sep or not kind.strip():
            raise ValueError(f"GRIDLINE_OUTBOX_MAX_AGE 的条目应为 kind=时长，而不是 {part.strip()!r}")
        ages[kind.strip()] = value.strip()
    return {kind: parse_duration(value) for kind, value in ages.items()}


@dataclass
class Policy:
    max_age: dict[str, timedelta] = field(default_factory=lambda: parse_max_age(""))
    retry_seconds: float = 30.0      # the first retry; doubles each time, capped at an hour
    max_attempts: int = 6

    @classmethod
    def from_config(cls, config) -> "Policy":
        return cls(parse_max_age(config.outbox_max_age), config.send_retry_seconds, config.send_max_attempts)

    def age_limit(self, kind: str) -> timedelta:
        return self.max_age.get(kind, self.max_age["*"])

    def backoff(self, attempts: int) -> float:
        delay = min(3600.0, self.retry_seconds * 2 ** max(0, attempts - 1))
        return delay * random.uniform(0.9, 1.1)  # spread retries of a burst apart


def delivery_channel(channel: str) -> str:
    return DELIVERED_AS.get(channel, channel)


def queue(session, to: str, text: str, kind: str, dedupe_key: str, case_id=None, channel="sms",
          sender: str = "") -> OutboundMessage:
    """The row for this purpose: a new pending one, or the existing one (never a second)."""
    known = session.info.get(_KNOWN_KEYS)
    if known is not None and dedupe_key in known:
        existing = known[dedupe_key]  # None: looked up by expect_keys and free
    else:
        existing = session.scalar(select(OutboundMessage).where(OutboundMessage.dedupe_key == dedupe_key))
    if existing is not None:
        return existing
    msg = OutboundMessage(channel=delivery_channel(channel), to=to, text=text, kind=kind, dedupe_key=dedupe_key,
                          case_id=case_id, sender=sender or "")
    session.add(msg)
    if known is not None:
        known[dedupe_key] = msg
    return msg


def expect_keys(session, keys) -> None:
    """A batch about to queue under these keys looks them all up at once, and queue() then looks
    up only the others. The session remembers what it queued, so a second queue() of a key it has
    not written yet still finds the first row (the batch writes at its end, without autoflush)."""
    keys = list(keys)
    known = session.info.setdefault(_KNOWN_KEYS, {})
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        rows = {m.dedupe_key: m for m in session.scalars(select(OutboundMessage)
                                                          .where(OutboundMessage.dedupe_key.in_(chunk)))}
        for key in chunk:
            known.setdefault(key, rows.get(key))


def claim(session, limit: int = 50, channels=None, now: datetime | None = None) -> list[int]:
    """Mark due pending rows as sending (committed) so no other worker sends them too."""
    now = now or utcnow()
    q = (select(OutboundMessage.id)
         .where(OutboundMessage.status == "pending",
                or_(OutboundMessage.next_attempt_at.is_(None), OutboundMessage.next_attempt_at <= now))
         .order_by(OutboundMessage.id).limit(limit).with_for_update(skip_locked=True))
    if channels is not None:
        q = q.where(OutboundMessage.channel.in_(list(channels)))
    ids = list(session.scalars(q))
    if ids:
        session.execute(update(OutboundMessage).where(OutboundMessage.id.in_(ids),
                                                      OutboundMessage.status == "pending")
                        .values(status="sending", attempts=OutboundMessage.attempts + 1, status_at=now))
    session.commit()
    return ids


def is_opted_out(session, channel: str, address: str) -> bool:
    return bool(session.scalar(select(OptOut.opted_out).where(OptOut.channel == delivery_channel(channel),
                                                              OptOut.address == address)))


def set_opt_out(session, channel: str, address: str, opted_out: bool, keyword: str = "") -> None:
    channel = delivery_channel(channel)
    row = session.scalar(select(OptOut).where(OptOut.channel == channel, OptOut.address == address))
    if row is None:
        row = OptOut(channel=channel, address=address)
        session.add(row)
    row.opted_out, row.keyword, row.changed_at = opted_out, keyword[:20], utcnow()


class _OptOuts:
    """Who among a batch's recipients opted out: one query for the batch instead of one a message,
    read again once it is a second old (a STOP that comes in while a batch is sending still counts)."""
    FRESH = 1.0

    def __init__(self, session, msgs: list[OutboundMessage]):
        self.session, self.msgs, self.read_at, self.out = session, msgs, None, set()

    def __contains__(self, msg: OutboundMessage) -> bool:
        if self.read_at is None or time.monotonic() - self.read_at > self.FRESH:
            addresses = {m.to for m in self.msgs}
            self.out = set()
            for i in range(0, len(addresses), 500):
                chunk = sorted(addresses)[i:i + 500]
                self.out |= {tuple(row) for row in self.session.execute(select(OptOut.channel, OptOut.address)
                                                                        .where(OptOut.opted_out.is_(True),
                                                                               OptOut.address.in_(chunk)))}
            self.read_at = time.monotonic()
        return (delivery_channel(msg.channel), msg.to) in self.out


def _drop_reason(msg: OutboundMessage, policy: Policy, now: datetime, opted_out: _OptOuts) -> str:
    limit = policy.age_limit(msg.kind)
    if now - msg.created_at > limit:
        return f"已过时效：{msg.kind} 类消息超过 {_human(limit)} 未能发出，不再发送"
    if msg.kind not in OPT_OUT_EXEMPT and msg in opted_out:
        return "市民已退订，不再发送"
    return ""


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("天", 86400), ("小时", 3600), ("分钟", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} 秒"


def deliver(session, ids: list[int], backends: dict, policy: Policy | None = None, limiter=None,
            on_sent=None) -> int:
    """Send claimed rows through the backend of their channel; returns how many were sent.

    on_sent(session, msg) runs before the row's commit (the conversation opens its survey wait).
    """
    policy = policy or Policy()
    sent: list[OutboundMessage] = []
    msgs = session.scalars(select(OutboundMessage).where(OutboundMessage.id.in_(ids))
                           .order_by(OutboundMessage.id)).all()
    opted_out = _OptOuts(session, msgs)
    for msg in msgs:
        if msg.status != "sending":
            continue
        backend = backends.get(msg.channel)
        now = utcnow()
        if backend is None:  # no backend for this channel in this process: leave it for one that has
            msg.status, msg.attempts = "pending", msg.attempts - 1
            session.commit()
            continue
        reason = _drop_reason(msg, policy, now, opted_out)
        if reason:
            msg.status, msg.error, msg.status_at = "dropped", reason, now
            session.commit()
            continue
        sender = backend.sender_for(msg) if hasattr(backend, "sender_for") else ""
        rate = getattr(backend, "rate", None)
        if limiter is not None and rate:
            wait = limiter.reserve(f"{backend.name}:{sender}", segments(msg.text) / rate, MAX_WAIT)
            if wait > MAX_WAIT:  # the number is busy: come back when it is free, not counted as a try
                msg.status, msg.attempts = "pending", msg.attempts - 1
                msg.next_attempt_at = now + timedelta(seconds=wait)
                session.commit()
                continue
            if wait > 0:
                time.sleep(wait)
        try:
            provider_id, status = backend.send(msg)
        except Exception as exc:  # a provider error is recorded on the row, never raised past it
            _failed(session, msg, exc, policy)
            session.commit()
            continue
        msg.provider_id, msg.status, msg.sender = provider_id, status or "sent", sender or msg.sender
        msg.backend, msg.sent_at, msg.status_at, msg.next_attempt_at = backend.name, utcnow(), utcnow(), None
        msg.error = msg.error_code = ""
        if on_sent is not None:
            on_sent(session, msg)
        session.commit()  # each send recorded as soon as it is made: a crash never resends it
        sent.append(msg)
    _apply_early_receipts(session, sent)
    return len(sent)


def _failed(session, msg: OutboundMessage, exc: Exception, policy: Policy) -> None:
    transient = getattr(exc, "transient", True)  # an unexpected error: try again, a few times
    msg.error, msg.error_code = str(exc)[:500], str(getattr(exc, "code", "") or "")[:16]
    msg.status_at = utcnow()
    if getattr(exc, "opted_out", False):
        set_opt_out(session, msg.channel, msg.to, True, "provider")
    if transient and msg.attempts < policy.max_attempts:
        delay = getattr(exc, "retry_after", None) or policy.backoff(msg.attempts)
        msg.status, msg.next_attempt_at = "pending", utcnow() + timedelta(seconds=delay)
        log.warning("sending outbound %s failed (try %d), retry in %.0f s: %s", msg.id, msg.attempts, delay, exc)
        return
    msg.status, msg.next_attempt_at = "failed", None
    if transient:
        msg.error = f"重试 {msg.attempts} 次仍失败：{msg.error}"[:500]
    log.warning("sending outbound %s failed for good: %s", msg.id, msg.error)


def record_receipt(session, backend: str, provider_id: str, status: str, error_code: str = "",
                   fields: dict | None = None) -> OutboundMessage | None:
    """A status callback: kept as it came (once), then applied to its row if the row is known yet.

    Commits: the receipt is stored even when the row is not (its send has not committed yet;
    deliver() applies stored receipts when it records the provider id).
    """
    exists = session.scalar(select(DeliveryReceipt.id).where(DeliveryReceipt.backend == backend,
                                                             DeliveryReceipt.provider_id == provider_id,
                                                             DeliveryReceipt.status == status))
    if exists is None:
        session.add(DeliveryReceipt(backend=backend, provider_id=provider_id, status=status,
                                    error_code=error_code or "", fields=fields or {}))
        try:
            session.commit()
        except IntegrityError:  # the provider's retry raced us: the first copy is the receipt
            session.rollback()
    msg = session.scalar(select(OutboundMessage).where(OutboundMessage.backend == backend,
                                                       OutboundMessage.provider_id == provider_id))
    if msg is not None:
        _apply_receipts(session, msg)
        session.commit()
    return msg


def _apply_early_receipts(session, sent: list[OutboundMessage]) -> None:
    """Receipts that came before their row had its provider id (the callback beat our commit),
    for a whole batch of sends in one query; a later receipt finds its row (record_receipt)."""
    by_key = {(m.backend, m.provider_id): m for m in sent if m.provider_id}
    if not by_key:
        return
    receipts: dict = {}
    for i in range(0, len(by_key), 500):
        chunk = list(by_key)[i:i + 500]
        for r in session.scalars(select(DeliveryReceipt).where(
                DeliveryReceipt.provider_id.in_(sorted({pid for _, pid in chunk})))
                .order_by(DeliveryReceipt.id)):
            if (r.backend, r.provider_id) in by_key:
                receipts.setdefault((r.backend, r.provider_id), []).append(r)
    for key, rows in receipts.items():
        _apply_receipts(session, by_key[key], rows)
    if receipts:
        session.commit()


def _apply_receipts(session, msg: OutboundMessage, receipts=None) -> None:
    if receipts is None:
        receipts = session.scalars(select(DeliveryReceipt).where(DeliveryReceipt.backend == msg.backend,
                                                                 DeliveryReceipt.provider_id == msg.provider_id)
                                   .order_by(DeliveryReceipt.id)).all()
    for r in receipts:
        if STATUS_RANK.get(r.status, 2) < STATUS_RANK.get(msg.status, 0):
            continue  # a late 'sent' after 'delivered' says nothing new
        msg.status, msg.status_at = r.status, r.received_at
        if r.status in ("undelivered", "failed"):
            msg.error_code = r.error_code
            msg.error = f"投递失败（{r.error_code or '无错误码'}）：{DELIVERY_ERRORS.get(r.error_code, '运营商未说明原因')}"


def mark_stuck(session, now: datetime | None = None) -> int:
    """Rows claimed but never finished (a worker died mid-send) become failed, visibly, not resent."""
    cutoff = (now or utcnow()) - STUCK_AFTER
    result = session.execute(update(OutboundMessage)
                             .where(OutboundMessage.status == "sending", OutboundMessage.provider_id.is_(None),
                                    OutboundMessage.status_at < cutoff)
                             .values(status="failed", status_at=utcnow(),
                                     error="发送过程中断，是否已发出不明；为避免重复不再重发"))
    session.commit()
    return result.rowcount or 0


_GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
            "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")


def segments(text: str) -> int:
    """SMS segments: 160/153 GSM-7 characters, or 70/67 UCS-2 units (any Chinese) per segment."""
    if all(c in _GSM7 for c in text):
        n, single, multi = len(text), 160, 153
    else:
        n, single, multi = len(text.encode("utf-16-le")) // 2, 70, 67
    return 1 if n <= single else -(-n // multi)
