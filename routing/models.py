"""The city's places as the running app reads them: the gazetteer, and a log of grid/gazetteer imports.

The grid cells themselves live in tickets.models.GridCell (cases point at them). Each import
writes one GeoImport row in the same transaction as its data; the newest id per kind is the
version every process compares to decide whether to reload (routing.grids.GridSource).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from store.db import Base, utcnow


class GeoImport(Base):
    __tablename__ = "geo_imports"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)     # grids | gazetteer
    source: Mapped[str] = mapped_column(String(255), default="")  # the file name as given
    sha256: Mapped[str] = mapped_column(String(64), default="")
    crs: Mapped[str] = mapped_column(String(10), default="")      # the file's CRS (stored data is WGS-84)
    rows: Mapped[int] = mapped_column(default=0)
    summary: Mapped[dict] = mapped_column(default=dict)           # added / updated / retired counts
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)


class GazetteerEntry(Base):
    """One named place: a street office area, community, road, 小区, landmark or building (WGS-84)."""
    __tablename__ = "gazetteer_entries"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    aliases: Mapped[list] = mapped_column(default=list)
    street: Mapped[str] = mapped_column(String(50), default="")
    community: Mapped[str] = mapped_column(String(50), default="")
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    lon2: Mapped[float | None] = mapped_column(Float)
    lat2: Mapped[float | None] = mapped_column(Float)
    num_from: Mapped[int | None] = mapped_column()
    num_to: Mapped[int | None] = mapped_column()
    line: Mapped[int] = mapped_column(default=0)                  # line in the imported file

    __table_args__ = (Index("ix_gazetteer_entries_name", "name"),)
