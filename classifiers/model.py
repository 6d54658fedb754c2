"""A text classifier learned from a city's historical work orders (category or department).

Features: TF-IDF (sublinear tf) of jieba words plus character 1–3-grams, which catch what jieba
splits badly (place names, typos, traditional characters). Model: a linear SVM, chosen between an
unweighted and a class-balanced variant by 5-fold out-of-fold (OOF) accuracy + macro-F1 on the
training data itself. Linear, so every prediction is explainable: the contribution of a feature
to a label is its tf-idf value times the label's weight, and `explain` names the top ones.

Confidence: SVM margins are not probabilities. From the OOF scores we fit (1) a softmax
temperature for the whole top-k list and (2) a small logistic model P(top-1 is right | top score,
margin, predicted label), which gives the top-1 probability a dispatcher can put a threshold on.
Some departments are routinely ambiguous (政府服务中心, 街道办), and (2) learns that.

Memory: the weight matrix is pruned to its largest entries and stored sparse in float32, and
features left with no weight are dropped from the vocabularies. See bench/classifier_accuracy.py.
"""
from __future__ import annotations

import math
import os
import re
from collections import Counter

import joblib
import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import f1_score
from sklearn.model_selection import KFold
from sklearn.svm import LinearSVC

from classifiers.tokenizer import tokenize

FORMAT = "gridline-textmodel/1"
MAX_CHARS = 3000            # a 10 kB paste is classified on its first 3000 characters
WEIGHT_BUDGET = 1_500_000   # non-zero weights kept (about 12 MB in float32 CSR)
FOLDS = 5
CANDIDATES = (              # (C, class_weight): picked per data set by OOF figures
    (0.5, None),
    (1.0, "balanced"),
)
_PUNCT = re.compile(r"^[\W_]+$")


def _words(text: str) -> list[str]:
    """jieba words without punctuation; the word analyzer of the vectorizer."""
    return [w for w in tokenize(text) if not _PUNCT.match(w)]


_SPACES = re.compile(r"\s\s+")


def _char_grams(text: str) -> list[str]:
    """Character 1–3-grams, lower-cased, runs of whitespace as one space."""
    text = _SPACES.sub(" ", text.lower())
    grams = list(text)
    for n in (2, 3):
        grams += [text[i:i + n] for i in range(len(text) - n + 1)]
    return grams


class _Space:
    """One TF-IDF feature space (sublinear tf, l2-normalised), stored as plain data so a model
    file does not depend on scikit-learn's pickles: a vocabulary and an idf array."""

    def __init__(self, analyzer, vocabulary: dict[str, int], idf: np.ndarray):
        self.analyzer = analyzer
        self.vocabulary = vocabulary
        self.idf = np.asarray(idf, dtype=np.float32)

    def __getstate__(self):
        return {"analyzer": self.analyzer.__name__, "vocabulary": self.vocabulary, "idf": self.idf}

    def __setstate__(self, state):
        state["analyzer"] = _ANALYZERS[state["analyzer"]]
        self.__dict__.update(state)

    def names(self) -> np.ndarray:
        out = np.empty(len(self.vocabulary), dtype=object)
        for name, i in self.vocabulary.items():
            out[i] = name
        return out

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        vocab, idf = self.vocabulary, self.idf
        indptr, indices, data = [0], [], []
        for text in texts:
            counts = Counter(g for g in self.analyzer(text) if g in vocab)
            if counts:
                cols = np.fromiter((vocab[g] for g in counts), dtype=np.int32, count=len(counts))
                vals = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float32,
                                                 count=len(counts)))) * idf[cols]
                vals /= np.sqrt((vals * vals).sum())
                indices.append(cols)
                data.append(vals.astype(np.float32))
            indptr.append(indptr[-1] + len(counts))
        return sp.csr_matrix(
            (np.concatenate(data) if data else np.zeros(0, np.float32),
             np.concatenate(indices) if indices else np.zeros(0, np.int32), indptr),
            shape=(len(texts), len(vocab)))


