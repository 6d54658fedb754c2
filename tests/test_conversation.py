"""The conversation with a citizen over SMS, end to end: Twilio-signed webhooks in, the real twilio
Client out to a loopback fake (whose inbox is the citizen's phone), the worker in between."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from intake.models import Conversation, InboundMessage
from intake.processing import sweep
from notify.models import OutboundMessage
from store.db import utcnow
from tickets.models import CaseEvent
from twilio_fake import fake_twilio, post_signed, sms_client, sms_fields, twilio_context, twilio_ctx  # noqa: F401,F811 (fixtures)

CITIZEN = "+8613800138001"
NEIGHBOUR = "+8613800138002"


@pytest.fixture
def say(sms_client):
    def send(body: str, sender: str = CITIZEN, **extra) -> str:
        fields = sms_fields(sender, body, **extra)
        r = post_signed(sms_client, "/sms/twilio", fields)
        assert r.status_code == 200, r.data
        return fields["MessageSid"]
    return send


@pytest.fixture
def phone(fake_twilio):
    """What the citizen's phone has received, oldest first."""
    return lambda who=CITIZEN: fake_twilio.bodies(who)


def message(ctx, sid: str) -> InboundMessage:
    with ctx.db.session() as s:
        return s.scalar(select(InboundMessage).where(InboundMessage.external_id == sid))


def case_number(text: str) -> str:
    return re.search(r"案卷号?(\d{8}-\d{6})", text).group(1)


def test_report_askback_answer_ack_close_survey_3_rework(sms_client, twilio_ctx, auth, say, phone, run_worker):
    # 1. A report without a place: the citizen is asked once, the report is held.
    first = say("垃圾好几天没人收，臭得不行")
    run_worker()
    assert len(phone()) == 1 and "请回复具体地址，如XX路XX号，或发送位置" in phone()[0]
    assert message(twilio_ctx, first).status == "held"

    # 2. The answer names the place: the held report and the answer become one case.
    answer = say("在东四北大街18号门口")
    run_worker()
    ack = phone()[-1]
    assert len(phone()) == 2 and "已受理" in ack and "预计" in ack
    number = case_number(ack)
    case = sms_client.get(f"/api/cases/{number}", headers=auth).get_json()
    assert case["status"] == "dispatched" and case["department"] in ack
    assert "垃圾好几天没人收" in case["description"] and "东四北大街18号" in case["description"]
    assert message(twilio_ctx, first).status == "done" and message(twilio_ctx, answer).kind == "answer"

    # 3. The department resolves, the centre closes: the result SMS asks 1/2/3.
    for action, note in (("resolve", "已清运并消毒"), ("close", "核查属实")):
        r = sms_client.post(f"/api/cases/{number}/actions", json={"action": action, "note": note}, headers=auth)
        assert r.status_code == 200, r.get_json()
    run_worker()
    result = phone()[-1]
    assert number in result and "已清运并消毒" in result and "3不满意" in result

    # 4. Survey answer 3: recorded on the case, which is reopened as rework.
    say("3")
    run_worker()
    case = sms_client.get(f"/api/cases/{number}", headers=auth).get_json()
    actions = [e["action"] for e in case["events"]]
    assert actions[-2:] == ["survey", "rework"] and case["status"] not in ("closed", "handled")
    assert "退回重新办理" in phone()[-1]
    with twilio_ctx.db.session() as s:
        survey = s.scalar(select(CaseEvent).where(CaseEvent.action == "survey"))
        assert survey.data["score"] == 3 and survey.actor == "citizen"


def test_survey_1_thanks_and_keeps_the_case_closed(sms_client, twilio_ctx, auth, say, phone, run_worker):
    say("雍和宫门口的路灯坏了")
    run_worker()
    number = case_number(phone()[-1])
    for action in ("resolve", "close"):
        sms_client.post(f"/api/cases/{number}/actions", json={"action": action, "note": "已修复"}, headers=auth)
    run_worker()
    say("１")  # typed full-width on a phone
    run_worker()
    assert "感谢您的评价" in phone()[-1]
    case = sms_client.get(f"/api/cases/{number}", headers=auth).get_json()
    assert case["status"] == "closed" and case["events"][-1]["action"] == "survey"
    say("3")  # the survey is answered once; a later digit is not a second answer
    run_worker()
    assert sms_client.get(f"/api/cases/{number}", headers=auth).get_json()["status"] == "closed"
    assert "反映问题请直接发送" in phone()[-1]


