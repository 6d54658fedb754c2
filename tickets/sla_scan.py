"""The SLA scan, run every few seconds by the worker's sweeper: yellow at 80 % of the limit, red at
100 %, 催办 reminders to the department (in working hours only), escalation along the department's
chain (its head, then routing_rules.yaml's escalate_to: … → the command centre), and "no answer"
when the survey window passes. Each is an event, once (the case row is locked while it is judged,
and its light/step/reminder count say what was already done), and, where the policy says so, a
notice through the outbox to every target of the responsible department (SMS to its phone, its
Telegram chat and webhook: tickets.recipients), one dedupe key per target — so a re-run never sends twice.

The scan only reads cases whose next_check_at has come (an index), so its cost follows the work
due, not the number of cases.
"""
from __future__ import annotations

import logging
from collections import Counter
from typing import NamedTuple
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select

from notify.models import OutboundMessage
from store.db import utcnow
from tickets import deadline
from tickets.deadline import Env, make_env
from tickets.lifecycle import CLOCK_RUNNING
from tickets.models import Case, CaseEvent, Department
from tickets.recipients import department_entry, rows
from tickets.service import event_fields, message_fields

log = logging.getLogger("gridline.sla")
BATCH = 500


def run(ctx, now: datetime | None = None) -> dict:
    """The sweeper's entry: scan with the worker's preloaded calendar, rules and templates."""
    env = make_env(ctx.calendar, ctx.config.timezone, rules=ctx.rules, templates=ctx.templates)
    with ctx.db.session() as s:
        counts = scan(s, env, now)
    if counts:
        log.info("SLA scan: %s", dict(counts))
    return counts


class _Batch(NamedTuple):
    """What one batch of judged cases writes at its end: counts, events and notices as plain rows
    (PostgreSQL gets them by executemany, parsed once, not as one long INSERT a batch), and which
    closed cases had a survey answer (one query a batch, not one a case)."""
    counts: Counter
    events: list
    outgoing: list
    answered: set


def scan(session, env: Env | None = None, now: datetime | None = None, batch: int = BATCH) -> Counter:
    """Judge every case whose next check has come; commits once per batch. Returns what it did."""
    env, now = env or make_env(), now or utcnow()
    counts: Counter = Counter()
    postgres = session.bind.dialect.name == "postgresql"
    # Held for the scan: a case's department then comes from the identity map, not one query each.
    departments = session.scalars(select(Department)).all()  # noqa: F841
    while True:
        q = select(Case).where(Case.next_check_at <= now).order_by(Case.next_check_at).limit(batch)
        if postgres:  # several workers may scan at once: each takes rows the others have not locked
            q = q.with_for_update(skip_locked=True, of=Case)
        cases = session.scalars(q).all()
        work = _Batch(counts, [], [], _answered(session, cases, env, now))
        with session.no_autoflush:
            for case in cases:
                check(case, env, now, work)
                if case.next_check_at is not None and case.next_check_at <= now:
                    case.next_check_at = now + timedelta(minutes=1)  # never loop on one case
        if work.events:
            session.execute(insert(CaseEvent), work.events)
            touched = {e["case_id"] for e in work.events}
            for case in cases:                  # a loaded event list is stale now: read it again
                if case.id in touched:
                    session.expire(case, ["events"])
        _queue_all(session, work.outgoing)
        session.commit()
        if len(cases) < batch:
            return counts


