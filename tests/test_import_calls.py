"""`gridline import-calls FILE`: a day's transcripts in, bad lines reported by number, nothing twice."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from cli import cli
from intake.models import InboundMessage

GOOD_1 = "东四北大街18号门口井盖丢了，晚上很危险"
GOOD_2 = "王府井大街120号有人占道经营卖水果"
GOOD_3 = "交道口南大街20号路灯不亮了"


def run(path, *args):
    result = CliRunner().invoke(cli, ["import-calls", str(path), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def messages(ctx) -> list[InboundMessage]:
    with ctx.db.session() as s:
        return s.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()


def csv_bytes() -> bytes:
    lines = [
        "caller,text,call_id,time",                                     # 1
        f"+8613800000041,{GOOD_1},c-001,2026-11-22 09:15",               # 2
        f"13800000042,{GOOD_2},c-002,",                                  # 3
        "+8613800000043,,c-003,",                                        # 4 empty text
        f"call me,{GOOD_3},c-004,",                                      # 5 bad phone
        f"+8613800000045,{'井' * 2100},c-005,",                          # 6 too long
        None,                                                           # 7 broken UTF-8
        f"+8613800000041,{GOOD_1},c-001,2026-11-22 09:15",               # 8 same call twice
        f"+8613800000047,{GOOD_3},就是这里,坏了,c-007,",                  # 9 unquoted comma
        "",                                                             # 10 blank: skipped
        f'+8613800000048,"{GOOD_3}\n第二行补充：灯杆也歪了",c-008,',      # 11-12 quoted newline
        f"+8613800000049,{GOOD_3},c-009,明天早上",                        # 13 bad time
    ]
    out = b""
    for line in lines:
        out += (f"{line}\n".encode() if line is not None else "+8613800000046,井盖".encode() + b"\xff\xfe,c-006,\n")
    return out


def test_csv_import_summary_with_reasons_and_line_numbers(ctx, tmp_path):
    path = tmp_path / "calls-2026-11-22.csv"
    path.write_bytes(csv_bytes())
    result = run(path, "--json")
    assert result.exit_code == 1  # some lines were rejected: a script notices
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["accepted"], summary["duplicates"]) == (3, 1)
    reasons = {r["line"]: r["reason"] for r in summary["rejected"]}
    assert sorted(reasons) == [4, 5, 6, 7, 9, 13]
    assert "不能为空" in reasons[4] and "来电号码" in reasons[5] and "过长" in reasons[6]
    assert "UTF-8" in reasons[7] and "列数不符" in reasons[9] and "时间" in reasons[13]
    stored = messages(ctx)
    assert [m.external_id for m in stored] == ["c-001", "c-002", "c-008"]
    assert stored[0].meta["call_time"] == "2026-11-22T09:15:00+08:00" and stored[0].meta["line"] == 2
    assert stored[1].sender == "13800000042"
    assert stored[2].text.endswith("灯杆也歪了") and stored[2].meta["line"] == 11
    assert "导入" in result.stderr  # the progress bar


def test_running_the_same_file_again_stores_nothing_twice(ctx, tmp_path):
    path = tmp_path / "calls.csv"
    path.write_bytes(csv_bytes())
    run(path)
    result = run(path)
    assert "受理 0 条" in result.stdout and "重复 4 条" in result.stdout
    assert "第 7 行：" in result.stdout
    assert len(messages(ctx)) == 3


def test_jsonl_import(ctx, tmp_path):
    rows = [
        json.dumps({"caller": "+8613800000051", "text": GOOD_1, "call_id": "j-1", "time": "2026-11-22T08:00:00+08:00"},
                   ensure_ascii=False).encode(),
        b'{"caller": "+8613800000052", "text": "\xe4\xba\x95\xff", "call_id": "j-2"}',
        b'{"caller": "+8613800000053", "text": "broken',
        b'["+8613800000054", "a list", "j-4"]',
        json.dumps({"caller": "+8613800000055", "text": GOOD_2}, ensure_ascii=False).encode(),
        b"",
        json.dumps({"caller": "+8613800000057", "text": GOOD_3, "call_id": 7}, ensure_ascii=False).encode(),
    ]
    path = tmp_path / "calls.jsonl"
    path.write_bytes(b"\n".join(rows) + b"\n")
    result = run(path, "--json", "--no-progress")
    summary = json.loads(result.stdout)
    assert summary["accepted"] == 2 and summary["duplicates"] == 0
    rejected = [(r["line"], r["reason"]) for r in summary["rejected"]]
    assert [line for line, _ in rejected] == [2, 3, 4, 5]
    assert [w in reason for w, (_, reason) in zip(["UTF-8", "JSON 格式错误", "JSON 对象", "call_id"], rejected)] == [True] * 4
    assert result.stderr == ""
    assert [m.external_id for m in messages(ctx)] == ["j-1", "7"]


def test_imported_calls_become_cases(ctx, tmp_path, run_worker, client, auth):
    path = tmp_path / "calls.csv"
    path.write_text(f"来电号码,通话内容,通话编号\n+8613800000061,{GOOD_1},k-1\n", encoding="utf-8-sig")
    assert run(path).exit_code == 0
    run_worker()
    (msg,) = messages(ctx)
    body = client.get(f"/api/messages/{msg.id}", headers=auth).get_json()
    assert body["status"] == "done" and body["case_number"]


def test_a_call_id_reused_for_another_call_is_rejected(ctx, tmp_path, client, auth):
    r = client.post("/hotline/transcripts", json={"caller": "+8613800000071", "text": GOOD_1, "call_id": "x-1"},
                    headers=auth)
    assert r.status_code == 202
    path = tmp_path / "calls.csv"
    path.write_text(f"caller,text,call_id\n+8613800000072,{GOOD_2},x-1\n", encoding="utf-8")
    result = run(path)
    assert result.exit_code == 1 and "第 2 行：通话编号 x-1 已用于另一通电话" in result.stdout
    assert [m.text for m in messages(ctx)] == [GOOD_1]


def test_a_gbk_export_imports_with_its_encoding(ctx, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(f"caller,text,call_id\n+8613800000081,{GOOD_3},g-1\n".encode("gbk"))
    assert "UTF-8" in run(path).stdout
    assert run(path, "--encoding", "gbk").exit_code == 0
    assert [m.text for m in messages(ctx)] == [GOOD_3]


@pytest.mark.parametrize("content, words", [
    ("caller,text\n+8613800000091,井盖丢了\n", "call_id"),
    ("", "没有表头"),
])
def test_a_file_without_the_columns_is_refused_whole(ctx, tmp_path, content, words):
    path = tmp_path / "calls.csv"
    path.write_text(content, encoding="utf-8")
    result = run(path)
    assert result.exit_code == 1 and words in result.output
    assert messages(ctx) == []
