"""The RQ worker: preload jieba, the rules, the gazetteer and the grid index once, then work.

A non-forking SimpleWorker: jobs are short and trusted, and the preloaded dictionary is used by
every job directly (a forking worker pays a fork per job and tops out near 56 jobs/s here).
A sweeper thread re-kicks whatever waited too long (Redis was down, a kick was lost).
"""
from __future__ import annotations

import logging
import os
import threading
import time

import redis
from rq import Queue, SimpleWorker
from rq.worker import DequeueStrategy

from commands import privacy
from intake import context, processing, queue
from tickets import sla_scan

log = logging.getLogger("gridline.worker")
SWEEP_EVERY = float(os.environ.get("GRIDLINE_SWEEP_SECONDS", "5"))
RETENTION_CHECK_EVERY = 3600.0   # GRIDLINE_RETENTION_DAYS: runs once a day, checked hourly


def sweeper(stop: threading.Event) -> None:
    while not stop.wait(SWEEP_EVERY):
        try:
            processing.sweep()
            sla_scan.run(context.get())  # yellow/red lights, 催办, escalation, survey no-answer
        except Exception as exc:  # the database or Redis may be briefly down: try again next round
            log.warning("sweep failed: %s", exc)


def retention_keeper(stop: threading.Event) -> None:
    """Its own thread: a first run over years of cases may take minutes, and the sweeper must not wait."""
    while not stop.wait(RETENTION_CHECK_EVERY):
        try:
            counts = privacy.daily(context.get())
            if counts:
                log.info("anonymised %d finished cases (GRIDLINE_RETENTION_DAYS=%s)", counts["cases"], counts["older_than_days"])
        except Exception as exc:
            log.warning("anonymising failed: %s", exc)


def main(burst: bool = False) -> None:
    ctx = context.get()
    started = time.monotonic()
    ctx.preload()
    log.info("preloaded rules, jieba, gazetteer and %d grid cells in %.1f s",
             len(ctx.grids.cells), time.monotonic() - started)
    stop = threading.Event()
    if not burst:
        threading.Thread(target=sweeper, args=(stop,), daemon=True, name="sweeper").start()
        if ctx.config.retention_days:
            threading.Thread(target=retention_keeper, args=(stop,), daemon=True, name="retention").start()
    queues = [Queue(name, connection=ctx.redis) for name in queue.QUEUES]
    while True:
        try:
            # In turn: each job is a bounded slice (processing.DRAIN_SLICE, SEND_SLICE,
            # media.FETCH_SLICE), so no queue keeps another waiting for long.
            SimpleWorker(queues, connection=ctx.redis).work(burst=burst, logging_level="WARNING",
                                                            dequeue_strategy=DequeueStrategy.ROUND_ROBIN)
            break
        except redis.ConnectionError as exc:
            if burst:
                raise
            log.warning("Redis unreachable (%s); retrying in 2 s", exc)
            time.sleep(2)
    stop.set()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    main()
