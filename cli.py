"""The `gridline` command line: migrate, load the demo city, run, classify, train, evaluate."""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys

import click

from config import ROOT, Config


@click.group()
def cli() -> None:
    """Gridline (网格通): citizen-intake gateway for grid-based city management."""


@cli.command()
def migrate() -> None:
    """Create or upgrade the database schema (Alembic)."""
    from store.migrate import upgrade
    cfg = Config()
    upgrade(cfg.database_url)
    click.echo(f"database ready: {_safe_url(cfg.database_url)}")


def load_demo_city(ctx) -> tuple[int, int]:
    """Departments from routing_rules.yaml and grid cells from the demo grid file, upserted."""
    from sqlalchemy import select
    from tickets.models import Department, GridCell
    with ctx.db.session() as s:
        have = {d.name: d for d in s.scalars(select(Department))}
        from routing.router import street_offices  # 属地街道办事处 → one office per street of the grid
        offices = street_offices(ctx.rules, ctx.grids.streets().values())
        for dep in {d.name: d for d in [*ctx.rules.departments.values(), *offices]}.values():
            row = have.get(dep.name) or Department(name=dep.name)
            row.short, row.phone = dep.short, dep.phone
            s.add(row)
        cells = {c.code: c for c in s.scalars(select(GridCell))}
        from shapely.geometry import mapping
        for cell in ctx.grids.cells:
            row = cells.get(cell.code) or GridCell(code=cell.code)
            row.name, row.street_code, row.street = cell.name, cell.street_code, cell.street
            row.community_code, row.community, row.worker = cell.community_code, cell.community, cell.worker
            row.district = cell.district
            row.geometry = mapping(cell.geometry)
            s.add(row)
        s.commit()
    from web.users import load_demo_users
    load_demo_users(ctx)  # one account per role and department (see `gridline demo-users`)
    return len(ctx.rules.departments), len(ctx.grids.cells)


@cli.command("load-demo")
def load_demo() -> None:
    """Load the demo city (北京市东城区): departments and grid cells."""
    from intake.context import get
    deps, cells = load_demo_city(get())
    click.echo(f"demo city loaded: {deps} departments, {cells} grid cells")


@cli.command()
@click.option("--host", default=lambda: os.environ.get("HOST", "127.0.0.1"))
@click.option("--port", default=lambda: int(os.environ.get("PORT", "5000")), type=int)
@click.option("--web-workers", default=1, show_default=True, help="gunicorn worker processes")
@click.option("--threads", default=8, show_default=True, help="threads per web worker")
def run(host: str, port: int, web_workers: int, threads: int) -> None:
    """Start everything on the embedded defaults: Redis, a worker and the web app (gunicorn)."""
    from store.migrate import upgrade
    from store.redis_server import EmbeddedRedis
    cfg = Config()
    embedded = None
    if not cfg.redis_url:
        embedded = EmbeddedRedis(cfg.var_dir / "redis")
        os.environ["REDIS_URL"] = cfg.redis_url = embedded.start()
    os.environ["GRIDLINE_API_TOKEN"] = token = cfg.ensure_api_token()
    if not cfg.link_url:    # the demo's result SMS links to this server (the simulated phone opens it)
        os.environ["GRIDLINE_LINK_URL"] = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    upgrade(cfg.database_url)
    from intake.context import Context, set_current
    ctx = Context(cfg)
    set_current(ctx)
    deps, cells = load_demo_city(ctx)
    from web.users import demo_password_in_use
    password = demo_password_in_use(ctx)
    password = f"password {password}" if password else "the demo password was changed: gridline create-user resets one"
    ctx.db.dispose()
    worker = subprocess.Popen([sys.executable, str(ROOT / "worker.py")], env=os.environ.copy())
    # gunicorn, threaded: Flask's own server took about twice the CPU a request and half the rate
    # (bench/intake.py --server flask); one process leaves the second core to the worker.
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", str(web_workers), "--worker-class",
                            "gthread", "--threads", str(threads), "--bind", f"{host}:{port}", "--chdir", str(ROOT),
                            "app:create_app()"], env=os.environ.copy())
    click.echo(f"\n  Gridline is running: http://{host}:{port}/healthz  ({deps} departments, {cells} cells)"
               f"\n  API token: {token}\n  Redis: {cfg.redis_url}  database: {_safe_url(cfg.database_url)}"
               f"\n  Consoles: http://{host}:{port}/login  (users op, dispatch, verify, chief, admin, dept01…;"
               f" {password}; list: gridline demo-users)\n")
    # SIGTERM (a service manager, kill) must stop the worker and Redis too, as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        code = web.wait()
    finally:
        for proc in (web, worker):
            proc.terminate()
        for proc in (web, worker):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if embedded:
            embedded.stop()
    if code:
        raise click.ClickException(f"the web server stopped with status {code}")


