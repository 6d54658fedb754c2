"""The outbox: every message we send to a citizen or a department, sent by a job, never twice."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, orm_insert_sentinel

from store.db import Base, utcnow


class OutboundMessage(Base):
    __tablename__ = "outbound_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), default="sms")
    to: Mapped[str] = mapped_column(String(255), index=True)  # a number, a chat id, or a webhook's URL
    text: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))            # ack, result, received, ...
    case_id: Mapped[int | None] = mapped_column(index=True)
    # One notification per purpose: re-running a job finds the row instead of sending again.
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    backend: Mapped[str] = mapped_column(String(20), default="")
    provider_id: Mapped[str | None] = mapped_column(String(64), index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    error_code: Mapped[str] = mapped_column(String(16), default="")   # provider's code: 21211, 30003 ...
    # The number (or Messaging Service) it goes out from: replies leave from the number the citizen wrote to.
    sender: Mapped[str] = mapped_column(String(64), default="")
    # A transient failure or the per-number rate puts the row back as pending until this time.
    next_attempt_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
    status_at: Mapped[datetime | None] = mapped_column()   # last status change (callbacks included)
    # Filled by SQLAlchemy while inserting (read by nothing): a batch's new rows then go in one INSERT on
    # SQLite as well, not one statement each (migration 0010).
    _sentinel: Mapped[int | None] = orm_insert_sentinel()


class DeliveryReceipt(Base):
    """Every provider status callback as it came, kept even when it races ahead of our own commit."""
    __tablename__ = "delivery_receipts"
    __table_args__ = (UniqueConstraint("backend", "provider_id", "status", name="uq_receipt_status"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    backend: Mapped[str] = mapped_column(String(20))
    provider_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20))
    error_code: Mapped[str] = mapped_column(String(16), default="")
    fields: Mapped[dict] = mapped_column(default=dict)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class OptOut(Base):
    """A citizen who sent STOP/退订/TD on a channel gets nothing more there until START."""
    __tablename__ = "opt_outs"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_opt_out_address"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(64))
    opted_out: Mapped[bool] = mapped_column(default=True)
    keyword: Mapped[str] = mapped_column(String(20), default="")
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
