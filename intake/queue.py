"""The RQ side: kick a drain job when work arrives, and a sweeper for whatever was left pending.

One drain job per queue at a time works through pending rows in batches, which is what lets one
preloaded worker process reach hundreds of messages a second (one job per message tops out near
56 jobs/s with a forking worker). A flag in Redis (SET NX) keeps a second drain job from being
enqueued while one waits; the job clears the flag before it looks for work, so a message committed
after that moment kicks a new job and none is left behind.
"""
from __future__ import annotations

import logging

import redis
from rq import Queue

log = logging.getLogger("gridline.queue")

INTAKE = "intake"
NOTIFY = "notify"
MEDIA = "media"                       # fetching photos and voice (intake.media): never ahead of the others
QUEUES = (INTAKE, NOTIFY, MEDIA)      # what a worker works, in turn
JOBS = {INTAKE: "intake.processing.drain", NOTIFY: "intake.processing.deliver_outbox"}
FLAG_TTL = 120  # seconds: a lost job (worker killed) unblocks kicks after this


def flag_key(name: str) -> str:
    return f"gridline:kick:{name}"


def kick(ctx, name: str) -> bool:
    """Enqueue the drain job for `name` unless one is already waiting. Never raises."""
    if ctx.redis is None:
        return False
    try:
        if ctx.redis.set(flag_key(name), 1, nx=True, ex=FLAG_TTL):
            Queue(name, connection=ctx.redis).enqueue(JOBS[name], job_timeout=600, result_ttl=0,
                                                      failure_ttl=86400)
        return True
    except redis.RedisError as exc:
        log.warning("Redis unavailable, %s stays pending for the sweeper: %s", name, exc)
        return False


def clear_flag(ctx, name: str) -> None:
    try:
        ctx.redis.delete(flag_key(name))
    except (redis.RedisError, AttributeError):
        pass
