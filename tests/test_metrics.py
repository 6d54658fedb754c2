"""GET /metrics: the API token is required, and every gauge says what the database and Redis hold."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from rq import Queue
from sqlalchemy import func, select

from case_factory import at, open_at
from intake import queue, spool
from intake.models import InboundMessage
from notify import outbox
from notify.models import OutboundMessage
from store.db import utcnow
from tickets.models import Case


def scrape(client, auth) -> dict:
    """{(metric, (label values…)): value} from one scrape."""
    resp = client.get("/metrics", headers=auth)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.content_type.startswith("text/plain; version=")
    out = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def by(metrics: dict, name: str) -> dict:
    return {tuple(v for _, v in labels): value for (n, labels), value in metrics.items() if n == name}


def test_metrics_need_the_api_token(client):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_metrics_match_the_database_and_redis(ctx, client, auth, new_id):
    for text in ("东四北大街18号门口井盖丢了", "王府井大街有人摆摊"):
        resp = client.post("/hotline/transcripts", headers=auth,
                           json={"caller": "+8613800000000", "text": text, "call_id": new_id()})
        assert resp.status_code == 202
    with ctx.db.session() as s:
        s.add(InboundMessage(channel="sms", external_id=new_id("SM"), sender="+8613900000000", text="x",
                             status="triage"))
        late = open_at(ctx, s, at(2025, 3, 3, 9, 0))                            # due long ago
        open_at(ctx, s, at(2099, 3, 2, 9, 0), phone="+8613800138002", text="另一处路灯不亮")   # due later
        s.add(Case(**{c: getattr(late, c) for c in ("category_code", "category_name", "confidence", "decided_by",
                                                     "urgent", "department_id", "grid_code", "place", "description",
                                                     "reporter_phone", "channel", "time_limit")},
                   number="20250303-999999", status="closed", due_at=at(2025, 3, 4, 9, 0)))  # late but closed
        outbox.queue(s, "+8613800000000", "您好", "ack", new_id("k"))
        failed = outbox.queue(s, "-1001234567890", "超期", "red", new_id("k"), channel="telegram")
        failed.status = "failed"
        s.commit()
    assert spool.push(ctx, "sms", new_id("SM"), "+8613700000000", "数据库停机时收到", None)

    m = scrape(client, auth)
    with ctx.db.session() as s:
        inbound = {(c, st): n for c, st, n in s.execute(select(InboundMessage.channel, InboundMessage.status,
                                                               func.count()).group_by(InboundMessage.channel,
                                                                                      InboundMessage.status))}
        cases = dict(s.execute(select(Case.status, func.count()).group_by(Case.status)).all())
        overdue = s.scalar(select(func.count()).select_from(Case).where(
            Case.status.in_(["dispatched", "accepted"]), Case.due_at < utcnow()))
        outgoing = {(c, st): n for c, st, n in s.execute(select(OutboundMessage.channel, OutboundMessage.status,
                                                                func.count()).group_by(OutboundMessage.channel,
                                                                                       OutboundMessage.status))}
    assert inbound == {("hotline", "received"): 2, ("sms", "triage"): 1}
    assert by(m, "gridline_inbound_messages") == inbound
    assert cases == {"dispatched": 2, "closed": 1}
    assert by(m, "gridline_cases") == {(k,): v for k, v in cases.items()}
    assert overdue == 1 and by(m, "gridline_cases_overdue") == {(): 1}
    assert outgoing == {("sms", "pending"): 3, ("telegram", "failed"): 1}   # the ack, two 新派遣 notices
    assert by(m, "gridline_outbox_messages") == outgoing
    jobs = {name: Queue(name, connection=ctx.redis).count for name in queue.QUEUES}
    assert jobs[queue.INTAKE] == 1                 # one drain job for both messages (the kick flag)
    assert by(m, "gridline_queue_jobs") == {(k,): v for k, v in jobs.items()}
    assert by(m, "gridline_spool_messages") == {(): 1}
    assert by(m, "gridline_redis_up") == {(): 1}


def test_a_scraper_asking_for_openmetrics_gets_it(client, auth):
    resp = client.get("/metrics", headers={**auth, "Accept": "application/openmetrics-text; version=1.0.0"})
    assert resp.status_code == 200 and resp.content_type.startswith("application/openmetrics-text")
    body = resp.get_data(as_text=True)
    assert body.rstrip().endswith("# EOF") and "gridline_cases_overdue 0" in body
