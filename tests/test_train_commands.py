"""`gridline train` and `gridline evaluate` on small CSVs written here: output, --json, errors."""
from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from cli import cli
from test_model import LABELS, TEXTS

JSON_KEYS = {"n", "accuracy", "macro_f1", "top3", "coverage_at_95", "threshold_at_95", "msgs_per_s"}


def write_csv(path, rows, header=("内容", "部门"), encoding="utf-8"):
    with open(path, "w", newline="", encoding=encoding) as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("train")
    data = write_csv(folder / "orders.csv", list(zip(TEXTS, LABELS)))
    model = folder / "models" / "orders.npz"
    result = run("train", "--input", data, "--text-column", "内容", "--label-column", "部门", "--model", model)
    assert result.exit_code == 0, result.output
    return data, model, result.output


def test_train_saves_a_model_and_says_so(trained):
    data, model, output = trained
    assert model.is_file() and str(model) in output
    assert "4 个标签" in output


def test_evaluate_prints_the_figures_and_per_label_report(trained):
    data, model, _ = trained
    r = run("evaluate", "--input", data, "--text-column", "内容", "--label-column", "部门", "--model", model)
    assert r.exit_code == 0, r.output
    for needle in ("accuracy", "top-3", "macro-F1", "dispatchable @95%", "messages/s", "precision", "井盖"):
        assert needle in r.output


def test_evaluate_json_last_line(trained):
    data, model, _ = trained
    r = run("evaluate", "--input", data, "--text-column", "内容", "--label-column", "部门", "--model", model,
            "--json")
    assert r.exit_code == 0, r.output
    last = json.loads(r.output.strip().splitlines()[-1])
    assert set(last) == JSON_KEYS
    assert last["n"] == len(TEXTS) and last["accuracy"] >= 0.9 and last["msgs_per_s"] > 0
    assert 0 <= last["coverage_at_95"] <= 1 and 0 <= last["top3"] <= 1


def test_evaluate_accepts_a_bom(trained, tmp_path):
    _, model, _ = trained
    data = write_csv(tmp_path / "bom.csv", list(zip(TEXTS, LABELS)), encoding="utf-8-sig")
    r = run("evaluate", "--input", data, "--text-column", "内容", "--label-column", "部门", "--model", model,
            "--json")
    assert r.exit_code == 0 and json.loads(r.output.splitlines()[-1])["n"] == len(TEXTS)


def _gbk(tmp_path):
    return write_csv(tmp_path / "gbk.csv", list(zip(TEXTS, LABELS)), encoding="gbk")


def _one_label(tmp_path):
    return write_csv(tmp_path / "one.csv", [(t, "井盖") for t in TEXTS[:10]])


def _other_columns(tmp_path):
    return write_csv(tmp_path / "cols.csv", list(zip(TEXTS, LABELS)), header=("text", "label"))


@pytest.mark.parametrize("make_input, needle", [
    (lambda p: p / "missing.csv", "missing.csv"),
    (_gbk, "UTF-8"),
    (_other_columns, "内容"),
    (_one_label, "one.csv"),
])
def test_train_input_errors_are_click_errors(tmp_path, make_input, needle):
    r = run("train", "--input", make_input(tmp_path), "--text-column", "内容", "--label-column", "部门",
            "--model", tmp_path / "m.npz")
    assert r.exit_code != 0
    assert r.exception is None or isinstance(r.exception, SystemExit)   # no traceback
    assert needle in r.output and "Error" in r.output
    assert not (tmp_path / "m.npz").exists()


def test_evaluate_errors_name_the_model_file(trained, tmp_path):
    data, _, _ = trained
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(b"\x00not a model")
    for model in (tmp_path / "none.npz", damaged):
        r = run("evaluate", "--input", data, "--text-column", "内容", "--label-column", "部门",
                "--model", model)
        assert r.exit_code != 0 and isinstance(r.exception, SystemExit)
        assert model.name in r.output


def test_evaluate_missing_label_column(trained):
    data, model, _ = trained
    r = run("evaluate", "--input", data, "--text-column", "内容", "--label-column", "类别", "--model", model)
    assert r.exit_code != 0 and "类别" in r.output
