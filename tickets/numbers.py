"""Readable case numbers: the local date and a daily sequence, e.g. 20261122-000123."""
from __future__ import annotations

from datetime import date

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tickets.models import Counter


def next_case_number(session, day: date) -> str:
    # One atomic upsert: concurrent workers on PostgreSQL never get the same number.
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    name = f"case-{day:%Y%m%d}"
    stmt = insert(Counter).values(name=name, value=1)
    stmt = stmt.on_conflict_do_update(index_elements=[Counter.name], set_={"value": Counter.value + 1})
    value = session.execute(stmt.returning(Counter.value)).scalar_one()
    return f"{day:%Y%m%d}-{value:06d}"