def test_a_digit_without_a_survey_is_not_a_report(twilio_ctx, say, phone, run_worker):
    sid = say("2")
    run_worker()
    msg = message(twilio_ctx, sid)
    assert (msg.kind, msg.status, msg.case_id) == ("help", "done", None)
    assert "查询进度请发送" in phone()[-1]


def test_status_query_with_and_without_a_case_number(sms_client, twilio_ctx, auth, say, phone, run_worker):
    say("交道口南大街20号垃圾桶坏了")
    run_worker()
    number = case_number(phone()[-1])
    say(f"查询{number}")
    run_worker()
    assert number in phone()[-1] and "已派遣" in phone()[-1] and "预计" in phone()[-1]
    say("进度")
    run_worker()
    assert number in phone()[-1]
    say(f"查询 {number.replace('-', '')}")
    run_worker()
    assert number in phone()[-1]
    # Someone else's case number tells them nothing about it.
    say(f"查询{number}", sender=NEIGHBOUR)
    run_worker()
    assert "未查到案卷号" in phone(NEIGHBOUR)[-1] and "已派遣" not in phone(NEIGHBOUR)[-1]
    with twilio_ctx.db.session() as s:
        assert s.scalar(select(InboundMessage).where(InboundMessage.sender == NEIGHBOUR)).case_id is None


def test_stop_then_nothing_start_then_sms_again(twilio_ctx, say, phone, run_worker):
    say("TD")
    run_worker()
    assert len(phone()) == 1 and "您已退订" in phone()[0]
    sid = say("王府井大街18号有人占道经营卖水果")
    run_worker()
    assert len(phone()) == 1                     # the case opens, the SMS does not go
    assert message(twilio_ctx, sid).case_id is not None
    with twilio_ctx.db.session() as s:
        ack = s.scalar(select(OutboundMessage).where(OutboundMessage.kind == "ack"))
        assert ack.status == "dropped" and "退订" in ack.error
    say("START")
    run_worker()
    assert "恢复接收" in phone()[-1]
    say("东四北大街18号门口井盖丢了")
    run_worker()
    assert "已受理" in phone()[-1] and len(phone()) == 3


@pytest.mark.parametrize("word", ["STOP", "退订", "td", "Stop。"])
def test_every_opt_out_word_opts_out(twilio_ctx, say, phone, run_worker, word):
    sid = say(word)
    run_worker()
    assert message(twilio_ctx, sid).kind == "optout" and "您已退订" in phone()[-1]


def test_no_answer_to_the_askback_goes_to_triage_after_the_time_out(twilio_ctx, say, phone, run_worker):
    sid = say("路灯不亮了，晚上黑漆漆的")
    run_worker()
    assert message(twilio_ctx, sid).status == "held"
    with twilio_ctx.db.session() as s:  # the wait runs out
        s.execute(update(Conversation).values(ask_until=utcnow() - timedelta(minutes=1)))
        s.commit()
    assert sweep(min_age_seconds=0)["expired_ask_backs"] == 1
    run_worker()
    msg = message(twilio_ctx, sid)
    assert msg.status == "triage" and "超时" in msg.reason and msg.case_id is None
    assert "工作人员将尽快核实处理" in phone()[-1]
    # A late answer is then a message of its own, not silently attached.
    late = say("东四北大街18号")
    run_worker()
    assert message(twilio_ctx, late).kind == "report"


def test_a_road_then_its_house_number_is_one_place(twilio_ctx, say, phone, run_worker):
    first = say("王府井大街有人摆摊卖水果")   # a whole road: many cells, so we ask
    run_worker()
    assert message(twilio_ctx, first).status == "held"
    say("18号门口")
    run_worker()
    assert message(twilio_ctx, first).status == "done" and "已受理" in phone()[-1]


