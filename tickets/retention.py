"""Forgetting who reported a case once it is long finished; what happened stays.

China's Personal Information Protection Law (个人信息保护法, art. 19) keeps personal information no
longer than its purpose needs. A finished case (结案, 作废, 不予立案) still serves the city years on —
statistics, evaluations, a court's or an auditor's question — but not the reporter's number. So a
finished case whose last event is older than the city's period keeps its category, place, cell,
department and every event with its time (each dashboard figure stays the same), and loses:

- phone numbers and chat ids, which become pseudonyms (anon:…; the same number always gives the
  same pseudonym under one key, so a repeat reporter still counts once);
- numbers the citizen wrote into the words (tickets.pii), in the description, the notes and the
  texts sent to the citizen.

intake.retention does the messages and conversations; `gridline anonymise` runs both.
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from sqlalchemy import func, select

from notify.models import DeliveryReceipt, OutboundMessage
from tickets import pii
from tickets.lifecycle import TERMINAL
from tickets.models import Case, CaseEvent, CaseReporter

PREFIX = "anon:"
_PROVIDER_PERSONAL = ("To", "From", "to", "from")     # a delivery receipt's addresses


def pseudonym(key: bytes, value: str) -> str:
    """The same value, the same pseudonym (under one key); already a pseudonym: unchanged."""
    if not value or value.startswith(PREFIX):
        return value
    return PREFIX + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:12]


def due_cases(session, cutoff: datetime) -> list[int]:
    """Finished cases whose last event is before `cutoff` and whose reporter is not forgotten yet."""
    last = (select(CaseEvent.case_id, func.max(CaseEvent.at).label("at")).group_by(CaseEvent.case_id).subquery())
    q = (select(Case.id).join(last, last.c.case_id == Case.id)
         .where(Case.status.in_(TERMINAL), last.c.at < cutoff, ~Case.reporter_phone.startswith(PREFIX))
         .order_by(Case.id))
    return list(session.scalars(q))


CHUNK = 500    # ids per IN (…): well under SQLite's and PostgreSQL's parameter limits


def chunks(values) -> list[list]:
    values = list(values)
    return [values[i:i + CHUNK] for i in range(0, len(values), CHUNK)]


def forget_cases(session, case_ids: list[int], key: bytes, addresses: set[str]) -> dict:
    """Pseudonyms for the cases' reporters, their events and their outbox (at most CHUNK cases).
    Every number forgotten is added to `addresses`, for the rows that name it elsewhere."""
    counts = {"cases": 0, "events": 0, "outbox": 0}
    for reporter in session.scalars(select(CaseReporter).where(CaseReporter.case_id.in_(case_ids))):
        addresses.add(reporter.phone)
        reporter.phone = pseudonym(key, reporter.phone)
    for case in session.scalars(select(Case).where(Case.id.in_(case_ids))):
        addresses.add(case.reporter_phone)
        addresses.update(pii.numbers(case.description))
        case.reporter_phone = pseudonym(key, case.reporter_phone) or PREFIX   # none (an anonymous Open311 report): marked done
        case.description = pii.redact(case.description)
        counts["cases"] += 1
    for ev in session.scalars(select(CaseEvent).where(CaseEvent.case_id.in_(case_ids))):
        if ev.actor in addresses or pii.PHONE_LIKE.match(ev.actor or ""):    # a survey's actor is the citizen
            ev.actor = pseudonym(key, ev.actor)
        ev.note = pii.redact(ev.note)
        if ev.data and ("phone" in ev.data or "text" in ev.data):
            data = dict(ev.data)
            if data.get("phone"):
                data["phone"] = pseudonym(key, data["phone"])
            if data.get("text"):
                data["text"] = pii.redact(data["text"])
            ev.data = data
        counts["events"] += 1
    counts["outbox"] = forget_outbox(session, select(OutboundMessage).where(OutboundMessage.case_id.in_(case_ids)),
                                     key, addresses)
    return counts


def forget_outbox(session, query, key: bytes, addresses: set[str]) -> int:
    """The rows of `query` sent to one of `addresses`: the address a pseudonym, numbers in the text
    masked, and the addresses dropped from their delivery receipts. Departments' rows are kept."""
    n = 0
    for row in session.scalars(query):
        if row.to not in addresses:
            continue
        row.to, row.text = pseudonym(key, row.to), pii.redact(row.text)
        n += 1
        if row.provider_id:
            for receipt in session.scalars(select(DeliveryReceipt).where(DeliveryReceipt.provider_id == row.provider_id)):
                if any(k in (receipt.fields or {}) for k in _PROVIDER_PERSONAL):
                    receipt.fields = {k: v for k, v in receipt.fields.items() if k not in _PROVIDER_PERSONAL}
    return n
