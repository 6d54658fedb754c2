"""`gridline train` and `gridline evaluate`: learn from a city's past work orders, and measure.

    gridline train --input orders.csv --text-column text --label-column department --model m.npz
    gridline evaluate --input later.csv --text-column text --label-column department --model m.npz --json

A mistake in the input (missing file or column, not UTF-8, one label only, a damaged model) is a
click error naming the file: exit status 1 and one line on stderr, no traceback.
"""
from __future__ import annotations

import json

import click

# With --json the last line holds exactly these keys (the per-label report is printed above it).
JSON_KEYS = ("n", "accuracy", "macro_f1", "top3", "coverage_at_95", "threshold_at_95", "msgs_per_s")


def _csv_options(f):
    f = click.option("--model", "model_path", required=True, type=click.Path(dir_okay=False),
                     help="Model file (.npz, written by gridline train).")(f)
    f = click.option("--label-column", required=True, help="Column holding the label "
                     "(a catalogue code such as 06010, or a department name).")(f)
    f = click.option("--text-column", required=True, help="Column holding the message text.")(f)
    f = click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False),
                     help="CSV file, UTF-8 (with or without BOM), with a header row.")(f)
    return f


@click.command("train")
@_csv_options
def train_command(input_path: str, text_column: str, label_column: str, model_path: str) -> None:
    """Train the text model on labelled historical messages (progress bar on stderr)."""
    from classifiers.training import train_csv
    try:
        summary = train_csv(input_path, text_column, label_column, model_path)
    except (ValueError, OSError) as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"模型已保存 / model saved: {summary['model_path']} "
               f"({summary['rows']} 条, {summary['labels']} 个标签, {summary['size_mb']} MB, "
               f"{summary['seconds']} s; C={summary.get('C')}, "
               f"class_weight={summary.get('class_weight')}, "
               f"OOF accuracy {summary.get('oof_accuracy')})")


@click.command("evaluate")
@_csv_options
@click.option("--json", "as_json", is_flag=True, help="End with one line of JSON: " + ", ".join(JSON_KEYS))
def evaluate_command(input_path: str, text_column: str, label_column: str, model_path: str,
                     as_json: bool) -> None:
    """Accuracy, macro-F1, top-3, share dispatchable at 95 % precision, per-label report, speed."""
    from classifiers.metrics import format_report
    from classifiers.training import evaluate_csv
    try:
        result = evaluate_csv(input_path, text_column, label_column, model_path)
    except (ValueError, OSError) as e:
        raise click.ClickException(str(e)) from e
    click.echo(format_report(result))
    if as_json:
        click.echo(json.dumps({k: result[k] for k in JSON_KEYS}, ensure_ascii=False))
