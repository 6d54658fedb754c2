"""When the database is briefly down, a citizen's message waits in Redis instead of being refused.

Intake stores first and queues second; with Redis down the database holds the message and the
sweeper enqueues it later (intake.queue). This is the mirror case: with the database down, the
message is pushed, whole, onto a Redis list, and the sweeper stores it through intake.service.receive
once the database answers again — the same insert, so a provider's retry of the same id, arriving
through either path, is still one message. Only with both down is the sender told to retry (503).

intake.service.receive pushes when its insert fails with a connection error and raises Spooled;
the channels answer "accepted" (Twilio and Telegram 200, the hotline API and Open311 202). The
worker's sweeper (intake.processing.sweep) calls drain first on every round, with
intake.service.store_spooled, which calls receive with spool_when_down=False: while the database
is still down, drain stops instead of re-spooling.
A stored message keeps the time it arrived (received_at = spooled_at) and is then processed like
any other: case, acknowledgement SMS with the case number. /metrics shows gridline_spool_messages.

A record is taken with LMOVE onto a "taking" list and removed only after it is stored, so a sweeper
that dies half-way leaves it to be taken again, never lost. A record the database refuses for
another reason than being down (a constraint) is moved to a "failed" list for a person and logged,
so it does not hold up the records behind it; it still counts in waiting().
"""
from __future__ import annotations

import json
import logging
from typing import Callable

import redis
from sqlalchemy.exc import SQLAlchemyError

from store.db import DATABASE_DOWN, utcnow

log = logging.getLogger("gridline.spool")

PENDING = "gridline:spool"
TAKING = "gridline:spool:taking"
FAILED = "gridline:spool:failed"


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
        return sum(int(ctx.redis.llen(key)) for key in (PENDING, TAKING, FAILED)) if ctx.redis is not None else 0
    except redis.RedisError:
        return 0


def drain(ctx, store: Callable[[object, dict], None], limit: int = 10_000) -> int:
    """Store what waits in the spool with store(ctx, record) (the sweeper passes
    intake.service.store_spooled), oldest first; returns how many.

    Stops at the first sign that the database is still down (the record waits for the next sweep).
    """
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
            try:
                store(ctx, record)
            except DATABASE_DOWN:
                raise
            except SQLAlchemyError as exc:
                log.error("spooled %s %s refused by the database, kept in %s: %s", record["channel"],
                          record["external_id"], FAILED, exc)
                ctx.redis.lpush(FAILED, raw)
            else:
                stored += 1
            ctx.redis.lrem(TAKING, 1, raw)
    except redis.RedisError as exc:
        log.warning("spool not drained (Redis): %s", exc)
    except DATABASE_DOWN as exc:  # still down: the record waits in "taking" for the next sweep
        log.warning("spool not drained (database): %s", exc)
    return stored
