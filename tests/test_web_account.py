"""A staff member changes their own password; one an admin or the CLI gave must be changed first,
and a change ends the account's other sessions."""
from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from web.models import AccountEvent, User
from web_support import csrf, login, post_form, signed_in, staff, staff_accounts  # noqa: F401 (fixtures)

FIRST, SECOND = "first-pass-2026", "second-pass-2026"


@pytest.fixture
def own_account(ctx):
    """An operator account of this test's own (the shared test accounts keep their password, and
    its account log starts empty)."""
    from web.auth import create_user
    username = f"t_pw_{uuid.uuid4().hex[:8]}"
    with ctx.db.session() as s:
        create_user(s, username, FIRST, "operator", "改密测试")
        s.commit()
    return username


def change(client, current, new, again=None):
    return post_form(client, "/account/password", {"current": current, "new": new, "again": again or new})


def signed_in_as(app, username, password):
    client = app.test_client()
    assert login(client, username, password).status_code == 302
    return client


def test_a_user_changes_their_password_and_only_the_new_one_signs_in(app, own_account):
    client = signed_in_as(app, own_account, FIRST)
    assert "修改密码" in client.get("/operator").get_data(as_text=True)     # the link in the header
    for current, new, again, why in [("wrong-pass-2026", SECOND, SECOND, "当前密码不正确"),
                                     (FIRST, "short", "short", "至少 8 位"),
                                     (FIRST, SECOND, SECOND + "x", "不一致"),
                                     (FIRST, FIRST, FIRST, "不能与当前密码相同")]:
        r = change(client, current, new, again)
        assert r.status_code == 422 and why in r.get_data(as_text=True)
    r = change(client, FIRST, SECOND)
    assert r.status_code == 302 and client.get("/operator").status_code == 200   # this session goes on
    assert login(app.test_client(), own_account, FIRST).status_code == 401
    assert login(app.test_client(), own_account, SECOND).status_code == 302


def test_a_password_change_ends_the_other_sessions_of_the_account(app, own_account):
    laptop, phone = signed_in_as(app, own_account, FIRST), signed_in_as(app, own_account, FIRST)
    assert phone.get("/operator").status_code == 200
    assert change(laptop, FIRST, SECOND).status_code == 302
    r = phone.get("/operator")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert laptop.get("/operator").status_code == 200


def test_a_password_the_admin_set_must_be_replaced_before_anything_else(app, ctx, staff, own_account):
    admin = signed_in(app, "t_admin")
    with ctx.db.session() as s:
        user_id = s.scalar(select(User.id).where(User.username == own_account))
    r = post_form(admin, f"/admin/users/{user_id}", {"name": "改密测试", "role": "operator", "active": "on",
                                                      "password": SECOND, "grids": ""})
    assert r.status_code == 302
    client = signed_in_as(app, own_account, SECOND)
    r = client.get("/operator")
    assert r.status_code == 302 and r.headers["Location"].endswith("/account/password")
    page = client.get("/account/password").get_data(as_text=True)
    assert "由管理员设置" in page
    api = client.get("/api/stats", headers={"X-CSRFToken": csrf(client, "/account/password")})
    assert api.status_code == 403 and api.get_json()["error"] == "password_change_required"
    assert change(client, SECOND, "my-own-pass-2026").status_code == 302
    assert client.get("/operator").status_code == 200
    assert admin.get("/admin/users").status_code == 200   # the admin's own session is untouched


def test_an_account_the_cli_resets_asks_its_owner_for_a_new_password(app, own_account):
    from cli import cli
    result = CliRunner().invoke(cli, ["create-user", own_account, "--role", "operator", "--password", SECOND])
    assert result.exit_code == 0, result.output
    assert "首次登录须修改密码" in result.output
    client = signed_in_as(app, own_account, SECOND)
    assert client.get("/operator").headers["Location"].endswith("/account/password")


