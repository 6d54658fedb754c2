"""`gridline import-grids FILE.geojson` and `gridline import-gazetteer FILE.csv`.

Both read and check the whole file first and write nothing unless it is clean; then they write
everything in one transaction with a geo_imports row, whose id is the version the running web
app and workers compare to pick the new data up (routing.grids.GridSource). A rejected file
prints every mistake, one a line, with the feature index or the CSV line, and exits 1.
Importing the same file again changes nothing.
"""
from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click

MAX_LINES = 200   # of a report printed to the terminal; the count of the rest is given


@dataclass
class ImportReport:
    source: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def error(self, where: str, message: str) -> None:
        self.errors.append(f"{self.source}{where}: {message}")

    def warn(self, where: str, message: str) -> None:
        self.warnings.append(f"{self.source}{where}: {message}")

    @property
    def ok(self) -> bool:
        return not self.errors

    def text(self, limit: int = MAX_LINES) -> str:
        lines = [f"错误 {m}" for m in self.errors] + [f"提示 {m}" for m in self.warnings]
        more = len(lines) - limit
        return "\n".join(lines[:limit] + ([f"……另有 {more} 条未列出"] if more > 0 else []))


class ImportRejected(ValueError):
    """The file has mistakes; nothing was imported. `report` lists them."""

    def __init__(self, report: ImportReport):
        super().__init__(f"{report.source}: {len(report.errors)} 处错误，未导入任何数据")
        self.report = report


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def upsert_departments(session, departments) -> int:
    """routing.rules.Department values → departments rows (name, short, phone); returns how many are new."""
    from sqlalchemy import select
    from tickets.models import Department
    have = {d.name: d for d in session.scalars(select(Department))}
    new = 0
    for dep in departments:
        row = have.get(dep.name)
        if row is None:
            row = Department(name=dep.name)
            session.add(row)
            have[dep.name] = row
            new += 1
        row.short, row.phone = dep.short, dep.phone
    return new


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
