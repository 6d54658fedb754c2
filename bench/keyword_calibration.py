"""Is the keyword confidence calibrated? Reliability on hand-labelled messages in residents' words.

    .venv/bin/python bench/keyword_calibration.py [--data tests/data/category_messages.csv]

The default data is tests/data/category_messages.csv (text, code; an empty code is a message
outside the catalogue: any category is wrong): the keyword lists were extended from its misses.
tests/data/category_messages_fresh.csv (pass it with --data) was written before that and never
tuned on: the honest figure. Prints the reliability table (messages per confidence bin, mean
confidence, share right), the expected calibration error (ECE), the Brier score, and what the
triage threshold of routing_rules.yaml does: share dispatched, and its precision.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from classifiers.keywords import KeywordClassifier  # noqa: E402
from routing.rules import load_rules  # noqa: E402

BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0001)


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["code"] or None for r in rows]


def reliability(conf, right) -> tuple[list[tuple], float, float]:
    conf, right = np.asarray(conf, float), np.asarray(right, float)
    rows, ece = [], 0.0
    for lo, hi in zip(BINS, BINS[1:]):
        m = (conf >= lo) & (conf < hi)
        if m.any():
            rows.append((lo, min(hi, 1.0), int(m.sum()), float(conf[m].mean()), float(right[m].mean())))
            ece += m.sum() / len(conf) * abs(conf[m].mean() - right[m].mean())
    return rows, float(ece), float(np.mean((conf - right) ** 2))


def measure(classifier, texts, codes) -> dict:
    results = [classifier.classify(t) for t in texts]
    conf = [r.confidence for r in results]
    right = [r.code is not None and r.code == c for r, c in zip(results, codes)]
    table, ece, brier = reliability(conf, right)
    return {"conf": conf, "right": right, "table": table, "ece": ece, "brier": brier,
            "accuracy": float(np.mean(right))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "tests", "data", "category_messages.csv"))
    ap.add_argument("--rules", default=os.path.join(ROOT, "routing_rules.yaml"))
    a = ap.parse_args()
    rules = load_rules(a.rules)
    texts, codes = read(a.data)
    m = measure(KeywordClassifier(rules), texts, codes)
    print(f"{len(texts)} messages ({sum(c is None for c in codes)} outside the catalogue); "
          f"top-1 right {m['accuracy']:.3f}")
    print(f"\n  {'confidence':<12}{'messages':>9}{'mean conf':>11}{'share right':>13}")
    for lo, hi, n, c, r in m["table"]:
        print(f"  {lo:.1f}–{hi:.1f}     {n:>9}{c:>11.3f}{r:>13.3f}")
    print(f"\n  ECE {m['ece']:.3f}   Brier {m['brier']:.3f}")
    t = rules.settings["confidence_threshold"]
    conf, right = np.asarray(m["conf"]), np.asarray(m["right"])
    sent = conf >= t
    print(f"  threshold {t:.2f}: {sent.mean():.3f} dispatched automatically, "
          f"{right[sent].mean() if sent.any() else float('nan'):.3f} of those right; "
          f"{(~sent).mean():.3f} to triage")


if __name__ == "__main__":
    main()
