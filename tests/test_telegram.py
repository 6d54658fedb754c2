"""Telegram channel, courier style: a table of update bodies written from the Bot API's documented
fields, each with the outcome a person would check; replies go out through the real
python-telegram-bot 22 against a loopback fake of the Bot API.
"""
from __future__ import annotations

import dataclasses
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import delete, func, select

from gateway.models import TelegramChat
from intake.context import Context
from intake.models import InboundMessage
from notify import outbox
from notify.models import OutboundMessage
from notify.telegram import TelegramBackend, backend_for

SECRET = "tg-secret-1f3a"
TOKEN = "123456:TEST-token"
CHAT = 5550001
BLOCKED_CHAT = 5550999
USER = {"id": CHAT, "is_bot": False, "first_name": "小明", "last_name": "王", "username": "xiaoming",
        "language_code": "zh-hans"}
PRIVATE = {"id": CHAT, "first_name": "小明", "last_name": "王", "username": "xiaoming", "type": "private"}
DATE = 1763790000


class FakeBotAPI:
    """Answers getMe, sendMessage and getFile like api.telegram.org, and serves the files getFile
    names (`files`: file id → bytes); records every call."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        self.files: dict[str, bytes] = {}
        self.down = False                  # answer every method with 502, as a failing proxy would
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    params = json.loads(raw or b"{}")
                else:  # PTB posts form fields, JSON-encoding the structured ones
                    params = {k: _maybe_json(v) for k, v in urllib.parse.parse_qsl(raw.decode())}
                token, _, method = self.path.removeprefix("/bot").partition("/")
                fake.calls.append((method, params))
                status, body = fake.answer(token, method, params)
                payload = json.dumps(body).encode()
                # Headers and body in one write: split writes stall ~40 ms on Nagle + delayed ACK.
                self.wfile.write(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                                 f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)

            def do_GET(self):                # <root>/file/bot<token>/<file_path>
                token, _, path = self.path.removeprefix("/file/bot").partition("/")
                fake.calls.append(("GET", {"path": path}))
                data = fake.files.get(path.removeprefix("photos/")) if urllib.parse.unquote(token) == TOKEN else None
                status = 200 if data is not None else 404
                data = data if data is not None else b"Not Found"
                self.wfile.write(f"HTTP/1.1 {status} X\r\nContent-Type: application/octet-stream\r\n"
                                 f"Content-Length: {len(data)}\r\n\r\n".encode() + data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, token, method, params):
        if self.down:
            return 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}
        if token != TOKEN:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        if method == "getMe":
            return 200, {"ok": True, "result": {"id": 123456, "is_bot": True, "first_name": "网格通",
                                                "username": "gridline_bot"}}
        if method == "sendMessage":
            chat_id = int(params["chat_id"])
            if chat_id == BLOCKED_CHAT:
                return 403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
            n = sum(1 for m, _ in self.calls if m == "sendMessage")
            return 200, {"ok": True, "result": {"message_id": 1000 + n, "date": DATE,
                                                "chat": {"id": chat_id, "type": "private"}, "text": params["text"]}}
        if method == "getFile":
            data = self.files.get(params["file_id"])
            if data is None:
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}
            return 200, {"ok": True, "result": {"file_id": params["file_id"], "file_unique_id": params["file_id"][-8:],
                                                "file_size": len(data), "file_path": f"photos/{params['file_id']}"}}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found"}

    def sent(self, chat_id=CHAT) -> list[dict]:
        return [p for m, p in self.calls if m == "sendMessage" and int(p["chat_id"]) == chat_id]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _maybe_json(value: str):
    try:
        return json.loads(value)
    except ValueError:
        return value


@pytest.fixture(scope="module")
def bot_api():
    fake = FakeBotAPI()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def ctx(ctx, bot_api):
    """The suite's context with Telegram switched on: its own config, the same database and Redis.

    The worker's processing takes this context, so run_worker sends Telegram replies to the fake.
    """
    config = dataclasses.replace(ctx.config, telegram_webhook_secret=SECRET, telegram_bot_token=TOKEN,
                                 telegram_base_url=bot_api.url)
    telegram_ctx = Context(config).preload()
    yield telegram_ctx
    telegram_ctx.db.dispose()


@pytest.fixture
def telegram(ctx, bot_api):
    bot_api.calls.clear()
    with ctx.db.session() as s:
        s.execute(delete(TelegramChat))
        s.commit()
    return bot_api


def deliver(ctx) -> int:
    """Send only what the webhook queued (the notify job's Telegram part, without processing intake)."""
    with ctx.db.session() as s:
        ids = outbox.claim(s, channels=["telegram"])
        return outbox.deliver(s, ids, {"telegram": backend_for(ctx.config)}) if ids else 0


def post(client, body, secret=SECRET, raw=None):
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
    return client.post("/telegram/webhook", data=data, content_type="application/json", headers=headers)


def message(update_id, chat=PRIVATE, **fields):
    return {"update_id": update_id, "message": {"message_id": update_id - 10000, "from": USER, "chat": chat,
                                                "date": DATE, **fields}}


def stored(ctx, update_id):
    with ctx.db.session() as s:
        return s.scalar(select(InboundMessage).where(InboundMessage.channel == "telegram",
                                                     InboundMessage.external_id == str(update_id)))


# (name, body, HTTP status, outcome, stored as (status, text) or None, reply contains / None)
CASES = [
    ("text report", message(10001, text="东四北大街18号门口井盖丢了"),
     200, "received", ("received", "东四北大街18号门口井盖丢了"), None),
    ("location", message(10002, location={"latitude": 39.935, "longitude": 116.415}),
     200, "received", ("received", ""), None),
    ("venue", message(10003, location={"latitude": 39.947, "longitude": 116.417},
                      venue={"location": {"latitude": 39.947, "longitude": 116.417}, "title": "雍和宫",
                             "address": "雍和宫大街12号"}),
     200, "received", ("received", ""), None),
    ("photo with caption", message(10004, caption="王府井大街路灯杆倒了", photo=[
        {"file_id": "AgACAgUAAxkBAAIBsmall", "file_unique_id": "AQADs", "width": 90, "height": 67, "file_size": 1204},
        {"file_id": "AgACAgUAAxkBAAIBlarge", "file_unique_id": "AQADl", "width": 1280, "height": 960,
         "file_size": 98120}]),
     200, "received", ("received", "王府井大街路灯杆倒了"), None),
    ("picture sent as a file", message(10020, caption="东四北大街垃圾没人清", document={
        "file_id": "BQACAgUAAxkBAAIBdoc", "file_unique_id": "AgADd", "file_name": "IMG_2031.JPG",
        "mime_type": "image/jpeg", "file_size": 2811904}),
     200, "received", ("received", "东四北大街垃圾没人清"), None),
    ("a document that is not a picture", message(10021, document={
        "file_id": "BQACAgUAAxkBAAIBpdf", "file_unique_id": "AgADp", "file_name": "投诉.pdf",
        "mime_type": "application/pdf", "file_size": 81920}),
     200, "ignored", ("ignored", ""), "暂不支持"),
    ("survey button", message(10005, text="3 不满意"), 200, "received", ("received", "3 不满意"), None),
    ("own contact", message(10006, contact={"phone_number": "8613800000021", "first_name": "小明",
                                            "user_id": CHAT}),
     200, "done", ("done", ""), "138****0021"),
    ("someone else's contact", message(10007, contact={"phone_number": "+8613900000099", "first_name": "老李",
                                                       "user_id": 7770001}),
     200, "ignored", ("ignored", ""), "本人的手机号"),
    ("/start", message(10008, text="/start", entities=[{"offset": 0, "length": 6, "type": "bot_command"}]),
     200, "command", ("done", "/start"), "网格通"),
    ("/status with a number", message(10009, text="/status@gridline_bot 20260101-000042",
                                      entities=[{"offset": 0, "length": 20, "type": "bot_command"}]),
     200, "received", ("received", "查询20260101-000042"), None),
    ("/status alone", message(10010, text="/status"), 200, "received", ("received", "查询"), None),
    ("long text", message(10019, text="东四北大街" + "井盖丢了" * 600), 200, "received",
     ("received", "东四北大街" + "井盖丢了" * 600), None),
    ("unknown command", message(10011, text="/weather"), 200, "ignored", ("ignored", "/weather"), "暂不支持"),
    ("sticker", message(10012, sticker={"file_id": "CAACAgIAAxkB", "file_unique_id": "AgADs", "type": "regular",
                                        "width": 512, "height": 512, "is_animated": False, "is_video": False}),
     200, "ignored", ("ignored", ""), "暂不支持"),
    ("edited message", {"update_id": 10013, "edited_message": {
        "message_id": 1, "from": USER, "chat": PRIVATE, "date": DATE, "edit_date": DATE + 60,
        "text": "东四北大街18号井盖丢了，很危险"}}, 200, "ignored", ("ignored", ""), None),
    ("callback query", {"update_id": 10014, "callback_query": {
        "id": "4382bfdwdsb323b2d9", "from": USER, "chat_instance": "-8452134", "data": "survey:1"}},
     200, "ignored", ("ignored", ""), None),
    ("user blocked the bot", {"update_id": 10015, "my_chat_member": {
        "chat": PRIVATE, "from": USER, "date": DATE,
        "old_chat_member": {"status": "member", "user": {"id": 123456, "is_bot": True, "first_name": "网格通"}},
        "new_chat_member": {"status": "kicked", "until_date": 0,
                            "user": {"id": 123456, "is_bot": True, "first_name": "网格通"}}}},
     200, "ignored", ("ignored", ""), None),
    ("group chat", message(10016, chat={"id": -100200300, "title": "小区业主群", "type": "supergroup"},
                           text="东四北大街有人占道经营"),
     200, "ignored", ("ignored", "东四北大街有人占道经营"), None),
    ("fields of the wrong shape", {"update_id": 10017, "message": {"message_id": "x", "text": "井盖"}},
     200, "ignored", ("ignored", ""), None),
    ("unknown future update type", {"update_id": 10018, "purchased_paid_media": {"from": USER, "payload": "x"}},
     200, "ignored", ("ignored", ""), None),
]


@pytest.mark.parametrize("name, body, status, outcome, expect_stored, reply", CASES, ids=[c[0] for c in CASES])
def test_update_table(ctx, client, telegram, name, body, status, outcome, expect_stored, reply):
    r = post(client, body)
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.get_json()["outcome"] == outcome
    msg = stored(ctx, body["update_id"])
    assert (msg.status, msg.text) == expect_stored
    assert msg.reason or msg.status == "received"  # whatever is not processed says why
    deliver(ctx)
    texts = [p["text"] for p in telegram.sent()]
    if reply is None:
        assert texts == []
    else:
        assert len(texts) == 1 and reply in texts[0], texts


@pytest.mark.parametrize("secret, raw, status, error", [
    ("wrong-secret", None, 403, "bad_secret"),
    (None, None, 403, "bad_secret"),
    (SECRET, '{"update_id": 10030, "message": {"text": "井盖"'.encode(), 400, "bad_json"),
    (SECRET, b'{"update_id": 10031, "message": {"text": "\xe4\xba\x95\xff"}}', 400, "bad_encoding"),
    (SECRET, b'[{"update_id": 10032}]', 400, "bad_json"),
    (SECRET, b'{"message": {"message_id": 1, "chat": {"id": 5550001, "type": "private"}, "date": 1}}',
     400, "missing_update_id"),
])
def test_refused_requests_store_nothing(ctx, client, telegram, secret, raw, status, error):
    body = message(10033, text="东四北大街18号井盖丢了")
    r = post(client, body, secret=secret, raw=raw)
    assert r.status_code == status
    assert r.get_json()["error"] == error and r.get_json()["message"]
    with ctx.db.session() as s:
        assert s.scalar(select(func.count(InboundMessage.id))) == 0


def test_webhook_is_off_without_a_secret(ctx, client, telegram, monkeypatch):
    monkeypatch.setattr(ctx.config, "telegram_webhook_secret", None)
    r = post(client, message(10034, text="井盖丢了"), secret="")
    assert r.status_code == 403 and r.get_json()["error"] == "telegram_disabled"


def test_a_retried_update_is_one_message_and_one_reply(ctx, client, telegram):
    body = message(10040, text="/start")
    assert post(client, body).get_json()["outcome"] == "command"
    assert post(client, body).get_json()["outcome"] == "duplicate"
    report = message(10041, text="王府井大街有人占道经营")
    assert post(client, report).get_json()["outcome"] == "received"
    assert post(client, report).get_json()["outcome"] == "duplicate"
    deliver(ctx)
    with ctx.db.session() as s:
        assert s.scalar(select(func.count(InboundMessage.id))) == 2
    assert len(telegram.sent()) == 1


def test_one_bad_update_does_not_block_the_next(ctx, client, telegram):
    assert post(client, message(10050, text="东四北大街18号井盖丢了")).status_code == 200
    assert post(client, None, raw=b'{"update_id": 10051, "message": ').status_code == 400
    assert post(client, {"update_id": 10052, "message": {"message_id": []}}).status_code == 200
    assert post(client, message(10053, text="王府井大街路灯不亮")).status_code == 200
    assert stored(ctx, 10050).status == stored(ctx, 10053).status == "received"
    assert stored(ctx, 10052).status == "ignored"


def test_shared_location_and_photo_land_in_meta(ctx, client, telegram):
    post(client, message(10060, location={"latitude": 39.935, "longitude": 116.415}))
    meta = stored(ctx, 10060).meta
    assert (meta["lat"], meta["lon"]) == (39.935, 116.415)
    assert ctx.grids.cell_at(meta["lon"], meta["lat"]) is not None  # the pipeline can place it directly
    post(client, message(10061, caption="王府井大街路灯杆倒了", photo=[
        {"file_id": "small-id", "file_unique_id": "s", "width": 90, "height": 67},
        {"file_id": "large-id", "file_unique_id": "l", "width": 1280, "height": 960}]))
    assert stored(ctx, 10061).meta["photos"] == ["telegram:large-id"]
    post(client, message(10062, caption="王府井大街路灯杆倒了", document={
        "file_id": "doc-id", "file_unique_id": "d", "file_name": "IMG_1.PNG", "mime_type": "image/png"}))
    assert stored(ctx, 10062).meta["photos"] == ["telegram:doc-id"]


def test_a_shared_location_puts_the_report_in_its_grid_cell(ctx, client, telegram, run_worker):
    from tickets.models import Case
    post(client, message(10065, text="这里的井盖丢了，很危险"))
    post(client, message(10066, location={"latitude": 39.935, "longitude": 116.415},
                         venue={"location": {"latitude": 39.935, "longitude": 116.415}, "title": "东四十条",
                                "address": "东四北大街"}))
    run_worker()
    with ctx.db.session() as s:
        cases = s.scalars(select(Case)).all()
        assert len(cases) == 1, [(m.status, m.reason) for m in s.scalars(select(InboundMessage))]
        assert cases[0].grid_code == ctx.grids.cell_at(116.415, 39.935).code
        assert (cases[0].lon, cases[0].lat) == (116.415, 39.935)


def test_the_phone_from_a_contact_is_remembered_for_the_chat(ctx, client, telegram):
    post(client, message(10070, contact={"phone_number": "+86 138-0000-0021", "first_name": "小明", "user_id": CHAT}))
    post(client, message(10071, text="东四北大街18号井盖丢了"))
    assert stored(ctx, 10071).meta["phone"] == "+8613800000021"
    with ctx.db.session() as s:
        assert s.get(TelegramChat, CHAT).phone == "+8613800000021"


def test_a_conversation_on_telegram_report_ack_status_result_survey(ctx, client, auth, telegram, run_worker):
    """Report → acknowledgement → /status → closure → survey keyboard → 3 不满意 → rework, all on Telegram."""
    from tickets.models import Case
    post(client, message(10080, text="东四北大街18号门口井盖丢了，晚上很危险"))
    run_worker()
    msg = stored(ctx, 10080)
    assert msg.status == "done", msg.reason
    with ctx.db.session() as s:
        number = s.get(Case, msg.case_id).number
    (ack,) = telegram.sent()
    assert number in ack["text"] and "reply_markup" not in ack

    post(client, message(10081, text=f"/status {number}"))
    run_worker()
    status = telegram.sent()[-1]
    assert number in status["text"] and "已派遣" in status["text"]

    for action, note in (("resolve", "已补装新井盖"), ("close", "核查属实")):
        r = client.post(f"/api/cases/{number}/actions", json={"action": action, "note": note}, headers=auth)
        assert r.status_code == 200, r.get_json()
    run_worker()
    result = telegram.sent()[-1]
    assert number in result["text"] and "已补装新井盖" in result["text"]
    assert [b["text"] for b in result["reply_markup"]["keyboard"][0]] == ["1 满意", "2 基本满意", "3 不满意"]

    post(client, message(10082, text="3 不满意"))  # the citizen taps the keyboard's third button
    run_worker()
    rework = telegram.sent()[-1]
    assert number in rework["text"] and rework["reply_markup"] == {"remove_keyboard": True}
    case = client.get(f"/api/cases/{number}", headers=auth).get_json()
    assert case["status"] != "closed"  # 返工: back to the department


def test_survey_question_carries_the_reply_keyboard(ctx, telegram):
    with ctx.db.session() as s:
        outbox.queue(s, str(CHAT), "【网格通】您反映的问题已办结。请回复数字评价：1满意 2基本满意 3不满意。", "result",
                     "test:result:1", channel="telegram")
        outbox.queue(s, str(CHAT), "感谢您的评价！", "survey_thanks", "test:thanks:1", channel="telegram")
        s.commit()
    assert deliver(ctx) == 2
    question, thanks = telegram.sent()
    buttons = [b["text"] for row in question["reply_markup"]["keyboard"] for b in row]
    assert buttons == ["1 满意", "2 基本满意", "3 不满意"]
    assert question["reply_markup"]["one_time_keyboard"] is True
    assert thanks["reply_markup"] == {"remove_keyboard": True}
    with ctx.db.session() as s:
        rows = s.scalars(select(OutboundMessage).order_by(OutboundMessage.id)).all()
        assert [(r.status, r.backend) for r in rows] == [("sent", "telegram")] * 2
        assert rows[0].provider_id == f"{CHAT}:1001"


def test_one_bot_per_process_and_one_getme(ctx, telegram):
    with ctx.db.session() as s:
        for i in range(5):
            outbox.queue(s, str(CHAT), f"第{i}条", "status", f"test:bot:{i}", channel="telegram")
        s.commit()
    assert deliver(ctx) == 5
    assert backend_for(ctx.config) is backend_for(ctx.config)
    assert [m for m, _ in telegram.calls].count("getMe") <= 1  # initialised once, earlier tests included


def test_a_chat_that_blocked_the_bot_fails_for_good_and_is_not_retried(ctx, telegram):
    with ctx.db.session() as s:
        outbox.queue(s, str(BLOCKED_CHAT), "【网格通】您的反映已收到。", "received", "test:blocked:1", channel="telegram")
        s.commit()
    assert deliver(ctx) == 0
    with ctx.db.session() as s:
        row = s.scalar(select(OutboundMessage))
        assert row.status == "failed" and "屏蔽" in row.error
    assert deliver(ctx) == 0 and len(telegram.sent(BLOCKED_CHAT)) == 1


def test_unreachable_bot_api_is_a_transient_failure(ctx, telegram):
    from store.redis_server import free_port
    backend = TelegramBackend(TOKEN, f"http://127.0.0.1:{free_port()}")
    with ctx.db.session() as s:
        outbox.queue(s, str(CHAT), "【网格通】您的反映已收到。", "received", "test:down:1", channel="telegram")
        s.commit()
        ids = outbox.claim(s, channels=["telegram"])
        assert outbox.deliver(s, ids, {"telegram": backend}) == 0
        row = s.scalar(select(OutboundMessage))
        assert row.status == "pending" and row.next_attempt_at is not None and "网络" in row.error
