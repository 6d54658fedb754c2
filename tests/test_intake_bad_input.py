"""Bad input gets a clear 4xx JSON error and nothing is half-stored; Redis down loses nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from config import Config
from intake import context as context_module
from intake.context import Context
from intake.models import InboundMessage


def count_messages(ctx) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.count(InboundMessage.id)))


@pytest.mark.parametrize("body, content_type, status, error", [
    (b'{"caller": "+8613800000002", "text": "", "call_id": "a1"}', "application/json", 422, "empty_text"),
    (b'{"caller": "+8613800000002", "text": "   ", "call_id": "a2"}', "application/json", 422, "empty_text"),
    ('{"caller": "+8613800000002", "text": "%s", "call_id": "a3"}' % ("井" * 3500), "application/json", 413, "text_too_long"),
    (b'{"caller": "+8613800000002", "text": "\xe4\xba\x95\xff\xfe", "call_id": "a4"}', "application/json", 400, "bad_encoding"),
    ('{"caller": "+8613800000002", "text": "井盖丢了"', "application/json", 400, "bad_json"),
    (b'["not", "an", "object"]', "application/json", 400, "bad_json"),
    ('{"text": "东四北大街井盖丢了", "call_id": "a5"}', "application/json", 422, "missing_caller"),
    ('{"caller": "call me", "text": "东四北大街井盖丢了", "call_id": "a6"}', "application/json", 422, "bad_caller"),
    (b'{"caller": "+8613800000002", "text": 42, "call_id": "a7"}', "application/json", 422, "empty_text"),
])
def test_bad_transcripts_are_refused_and_not_stored(client, auth, ctx, body, content_type, status, error):
    if isinstance(body, str):
        body = body.encode()
    r = client.post("/hotline/transcripts", data=body, content_type=content_type, headers=auth)
    assert r.status_code == status
    assert r.get_json()["error"] == error and r.get_json()["message"]
    assert count_messages(ctx) == 0


def test_ten_kilobytes_of_text_is_refused(client, auth, ctx):
    r = client.post("/hotline/transcripts", json={"caller": "+8613800000002", "text": "a" * 10240, "call_id": "x"},
                    headers=auth)
    assert r.status_code == 413 and count_messages(ctx) == 0


def test_api_wants_the_token(client):
    r = client.post("/hotline/transcripts", json={"caller": "+8613800000002", "text": "井盖丢了", "call_id": "t"})
    assert r.status_code == 401 and r.get_json()["error"] == "unauthorized"
    assert client.get("/api/outbox", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_with_redis_down_the_message_is_stored_and_the_sweeper_enqueues_it(ctx, auth, run_worker, new_id):
    from app import create_app
    from intake.processing import sweep
    from store.redis_server import free_port
    down = Config(var_dir=ctx.config.var_dir, database_url=ctx.config.database_url,
                  redis_url=f"redis://127.0.0.1:{free_port()}/0", api_token=ctx.config.api_token)
    client = create_app(Context(down)).test_client()
    r = client.post("/hotline/transcripts", json={"caller": "+8613800000003", "text": "王府井大街18号井盖丢了",
                                                  "call_id": new_id()}, headers=auth)
    assert r.status_code == 202
    message_id = r.get_json()["message_id"]
    run_worker()  # nothing was enqueued: Redis was down
    with ctx.db.session() as s:
        assert s.get(InboundMessage, message_id).status == "received"
    assert sweep(min_age_seconds=0) == {"intake": True}
    run_worker()
    with ctx.db.session() as s:
        assert s.get(InboundMessage, message_id).status == "done"


def test_while_redis_stays_down_the_sweeper_files_the_report_and_sends_the_acknowledgement(ctx, auth, new_id):
    from app import create_app
    from intake.processing import sweep
    from notify.models import OutboundMessage
    from store.redis_server import free_port
    down = Context(Config(var_dir=ctx.config.var_dir, database_url=ctx.config.database_url,
                          redis_url=f"redis://127.0.0.1:{free_port()}/0", api_token=ctx.config.api_token))
    caller = "+8613800000013"
    r = create_app(down).test_client().post("/hotline/transcripts", headers=auth, json={
        "caller": caller, "text": "王府井大街18号井盖丢了", "call_id": new_id()})
    assert r.status_code == 202
    message_id = r.get_json()["message_id"]
    context_module.set_current(down)   # the worker's sweeper, with the same Redis down
    try:
        swept = sweep(min_age_seconds=0)
    finally:
        context_module.set_current(ctx)
    assert swept["intake"] is False and swept["worked_here"] >= 2   # the message and its SMS
    with ctx.db.session() as s:
        msg = s.get(InboundMessage, message_id)
        assert msg.status == "done" and msg.case_id is not None
        [ack] = s.scalars(select(OutboundMessage).where(OutboundMessage.to == caller)).all()
        assert ack.kind == "ack" and ack.status == "sent"


def test_healthz_reports_database_redis_and_workers(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.get_json()
    assert body["database"] == "ok" and body["redis"] == "ok" and "workers" in body


def test_with_the_database_and_redis_down_the_sender_is_told_to_retry(ctx, auth, new_id):
    # With Redis up the message would wait in the spool instead (tests/test_intake_spool.py).
    from app import create_app
    from store.redis_server import free_port
    down = Config(var_dir=ctx.config.var_dir, redis_url=f"redis://127.0.0.1:{free_port()}/0",
                  api_token=ctx.config.api_token,
                  database_url=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone?connect_timeout=2")
    client = create_app(Context(down)).test_client()
    call_id = new_id()
    body = {"caller": "+8613800000004", "text": "王府井大街18号井盖丢了", "call_id": call_id}
    r = client.post("/hotline/transcripts", json=body, headers=auth)
    assert r.status_code == 503 and r.headers["Retry-After"] == "30"
    assert r.get_json()["error"] == "database_unavailable" and "请稍后重试" in r.get_json()["message"]
    # The retry, once the database answers, is stored as one message.
    up = create_app(ctx).test_client()
    first = up.post("/hotline/transcripts", json=body, headers=auth)
    again = up.post("/hotline/transcripts", json=body, headers=auth)
    assert first.status_code == again.status_code == 202
    assert first.get_json()["message_id"] == again.get_json()["message_id"]
