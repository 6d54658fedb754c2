"""When the database is briefly down, a citizen's message waits in Redis instead of being refused.

Intake stores first and queues second; with Redis down the database holds the message and the
sweeper enqueues it later (intake.queue). This is the mirror case: with the database down, the
message is pushed, whole, onto a Redis list, and the sweeper stores it through intake.service.receive
once the database answers again — the same insert, so a provider's retry of the same id, arriving
through either path, is still one message. Only with both down is the sender told to retry (503).

A record is taken with LMOVE onto a "taking" list and removed only after it is stored, so a sweeper
that dies half-way leaves it to be taken again, never lost.

Not wired in yet: intake.service.receive does not call push, and the sweeper does not call
drain (receive has no `spool` argument). Until it is, a database outage answers 503 with
Retry-After (app.py) and the sender keeps the message and retries.
"""
from __future__ import annotations

import json
import logging

import redis
from sqlalchemy.exc import SQLAlchemyError

from store.db import utcnow

log = logging.getLogger("gridline.spool")

PENDING = "gridline:spool"
TAKING = "gridline:spool:taking"


def push(ctx, channel: str, external_id: str, sender: str, text: str, meta: dict | None) -> bool:
    """Keep the message in Redis; False when Redis cannot take it either."""
    if ctx.redis is None:
        return False
    record = {"channel": channel, "external_id": external_id, "sender": sender, "text": text,
              "meta": meta or {}, "spooled_at": utcnow().isoformat()}
    try:
        ctx.redis.lpush(PENDING, json.dumps(record, ensure_ascii=False))
        return True
    except redis.RedisError as exc:
        log.error("database and Redis both unavailable: %s", exc)
        return False


def waiting(ctx) -> int:
    try:
        return int(ctx.redis.llen(PENDING)) + int(ctx.redis.llen(TAKING)) if ctx.redis is not None else 0
    except redis.RedisError:
        return 0


def drain(ctx, limit: int = 10_000) -> int:
    """Store what waits in the spool (the sweeper calls this). Stops at the first database error."""
    from intake.service import receive
    if ctx.redis is None:
        return 0
    stored = 0
    try:
        # What a dead sweeper left in "taking" goes back first; receive() makes a repeat harmless.
        while ctx.redis.lmove(TAKING, PENDING, "RIGHT", "RIGHT") is not None:
            pass
        while stored < limit:
            raw = ctx.redis.lmove(PENDING, TAKING, "RIGHT", "LEFT")
            if raw is None:
                break
            record = json.loads(raw)
            meta = {**record["meta"], "spooled_at": record["spooled_at"]}
            _msg, _created = receive(ctx, record["channel"], record["external_id"], record["sender"],
                                     record["text"], meta, spool=False)
            ctx.redis.lrem(TAKING, 1, raw)
            stored += 1
    except redis.RedisError as exc:
        log.warning("spool not drained (Redis): %s", exc)
    except SQLAlchemyError as exc:  # still down: the record waits in "taking" for the next sweep
        log.warning("spool not drained (database): %s", exc)
    return stored
