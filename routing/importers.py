"""What the grid and gazetteer imports share: the report of mistakes, the refusal, the file's hash.

Both imports (routing.grid_file, classifiers.gazetteer_file) read and check the whole file first and
write nothing unless it is clean; then they write everything in one transaction with a geo_imports
row, whose id is the version the running web app and workers compare to pick the new data up
(routing.grids.GridSource). Importing the same file again changes nothing. The commands that run
them are in commands.places.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

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
