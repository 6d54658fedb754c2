"""Opening cases and moving them through the lifecycle; every change is an appended event."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from notify import outbox
from store.db import utcnow
from tickets import clock
from tickets.lifecycle import next_status
from tickets.models import Case, CaseEvent, CaseReporter, Department
from tickets.numbers import next_case_number


@dataclass
class NewCase:
    """What the pipeline decided about a message; everything a case needs to open."""
    category_code: str
    category_name: str
    confidence: float
    decided_by: list
    urgent: bool
    department: str
    grid_code: str | None
    place: str
    lon: float | None
    lat: float | None
    description: str
    reporter_phone: str
    channel: str
    message_id: int | None
    time_limit: object      # routing.rules.TimeLimit
    route_reason: str


def _event(session, case: Case, actor: str, action: str, from_status, to_status, note="", data=None):
    session.add(CaseEvent(case=case, actor=actor, action=action, from_status=from_status,
                          to_status=to_status, note=note, data=data or {}, at=utcnow()))


def department_id(session, name: str) -> int:
    dep_id = session.scalar(select(Department.id).where(Department.name == name))
    if dep_id is None:
        raise LookupError(f"部门“{name}”不在数据库中：请运行 gridline load-demo 或导入部门")
    return dep_id


def open_case(session, new: NewCase, calendar, tz: str) -> Case:
    """立案 and 派遣 in one go: the rules named the department, so dispatch is immediate."""
    now = utcnow()
    local_now = clock.local_naive(now, tz)
    due_local = calendar.due(local_now, new.time_limit)
    case = Case(
        number=next_case_number(session, local_now.date()), status="dispatched",
        category_code=new.category_code, category_name=new.category_name, confidence=new.confidence,
        decided_by=new.decided_by, urgent=new.urgent, department_id=department_id(session, new.department),
        grid_code=new.grid_code, place=new.place, lon=new.lon, lat=new.lat, description=new.description,
        reporter_phone=new.reporter_phone, channel=new.channel, time_limit=str(new.time_limit),
        created_at=now, due_at=clock.to_utc_naive(due_local, tz),
    )
    session.add(case)
    session.add(CaseReporter(case=case, phone=new.reporter_phone, channel=new.channel, message_id=new.message_id))
    _event(session, case, "system", "file", None, "filed", "自动立案",
           {"message_id": new.message_id, "confidence": round(new.confidence, 3), "words": new.decided_by})
    _event(session, case, "system", "dispatch", "filed", "dispatched", new.route_reason,
           {"department": new.department, "time_limit": str(new.time_limit)})
    return case


def act(session, case: Case, action: str, actor: str, role: str, note: str = "", templates=None, tz="Asia/Shanghai"):
    """Apply an action (raises lifecycle.IllegalTransition) and its notifications."""
    to_status = next_status(action, case.status, role)
    from_status = case.status
    case.status = to_status
    if to_status == "closed":
        case.closed_at = utcnow()
    _event(session, case, actor, action, from_status, to_status, note)
    if to_status == "closed" and templates is not None:
        result = _last_note(case, "resolve") or note or "已处理完毕"
        for reporter in case.reporters:
            text = templates.render("result", number=case.number, result=result)
            outbox.queue(session, reporter.phone, text, "result", f"result:{case.id}:{reporter.phone}",
                         case.id, channel=reporter.channel)
    return case


def _last_note(case: Case, action: str) -> str:
    for ev in reversed(case.events):
        if ev.action == action and ev.note:
            return ev.note
    return ""


def case_as_dict(case: Case, tz: str) -> dict:
    return {
        "number": case.number, "status": case.status, "category_code": case.category_code,
        "category_name": case.category_name, "confidence": round(case.confidence, 3),
        "decided_by": case.decided_by, "urgent": case.urgent, "department": case.department.name,
        "grid_code": case.grid_code, "grid_name": case.grid.name if case.grid else None,
        "community": case.grid.community if case.grid else None, "street": case.grid.street if case.grid else None,
        "place": case.place, "description": case.description, "channel": case.channel,
        "time_limit": case.time_limit, "created_at": clock.iso_local(case.created_at, tz),
        "due_at": clock.iso_local(case.due_at, tz), "closed_at": clock.iso_local(case.closed_at, tz),
        "events": [{"at": clock.iso_local(e.at, tz), "actor": e.actor, "action": e.action,
                    "from": e.from_status, "to": e.to_status, "note": e.note} for e in case.events],
    }
