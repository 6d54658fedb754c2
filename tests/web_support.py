"""Helpers for the console tests: staff accounts with a known password, sign-in, CSRF tokens."""
from __future__ import annotations

import re
import struct
import zlib

import pytest
from sqlalchemy import delete, select, update

PASSWORD = "test-pass-2026"
# username: (role, department) — two departments, so one can try to reach the other's cases.
STAFF = {
    "t_op": ("operator", None), "t_disp": ("dispatcher", None), "t_ver": ("verifier", None),
    "t_chief": ("supervisor", None), "t_admin": ("admin", None),
    "t_street": ("department", "东城区城市管理委员会"), "t_sanit": ("department", "东城区环境卫生服务中心"),
    "t_law": ("department", "东城区城管执法局"),
}
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
META_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
_HASH = None


def make_staff(ctx) -> None:
    """Every test account, reset to the known password, unlocked, with no grid assignments."""
    from web.auth import create_user, hash_password
    from web.models import PhoneView, User, UserGrid
    global _HASH
    _HASH = _HASH or hash_password(PASSWORD)  # one deliberate slow hash, not one per account per test
    with ctx.db.session() as s:
        ids = list(s.scalars(select(User.id).where(User.username.in_(list(STAFF)))))
        s.execute(delete(UserGrid).where(UserGrid.user_id.in_(ids)))
        s.execute(delete(PhoneView))
        for username, (role, dep) in STAFF.items():
            create_user(s, username, PASSWORD, role, username, dep, password_hash=_HASH)
        s.commit()


def reset_staff(ctx) -> None:
    """Before each console test: the accounts unlocked, active and in their own departments, with
    no grid assignments or audit rows left over from another test (conftest's `clean` clears photos)."""
    from tickets.models import Department
    from web.auth import PASSWORDS, REVOKED
    from web.models import PhoneView, User, UserGrid
    ctx.redis.delete(REVOKED, PASSWORDS)
    with ctx.db.session() as s:
        s.execute(update(User).where(User.username.in_(list(STAFF)))
                  .values(failed_logins=0, locked_until=None, active=True))
        for username, (_role, dep) in STAFF.items():
            if dep:  # back to the department it started with (handles() moves t_street)
                s.execute(update(User).where(User.username == username)
                          .values(department_id=select(Department.id).where(Department.name == dep).scalar_subquery()))
        s.execute(UserGrid.__table__.delete())
        s.execute(PhoneView.__table__.delete())
        s.commit()


@pytest.fixture(scope="session")
def staff_accounts(ctx):
    make_staff(ctx)


@pytest.fixture
def staff(ctx, staff_accounts):
    """The staff accounts as make_staff left them (unlocked, known password) before each test."""
    reset_staff(ctx)


def report(client, auth, run_worker, text, call_id, caller) -> str:
    """A call through the hotline API and the real worker; the case number it became."""
    r = client.post("/hotline/transcripts", json={"caller": caller, "text": text, "call_id": call_id}, headers=auth)
    run_worker()
    number = client.get(f"/api/messages/{r.get_json()['message_id']}", headers=auth).get_json()["case_number"]
    assert number, text
    return number


def csrf(client, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    m = TOKEN.search(html) or META_TOKEN.search(html)
    assert m, f"no CSRF token on {path}"
    return m.group(1)


def login(client, username: str, password: str = PASSWORD):
    token = csrf(client)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def signed_in(app, username: str):
    client = app.test_client()
    r = login(client, username)
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    return client


def post_form(client, path: str, data: dict, page: str | None = None, **kw):
    """POST a console form with the CSRF token read from the page it lives on."""
    return client.post(path, data={**data, "csrf_token": csrf(client, page or path)}, **kw)


def handles(ctx, username: str, number: str) -> str:
    """Make this department account belong to whichever department the case went to; its name."""
    from tickets.models import Case
    from web.models import User
    with ctx.db.session() as s:
        case = s.scalar(select(Case).where(Case.number == number))
        user = s.scalar(select(User).where(User.username == username))
        user.department_id = case.department_id
        name = case.department.name
        s.commit()
    return name


def png() -> bytes:
    """A real 1×1 PNG, as a phone camera would upload one (only smaller)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))
