"""Readable case numbers: the local date and a daily sequence, e.g. 20261122-000123.

One case at a time (next_case_number) takes one atomic upsert. A batch of messages (the intake
worker) instead defers the numbers of the cases it opens and takes them all at its write phase
with one upsert per day (assign_deferred): the counter is written, and on SQLite the single writer
held, only for the moment the batch writes, and the numbers stay gapless and in opening order.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tickets.models import Counter

_DEFERRED = "gridline.deferred_case_numbers"


def _take(session, day: date, count: int) -> int:
    """Advance the day's counter by `count`; the last number taken. One atomic upsert: concurrent
    workers on PostgreSQL never get the same number (the row stays locked until they commit)."""
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(Counter).values(name=f"case-{day:%Y%m%d}", value=count)
    stmt = stmt.on_conflict_do_update(index_elements=[Counter.name], set_={"value": Counter.value + count})
    return session.execute(stmt.returning(Counter.value)).scalar_one()


def _format(day: date, value: int) -> str:
    return f"{day:%Y%m%d}-{value:06d}"


def next_case_number(session, day: date) -> str:
    return _format(day, _take(session, day, 1))


def defer(session) -> None:
    """From now on this session's new cases get their numbers in assign_deferred (call it before
    the session flushes: the number column is required)."""
    session.info.setdefault(_DEFERRED, [])


def number_case(session, case, day: date) -> None:
    """Give `case` its number now, or (deferred session) at assign_deferred."""
    waiting = session.info.get(_DEFERRED)
    if waiting is None:
        case.number = next_case_number(session, day)
    else:
        waiting.append((case, day))


def assign_deferred(session) -> int:
    """Number the cases waiting for one, in the order they were opened; how many were numbered."""
    waiting = session.info.get(_DEFERRED)
    if not waiting:
        return 0
    by_day: dict[date, list] = {}
    for case, day in waiting:
        by_day.setdefault(day, []).append(case)
    for day, cases in by_day.items():
        last = _take(session, day, len(cases))
        for value, case in enumerate(cases, start=last - len(cases) + 1):
            case.number = _format(day, value)
    waiting.clear()
    return sum(len(c) for c in by_day.values())
