"""Store an inbound message first, commit, then ask the queue to process it."""
from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from intake import queue
from intake.models import InboundMessage

log = logging.getLogger("gridline.intake")


def receive(ctx, channel: str, external_id: str, sender: str, text: str, meta: dict | None = None):
    """Returns (message, created). The same channel + external id is the same message."""
    with ctx.db.session() as s:
        existing = s.scalar(select(InboundMessage).where(InboundMessage.channel == channel,
                                                         InboundMessage.external_id == external_id))
        if existing is not None:
            return existing, False
        msg = InboundMessage(channel=channel, external_id=external_id, sender=sender, text=text, meta=meta or {})
        s.add(msg)
        try:
            s.commit()
        except IntegrityError:  # a retry raced us to the insert: theirs is the message
            s.rollback()
            return s.scalar(select(InboundMessage).where(InboundMessage.channel == channel,
                                                         InboundMessage.external_id == external_id)), False
    queue.kick(ctx, queue.INTAKE)  # after the commit: a queue failure never loses the message
    return msg, True