def _clean(text) -> str:
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    return text[:MAX_CHARS]


_ANALYZERS = {"_words": _words, "_char_grams": _char_grams}


def _softmax(z: np.ndarray, temperature: float) -> np.ndarray:
    z = z / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _top_features(scores: np.ndarray) -> np.ndarray:
    """Columns the confidence model sees, from raw decision scores (n × classes)."""
    s = np.sort(scores, axis=1)
    return np.c_[s[:, -1], s[:, -1] - s[:, -2], s[:, -2]]


class TextModel:
    def __init__(self, classes, word_vec, char_vec, weights, intercept, temperature,
                 conf_coef, conf_class, conf_bias, priors, info=None):
        self.classes = np.asarray(classes)
        self.word_vec = word_vec                 # _Space over jieba words
        self.char_vec = char_vec                 # _Space over character 1–3-grams
        self.weights = weights                   # CSR float32, n_features × n_classes
        self.intercept = np.asarray(intercept, dtype=np.float32)
        self.temperature = float(temperature)
        self.conf_coef = np.asarray(conf_coef, dtype=np.float64)    # on _top_features
        self.conf_class = np.asarray(conf_class, dtype=np.float64)  # per predicted label
        self.conf_bias = float(conf_bias)
        self.priors = np.asarray(priors, dtype=np.float64)
        self.info = info or {}
        self._names = None

    @property
    def labels(self) -> list[str]:
        return [str(c) for c in self.classes]

    # ---------------------------------------------------------------- training
    @classmethod
    def train(cls, texts: list[str], labels: list[str], progress: bool = True) -> "TextModel":
        from tqdm import tqdm

        texts = [_clean(t) for t in texts]
        labels = [str(l).strip() for l in labels]
        if len(texts) != len(labels):
            raise ValueError(f"texts and labels differ in length ({len(texts)} vs {len(labels)})")
        keep = [i for i, (t, l) in enumerate(zip(texts, labels)) if t.strip() and l]
        texts = [texts[i] for i in keep]
        y = np.array([labels[i] for i in keep])
        classes, y_idx = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError("训练数据至少需要两个类别 / training data needs at least two labels")

        steps = 2 + len(CANDIDATES) * (FOLDS + 1) + 2
        bar = tqdm(total=steps, desc="training", unit="step", disable=not progress)

        bar.set_postfix_str("jieba words")
        word_vec = TfidfVectorizer(analyzer=_words, sublinear_tf=True, dtype=np.float32)
        Xw = word_vec.fit_transform(texts)
        bar.update()
        bar.set_postfix_str("char n-grams")
        char_vec = TfidfVectorizer(analyzer=_char_grams, sublinear_tf=True,
                                   min_df=2 if len(texts) >= 200 else 1, dtype=np.float32)
        Xc = char_vec.fit_transform(texts)
        bar.update()
        X = sp.hstack([Xw, Xc]).tocsr()

        # Out-of-fold decision scores pick the variant and fit the confidence. The vectorizers
        # are fitted on all rows (vocabulary/idf only), which leaks little and saves 5 fits.
        n_folds = max(2, min(FOLDS, len(texts) // 2))
        folds = list(KFold(n_folds, shuffle=True, random_state=0).split(np.arange(len(texts))))
        best = None
        for C, cw in CANDIDATES:
            bar.set_postfix_str(f"C={C} {cw or 'unweighted'}")
            oof = np.zeros((len(texts), len(classes)))
            for tr, te in folds:
                oof[te] = _fit_scores(X[tr], y_idx[tr], X[te], len(classes), C, cw)
                bar.update()
            pred = oof.argmax(1)
            score = (pred == y_idx).mean() + f1_score(y_idx, pred, average="macro")
            if best is None or score > best[0]:
                best = (score, C, cw, oof)
            bar.update()
        _, C, cw, oof = best

        bar.set_postfix_str("final fit")
        svm = LinearSVC(C=C, class_weight=cw).fit(X, y_idx)
        coef = svm.coef_ if len(classes) > 2 else np.vstack([-svm.coef_, svm.coef_])
        intercept = svm.intercept_ if len(classes) > 2 else np.r_[-svm.intercept_, svm.intercept_]
        bar.update()

        bar.set_postfix_str("calibration")
        temperature = _fit_temperature(oof, y_idx)
        conf = _fit_confidence(oof, y_idx, len(classes))
        bar.update()
        bar.close()

        weights, word_vec, char_vec = _prune(coef, word_vec, char_vec, WEIGHT_BUDGET)
        priors = np.bincount(y_idx, minlength=len(classes)) / len(y_idx)
        info = {"n": len(texts), "C": C, "class_weight": cw or "none",
                "oof_accuracy": round(float((oof.argmax(1) == y_idx).mean()), 4),
                "features": int(weights.shape[0]), "weights": int(weights.nnz)}
        return cls(classes, word_vec, char_vec, weights, intercept, temperature,
                   *conf, priors, info)

    # ---------------------------------------------------------------- persistence
    def save(self, path) -> None:
        state = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        joblib.dump({"format": FORMAT, **state}, path, compress=3)

    @classmethod
    def load(cls, path) -> "TextModel":
        state = joblib.load(path)
        if not isinstance(state, dict) or state.pop("format", None) != FORMAT:
            raise ValueError(f"不是网格通文本模型 / not a Gridline text model: {path}")
        return cls(**state)

    # ---------------------------------------------------------------- prediction
    def _features(self, texts: list[str]):
        texts = [_clean(t) for t in texts]
        return sp.hstack([self.word_vec.transform(texts), self.char_vec.transform(texts)]).tocsr()

    def decision(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Raw scores (n × classes) and, per text, how many known features it had."""
        X = self._features(texts)
        scores = np.asarray(X @ self.weights, dtype=np.float64) + self.intercept
        return scores, np.diff(X.indptr)

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """Calibrated probabilities (n × classes): softmax, with the top-1 value replaced by
        the confidence model's P(correct) and the others scaled into what is left."""
        scores, known = self.decision(texts)
        p = _softmax(scores, self.temperature)
        top = scores.argmax(1)
        rows = np.arange(len(top))
        z = _top_features(scores) @ self.conf_coef + self.conf_class[top] + self.conf_bias
        conf = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        p1 = p[rows, top]
        rest = (1.0 - conf) / np.maximum(1.0 - p1, 1e-12)
        p = np.minimum(p * rest[:, None], conf[:, None])   # never above the top-1
        p[rows, top] = conf
        # Nothing we know (empty, emoji, another script): fall back to the label frequencies.
        p[known == 0] = self.priors
        return np.clip(p, 0.0, 1.0)

    def predict(self, texts: list[str], k: int = 3) -> list[list[tuple[str, float]]]:
        if isinstance(texts, str):
            texts = [texts]
        if not texts:
            return []
        p = self.probabilities(list(texts))
        k = max(1, min(k, len(self.classes)))
        order = np.argsort(-p, axis=1, kind="stable")[:, :k]
        return [[(str(self.classes[j]), float(p[i, j])) for j in row] for i, row in enumerate(order)]

    # ---------------------------------------------------------------- explanation
    def contributions(self, text: str, label: str) -> list[tuple[str, float]]:
        """(word or n-gram, contribution to `label`) for features of `text`, largest first."""
        if self._names is None:
            self._names = np.r_[self.word_vec.names(), self.char_vec.names()]
        hits = np.flatnonzero(self.classes == label)
        if not len(hits):
            return []
        X = self._features([text])
        col = self.weights[:, hits[0]].toarray().ravel()
        contrib = X.data * col[X.indices]
        order = np.argsort(-contrib)
        return [(str(self._names[X.indices[i]]), float(contrib[i])) for i in order]

    def explain(self, text: str, label: str, n: int = 5) -> list[str]:
        """The words (or character n-grams) of `text` that most pushed toward `label`.

        Single characters and n-grams inside an already named word are skipped, so the answer
        reads like 井盖 / 破损 rather than 井, 井盖, 盖."""
        ranked = [(name.strip(), v) for name, v in self.contributions(text, label) if v > 0]
        out: list[str] = []
        for name, _ in ranked:
            if len(out) >= n:
                break
            if len(name) >= 2 and not any(name in seen or seen in name for seen in out):
                out.append(name)
        for name, _ in ranked:   # short texts: single characters are better than nothing
            if len(out) >= n:
                break
            if name and not any(name in seen for seen in out):
                out.append(name)
        return out

    def __repr__(self) -> str:
        return f"TextModel({len(self.classes)} labels, {self.info})"


# -------------------------------------------------------------------- helpers for train
def _fit_scores(Xtr, ytr, Xte, n_classes, C, cw) -> np.ndarray:
    """Decision scores of a model fitted on one fold, in the full label order."""
    out = np.full((Xte.shape[0], n_classes), -2.0)   # a label absent from the fold: unlikely
    present = np.unique(ytr)
    if len(present) == 1:
        out[:, present[0]] = 1.0
        return out
    svm = LinearSVC(C=C, class_weight=cw).fit(Xtr, ytr)
    d = svm.decision_function(Xte)
    if d.ndim == 1:
        d = np.c_[-d, d]
    out[:, svm.classes_] = d
    return out


def _fit_temperature(scores: np.ndarray, y: np.ndarray) -> float:
    rows = np.arange(len(y))
    best = (math.inf, 1.0)
    for t in np.geomspace(0.02, 2.0, 40):
        nll = -np.log(_softmax(scores, t)[rows, y] + 1e-12).mean()
        best = min(best, (nll, float(t)))
    return best[1]


def _fit_confidence(scores: np.ndarray, y: np.ndarray, n_classes: int):
    """Logistic model of P(top-1 right) on score features + a bias per predicted label."""
    from sklearn.linear_model import LogisticRegression

    top = scores.argmax(1)
    right = top == y
    if right.all() or not right.any():   # degenerate (tiny data): trust the softmax shape
        return np.zeros(3), np.zeros(n_classes), 3.0 if right.all() else -3.0
    onehot = sp.csr_matrix((np.ones(len(top)), (np.arange(len(top)), top)),
                           shape=(len(top), n_classes))
    X = sp.hstack([sp.csr_matrix(_top_features(scores)), onehot]).tocsr()
    lr = LogisticRegression(C=1.0, max_iter=2000).fit(X, right)
    coef = lr.coef_.ravel()
    return coef[:3], coef[3:], float(lr.intercept_[0])


def _prune(coef: np.ndarray, word_vec, char_vec, budget: int):
    """Keep the `budget` largest |weights|; drop features that keep none."""
    W = np.asarray(coef.T, dtype=np.float32)            # n_features × n_classes
    if W.size > budget:
        cut = np.partition(np.abs(W).ravel(), W.size - budget)[W.size - budget]
        W[np.abs(W) < cut] = 0.0
    used = np.flatnonzero(np.abs(W).sum(1) > 0)
    n_words = len(word_vec.vocabulary_)
    spaces = []
    for vec, analyzer, lo, hi in ((word_vec, _words, 0, n_words),
                                  (char_vec, _char_grams, n_words, W.shape[0])):
        names = vec.get_feature_names_out()
        keep = used[(used >= lo) & (used < hi)] - lo
        spaces.append(_Space(analyzer, {str(names[j]): i for i, j in enumerate(keep)},
                             vec.idf_[keep]))
    return sp.csr_matrix(W[used]), spaces[0], spaces[1]
