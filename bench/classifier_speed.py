"""Classification speed on short SMS-like texts against bare jieba.lcut, and a worker's memory.

    .venv/bin/python bench/classifier_speed.py [--model PATH] [--texts CSV --text-column text] [-n 8000]

Texts: by default the short messages of tests/data (complaints in residents' words, about 20
characters), repeated to n; or any CSV column (e.g. ../shared/data/haikou12345_dev.csv, cut to 24
characters like an SMS). In one process and one run, on one core: bare jieba.lcut, the keyword
rules alone, and rules + model (classifiers.combined, what the gateway runs when routing_rules.yaml
names a model) one message at a time and in batches (classify_many); rounds interleaved, the
best of each counts; then the ratio to jieba.

Memory: a fresh process loads jieba, the rules and the model and classifies one message (the
classifier part of a worker), and a second one preloads a whole worker context (rules + model,
gazetteer, grid index, calendar, templates, on a scratch SQLite database); VmRSS and VmHWM (peak).

A model whose labels are not codes or departments of routing_rules.yaml (Haikou's departments)
is relabelled with catalogue codes for this run: same size, same arithmetic, so the same speed.
Without --model a small model is trained on tests/data/category_messages.csv.
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

DATA = os.path.join(ROOT, "tests", "data")
BATCH = 200          # a worker's batch (GRIDLINE_BATCH_SIZE)
SHORT_FILES = ("category_messages.csv", "addressed_complaints.csv", "addressed_complaints_by_hand.csv")


def short_texts(path, column, n) -> list[str]:
    texts = []
    for p in [path] if path else [os.path.join(DATA, f) for f in SHORT_FILES]:
        with open(p, newline="", encoding="utf-8-sig") as f:
            texts += [row[column].split("：", 1)[-1].split(":", 1)[-1][:24] for row in csv.DictReader(f)]
    texts = [t for t in texts if t.strip()]
    return (texts * (n // len(texts) + 1))[:n]


def compatible_model(path, rules, scratch):
    """The model at `path`, relabelled with catalogue codes if its labels mean nothing to the rules."""
    import numpy as np

    from classifiers.model import TextModel
    model = TextModel.load(path)
    known = {c.code for c in rules.categories} | {c.name for c in rules.categories} | set(rules.departments)
    if not known & set(model.labels):
        codes = [c.code for c in rules.categories]
        if len(model.labels) > len(codes):
            sys.exit(f"{path}: {len(model.labels)} labels, more than the {len(codes)} categories to rename them to")
        model.classes = np.array(codes[:len(model.labels)])
        model._labels = [str(c) for c in model.classes]
        path = os.path.join(scratch, "relabelled.npz")
        model.save(path)
        print(f"model labels relabelled with catalogue codes for this run ({len(codes[:len(model.labels)])} labels)")
    return path


def small_model(scratch) -> str:
    from classifiers.model import TextModel
    with open(os.path.join(DATA, "category_messages.csv"), newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["code"]]
    path = os.path.join(scratch, "small.npz")
    import warnings  # ~190 rows over 110 codes: scikit-learn wonders whether it is a regression
    warnings.filterwarnings("ignore", message="The number of unique classes")
    TextModel.train([r["text"] for r in rows], [r["code"] for r in rows], progress=False).save(path)
    return path


def best_rate(fn, texts, rounds=3) -> float:
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        fn(texts)
        best = max(best, len(texts) / (time.perf_counter() - start))
    return best


PROBE_CLASSIFIER = """
import sys
sys.path.insert(0, {root!r})
from classifiers.combined import CombinedClassifier
from classifiers.keywords import KeywordClassifier
from routing.rules import load_rules
rules = load_rules({rules!r})
c = CombinedClassifier.load(KeywordClassifier(rules), {model!r}, rules)
c.classify("东四北大街18号路灯不亮了")
"""
PROBE_WORKER = """
import os, sys
sys.path.insert(0, {root!r})
from config import Config
from intake.context import Context
from store.migrate import upgrade
url = "sqlite:///" + os.path.join({scratch!r}, "probe.db")
upgrade(url)
from pathlib import Path
ctx = Context(Config(var_dir=Path({scratch!r}), database_url=url, rules_path=Path({rules!r}))).preload()
ctx.classifier.classify("东四北大街18号路灯不亮了")
"""
STATUS = """
status = dict(l.split(":", 1) for l in open("/proc/self/status"))
print(int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024)
"""


def memory(probe: str, **fmt) -> tuple[float, float]:
    done = subprocess.run([sys.executable, "-c", probe.format(root=ROOT, **fmt) + STATUS],
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"memory probe failed:\n{done.stderr[-2000:]}")
    out = done.stdout.split()
    return float(out[-2]), float(out[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="a trained model (default: a small one trained on tests/data)")
    ap.add_argument("--texts", help="CSV of messages (default: the short messages of tests/data)")
    ap.add_argument("--text-column", default="text")
    ap.add_argument("-n", type=int, default=8000, help="messages per round")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of each; the best counts")
    a = ap.parse_args()

    import jieba

    from classifiers.combined import CombinedClassifier
    from classifiers.keywords import KeywordClassifier
    from classifiers.tokenizer import initialize
    from routing.rules import load_rules

    scratch = tempfile.mkdtemp(prefix="gridline-speed-")
    rules_path = os.path.join(ROOT, "routing_rules.yaml")
    rules = load_rules(rules_path)
    initialize()
    keywords = KeywordClassifier(rules)
    model_path = compatible_model(a.model, rules, scratch) if a.model else small_model(scratch)
    combined = CombinedClassifier.load(keywords, model_path, rules)
    texts = short_texts(a.texts, a.text_column, a.n)
    print(f"{len(texts)} messages, {sum(map(len, texts)) / len(texts):.1f} characters on average; "
          f"model {len(combined.model.labels)} labels, {combined.model.weights.shape[0]} features; "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")

    def batches(b):
        for i in range(0, len(b), BATCH):
            combined.classify_many(b[i:i + BATCH])

    runs = {"jieba.lcut (bare)": lambda b: [jieba.lcut(t) for t in b],
            "keyword rules": lambda b: [keywords.classify(t) for t in b],
            "rules + model, one by one": lambda b: [combined.classify(t) for t in b],
            f"rules + model, batches of {BATCH}": batches}
    rates = dict.fromkeys(runs, 0.0)
    for _ in range(a.rounds):       # interleaved rounds: a neighbour's load hits all alike
        for name, fn in runs.items():
            rates[name] = max(rates[name], best_rate(fn, texts, rounds=1))
    jieba_rate = rates["jieba.lcut (bare)"]
    for name, rate in rates.items():
        print(f"  {name:<30} {rate:>9,.0f} msgs/s   {rate / jieba_rate:5.2f} × jieba")

    # The worker's rules name the model (a copy of the rules beside it, as a city would write it).
    text = open(rules_path, encoding="utf-8").read()
    text = text.replace("  model: null", f"  model: {model_path}").replace(
        "  calendar: data/calendar.yaml", f"  calendar: {os.path.join(ROOT, 'data', 'calendar.yaml')}")
    worker_rules = os.path.join(scratch, "routing_rules.yaml")
    open(worker_rules, "w", encoding="utf-8").write(text)
    rss, peak = memory(PROBE_CLASSIFIER, rules=worker_rules, model=model_path)
    print(f"\nmemory, jieba + rules + model:   {rss:6.0f} MB resident (peak {peak:.0f} MB); "
          f"model file {os.path.getsize(model_path) / 1e6:.1f} MB")
    rss, peak = memory(PROBE_WORKER, rules=worker_rules, scratch=scratch)
    print(f"memory, whole worker context:    {rss:6.0f} MB resident (peak {peak:.0f} MB)")


if __name__ == "__main__":
    main()
