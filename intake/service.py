"""Store an inbound message first, commit, then ask the queue to process it.

With the database down the message is kept in Redis instead (intake.spool) and receive raises
Spooled: the channel answers "accepted" and the worker's sweeper stores it when the database is back.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from intake import department, queue, spool
from intake.models import InboundMessage
from store.db import DATABASE_DOWN, utcnow

log = logging.getLogger("gridline.intake")

# What a channel tells the sender of a spooled message (the hotline API, Open311, the consoles).
SPOOLED_NOTICE = ("已受理：系统正在恢复，您的反映已保存，稍后自动立案，案卷号将以短信告知。"
                  " Accepted: your report is saved and will be filed shortly; the case number follows by SMS.")


class Spooled(Exception):
    """The database was down: the message waits in Redis (intake.spool) and has no id yet.

    Not an error for the sender: the message is kept, and the sweeper stores and processes it
    when the database answers again. Channels answer "accepted" (Twilio and Telegram 200, APIs 202).
    """

    def __init__(self, channel: str, external_id: str):
        super().__init__(f"{channel} {external_id} spooled: database unavailable")
        self.channel, self.external_id = channel, external_id


def _insert_message(insert):
    # Built once (on the table, with bound parameters): building it cost more than running it.
    return (insert(InboundMessage.__table__).on_conflict_do_nothing(index_elements=["channel", "external_id"])
            .returning(InboundMessage.__table__.c.id))


_INSERT = {"postgresql": _insert_message(pg_insert), "sqlite": _insert_message(sqlite_insert)}


def receive(ctx, channel: str, external_id: str, sender: str, text: str, meta: dict | None = None, *,
            spool_when_down: bool = True, received_at: datetime | None = None):
    """Returns (message, created). The same channel + external id is the same message.

    With the database down (DATABASE_DOWN) the message is pushed to the Redis spool and Spooled is
    raised; with Redis down too, or spool_when_down=False (the spool's own drain, a bulk import
    whose file is the copy), the database error is raised. `received_at`: when the message arrived,
    if not now (a spooled message: flood counts and ask-back windows go by arrival).

    One INSERT … ON CONFLICT DO NOTHING: a provider's retry, even one racing the first delivery,
    finds the stored row instead of making a second.

    The worker then decides what it is (intake.conversation: report, answer to our ask-back, survey,
    status query, STOP…) per (channel, sender), and replies on the same channel to `sender`. meta
    keys it reads: "lat"/"lon" (WGS84, with "address") for a shared location, "photos" (URLs or refs)
    for the case's pictures, "to" for the number the citizen wrote to (the reply leaves from it).
    """
    values = dict(channel=channel, external_id=external_id, sender=sender, text=text, meta=meta or {},
                  status="received", reason="", attempts=0, received_at=received_at or utcnow())
    try:
        with ctx.db.session() as s:
            new_id = s.execute(_INSERT[s.bind.dialect.name], values).scalar()
            s.commit()
            if new_id is None:
                return s.scalar(select(InboundMessage).where(InboundMessage.channel == channel,
                                                             InboundMessage.external_id == external_id)), False
    except DATABASE_DOWN as exc:
        if not spool_when_down or not spool.push(ctx, channel, external_id, sender, text, meta):
            raise
        log.warning("database unavailable, %s %s kept in the spool: %s", channel, external_id, exc)
        raise Spooled(channel, external_id) from exc
    msg = InboundMessage(id=new_id, **values)
    queue.kick(ctx, queue.INTAKE)  # after the commit: a queue failure never loses the message
    return msg, True


def store_spooled(ctx, record: dict) -> None:
    """A message the spool kept (intake.spool.drain): stored as it came, at the time it arrived."""
    meta = {**record["meta"], "spooled_at": record["spooled_at"]}
    receive(ctx, record["channel"], record["external_id"], record["sender"], record["text"], meta,
            spool_when_down=False, received_at=datetime.fromisoformat(record["spooled_at"]))


def case_photos(session, case_id: int, field: str = "photos") -> list[dict]:
    """The pictures (or, with field "voice", the recordings) citizens sent with the messages of a
    case (MMS media, Telegram). A department's own messages on the case (办结 with a photo in its
    group) are not a citizen's."""
    rows = session.scalars(select(InboundMessage).where(InboundMessage.case_id == case_id,
                                                        InboundMessage.kind.not_in(department.KINDS))
                           .order_by(InboundMessage.id)).all()
    photos = []
    for msg in rows:
        meta = msg.meta or {}
        types = {m.get("url"): m.get("content_type", "") for m in meta.get("media") or [] if isinstance(m, dict)}
        for n, ref in enumerate(meta.get(field) or []):
            photos.append({"url": ref, "content_type": types.get(ref, ""), "message_id": msg.id,
                           "index": n, "channel": msg.channel})
    return photos
