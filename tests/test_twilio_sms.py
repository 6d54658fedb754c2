"""Twilio SMS in and out: a table of webhook bodies written from Twilio's documented fields, status
callbacks, and sending through the real twilio Client against a loopback fake of Twilio's API."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from intake.models import InboundMessage
from intake.processing import deliver_outbox, sweep
from notify import outbox
from notify.models import DeliveryReceipt, OptOut, OutboundMessage
from store.db import utcnow
from twilio_fake import (ACCOUNT_SID, OUR_NUMBER, PUBLIC_URL, fake_twilio, post_signed,  # noqa: F401,F811 (fixtures)
                         signature, sms_client, sms_fields, twilio_context, twilio_ctx)

CITIZEN = "+8613800138000"
PHOTO = "https://api.twilio.com/2010-04-01/Accounts/" + ACCOUNT_SID + "/Messages/MM{n}/Media/ME{n}"


def _mms(body, *types, **extra):
    media = {}
    for i, content_type in enumerate(types):
        media[f"MediaUrl{i}"] = PHOTO.format(n=f"{i:032d}")
        media[f"MediaContentType{i}"] = content_type
    return sms_fields(CITIZEN, body, NumMedia=str(len(types)), **media, **extra)


def _without(fields, *names):
    return {k: v for k, v in fields.items() if k not in names}


# Each row: a body as Twilio posts it, how it is signed, and what must happen.
INBOUND = [
    ("plain SMS", sms_fields(CITIZEN, "东四北大街18号门口井盖丢了"), "valid", 200,
     {"text": "东四北大街18号门口井盖丢了", "photos": 0}),
    ("through a Messaging Service, with geo fields",
     sms_fields(CITIZEN, "王府井大街有人占道经营", MessagingServiceSid="MG" + "1" * 32, FromCity="BEIJING",
                FromState="Beijing", FromCountry="CN"), "valid", 200, {"text": "王府井大街有人占道经营"}),
    ("MMS with two photos", _mms("交道口南大街20号垃圾桶坏了", "image/jpeg", "image/png"), "valid", 200,
     {"photos": 2, "media": 2}),
    ("MMS photo and no text", _mms("", "image/jpeg"), "valid", 200, {"text": "", "photos": 1}),
    ("MMS video is media to listen to, not a photo", _mms("看视频", "video/mp4"), "valid", 200,
     {"photos": 0, "media": 1, "voice": 1}),
    ("MMS recording and no text", _mms("", "audio/amr"), "valid", 200, {"text": "", "photos": 0, "voice": 1}),
    ("a field Twilio added without notice", sms_fields(CITIZEN, "雍和宫门口路灯不亮", ProfileName="张三",
                                                       AddOns='{"status":"successful"}'), "valid", 200,
     {"twilio_field": ("ProfileName", "张三")}),
    ("Advanced Opt-Out keyword", sms_fields(CITIZEN, "TD", OptOutType="STOP"), "valid", 200,
     {"opt_out_type": "STOP"}),
    ("Body missing altogether", sms_fields(CITIZEN, None), "valid", 200, {"text": "", "body_missing": True}),
    ("Body longer than Twilio's 1 600 characters", sms_fields(CITIZEN, "井" * 2500), "valid", 200,
     {"too_long": 2500}),
    ("Body changed after signing", sms_fields(CITIZEN, "东四北大街18号井盖丢了"), "tampered", 403, None),
    ("no X-Twilio-Signature", sms_fields(CITIZEN, "东四北大街18号井盖丢了"), "unsigned", 403, None),
    ("signed over the internal URL (proxy)", sms_fields(CITIZEN, "东四北大街18号井盖丢了"), "internal-url", 403, None),
    ("signed with another account's token", sms_fields(CITIZEN, "东四北大街18号井盖丢了"), "other-token", 403, None),
    ("no MessageSid", _without(sms_fields(CITIZEN, "井盖丢了"), "MessageSid", "SmsSid", "SmsMessageSid"),
     "valid", 400, None),
    ("no From", _without(sms_fields(CITIZEN, "井盖丢了"), "From"), "valid", 400, None),
]


@pytest.mark.parametrize("name, fields, signing, status, expect", INBOUND, ids=[r[0] for r in INBOUND])
def test_incoming_sms_table(sms_client, twilio_ctx, name, fields, signing, status, expect):
    path = "/sms/twilio"
    headers = {"X-Twilio-Signature": signature(path, fields)}
    body = dict(fields)
    if signing == "tampered":
        body["Body"] = body["Body"].replace("18号", "81号")
    elif signing == "unsigned":
        headers = {}
    elif signing == "internal-url":
        headers = {"X-Twilio-Signature": signature(path, fields, url="http://localhost")}
    elif signing == "other-token":
        headers = {"X-Twilio-Signature": signature(path, fields, token="0" * 32)}
    r = sms_client.post(path, data=body, headers=headers)
    assert r.status_code == status, r.data
    sid = fields.get("MessageSid")
    with twilio_ctx.db.session() as s:
        stored = s.scalars(select(InboundMessage)).all()
    if status != 200:
        assert stored == []
        assert r.get_json()["error"] and r.get_json()["message"]
        return
    assert r.mimetype == "application/xml" and b"<Response" in r.data and b"<Message" not in r.data
    assert len(stored) == 1
    msg = stored[0]
    assert (msg.channel, msg.external_id, msg.sender, msg.status) == ("sms", sid, CITIZEN, "received")
    assert msg.meta["to"] == OUR_NUMBER
    for key, value in expect.items():
        if key == "text":
            assert msg.text == value
        elif key == "photos":
            assert len(msg.meta["photos"]) == value
        elif key in ("media", "voice"):
            assert len(msg.meta[key]) == value
        elif key == "twilio_field":
            assert msg.meta["twilio"][value[0]] == value[1]
        else:
            assert msg.meta[key] == value


def test_mms_media_are_kept_with_their_types(sms_client, twilio_ctx):
    fields = _mms("交道口南大街20号垃圾桶坏了", "image/jpeg", "video/mp4")
    assert post_signed(sms_client, "/sms/twilio", fields).status_code == 200
    with twilio_ctx.db.session() as s:
        meta = s.scalar(select(InboundMessage)).meta
    assert meta["media"] == [{"url": fields["MediaUrl0"], "content_type": "image/jpeg"},
                             {"url": fields["MediaUrl1"], "content_type": "video/mp4"}]
    assert meta["photos"] == [fields["MediaUrl0"]]


def test_a_replayed_message_sid_is_one_message_one_case_one_reply(sms_client, twilio_ctx, fake_twilio, run_worker):
    fields = sms_fields(CITIZEN, "东四北大街18号门口井盖丢了")
    for _ in range(3):  # Twilio retries when our answer is slow
        assert post_signed(sms_client, "/sms/twilio", fields).status_code == 200
    run_worker()
    assert post_signed(sms_client, "/sms/twilio", fields).status_code == 200  # and a late replay
    run_worker()
    with twilio_ctx.db.session() as s:
        assert s.scalar(select(func.count(InboundMessage.id))) == 1
        assert s.scalar(select(InboundMessage.status)) == "done"
    assert len(fake_twilio.bodies(CITIZEN)) == 1 and "案卷号" in fake_twilio.bodies(CITIZEN)[0]


@pytest.mark.parametrize("fields, reason", [
    (sms_fields(CITIZEN, None), "缺少 Body"),
    (sms_fields(CITIZEN, "井" * 2500), "过长"),
    (sms_fields(CITIZEN, "   "), "没有文字"),
])
def test_bodies_that_cannot_be_processed_are_kept_for_a_person(sms_client, twilio_ctx, run_worker, fields, reason):
    assert post_signed(sms_client, "/sms/twilio", fields).status_code == 200
    run_worker()
    with twilio_ctx.db.session() as s:
        msg = s.scalar(select(InboundMessage))
    assert msg.status == "triage" and reason in msg.reason and msg.case_id is None


def test_signature_covers_the_query_string_of_the_public_url(sms_client, twilio_ctx):
    fields = sms_fields(CITIZEN, "东四北大街18号门口井盖丢了")
    path = "/sms/twilio?city=dongcheng"
    assert sms_client.post(path, data=fields, headers={"X-Twilio-Signature": signature(path, fields)}).status_code == 200
    other = sms_fields(CITIZEN, "东四北大街18号门口井盖丢了")
    r = sms_client.post(path, data=other, headers={"X-Twilio-Signature": signature("/sms/twilio", other)})
    assert r.status_code == 403


def test_broken_encoding_wrong_type_and_oversize_are_clear_errors(sms_client, twilio_ctx):
    raw = b"MessageSid=SM1&From=%2B8613800138000&Body=%E4%BA%95%FF%FE"
    r = sms_client.post("/sms/twilio", data=raw, content_type="application/x-www-form-urlencoded",
                        headers={"X-Twilio-Signature": "x"})
    assert r.status_code == 400 and r.get_json()["error"] == "bad_encoding"
    r = sms_client.post("/sms/twilio", json={"Body": "井盖"}, headers={"X-Twilio-Signature": "x"})
    assert r.status_code == 415 and r.get_json()["error"] == "unsupported_media_type"
    big = sms_fields(CITIZEN, "井" * 30000)
    assert post_signed(sms_client, "/sms/twilio", big).status_code == 413
    with twilio_ctx.db.session() as s:
        assert s.scalar(select(func.count(InboundMessage.id))) == 0


def test_without_an_auth_token_nothing_is_accepted(ctx, fake_twilio):
    from app import create_app
    c = twilio_context(ctx, fake_twilio, twilio_auth_token=None)
    r = post_signed(create_app(c).test_client(), "/sms/twilio", sms_fields(CITIZEN, "井盖丢了"))
    assert r.status_code == 503 and "TWILIO_AUTH_TOKEN" in r.get_json()["message"]


# ---- sending through the real twilio Client --------------------------------------------------

def _queue(c, to=CITIZEN, text="【网格通】测试消息", kind="ack", key=None, **kw):
    with c.db.session() as s:
        row = outbox.queue(s, to, text, kind, key or f"test:{uuid.uuid4().hex}", **kw)
        s.commit()
        return row.id


def _row(c, row_id) -> OutboundMessage:
    with c.db.session() as s:
        return s.get(OutboundMessage, row_id)


def test_send_goes_through_twilio_with_callback_and_from_number(twilio_ctx, fake_twilio):
    row_id = _queue(twilio_ctx)
    assert deliver_outbox() == 1
    [sent] = fake_twilio.sent
    assert sent.account == ACCOUNT_SID and sent.user == ACCOUNT_SID
    assert sent.fields["To"] == CITIZEN and sent.fields["From"] == OUR_NUMBER
    assert sent.fields["Body"] == "【网格通】测试消息"
    assert sent.fields["StatusCallback"] == PUBLIC_URL + "/sms/twilio/status"
    row = _row(twilio_ctx, row_id)
    assert (row.status, row.backend, row.sender, row.attempts) == ("queued", "twilio", OUR_NUMBER, 1)
    assert row.provider_id.startswith("SM")
    assert deliver_outbox() == 0 and len(fake_twilio.sent) == 1  # never twice


def test_messaging_service_sends_without_a_from_number(ctx, fake_twilio):
    c = twilio_context(ctx, fake_twilio, twilio_from="MG" + "a" * 32)
    _queue(c)
    assert deliver_outbox() == 1
    assert fake_twilio.sent[0].fields["MessagingServiceSid"] == "MG" + "a" * 32
    assert "From" not in fake_twilio.sent[0].fields


def test_a_reply_leaves_from_the_pool_number_the_citizen_wrote_to(ctx, fake_twilio):
    pool = ["+8610690000001", "+8610690000002", "+8610690000003"]
    c = twilio_context(ctx, fake_twilio, twilio_from=",".join(pool))
    _queue(c, sender=pool[2])
    _queue(c, to="+8613900000009", text="没有指定号码")
    assert deliver_outbox() == 2
    assert fake_twilio.sent[0].fields["From"] == pool[2]
    assert fake_twilio.sent[1].fields["From"] in pool


def test_21211_fails_at_once_with_the_reason(twilio_ctx, fake_twilio):
    fake_twilio.script.append((400, {"code": 21211, "message": "The 'To' number +86138 is not a valid phone number.",
                                     "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}))
    row_id = _queue(twilio_ctx, to="+86138")
    assert deliver_outbox() == 0
    row = _row(twilio_ctx, row_id)
    assert row.status == "failed" and row.error_code == "21211" and "21211" in row.error
    assert row.next_attempt_at is None
    deliver_outbox()
    assert len(fake_twilio.sent) == 1


def test_500_is_retried_after_the_backoff_then_sent(twilio_ctx, fake_twilio):
    fake_twilio.script.append((500, {"code": 20500, "message": "Internal Server Error", "status": 500}))
    row_id = _queue(twilio_ctx)
    before = utcnow()
    assert deliver_outbox() == 0
    row = _row(twilio_ctx, row_id)
    assert row.status == "pending" and "500" in row.error
    assert row.next_attempt_at > before + timedelta(seconds=20)   # GRIDLINE_SEND_RETRY_SECONDS=30, ±10 %
    assert deliver_outbox() == 0 and len(fake_twilio.sent) == 1   # not before its time
    with twilio_ctx.db.session() as s:  # time passes
        s.execute(update(OutboundMessage).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
        s.commit()
    assert sweep(min_age_seconds=0).get("notify") is True  # the sweeper sees it is due
    assert deliver_outbox() == 1
    row = _row(twilio_ctx, row_id)
    assert (row.status, row.attempts, row.error) == ("queued", 2, "")
    assert len(fake_twilio.sent) == 2


def test_429_and_network_errors_are_transient(ctx, twilio_ctx, fake_twilio):
    fake_twilio.script.append((429, {"code": 20429, "message": "Too Many Requests", "status": 429}))
    row_id = _queue(twilio_ctx)
    deliver_outbox()
    assert _row(twilio_ctx, row_id).status == "pending"
    from store.redis_server import free_port
    c = twilio_context(ctx, fake_twilio, twilio_base_url=f"http://127.0.0.1:{free_port()}")  # nobody there
    row_id = _queue(c, text="网络不通")
    deliver_outbox()
    row = _row(c, row_id)
    assert row.status == "pending" and "连接 Twilio 失败" in row.error


def test_gives_up_after_the_last_attempt(ctx, fake_twilio):
    c = twilio_context(ctx, fake_twilio, send_retry_seconds=0, send_max_attempts=3)
    fake_twilio.script.extend([(503, {"code": 20503, "message": "Service Unavailable", "status": 503})] * 3)
    row_id = _queue(c)
    deliver_outbox()
    row = _row(c, row_id)
    assert row.status == "failed" and row.attempts == 3 and "重试 3 次仍失败" in row.error
    assert len(fake_twilio.sent) == 3


def test_per_number_rate_spaces_the_sends(ctx, fake_twilio):
    c = twilio_context(ctx, fake_twilio, sms_rate=2.0)   # 2 segments a second on our one number
    for i in range(3):
        _queue(c, to=f"+861380000000{i}", text=f"短信{i}")
    assert deliver_outbox() == 3
    times = [s.at for s in fake_twilio.sent]
    # Sends are spaced 0.5 s apart; the margin is for a loaded machine's network jitter.
    assert times[-1] - times[0] >= 0.8, times


def test_a_busy_number_puts_the_row_back_for_later(ctx, fake_twilio):
    c = twilio_context(ctx, fake_twilio, sms_rate=1.0)
    _queue(c, text="长" * 300)                 # 5 segments: the number is busy for 5 s
    later = _queue(c, to="+8613800000077", text="下一条")
    assert deliver_outbox() == 1
    row = _row(c, later)
    assert row.status == "pending" and row.attempts == 0
    assert row.next_attempt_at > utcnow() + timedelta(seconds=2)
    assert len(fake_twilio.sent) == 1


def test_too_old_to_be_useful_is_dropped_and_says_why(twilio_ctx, fake_twilio):
    row_id = _queue(twilio_ctx, kind="status", text="进度：处置中")
    with twilio_ctx.db.session() as s:
        s.execute(update(OutboundMessage).values(created_at=utcnow() - timedelta(hours=2)))
        s.commit()
    deliver_outbox()
    row = _row(twilio_ctx, row_id)
    assert row.status == "dropped" and "已过时效" in row.error and "1 小时" in row.error
    assert fake_twilio.sent == []


def test_max_age_per_kind_is_configurable(ctx, fake_twilio):
    c = twilio_context(ctx, fake_twilio, outbox_max_age="ack=10m")
    row_id = _queue(c)
    with c.db.session() as s:
        s.execute(update(OutboundMessage).values(created_at=utcnow() - timedelta(minutes=11)))
        s.commit()
    deliver_outbox()
    assert _row(c, row_id).status == "dropped" and "10 分钟" in _row(c, row_id).error


def test_a_claimed_row_is_never_resent_and_shows_up_as_interrupted(twilio_ctx, fake_twilio):
    row_id = _queue(twilio_ctx)
    with twilio_ctx.db.session() as s:  # a worker claimed it and died before the provider answered
        assert outbox.claim(s) == [row_id]
    assert deliver_outbox() == 0 and fake_twilio.sent == []
    with twilio_ctx.db.session() as s:
        s.execute(update(OutboundMessage).values(status_at=utcnow() - timedelta(minutes=11)))
        s.commit()
    sweep(min_age_seconds=0)
    row = _row(twilio_ctx, row_id)
    assert row.status == "failed" and "不再重发" in row.error
    assert deliver_outbox() == 0 and fake_twilio.sent == []


def test_unsubscribed_at_twilio_is_recorded_as_opt_out(twilio_ctx, fake_twilio):
    fake_twilio.script.append((400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient",
                                     "status": 400}))
    _queue(twilio_ctx)
    deliver_outbox()
    with twilio_ctx.db.session() as s:
        assert s.scalar(select(OptOut.opted_out).where(OptOut.address == CITIZEN)) is True
    _queue(twilio_ctx, text="之后的消息")
    deliver_outbox()
    assert len(fake_twilio.sent) == 1



def test_in_one_batch_only_the_recipients_who_opted_out_are_skipped(twilio_ctx, fake_twilio):
    stopped, other = "+8613800138111", "+8613800138222"
    with twilio_ctx.db.session() as s:
        outbox.set_opt_out(s, "sms", stopped, True, "STOP")
        outbox.set_opt_out(s, "sms", other, False, "START")   # opted back in: sent again
        s.commit()
    rows = [_queue(twilio_ctx, to=stopped), _queue(twilio_ctx, to=other),
            _queue(twilio_ctx, to=stopped, kind="optout", text="【网格通】已退订")]  # the confirmation still goes
    assert deliver_outbox() == 2
    assert sorted(m.fields["To"] for m in fake_twilio.sent) == sorted([other, stopped])
    first = _row(twilio_ctx, rows[0])
    assert first.status == "dropped" and first.error == "市民已退订，不再发送"
    assert _row(twilio_ctx, rows[2]).provider_id   # handed to Twilio


# ---- status callbacks ------------------------------------------------------------------------

def _status_fields(sid, status, error_code=""):
    fields = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
              "AccountSid": ACCOUNT_SID, "From": OUR_NUMBER, "To": CITIZEN, "ApiVersion": "2010-04-01"}
    if error_code:
        fields["ErrorCode"] = error_code
    return fields


STATUS_ROWS = [
    ("sent, then delivered", [("sent", ""), ("delivered", "")], "delivered", "", 2),
    ("delivered, then a late sent", [("delivered", ""), ("sent", "")], "delivered", "", 2),
    ("undelivered: phone off", [("sent", ""), ("undelivered", "30003")], "undelivered", "30003", 2),
    ("failed: unknown error", [("failed", "30008")], "failed", "30008", 1),
    ("the same callback twice", [("delivered", ""), ("delivered", "")], "delivered", "", 1),
]


@pytest.mark.parametrize("name, callbacks, status, error_code, receipts", STATUS_ROWS, ids=[r[0] for r in STATUS_ROWS])
def test_status_callback_table(sms_client, twilio_ctx, fake_twilio, name, callbacks, status, error_code, receipts):
    row_id = _queue(twilio_ctx)
    deliver_outbox()
    sid = _row(twilio_ctx, row_id).provider_id
    for cb_status, code in callbacks:
        r = post_signed(sms_client, "/sms/twilio/status", _status_fields(sid, cb_status, code))
        assert r.status_code == 204
    row = _row(twilio_ctx, row_id)
    assert (row.status, row.error_code) == (status, error_code)
    if error_code:
        assert error_code in row.error and "：" in row.error
    with twilio_ctx.db.session() as s:
        assert s.scalar(select(func.count(DeliveryReceipt.id))) == receipts


def test_a_callback_that_races_ahead_of_our_commit_is_applied_later(sms_client, twilio_ctx, fake_twilio):
    sid = "SM" + "f" * 32
    r = post_signed(sms_client, "/sms/twilio/status", _status_fields(sid, "delivered"))
    assert r.status_code == 204   # we do not know the message yet: the receipt is kept
    fake_twilio.next_sids.append(sid)
    row_id = _queue(twilio_ctx)
    deliver_outbox()
    row = _row(twilio_ctx, row_id)
    assert row.provider_id == sid and row.status == "delivered"


@pytest.mark.parametrize("fields, signed, status", [
    (_status_fields("SM" + "1" * 32, "delivered"), False, 403),
    (_without(_status_fields("SM" + "1" * 32, "delivered"), "MessageStatus", "SmsStatus"), True, 400),
    (_without(_status_fields("SM" + "1" * 32, "delivered"), "MessageSid", "SmsSid"), True, 400),
])
def test_bad_status_callbacks_are_refused(sms_client, twilio_ctx, fields, signed, status):
    r = post_signed(sms_client, "/sms/twilio/status", fields) if signed else \
        sms_client.post("/sms/twilio/status", data=fields)
    assert r.status_code == status
    with twilio_ctx.db.session() as s:
        assert s.scalar(select(func.count(DeliveryReceipt.id))) == 0