def test_an_answer_without_a_usable_place_is_not_asked_twice(twilio_ctx, say, phone, run_worker):
    first = say("路灯不亮了，晚上黑漆漆的")
    run_worker()
    say("就在我家楼下")
    run_worker()
    assert message(twilio_ctx, first).status == "triage" and "追问后仍未能确定" in message(twilio_ctx, first).reason
    assert sum("请回复具体地址" in b for b in phone()) == 1


def test_a_different_complete_report_while_asked_is_its_own_case(twilio_ctx, say, phone, run_worker):
    first = say("路灯不亮了，晚上黑漆漆的")
    run_worker()
    other = say("交道口南大街20号垃圾桶坏了")
    run_worker()
    assert message(twilio_ctx, other).case_id is not None
    assert message(twilio_ctx, first).status == "held"   # still waiting for its own place
    say("雍和宫门口")
    run_worker()
    assert message(twilio_ctx, first).status == "done"


def test_flood_is_stored_not_processed_with_one_polite_reply(ctx, fake_twilio, run_worker):
    from app import create_app
    c = twilio_context(ctx, fake_twilio, flood_per_minute=3)
    client = create_app(c).test_client()
    sids = []
    for i in range(8):
        fields = sms_fields(CITIZEN, f"东四北大街{i + 1}号门口井盖丢了")
        assert post_signed(client, "/sms/twilio", fields).status_code == 200
        sids.append(fields["MessageSid"])
    run_worker()
    statuses = [message(c, sid).status for sid in sids]
    assert statuses == ["done"] * 3 + ["flooded"] * 5
    inbox = fake_twilio.bodies(CITIZEN)
    assert sum("较多" in b for b in inbox) == 1 and sum("已受理" in b for b in inbox) == 3
    assert all(message(c, sid).text for sid in sids)   # nothing lost


