"""Every transition of the case lifecycle, who may make it, and every clock rule, at frozen times."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from case_factory import TZ, act_at, actions, at, env, local, new_case, open_at
from notify.models import OutboundMessage
from tickets import sla_scan
from tickets.lifecycle import IllegalTransition, allowed_actions
from tickets.models import Case, CaseEvent, Department
from tickets.service import BadAction, report_case


def test_the_standard_loop_step_by_step(ctx):
    """上报 → 立案 → 派遣 → 签收 → 处置 → 核查 → 结案, each an event with who, when, from and to."""
    with ctx.db.session() as s:
        case = report_case(s, new_case(ctx), actor="operator-li", calendar=ctx.calendar, tz=TZ,
                           now=at(2026, 11, 23, 9, 0))
        s.flush()
        assert case.status == "reported" and case.due_at is None
        act_at(ctx, s, case, "file", "operator", at(2026, 11, 23, 9, 10))
        act_at(ctx, s, case, "dispatch", "dispatcher", at(2026, 11, 23, 9, 20))
        assert case.status == "dispatched"
        assert local(case.due_at) == datetime(2026, 11, 23, 15, 20)  # 2 h 40 min before lunch, 1 h 20 min after
        act_at(ctx, s, case, "accept", "department", at(2026, 11, 23, 9, 30))
        act_at(ctx, s, case, "resolve", "department", at(2026, 11, 23, 11, 0), note="垃圾已清运")
        act_at(ctx, s, case, "verify", "verifier", at(2026, 11, 23, 11, 30), note="现场核查属实")
        act_at(ctx, s, case, "close", "verifier", at(2026, 11, 23, 11, 40))
        s.commit()
        assert case.status == "closed" and local(case.closed_at) == datetime(2026, 11, 23, 11, 40)
        rows = [(e.action, e.from_status, e.to_status, e.actor, local(e.at).strftime("%H:%M")) for e in case.events]
        assert rows == [
            ("report", None, "reported", "operator-li", "09:00"),
            ("file", "reported", "filed", "operator", "09:10"),
            ("dispatch", "filed", "dispatched", "dispatcher", "09:20"),
            ("accept", "dispatched", "accepted", "department", "09:30"),
            ("resolve", "accepted", "handled", "department", "11:00"),
            ("verify", "handled", "verified", "verifier", "11:30"),
            ("close", "verified", "closed", "verifier", "11:40"),
        ]
        result = s.scalars(select(OutboundMessage).where(OutboundMessage.kind == "result")).all()
        assert len(result) == 1 and "垃圾已清运" in result[0].text and result[0].to == "+8613800138001"


def test_not_filed_needs_a_reason_and_ends_the_case(ctx):
    with ctx.db.session() as s:
        case = report_case(s, new_case(ctx), calendar=ctx.calendar, tz=TZ, now=at(2026, 11, 23, 9, 0))
        s.flush()
        with pytest.raises(BadAction, match="理由"):
            act_at(ctx, s, case, "not_file", "operator", at(2026, 11, 23, 9, 5))
        act_at(ctx, s, case, "not_file", "operator", at(2026, 11, 23, 9, 5), note="不属于城市管理范围")
        assert case.status == "not_filed" and case.events[-1].note == "不属于城市管理范围"
        for role in ("operator", "dispatcher", "supervisor", "department"):
            assert allowed_actions(case.status, role, case) == []


def test_the_department_never_closes_and_only_the_centre_verifies(ctx):
    with ctx.db.session() as s:
        case = open_at(ctx, s, at(2026, 11, 23, 9, 0))
        act_at(ctx, s, case, "resolve", "department", at(2026, 11, 23, 10, 0), note="垃圾已清运")
        assert allowed_actions("handled", "department", case) == []
        with pytest.raises(IllegalTransition) as exc:
            act_at(ctx, s, case, "close", "department", at(2026, 11, 23, 10, 5))
        assert exc.value.allowed == []
        assert allowed_actions("handled", "verifier", case) == ["close", "rework", "verify"]
        assert "close" not in allowed_actions("dispatched", "department", case)
        assert case.status == "handled"


def test_returned_case_is_redispatched_with_a_fresh_clock(ctx):
    with ctx.db.session() as s:
        first = s.scalar(select(Department).where(Department.name == new_case(ctx).department))
        other = s.scalar(select(Department).where(Department.id != first.id).order_by(Department.id))
        case = open_at(ctx, s, at(2026, 11, 23, 9, 0))
        with pytest.raises(BadAction):
            act_at(ctx, s, case, "return", "department", at(2026, 11, 23, 9, 30))
        act_at(ctx, s, case, "return", "department", at(2026, 11, 23, 9, 30), note="不属本单位职责")
        assert case.status == "returned" and case.next_check_at is None  # the clock stopped
        assert allowed_actions("returned", "dispatcher", case) == ["dispatch"]
        assert allowed_actions("returned", "department", case) == []
        with pytest.raises(BadAction, match="不在数据库"):
            act_at(ctx, s, case, "dispatch", "dispatcher", at(2026, 11, 23, 15, 0), department="没有这个部门")
        act_at(ctx, s, case, "dispatch", "dispatcher", at(2026, 11, 23, 15, 0), department=other.name)
        assert case.status == "dispatched" and case.department_id == other.id
        assert local(case.due_at) == datetime(2026, 11, 24, 9, 0)  # 3 h today, 1 h tomorrow
        returned, redispatched = case.events[-2], case.events[-1]
        assert returned.department_id == first.id and redispatched.department_id == other.id


def test_void_only_by_the_shift_leader(ctx):
    with ctx.db.session() as s:
        case = open_at(ctx, s, at(2026, 11, 23, 9, 0))
        for role in ("operator", "dispatcher", "department", "verifier"):
            assert "void" not in allowed_actions(case.status, role, case)
        with pytest.raises(BadAction):
            act_at(ctx, s, case, "void", "supervisor", at(2026, 11, 23, 9, 10))
        act_at(ctx, s, case, "void", "supervisor", at(2026, 11, 23, 9, 10), note="重复录入")
        assert case.status == "void" and case.next_check_at is None


def test_verification_failure_is_rework_for_the_same_department(ctx):
    with ctx.db.session() as s:
        case = open_at(ctx, s, at(2026, 11, 23, 9, 0))
        dep = case.department_id
        act_at(ctx, s, case, "resolve", "department", at(2026, 11, 23, 10, 0), note="已清理")
        act_at(ctx, s, case, "rework", "verifier", at(2026, 11, 23, 16, 0), note="现场仍有垃圾")
        assert case.status == "accepted" and case.department_id == dep
        assert local(case.due_at) == datetime(2026, 11, 24, 10, 0)  # a fresh 4 working hours from 16:00
        assert case.events[-1].department_id == dep
        rework = s.scalars(select(OutboundMessage).where(OutboundMessage.kind == "rework")).all()
        assert len(rework) == 1 and "现场仍有垃圾" in rework[0].text and rework[0].to == case.department.phone


def test_the_centre_presses_the_department_in_its_own_words_and_the_clock_is_untouched(ctx):
    """督办: a note is required; the department hears it on its channels; status and due time stay."""
    with ctx.db.session() as s:
        case = open_at(ctx, s, at(2026, 11, 23, 9, 0))
        due, status = case.due_at, case.status
        with pytest.raises(BadAction, match="督办要求"):
            act_at(ctx, s, case, "supervise", "dispatcher", at(2026, 11, 23, 10, 0), note="  ")
        with pytest.raises(IllegalTransition):
            act_at(ctx, s, case, "supervise", "department", at(2026, 11, 23, 10, 0), note="自己督办自己")
        act_at(ctx, s, case, "supervise", "supervisor", at(2026, 11, 23, 10, 0), note="市长热线重点件，今天下班前处理",
               actor="值班长陈")
        act_at(ctx, s, case, "supervise", "supervisor", at(2026, 11, 23, 11, 0), note="再次督办")
        s.commit()
        assert case.status == status and case.due_at == due
        ev = case.events[-2]
        assert (ev.action, ev.actor, ev.note) == ("supervise", "值班长陈", "市长热线重点件，今天下班前处理")
        sent = s.scalars(select(OutboundMessage).where(OutboundMessage.kind == "supervise")
                         .order_by(OutboundMessage.id)).all()
        assert [m.to for m in sent] == [case.department.phone] * 2
        assert "督办" in sent[0].text and case.number in sent[0].text and "今天下班前处理" in sent[0].text
        act_at(ctx, s, case, "resolve", "department", at(2026, 11, 23, 12, 0), note="已清运")
        assert "supervise" not in allowed_actions(case.status, "supervisor", case)   # nothing left to press


def test_citizen_answer_3_reopens_a_closed_case(ctx):
    """The exact call the SMS conversation makes for survey answer 3."""
    from tickets.service import act
    with ctx.db.session() as s:
        case = open_at(ctx, s, at(2026, 11, 23, 9, 0))
        act_at(ctx, s, case, "resolve", "department", at(2026, 11, 23, 10, 0), note="已清理")
        act_at(ctx, s, case, "close", "verifier", at(2026, 11, 23, 11, 0))
        with pytest.raises(IllegalTransition):  # a department cannot reopen anything
            act_at(ctx, s, case, "rework", "department", at(2026, 11, 23, 12, 0))
        act(s, case, "rework", actor="citizen", role="citizen", note="市民回访不满意")
        s.commit()
        assert case.status == "accepted" and case.closed_at is None
        assert actions(case)[-1] == "rework" and case.events[-1].actor == "citizen"
        assert case.due_at > case.events[-2].at  # a new limit from the reopening


def test_suspension_stops_the_clock_and_resume_returns_to_where_it_was(ctx):
    with ctx.db.session() as s:
        case = open_at(ctx, s, at(2026, 11, 23, 9, 0), limit="2工作日")
        act_at(ctx, s, case, "accept", "department", at(2026, 11, 23, 9, 30))
        assert local(case.due_at) == datetime(2026, 11, 25, 9, 0)
        with pytest.raises(IllegalTransition):
            act_at(ctx, s, case, "suspend", "department", at(2026, 11, 23, 10, 0), note="需立项")
        act_at(ctx, s, case, "suspend", "dispatcher", at(2026, 11, 23, 10, 0), note="需专项资金")
        assert case.status == "suspended" and case.next_check_at is None
        assert allowed_actions("suspended", "dispatcher", case) == ["resume"]
        assert allowed_actions("suspended", "department", case) == []
        # Suspended Monday 10:00 → Wednesday 10:00: 16 working hours do not count.
        act_at(ctx, s, case, "resume", "dispatcher", at(2026, 11, 25, 10, 0))
        assert case.status == "accepted"
        assert case.events[-1].data["paused_hours"] == 16.0
        assert local(case.due_at) == datetime(2026, 11, 27, 9, 0)


def test_suspension_across_a_holiday_counts_only_working_time(ctx):
    """Suspended 30 Sep 16:00 → 8 Oct 10:00: only 2 h on 30 Sep and 2 h on 8 Oct were working time."""
    with ctx.db.session() as s:
        case = open_at(ctx, s, at(2026, 9, 30, 9, 0), limit="2工作日")
        assert local(case.due_at) == datetime(2026, 10, 9, 9, 0)  # 7 h on 30 Sep, 8 h on 8 Oct, 1 h on 9 Oct
        act_at(ctx, s, case, "suspend", "dispatcher", at(2026, 9, 30, 16, 0), note="节后施工")
        act_at(ctx, s, case, "resume", "dispatcher", at(2026, 10, 8, 10, 0))
        assert case.events[-1].data["paused_hours"] == 4.0
        assert local(case.due_at) == datetime(2026, 10, 9, 15, 0)  # moved by the 4 suspended working hours


def test_friday_1750_before_a_make_up_weekend(ctx):
    """Friday 18 Sep 2026 17:50: Saturday is off, Sunday 20 Sep is a 调休 working day."""
    with ctx.db.session() as s:
        case = open_at(ctx, s, at(2026, 9, 18, 17, 50))
        assert local(case.warn_at) == datetime(2026, 9, 20, 11, 2)   # 80 % of 4 h = 3 h 12 min
        assert local(case.due_at) == datetime(2026, 9, 20, 11, 50)
        # The same on the Friday before the 春节 make-up Saturday (14 Feb 2026).
        case = open_at(ctx, s, at(2026, 2, 13, 17, 50), phone="+8613800138002")
        assert local(case.due_at) == datetime(2026, 2, 14, 11, 50)


def test_urgent_limits_run_on_the_wall_clock(ctx):
    with ctx.db.session() as s:
        case = open_at(ctx, s, at(2026, 10, 1, 23, 0), limit="6小时", urgent=True)
        assert not case.working_clock
        assert local(case.due_at) == datetime(2026, 10, 2, 5, 0)
        assert local(case.warn_at) == datetime(2026, 10, 2, 3, 48)


def test_extension_asked_approved_refused(ctx):
    with ctx.db.session() as s:
        case = open_at(ctx, s, at(2026, 11, 23, 9, 0))
        assert "approve_extension" not in allowed_actions(case.status, "dispatcher", case)
        with pytest.raises(BadAction, match="extra"):
            act_at(ctx, s, case, "request_extension", "department", at(2026, 11, 23, 10, 0), note="需采购配件")
        with pytest.raises(BadAction, match="单位"):
            act_at(ctx, s, case, "request_extension", "department", at(2026, 11, 23, 10, 0), note="需采购",
                   extra="6小时")
        act_at(ctx, s, case, "request_extension", "department", at(2026, 11, 23, 10, 0), note="需采购配件",
               extra="1工作日")
        assert "request_extension" not in allowed_actions(case.status, "department", case)
        act_at(ctx, s, case, "refuse_extension", "dispatcher", at(2026, 11, 23, 10, 30), note="时限内可完成")
        assert case.extension_request is None and local(case.due_at) == datetime(2026, 11, 23, 15, 0)
        act_at(ctx, s, case, "request_extension", "department", at(2026, 11, 23, 11, 0), note="确需采购",
               extra="1工作日")
        act_at(ctx, s, case, "approve_extension", "dispatcher", at(2026, 11, 23, 11, 30))
        assert local(case.due_at) == datetime(2026, 11, 24, 15, 0)  # 15:00 + 8 working hours
        assert case.status == "dispatched" and case.extension_request is None
        assert actions(case)[-4:] == ["request_extension", "refuse_extension", "request_extension",
                                      "approve_extension"]


def test_extension_on_an_overdue_case_moves_the_due_time_from_where_it_was(ctx):
    with ctx.db.session() as s:
        case = open_at(ctx, s, at(2026, 11, 23, 9, 0))                # due Monday 15:00
        sla_scan.scan(s, env(ctx), now=at(2026, 11, 23, 17, 30))
        assert case.sla_level == "red"
        act_at(ctx, s, case, "request_extension", "department", at(2026, 11, 23, 17, 35), note="需更换井盖",
               extra="1工作时")
        act_at(ctx, s, case, "approve_extension", "dispatcher", at(2026, 11, 23, 17, 40))
        # From the old due time, not from the approval: 15:00 + 1 working hour = 16:00, still behind.
        assert local(case.due_at) == datetime(2026, 11, 23, 16, 0)
        assert case.sla_level == "green"                          # judged afresh against the new due time …
        counts = sla_scan.scan(s, env(ctx), now=at(2026, 11, 23, 17, 40))
        assert counts["red"] == 1 and case.sla_level == "red"     # … and still overdue: a new red light
        act_at(ctx, s, case, "request_extension", "department", at(2026, 11, 23, 17, 45), note="材料未到",
               extra="1工作日")
        act_at(ctx, s, case, "approve_extension", "supervisor", at(2026, 11, 23, 17, 50))
        assert local(case.due_at) == datetime(2026, 11, 24, 16, 0)
        assert sla_scan.scan(s, env(ctx), now=at(2026, 11, 23, 17, 50)) == {}
        assert case.sla_level == "green"
        assert actions(case).count("red") == 2


def test_every_transition_appends_and_nothing_is_rewritten(ctx):
    with ctx.db.session() as s:
        case = open_at(ctx, s, at(2026, 11, 23, 9, 0))
        s.commit()
        before = [(e.id, e.action, e.at) for e in case.events]
        act_at(ctx, s, case, "accept", "department", at(2026, 11, 23, 9, 5))
        act_at(ctx, s, case, "resolve", "department", at(2026, 11, 23, 9, 6), note="垃圾已清运")
        s.commit()
        after = s.execute(select(CaseEvent.id, CaseEvent.action, CaseEvent.at).where(CaseEvent.case_id == case.id)
                          .order_by(CaseEvent.id)).all()
        assert [tuple(r) for r in after[:2]] == before and [r[1] for r in after[2:]] == ["accept", "resolve"]
        assert s.scalar(select(func.count(Case.id))) == 1


def test_api_roles_and_409(client, auth, ctx):
    with ctx.db.session() as s:
        number = open_at(ctx, s, at(2026, 11, 23, 9, 0)).number
        s.commit()
    url = f"/api/cases/{number}/actions"
    r = client.post(url, json={"action": "return", "note": "非本单位"}, headers=auth)
    assert r.status_code == 409 and set(r.get_json()["allowed"]) == {"accept", "resolve"}
    r = client.post(url, json={"action": "return", "role": "department"}, headers=auth)
    assert r.status_code == 422 and "理由" in r.get_json()["message"]
    r = client.post(url, json={"action": "resolve", "role": "department", "note": "已清理"}, headers=auth)
    assert r.status_code == 200 and r.get_json()["status"] == "handled"
    r = client.post(url, json={"action": "close", "role": "department"}, headers=auth)
    assert r.status_code == 409 and r.get_json()["allowed"] == []
    r = client.post(url, json={"action": "close", "role": "system"}, headers=auth)
    assert r.status_code == 422
    r = client.post(url, json={"action": "rework", "role": "verifier", "note": "未清理干净"}, headers=auth)
    assert r.status_code == 200 and r.get_json()["status"] == "accepted"
    r = client.post(url, json={"action": "request_extension", "role": "department", "note": "需车辆",
                               "extra": "1工作日"}, headers=auth)
    assert r.status_code == 200 and r.get_json()["sla"]["extension_request"]["extra"] == "1工作日"
    body = client.get(f"/api/cases/{number}", headers=auth).get_json()
    assert [e["action"] for e in body["events"]] == ["file", "dispatch", "resolve", "rework", "request_extension"]


# What each role may do in each state (no extension pending, no merged reporter to split).
WHO_MAY = {
    "reported": {"operator": "file not_file", "supervisor": "file not_file void", "system": "file not_file"},
    "filed": {"operator": "not_file", "dispatcher": "dispatch", "supervisor": "dispatch not_file void",
              "system": "dispatch not_file"},
    "dispatched": {"department": "accept request_extension resolve return", "dispatcher": "supervise suspend",
                   "supervisor": "supervise suspend void", "api": "accept resolve"},
    "accepted": {"department": "request_extension resolve return", "dispatcher": "supervise suspend",
                 "supervisor": "supervise suspend void", "api": "resolve"},
    "handled": {"verifier": "close rework verify", "supervisor": "close rework verify void", "api": "close verify"},
    "verified": {"verifier": "close rework", "supervisor": "close rework void", "api": "close"},
    "closed": {"citizen": "rework", "supervisor": "rework"},
    "returned": {"dispatcher": "dispatch", "supervisor": "dispatch void", "system": "dispatch"},
    "suspended": {"dispatcher": "resume", "supervisor": "resume void"},
    "not_filed": {}, "void": {},
}


@pytest.mark.parametrize("status", sorted(WHO_MAY))
def test_who_may_do_what_in_each_state(status):
    from types import SimpleNamespace
    case = SimpleNamespace(extension_request=None, reporters=[object()], resume_status="accepted")
    for role in ("operator", "dispatcher", "department", "verifier", "supervisor", "system", "citizen", "api"):
        assert allowed_actions(status, role, case) == sorted(WHO_MAY[status].get(role, "").split()), (status, role)
    assert "close" not in allowed_actions(status, "department", case)   # 监督与处置分离
