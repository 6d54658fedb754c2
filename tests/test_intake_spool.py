"""With the database down a citizen's message waits in Redis (intake/spool.py) and the channel still
says "accepted"; when the database is back the worker's sweeper files it like any other message.

The web node's database is a closed port (connection refused, as when PostgreSQL restarts); the
worker side is the suite's real database and Redis, shared with the web node.
"""
from __future__ import annotations

import dataclasses
import json
import re
import urllib.parse

from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from intake import context as context_module
from intake import spool
from intake.context import Context
from intake.models import InboundMessage
from intake.processing import sweep
from intake.service import store_spooled
from notify.models import OutboundMessage
from store.redis_server import free_port
from tickets.models import Case
from twilio_fake import AUTH_TOKEN, PUBLIC_URL, post_signed, sms_fields
from web.models import User
from web_support import PASSWORD, csrf, login, post_form, signed_in, staff, staff_accounts  # noqa: F401 (fixtures)

CITIZEN = "+8613800138077"
TELEGRAM_SECRET = "tg-spool-secret"


def outage(ctx, redis_down: bool = False) -> Context:
    """A web node whose database does not answer (and, with redis_down, whose Redis does not either)."""
    config = dataclasses.replace(
        ctx.config, database_url=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone?connect_timeout=2",
        redis_url=f"redis://127.0.0.1:{free_port()}/0" if redis_down else ctx.config.redis_url,
        twilio_auth_token=AUTH_TOKEN, public_url=PUBLIC_URL, telegram_webhook_secret=TELEGRAM_SECRET)
    return Context(config)


def recovered(ctx) -> Context:
    """The same web node once its database answers again: the suite's database."""
    node = outage(ctx)
    node.__dict__["db"] = ctx.db
    return node


def client_of(context: Context):
    from app import create_app
    app = create_app(context)
    app.testing = True
    return app.test_client()


def stored(ctx, channel: str, external_id: str | None = None) -> list[InboundMessage]:
    """The channel's stored messages (with that provider id)."""
    query = select(InboundMessage).where(InboundMessage.channel == channel)
    if external_id is not None:
        query = query.where(InboundMessage.external_id == external_id)
    with ctx.db.session() as s:
        return s.scalars(query).all()


def sms_to(ctx, phone: str) -> list[OutboundMessage]:
    with ctx.db.session() as s:
        return s.scalars(select(OutboundMessage).where(OutboundMessage.to == phone)
                         .order_by(OutboundMessage.id)).all()


def database_back(ctx, run_worker) -> dict:
    """The database answers again: the worker's sweeper round, then the jobs it kicked."""
    context_module.set_current(ctx)
    swept = sweep(min_age_seconds=0)
    run_worker()
    return swept


def test_an_sms_during_a_database_outage_is_answered_200_and_filed_when_the_database_is_back(ctx, run_worker):
    fields = sms_fields(CITIZEN, "东四北大街18号门口井盖丢了")
    r = post_signed(client_of(outage(ctx)), "/sms/twilio", fields)
    assert r.status_code == 200, r.get_data(as_text=True)   # Twilio would drop the SMS on a 503
    assert r.mimetype == "application/xml" and "<Response" in r.get_data(as_text=True)
    assert stored(ctx, "sms", fields["MessageSid"]) == [] and spool.waiting(ctx) == 1

    assert database_back(ctx, run_worker) == {"spooled": 1, "intake": True}
    (msg,) = stored(ctx, "sms", fields["MessageSid"])
    assert msg.status == "done" and msg.case_id is not None and msg.sender == CITIZEN
    assert msg.received_at.isoformat() == msg.meta["spooled_at"]   # when it arrived, not when it was filed
    with ctx.db.session() as s:
        number = s.get(Case, msg.case_id).number
    (ack,) = sms_to(ctx, CITIZEN)
    assert ack.kind == "ack" and number in ack.text
    assert spool.waiting(ctx) == 0