def test_mms_photos_become_the_case_photos(sms_client, twilio_ctx, auth, say, phone, run_worker):
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
    say("交道口南大街20号垃圾桶坏了", NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
    run_worker()
    number = case_number(phone()[-1])
    case = sms_client.get(f"/api/cases/{number}", headers=auth).get_json()
    assert [p["url"] for p in case["photos"]] == [url]


def test_a_hotline_caller_gets_sms_and_answers_the_survey_by_sms(sms_client, twilio_ctx, auth, say, phone,
                                                                 run_worker, new_id):
    r = sms_client.post("/hotline/transcripts", headers=auth, json={
        "caller": CITIZEN, "text": "东四北大街18号门口井盖丢了", "call_id": new_id()})
    assert r.status_code == 202
    run_worker()
    number = case_number(phone()[-1])
    for action in ("resolve", "close"):
        sms_client.post(f"/api/cases/{number}/actions", json={"action": action, "note": "已补装"}, headers=auth)
    run_worker()
    assert number in phone()[-1]
    say("不满意")
    run_worker()
    case = sms_client.get(f"/api/cases/{number}", headers=auth).get_json()
    assert case["events"][-1]["action"] == "rework"


def test_the_hotline_never_asks_back(client, auth, ctx, run_worker, new_id):
    message_id = client.post("/hotline/transcripts", headers=auth, json={
        "caller": CITIZEN, "text": "路灯不亮了，晚上黑漆漆的", "call_id": new_id()}).get_json()["message_id"]
    run_worker()
    msg = client.get(f"/api/messages/{message_id}", headers=auth).get_json()
    assert msg["status"] == "triage" and "地点" in msg["reason"]


def test_the_department_accepts_by_texting_back_and_no_one_else_can(sms_client, twilio_ctx, auth, say, phone,
                                                                    run_worker):
    say("交道口南大街20号垃圾桶坏了")
    run_worker()
    number = case_number(phone()[-1])
    case = sms_client.get(f"/api/cases/{number}", headers=auth).get_json()
    office = twilio_ctx.rules.department_or_office(case["department"]).phone
    assert number in phone(office)[-1] and "新派遣" in phone(office)[-1]   # the notice reached its phone

    say(f"签收 {number}")                                  # the citizen cannot accept their own case
    run_worker()
    assert "未能签收" in phone()[-1] and "不是该案卷承办部门的电话" in phone()[-1]
    assert sms_client.get(f"/api/cases/{number}", headers=auth).get_json()["status"] == "dispatched"

    sid = say(f"签收{number.replace('-', '')}", sender=office)
    run_worker()
    assert number in phone(office)[-1] and "已由" in phone(office)[-1] and "请于" in phone(office)[-1]
    msg = message(twilio_ctx, sid)
    assert (msg.kind, msg.status, msg.case_id is not None) == ("accept", "done", True)
    case = sms_client.get(f"/api/cases/{number}", headers=auth).get_json()
    assert case["status"] == "accepted"
    with twilio_ctx.db.session() as s:
        accepted = s.scalar(select(CaseEvent).where(CaseEvent.case_id == msg.case_id, CaseEvent.action == "accept"))
        assert (accepted.actor, accepted.note) == (f"sms:{office}", "经短信签收")

    say(f"签收{number}", sender=office)                    # a second text changes nothing, and says why
    run_worker()
    assert "未能签收" in phone(office)[-1] and "不能执行“签收”" in phone(office)[-1]


def test_the_department_texts_the_result_and_the_citizen_receives_it_after_the_check(sms_client, twilio_ctx, auth,
                                                                                    say, phone, run_worker):
    say("交道口南大街20号垃圾桶坏了")
    run_worker()
    number = case_number(phone()[-1])
    office = twilio_ctx.rules.department_or_office(
        sms_client.get(f"/api/cases/{number}", headers=auth).get_json()["department"]).phone

    say(f"办结 {number}", sender=office)                    # no result: nothing the citizen could read
    run_worker()
    assert "未能办结" in phone(office)[-1] and "办结须写明处理结果" in phone(office)[-1]
    say(f"办结 {number} 已修好", sender=CITIZEN)             # the citizen cannot close their own case
    run_worker()
    assert "不是该案卷承办部门的电话，不能办结" in phone()[-1]
    assert sms_client.get(f"/api/cases/{number}", headers=auth).get_json()["status"] == "dispatched"

    forgot = say("办结 已更换新垃圾桶", sender=office)        # no case number: the usage, not a new report
    run_worker()
    assert "部门指令须写明案卷号" in phone(office)[-1]
    assert (message(twilio_ctx, forgot).kind, message(twilio_ctx, forgot).case_id) == ("department_help", None)

    sid = say(f"办结 案卷号：{number} 已更换新垃圾桶，周边已清扫。", sender=office)
    run_worker()
    assert "反馈办结" in phone(office)[-1] and "已更换新垃圾桶" in phone(office)[-1]
    msg = message(twilio_ctx, sid)
    assert (msg.kind, msg.status) == ("resolve", "done")
    case = sms_client.get(f"/api/cases/{number}", headers=auth).get_json()
    assert case["status"] == "handled"
    r = sms_client.post(f"/api/cases/{number}/actions", json={"action": "close", "note": "核查属实"}, headers=auth)
    assert r.status_code == 200, r.get_json()
    run_worker()
    assert number in phone()[-1] and "已更换新垃圾桶，周边已清扫" in phone()[-1]


@pytest.mark.parametrize("text, command", [
    ("签收２０２６１１２２－０００１２３", ("accept", "20261122-000123", "", "")),      # typed on a phone keyboard
    ("办结：案卷号20261122000123，井盖已更换。", ("resolve", "20261122-000123", "井盖已更换", "")),
    ("延期 20261122-000123 1.5工作日 等配件到货", ("request_extension", "20261122-000123", "等配件到货", "1.5工作日")),
    ("退回 20261122-000123", ("return", "20261122-000123", "", "")),                # refused later, with the usage
    ("退回押金的事20261122-000123怎么说", None),                                      # a citizen's words, not a command
    ("办结了吗？", None),
])
def test_what_a_department_types_is_read_as_its_command(text, command):
    from intake.department import parse
    assert (tuple(parse(text)) if parse(text) else None) == command
