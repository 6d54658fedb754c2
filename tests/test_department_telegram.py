"""A department accepts (签收) a new case from its Telegram group: the 新派遣 notice goes out through
the real python-telegram-bot with a 签收 button, the loopback fake Bot API records it, and the
button's callback update comes back through the real webhook, as Telegram would send it.
"""
from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from case_factory import at, open_at
from intake import processing
from intake.context import Context
from intake.models import InboundMessage
from rules_copy import add_to_department, write_rules
from test_intake_spool import TELEGRAM_SECRET as OUTAGE_SECRET
from test_intake_spool import client_of, outage
from test_telegram import SECRET, TOKEN, post
from test_telegram import bot_api  # noqa: F401 (fixture: the loopback Bot API)
from notify.models import OutboundMessage
from tickets.models import Case
from tickets.service import act
from web_support import make_staff, png, signed_in

GROUP = -1002223334440          # the department's group chat, as routing_rules.yaml names it
OTHER_GROUP = -1009990001112    # some other group the bot is in
STAFF = {"id": 7770001, "is_bot": False, "first_name": "李华", "username": "lihua_cg"}


@pytest.fixture(scope="module")
def ctx(ctx, bot_api, tmp_path_factory):
    """The suite's database and Redis; the rules give case_factory's department a Telegram group."""
    path = write_rules(tmp_path_factory.mktemp("telegram_rules"))
    name = next(c for c in ctx.rules.categories if not c.urgent).department
    add_to_department(path, name, f"    telegram_chat: {GROUP}\n")
    config = dataclasses.replace(ctx.config, rules_path=path, telegram_webhook_secret=SECRET,
                                 telegram_bot_token=TOKEN, telegram_base_url=bot_api.url)
    group_ctx = Context(config)
    yield group_ctx
    group_ctx.db.dispose()


@pytest.fixture(autouse=True)
def fresh(bot_api):
    bot_api.calls.clear()


def press(update_id: int, data: str, chat: int = GROUP, message_id: int = 1001) -> dict:
    """The update Telegram sends when someone in `chat` presses a button under our message."""
    return {"update_id": update_id, "callback_query": {
        "id": f"cbq-{update_id}", "from": STAFF, "chat_instance": "-4455", "data": data,
        "message": {"message_id": message_id, "date": 1763790000, "text": "【网格通】新派遣：…",
                    "chat": {"id": chat, "type": "supergroup", "title": "城管群"}}}}


def dispatched(ctx) -> tuple[int, str]:
    """A case dispatched now to the department with the group, and its 新派遣 notice sent."""
    with ctx.db.session() as s:
        case = open_at(ctx, s, at(2026, 11, 23, 9, 0))
        s.commit()
        ids = case.id, case.number
    processing.deliver_outbox()
    return ids


def case_state(ctx, case_id: int) -> tuple[str, list[tuple[str, str, str]]]:
    with ctx.db.session() as s:
        case = s.get(Case, case_id)
        return case.status, [(e.action, e.actor, e.note) for e in case.events]


def test_the_new_case_notice_carries_a_button_that_accepts_it(ctx, client, bot_api):
    case_id, number = dispatched(ctx)
    (notice,) = bot_api.sent(GROUP)
    assert number in notice["text"] and "新派遣" in notice["text"]
    (row,) = notice["reply_markup"]["inline_keyboard"]
    assert [(b["text"], b["callback_data"]) for b in row] == [("✅ 签收", f"accept:{case_id}")]

    r = post(client, press(20001, f"accept:{case_id}"))
    assert r.status_code == 200
    answer = r.get_json()
    assert answer["method"] == "answerCallbackQuery" and answer["callback_query_id"] == "cbq-20001"
    assert answer["text"] == f"已签收案卷{number}"
    status, events = case_state(ctx, case_id)
    assert status == "accepted"
    assert events[-1] == ("accept", "telegram:lihua_cg", "经 Telegram 签收（李华）")

    processing.deliver_outbox()
    (confirmation,) = bot_api.sent(GROUP)[1:]
    assert number in confirmation["text"] and "李华" in confirmation["text"] and "签收" in confirmation["text"]
    assert "reply_markup" not in confirmation
    with ctx.db.session() as s:
        msg = s.scalar(select(InboundMessage).where(InboundMessage.external_id == "20001"))
        assert (msg.channel, msg.status, msg.case_id, msg.sender) == ("telegram", "done", case_id, str(GROUP))