def test_a_retry_through_the_spool_and_directly_is_one_message(ctx, run_worker):
    fields = sms_fields(CITIZEN, "雍和宫大街12号门口路灯不亮")
    down = client_of(outage(ctx))
    assert post_signed(down, "/sms/twilio", fields).status_code == 200
    assert post_signed(down, "/sms/twilio", fields).status_code == 200   # the provider's retry, spooled too
    assert post_signed(client_of(recovered(ctx)), "/sms/twilio", fields).status_code == 200   # and once it is back
    assert spool.waiting(ctx) == 2
    database_back(ctx, run_worker)
    assert len(stored(ctx, "sms", fields["MessageSid"])) == 1
    with ctx.db.session() as s:
        assert s.scalar(select(func.count(Case.id))) == 1
    assert [m.kind for m in sms_to(ctx, CITIZEN)] == ["ack"]
    assert spool.waiting(ctx) == 0


def test_a_hotline_transcript_during_an_outage_is_accepted_and_the_caller_gets_the_case_number(ctx, auth,
                                                                                               run_worker, new_id):
    call_id = new_id()
    body = {"caller": CITIZEN, "text": "交道口南大街20号垃圾桶坏了", "call_id": call_id}
    r = client_of(outage(ctx)).post("/hotline/transcripts", json=body, headers=auth)
    assert r.status_code == 202
    answer = r.get_json()
    assert answer["spooled"] is True and answer["message_id"] is None
    assert "已受理" in answer["message"] and "case number" in answer["message"] and "短信" in answer["message"]
    assert stored(ctx, "hotline", call_id) == []

    database_back(ctx, run_worker)
    (msg,) = stored(ctx, "hotline", call_id)
    assert msg.status == "done" and msg.case_id is not None
    assert [m.kind for m in sms_to(ctx, CITIZEN)] == ["ack"]
    again = client_of(ctx).post("/hotline/transcripts", json=body, headers=auth)   # the client's retry
    assert again.status_code == 202 and again.get_json() == {"message_id": msg.id, "duplicate": True}


def test_only_with_the_database_and_redis_down_the_sms_webhook_answers_503(ctx):
    fields = sms_fields(CITIZEN, "东四北大街18号井盖丢了")
    sms = post_signed(client_of(outage(ctx, redis_down=True)), "/sms/twilio", fields)
    assert sms.status_code == 503 and sms.headers["Retry-After"] == "30"
    assert sms.get_json()["error"] == "database_unavailable" and spool.waiting(ctx) == 0
    # With only the database down the same request is accepted and kept.
    assert post_signed(client_of(outage(ctx)), "/sms/twilio", fields).status_code == 200
    assert spool.waiting(ctx) == 1


def test_an_open311_request_during_an_outage_is_accepted_and_its_repeat_gets_the_token(ctx, run_worker):
    fields = {"api_key": ctx.config.api_token, "service_code": "01023", "lat": "39.935", "long": "116.415",
              "description": "路口的井盖丢了", "phone": CITIZEN}
    body = urllib.parse.urlencode(fields).encode()
    form = "application/x-www-form-urlencoded"
    r = client_of(outage(ctx)).post("/open311/v2/requests.json", data=body, content_type=form)
    assert r.status_code == 202, r.get_data(as_text=True)
    (answer,) = r.get_json()
    assert "token" not in answer and "已受理" in answer["service_notice"] and "Accepted" in answer["service_notice"]

    database_back(ctx, run_worker)
    (msg,) = stored(ctx, "open311")
    assert msg.case_id is not None and [m.kind for m in sms_to(ctx, CITIZEN)] == ["ack"]
    (again,) = client_of(ctx).post("/open311/v2/requests.json", data=body, content_type=form).get_json()
    assert again["service_request_id"] and again["service_notice"] == "已立案"


