"""One complaint travels the whole loop on real parts: intake → case → dispatch → close → SMS."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from intake.models import InboundMessage
from tickets.models import Case

CALLER = "+8613800000001"


def post(client, auth, text, call_id, caller=CALLER):
    return client.post("/hotline/transcripts", json={"caller": caller, "text": text, "call_id": call_id}, headers=auth)


def outbox(client, auth, phone=CALLER):
    return client.get(f"/api/outbox?to={phone}", headers=auth).get_json()["messages"]


def test_transcript_travels_the_whole_loop(client, auth, run_worker, new_id):
    r = post(client, auth, "东四北大街18号门口井盖丢了，晚上很危险", new_id())
    assert r.status_code == 202
    message_id = r.get_json()["message_id"]

    run_worker()
    msg = client.get(f"/api/messages/{message_id}", headers=auth).get_json()
    assert msg["status"] == "done", msg
    number = msg["case_number"]
    assert re.fullmatch(r"\d{8}-\d{6}", number)

    case = client.get(f"/api/cases/{number}", headers=auth).get_json()
    assert case["status"] == "dispatched"
    assert "井盖" in case["category_name"] and re.fullmatch(r"\d{5}", case["category_code"])
    assert case["department"]
    assert re.fullmatch(r"\d{15}", case["grid_code"])
    assert case["due_at"] > case["created_at"]
    assert [e["action"] for e in case["events"]] == ["file", "dispatch"]

    ack = [m for m in outbox(client, auth) if m["kind"] == "ack"]
    assert len(ack) == 1 and number in ack[0]["text"] and ack[0]["status"] == "sent"

    r = client.post(f"/api/cases/{number}/actions", json={"action": "resolve", "note": "已补装新井盖"}, headers=auth)
    assert r.status_code == 200 and r.get_json()["status"] == "handled"
    r = client.post(f"/api/cases/{number}/actions", json={"action": "close", "note": "核查属实"}, headers=auth)
    assert r.status_code == 200 and r.get_json()["status"] == "closed"

    run_worker()
    result = [m for m in outbox(client, auth) if m["kind"] == "result"]
    assert len(result) == 1 and number in result[0]["text"] and "已补装新井盖" in result[0]["text"]
    assert result[0]["status"] == "sent"
    events = client.get(f"/api/cases/{number}", headers=auth).get_json()["events"]
    assert [e["action"] for e in events] == ["file", "dispatch", "resolve", "close"]


def test_same_call_id_twice_is_one_message_and_one_case(client, auth, run_worker, ctx, new_id):
    call_id = new_id()
    first = post(client, auth, "王府井大街18号有人占道经营卖水果", call_id)
    second = post(client, auth, "王府井大街18号有人占道经营卖水果", call_id)
    assert first.status_code == second.status_code == 202
    assert first.get_json()["message_id"] == second.get_json()["message_id"]
    assert second.get_json()["duplicate"] is True
    run_worker()
    run_worker()
    with ctx.db.session() as s:
        assert s.scalar(select(func.count(InboundMessage.id))) == 1
        assert s.scalar(select(func.count(Case.id))) == 1
    assert len([m for m in outbox(client, auth) if m["kind"] == "ack"]) == 1


def test_rerunning_the_job_opens_no_second_case(client, auth, ctx, new_id):
    from intake.processing import process_messages
    message_id = post(client, auth, "交道口南大街20号路灯不亮了", new_id()).get_json()["message_id"]
    assert process_messages([message_id]) == 1
    assert process_messages([message_id]) == 0
    with ctx.db.session() as s:
        assert s.scalar(select(func.count(Case.id))) == 1


def test_message_without_a_place_goes_to_triage_with_reason(client, auth, run_worker, new_id):
    message_id = post(client, auth, "垃圾好几天没人收，臭得不行", new_id()).get_json()["message_id"]
    run_worker()
    msg = client.get(f"/api/messages/{message_id}", headers=auth).get_json()
    assert msg["status"] == "triage" and msg["case_number"] is None
    assert "地点" in msg["reason"]
    assert [m["kind"] for m in outbox(client, auth)] == ["received"]


def test_close_before_resolve_is_refused_with_the_allowed_actions(client, auth, run_worker, new_id):
    message_id = post(client, auth, "东四北大街18号有暴露垃圾没人清理", new_id()).get_json()["message_id"]
    run_worker()
    number = client.get(f"/api/messages/{message_id}", headers=auth).get_json()["case_number"]
    r = client.post(f"/api/cases/{number}/actions", json={"action": "close"}, headers=auth)
    assert r.status_code == 409
    assert set(r.get_json()["allowed"]) == {"accept", "resolve"}
    assert client.get(f"/api/cases/{number}", headers=auth).get_json()["status"] == "dispatched"


def test_unknown_case_and_message_are_404(client, auth):
    assert client.get("/api/cases/20990101-000001", headers=auth).status_code == 404
    assert client.get("/api/messages/999999", headers=auth).status_code == 404
