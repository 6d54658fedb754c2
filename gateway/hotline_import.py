"""`gridline import-calls FILE`: a day's hotline transcripts from CSV or JSONL.

Each record goes through the same rules as POST /hotline/transcripts (gateway.hotline's
validate_transcript) and is stored by intake.service.receive, so the worker processes it like any
call. call_id makes it idempotent: running the same file again stores nothing twice. A bad record
never stops the import; it is reported with its line number and reason, and the rest go in.

    CSV:   a header row with caller, text, call_id and optionally time (or 来电号码, 通话内容,
           通话编号, 来电时间); UTF-8, with or without BOM.
    JSONL: one object a line: {"caller": "+86…", "text": "…", "call_id": "…", "time": "…"}
"""
from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterator
from zoneinfo import ZoneInfo

import click
from tqdm import tqdm

from gateway.hotline import validate_transcript
from intake import service
from web.http import BadRequest

COLUMNS = {"caller": "caller", "来电号码": "caller", "主叫号码": "caller", "text": "text", "通话内容": "text",
           "诉求内容": "text", "call_id": "call_id", "通话编号": "call_id", "time": "time", "来电时间": "time"}
REQUIRED = ("caller", "text", "call_id")
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M")


class ImportFileError(Exception):
    """The file as a whole cannot be read (no header, missing columns)."""


@dataclass
class Summary:
    source: str
    records: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"file": self.source, "records": self.records, "accepted": self.accepted,
                "duplicates": self.duplicates,
                "rejected": [{"line": line, "reason": reason} for line, reason in self.rejected]}


def _decoded_lines(raw: bytes, encoding: str, bad: dict[int, str]) -> Iterator[str]:
    """Each physical line decoded on its own, so one broken line costs only that line."""
    for number, line in enumerate(raw.splitlines(keepends=True), 1):
        try:
            text = line.decode(encoding)
        except UnicodeDecodeError as exc:
            bad[number] = f"不是有效的 {encoding.upper()} 文本（该行第 {exc.start + 1} 字节），请检查文件编码"
            text = "\n"  # an empty row stands in for it, keeping the line count
        yield text.lstrip("\ufeff") if number == 1 else text


def _csv_records(raw: bytes, encoding: str, progress) -> Iterator[tuple[int, dict | None, str]]:
    bad: dict[int, str] = {}
    reader = csv.reader(_decoded_lines(raw, encoding, bad))
    header, last = None, 0
    for row in reader:
        start, last = last + 1, reader.line_num
        progress(last)
        broken = next((n for n in range(start, last + 1) if n in bad), None)
        if broken is not None:
            yield broken, None, bad[broken]
            continue
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [COLUMNS.get(h.strip().lower(), COLUMNS.get(h.strip(), h.strip().lower())) for h in row]
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise ImportFileError(f"第 {start} 行的表头缺少列：{', '.join(missing)}（现有列：{', '.join(row)}）")
            continue
        if len(row) != len(header):
            yield start, None, f"列数不符：应为 {len(header)} 列，实际 {len(row)} 列（内容含逗号时请加英文双引号）"
            continue
        yield start, dict(zip(header, row)), ""
    if header is None:
        raise ImportFileError("文件为空或没有表头（应含 caller, text, call_id 列）")


def _jsonl_records(raw: bytes, encoding: str, progress) -> Iterator[tuple[int, dict | None, str]]:
    bad: dict[int, str] = {}
    for number, line in enumerate(_decoded_lines(raw, encoding, bad), 1):
        progress(number)
        if number in bad:
            yield number, None, bad[number]
            continue
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, None, f"JSON 格式错误（第 {exc.colno} 列）：{exc.msg}"
            continue
        if not isinstance(data, dict):
            yield number, None, "每行应为一个 JSON 对象"
            continue
        yield number, data, ""


def detect_format(path: Path, raw: bytes) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    return "jsonl" if raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") else "csv"


def parse_time(value, tz: str) -> str | None:
    """A call's time as ISO 8601 with zone; a time without zone is the city's local time."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    parsed = None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        for fmt in TIME_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        raise BadRequest(422, "bad_time", f"来电时间格式不正确：{text[:30]}（应为 2026-11-22 09:15 或 ISO 8601）")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(tz))
    return parsed.isoformat(timespec="seconds")


def import_calls_file(ctx, path: Path, fmt: str | None = None, encoding: str = "utf-8",
                      show_progress: bool = True) -> Summary:
    raw = path.read_bytes()
    fmt = fmt or detect_format(path, raw)
    total_lines = raw.count(b"\n") + (0 if raw.endswith(b"\n") or not raw else 1)
    summary = Summary(path.name)
    with tqdm(total=total_lines, unit="行", desc=f"导入 {path.name}", file=sys.stderr,
              disable=not show_progress, dynamic_ncols=True) as bar:
        def progress(line: int) -> None:
            bar.update(max(0, line - bar.n))

        records = _csv_records if fmt == "csv" else _jsonl_records
        for line, data, error in records(raw, encoding, progress):
            summary.records += 1
            if error:
                summary.rejected.append((line, error))
                continue
            try:
                caller, text, call_id = validate_transcript(data, require_call_id=True)
                call_time = parse_time(data.get("time"), ctx.config.timezone)
            except BadRequest as exc:
                summary.rejected.append((line, exc.message))
                continue
            meta = {"operator": "import", "source": path.name, "line": line}
            if call_time:
                meta["call_time"] = call_time
            # Not spooled with the database down: the file is the copy, and running it again is safe.
            msg, created = service.receive(ctx, "hotline", call_id, caller, text, meta, spool_when_down=False)
            if created:
                summary.accepted += 1
            elif msg.sender == caller and msg.text == text:
                summary.duplicates += 1
            else:  # the same call id with other content: a mistake somewhere, so keep neither silently
                summary.rejected.append((line, f"通话编号 {call_id} 已用于另一通电话（消息 {msg.id}），内容不同，未导入"))
    return summary


def _print_summary(s: Summary) -> None:
    click.echo(f"导入完成：{s.source}，共 {s.records} 条记录")
    click.echo(f"  受理 {s.accepted} 条")
    click.echo(f"  重复 {s.duplicates} 条（通话编号已导入过，未重复入库）")
    click.echo(f"  拒绝 {len(s.rejected)} 条")
    for line, reason in s.rejected:
        click.echo(f"    第 {line} 行：{reason}")


@click.command("import-calls")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), help="Default: from the file name or content.")
@click.option("--encoding", default="utf-8", show_default=True, help="e.g. gbk for an Excel export.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def import_calls(file: Path, fmt: str | None, encoding: str, as_json: bool, no_progress: bool) -> None:
    """Import a day's hotline transcripts (CSV or JSONL: caller, text, call_id[, time]).

    Re-running the same file is safe: calls already imported count as duplicates. Exits with
    status 1 when any record was rejected, so a script notices.
    """
    from intake.context import get
    try:
        "".encode(encoding)
    except LookupError:
        raise click.BadParameter(f"未知编码 {encoding}", param_hint="--encoding") from None
    try:
        summary = import_calls_file(get(), file, fmt, encoding, show_progress=not no_progress)
    except ImportFileError as exc:
        raise click.ClickException(str(exc)) from None
    except service.DATABASE_DOWN as exc:
        raise click.ClickException(f"数据库暂时不可用（{exc.__class__.__name__}），导入中止；"
                                   "数据库恢复后重新导入同一文件即可，已导入的不会重复") from None
    if as_json:
        click.echo(json.dumps(summary.as_dict(), ensure_ascii=False))
    else:
        _print_summary(summary)
    if summary.rejected:
        sys.exit(1)
