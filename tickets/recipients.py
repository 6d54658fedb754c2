"""Where a notice to a department goes: SMS to its phone, and — where routing_rules.yaml gives them
— its Telegram chat (`telegram_chat`) and its system's webhook (`webhook`). One outbox row per
target, each with its own dedupe key (the SMS keeps the notice's key, the others add ":telegram" or
":webhook"), so a re-run of the scan finds every row and sends none twice.
"""
from __future__ import annotations

from datetime import datetime

from notify import webhook
from tickets import clock


def department_entry(env, name: str):
    """The rules' entry for a department row (a street office takes the 属地街道办事处 entry), or None
    when the lifecycle runs without rules (then only SMS goes out)."""
    find = getattr(env.rules, "department_or_office", None)
    return find(name) if find is not None and name else None


def rows(case, env, kind: str, key: str, text: str, now: datetime, phone: str, entry, **extra) -> list[dict]:
    """OutboundMessage fields for one notice to every target: phone (SMS), then entry's chat and webhook."""
    base = {"kind": kind, "case_id": case.id}
    out = []
    if phone:
        out.append({**base, "channel": "sms", "to": phone, "text": text, "dedupe_key": key})
    if entry is not None and entry.telegram_chat:
        out.append({**base, "channel": "telegram", "to": entry.telegram_chat, "text": text,
                    "dedupe_key": f"{key}:telegram"})
    if entry is not None and entry.webhook:
        hook_key = f"{key}:webhook"
        body = webhook.payload(kind, hook_key, text, clock.iso_local(now, env.tz), **case_fields(case, env), **extra)
        out.append({**base, "channel": "webhook", "to": entry.webhook, "text": body, "dedupe_key": hook_key})
    return out


def case_fields(case, env) -> dict:
    """What a receiving system needs to file the notice against its own copy of the case."""
    return {"case_number": case.number, "category_code": case.category_code, "category": case.category_name,
            "department": case.department.name if case.department else "", "grid_code": case.grid_code,
            "due_at": clock.iso_local(case.due_at, env.tz), "status": case.status, "sla_level": case.sla_level}