def test_an_admin_setting_their_own_password_stays_signed_in_and_is_not_asked_again(app, ctx):
    from web.auth import create_user
    with ctx.db.session() as s:
        user = create_user(s, "t_pw_admin", FIRST, "admin", "管理员改密")
        s.commit()
        user_id = user.id
    admin = signed_in_as(app, "t_pw_admin", FIRST)
    r = post_form(admin, f"/admin/users/{user_id}", {"name": "管理员改密", "role": "admin", "active": "on",
                                                      "password": SECOND, "grids": ""})
    assert r.status_code == 302
    assert admin.get("/admin/users").status_code == 200
    assert login(app.test_client(), "t_pw_admin", SECOND).status_code == 302


def log_of(ctx, username) -> list[tuple[str, str, str]]:
    with ctx.db.session() as s:
        return [(e.action, e.actor, e.detail) for e in s.scalars(
            select(AccountEvent).where(AccountEvent.username == username).order_by(AccountEvent.id))]


def test_the_account_log_keeps_sign_ins_failures_lock_outs_and_every_change(app, ctx, staff, own_account):
    assert login(app.test_client(), own_account, "wrong-pass-2026").status_code == 401
    client = signed_in_as(app, own_account, FIRST)
    assert change(client, FIRST, SECOND).status_code == 302
    for _ in range(5):
        login(app.test_client(), own_account, "wrong-pass-2026")
    admin = signed_in(app, "t_admin")
    with ctx.db.session() as s:
        user_id = s.scalar(select(User.id).where(User.username == own_account))
    post_form(admin, f"/admin/users/{user_id}", {"name": "改密测试", "role": "dispatcher", "password": "admin-set-2026",
                                                  "unlock": "on", "grids": ""})      # no "active": deactivated
    log = log_of(ctx, own_account)
    assert [a for a, _actor, _detail in log] == ["login_failed", "login", "password_changed", "login_failed",
                                                 "login_failed", "login_failed", "login_failed", "locked", "updated"]
    assert log[0][2] == "第 1 次" and "锁定 15 分钟" in log[7][2]
    action, actor, detail = log[-1]
    assert actor == "t_admin"
    for said in ("角色 话务员 → 派遣员", "状态 启用 → 停用", "重设密码（本人登录后须修改）", "解锁"):
        assert said in detail
    page = admin.get(f"/admin/accounts?user={own_account}").get_data(as_text=True)
    assert "账户锁定" in page and "角色 话务员 → 派遣员" in page and "127.0.0.1" in page
    assert signed_in(app, "t_op").get("/admin/accounts").status_code == 403
    login(app.test_client(), own_account + "x", "whatever-2026")       # a name that does not exist
    assert log_of(ctx, own_account + "x") == [("login_failed", own_account + "x", "没有此用户")]


def test_the_cli_is_named_in_the_account_log(ctx, own_account):
    from cli import cli
    assert CliRunner().invoke(cli, ["create-user", own_account, "--role", "verifier", "--password", SECOND]).exit_code == 0
    action, actor, detail = log_of(ctx, own_account)[-1]
    assert (action, actor) == ("updated", "cli") and "命令行重设" in detail and "核查员" in detail


def test_the_demo_password_is_printed_only_while_the_demo_accounts_have_it(ctx):
    from cli import cli
    from web.auth import create_user, hash_password
    from web.users import DEMO_STAFF, demo_password
    out = CliRunner().invoke(cli, ["demo-users"])
    assert out.exit_code == 0 and f"密码（全部演示账户）：{demo_password(ctx.config)}" in out.output
    username, role, name = DEMO_STAFF[0]
    with ctx.db.session() as s:
        create_user(s, username, "someone-elses-2026", role, name)
        s.commit()
    out = CliRunner().invoke(cli, ["demo-users"])
    assert "已不是" in out.output and "gridline create-user" in out.output
    with ctx.db.session() as s:   # back as the demo loader made it, for whoever runs next
        create_user(s, username, demo_password(ctx.config), role, name,
                    password_hash=hash_password(demo_password(ctx.config)))
        s.commit()
