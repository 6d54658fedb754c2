"""Inbound messages, stored before anything else happens to them."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.db import Base, utcnow


class InboundMessage(Base):
    __tablename__ = "inbound_messages"
    # A provider's retry of the same message id is the same message.
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_inbound_channel_external"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(100))
    sender: Mapped[str] = mapped_column(String(64), index=True)
    text: Mapped[str] = mapped_column(Text)
    meta: Mapped[dict] = mapped_column(default=dict)
    # received → done (case opened) | triage (a person must look) | failed (kept, retried by the sweeper)
    status: Mapped[str] = mapped_column(String(20), default="received", index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    attempts: Mapped[int] = mapped_column(default=0)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column()
