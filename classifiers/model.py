"""A text classifier learned from a city's historical work orders (category or department).

Features: TF-IDF (sublinear tf) of the 10,000 most frequent jieba words plus the 10,000 most
frequent character 1–2-grams, which catch what jieba splits badly (place names, typos). Text is
prepared as the keyword rules prepare it (classifiers.textprep: traditional → simplified,
full-width → half-width), and segmented with the same jieba words the rules use. On the Haikou
(time split) and Teddy (5-fold) data, character trigrams and larger vocabularies gained nothing
(±0.005), while they cost a third of the time per message and twice the memory; the weight
matrix stays dense and small (20k × 129 labels × 4 B ≈ 10 MB).

Model: a linear SVM, C and class weighting picked per data set by 5-fold out-of-fold (OOF)
accuracy on the training rows. Linear, so every prediction is explainable: a feature's
contribution to a label is its tf-idf value times the label's weight; `explain` names the top.

Confidence: SVM margins are not probabilities. From the OOF scores we fit (1) a softmax
temperature for the whole list and (2) a small logistic model P(top-1 is right | top score,
margin, evidence, predicted label) for the top-1 probability, the number a dispatcher puts a
threshold on. Some departments are routinely ambiguous (政府服务中心, 街道办); (2) learns that.

The model file holds plain data (an .npz of numpy arrays and a JSON header with the vocabularies),
read without pickle: it loads fast, survives a scikit-learn upgrade, and a model file cannot run
code in the worker. scipy and scikit-learn are imported only to train and to classify in batches,
so a worker classifying one message at a time stays small.
"""
from __future__ import annotations

import math
import os
import re
from collections import Counter
from operator import add
from typing import TYPE_CHECKING, NamedTuple

import json

import numpy as np

from classifiers.textprep import normalize
from classifiers.tokenizer import tokenize

if TYPE_CHECKING:  # scipy is imported only where a batch needs it (see above)
    import scipy.sparse as sp

FORMAT = "gridline-textmodel/2"   # 2: jieba without HMM, text normalised (textprep)
MAX_CHARS = 3000            # a 10 kB paste is classified on its first 3000 characters
MAX_WORDS = 10_000          # most frequent jieba words kept as features
MAX_CHAR_GRAMS = 10_000     # most frequent character 1–2-grams kept as features
MAX_TOKENS = 50_000         # tokens whose grams a process keeps (~320 B each: 16 MB at most; 12,000 Haikou orders have 18,000)
FOLDS = 5
CANDIDATES = (              # (C, class_weight), picked per data set by OOF accuracy
    (0.3, None),            # Haikou departments: rare labels are rare for a reason
    (1.0, "balanced"),      # Teddy classes: balanced weighting lifts macro-F1
)
_PUNCT = re.compile(r"^[\W_]+$")
_SPACES = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[\W_]")


class Vector(NamedTuple):
    """One text's features: ids (jieba words first, then character n-grams), tf-idf values, and
    how many of them are words."""
    cols: np.ndarray
    vals: np.ndarray
    n_words: int


class ModelError(ValueError):
    """A model file that cannot be used; the message names the file."""


