"""Local time for people (Asia/Shanghai by default), naive UTC for the database."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo


def to_local(utc_naive: datetime, tz: str) -> datetime:
    return utc_naive.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(tz))


def local_naive(utc_naive: datetime, tz: str) -> datetime:
    return to_local(utc_naive, tz).replace(tzinfo=None)


def to_utc_naive(local_naive_dt: datetime, tz: str) -> datetime:
    return local_naive_dt.replace(tzinfo=ZoneInfo(tz)).astimezone(timezone.utc).replace(tzinfo=None)


def iso_local(utc_naive: datetime | None, tz: str) -> str | None:
    return None if utc_naive is None else to_local(utc_naive, tz).isoformat(timespec="seconds")
