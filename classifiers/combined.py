"""Keyword rules and a model trained on the city's history, working together.

routing_rules.yaml `settings.model` names a model file (`gridline train`). What the model's labels
are decides how it helps; this is checked once, when the model is loaded:

- Catalogue codes (06010, or the category's name): the model votes on the category. Each code's
  probability is the plain average of the keyword probability (the top code gets the keyword
  confidence, the other matched codes share the rest by score) and the model's calibrated
  probability. When only one side has evidence (no keyword matched, or the model knows none of
  the words), that side decides alone. The confidence is the winner's averaged probability, so
  when rules and history disagree it falls below the threshold and the message goes to triage.
- Department names of routing_rules.yaml (a city whose history is labelled by the handling unit,
  like Haikou's 12345 work orders): the keywords still name the category, but each candidate
  category's score is the average of its keyword probability and the model's probability for the
  category's department: history re-ranks the candidates and confirms (or doubts) the routing.
  When that is still below the threshold while the model alone is sure of a department (its
  probability at or above the threshold), the model decides the department and its probability
  is the confidence; the category stays the keywords' best guess. With no keyword at all, there
  is no category to open a case with: triage, with the model's department as the suggestion.
- Labels that are neither are ignored (logged); a model with no usable label is refused at load.

The deciding words are the keywords that matched the winner plus the words the model weighed
most for it (TextModel.explain). Text is segmented once; both sides use the same jieba words.
"""
from __future__ import annotations

import logging

import numpy as np

from classifiers.keywords import Classification, KeywordClassifier
from classifiers.model import ModelError, TextModel, Vector
from classifiers.textprep import prepare
from classifiers.tokenizer import tokenize

log = logging.getLogger("gridline.classifiers")
MODEL_WEIGHT = 0.5      # the model's share of a blended probability; the keywords have the rest
EXPLAIN_WORDS = 3       # model words added to the keyword words that decided it


