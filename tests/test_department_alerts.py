"""A department's notices on every target it has: the real SLA scan at frozen times queues SMS,
Telegram and a signed webhook (one dedupe key each), and the real outbox job sends them — SMS to
the console, Telegram to the loopback fake Bot API of test_telegram, the webhook to a loopback
receiver that checks the signature the way README tells a receiving system to.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from case_factory import act_at, at, env, open_at, without_dispatch_notice
from intake import processing
from intake.context import Context
from notify import outbox
from notify.models import OutboundMessage
from notify.webhook import WebhookBackend, backend_for, signature
from routing.router import street_office
from routing.rules import RulesError, load_rules
from rules_copy import add_to_department, write_rules
from store.db import utcnow
from test_telegram import TOKEN as BOT_TOKEN
from test_telegram import bot_api  # noqa: F401 (fixture: the loopback Bot API)
from tickets import sla_scan

SECRET = "whsec-test-7c1d"
CHAT = -1001234567890          # a department's group chat


def verify(secret: str, timestamp: str, body: bytes, header: str, max_age: int = 300) -> bool:
    """README's receiver check: the HMAC over "<timestamp>.<body>", and a fresh timestamp."""
    expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header) and abs(time.time() - int(timestamp)) <= max_age


class Receiver:
    """A department's system: answers each POST with the next scripted (status, body), else 200."""

    def __init__(self):
        self.posts: list[dict] = []
        self.script: list[tuple[int, str]] = []
        me = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                h = self.headers
                ok = verify(SECRET, h.get("X-Gridline-Timestamp", "0"), body, h.get("X-Gridline-Signature", ""))
                me.posts.append({"path": self.path, "body": body, "verified": ok, "delivery": h.get("X-Gridline-Delivery"),
                                 "content_type": h.get("Content-Type")})
                status, text = me.script.pop(0) if me.script else (200, "ok")
                if not ok:
                    status, text = 401, "bad signature"
                raw = text.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/gridline/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def ctx(ctx, receiver, bot_api, tmp_path_factory):
    """The suite's database and Redis, a rules copy giving that department a chat and a webhook,
    Telegram on (the fake) and webhooks signed with SECRET."""
    folder = tmp_path_factory.mktemp("alert_rules")
    path = write_rules(folder)
    name = next(c for c in ctx.rules.categories if not c.urgent).department   # case_factory.new_case's
    add_to_department(path, name, f"    telegram_chat: {CHAT}\n    webhook: {receiver.url}\n")
    config = dataclasses.replace(ctx.config, rules_path=path, telegram_bot_token=BOT_TOKEN,
                                 telegram_base_url=bot_api.url, webhook_secret=SECRET)
    alert_ctx = Context(config)
    yield alert_ctx
    alert_ctx.db.dispose()


@pytest.fixture(autouse=True)
def fresh(receiver, bot_api):
    receiver.posts.clear()
    receiver.script.clear()
    bot_api.calls.clear()


def rows(s, kind=None) -> list[tuple[str, str, str]]:
    q = select(OutboundMessage).order_by(OutboundMessage.id)
    if kind:
        q = q.where(OutboundMessage.kind == kind)
    return [(m.kind, m.channel, m.status) for m in s.scalars(q)]


def red_case(ctx, s):
    """A case dispatched Monday 09:00 with 4 working hours: due 15:00; the scan turns it red then."""
    case = open_at(ctx, s, at(2026, 11, 23, 9, 0), policy=without_dispatch_notice())
    sla_scan.scan(s, env(ctx), now=at(2026, 11, 23, 15, 0))
    return case


def test_red_light_reaches_sms_telegram_and_webhook_once_each(ctx, receiver, bot_api):
    with ctx.db.session() as s:
        case = red_case(ctx, s)
        e = env(ctx)
        assert sla_scan.scan(s, e, now=at(2026, 11, 23, 15, 0)) == {}       # the scan runs again
        case.sla_level, case.next_check_at = "yellow", at(2026, 11, 23, 15, 0)   # even judged red twice:
        assert sla_scan.scan(s, e, now=at(2026, 11, 23, 15, 0)) == {"red": 1}
        assert rows(s) == [("red", "sms", "pending"), ("red", "telegram", "pending"), ("red", "webhook", "pending")]
        keys = s.scalars(select(OutboundMessage.dedupe_key).order_by(OutboundMessage.id)).all()
        assert keys == [f"sla:{case.id}:1:red", f"sla:{case.id}:1:red:telegram", f"sla:{case.id}:1:red:webhook"]
        number, department, grid = case.number, case.department.name, case.grid_code

    assert processing.deliver_outbox() == 3
    assert processing.deliver_outbox() == 0                                # and the job runs again
    with ctx.db.session() as s:
        assert [st for _, _, st in rows(s)] == ["sent", "sent", "sent"]
        sms_text = s.scalar(select(OutboundMessage.text).where(OutboundMessage.channel == "sms"))
    [chat] = bot_api.sent(CHAT)
    assert chat["text"] == sms_text and number in sms_text
    [post] = receiver.posts
    assert post["verified"] and post["path"] == "/gridline/hook"
    assert post["content_type"].startswith("application/json")
    assert post["delivery"] == keys[2]
    body = json.loads(post["body"])
    assert body == {"id": keys[2], "event": "red", "case_number": number, "category_code": body["category_code"],
                    "category": body["category"], "department": department, "grid_code": grid,
                    "due_at": "2026-11-23T15:00:00+08:00", "status": "dispatched", "sla_level": "red",
                    "text": sms_text, "timestamp": "2026-11-23T15:00:00+08:00"}
    assert body["category"] and body["category_code"].isdigit()


