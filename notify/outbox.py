"""Queue outbound messages and deliver them; each purpose (dedupe_key) is sent at most once."""
from __future__ import annotations

import logging

from sqlalchemy import select, update

from notify.models import OutboundMessage
from store.db import utcnow

log = logging.getLogger("gridline.outbox")


def queue(session, to: str, text: str, kind: str, dedupe_key: str, case_id=None, channel="sms") -> OutboundMessage:
    existing = session.scalar(select(OutboundMessage).where(OutboundMessage.dedupe_key == dedupe_key))
    if existing is not None:
        return existing
    msg = OutboundMessage(channel=channel, to=to, text=text, kind=kind, dedupe_key=dedupe_key, case_id=case_id)
    session.add(msg)
    return msg


def claim(session, limit: int = 100) -> list[int]:
    """Mark pending rows as sending (committed) so no other worker sends them too."""
    ids = list(session.scalars(select(OutboundMessage.id).where(OutboundMessage.status == "pending")
                               .order_by(OutboundMessage.id).limit(limit).with_for_update(skip_locked=True)))
    if ids:
        session.execute(update(OutboundMessage).where(OutboundMessage.id.in_(ids),
                                                      OutboundMessage.status == "pending")
                        .values(status="sending", attempts=OutboundMessage.attempts + 1))
    session.commit()
    return ids


def deliver(session, ids: list[int], backend) -> int:
    """Send claimed rows. A row left in 'sending' by a crash is not resent: never twice."""
    sent = 0
    for msg in session.scalars(select(OutboundMessage).where(OutboundMessage.id.in_(ids))):
        if msg.status != "sending":
            continue
        try:
            msg.provider_id, msg.status = backend.send(msg)
            msg.backend, msg.sent_at = backend.name, utcnow()
            sent += 1
        except Exception as exc:  # a provider error is recorded on the row, never raised past it
            log.warning("sending outbound %s failed: %s", msg.id, exc)
            msg.status, msg.error = "failed", str(exc)[:500]
        session.commit()
    return sent