def test_a_telegram_report_during_an_outage_gets_200_and_is_filed_later(ctx, run_worker):
    update = {"update_id": 770001, "message": {
        "message_id": 1, "date": 1763790000, "text": "东四北大街18号门口井盖丢了",
        "from": {"id": 5550077, "is_bot": False, "first_name": "小明"},
        "chat": {"id": 5550077, "first_name": "小明", "type": "private"}}}
    r = client_of(outage(ctx)).post("/telegram/webhook", data=json.dumps(update, ensure_ascii=False).encode(),
                                    content_type="application/json",
                                    headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
    assert r.status_code == 200 and r.get_json()["outcome"] == "spooled"
    database_back(ctx, run_worker)
    (msg,) = stored(ctx, "telegram", "770001")
    assert msg.case_id is not None
    assert [(m.channel, m.kind) for m in sms_to(ctx, "5550077")] == [("telegram", "ack")]


def test_a_drain_while_the_database_is_still_down_stops_and_keeps_the_message(ctx):
    down = outage(ctx)
    assert spool.push(down, "sms", "SM-still-down", CITIZEN, "东四北大街18号井盖丢了", None)
    assert spool.drain(down, store_spooled) == 0          # no loop, no re-spooling: the record waits for the next round
    assert spool.waiting(ctx) == 1
    assert spool.drain(ctx, store_spooled) == 1 and spool.waiting(ctx) == 0
    assert len(stored(ctx, "sms", "SM-still-down")) == 1


def test_a_record_the_database_refuses_is_set_aside_and_does_not_block_the_rest(ctx):
    bad = {"channel": "sms", "external_id": "SM-bad", "sender": CITIZEN, "text": None, "meta": {},
           "spooled_at": "2026-12-06T08:00:00"}
    ctx.redis.lpush(spool.PENDING, json.dumps(bad))         # first in: text NOT NULL refuses it
    assert spool.push(ctx, "sms", "SM-good", CITIZEN, "东四北大街18号井盖丢了", None)
    assert spool.drain(ctx, store_spooled) == 1
    assert len(stored(ctx, "sms", "SM-good")) == 1 and stored(ctx, "sms", "SM-bad") == []
    assert [json.loads(r)["external_id"] for r in ctx.redis.lrange(spool.FAILED, 0, -1)] == ["SM-bad"]
    assert spool.waiting(ctx) == 1          # still shown, for a person to look at


def test_during_an_outage_healthz_and_metrics_show_the_spool(ctx, auth):
    down = client_of(outage(ctx))
    assert post_signed(down, "/sms/twilio", sms_fields(CITIZEN, "东四北大街18号井盖丢了")).status_code == 200
    health = down.get("/healthz")
    assert health.status_code == 503 and health.get_json()["spooled"] == 1
    r = down.get("/metrics", headers=auth)
    assert r.status_code == 200, r.get_data(as_text=True)
    samples = {s.name: s.value for f in text_string_to_metric_families(r.get_data(as_text=True)) for s in f.samples}
    assert samples["gridline_database_up"] == 0 and samples["gridline_spool_messages"] == 1
    assert samples["gridline_redis_up"] == 1


def test_the_bulk_import_does_not_spool_but_says_to_run_the_file_again(ctx, tmp_path):
    from cli import cli
    path = tmp_path / "calls.csv"
    path.write_text("caller,text,call_id\n+8613800138077,东四北大街18号井盖丢了,imp-1\n", encoding="utf-8")
    context_module.set_current(outage(ctx))
    try:
        result = CliRunner().invoke(cli, ["import-calls", str(path), "--no-progress"])
    finally:
        context_module.set_current(ctx)
    assert result.exit_code == 1 and "数据库暂时不可用" in result.output and "重新导入同一文件" in result.output
    assert spool.waiting(ctx) == 0


def operator_mid_shift(ctx, redis_down: bool = False, username: str = "t_op", password: str = PASSWORD):
    """An operator signed in while the database answered, whose database then goes away; the
    console client and a CSRF token from the call-entry page."""
    from app import create_app
    node = outage(ctx, redis_down)
    broken_db, broken_redis = node.db, node.redis
    node.__dict__["db"], node.__dict__["redis"] = ctx.db, ctx.redis
    app = create_app(node)
    app.testing = True
    op = app.test_client()
    assert login(op, username, password).status_code == 302
    token = csrf(op, "/operator")
    node.__dict__["db"], node.__dict__["redis"] = broken_db, broken_redis
    return op, token


def test_an_operator_submitting_a_call_during_an_outage_loses_nothing(ctx, run_worker, staff):
    op, token = operator_mid_shift(ctx)
    r = op.post("/operator/calls", data={"caller": "13911119876", "text": "东四北大街18号门口井盖丢了",
                                         "call_id": "op-outage-1", "csrf_token": token})
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    page = op.get(r.headers["Location"])   # the next call can be entered meanwhile
    assert page.status_code == 200 and "已暂存" in page.get_data(as_text=True)
    assert 'name="text"' in page.get_data(as_text=True)
    assert op.get("/operator/triage").status_code == 503   # what needs the database says so, as a page
    assert "数据库暂时不可用" in op.get("/operator/triage").get_data(as_text=True)

    database_back(ctx, run_worker)
    [msg] = stored(ctx, "hotline", "op-outage-1")
    assert msg.sender == "+8613911119876" and msg.meta["operator"] == "t_op"
    assert msg.status == "done" and msg.case_id
    [ack] = sms_to(ctx, "+8613911119876")
    assert ack.kind == "ack" and re.search(r"\d{8}-\d{6}", ack.text)


def test_with_nowhere_to_keep_a_call_the_operator_form_comes_back_with_everything_typed(ctx, staff):
    op, token = operator_mid_shift(ctx, redis_down=True)
    text = "交道口南大街20号垃圾桶坏了，没人管"
    r = op.post("/operator/calls", data={"caller": "13911115432", "text": text, "call_id": "op-outage-2",
                                         "csrf_token": token})
    html = r.get_data(as_text=True)
    assert r.status_code == 503 and "尚未保存" in html
    assert text in html and "13911115432" in html and "op-outage-2" in html  # the same call id: no double
    assert stored(ctx, "hotline", "op-outage-2") == [] and spool.waiting(ctx) == 0


def call_refused(op, token, call_id: str) -> None:
    r = op.post("/operator/calls", data={"caller": "13911110000", "text": "东四北大街18号门口井盖丢了",
                                         "call_id": call_id, "csrf_token": token})
    assert r.status_code in (302, 503) and "已暂存" not in r.get_data(as_text=True)
    if r.status_code == 302:
        assert "/login" in r.headers["Location"]
    assert spool.waiting(op.application.extensions["gridline"]) == 0


def test_an_account_deactivated_by_the_admin_cannot_file_calls_through_its_cookie_in_an_outage(ctx, staff, app):
    op, token = operator_mid_shift(ctx)
    with ctx.db.session() as s:
        user_id = s.scalar(select(User.id).where(User.username == "t_op"))
    admin = signed_in(app, "t_admin")
    r = post_form(admin, f"/admin/users/{user_id}", {"name": "t_op", "role": "operator", "grids": ""})  # no "active"
    assert r.status_code == 302
    call_refused(op, token, "op-revoked-1")   # its next request came only after the database went away


def test_an_account_seen_deactivated_keeps_no_snapshot_for_an_outage(ctx, staff):
    from app import create_app
    node = outage(ctx)
    broken_db = node.db
    node.__dict__["db"] = ctx.db
    op_app = create_app(node)
    op_app.testing = True
    op = signed_in(op_app, "t_op")
    token = csrf(op, "/operator")
    with ctx.db.session() as s:  # deactivated elsewhere (another node, the database itself): Redis not told
        s.get(User, s.scalar(select(User.id).where(User.username == "t_op"))).active = False
        s.commit()
    assert "/login" in op.get("/operator").headers["Location"]   # seen while the database answers
    node.__dict__["db"] = broken_db
    call_refused(op, token, "op-revoked-2")


def test_a_session_from_before_a_password_change_cannot_file_calls_in_an_outage(ctx, staff, app):
    from web.auth import create_user
    with ctx.db.session() as s:
        user = create_user(s, "t_op_pw", "before-change-2026", "operator", "改密话务员")
        s.commit()
        user_id = user.id
    op, token = operator_mid_shift(ctx, username="t_op_pw", password="before-change-2026")
    admin = signed_in(app, "t_admin")      # the password is reset while that session is idle
    assert post_form(admin, f"/admin/users/{user_id}", {"name": "改密话务员", "role": "operator", "active": "on",
                                                         "password": "after-change-2026", "grids": ""}).status_code == 302
    call_refused(op, token, "op-pw-1")
