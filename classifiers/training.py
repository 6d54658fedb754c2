"""Train and evaluate the text model from a CSV of labelled messages (for `gridline train` /
`gridline evaluate`). Reads with the csv module; UTF-8, with or without a BOM."""
from __future__ import annotations

import csv
import os
import sys
import time

from classifiers.metrics import evaluate
from classifiers.model import TextModel


def read_labelled(path, text_column: str, label_column: str) -> tuple[list[str], list[str]]:
    """Texts and labels from a CSV; rows with an empty text or label are skipped."""
    if not os.path.isfile(path):
        raise ValueError(f"找不到文件 / file not found: {path}")
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = reader.fieldnames or []
            for column in (text_column, label_column):
                if column not in columns:
                    raise ValueError(
                        f"{path} 缺少列 “{column}” / column '{column}' is missing "
                        f"(columns: {', '.join(columns) or 'none'})")
            texts, labels = [], []
            for row in reader:
                text = (row.get(text_column) or "").strip()
                label = (row.get(label_column) or "").strip()
                if text and label:
                    texts.append(text)
                    labels.append(label)
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} 不是 UTF-8 编码 / is not UTF-8: {e}") from e
    if not texts:
        raise ValueError(f"{path} 没有带标签的数据 / has no rows with both "
                         f"'{text_column}' and '{label_column}'")
    return texts, labels


def train_csv(input_path, text_column, label_column, model_path) -> dict:
    texts, labels = read_labelled(input_path, text_column, label_column)
    if len(set(labels)) < 2:
        raise ValueError(f"{input_path} 只有一个类别 / has only one label in '{label_column}'")
    start = time.perf_counter()
    model = TextModel.train(texts, labels, progress=True)
    model.save(model_path)
    return {
        "model_path": str(model_path),
        "rows": len(texts),
        "labels": len(model.labels),
        "seconds": round(time.perf_counter() - start, 1),
        "size_mb": round(os.path.getsize(model_path) / 1e6, 2),
        **model.info,
    }


def evaluate_csv(input_path, text_column, label_column, model_path) -> dict:
    if not os.path.isfile(model_path):
        raise ValueError(f"找不到模型 / model not found: {model_path}")
    texts, labels = read_labelled(input_path, text_column, label_column)
    return evaluate(TextModel.load(model_path), texts, labels)