def _clean(text) -> str:
    """Same preparation as the keyword rules (classifiers.textprep): traditional → simplified,
    full-width → half-width, so the model sees what it was trained on."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    return normalize(text[:MAX_CHARS]).strip()


def _words(text: str, tokens: list[str] | None = None) -> list[str]:
    """jieba words (or the caller's tokens of the same text), lower-cased, without punctuation."""
    return [w.lower() for w in (tokenize(text) if tokens is None else tokens) if not _PUNCT.match(w)]


def _char_grams(text: str) -> list[str]:
    """Character 1–2-grams, lower-cased, whitespace runs as one space, no blank unigram."""
    text = _SPACES.sub(" ", text.lower())
    grams = [c for c in text if c != " "]
    grams += [text[i:i + 2] for i in range(len(text) - 1)]
    return grams


_ANALYZERS = {"words": _words, "char_grams": _char_grams}


class FeatureSpace:
    """One TF-IDF feature space (sublinear tf, l2-normalised rows) as plain data: an analyzer
    name, a vocabulary and an idf array. Same numbers as scikit-learn's TfidfVectorizer."""

    def __init__(self, analyzer: str, vocabulary: dict[str, int], idf):
        self.analyzer = analyzer
        self.vocabulary = vocabulary
        self.idf = np.asarray(idf, dtype=np.float32)

    @classmethod
    def fit(cls, analyzer: str, texts: list[str], max_features: int, min_df: int = 1):
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(analyzer=_ANALYZERS[analyzer], sublinear_tf=True, min_df=min_df,
                              max_features=max_features, dtype=np.float32)
        vec.fit(texts)
        return cls(analyzer, {str(k): int(v) for k, v in vec.vocabulary_.items()}, vec.idf_)

    def names(self) -> np.ndarray:
        out = np.empty(len(self.vocabulary), dtype=object)
        for name, i in self.vocabulary.items():
            out[i] = name
        return out

    def vector(self, text: str, tokens: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(feature ids, tf-idf values) of one text; plain numpy, no per-call scipy overhead.
        `tokens`: the text's jieba words when the caller has them (word features only)."""
        grams = _words(text, tokens) if self.analyzer == "words" else _ANALYZERS[self.analyzer](text)
        counts = Counter(map(self.vocabulary.get, grams))
        counts.pop(None, None)
        if not counts:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        cols = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        vals = (1.0 + np.log(tf)) * self.idf[cols]
        return cols, vals / np.sqrt(np.dot(vals, vals))

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        import scipy.sparse as sp
        parts = [self.vector(t) for t in texts]
        indptr = np.r_[0, np.cumsum([len(c) for c, _ in parts])]
        return sp.csr_matrix(
            (np.concatenate([v for _, v in parts] + [np.zeros(0, np.float32)]),
             np.concatenate([c for c, _ in parts] + [np.zeros(0, np.int64)]), indptr),
            shape=(len(texts), len(self.vocabulary)))


def _softmax(z: np.ndarray, temperature: float) -> np.ndarray:
    z = z / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _confidence_inputs(scores: np.ndarray, known: np.ndarray) -> np.ndarray:
    """What the confidence model sees: top score, margin to the runner-up, runner-up score,
    and how much evidence the text had (log of its number of known features)."""
    s = np.partition(scores, -2, axis=1)[:, -2:] if scores.shape[1] > 2 else np.sort(scores, 1)
    return np.column_stack((s[:, 1], s[:, 1] - s[:, 0], s[:, 0], np.log1p(known)))


class TextModel:
    def __init__(self, classes, words: FeatureSpace, chars: FeatureSpace, weights, intercept,
                 temperature, conf_coef, conf_label, conf_bias, priors, info=None):
        self.classes = np.asarray(classes)
        self.words = words
        self.chars = chars
        self.weights = np.asarray(weights, dtype=np.float32)     # n_features × n_labels
        self.intercept = np.asarray(intercept, dtype=np.float32)
        self.temperature = float(temperature)
        self.conf_coef = np.asarray(conf_coef, dtype=np.float64)   # on _confidence_inputs
        self.conf_label = np.asarray(conf_label, dtype=np.float64) # bias per predicted label
        self.conf_bias = float(conf_bias)
        self.priors = np.asarray(priors, dtype=np.float64)
        self.info = info or {}
        self._names = None
        self._idf = None            # the inference path's lookups, made on first use
        self._labels = [str(c) for c in self.classes]
        self._label_index = {label: j for j, label in enumerate(self._labels)}

    @property
    def labels(self) -> list[str]:
        return list(self._labels)

    # ---------------------------------------------------------------- training
    @classmethod
    def train(cls, texts: list[str], labels: list[str], progress: bool = True) -> "TextModel":
        import scipy.sparse as sp
        from sklearn.model_selection import KFold
        from tqdm import tqdm

        if len(texts) != len(labels):
            raise ValueError(f"texts and labels differ in length ({len(texts)} vs {len(labels)})")
        pairs = [(_clean(t), str(l).strip()) for t, l in zip(texts, labels)]
        pairs = [(t, l) for t, l in pairs if t and l]
        if not pairs:
            raise ValueError("没有可训练的数据 / no usable training rows (empty text or label)")
        texts = [t for t, _ in pairs]
        classes, y = np.unique([l for _, l in pairs], return_inverse=True)
        if len(classes) < 2:
            raise ValueError("训练数据至少需要两个类别 / training data needs at least two labels")

        n_folds = max(2, min(FOLDS, len(texts) // 5))
        bar = tqdm(total=2 + len(CANDIDATES) * n_folds + 2, desc="training", unit="step",
                   disable=not progress)
        bar.set_postfix_str("jieba words")
        words = FeatureSpace.fit("words", texts, MAX_WORDS)
        bar.update()
        bar.set_postfix_str("character n-grams")
        chars = FeatureSpace.fit("char_grams", texts, MAX_CHAR_GRAMS,
                                 min_df=2 if len(texts) >= 500 else 1)
        X = sp.hstack([words.transform(texts), chars.transform(texts)]).tocsr()
        known = np.diff(X.indptr)
        bar.update()

        # Out-of-fold scores pick the variant and fit the confidence. The vocabularies were
        # chosen by frequency on all rows, which uses no label and so leaks nothing.
        folds = list(KFold(n_folds, shuffle=True, random_state=0).split(X))
        best = None
        for C, cw in CANDIDATES:
            bar.set_postfix_str(f"C={C} {cw or 'unweighted'}")
            oof = np.zeros((len(texts), len(classes)))
            for tr, te in folds:
                oof[te] = _fold_scores(X[tr], y[tr], X[te], len(classes), C, cw)
                bar.update()
            accuracy = float((oof.argmax(1) == y).mean())
            if best is None or accuracy > best[0]:
                best = (accuracy, C, cw, oof)
        accuracy, C, cw, oof = best

        bar.set_postfix_str("final fit")
        weights, intercept = _fit_svm(X, y, C, cw)
        bar.update()
        bar.set_postfix_str("calibration")
        temperature = _fit_temperature(oof, y)
        conf = _fit_confidence(oof, known, y, len(classes))
        bar.update()
        bar.close()

        priors = np.bincount(y, minlength=len(classes)) / len(y)
        info = {"n": len(texts), "C": C, "class_weight": cw or "none",
                "oof_accuracy": round(accuracy, 4), "features": int(X.shape[1])}
        return cls(classes, words, chars, weights, intercept, temperature, *conf, priors, info)

    # ---------------------------------------------------------------- persistence
    _ARRAYS = ("classes", "weights", "intercept", "conf_coef", "conf_label", "priors")

    def save(self, path) -> None:
        header = {"format": FORMAT, "temperature": self.temperature, "conf_bias": self.conf_bias,
                  "info": self.info,
                  "spaces": {name: {"analyzer": space.analyzer, "vocabulary": space.vocabulary}
                             for name, space in (("words", self.words), ("chars", self.chars))}}
        arrays = {name: getattr(self, name) for name in self._ARRAYS}
        arrays["classes"] = np.asarray(self._labels, dtype=str)
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        with open(path, "wb") as f:                  # a file object: numpy adds no .npz suffix
            np.savez_compressed(f, header=np.array(json.dumps(header, ensure_ascii=False)),
                                words_idf=self.words.idf, chars_idf=self.chars.idf, **arrays)

    @classmethod
    def load(cls, path) -> "TextModel":
        """The model in `path`; a missing, truncated or foreign file is a ModelError naming it."""
        if not os.path.isfile(path):
            raise ModelError(f"找不到模型文件 / model file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {name: z[name] for name in z.files}
            header = json.loads(str(data.pop("header")))
        except Exception as e:      # zip, zlib, numpy and JSON raise many types on a damaged file
            raise ModelError(f"不是网格通文本模型，或文件已损坏 / not a Gridline text model, or damaged: "
                             f"{path} ({type(e).__name__}: {e})") from e
        found = header.get("format") if isinstance(header, dict) else None
        if found != FORMAT:
            if str(found).startswith("gridline-textmodel/"):
                raise ModelError(f"模型格式 {found} 已过时，请用 gridline train 重新训练 / "
                                 f"model format {found} is outdated, retrain it: {path}")
            raise ModelError(f"不是网格通文本模型 / not a Gridline text model: {path}")
        try:
            spaces = {name: FeatureSpace(h["analyzer"], h["vocabulary"], data[f"{name}_idf"])
                      for name, h in header["spaces"].items()}
            return cls(words=spaces["words"], chars=spaces["chars"], temperature=header["temperature"],
                       conf_bias=header["conf_bias"], info=header["info"],
                       **{name: data[name] for name in cls._ARRAYS})
        except Exception as e:
            raise ModelError(f"模型文件内容不完整 / incomplete model file {path}: {e}") from e

    # ---------------------------------------------------------------- prediction
    def features(self, texts: list[str]) -> sp.csr_matrix:
        import scipy.sparse as sp
        texts = [_clean(t) for t in texts]
        return sp.hstack([self.words.transform(texts), self.chars.transform(texts)],
                         format="csr")

    def decision(self, texts: list[str], tokens: list[list[str]] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Raw scores (n × labels) and, per text, how many known features it had."""
        X, _ = self.matrix([_clean(t) for t in texts], tokens)
        return self.scores_many(X), np.diff(X.indptr)

    def _lookups(self) -> None:
        offset = len(self.words.vocabulary)       # n-grams are looked up by their column
        self._wget = self.words.vocabulary.get
        self._cget_shifted = {g: i + offset for g, i in self.chars.vocabulary.items()}.get
        self._idf = np.concatenate((self.words.idf, self.chars.idf))
        self._idf_list = self._idf.tolist()
        self._conf_coef = [float(x) for x in self.conf_coef]      # Python floats: scalar maths
        self._intercept64 = self.intercept.astype(np.float64)
        self._conf_label = [float(x) + self.conf_bias for x in self.conf_label]
        self._tokens: dict[str, tuple] = {}                       # token → _token_entry

    def _ids(self, text: str, tokens: list[str]) -> tuple[list[int], list[int]]:
        """The known feature ids of a prepared text: its words' and its character 1–2-grams'.

        The grams are the tokens' own (kept per token, so a frequent word's grams are looked up
        once per process) plus the bigram across each boundary between two tokens, a run of
        whitespace between them counting as one space: the same grams as _char_grams(text) when
        the tokens spell the text (tokenize drops only whitespace) and lower-casing it goes letter
        by letter (no letter that grows, no final sigma). Any other text takes the plain way. The
        same ids either way (tests/test_model.py)."""
        get, cget = self._tokens.get, self._cget_shifted
        n = len(text)
        if "Σ" not in text and len(text.lower()) == n:
            words: list[int] = []
            chars: list[int] = []
            last, pos = "", 0
            for token in tokens:
                if pos < n and text[pos].isspace():
                    last, pos = self._space(text, pos, last, chars)
                entry = get(token) or self._token_entry(token)
                if entry[0] is not None:
                    words.append(entry[0])
                chars += entry[1]
                if last and entry[2] and (b := cget(last + entry[2])) is not None:
                    chars.append(b)
                last, pos = entry[3] or last, pos + len(token)
            if pos < n and text[pos].isspace():
                last, pos = self._space(text, pos, last, chars)
            if pos == n:
                return words, chars
        wget = self._wget
        return ([i for i in map(wget, map(str.lower, tokens)) if i is not None],   # no punctuation in the vocabulary
                [i for i in map(cget, _char_grams(text)) if i is not None])

    def _space(self, text: str, pos: int, last: str, chars: list[int]) -> tuple[str, int]:
        """Past a run of whitespace at `pos`: one space, and the bigram it ends (as _char_grams)."""
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if last and (b := self._cget_shifted(last + " ")) is not None:
            chars.append(b)
        return " ", pos

    def _token_entry(self, token: str) -> tuple:
        """(word id, the ids of the token's own grams, its first and last letter), lower-cased."""
        low = token.lower()
        entry = (self._wget(low), [i for i in map(self._cget_shifted, [*low, *map(add, low, low[1:])]) if i is not None],
                 low[:1], low[-1:])
        if len(self._tokens) >= MAX_TOKENS:          # numbers and plates are endless: start again
            self._tokens.clear()
        self._tokens[token] = entry
        return entry

    def vector(self, text: str, tokens: list[str] | None = None) -> Vector:
        """The tf-idf features of one prepared text (classifiers.textprep; its jieba words if the
        caller has them): the same numbers as `features`, for one message at a time (the
        operator's preview, the API). A few dozen values: plain Python, then two numpy arrays
        (between jieba's calls, each numpy call also slows the interpreter around it)."""
        if self._idf is None:
            self._lookups()
        word_ids, char_ids = self._ids(text, tokenize(text) if tokens is None else tokens)
        words, chars = Counter(word_ids), Counter(char_ids)
        if not words and not chars:
            return Vector(np.zeros(0, np.int64), np.zeros(0, np.float32), 0)
        idf, log = self._idf_list, math.log
        vals = []
        for counts in (words, chars):                # each space is l2-normalised on its own
            part = [(1.0 + log(n)) * idf[c] for c, n in counts.items()]
            norm = math.sqrt(sum(x * x for x in part))
            vals += [x / norm for x in part]
        return Vector(np.array([*words, *chars], dtype=np.int64), np.array(vals, dtype=np.float32),
                      len(words))

    def matrix(self, texts: list[str], tokens: list[list[str]] | None = None) -> tuple[sp.csr_matrix, np.ndarray]:
        """The same features for many prepared texts at once (rows: words first, then character
        n-grams), and each row's number of words. Python only looks the grams up; counting,
        tf-idf and the norms are numpy calls on the whole batch (a third of the time of a
        Counter per text)."""
        import scipy.sparse as sp
        if self._idf is None:
            self._lookups()
        ids: list[int] = []
        lengths: list[int] = []
        for r, text in enumerate(texts):
            word_ids, char_ids = self._ids(text, tokenize(text) if tokens is None else tokens[r])
            ids += word_ids
            ids += char_ids
            lengths.append(len(word_ids) + len(char_ids))
        n_cols = len(self._idf)
        cols = np.array(ids, dtype=np.int64)
        rows = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
        known = cols >= 0
        keys, tf = np.unique(rows[known] * n_cols + cols[known], return_counts=True)
        rows, cols = np.divmod(keys, n_cols)                 # sorted: by row, words before n-grams
        vals = np.log(tf.astype(np.float32))
        vals += 1.0
        vals *= self._idf[cols]
        is_char = cols >= len(self.words.vocabulary)
        seg = rows * 2 + is_char                             # each space is l2-normalised on its own
        vals /= np.sqrt(np.bincount(seg, vals * vals, 2 * len(texts)))[seg].astype(np.float32)
        indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=len(texts)))]
        X = sp.csr_matrix((vals, cols, indptr), shape=(len(texts), n_cols))
        return X, np.bincount(rows[~is_char], minlength=len(texts))

    def scores_many(self, X: sp.csr_matrix) -> np.ndarray:
        return np.asarray(X @ self.weights) + self.intercept

    def calibrated_many(self, S: np.ndarray, known: np.ndarray) -> np.ndarray:
        """`calibrated_list` for every row of raw scores at once (n × labels)."""
        n, k = S.shape
        rows = np.arange(n)
        top = S.argmax(1)
        first = S[rows, top]
        second = np.partition(S, -2, axis=1)[:, -2] if k > 2 else S.min(1)
        c = self.conf_coef
        z = (c[0] * first + c[1] * (first - second) + c[2] * second + c[3] * np.log1p(known)
             + self.conf_label[top] + self.conf_bias)
        conf = 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
        e = np.exp((S - first[:, None]) / self.temperature)
        e[rows, top] = 0.0         # the rest summed without the top's 1.0 (in float32, 1 + 1e-5 - 1
        rest = e.sum(1)            # keeps only two digits of the rest)
        scale = np.divide(1.0 - conf, rest, out=np.zeros(n), where=rest > 0)
        p = np.minimum(e * scale[:, None], conf[:, None])
        p[rows, top] = conf
        p[known == 0] = self.priors                  # nothing we know: label frequencies
        return p

    def scores(self, v: Vector) -> np.ndarray:
        """Raw scores of a vector, one per label."""
        return v.vals @ self.weights[v.cols] + self.intercept

    def calibrated(self, v: Vector) -> np.ndarray:
        """Calibrated probabilities of a vector (in `labels` order)."""
        return self.calibrated_best(v)[0]

    def calibrated_best(self, v: Vector, k: int = 3) -> tuple[np.ndarray, list[int]]:
        """One message: its calibrated probabilities (in `labels` order) and its k best label
        indices, best first: what `calibrated_many` gives a row. The confidence model's inputs
        are a few Python floats, and the arrays are changed in place: a dozen small numpy calls,
        none over the labels in Python (a list comprehension over 121 labels costs as much as
        all of them).

        The softmax list, with the top-1 value set to the confidence model's P(top-1 right) and
        the others scaled into what is left (never above the top-1)."""
        if not len(v.cols):                # nothing we know (empty, emoji): label frequencies
            p = self.priors.copy()
            return p, np.argsort(-p, kind="stable")[:k].tolist()
        if self._idf is None:
            self._lookups()
        s = v.vals @ self.weights[v.cols] + self._intercept64    # float64 from here, as a batch
        k = min(k, len(s))
        best = np.argpartition(s, -k)[-k:].tolist() if len(s) > k else list(range(k))
        scores = [float(s[j]) for j in best]
        order = sorted(range(k), key=lambda i: (-scores[i], best[i]))
        best, scores = [best[i] for i in order], [scores[i] for i in order]
        top, first = best[0], scores[0]
        second = scores[1] if k > 1 else first
        c0, c1, c2, c3 = self._conf_coef
        z = (c0 * first + c1 * (first - second) + c2 * second + c3 * math.log1p(len(v.cols))
             + self._conf_label[top])
        conf = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
        s -= first
        s *= 1.0 / self.temperature
        e = np.exp(s, out=s)
        e[top] = 0.0                                           # as in calibrated_many
        rest = float(e.sum())
        e *= (1.0 - conf) / rest if rest > 0 else 0.0
        p = np.minimum(e, conf, out=e)
        p[top] = conf
        return p, best

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """Calibrated probabilities, n texts × labels (in `labels` order)."""
        if len(texts) == 1:                 # one message: the path without scipy
            return self.calibrated(self.vector(_clean(texts[0])))[None, :]
        return self.calibrated_many(*self.decision(texts))

    def predict(self, texts: list[str], k: int = 3) -> list[list[tuple[str, float]]]:
        """For each text the top-k (label, probability), best first."""
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if not texts:
            return []
        k = max(1, min(int(k), len(self.classes)))
        out = []
        for p in self.probabilities(texts):
            best = np.argsort(-p, kind="stable")[:k]
            out.append([(self._labels[j], min(1.0, max(0.0, float(p[j])))) for j in best])
        return out

    # ---------------------------------------------------------------- explanation
    def explain(self, text, label: str, n: int = 5, tokens: list[str] | None = None,
                words_only: bool = False) -> list[str]:
        """The words (or character n-grams) of `text` (or of its Vector) that most pushed toward
        `label`.

        Single characters and n-grams overlapping an already named word are skipped, so the
        answer reads 井盖, 破损 rather than 井, 井盖, 盖 — unless nothing longer is left.
        `words_only`: jieba words of two or more characters only (what an operator reads)."""
        j = self._label_index.get(label)
        if j is None:
            return []
        if self._names is None:
            self._names = [*self.words.names(), *self.chars.names()]
        v = text if isinstance(text, Vector) else self.vector(_clean(text), tokens)
        k = v.n_words if words_only else len(v.cols)
        cols = v.cols[:k]
        contrib = (v.vals[:k] * self.weights[cols, j]).tolist()   # short lists: sorted in Python
        names = self._names
        ranked = [names[c] for x, c in sorted(zip(contrib, cols.tolist()), reverse=True)
                  if x > 0 and not _NOT_WORD.search(names[c])]     # no punctuation or spaces
        out: list[str] = []
        for name in ranked:
            if len(out) < n and len(name) >= 2 and not any(name in s or s in name for s in out):
                out.append(name)
        for name in ranked:
            if len(out) < n and name and not words_only and not any(name in s for s in out):
                out.append(name)
        return out

    def __repr__(self) -> str:
        return f"TextModel({len(self.classes)} labels, {self.info})"


# -------------------------------------------------------------------- training helpers
def _fit_svm(X, y, C, class_weight) -> tuple[np.ndarray, np.ndarray]:
    """Weights (n_features × labels present) and intercepts of a one-vs-rest linear SVM."""
    from sklearn.svm import LinearSVC

    svm = LinearSVC(C=C, class_weight=class_weight).fit(X, y)
    coef, b = svm.coef_, svm.intercept_
    if coef.shape[0] == 1:                                   # two labels: one hyperplane
        coef, b = np.vstack([-coef, coef]), np.r_[-b, b]
    return coef.T.astype(np.float32), b.astype(np.float32)


def _fold_scores(Xtr, ytr, Xte, n_labels, C, class_weight) -> np.ndarray:
    """Scores of a model fitted on one fold, in the full label order."""
    out = np.full((Xte.shape[0], n_labels), -2.0)    # a label absent from the fold: unlikely
    present = np.unique(ytr)
    if len(present) == 1:
        out[:, present[0]] = 1.0
        return out
    ymap = np.searchsorted(present, ytr)
    W, b = _fit_svm(Xtr, ymap, C, class_weight)
    out[:, present] = Xte @ W + b
    return out


def _fit_temperature(scores: np.ndarray, y: np.ndarray) -> float:
    rows = np.arange(len(y))
    best = (math.inf, 1.0)
    for t in np.geomspace(0.02, 2.0, 40):
        nll = -np.log(_softmax(scores, t)[rows, y] + 1e-12).mean()
        best = min(best, (nll, float(t)))
    return best[1]


def _fit_confidence(scores: np.ndarray, known: np.ndarray, y: np.ndarray, n_labels: int):
    """Logistic model of P(top-1 right): coefficients, a bias per predicted label, intercept."""
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression

    top = scores.argmax(1)
    right = top == y
    if right.all() or not right.any():      # tiny data: no errors (or no hits) to learn from
        return np.zeros(4), np.zeros(n_labels), 2.0 if right.all() else -2.0
    onehot = sp.csr_matrix((np.ones(len(top)), (np.arange(len(top)), top)),
                           shape=(len(top), n_labels))
    X = sp.hstack([sp.csr_matrix(_confidence_inputs(scores, known)), onehot], format="csr")
    lr = LogisticRegression(C=1.0, max_iter=3000).fit(X, right)
    coef = lr.coef_.ravel()
    return coef[:4], coef[4:], float(lr.intercept_[0])
