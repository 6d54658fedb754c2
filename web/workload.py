"""Each staff member's month from the event log (岗位工作量): what they did, and the two accuracy
indicators of GB/T 30428.4 that the log can tell (reference/evaluation_indicators.json):

  准确派遣率 = (派遣数 − 被退回数) / 派遣数 — a dispatch the department sent back (退回) before any
             other dispatch of the case was a wrong one (派遣员);
  准确立案率 = (立案数 − 作废数) / 立案数 — a case this person filed and that was later voided (值班长);

and its two timeliness rates, against the centre's own limits (data/lifecycle.yaml centre_limits):

  按时立案率 = 按时立案数 / 立案数 — filed within the limit of the case's 上报 (or of the message's
             arrival, for a case an operator filed from the triage queue);
  按时派遣率 = 按时派遣数 / 派遣数 — dispatched within the limit of its 立案, or of the department's
             退回 for a re-dispatch.

Calls 受理 are the hotline transcripts an operator entered (the message's meta names the operator).
Only people with an account count: the pipeline ("system") and citizens are not staff.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.orm import aliased

from intake.models import InboundMessage
from tickets.deadline import Env, make_env
from tickets.models import Case, CaseEvent
from web.models import ROLES, User

COUNTED = {"file": "filed", "not_file": "not_filed", "dispatch": "dispatched", "verify": "verified",
           "rework": "rework", "close": "closed", "supervise": "supervised", "suspend": "suspended",
           "void": "voided", "approve_extension": "extensions"}
COLUMNS = [("calls", "受理来电"), ("filed", "立案"), ("not_filed", "不予立案"), ("dispatched", "派遣"),
           ("returned", "被退回"), ("dispatch_accuracy", "准确派遣率"), ("dispatch_on_time", "按时派遣率"),
           ("filing_accuracy", "准确立案率"), ("filing_on_time", "按时立案率"),
           ("verified", "核查通过"), ("rework", "核查返工"), ("closed", "结案"), ("supervised", "督办"),
           ("suspended", "挂账"), ("extensions", "批准延期"), ("voided", "作废")]
RATES = {"dispatch_accuracy", "filing_accuracy", "dispatch_on_time", "filing_on_time"}


def workload(session, start: datetime, end: datetime, env: Env) -> list[dict]:
    """One row per staff account (departments' users aside: their work is the department's
    evaluation) that did anything in [start, end), by role then username. `env`: the policy's
    centre limits and the calendar they count on."""
    people = {u.username: u for u in session.scalars(select(User).where(User.role != "department"))}
    if not people:
        return []
    names = sorted(people)
    in_period = lambda ev: and_(ev.at >= start, ev.at < end, ev.actor.in_(names))  # noqa: E731
    rows: dict[str, dict] = {}

    def add(actor, key, n):
        rows.setdefault(actor, {})[key] = n

    for actor, action, n in session.execute(
            select(CaseEvent.actor, CaseEvent.action, func.count()).where(
                in_period(CaseEvent), CaseEvent.action.in_(list(COUNTED))).group_by(CaseEvent.actor, CaseEvent.action)):
        add(actor, COUNTED[action], n)
    for actor, n in _followed_by(session, in_period, "dispatch", "return", unless_between="dispatch"):
        add(actor, "returned", n)
    for actor, n in _followed_by(session, in_period, "file", "void"):
        add(actor, "filed_voided", n)
    p = env.policy
    for key, action, since, limits in (("filed_on_time", "file", ("report",), (p.file_within, p.urgent_file_within)),
                                       ("dispatched_on_time", "dispatch", ("file", "return"),
                                        (p.dispatch_within, p.urgent_dispatch_within))):
        for actor, n in _on_time(session, in_period, action, since, limits, env).items():
            add(actor, key, n)
    operator = InboundMessage.meta["operator"].as_string()
    for actor, n in session.execute(
            select(operator, func.count()).where(InboundMessage.channel == "hotline", InboundMessage.received_at >= start,
                                                 InboundMessage.received_at < end, operator.in_(names))
            .group_by(operator)):
        add(actor, "calls", n)

    out = []
    for username, r in rows.items():
        user = people[username]
        row = {key: r.get(key, 0) for key, _label in COLUMNS if key not in RATES}
        row["dispatch_accuracy"] = _rate(row["dispatched"] - row["returned"], row["dispatched"])
        row["filing_accuracy"] = _rate(row["filed"] - r.get("filed_voided", 0), row["filed"])
        row["dispatch_on_time"] = _rate(r.get("dispatched_on_time", 0), row["dispatched"])
        row["filing_on_time"] = _rate(r.get("filed_on_time", 0), row["filed"])
        row.update(username=username, name=user.name or username, role=ROLES.get(user.role, user.role),
                   role_key=user.role)
        out.append(row)
    order = list(ROLES)
    return sorted(out, key=lambda r: (order.index(r["role_key"]) if r["role_key"] in order else len(order), r["username"]))


def of_centre(ctx, session, start: datetime, end: datetime) -> list[dict]:
    """`workload` on the centre's calendar and lifecycle policy."""
    return workload(session, start, end, make_env(ctx.calendar, ctx.config.timezone))


def _followed_by(session, in_period, first: str, then: str, unless_between: str | None = None):
    """(actor, n): each actor's `first` events in the period that a later `then` of the same case
    followed — with no `unless_between` event of the case in between, when given."""
    a, b, mid = aliased(CaseEvent), aliased(CaseEvent), aliased(CaseEvent)
    q = (select(a.actor, func.count(func.distinct(a.id)))
         .join(b, and_(b.case_id == a.case_id, b.action == then, b.id > a.id))
         .where(in_period(a), a.action == first))
    if unless_between:
        q = q.where(~select(mid.id).where(mid.case_id == a.case_id, mid.action == unless_between,
                                          mid.id > a.id, mid.id < b.id).exists())
    return session.execute(q.group_by(a.actor))


def _on_time(session, in_period, action: str, since: tuple[str, ...], limits, env: Env) -> Counter:
    """actor → how many of their `action` events in the period came within the limit (limits:
    (normal, urgent) Spans) of the case's latest `since` event before them. With none, the clock
    started when the message the event names arrived (a 人工分拣 filing: the wait in the triage
    queue counts), else the case was opened in that state and the step took no time: on time."""
    a, b = aliased(CaseEvent), aliased(CaseEvent)
    arrived = (select(InboundMessage.received_at)
               .where(InboundMessage.id == a.data["message_id"].as_integer()).scalar_subquery())
    began = func.coalesce(select(func.max(b.at)).where(b.case_id == a.case_id, b.action.in_(since), b.id < a.id)
                          .scalar_subquery(), arrived)
    out: Counter = Counter()
    for actor, done, start, urgent in session.execute(
            select(a.actor, a.at, began, Case.urgent).join(Case, Case.id == a.case_id)
            .where(in_period(a), a.action == action)):
        span = limits[1] if urgent else limits[0]
        out[actor] += start is None or env.elapsed(start, done, span.working) <= span.hours + 1e-9
    return out


def _rate(part: int, whole: int) -> float | None:
    return None if not whole else round(part / whole, 4)
