"""Trained text classifier vs the TF-IDF char 1–3-gram + LinearSVC baseline, honest splits.

    .venv/bin/python bench/classifier_accuracy.py \
        --haikou ../shared/data/haikou12345_dev.csv --teddy ../shared/data/teddy2020c_dev.csv

Haikou (department routing): rows are in time order; train on the first 80 %, test on the last
20 %. Teddy (7 classes): stratified 5-fold cross-validation (mean ± std). For the baseline the
confidence behind "dispatchable at 95 %" is its top decision score. Then the speed of predict
(jieba included) on one core and the resident memory of a fresh process with the model loaded;
bench/classifier_speed.py measures the whole classifier (rules + model) against bare jieba.
Prints figures; asserts nothing. Data stays outside the repository.
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from classifiers.metrics import coverage_at, evaluate  # noqa: E402
from classifiers.model import TextModel  # noqa: E402


def read(path, text_column, label_column):
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    return [r[text_column] for r in rows], [r[label_column] for r in rows]


def baseline(train_x, train_y, test_x, test_y) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import f1_score
    from sklearn.svm import LinearSVC

    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3))
    svm = LinearSVC().fit(vec.fit_transform(train_x), train_y)
    start = time.perf_counter()
    scores = svm.decision_function(vec.transform(test_x))
    elapsed = time.perf_counter() - start
    order = np.argsort(-scores, axis=1)
    top1 = svm.classes_[order[:, 0]]
    y = np.asarray(test_y)
    correct = top1 == y
    return {
        "accuracy": float(correct.mean()),
        "top3": float(np.mean([y[i] in svm.classes_[order[i, :3]] for i in range(len(y))])),
        "macro_f1": float(f1_score(y, top1, average="macro")),
        "coverage_at_95": coverage_at(scores.max(axis=1), correct)[0],
        "msgs_per_s": len(y) / elapsed,
    }


def ours(train_x, train_y, test_x, test_y, model_path=None) -> dict:
    start = time.perf_counter()
    model = TextModel.train(train_x, train_y, progress=False)
    trained = time.perf_counter() - start
    if model_path:
        model.save(model_path)
    result = evaluate(model, test_x, test_y)
    result["train_s"] = trained
    result["chosen"] = f"C={model.info['C']} class_weight={model.info['class_weight']}"
    return result


def show(title, base, mine, keys=("accuracy", "top3", "macro_f1", "coverage_at_95")):
    print(f"\n{title}")
    print(f"  {'':<16}{'baseline':>10}{'ours':>10}")
    for k in keys:
        b, m = base[k], mine[k]
        if isinstance(b, tuple):
            print(f"  {k:<16}{b[0]:>6.3f}±{b[1]:.3f}{m[0]:>6.3f}±{m[1]:.3f}")
        else:
            print(f"  {k:<16}{b:>10.3f}{m:>10.3f}")


def haikou(path, model_path):
    texts, labels = read(path, "text", "department")
    cut = int(len(texts) * 0.8)
    args = texts[:cut], labels[:cut], texts[cut:], labels[cut:]
    base, mine = baseline(*args), ours(*args, model_path=model_path)
    show(f"Haikou 12345 department, time split: train {cut}, test {len(texts) - cut}", base, mine)
    print(f"  ours: {mine['chosen']}, trained in {mine['train_s']:.0f} s, "
          f"threshold at 95 % = {mine['threshold_at_95']}")
    return texts[cut:]


def teddy(path):
    from sklearn.model_selection import StratifiedKFold

    texts, labels = read(path, "text", "label")
    x, y = np.array(texts, dtype=object), np.array(labels)
    runs = {"baseline": [], "ours": []}
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=0).split(x, y):
        args = list(x[tr]), list(y[tr]), list(x[te]), list(y[te])
        runs["baseline"].append(baseline(*args))
        runs["ours"].append(ours(*args))
        print(f"  fold {len(runs['ours'])}: baseline F1 {runs['baseline'][-1]['macro_f1']:.3f}, "
              f"ours {runs['ours'][-1]['macro_f1']:.3f}", flush=True)
    keys = ("accuracy", "macro_f1", "top3", "coverage_at_95")
    agg = {name: {k: (float(np.mean([r[k] for r in rs])), float(np.std([r[k] for r in rs])))
                  for k in keys} for name, rs in runs.items()}
    show(f"Teddy Cup 7 classes, stratified 5-fold CV over {len(texts)} rows",
         agg["baseline"], agg["ours"], keys)


PROBE = """
import sys, time
sys.path.insert(0, {root!r})
from classifiers.model import TextModel
from classifiers.tokenizer import initialize
start = time.perf_counter()
initialize()
m = TextModel.load({path!r})
m.predict(["路灯不亮了"])
loaded = time.perf_counter() - start
rss = [l for l in open("/proc/self/status") if l.startswith("VmRSS")][0].split()[1]
print(int(rss) / 1024, loaded)
"""


def speed_and_memory(model_path, texts):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", PROBE.format(root=root, path=model_path)],
                         capture_output=True, text=True, check=True).stdout.split()
    print(f"\nWorker with model loaded: {float(out[0]):.0f} MB resident (VmRSS, jieba included), "
          f"jieba + model load {float(out[1]):.2f} s, model file "
          f"{os.path.getsize(model_path) / 1e6:.1f} MB")
    import jieba

    model = TextModel.load(model_path)
    short = [t.split("：", 1)[-1].split(":", 1)[-1][:24] for t in texts]   # SMS-sized
    for name, batch in (("work orders (avg %d chars)" % np.mean([len(t) for t in texts]), texts),
                        ("short messages (≤24 chars)", short)):
        for label, fn in (("bare jieba.lcut", lambda b: [jieba.lcut(t) for t in b]),
                          ("predict, one call", lambda b: model.predict(b)),
                          ("predict, one by one", lambda b: [model.predict([t]) for t in b])):
            start = time.perf_counter()
            fn(batch)
            rate = len(batch) / (time.perf_counter() - start)
            print(f"  {name:<28} {label:<20} {rate:>8,.0f} msgs/s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--haikou", required=True)
    ap.add_argument("--teddy", required=True)
    ap.add_argument("--model", help="where to keep the Haikou model (default: a temp file)")
    a = ap.parse_args()
    model_path = a.model or os.path.join(tempfile.mkdtemp(prefix="gridline-bench-"), "haikou.npz")
    test_texts = haikou(a.haikou, model_path)
    print(f"\nTeddy folds ({os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}):")
    teddy(a.teddy)
    speed_and_memory(model_path, test_texts)


if __name__ == "__main__":
    main()