def test_escalation_reaches_the_departments_webhook_with_its_step(ctx, receiver):
    with ctx.db.session() as s:
        red_case(ctx, s)
        counts = sla_scan.scan(s, env(ctx), now=at(2026, 11, 24, 9, 0))   # 4 working hours late
        assert counts["escalate"] == 1
        hook = s.scalar(select(OutboundMessage).where(OutboundMessage.kind == "escalate",
                                                      OutboundMessage.channel == "webhook"))
        body = json.loads(hook.text)
        assert body["event"] == "escalate" and body["step"] == 1 and body["recipient"].endswith("负责人")
        assert ("escalate", "sms", "pending") in rows(s, "escalate")


def test_rework_reaches_every_target_of_the_department(ctx):
    with ctx.db.session() as s:
        case = open_at(ctx, s, at(2026, 11, 23, 9, 0))
        act_at(ctx, s, case, "resolve", "department", at(2026, 11, 23, 10, 0), note="已清理")
        act_at(ctx, s, case, "rework", "verifier", at(2026, 11, 23, 16, 0), note="现场仍有垃圾")
        s.commit()
        sent = s.scalars(select(OutboundMessage).where(OutboundMessage.kind == "rework")
                         .order_by(OutboundMessage.id)).all()
        assert [(m.channel, m.dedupe_key) for m in sent] == [
            ("sms", f"rework:{case.id}:2"), ("telegram", f"rework:{case.id}:2:telegram"),
            ("webhook", f"rework:{case.id}:2:webhook")]
        body = json.loads(sent[2].text)
        assert body["event"] == "rework" and "现场仍有垃圾" in body["text"] and body["status"] == "accepted"
        assert body["timestamp"] == "2026-11-23T16:00:00+08:00"


def test_a_500_is_retried_after_the_backoff_then_sent(ctx, receiver):
    receiver.script[:] = [(500, "upstream down")]
    with ctx.db.session() as s:
        red_case(ctx, s)
    processing.deliver_outbox()
    with ctx.db.session() as s:
        hook = s.scalar(select(OutboundMessage).where(OutboundMessage.channel == "webhook"))
        assert (hook.status, hook.attempts, hook.error_code) == ("pending", 1, "500")
        assert "接收方返回 500：upstream down" in hook.error
        assert hook.next_attempt_at > utcnow() + timedelta(seconds=20)    # 30 s, ±10 %
        hook_id, due = hook.id, hook.next_attempt_at
    assert processing.deliver_outbox() == 0                                # not before its time
    assert len(receiver.posts) == 1
    made = processing.backends(ctx)
    with ctx.db.session() as s:
        ids = outbox.claim(s, channels=["webhook"], now=due)
        assert ids == [hook_id]
        assert outbox.deliver(s, ids, made["backends"], made["policy"]) == 1
        hook = s.get(OutboundMessage, hook_id)
        assert (hook.status, hook.attempts, hook.error, hook.backend) == ("sent", 2, "", "webhook")
    first, second = receiver.posts
    assert first["body"] == second["body"] and first["delivery"] == second["delivery"]
    assert first["verified"] and second["verified"]


def test_a_400_fails_at_once_with_the_reason(ctx, receiver):
    receiver.script[:] = [(400, "unknown case_number")]
    with ctx.db.session() as s:
        red_case(ctx, s)
    processing.deliver_outbox()
    with ctx.db.session() as s:
        hook = s.scalar(select(OutboundMessage).where(OutboundMessage.channel == "webhook"))
        assert (hook.status, hook.attempts, hook.error_code) == ("failed", 1, "400")
        assert hook.error == "接收方返回 400：unknown case_number"
        assert hook.next_attempt_at is None
    processing.deliver_outbox()
    assert len(receiver.posts) == 1


def test_an_unreachable_receiver_is_transient():
    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{closed.server_port}/hook"
    closed.server_close()                                                  # nobody listens there now
    msg = OutboundMessage(id=1, to=url, text="{}", dedupe_key="k", kind="red")
    with pytest.raises(outbox.SendError) as err:
        WebhookBackend(SECRET, timeout=2).send(msg)
    assert err.value.transient and "连接接收方失败" in str(err.value)