class CombinedClassifier:
    def __init__(self, keywords: KeywordClassifier, model: TextModel, rules, path: str = ""):
        self.keywords, self.model, self.rules = keywords, model, rules
        self.threshold = float(rules.settings.get("confidence_threshold", 0.45))
        names = {c.name: c.code for c in rules.categories}
        codes = {c.code for c in rules.categories}
        labels = model.labels
        as_code = [lb if lb in codes else names.get(lb) for lb in labels]
        as_dept = [lb if lb in rules.departments else None for lb in labels]
        n_code, n_dept = sum(c is not None for c in as_code), sum(d is not None for d in as_dept)
        if not n_code and not n_dept:
            raise ModelError(
                f"模型 {path} 的标签既不是 routing_rules.yaml 的类别代码/名称，也不是其中的部门名称"
                f"（例如 {'、'.join(labels[:3])}）/ model labels match no category or department")
        self.kind = "category" if n_code >= n_dept else "department"
        target = as_code if self.kind == "category" else as_dept
        ignored = [lb for lb, t in zip(labels, target) if t is None]
        if ignored:
            log.warning("model %s: %d labels are not %s names of the rules and are ignored: %s", path,
                        len(ignored), self.kind, "、".join(ignored[:5]))
        # Targets: the codes (or departments) the model's labels name; two labels may name one.
        self.targets = sorted({t for t in target if t is not None})
        self._index = {t: i for i, t in enumerate(self.targets)}
        # Model columns grouped by target, and where each group starts: a reduceat sums them
        # (plain indexing, no BLAS call whose threads would fight a busy machine).
        grouped = sorted((self._index[t], i) for i, t in enumerate(target) if t is not None)
        self._columns = np.array([i for _, i in grouped])
        self._starts = np.searchsorted([t for t, _ in grouped], np.arange(len(self.targets)))
        self._label_of: dict[str, str] = {}       # a target's model label (the first, if several)
        for t, i in grouped:
            self._label_of.setdefault(self.targets[t], labels[i])
        # Label j → target index, when that is one to one (else None: _per_target sums them).
        self._bijection = ([self._index[t] for t in target]
                           if None not in target and len(set(target)) == len(target) else None)
        self._label_by_target = np.argsort(self._bijection) if self._bijection else None
        self._dept_of = {c.code: rules.department_for(c.code, None, None)[0] for c in rules.categories}

    @classmethod
    def load(cls, keywords: KeywordClassifier, path, rules) -> "CombinedClassifier":
        return cls(keywords, TextModel.load(path), rules, str(path))

    def classify(self, text, tokens: list[str] | None = None) -> Classification:
        prepared = prepare(text)
        if not prepared.usable:
            return Classification(None, None, 0.0, reason=prepared.reason)
        tokens = tokenize(prepared.text) if tokens is None else tokens
        kw = self.keywords.classify_prepared(prepared.text, tokens)
        vector = self.model.vector(prepared.text, tokens)
        if len(vector.cols):            # the model knows some of the words: it has a say
            kw = self._combine(kw, *self._one_per_target(vector), vector)
        if prepared.reason:
            kw.reason = prepared.reason
        return kw

    def classify_many(self, texts) -> list[Classification]:
        """The same answers as `classify`, for a batch (a worker's batch, an import, an evaluation):
        jieba and the keyword rules per message, the model's arithmetic once for the batch."""
        prepared = [prepare(t) for t in texts]
        out = [Classification(None, None, 0.0, reason=pr.reason) for pr in prepared]
        todo = [i for i, pr in enumerate(prepared) if pr.usable]
        if not todo:
            return out
        tokens = [tokenize(prepared[i].text) for i in todo]
        X, n_words = self.model.matrix([prepared[i].text for i in todo], tokens)
        known = np.diff(X.indptr)
        S = self.model.scores_many(X)
        P, top3 = self._per_target(self.model.calibrated_many(S, known), S)
        for r, (i, tk) in enumerate(zip(todo, tokens)):
            kw = self.keywords.classify_prepared(prepared[i].text, tk)
            if known[r]:
                lo, hi = X.indptr[r], X.indptr[r + 1]
                kw = self._combine(kw, P[r], top3[r], Vector(X.indices[lo:hi], X.data[lo:hi], int(n_words[r])))
            if prepared[i].reason:
                kw.reason = prepared[i].reason
            out[i] = kw
        return out

    def _per_target(self, P: np.ndarray, S: np.ndarray | None = None) -> tuple[np.ndarray, list]:
        """The model's probabilities per target (code or department; rows × targets) and each
        row's three best [(target index, probability)], for a whole batch in a few numpy calls.
        With one label per target, the raw scores `S` rank them: the same order as the
        probabilities, and far-off labels whose probabilities are all 0.0 keep their order."""
        P = np.add.reduceat(P[:, self._columns], self._starts, axis=1)
        R = S[:, self._columns] if S is not None and self._bijection is not None else P
        k = min(3, P.shape[1])
        best = np.argpartition(-R, k - 1, axis=1)[:, :k] if P.shape[1] > k else np.tile(np.arange(k), (len(P), 1))
        ranks, values = np.take_along_axis(R, best, 1).tolist(), np.take_along_axis(P, best, 1).tolist()
        return P, [[(i, v) for _, i, v in sorted(zip((-r for r in rs), ii, vs))]
                   for rs, ii, vs in zip(ranks, best.tolist(), values)]

    def _one_per_target(self, vector: Vector) -> tuple:
        """`_per_target` for one message; when each label names its own target (the usual case)
        without a numpy call beyond the model's own."""
        if self._bijection is None:
            P, top3 = self._per_target(self.model.calibrated(vector)[None, :])
            return P[0], top3[0]
        p, best = self.model.calibrated_best(vector)
        to_target = self._bijection
        return p[self._label_by_target], [(to_target[j], float(p[j])) for j in best]

    def _combine(self, kw: Classification, p: np.ndarray, top3: list, vector) -> Classification:
        return (self._by_category if self.kind == "category" else self._by_department)(kw, p, top3, vector)

    # ---------------------------------------------------------------- category labels
    def _by_category(self, kw: Classification, p: np.ndarray, top3: list, vector) -> Classification:
        # The blend's best three are among the model's best three and the keyword codes.
        if kw.code is None:
            blended = {self.targets[i]: v for i, v in top3}
        else:
            blended = {self.targets[i]: MODEL_WEIGHT * v for i, v in top3}
            for code, v in kw.distribution().items():
                if code not in blended:
                    i = self._index.get(code)
                    blended[code] = MODEL_WEIGHT * float(p[i]) if i is not None else 0.0
                blended[code] += (1 - MODEL_WEIGHT) * v
        ranked = sorted(blended.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        top, conf = ranked[0]
        words = kw.matched.get(top, []) + self._explain(vector, self._label_of.get(top))
        return self._result(kw, top, conf, ranked, words)

    # ---------------------------------------------------------------- department labels
    def _by_department(self, kw: Classification, p: np.ndarray, top3: list, vector) -> Classification:
        best_dept, best_p = self.targets[top3[0][0]], top3[0][1]
        if kw.code is None:
            if best_p >= self.threshold:
                kw.reason = f"没有匹配到类别关键词；历史工单模型建议部门：{best_dept}（{best_p:.2f}）"
                kw.department = best_dept
            return kw
        index = self._index
        ranked = sorted(((c, (1 - MODEL_WEIGHT) * v + MODEL_WEIGHT * (
                          float(p[index[self._dept_of[c]]]) if self._dept_of[c] in index else 0.0))
                         for c, v in kw.distribution().items()), key=lambda kv: (-kv[1], kv[0]))[:3]
        top, conf = ranked[0]
        department = None
        if conf < self.threshold and best_p >= self.threshold and best_dept != self._dept_of[top]:
            department, conf = best_dept, best_p       # history knows the unit better than the rules
        label = self._label_of.get(department or self._dept_of[top])
        return self._result(kw, top, conf, ranked, kw.matched.get(top, []) + self._explain(vector, label),
                            department)

    def _result(self, kw, top, conf, ranked, words, department=None) -> Classification:
        """The keyword result, decided again (it is ours: changed in place, not copied)."""
        names = self.keywords.names
        kw.code, kw.name, kw.confidence, kw.department = top, names[top], min(1.0, max(0.0, conf)), department
        kw.words = list(dict.fromkeys(words))
        kw.alternatives = [{"code": c, "name": names[c], "score": round(v, 3)} for c, v in ranked]
        kw.reason = ""
        return kw

    def _explain(self, vector, label: str | None) -> list[str]:
        return self.model.explain(vector, label, EXPLAIN_WORDS, words_only=True) if label else []