def check(case: Case, env: Env, now: datetime, work: _Batch) -> None:
    """Judge one case at `now`; what it records and sends goes into the batch."""
    if case.status == "closed":
        _survey_window(case, env, now, work)
        return
    if case.status not in CLOCK_RUNNING or case.due_at is None:
        case.next_check_at = None
        return
    if case.clock_start is None:  # a case opened before the clock existed: start it as opened
        deadline.restart(case, env, case.created_at)
    chain = escalation_chain(case, env)
    key = f"sla:{case.id}:{case.clock_round}"
    own = (case.department.phone, department_entry(env, case.department.name))  # SMS phone, rules entry
    if case.sla_level == "green" and now >= case.warn_at:
        case.sla_level = "yellow"
        _record(case, "yellow", f"已用时达到时限的{env.policy.warn_ratio:.0%}", now, work)
        if now < case.due_at:  # both at once (the scan was down): the red notice says it all
            _notify(case, env, "yellow", f"{key}:yellow", own, now, work)
    if case.sla_level == "yellow" and now >= case.due_at:
        case.sla_level = "red"
        _record(case, "red", "已超过处置时限", now, work)
        _notify(case, env, "red", f"{key}:red", own, now, work)
    if case.sla_level == "red":
        while case.escalation_step < len(chain) and now >= deadline.escalation_at(case, env, case.escalation_step + 1):
            case.escalation_step += 1
            target, phone, entry = chain[case.escalation_step - 1]
            _record(case, "escalate", f"第{case.escalation_step}级升级：{target}", now, work,
                    {"step": case.escalation_step, "to": target})
            _notify(case, env, "escalate", f"{key}:escalate:{case.escalation_step}", (phone, entry), now,
                    work, step=case.escalation_step, recipient=target)
        if now >= deadline.next_reminder_at(case, env) and env.calendar.is_working_time(env.local(now)):
            case.reminders += 1
            case.last_reminder_at = now
            _record(case, "remind", f"第{case.reminders}次催办", now, work, {"n": case.reminders})
            _notify(case, env, "remind", f"{key}:remind:{case.reminders}", own, now, work)
    deadline.schedule(case, env, len(chain), now)


def escalation_chain(case: Case, env: Env) -> list[tuple[str, str, object]]:
    """[(who, phone, rules entry)]: the department's head first (by phone; the department's chat and
    webhook hear of it too), then each escalate_to department in order, on all its targets."""
    dep = case.department
    here = department_entry(env, dep.name)
    chain = [(f"{dep.name}负责人", env.policy.department_heads.get(dep.name) or dep.phone, here)]
    for name in (here.escalate_to if here else ()):
        up = department_entry(env, name)
        chain.append((name, up.phone if up else "", up))
    return chain


def _answered(session, cases, env: Env, now: datetime) -> set[int]:
    """The closed cases of a batch whose survey window has passed and that have a survey answer
    since they were closed."""
    closed = {c.id: c.closed_at for c in cases
              if c.status == "closed" and now >= c.closed_at + timedelta(hours=env.survey_hours)}
    if not closed:
        return set()
    answers = session.execute(select(CaseEvent.case_id, func.max(CaseEvent.at)).where(
        CaseEvent.case_id.in_(closed), CaseEvent.action == "survey").group_by(CaseEvent.case_id))
    return {case_id for case_id, at in answers if at >= closed[case_id]}


def _survey_window(case: Case, env: Env, now: datetime, work: _Batch) -> None:
    """The survey window after the result: record "no answer" if no reporter replied."""
    ends = case.closed_at + timedelta(hours=env.survey_hours)
    if now < ends:
        case.next_check_at = ends
        return
    if case.id not in work.answered:
        _record(case, "no_answer", "回访期内市民未回复", now, work)
    case.next_check_at = None


def _record(case, action, note, now, work: _Batch, data=None) -> None:
    work.events.append({"case_id": case.id, **event_fields(case, "system", action, case.status, case.status,
                                                           note, data, now)})
    work.counts[action] += 1


def _notify(case, env: Env, kind: str, key: str, target: tuple, now: datetime, work: _Batch, **extra) -> None:
    """target: (SMS phone, rules entry with the Telegram chat and webhook) — every one set gets a row."""
    if kind not in env.policy.notify:
        return
    fields = message_fields(case, env, now)
    fields.update(extra)
    text = env.policy.message(kind, **fields)
    work.outgoing.extend(rows(case, env, kind, key, text, now, *target, **extra))


def _queue_all(session, outgoing: list[dict]) -> None:
    """outbox.queue for a whole batch: one look-up for the dedupe keys instead of one per message."""
    if not outgoing:
        return
    keys = [m["dedupe_key"] for m in outgoing]
    have = set(session.scalars(select(OutboundMessage.dedupe_key).where(OutboundMessage.dedupe_key.in_(keys))))
    new = []
    for m in outgoing:
        if m["dedupe_key"] not in have:
            have.add(m["dedupe_key"])
            new.append(m)
    if new:
        session.execute(insert(OutboundMessage), new)
