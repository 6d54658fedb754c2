"""The scheduler's SLA scan at frozen times: lights once each, 催办 in working hours only, every
escalation step along the chain, suspension, the survey's "no answer", and the worker's entry."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from case_factory import act_at, actions, at, chained_department, env, local, open_at
from notify.models import OutboundMessage
from store.db import utcnow
from tickets import sla_scan
from tickets.service import record_survey


def sms(s, kind=None) -> list[tuple[str, str]]:
    """The scan's notices (or one kind of them): the 新派遣 notice at opening is not the scan's."""
    q = select(OutboundMessage).order_by(OutboundMessage.id).where(OutboundMessage.kind != "dispatch")
    if kind:
        q = q.where(OutboundMessage.kind == kind)
    return [(m.kind, m.to) for m in s.scalars(q)]


def test_yellow_at_80_percent_and_red_at_100_percent_once_each(ctx):
    with ctx.db.session() as s:
        case = open_at(ctx, s, at(2026, 11, 23, 9, 0))   # 4 working hours: due 15:00, yellow at 14:12
        phone = case.department.phone
        assert local(case.warn_at) == datetime(2026, 11, 23, 14, 12)
        e = env(ctx)
        assert sla_scan.scan(s, e, now=at(2026, 11, 23, 14, 11)) == {}
        assert sla_scan.scan(s, e, now=at(2026, 11, 23, 14, 12)) == {"yellow": 1}
        assert sla_scan.scan(s, e, now=at(2026, 11, 23, 14, 30)) == {}
        assert sla_scan.scan(s, e, now=at(2026, 11, 23, 15, 0)) == {"red": 1}
        assert sla_scan.scan(s, e, now=at(2026, 11, 23, 15, 1)) == {}
        assert actions(case) == ["file", "dispatch", "yellow", "red"]
        assert sms(s) == [("yellow", phone), ("red", phone)]
        text = s.scalar(select(OutboundMessage.text).where(OutboundMessage.kind == "red"))
        assert case.number in text and "11月23日15:00" in text


def test_a_scan_that_was_down_records_both_lights_and_sends_only_red(ctx):
    with ctx.db.session() as s:
        case = open_at(ctx, s, at(2026, 11, 23, 9, 0))
        assert sla_scan.scan(s, env(ctx), now=at(2026, 11, 23, 16, 0)) == {"yellow": 1, "red": 1}
        assert actions(case)[-2:] == ["yellow", "red"]
        assert [k for k, _ in sms(s)] == ["red"]


def test_reminders_only_in_working_hours(ctx):
    with ctx.db.session() as s:
        case = open_at(ctx, s, at(2026, 11, 23, 9, 0))   # due Monday 15:00
        e = env(ctx, notify=frozenset({"remind"}))
        sla_scan.scan(s, e, now=at(2026, 11, 23, 15, 0))
        # Every 4 working hours after the due time: Tuesday 09:00, Tuesday 15:00, Wednesday 09:00 …
        assert local(case.next_check_at) == datetime(2026, 11, 24, 9, 0)
        assert sla_scan.scan(s, e, now=at(2026, 11, 23, 22, 0)) == {}
        assert sla_scan.scan(s, e, now=at(2026, 11, 24, 9, 0))["remind"] == 1
        assert sla_scan.scan(s, e, now=at(2026, 11, 24, 11, 30)).get("remind") is None
        assert sla_scan.scan(s, e, now=at(2026, 11, 24, 15, 0))["remind"] == 1
        assert [k for k, _ in sms(s)] == ["remind", "remind"]
        assert local(case.last_reminder_at) == datetime(2026, 11, 24, 15, 0)
        assert local(sla_scan.deadline.next_reminder_at(case, e)) == datetime(2026, 11, 25, 9, 0)


def test_urgent_case_escalates_at_night_but_is_reminded_only_when_offices_open(ctx):
    """Saturday 20:00, 2 hours on the wall clock: red at 22:00, escalation an hour later,
    but the hourly 催办 waits for Monday 08:00."""
    with ctx.db.session() as s:
        case = open_at(ctx, s, at(2026, 11, 21, 20, 0), limit="2小时", urgent=True)
        e = env(ctx)
        assert sla_scan.scan(s, e, now=at(2026, 11, 21, 22, 0)) == {"yellow": 1, "red": 1}
        assert sla_scan.scan(s, e, now=at(2026, 11, 21, 23, 0)) == {"escalate": 1}
        assert sla_scan.scan(s, e, now=at(2026, 11, 22, 12, 0)).get("remind") is None  # Sunday
        assert sla_scan.scan(s, e, now=at(2026, 11, 23, 8, 0))["remind"] == 1
        assert sla_scan.scan(s, e, now=at(2026, 11, 23, 9, 0))["remind"] == 1
        assert sla_scan.scan(s, e, now=at(2026, 11, 23, 12, 30)).get("remind") is None  # lunch
        assert sla_scan.scan(s, e, now=at(2026, 11, 23, 14, 0))["remind"] == 1
        reminders = [ev for ev in case.events if ev.action == "remind"]
        assert [local(ev.at).strftime("%a %H:%M") for ev in reminders] == ["Mon 08:00", "Mon 09:00", "Mon 14:00"]


def test_every_escalation_step_along_the_chain(ctx):
    """Head of the department, then each escalate_to in routing_rules.yaml, ending at the command centre."""
    dep = chained_department(ctx)
    chain = ctx.rules.departments[dep].escalate_to
    assert len(chain) >= 2 and ctx.rules.departments[chain[-1]].escalate_to == ()
    head = "+8613900000001"
    e = env(ctx, department_heads={dep: head})
    with ctx.db.session() as s:
        case = open_at(ctx, s, at(2026, 11, 23, 9, 0), department=dep)   # due Monday 15:00
        sla_scan.scan(s, e, now=at(2026, 11, 23, 15, 0))
        # First step 4 working hours overdue (Tue 09:00), then one more every 8 working hours.
        steps = [at(2026, 11, 24 + n, 9, 0) for n in range(len(chain) + 1)]
        for n, when in enumerate(steps, start=1):
            assert sla_scan.scan(s, e, now=when - timedelta(minutes=1)).get("escalate") is None
            assert sla_scan.scan(s, e, now=when)["escalate"] == 1
            assert case.escalation_step == n
        assert sla_scan.scan(s, e, now=at(2026, 11, 30, 11, 0)).get("escalate") is None  # the chain has ended
        escalations = [ev for ev in case.events if ev.action == "escalate"]
        assert [ev.data["to"] for ev in escalations] == [f"{dep}负责人", *chain]
        phones = [ctx.rules.departments[name].phone for name in chain]
        assert [to for kind, to in sms(s) if kind == "escalate"] == [head, *phones]
        act_at(ctx, s, case, "resolve", "department", at(2026, 11, 30, 12, 0), note="垃圾已清运")
        assert case.next_check_at is None
        assert sla_scan.scan(s, e, now=at(2026, 12, 10, 11, 0)) == {}


def test_suspended_case_is_left_alone_and_its_due_time_moves(ctx):
    with ctx.db.session() as s:
        case = open_at(ctx, s, at(2026, 11, 23, 9, 0))   # due Monday 15:00
        act_at(ctx, s, case, "suspend", "dispatcher", at(2026, 11, 23, 10, 0), note="等待产权单位确认")
        assert sla_scan.scan(s, env(ctx), now=at(2026, 11, 24, 9, 0)) == {}
        act_at(ctx, s, case, "resume", "dispatcher", at(2026, 11, 24, 10, 0))   # 8 working hours later
        assert local(case.due_at) == datetime(2026, 11, 24, 15, 0)
        assert sla_scan.scan(s, env(ctx), now=at(2026, 11, 24, 10, 0)) == {}
        assert sla_scan.scan(s, env(ctx), now=at(2026, 11, 24, 15, 0)) == {"yellow": 1, "red": 1}


def test_no_answer_is_recorded_when_the_survey_window_passes(ctx):
    e = env(ctx)
    with ctx.db.session() as s:
        quiet = open_at(ctx, s, at(2026, 11, 23, 9, 0))
        answered = open_at(ctx, s, at(2026, 11, 23, 9, 0), phone="+8613800138009")
        for case in (quiet, answered):
            act_at(ctx, s, case, "resolve", "department", at(2026, 11, 23, 10, 0), note="已清理")
            act_at(ctx, s, case, "close", "verifier", at(2026, 11, 23, 11, 0))
        record_survey(s, answered, 1, actor="+8613800138009", now=at(2026, 11, 24, 9, 0))
        assert sla_scan.scan(s, e, now=at(2026, 11, 23, 12, 0)) == {}
        window_end = at(2026, 11, 23, 11, 0) + timedelta(hours=e.survey_hours)
        assert quiet.next_check_at == window_end
        assert sla_scan.scan(s, e, now=window_end) == {"no_answer": 1}
        assert sla_scan.scan(s, e, now=window_end + timedelta(days=1)) == {}
        assert actions(quiet)[-1] == "no_answer" and "no_answer" not in actions(answered)


def test_the_worker_sweeper_entry_scans_with_the_context(ctx):
    with ctx.db.session() as s:
        case = open_at(ctx, s, utcnow() - timedelta(days=30))
        s.commit()
        number = case.number
    counts = sla_scan.run(ctx)
    assert counts["yellow"] == 1 and counts["red"] == 1 and counts["escalate"] >= 1
    assert sla_scan.run(ctx).get("red") is None
    with ctx.db.session() as s:
        red = s.scalars(select(OutboundMessage.text).where(OutboundMessage.kind == "red")).all()
        assert len(red) == 1 and number in red[0]
