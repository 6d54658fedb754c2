"""Cases for the lifecycle tests, opened and moved at frozen local times (Asia/Shanghai) on the real
rules, calendar and database: every function takes the moment it happens, nothing patches time."""
from __future__ import annotations

import dataclasses
from datetime import datetime

from tickets import clock
from tickets.deadline import make_env
from tickets.policy import default as default_policy
from tickets.service import NewCase, act, open_case

TZ = "Asia/Shanghai"


def at(y, m, d, h=0, mi=0) -> datetime:
    """A local wall-clock moment as the naive UTC the database keeps."""
    return clock.to_utc_naive(datetime(y, m, d, h, mi), TZ)


def local(utc: datetime | None) -> datetime | None:
    return None if utc is None else clock.local_naive(utc, TZ)


def without_dispatch_notice():
    """The default policy without the department's 新派遣 notice: for tests about the notices after it."""
    base = default_policy()
    return dataclasses.replace(base, notify=base.notify - {"dispatch"})


def env(ctx, **policy):
    base = default_policy()
    return make_env(ctx.calendar, TZ, dataclasses.replace(base, **policy) if policy else base,
                    templates=ctx.templates, rules=ctx.rules)


def chained_department(ctx) -> str:
    """The department with the longest escalation chain in the rules (head → … → command centre)."""
    return max(ctx.rules.departments.values(), key=lambda d: (len(d.escalate_to), d.name)).name


def new_case(ctx, *, limit="4工作时", text="东四北大街18号门口有一堆暴露垃圾没人清理", phone="+8613800138001",
             department=None, cell=None, category=None, message_id=None, channel="hotline", urgent=False) -> NewCase:
    cat = category or next(c for c in ctx.rules.categories if not c.urgent)
    cell = cell or ctx.grids.cells[0].code
    return NewCase(category_code=cat.code, category_name=cat.name, confidence=0.9, decided_by=[],
                   urgent=urgent, department=department or cat.department, grid_code=cell, place="东四北大街18号",
                   lon=None, lat=None, description=text, reporter_phone=phone, channel=channel,
                   message_id=message_id, time_limit=limit, route_reason="测试")


def open_at(ctx, session, when: datetime, policy=None, **kw):
    case = open_case(session, new_case(ctx, **kw), ctx.calendar, TZ, now=when, policy=policy, rules=ctx.rules)
    session.flush()
    return case


def act_at(ctx, session, case, action: str, role: str, when: datetime, note: str = "", actor: str | None = None,
           **data):
    e = env(ctx)
    return act(session, case, action, actor=actor or role, role=role, note=note, now=when, data=data,
               templates=e.templates, tz=TZ, calendar=e.calendar, policy=e.policy, rules=e.rules)


def actions(case) -> list[str]:
    return [e.action for e in case.events]
