"""`gridline cases …`: run the SLA scan once, print the statistics and the evaluation."""
from __future__ import annotations

import json

import click

from tickets import stats


def _context():
    from intake.context import get  # the command line is an entry point: it builds the whole context
    return get()


@click.group("cases")
def cases() -> None:
    """Case lifecycle: SLA scan, statistics and the monthly evaluation."""


@cases.command("scan")
def scan_command() -> None:
    """Run the SLA scan once (lights, 催办, escalation, survey no-answer); the worker does it every few seconds."""
    from tickets import sla_scan
    click.echo(json.dumps(dict(sla_scan.run(_context())), ensure_ascii=False))


@cases.command("stats")
@click.option("--group-by", type=click.Choice(stats.GROUPS), default="department", show_default=True)
@click.option("--from", "start", help="2026-11-01 or 2026-11 (default: this month)")
@click.option("--to", "end", help="2026-11-30 (inclusive)")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with Chinese headers (for Excel)")
def stats_command(group_by: str, start: str | None, end: str | None, as_csv: bool) -> None:
    """Indicators and grades from the event log, by department, cell, community or street."""
    from store.db import utcnow
    ctx = _context()
    now = utcnow()
    try:
        first, last, label_from, label_to = stats.parse_period(start, end, ctx.config.timezone, now)
    except stats.PeriodError as exc:
        raise click.BadParameter(str(exc)) from None
    with ctx.db.session() as s:
        rows = stats.compute(s, group_by, first, last, now)
    if as_csv:
        click.echo(stats.to_csv(rows), nl=False)
        return
    pct = lambda r: "-" if r is None else f"{r:.1%}"  # noqa: E731
    click.echo(f"{label_from} – {label_to}，按{ {'department': '部门', 'cell': '网格', 'community': '社区', 'street': '街道'}[group_by]}")
    click.echo(f"{'名称':<16}{'立案':>6}{'结案':>6}{'结案率':>8}{'按期结案率':>10}{'超期未结':>8}{'满意率':>8}{'得分':>7} 等级")
    for r in rows:
        if not (r["filed"] or r["dispatched"] or r["closed"] or r["overdue_open"]):
            continue
        click.echo(f"{r['name'][:16]:<16}{r['filed']:>6}{r['closed']:>6}{pct(r['close_rate']):>8}"
                   f"{pct(r['on_time_close_rate']):>10}{r['overdue_open']:>8}{pct(r['satisfaction_rate']):>8}"
                   f"{r['score']:>7.1f} {r['grade']}")
