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
from datetime import datetime, timedelta

from sqlalchemy import select

from notify import outbox
from notify.models import OutboundMessage
from store.db import utcnow
from tickets import deadline
from tickets.deadline import Env, make_env
from tickets.lifecycle import CLOCK_RUNNING
from tickets.models import Case, CaseEvent, Department
from tickets.recipients import department_entry, rows
from tickets.service import _event, message_fields

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
        # One flush per batch at commit (batched INSERTs) instead of one per object: the dedupe
        # look-ups in the outbox would otherwise autoflush before every message.
        outgoing: list[dict] = []
        with session.no_autoflush:
            for case in cases:
                check(session, case, env, now, counts, outgoing)
                if case.next_check_at is not None and case.next_check_at <= now:
                    case.next_check_at = now + timedelta(minutes=1)  # never loop on one case
        _queue_all(session, outgoing)
        session.commit()
        if len(cases) < batch:
            return counts


def check(session, case: Case, env: Env, now: datetime, counts: Counter, outgoing: list | None = None) -> None:
    """Judge one case at `now`. Messages go to `outgoing` (queued per batch), or straight to the outbox."""
    if case.status == "closed":
        _survey_window(session, case, env, now, counts)
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
        _record(session, case, "yellow", f"已用时达到时限的{env.policy.warn_ratio:.0%}", now, counts)
        if now < case.due_at:  # both at once (the scan was down): the red notice says it all
            _notify(session, case, env, "yellow", f"{key}:yellow", own, now, outgoing)
    if case.sla_level == "yellow" and now >= case.due_at:
        case.sla_level = "red"
        _record(session, case, "red", "已超过处置时限", now, counts)
        _notify(session, case, env, "red", f"{key}:red", own, now, outgoing)
    if case.sla_level == "red":
        while case.escalation_step < len(chain) and now >= deadline.escalation_at(case, env, case.escalation_step + 1):
            case.escalation_step += 1
            target, phone, entry = chain[case.escalation_step - 1]
            _record(session, case, "escalate", f"第{case.escalation_step}级升级：{target}", now, counts,
                    {"step": case.escalation_step, "to": target})
            _notify(session, case, env, "escalate", f"{key}:escalate:{case.escalation_step}", (phone, entry), now,
                    outgoing, step=case.escalation_step, recipient=target)
        if now >= deadline.next_reminder_at(case, env) and env.calendar.is_working_time(env.local(now)):
            case.reminders += 1
            case.last_reminder_at = now
            _record(session, case, "remind", f"第{case.reminders}次催办", now, counts, {"n": case.reminders})
            _notify(session, case, env, "remind", f"{key}:remind:{case.reminders}", own, now, outgoing)
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


def _survey_window(session, case: Case, env: Env, now: datetime, counts: Counter) -> None:
    """The survey window after the result: record "no answer" if no reporter replied."""
    ends = case.closed_at + timedelta(hours=env.survey_hours)
    if now < ends:
        case.next_check_at = ends
        return
    answered = session.scalar(select(CaseEvent.id).where(
        CaseEvent.case_id == case.id, CaseEvent.action == "survey", CaseEvent.at >= case.closed_at).limit(1))
    if answered is None:
        _record(session, case, "no_answer", "回访期内市民未回复", now, counts)
    case.next_check_at = None


def _record(session, case, action, note, now, counts, data=None) -> None:
    _event(session, case, "system", action, case.status, case.status, note, data, now)
    counts[action] += 1


def _notify(session, case, env: Env, kind: str, key: str, target: tuple, now: datetime, outgoing,
            **extra) -> None:
    """target: (SMS phone, rules entry with the Telegram chat and webhook) — every one set gets a row."""
    if kind not in env.policy.notify:
        return
    fields = message_fields(case, env, now)
    fields.update(extra)
    text = env.policy.message(kind, **fields)
    for msg in rows(case, env, kind, key, text, now, *target, **extra):
        if outgoing is None:
            outbox.queue(session, msg["to"], msg["text"], kind, msg["dedupe_key"], case.id, channel=msg["channel"])
        else:
            outgoing.append(msg)


def _queue_all(session, outgoing: list[dict]) -> None:
    """outbox.queue for a whole batch: one look-up for the dedupe keys instead of one per message."""
    if not outgoing:
        return
    keys = [m["dedupe_key"] for m in outgoing]
    have = set(session.scalars(select(OutboundMessage.dedupe_key).where(OutboundMessage.dedupe_key.in_(keys))))
    for m in outgoing:
        if m["dedupe_key"] not in have:
            have.add(m["dedupe_key"])
            session.add(OutboundMessage(**m))