def test_a_retried_press_is_one_acceptance_and_a_second_press_is_told_why_not(ctx, client, bot_api):
    case_id, number = dispatched(ctx)
    first = post(client, press(20011, f"accept:{case_id}")).get_json()
    again = post(client, press(20011, f"accept:{case_id}")).get_json()      # Telegram retries the update
    assert (first["outcome"], again["outcome"]) == ("done", "duplicate")
    assert again["text"] == ""                           # the spinner stops; nothing happened twice
    later = post(client, press(20012, f"accept:{case_id}")).get_json()    # a colleague presses too
    assert later["outcome"] == "ignored"
    assert number in later["text"] and "不能执行“签收”" in later["text"]
    status, events = case_state(ctx, case_id)
    assert status == "accepted" and [a for a, _, _ in events].count("accept") == 1
    processing.deliver_outbox()
    assert len(bot_api.sent(GROUP)) == 2                 # the notice and one confirmation


@pytest.mark.parametrize("data, chat, reason", [
    ("accept:{id}", OTHER_GROUP, "本会话不是该案卷承办部门的会话，不能签收"),
    ("accept:999999999", GROUP, "本会话不是该案卷承办部门的会话，不能签收"),   # no such case
    ("resolve:{id}", GROUP, "不支持的按钮"),
])
def test_a_press_from_elsewhere_or_of_another_kind_changes_nothing(ctx, client, bot_api, data, chat, reason):
    case_id, _ = dispatched(ctx)
    r = post(client, press(20021, data.format(id=case_id), chat=chat)).get_json()
    assert (r["outcome"], r["text"]) == ("ignored", reason)
    assert case_state(ctx, case_id)[0] == "dispatched"
    with ctx.db.session() as s:                          # kept for audit, with what was pressed
        msg = s.scalar(select(InboundMessage).where(InboundMessage.external_id == "20021"))
        assert (msg.status, msg.reason, msg.meta["data"]) == ("ignored", reason, data.format(id=case_id))


def test_a_press_while_the_database_is_down_is_refused_for_telegram_to_send_again(ctx, client, bot_api):
    """No 200 for a press we could not record: Telegram keeps the update and sends it again, and
    the retry, once the database answers, accepts the case."""
    case_id, number = dispatched(ctx)
    r = post(client_of(outage(ctx)), press(20031, f"accept:{case_id}"), secret=OUTAGE_SECRET)
    assert r.status_code == 503
    assert case_state(ctx, case_id)[0] == "dispatched"
    r = post(client, press(20031, f"accept:{case_id}"))            # Telegram's retry
    assert (r.status_code, r.get_json()["text"]) == (200, f"已签收案卷{number}")
    assert case_state(ctx, case_id)[0] == "accepted"


BOT = {"id": 123456, "is_bot": True, "first_name": "网格通", "username": "gridline_bot"}


def said(update_id: int, text: str, chat: int = GROUP, reply_to: dict | None = None) -> dict:
    """A member's message in a group, as Telegram sends it; `reply_to`: our notice it answers."""
    msg = {"message_id": update_id - 10000, "from": STAFF, "date": 1763790000, "text": text,
           "chat": {"id": chat, "type": "supergroup", "title": "城管群"}}
    if reply_to is not None:
        msg["reply_to_message"] = {"message_id": 1000, "from": BOT, "date": 1763789000, "text": reply_to["text"],
                                   "chat": msg["chat"]}
    return {"update_id": update_id, "message": msg}