def test_the_signature_verifies_and_a_tampered_body_or_old_timestamp_does_not(receiver):
    body = json.dumps({"event": "red", "case_number": "20261123-000001"}, ensure_ascii=False).encode()
    stamp = str(int(time.time()))
    header = signature(SECRET, stamp, body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify(SECRET, stamp, body, header)
    assert not verify(SECRET, stamp, body.replace(b"000001", b"000002"), header)
    assert not verify("another-secret", stamp, body, header)
    old = str(int(time.time()) - 3600)
    assert not verify(SECRET, old, body, signature(SECRET, old, body))     # a replay an hour later
    # The receiver refuses what was signed with the wrong secret: the outbox fails it with the reason.
    msg = OutboundMessage(id=2, to=receiver.url, text=body.decode(), dedupe_key="k2", kind="red")
    with pytest.raises(outbox.SendError) as err:
        WebhookBackend("wrong-secret").send(msg)
    assert not err.value.transient and "401" in str(err.value)
    assert receiver.posts[-1]["verified"] is False


def test_without_a_secret_the_webhook_channel_is_off(ctx):
    assert backend_for(dataclasses.replace(ctx.config, webhook_secret=None)) is None
    assert isinstance(backend_for(ctx.config), WebhookBackend)
    assert "webhook" in processing.backends(ctx)["backends"]


# ---- routing_rules.yaml: the targets and their checks ------------------------------------------------


def rules_with(tmp_path, name: str, lines: str):
    path = write_rules(tmp_path)
    return path, add_to_department(path, name, lines)


def test_rules_take_a_chat_and_a_webhook_and_street_offices_inherit_them(tmp_path):
    path, _ = rules_with(tmp_path, "属地街道办事处", "    telegram_chat: -1009876543210\n"
                                                  "    webhook: https://jiedao.example.gov.cn/hook?k=1\n")
    rules = load_rules(path)
    local = rules.departments["属地街道办事处"]
    assert (local.telegram_chat, local.webhook) == ("-1009876543210", "https://jiedao.example.gov.cn/hook?k=1")
    office = street_office(rules, "东华门街道")
    assert (office.name, office.telegram_chat, office.webhook) == ("东华门街道办事处", local.telegram_chat, local.webhook)
    assert rules.department_or_office("东华门街道办事处") is local
    assert rules.department_or_office("不存在的单位") is None
    assert rules.departments["东城区水务局"].webhook == ""


@pytest.mark.parametrize("lines, message", [
    ("    telegram_chat: xiaoming\n", "telegram_chat 应为 Telegram 会话号"),
    ("    webhook: http://ops.example.gov.cn/hook\n", "须用 https"),
    ("    webhook: ops.example.gov.cn/hook\n", "应为 https:// 开头的完整网址"),
    ("    webhook: https://ops.example.gov.cn/" + "a" * 260 + "\n", "超过 255 个字符"),
])
def test_a_wrong_target_is_reported_with_its_line(tmp_path, lines, message):
    path, line = rules_with(tmp_path, "东城区水务局", lines)
    with pytest.raises(RulesError) as err:
        load_rules(path)
    [error] = err.value.errors
    assert error.startswith(f"{path}:{line}: 部门 '东城区水务局' 的") and message in error


def test_a_new_case_and_a_redispatch_reach_every_target_of_the_department(ctx):
    with ctx.db.session() as s:
        case = open_at(ctx, s, at(2026, 11, 23, 9, 0))
        s.commit()
        sent = s.scalars(select(OutboundMessage).where(OutboundMessage.kind == "dispatch")
                         .order_by(OutboundMessage.id)).all()
        key = f"dispatch:{case.number}:1"
        assert [(m.channel, m.dedupe_key) for m in sent] == [("sms", key), ("telegram", f"{key}:telegram"),
                                                             ("webhook", f"{key}:webhook")]
        body = json.loads(sent[2].text)
        assert body["event"] == "dispatch" and body["case_number"] == case.number and body["status"] == "dispatched"
        act_at(ctx, s, case, "return", "department", at(2026, 11, 23, 9, 30), note="不属于本部门")
        act_at(ctx, s, case, "dispatch", "dispatcher", at(2026, 11, 23, 9, 40))   # the same department again
        s.commit()
        keys = s.scalars(select(OutboundMessage.dedupe_key).where(OutboundMessage.kind == "dispatch",
                                                                  OutboundMessage.channel == "sms")).all()
        assert keys == [key, f"dispatch:{case.number}:2"]      # one per round, not one per re-run


def test_a_city_can_turn_the_dispatch_notice_off(ctx):
    with ctx.db.session() as s:
        case = open_at(ctx, s, at(2026, 11, 23, 9, 0), policy=without_dispatch_notice())
        s.commit()
        assert s.scalars(select(OutboundMessage).where(OutboundMessage.case_id == case.id)).all() == []
