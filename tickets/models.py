"""Cases (案卷), their append-only events, and the departments and grid cells they belong to."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, orm_insert_sentinel, relationship

from store.db import Base, utcnow


class Department(Base):
    __tablename__ = "departments"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    short: Mapped[str] = mapped_column(String(40), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")


class GridCell(Base):
    __tablename__ = "grid_cells"
    code: Mapped[str] = mapped_column(String(15), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    street_code: Mapped[str] = mapped_column(String(9), index=True)
    street: Mapped[str] = mapped_column(String(50))
    community_code: Mapped[str] = mapped_column(String(12), index=True)
    community: Mapped[str] = mapped_column(String(50))
    worker: Mapped[str] = mapped_column(String(50), default="")
    geometry: Mapped[dict] = mapped_column()  # GeoJSON geometry, for maps in the consoles
    # Added by the grid registry (routing/importers.py, migration grid_registry_4): the district's
    # name, and when a re-import dropped the cell (kept, not deleted: old cases still point at it).
    district: Mapped[str] = mapped_column(String(50), default="")
    retired_at: Mapped[datetime | None] = mapped_column(default=None)


class Counter(Base):
    """Daily sequences for readable case numbers (20261122-000123)."""
    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(default=0)


class Case(Base):
    __tablename__ = "cases"
    # The SLA scan's only question: which cases need a look now? Closed cases drop out of the index.
    __table_args__ = (Index("ix_cases_next_check_at", "next_check_at",
                            postgresql_where=text("next_check_at IS NOT NULL"),
                            sqlite_where=text("next_check_at IS NOT NULL")),)
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    category_code: Mapped[str] = mapped_column(String(5), index=True)
    category_name: Mapped[str] = mapped_column(String(60))
    confidence: Mapped[float] = mapped_column(default=0.0)
    decided_by: Mapped[list] = mapped_column(default=list)  # the words that decided the category
    urgent: Mapped[bool] = mapped_column(default=False)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    grid_code: Mapped[str | None] = mapped_column(ForeignKey("grid_cells.code"), index=True)
    place: Mapped[str] = mapped_column(String(200), default="")
    lon: Mapped[float | None] = mapped_column()
    lat: Mapped[float | None] = mapped_column()
    description: Mapped[str] = mapped_column(Text)
    reporter_phone: Mapped[str] = mapped_column(String(32), default="")
    channel: Mapped[str] = mapped_column(String(20))
    time_limit: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    due_at: Mapped[datetime | None] = mapped_column(index=True)  # none until dispatched
    closed_at: Mapped[datetime | None] = mapped_column()

    # The handling clock (处置时限), restarted on every dispatch and rework. Times are naive UTC;
    # hours count in working time unless the limit is on the wall clock (urgent categories).
    # These columns drive the scheduler; statistics never read them, only the event log.
    working_clock: Mapped[bool] = mapped_column(default=True)
    limit_hours: Mapped[float] = mapped_column(default=0.0)      # the limit plus approved extensions
    clock_start: Mapped[datetime | None] = mapped_column()
    clock_round: Mapped[int] = mapped_column(default=0)          # one per restart: notices are once per round
    paused_hours: Mapped[float] = mapped_column(default=0.0)     # suspended (挂账) time, not counted
    suspended_at: Mapped[datetime | None] = mapped_column()
    resume_status: Mapped[str | None] = mapped_column(String(20))
    warn_at: Mapped[datetime | None] = mapped_column()            # yellow light
    sla_level: Mapped[str] = mapped_column(String(10), default="green")  # green | yellow | red
    escalation_step: Mapped[int] = mapped_column(default=0)
    reminders: Mapped[int] = mapped_column(default=0)
    last_reminder_at: Mapped[datetime | None] = mapped_column()
    # pending 延期 request; none is SQL NULL (not JSON null), so IS NOT NULL finds the pending ones
    extension_request: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    next_check_at: Mapped[datetime | None] = mapped_column()  # when the SLA scan looks next (indexed)

    department: Mapped[Department] = relationship()
    grid: Mapped[GridCell | None] = relationship()
    events: Mapped[list["CaseEvent"]] = relationship(order_by="CaseEvent.id", back_populates="case")
    reporters: Mapped[list["CaseReporter"]] = relationship(order_by="CaseReporter.id", back_populates="case")


class CaseReporter(Base):
    """Every citizen who reported this case gets its result (duplicates join as more reporters)."""
    __tablename__ = "case_reporters"
    __table_args__ = (UniqueConstraint("case_id", "phone", "channel"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    phone: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[int | None] = mapped_column()
    # Filled by SQLAlchemy while inserting (read by nothing): a batch's new rows then go in one INSERT on
    # SQLite as well, not one statement each (migration 0010).
    _sentinel: Mapped[int | None] = orm_insert_sentinel()
    case: Mapped[Case] = relationship(back_populates="reporters")


class CaseEvent(Base):
    """Append-only: every change of a case, who made it, when, from which state to which.

    Each event also records the department responsible, the grid cell and the due time in force
    at that moment, so statistics are computed from events alone (a returned case counts against
    the department that had it then, not the one that has it now).
    """
    __tablename__ = "case_events"
    # Statistics read events by action and time (a month of closings, all red lights so far) and a
    # case's later events (is it still overdue?). On PostgreSQL both indexes carry what those
    # queries need, so they are answered from the index alone (bench/lifecycle.py).
    __table_args__ = (Index("ix_case_events_action_at", "action", "at",
                            postgresql_include=["case_id", "id", "department_id", "grid_code", "due_at"]),
                      Index("ix_case_events_case_id_id", "case_id", "id", postgresql_include=["at", "action"]))
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(60))
    action: Mapped[str] = mapped_column(String(20))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict] = mapped_column(default=dict)
    department_id: Mapped[int | None] = mapped_column()
    grid_code: Mapped[str | None] = mapped_column(String(15))
    due_at: Mapped[datetime | None] = mapped_column()
    # Filled by SQLAlchemy while inserting (read by nothing): a batch's new rows then go in one INSERT on
    # SQLite as well, not one statement each (migration 0010).
    _sentinel: Mapped[int | None] = orm_insert_sentinel()
    case: Mapped[Case] = relationship(back_populates="events")
