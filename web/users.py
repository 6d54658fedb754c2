"""Staff accounts from the command line, and the demo city's staff (one per role and department)."""
from __future__ import annotations

import os
import secrets

import click
from sqlalchemy import select

from routing.rules import LOCAL_OFFICE
from web import account_log
from web.models import ROLES, User

DEMO_STAFF = [("op", "operator", "话务员小王"), ("dispatch", "dispatcher", "派遣员老李"),
              ("verify", "verifier", "核查员小赵"), ("chief", "supervisor", "值班长陈"), ("admin", "admin", "管理员")]


def demo_password(config) -> str:
    """GRIDLINE_DEMO_PASSWORD, else one made once and kept in var/demo_password (never a fixed default)."""
    given = os.environ.get("GRIDLINE_DEMO_PASSWORD")
    if given:
        return given
    path = config.var_dir / "demo_password"
    if not path.exists():
        path.write_text("demo-" + secrets.token_urlsafe(9))
        path.chmod(0o600)
    return path.read_text().strip()


def demo_password_in_use(ctx) -> str | None:
    """The demo staff's password, or None when their accounts were made earlier with another one
    (another GRIDLINE_DEMO_PASSWORD) or it was changed since: then printing it would mislead."""
    from werkzeug.security import check_password_hash
    password = demo_password(ctx.config)
    with ctx.db.session() as s:
        first = s.scalar(select(User.password_hash).where(User.username == DEMO_STAFF[0][0]))
    return password if first is None or check_password_hash(first, password) else None


def demo_users(ctx) -> list[tuple[str, str, str, str | None]]:
    """(username, role, name, department) of the demo staff: dept01… follow routing_rules.yaml, then
    one per street office. The 属地街道办事处 entry is only the street offices' template: cases go to
    the office of their street (routing.router), so a user bound to the template would see none."""
    from routing.router import street_offices
    offices = street_offices(ctx.rules, {cell.street for cell in ctx.grids.cells})
    deps = [d for d in ctx.rules.departments.values() if d.name != LOCAL_OFFICE] + offices
    out = [(u, r, n, None) for u, r, n in DEMO_STAFF]
    for i, dep in enumerate(deps, start=1):
        out.append((f"dept{i:02d}", "department", f"{dep.short or dep.name}处置员", dep.name))
    return out


def load_demo_users(ctx) -> int:
    """Create the demo staff that do not exist yet (an admin's later changes are kept)."""
    from web.auth import create_user, hash_password
    password = demo_password(ctx.config)
    made, shared_hash = 0, None
    with ctx.db.session() as s:
        have = set(s.scalars(select(User.username)))
        for username, role, name, department in demo_users(ctx):
            if username not in have:
                shared_hash = shared_hash or hash_password(password)
                create_user(s, username, password, role, name, department, password_hash=shared_hash)
                made += 1
        s.commit()
    return made


@click.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice(list(ROLES)), required=True)
@click.option("--department", help="部门全称（处置部门用户必填）")
@click.option("--name", default="", help="姓名")
@click.password_option(help="至少 8 位；不给出则提示输入")
def create_user_command(username: str, role: str, department: str | None, name: str, password: str) -> None:
    """Create a staff account, or reset an existing one's password, role and department (its owner
    then chooses a new password at the next sign-in)."""
    from intake.context import get
    from web.auth import create_user, note_password_change
    ctx = get()
    with ctx.db.session() as s:
        try:
            existed = s.scalar(select(User.id).where(User.username == username)) is not None
            user = create_user(s, username, password, role, name, department, must_change=True)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        account_log.record(s, username, "updated" if existed else "created",
                           f"命令行{'重设' if existed else '创建'}：角色 {ROLES[role]}{'，' + department if department else ''}，"
                           "本人登录后须修改密码", actor="cli")
        s.commit()
        note_password_change(ctx, user)
    click.echo(f"用户 {username}（{ROLES[role]}）已保存；首次登录须修改密码")


@click.command("demo-users")
def demo_users_command() -> None:
    """List the demo staff accounts and their password."""
    from intake.context import get
    ctx = get()
    load_demo_users(ctx)
    password = demo_password_in_use(ctx)
    click.echo(f"密码（全部演示账户）：{password}" if password else
               f"演示账户 {DEMO_STAFF[0][0]} 的密码已不是 {demo_password(ctx.config)}（已修改，或由另一个 "
               "GRIDLINE_DEMO_PASSWORD 创建）；可用 gridline create-user 重设")
    for username, role, _name, department in demo_users(ctx):
        click.echo(f"  {username:10s} {ROLES[role]}{'  ' + department if department else ''}")
