"""The department's result note is what the citizen reads (the result SMS says 已办结：<note>):
set phrases alone, improper words and ID numbers are refused with the reason; a note that names
nothing of the problem goes through, flagged for the verifier (tickets/reply_check.py)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from tickets import policy
from tickets.models import Case
from tickets.reply_check import ReplyRules, check
from web_support import csrf, handles, signed_in, staff, staff_accounts  # noqa: F401 (fixtures)
from test_web_consoles import MANHOLE, act, case_status, report

CATEGORY, WORDS = "井盖缺失", ["井盖", "丢了"]


@pytest.mark.parametrize("note, kinds", [
    ("", ["empty"]),
    ("已处理", ["generic"]),
    ("好了。", ["generic"]),
    ("处理完毕，情况属实", ["generic"]),
    ("OK", ["generic"]),
    ("你这是没事找事", ["improper"]),
    ("已补装，身份证110101199003071234", ["id_card"]),
    ("已补装新井盖，恢复通行", []),
    ("补装了新的井盖", []),                   # the category's 井盖 in other words
    ("已修好", ["off_topic"]),                # says something, but not about the manhole
    ("已补装井盖，有问题请拨13800001111", ["mobile"]),
])
def test_each_note_gets_the_finding_a_verifier_would_give(note, kinds):
    findings = check(note, CATEGORY, WORDS)
    assert [f.kind for f in findings] == kinds
    assert all(f.blocking == (f.kind in {"empty", "generic", "improper", "id_card"}) for f in findings)
    assert all(f.message for f in findings)


@pytest.mark.parametrize("note, category, words, big_class, kinds", [
    ("已清运完毕，现场已冲洗", "暴露垃圾", ["暴露垃圾"], "市容环境类", []),    # what one does about rubbish
    ("已清运", CATEGORY, WORDS, "市政公用设施类", ["off_topic"]),             # …but not about a manhole
    ("已修好", CATEGORY, WORDS, "市政公用设施类", []),
    ("已劝离", "占道经营", ["烧烤摊"], "街面秩序类", []),
])
def test_a_remedy_of_the_problems_kind_answers_it_without_naming_it(note, category, words, big_class, kinds):
    assert [f.kind for f in check(note, category, words, big_class=big_class)] == kinds


def test_the_word_lists_are_the_citys(tmp_path):
    path = tmp_path / "lifecycle.yaml"
    path.write_text("reply_check:\n  generic: [已处理, 已修好]\n  improper: [不归我管]\n  min_substance: 2\n", encoding="utf-8")
    rules = policy.load(path).reply
    assert [f.kind for f in check("已修好", CATEGORY, WORDS, rules)] == ["generic"]
    assert [f.kind for f in check("这事不归我管", CATEGORY, WORDS, rules)] == ["improper"]
    assert check("你这是没事找事，井盖已补", CATEGORY, WORDS, rules) == []     # not on this city's list
    assert policy.load(tmp_path / "missing.yaml").reply == ReplyRules()
    path.write_text("reply_check:\n  improper: 不归我管\n", encoding="utf-8")
    with pytest.raises(policy.PolicyError, match="reply_check.improper"):
        policy.load(path)
    path.write_text("reply_check:\n  remedies: {市容环境类: 清运}\n", encoding="utf-8")
    with pytest.raises(policy.PolicyError, match="reply_check.remedies"):
        policy.load(path)


def test_a_set_phrase_is_refused_and_the_department_keeps_what_it_typed(app, ctx, client, auth, run_worker, staff):
    number = report(client, auth, run_worker, MANHOLE, "reply-1")
    handles(ctx, "t_street", number)
    street = signed_in(app, "t_street")
    r = act(street, number, "resolve", "已处理")
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and "只是套话" in page and ">已处理</textarea>" in page
    assert case_status(ctx, number) == "dispatched"

    r = street.post(f"/api/cases/{number}/actions", json={"action": "resolve", "note": "没事找事"},
                    headers={"X-CSRFToken": csrf(street, f"/cases/{number}")})
    assert r.status_code == 422 and "不当用语“没事找事”" in r.get_json()["message"]
    assert case_status(ctx, number) == "dispatched"


def test_an_off_topic_note_goes_through_flagged_for_the_verifier_and_reaches_the_citizen(
        app, ctx, client, auth, run_worker, staff):
    number = report(client, auth, run_worker, MANHOLE, "reply-2")
    handles(ctx, "t_street", number)
    street = signed_in(app, "t_street")
    r = act(street, number, "resolve", "已清运")                 # a rubbish remedy, on a manhole
    assert r.status_code == 302 and case_status(ctx, number) == "handled"
    assert "没有提到所反映的问题" in street.get(f"/cases/{number}").get_data(as_text=True)   # told at once

    verifier = signed_in(app, "t_ver")
    queue = verifier.get("/centre?tab=verify").get_data(as_text=True)
    row = queue.split(f'data-number="{number}"')[1].split("</tr>")[0]
    assert "办结说明待核" in row                                     # first thing in the verifier's queue
    page = verifier.get(f"/cases/{number}").get_data(as_text=True)
    assert 'id="reply-warnings"' in page and "井盖" in page.split('id="reply-warnings"')[1].split("</p>")[0]
    events = client.get(f"/api/cases/{number}", headers=auth).get_json()["events"]
    assert "没有提到所反映的问题" in events[-1]["reply_check"][0]

    act(verifier, number, "verify", "现场核查属实")
    act(verifier, number, "close", "")
    with ctx.db.session() as s:
        assert s.scalar(select(Case.status).where(Case.number == number)) == "closed"
    results = [m for m in client.get("/api/outbox?to=%2B8613911112222", headers=auth).get_json()["messages"]
               if m["kind"] == "result"]
    assert results and "已办结：已清运" in results[-1]["text"]
