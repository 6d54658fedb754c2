"""`gridline import-grids FILE.geojson` and `gridline import-gazetteer FILE.csv`.

A rejected file prints every mistake, one a line, with the feature index or the CSV line, and
exits 1; nothing of it is imported (routing.importers).
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from routing.importers import ImportRejected


def _fail(exc: ImportRejected) -> None:
    click.echo(exc.report.text(), err=True)
    click.echo(f"{exc}", err=True)
    sys.exit(1)


@click.command("import-grids")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--divisions", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Divisions table (level,code,name,parent_code) to check street/community codes against; "
                   "default: divisions.csv beside the grid file, if there is one.")
@click.option("--tolerance-m2", default=1.0, show_default=True, help="Overlaps and gaps smaller than this (m²) are rounding, not errors.")
@click.option("--dry-run", is_flag=True, help="Check only; write nothing.")
def import_grids_command(path: Path, divisions: Path | None, tolerance_m2: float, dry_run: bool) -> None:
    """Load a city's unit grid (GeoJSON, crs_name WGS84 or GCJ02): all checks first, then one transaction."""
    from intake.context import get
    from routing.grid_file import import_grids
    ctx = get()
    if divisions is None and (path.parent / "divisions.csv").exists():
        divisions = path.parent / "divisions.csv"
    try:
        summary, report = import_grids(ctx.db, path, rules=ctx.rules, divisions=divisions,
                                       tolerance_m2=tolerance_m2, dry_run=dry_run)
    except ImportRejected as exc:
        _fail(exc)
    if report.warnings:
        click.echo(report.text(), err=True)
    click.echo(_summary("网格", summary, dry_run))


@click.command("import-gazetteer")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--crs", default="WGS84", show_default=True, help="The file's coordinate system: WGS84 or GCJ02.")
@click.option("--dry-run", is_flag=True, help="Check only; write nothing.")
def import_gazetteer_command(path: Path, crs: str, dry_run: bool) -> None:
    """Load the gazetteer (CSV: kind,name,aliases,street,community,lon,lat,lon2,lat2,num_from,num_to)."""
    from classifiers.gazetteer_file import import_gazetteer
    from intake.context import get
    ctx = get()
    try:
        summary, report = import_gazetteer(ctx.db, path, grids=ctx.grids, crs=crs, dry_run=dry_run)
    except ImportRejected as exc:
        _fail(exc)
    if report.warnings:
        click.echo(report.text(), err=True)
    click.echo(_summary("地名", summary, dry_run))


LABELS = {"cells": "网格", "added": "新增", "updated": "更新", "retired": "停用", "unchanged": "未变",
          "departments_added": "新增街道办事处", "crs": "坐标系", "entries": "地名", "street": "街道",
          "community": "社区", "road": "道路", "xiaoqu": "小区", "landmark": "地标", "building": "楼宇"}


def _summary(what: str, summary: dict, dry_run: bool) -> str:
    if summary.get("unchanged") is True:
        return f"{what}与上次导入相同，未改动（导入编号 {summary.get('import_id')}）"
    counts = "，".join(f"{LABELS.get(k, k)} {v}" for k, v in summary.items() if k != "import_id")
    head = "检查通过（--dry-run，未写入）" if dry_run else f"{what}已导入（导入编号 {summary.get('import_id')}）"
    return f"{head}：{counts}"
