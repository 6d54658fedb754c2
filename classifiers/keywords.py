"""Keyword classification on the catalogue in routing_rules.yaml.

Explainable by construction: a category's score is the sum of the weights of its keywords found
among the message's jieba words (and runs of up to four adjacent words, so a keyword that jieba
splits still matches). A negative word rules its category out. The matched words are the reason.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from classifiers.tokenizer import add_words, tokenize

MAX_RUN = 4  # adjacent words joined when looking up multi-word keywords


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

    def as_dict(self) -> dict:
        return {
            "code": self.code, "name": self.name, "confidence": round(self.confidence, 3),
            "urgent": self.urgent, "words": self.words, "urgency_words": self.urgency_words,
            "alternatives": self.alternatives, "reason": self.reason,
        }


def _runs(tokens: list[str]):
    n = len(tokens)
    for i in range(n):
        joined = ""
        for j in range(i, min(n, i + MAX_RUN)):
            joined += tokens[j]
            yield joined


class KeywordClassifier:
    def __init__(self, rules):
        self.rules = rules
        self.names = {c.code: c.name for c in rules.categories}
        self.index: dict[str, list[tuple[str, float]]] = {}
        self.negative: dict[str, list[str]] = {}
        for cat in rules.categories:
            for word, weight in cat.keywords.items():
                self.index.setdefault(word, []).append((cat.code, float(weight)))
            for word in (cat.name, *cat.aliases):
                self.index.setdefault(word, []).append((cat.code, 3.0))
            for word in cat.negative:
                self.negative.setdefault(word, []).append(cat.code)
        self.urgency = dict(rules.urgency_words)
        add_words(rules.all_keywords())

    def classify(self, text: str, tokens: list[str] | None = None) -> Classification:
        tokens = tokenize(text) if tokens is None else tokens
        scores: dict[str, float] = {}
        matched: dict[str, list[str]] = {}
        excluded: set[str] = set()
        urgency_hits: list[str] = []
        seen: set[str] = set()
        for run in _runs(tokens):
            if run in seen:
                continue
            seen.add(run)
            for code, weight in self.index.get(run, ()):
                scores[code] = scores.get(code, 0.0) + weight
                matched.setdefault(code, []).append(run)
            excluded.update(self.negative.get(run, ()))
            if run in self.urgency:
                urgency_hits.append(run)
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
        confidence = (1 - math.exp(-top_score / 2.0)) * (top_score / (top_score + second))
        return Classification(top, self.names[top], confidence, urgent, matched[top], urgency_hits,
                              alternatives, tokens)