@cli.command()
@click.option("--burst", is_flag=True, help="Work until the queues are empty, then exit.")
def worker(burst: bool) -> None:
    """Run a worker (preloads jieba, rules and grids once)."""
    import worker as worker_module
    worker_module.main(burst=burst)


@cli.command()
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def classify(text: str, as_json: bool) -> None:
    """Classify a message: category, department, confidence, deciding words, place, grid cell."""
    from intake.context import get
    from intake.processing import analyse
    a = analyse(get(), text)
    cls, place, cell, r = a["classification"], a["place"], a["cell"], a["route"]
    out = {
        "category": {"code": cls.code, "name": cls.name} if cls.code else None,
        "department": r.department if r else None, "time_limit": str(r.time_limit) if r else None,
        "urgent": bool(r and r.urgent), "confidence": round(cls.confidence, 3), "words": cls.words,
        "urgency_words": cls.urgency_words, "alternatives": cls.alternatives, "place": place.as_dict() if place else None,
        "grid_cell": cell.as_dict() if cell else None, "dispatch": not a["reason"], "reason": a["reason"],
        "route_reason": r.reason if r else None,
    }
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False))
        return
    click.echo(f"类别    {cls.code or '-'} {cls.name or '（未识别）'}")
    click.echo(f"部门    {out['department'] or '-'}   时限 {out['time_limit'] or '-'}{'（紧急）' if out['urgent'] else ''}")
    click.echo(f"置信度  {out['confidence']:.2f}   依据词 {'、'.join(cls.words) or '-'}"
               + (f"   紧急词 {'、'.join(cls.urgency_words)}" if cls.urgency_words else ""))
    click.echo("候选    " + ("；".join(f"{x['code']} {x['name']} {x['score']}" for x in cls.alternatives) or "-"))
    click.echo(f"地点    {place.matched + '（' + place.kind + '）' if place else '-'}")
    click.echo(f"网格    {cell.code + ' ' + cell.name if cell else '-'}")
    click.echo(f"处理    {'自动派遣' if out['dispatch'] else '转人工分拣：' + a['reason']}")


@cli.command()
def sweep() -> None:
    """Enqueue whatever is pending (messages, outbox)."""
    from intake.processing import sweep as do_sweep
    click.echo(json.dumps(do_sweep(min_age_seconds=0)))


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)


from gateway.hotline_import import import_calls  # noqa: E402  (commands registered after cli exists)
cli.add_command(import_calls)
from web.users import create_user_command, demo_users_command  # noqa: E402
cli.add_command(create_user_command)
cli.add_command(demo_users_command)
from commands.places import import_gazetteer_command, import_grids_command  # noqa: E402
cli.add_command(import_grids_command)
cli.add_command(import_gazetteer_command)

from commands.cases import cases as cases_command  # noqa: E402
cli.add_command(cases_command)
from commands.media import fetch_media_command  # noqa: E402
cli.add_command(fetch_media_command)
from commands.privacy import anonymise_command  # noqa: E402
cli.add_command(anonymise_command)
from commands.classifier import evaluate_command, train_command  # noqa: E402
cli.add_command(train_command)
cli.add_command(evaluate_command)


def main() -> None:
    """The `gridline` console script."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    cli()


if __name__ == "__main__":
    main()
