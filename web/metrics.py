"""GET /metrics: Prometheus gauges read at scrape time (API token required, like /api).

Every figure is one COUNT … GROUP BY on an indexed column, or a Redis list length, asked when
Prometheus scrapes: nothing is counted by hand, so several web nodes report the same numbers and
a restart loses nothing. A Redis that does not answer shows as gridline_redis_up 0, a database that
does not answer as gridline_database_up 0 (with the Redis gauges, among them the spool), not as errors.
"""
from __future__ import annotations

import redis
from flask import Blueprint, Response, current_app, request
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from rq import Queue
from sqlalchemy import func, select

from intake import queue, spool
from intake.models import InboundMessage
from intake.service import DATABASE_DOWN
from notify.models import OutboundMessage
from store.db import utcnow
from tickets.lifecycle import CLOCK_RUNNING
from tickets.models import Case
from web.http import require_token

bp = Blueprint("metrics", __name__)


class GridlineCollector:
    """A prometheus_client collector over the database and Redis of one context."""

    def __init__(self, ctx):
        self.ctx = ctx

    def collect(self):
        try:
            database = list(self._database())
        except DATABASE_DOWN:  # the scrape still answers: the spool gauge is what matters then
            database = []
        yield GaugeMetricFamily("gridline_database_up", "1 when the database answered this scrape.",
                                value=1 if database else 0)
        yield from database
        yield from self._redis()

    def _database(self):
        with self.ctx.db.session() as s:
            yield _grouped(s, "gridline_inbound_messages", "Stored inbound messages by channel and status.",
                           ("channel", "status"), InboundMessage.channel, InboundMessage.status)
            yield _grouped(s, "gridline_cases", "Cases by status.", ("status",), Case.status)
            overdue = s.scalar(select(func.count()).select_from(Case).where(
                Case.status.in_(sorted(CLOCK_RUNNING)), Case.due_at < utcnow()))
            yield GaugeMetricFamily("gridline_cases_overdue", "Cases with a department whose due time has passed.",
                                    value=overdue or 0)
            yield _grouped(s, "gridline_outbox_messages", "Outbox rows by channel and status.",
                           ("channel", "status"), OutboundMessage.channel, OutboundMessage.status)

    def _redis(self):
        up = GaugeMetricFamily("gridline_redis_up", "1 when Redis answered this scrape.")
        waiting = GaugeMetricFamily("gridline_queue_jobs", "Jobs waiting in an RQ queue.", labels=["queue"])
        spooled = GaugeMetricFamily("gridline_spool_messages",
                                    "Messages kept in Redis while the database was down (intake/spool.py).")
        conn = self.ctx.redis
        try:
            if conn is None:
                raise redis.ConnectionError("REDIS_URL not configured")
            for name in queue.QUEUES:
                waiting.add_metric([name], Queue(name, connection=conn).count)
            spooled.add_metric([], spool.waiting(self.ctx))
        except redis.RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield from (up, waiting, spooled)


def _grouped(session, name: str, doc: str, labels: tuple[str, ...], *columns) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, doc, labels=list(labels))
    rows = session.execute(select(*columns, func.count()).group_by(*columns))
    for *values, count in rows:
        gauge.add_metric([str(v) for v in values], count)
    return gauge


@bp.get("/metrics")
@require_token
def metrics():
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GridlineCollector(current_app.extensions["gridline"]))
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))  # the format the scraper asks for
    return Response(encode(registry), content_type=content_type)
