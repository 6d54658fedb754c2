"""Inbound messages, stored before anything else happens to them, and the conversation state
we keep with each citizen on each channel."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.db import Base, utcnow


class InboundMessage(Base):
    __tablename__ = "inbound_messages"
    # A provider's retry of the same message id is the same message. A channel's messages in a time
    # window are counted for the workload statistics (web/workload.py).
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_inbound_channel_external"),
                      Index("ix_inbound_channel_received", "channel", "received_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(100))
    sender: Mapped[str] = mapped_column(String(64), index=True)
    text: Mapped[str] = mapped_column(Text)
    # Channel details as they came (Twilio's fields, ...) plus what the pipeline reads:
    # "media": [{"url", "content_type"}], "location": {"lon", "lat"}, "to": the number written to.
    meta: Mapped[dict] = mapped_column(default=dict)
    # received → done (case opened or answered) | held (we asked where; waiting) | triage (a person
    # must look) | flooded (too many a minute; kept, not processed) | failed (kept, for a person)
    status: Mapped[str] = mapped_column(String(20), default="received", index=True)
    # What the conversation decided it was: report, answer, survey, query, optout, optin, help, flood.
    kind: Mapped[str] = mapped_column(String(20), default="", server_default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    attempts: Mapped[int] = mapped_column(default=0)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column()


class Conversation(Base):
    """What we are waiting for from one citizen on one channel, each wait with its own expiry.

    Two waits can be open at once (a report held for its place, and a survey of another case);
    their answers look different (an address vs 1/2/3), so each is decided explicitly.
    No foreign keys: the state outlives nothing it points to, and the ids are only looked up.
    """
    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "sender", name="uq_conversation_sender"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    sender: Mapped[str] = mapped_column(String(64))
    held_message_id: Mapped[int | None] = mapped_column()      # the report waiting for its place
    ask_until: Mapped[datetime | None] = mapped_column(index=True)
    survey_case_id: Mapped[int | None] = mapped_column()       # the case whose result we asked to rate
    survey_until: Mapped[datetime | None] = mapped_column()
    flood_notice_at: Mapped[datetime | None] = mapped_column()  # the one polite reply per flood
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
