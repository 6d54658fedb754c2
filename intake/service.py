"""Store an inbound message first, commit, then ask the queue to process it."""
from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from intake import queue
from intake.models import InboundMessage
from store.db import utcnow

log = logging.getLogger("gridline.intake")


def _insert_message(insert):
    # Built once (on the table, with bound parameters): building it cost more than running it.
    return (insert(InboundMessage.__table__).on_conflict_do_nothing(index_elements=["channel", "external_id"])
            .returning(InboundMessage.__table__.c.id))


_INSERT = {"postgresql": _insert_message(pg_insert), "sqlite": _insert_message(sqlite_insert)}


def receive(ctx, channel: str, external_id: str, sender: str, text: str, meta: dict | None = None):
    """Returns (message, created). The same channel + external id is the same message.

    One INSERT … ON CONFLICT DO NOTHING: a provider's retry, even one racing the first delivery,
    finds the stored row instead of making a second.

    The worker then decides what it is (intake.conversation: report, answer to our ask-back, survey,
    status query, STOP…) per (channel, sender), and replies on the same channel to `sender`. meta
    keys it reads: "lat"/"lon" (WGS84, with "address") for a shared location, "photos" (URLs or refs)
    for the case's pictures, "to" for the number the citizen wrote to (the reply leaves from it).
    """
    with ctx.db.session() as s:
        values = dict(channel=channel, external_id=external_id, sender=sender, text=text, meta=meta or {},
                      status="received", reason="", attempts=0, received_at=utcnow())
        new_id = s.execute(_INSERT[s.bind.dialect.name], values).scalar()
        s.commit()
        if new_id is None:
            return s.scalar(select(InboundMessage).where(InboundMessage.channel == channel,
                                                         InboundMessage.external_id == external_id)), False
    msg = InboundMessage(id=new_id, **values)
    queue.kick(ctx, queue.INTAKE)  # after the commit: a queue failure never loses the message
    return msg, True


def case_photos(session, case_id: int) -> list[dict]:
    """The pictures citizens sent with the messages of a case (MMS media, Telegram photos)."""
    rows = session.scalars(select(InboundMessage).where(InboundMessage.case_id == case_id)
                           .order_by(InboundMessage.id)).all()
    photos = []
    for msg in rows:
        meta = msg.meta or {}
        types = {m.get("url"): m.get("content_type", "") for m in meta.get("media") or [] if isinstance(m, dict)}
        for ref in meta.get("photos") or []:
            photos.append({"url": ref, "content_type": types.get(ref, ""), "message_id": msg.id,
                           "channel": msg.channel})
    return photos
