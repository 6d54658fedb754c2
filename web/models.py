"""Staff accounts, their grid assignments, photos attached to cases, and the audit of phone-number views."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from store.db import Base, utcnow

ROLES = {
    "operator": "话务员", "dispatcher": "派遣员", "department": "处置部门", "verifier": "核查员",
    "supervisor": "值班长", "admin": "系统管理员",
}


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(60), default="")
    role: Mapped[str] = mapped_column(String(20))
    # A department user sees only this department's cases.
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column()
    last_login_at: Mapped[datetime | None] = mapped_column()
    # Every session signed in before this time ends (web/auth.py).
    password_changed_at: Mapped[datetime | None] = mapped_column()
    # Given by an admin or the CLI: someone else knows it, so its owner chooses a new one first.
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UserGrid(Base):
    """Grid cells a person is responsible for (a verifier's or grid worker's patch)."""
    __tablename__ = "user_grids"
    __table_args__ = (UniqueConstraint("user_id", "grid_code", name="uq_user_grid"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    grid_code: Mapped[str] = mapped_column(ForeignKey("grid_cells.code"), index=True)


class CasePhoto(Base):
    """A photo a department attached when reporting a case done (files live under var/uploads)."""
    __tablename__ = "case_photos"
    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign key: photos outlive nothing, and cases are never deleted in production.
    case_id: Mapped[int] = mapped_column(index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(60))
    size: Mapped[int] = mapped_column(default=0)
    action: Mapped[str] = mapped_column(String(20), default="")
    uploaded_by: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(default=utcnow)


def photo_dir(var_dir: Path, case_id: int) -> Path:
    """Where a case's CasePhoto files are kept (var/uploads/<case id>/<filename>)."""
    return var_dir / "uploads" / str(case_id)


class PhoneView(Base):
    """Append-only audit: who saw which unmasked phone number, where and when."""
    __tablename__ = "phone_views"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(index=True)
    username: Mapped[str] = mapped_column(String(40))
    phone: Mapped[str] = mapped_column(String(64), index=True)
    case_id: Mapped[int | None] = mapped_column()
    message_id: Mapped[int | None] = mapped_column()
    path: Mapped[str] = mapped_column(Text, default="")


class AccountEvent(Base):
    """Append-only: sign-ins, failed and locked-out attempts, and every change made to an account —
    whose account, who did it (a username, or "cli"), what, when and from where."""
    __tablename__ = "account_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    username: Mapped[str] = mapped_column(String(40), index=True)   # the account
    actor: Mapped[str] = mapped_column(String(40), default="")
    action: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text, default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
