"""Keyword classification on the catalogue in routing_rules.yaml.

Explainable by construction: a category's score is the sum of the weights of its keywords found
among the message's jieba words (and runs of up to four adjacent words, so a keyword that jieba
splits still matches). A paired keyword (养+鸡) counts when each of its words is there, apart or
together: residents' words come apart (邻居养了十几只鸡). A negative word rules its category out.
A 部件 named as the place where something else happened (公交站旁边, 天桥上有人摆地摊) counts a quarter
(NEAR, IN below). The matched words are the reason.

Confidence is evidence times margin: (1 - exp(-top/1.75)) · top / (top + runner-up). One generic
keyword (weight 1) stays below the triage threshold, a specific term (weight 3–5) or two
agreeing words pass it, and two categories with equal scores cap it at one half. How well this
matches the share of right answers is measured on tests/data/category_messages*.csv
(bench/keyword_calibration.py; tests/test_keyword_calibration.py keeps it honest). The scale was 2
until the keyword lists grew on 2026-12-06: more words right at the same score made 2 too timid
(messages at 0.8–0.9 were right 98 % of the time).

Input goes through classifiers.textprep first: odd input (empty, emoji, broken encoding, no
Chinese, very long) gets a defined answer with a reason for the triage queue, never an exception.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from classifiers.textprep import prepare
from classifiers.tokenizer import add_words, tokenize
from routing.rules import pair_parts

MAX_RUN = 4  # adjacent words joined when looking up multi-word keywords
# A 部件 named just before one of these words is where something happened, not what is wrong; its
# keywords count a quarter then (at a half, a landmark's 4 still tied a 垃圾袋's 2). NEAR (公交站旁边,
# 垃圾站门口) makes it a landmark whenever another category is named; IN (天桥上有人摆地摊,
# 饭店往雨水井里倒泔水) only when an 事件 is: 地下通道里积水了 is the underpass's own fault; and not
# before 的: 天桥上的台阶 is the bridge's own step, where 公交站旁边的垃圾桶 is still the bin.
NEAR = frozenset({"旁", "边", "旁边", "边上", "附近", "周边", "周围", "门口", "跟前", "前面", "后面", "后边", "对面"})
IN = frozenset({"上", "里", "下", "底下", "里面", "上面", "下面"})
PLACE_WEIGHT = 0.25
EVIDENCE_SCALE = 1.75  # score at which the evidence part of the confidence reaches 1 - 1/e


@dataclass
class Classification:
    code: str | None
    name: str | None
    confidence: float
    urgent: bool = False
    words: list[str] = field(default_factory=list)          # the words that decided it
    urgency_words: list[str] = field(default_factory=list)
    alternatives: list[dict] = field(default_factory=list)  # top 3: code, name, score
    tokens: list[str] = field(default_factory=list)
    reason: str = ""                                          # why not dispatchable, if so
    department: str | None = None   # set when a trained model decided the department itself
    scores: dict[str, float] = field(default_factory=dict, repr=False)      # every matched code
    matched: dict[str, list[str]] = field(default_factory=dict, repr=False) # its keywords

    def as_dict(self) -> dict:
        return {
            "code": self.code, "name": self.name, "confidence": round(self.confidence, 3),
            "urgent": self.urgent, "words": self.words, "urgency_words": self.urgency_words,
            "alternatives": self.alternatives, "reason": self.reason, "department": self.department,
        }

    def distribution(self) -> dict[str, float]:
        """Keyword evidence as probabilities: the top code gets the confidence, the other matched
        codes share the rest in proportion to their scores (nothing matched: empty)."""
        if self.code is None or not self.scores:
            return {}
        out = {self.code: self.confidence}
        rest = {c: s for c, s in self.scores.items() if c != self.code}
        total = sum(rest.values())
        for c, s in rest.items():
            out[c] = (1.0 - self.confidence) * s / total
        return out


def _runs(tokens: list[str], prefixes: set[str]):
    """Each token and its joins with up to MAX_RUN - 1 following tokens, as long as the join
    can still grow into a known word (is in `prefixes`); with the index of the token after it."""
    n = len(tokens)
    for i in range(n):
        joined = tokens[i]
        yield joined, i + 1
        for j in range(i + 1, min(n, i + MAX_RUN)):
            if joined not in prefixes:
                break
            joined += tokens[j]
            yield joined, j + 1


class KeywordClassifier:
    def __init__(self, rules):
        self.rules = rules
        self.names = {c.code: c.name for c in rules.categories}
        self.parts = {c.code for c in rules.categories if c.kind == "部件"}
        self.index: dict[str, list[tuple[str, float]]] = {}
        self.negative: dict[str, list[str]] = {}
        # Paired keywords (养+鸡): each pair's words, and for each word the pairs it is part of.
        self.pairs: list[tuple[tuple[str, ...], str, float, str]] = []    # (words, code, weight, as written)
        self.pair_words: dict[str, list[int]] = {}
        for cat in rules.categories:
            for word, weight in cat.keywords.items():
                parts = pair_parts(word)
                if parts is None:
                    self.index.setdefault(word, []).append((cat.code, float(weight)))
                    continue
                for part in parts:
                    self.pair_words.setdefault(part, []).append(len(self.pairs))
                self.pairs.append((parts, cat.code, float(weight), word))
            # The name and the old names weigh 3, once: a word the category also lists as a keyword
            # keeps the weight written there (244 of 250 names are), instead of counting twice.
            for word in dict.fromkeys((cat.name, *cat.aliases)):
                if word not in cat.keywords:
                    self.index.setdefault(word, []).append((cat.code, 3.0))
            for word in cat.negative:
                self.negative.setdefault(word, []).append(cat.code)
        self.urgency = dict(rules.urgency_words)
        # One lookup per run of tokens: (category hits, categories ruled out, urgency weight); a
        # run that starts no word of the lookup is not extended (most runs, on short messages).
        self.lookup: dict[str, tuple] = {
            w: (tuple(self.index.get(w, ())), tuple(self.negative.get(w, ())), self.urgency.get(w))
            for w in {*self.index, *self.negative, *self.urgency}}
        self.prefixes = {w[:i] for w in (*self.lookup, *self.pair_words) for i in range(1, len(w))}
        # Pair words inside a longer keyword, which jieba keeps whole (没有审批 → 审批): found with it.
        # Not single characters: 景观灯 is no 灯 of 灯+不亮 (a street lamp).
        self.contained = {w: inner for w in {*self.lookup, *self.pair_words}
                          if (inner := tuple(p for p in self.pair_words if len(p) > 1 and p != w and p in w))}
        add_words(rules.all_keywords())

    def classify(self, text, tokens: list[str] | None = None) -> Classification:
        """Any input; `tokens` (jieba words of the prepared text) saves a second segmentation."""
        prepared = prepare(text)
        if not prepared.usable:
            return Classification(None, None, 0.0, reason=prepared.reason)
        cls = self.classify_prepared(prepared.text, tokens)
        if prepared.reason:
            cls.reason = prepared.reason
        return cls

    def classify_many(self, texts) -> list[Classification]:
        return [self.classify(t) for t in texts]

    def classify_prepared(self, text: str, tokens: list[str] | None = None) -> Classification:
        tokens = tokenize(text) if tokens is None else tokens
        scores: dict[str, float] = {}
        matched: dict[str, list[str]] = {}
        excluded: set[str] = set()
        urgency_hits: list[str] = []
        seen: set[str] = set()
        pair_words = self.pair_words
        present: set[str] = set()           # words of paired keywords found in the message
        near: dict[str, float] = {}         # 部件 weight named as a place (NEAR, IN), to take off
        inside: dict[str, float] = {}
        contained = self.contained
        n = len(tokens)
        for run, after in _runs(tokens, self.prefixes):
            if run in pair_words:
                present.add(run)
            if run in contained:             # 没有审批, one word, holds the pair word 审批
                present.update(contained[run])
            entry = self.lookup.get(run)
            if entry is None or run in seen:
                continue
            seen.add(run)
            hits, negative, urgency = entry
            place = None
            if after < n:
                if tokens[after] in NEAR:
                    place = near
                elif tokens[after] in IN and (after + 1 == n or tokens[after + 1] != "的"):
                    place = inside
            for code, weight in hits:
                scores[code] = scores.get(code, 0.0) + weight
                if place is not None and code in self.parts:
                    place[code] = place.get(code, 0.0) + weight * (1 - PLACE_WEIGHT)
                matched.setdefault(code, []).append(run)
            excluded.update(negative)
            if urgency is not None:
                urgency_hits.append(run)
        if present:                          # a pair counts once, when all its words are there
            for i in sorted({i for w in present for i in pair_words[w]}):
                parts, code, weight, written = self.pairs[i]
                if all(p in present for p in parts):
                    scores[code] = scores.get(code, 0.0) + weight
                    matched.setdefault(code, []).append(written)
        if near and any(code not in near for code in scores):
            for code, weight in near.items():
                scores[code] -= weight
        if inside and any(code not in self.parts for code in scores):
            for code, weight in inside.items():
                scores[code] -= weight
        for code in excluded:
            scores.pop(code, None)
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
        alternatives = [{"code": c, "name": self.names[c], "score": round(s, 2)} for c, s in ranked[:3]]
        urgent = sum(self.urgency[w] for w in urgency_hits) >= 1.0  # weights below 1 need company
        if not ranked:
            return Classification(None, None, 0.0, urgent, [], urgency_hits, [], tokens,
                                  reason="没有匹配到任何类别关键词")
        (top, top_score), second = ranked[0], (ranked[1][1] if len(ranked) > 1 else 0.0)
        # Evidence (how much matched) times margin (how clearly it beats the runner-up).
        confidence = (1 - math.exp(-top_score / EVIDENCE_SCALE)) * (top_score / (top_score + second))
        return Classification(top, self.names[top], confidence, urgent, matched[top], urgency_hits,
                              alternatives, tokens, scores=scores, matched=matched)