def test_the_group_reports_the_result_by_replying_to_the_notice_and_the_citizen_reads_it(ctx, client, bot_api,
                                                                                       run_worker):
    case_id, number = dispatched(ctx)
    (notice,) = bot_api.sent(GROUP)
    # A bot in a group sees replies to its own messages: the reply needs no case number.
    r = post(client, said(20041, "办结：已更换新井盖，现场已清理。", reply_to=notice))
    assert (r.status_code, r.get_json()["outcome"]) == (200, "received")
    run_worker()
    status, events = case_state(ctx, case_id)
    assert status == "handled"
    assert events[-1] == ("resolve", "telegram:lihua_cg", "已更换新井盖，现场已清理")
    confirmation = bot_api.sent(GROUP)[-1]["text"]
    assert number in confirmation and "李华" in confirmation and "已更换新井盖" in confirmation

    # The command centre verifies and closes: the citizen's result SMS carries the department's words.
    with ctx.db.session() as s:
        act(s, s.get(Case, case_id), "close", actor="核查员", role="verifier", note="核查属实",
            templates=ctx.templates, tz=ctx.config.timezone, calendar=ctx.calendar, rules=ctx.rules)
        s.commit()
        result = s.scalar(select(OutboundMessage.text).where(OutboundMessage.case_id == case_id,
                                                             OutboundMessage.kind == "result"))
    assert number in result and "已更换新井盖，现场已清理" in result


def test_a_slash_command_returns_or_asks_for_time_and_says_what_happens_next(ctx, client, bot_api, run_worker):
    case_id, number = dispatched(ctx)
    post(client, said(20051, f"/extend@gridline_bot {number} 2工作日 等待配件到货"))
    run_worker()
    with ctx.db.session() as s:
        case = s.get(Case, case_id)
        assert (case.status, case.extension_request["extra"], case.extension_request["note"]) == \
            ("dispatched", "2工作日", "等待配件到货")
    assert "2工作日" in bot_api.sent(GROUP)[-1]["text"] and "待指挥中心审批" in bot_api.sent(GROUP)[-1]["text"]

    post(client, said(20052, f"/return {number.replace('-', '')} 该路段属交通局管养"))
    run_worker()
    status, events = case_state(ctx, case_id)
    assert status == "returned" and events[-1] == ("return", "telegram:lihua_cg", "该路段属交通局管养")
    assert "退回指挥中心" in bot_api.sent(GROUP)[-1]["text"]


@pytest.mark.parametrize("text, chat, reason", [
    ("办结 {number}", GROUP, "办结须写明处理结果"),                                    # no result to tell the citizen
    ("办结 {number} 已处理", GROUP, "只是套话"),                                        # nothing the citizen could read
    ("延期 {number} 等配件", GROUP, "延期须写明时长和理由"),                           # no time asked for
    ("办结 {number} 已处理", OTHER_GROUP, "本会话不是该案卷承办部门的会话，不能办结"),
    ("/done 20991231-000001 已处理", GROUP, "本会话不是该案卷承办部门的会话，不能办结"),  # no such case
])
def test_a_command_without_its_words_or_from_elsewhere_changes_nothing_and_says_why(ctx, client, bot_api,
                                                                                    run_worker, text, chat, reason):
    case_id, number = dispatched(ctx)
    post(client, said(20061, text.format(number=number), chat=chat))
    run_worker()
    assert case_state(ctx, case_id)[0] == "dispatched"
    assert reason in bot_api.sent(chat)[-1]["text"] and "未能" in bot_api.sent(chat)[-1]["text"]
    with ctx.db.session() as s:                          # kept, with the reason, in the message log
        msg = s.scalar(select(InboundMessage).where(InboundMessage.external_id == "20061"))
        assert msg.status == "done" and reason in msg.reason


