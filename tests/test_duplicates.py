"""Duplicate reports join the open case as more reporters; every reporter gets the result and the
survey; an operator can split a wrong merge."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from case_factory import TZ, act_at, at, new_case
from intake.models import InboundMessage
from notify.models import OutboundMessage
from tickets import stats
from tickets.duplicates import neighbour_cells, similarity
from tickets.models import Case, CaseReporter
from tickets.service import open_or_join, record_survey

CALLERS = ["+8613800000101", "+8613800000102", "+8613800000103"]
TEXTS = ["东四北大街18号门口有暴露垃圾没人清理", "东四北大街18号有暴露垃圾，好几天没人清理了",
         "东四北大街20号门口暴露垃圾没人清理"]


def call(client, auth, new_id, caller, text):
    r = client.post("/hotline/transcripts", json={"caller": caller, "text": text, "call_id": new_id()}, headers=auth)
    assert r.status_code == 202
    return r.get_json()["message_id"]


def sent_to(s, phone, kind):
    return s.scalars(select(OutboundMessage).where(OutboundMessage.to == phone, OutboundMessage.kind == kind)
                     .order_by(OutboundMessage.id)).all()


def test_three_reporters_one_case_through_closure_and_survey(client, auth, ctx, run_worker, new_id):
    ids = [call(client, auth, new_id, phone, text) for phone, text in zip(CALLERS, TEXTS)]
    run_worker()
    numbers = {client.get(f"/api/messages/{i}", headers=auth).get_json()["case_number"] for i in ids}
    assert len(numbers) == 1
    number = numbers.pop()
    with ctx.db.session() as s:
        assert s.scalar(select(func.count(Case.id))) == 1
        case = s.scalar(select(Case).where(Case.number == number))
        assert [r.phone for r in case.reporters] == CALLERS
        assert [e.action for e in case.events] == ["file", "dispatch", "join", "join"]
        for phone in CALLERS:  # every reporter was told the same case number
            ack = sent_to(s, phone, "ack")
            assert len(ack) == 1 and number in ack[0].text
        department = case.department_id

    url = f"/api/cases/{number}/actions"
    assert client.post(url, json={"action": "resolve", "note": "垃圾已清运"}, headers=auth).status_code == 200
    assert client.post(url, json={"action": "close"}, headers=auth).status_code == 200
    run_worker()
    with ctx.db.session() as s:
        for phone in CALLERS:
            result = sent_to(s, phone, "result")
            assert len(result) == 1 and number in result[0].text and "1满意" in result[0].text
        case = s.scalar(select(Case).where(Case.number == number))
        record_survey(s, case, 1, actor=CALLERS[0])
        record_survey(s, case, 2, actor=CALLERS[1])
        record_survey(s, case, 3, actor=CALLERS[2])      # 不满意: back to the same department
        s.commit()
        assert case.status == "accepted" and case.department_id == department
        assert [e.action for e in case.events][-4:] == ["survey", "survey", "survey", "rework"]
        assert case.events[-1].department_id == department

    assert client.post(url, json={"action": "resolve", "note": "已彻底清理并消杀"}, headers=auth).status_code == 200
    assert client.post(url, json={"action": "close"}, headers=auth).status_code == 200
    run_worker()
    with ctx.db.session() as s:
        for phone in CALLERS:  # the second result reaches everyone too
            results = sent_to(s, phone, "result")
            assert len(results) == 2 and "已彻底清理并消杀" in results[1].text
        start, end, _, _ = stats.parse_period(None, None, TZ, case.events[-1].at)
        row = next(r for r in stats.compute(s, "department", start, end, case.events[-1].at + timedelta(hours=1))
                   if r["key"] == str(department))
        assert (row["filed"], row["closed"], row["rework"], row["surveys"], row["satisfied"]) == (1, 2, 1, 3, 2)
        assert row["satisfaction_rate"] == round(2 / 3, 4)


def test_neighbouring_cell_joins_a_distant_cell_does_not(ctx):
    cells = ctx.grids.cells
    home = cells[len(cells) // 2].code
    touching = sorted(neighbour_cells(ctx.grids, home) - {home})
    far = next(c.code for c in cells if c.code not in neighbour_cells(ctx.grids, home))
    assert touching, "the demo grid has touching cells"
    with ctx.db.session() as s:
        first = open_or_join(s, new_case(ctx, cell=home, phone=CALLERS[0]), ctx.calendar, TZ, grids=ctx.grids,
                             now=at(2026, 11, 23, 9, 0))
        s.flush()
        joined = open_or_join(s, new_case(ctx, cell=touching[0], phone=CALLERS[1], text=TEXTS[1]), ctx.calendar, TZ,
                              grids=ctx.grids, now=at(2026, 11, 23, 10, 0))
        assert joined.id == first.id
        other = open_or_join(s, new_case(ctx, cell=far, phone=CALLERS[2]), ctx.calendar, TZ, grids=ctx.grids,
                             now=at(2026, 11, 23, 11, 0))
        assert other.id != first.id


@pytest.mark.parametrize("change", ["text", "category", "window", "closed"])
def test_what_is_not_a_duplicate(ctx, change):
    other_category = [c for c in ctx.rules.categories if not c.urgent][1]
    with ctx.db.session() as s:
        first = open_or_join(s, new_case(ctx, phone=CALLERS[0]), ctx.calendar, TZ, grids=ctx.grids,
                             now=at(2026, 11, 23, 9, 0))
        s.flush()
        when, kw = at(2026, 11, 23, 10, 0), {"phone": CALLERS[1]}
        if change == "text":
            kw["text"] = "小区门口的路灯坏了好几天晚上一片漆黑"
        elif change == "category":
            kw["category"] = other_category
        elif change == "window":
            when = at(2026, 11, 26, 10, 0)   # more than 72 hours later
        else:
            act_at(ctx, s, first, "resolve", "department", at(2026, 11, 23, 9, 30), note="已清理")
            act_at(ctx, s, first, "close", "verifier", at(2026, 11, 23, 9, 40))
        second = open_or_join(s, new_case(ctx, **kw), ctx.calendar, TZ, grids=ctx.grids, now=when)
        assert second.id != first.id


def test_the_same_caller_twice_is_one_reporter(ctx):
    with ctx.db.session() as s:
        first = open_or_join(s, new_case(ctx, phone=CALLERS[0]), ctx.calendar, TZ, grids=ctx.grids,
                             now=at(2026, 11, 23, 9, 0))
        s.flush()
        again = open_or_join(s, new_case(ctx, phone=CALLERS[0], text=TEXTS[1]), ctx.calendar, TZ, grids=ctx.grids,
                             now=at(2026, 11, 23, 9, 30))
        s.flush()
        assert again.id == first.id and len(first.reporters) == 1
        assert [e.action for e in first.events][-1] == "join"


def test_operator_splits_a_wrong_merge(client, auth, ctx, run_worker, new_id):
    ids = [call(client, auth, new_id, phone, text) for phone, text in zip(CALLERS[:2], TEXTS[:2])]
    run_worker()
    number = client.get(f"/api/messages/{ids[0]}", headers=auth).get_json()["case_number"]
    url = f"/api/cases/{number}/actions"
    r = client.post(url, json={"action": "split", "phone": CALLERS[1]}, headers=auth)
    assert r.status_code == 409 and r.get_json()["allowed"] == ["accept", "resolve"]
    r = client.post(url, json={"action": "split", "role": "operator", "phone": CALLERS[0]}, headers=auth)
    assert r.status_code == 422   # the first reporter's own report is the case itself
    r = client.post(url, json={"action": "split", "role": "operator", "phone": CALLERS[1],
                               "note": "不是同一处垃圾"}, headers=auth)
    assert r.status_code == 200 and r.get_json()["reporters"] == 1
    new_number = client.get(f"/api/messages/{ids[1]}", headers=auth).get_json()["case_number"]
    assert new_number != number
    new = client.get(f"/api/cases/{new_number}", headers=auth).get_json()
    assert new["description"] == TEXTS[1] and new["status"] == "dispatched"
    assert [e["action"] for e in new["events"]] == ["file", "dispatch"]
    r = client.post(url, json={"action": "split", "role": "operator"}, headers=auth)
    assert r.status_code == 409   # nothing left to split
    with ctx.db.session() as s:
        assert s.scalar(select(func.count(CaseReporter.id))) == 2
        assert s.scalar(select(InboundMessage.case_id).where(InboundMessage.id == ids[1])) == \
            s.scalar(select(Case.id).where(Case.number == new_number))


def test_similarity_is_bigram_jaccard():
    assert similarity("井盖丢了", "井盖丢了！") == 1.0
    assert similarity("东四北大街18号井盖丢了", "井盖丢了，东四北大街18号") > 0.6
    assert similarity("东四北大街18号井盖丢了", "朝阳门内大街路灯不亮") < 0.1
    assert similarity("", "井盖") == 0.0
