"""Figures for a trained text model on labelled messages.

coverage_at_95 is what a command centre cares about: the largest share of messages that could be
dispatched automatically, i.e. whose top-1 confidence is at or above one threshold, such that
the top-1 label is right on at least 95 % of that share. The threshold is chosen on the same
messages, so it is the best case for this data; use a held-out set to pick a production value.
"""
from __future__ import annotations

import time

import numpy as np
from sklearn.metrics import f1_score, precision_recall_fscore_support

TARGET_PRECISION = 0.95


def coverage_at(confidence, correct, precision: float = TARGET_PRECISION) -> tuple[float, float | None]:
    """(largest share, its threshold) with precision ≥ `precision` among conf ≥ threshold."""
    conf = np.asarray(confidence, dtype=float)
    ok = np.asarray(correct, dtype=bool)
    if not len(conf):
        return 0.0, None
    order = np.argsort(-conf, kind="stable")
    conf, ok = conf[order], ok[order]
    prec = np.cumsum(ok) / np.arange(1, len(ok) + 1)
    cut_here = np.r_[conf[1:] != conf[:-1], True]   # a threshold cannot split equal scores
    good = np.flatnonzero((prec >= precision) & cut_here)
    if not len(good):
        return 0.0, None
    last = good[-1]
    return (last + 1) / len(conf), float(conf[last])


def evaluate(model, texts: list[str], labels: list[str]) -> dict:
    if len(texts) != len(labels):
        raise ValueError(f"texts and labels differ in length ({len(texts)} vs {len(labels)})")
    if not texts:
        raise ValueError("没有可评估的数据 / nothing to evaluate")
    labels = [str(l).strip() for l in labels]
    start = time.perf_counter()
    preds = model.predict(list(texts), k=3)
    elapsed = time.perf_counter() - start
    top1 = [p[0][0] for p in preds]
    conf = [p[0][1] for p in preds]
    correct = np.array([t == y for t, y in zip(top1, labels)])
    top3 = np.mean([y in {l for l, _ in p} for p, y in zip(preds, labels)])
    coverage, threshold = coverage_at(conf, correct)
    names = sorted(set(labels) | set(top1))
    p, r, f, s = precision_recall_fscore_support(labels, top1, labels=names, zero_division=0)
    return {
        "n": len(texts),
        "accuracy": float(correct.mean()),
        "macro_f1": float(f1_score(labels, top1, labels=names, average="macro", zero_division=0)),
        "top3": float(top3),
        "coverage_at_95": float(coverage),
        "threshold_at_95": threshold,
        "msgs_per_s": len(texts) / elapsed if elapsed > 0 else float("inf"),
        "unknown_labels": sorted(set(labels) - set(model.labels)),
        "per_label": {
            name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                   "support": int(s[i])}
            for i, name in enumerate(names)
        },
    }


def format_report(result: dict, max_labels: int = 30) -> str:
    th = result.get("threshold_at_95")
    lines = [
        f"messages            {result['n']}",
        f"accuracy (top-1)    {result['accuracy']:.3f}",
        f"top-3               {result['top3']:.3f}",
        f"macro-F1            {result['macro_f1']:.3f}",
        f"dispatchable @95%   {result['coverage_at_95']:.3f}"
        + (f"  (confidence ≥ {th:.3f})" if th is not None else "  (no threshold reaches 95 %)"),
        f"speed               {result['msgs_per_s']:,.0f} messages/s",
    ]
    if result.get("unknown_labels"):
        lines.append(f"labels the model never saw: {', '.join(result['unknown_labels'][:10])}")
    per = sorted(result["per_label"].items(), key=lambda kv: -kv[1]["support"])
    width = max([len(k) for k, _ in per[:max_labels]] + [5])
    lines += ["", f"{'label':<{width}}  precision  recall     f1  support"]
    for name, m in per[:max_labels]:
        lines.append(f"{name:<{width}}  {m['precision']:9.3f}  {m['recall']:6.3f}  {m['f1']:5.3f}"
                     f"  {m['support']:7d}")
    if len(per) > max_labels:
        rest = sum(m["support"] for _, m in per[max_labels:])
        lines.append(f"… {len(per) - max_labels} more labels ({rest} messages)")
    return "\n".join(lines)