def test_the_group_s_own_talk_stays_out_of_the_pipeline(ctx, client, bot_api, run_worker):
    case_id, _ = dispatched(ctx)
    r = post(client, said(20071, "大家辛苦了，今天的井盖都办结了吗"))
    assert r.get_json()["outcome"] == "ignored"
    run_worker()
    assert case_state(ctx, case_id)[0] == "dispatched" and len(bot_api.sent(GROUP)) == 1   # only the notice


def test_a_photo_captioned_with_the_result_closes_the_loop_and_is_not_taken_for_the_citizen_s(ctx, client, app, bot_api,
                                                                                             run_worker):
    from intake.service import case_photos
    case_id, number = dispatched(ctx)
    update = said(20081, "", reply_to=bot_api.sent(GROUP)[0])
    msg = update["message"]
    del msg["text"]
    msg.update(caption="办结 已清运完毕", photo=[{"file_id": "AgAD-after", "file_unique_id": "u1", "width": 1280,
                                                "height": 960}])
    assert post(client, update).get_json()["outcome"] == "received"
    run_worker()
    status, events = case_state(ctx, case_id)
    assert status == "handled" and events[-1][2] == "已清运完毕"
    with ctx.db.session() as s:
        assert case_photos(s, case_id) == []             # not a photo the citizen sent
        kept = s.scalar(select(InboundMessage).where(InboundMessage.external_id == "20081"))
        assert (kept.kind, kept.case_id, kept.meta["photos"]) == ("resolve", case_id, ["telegram:AgAD-after"])
    make_staff(ctx)                                      # the console's test accounts, as web_support makes them
    staff = signed_in(app, "t_ver")
    page = staff.get(f"/cases/{number}").get_data(as_text=True)
    src = f"/cases/{number}/messages/{kept.id}/photos/0"
    assert "（部门回复，附照片，见处置照片）" in page
    assert f'<h2>处置照片</h2><div class="photos"><a href="{src}"><img src="{src}" alt="部门回复照片 1"></a></div>' in page
    assert "市民发来的照片" not in page and "AgAD-after" not in page
    bot_api.files["AgAD-after"] = png()                  # the worker's fetch found nothing; now the page's does
    r = staff.get(src)
    assert (r.status_code, r.mimetype, r.data) == (200, "image/png", png())
    # Closed, the citizen's result page shows the photo too, from the link the result SMS carries.
    with ctx.db.session() as s:
        act(s, s.get(Case, case_id), "close", actor="核查员", role="verifier", note="核查属实",
            templates=ctx.templates, calendar=ctx.calendar, rules=ctx.rules)
        s.commit()
    token = ctx.templates.links.token(number)
    page = app.test_client().get(f"/r/{number}?t={token}").get_data(as_text=True)
    src = f"/r/{number}/replies/{kept.id}/0?t={token}"
    assert "已清运完毕" in page and f'src="{src}"' in page
    r = app.test_client().get(src)
    assert (r.status_code, r.mimetype, r.data) == (200, "image/png", png())
    assert app.test_client().get(src.replace(token, token[::-1])).status_code == 404


def test_a_department_whose_chat_is_private_replies_to_the_notice_without_the_number(ctx, client, bot_api, run_worker):
    """Some departments name one person's chat, not a group: a reply there is the same command."""
    case_id, number = dispatched(ctx)
    update = said(20091, "退回 不在本单位辖区", reply_to=bot_api.sent(GROUP)[0])
    update["message"]["chat"] = {"id": GROUP, "type": "private", "first_name": "李华"}
    assert post(client, update).get_json()["outcome"] == "received"
    run_worker()
    status, events = case_state(ctx, case_id)
    assert status == "returned" and events[-1] == ("return", "telegram:lihua_cg", "不在本单位辖区")
    with ctx.db.session() as s:
        kept = s.scalar(select(InboundMessage).where(InboundMessage.external_id == "20091"))
        assert (kept.text, kept.meta["text_as_sent"]) == (f"退回 {number} 不在本单位辖区", "退回 不在本单位辖区")
