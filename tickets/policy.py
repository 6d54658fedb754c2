"""data/lifecycle.yaml: the lifecycle's parameters a city edits (lights, reminders, escalation,
duplicates, staff messages). Missing keys take the defaults below; a wrong value is
a clear error naming the key."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from tickets.reply_check import ReplyRules
from tickets.sla import parse_limit

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "lifecycle.yaml"

DEFAULT_MESSAGES = {
    "dispatch": "【网格通】新派遣：案卷{number}（{category}），地点：{place}，请于{due}前处置。{text}",
    "yellow": "【网格通】预警：案卷{number}（{category}）将于{due}到期，请抓紧处置。",
    "red": "【网格通】超期：案卷{number}（{category}）已于{due}到期未办结，请尽快处置并反馈。",
    "remind": "【网格通】催办：案卷{number}（{category}）已超期{overdue}，请尽快处置并反馈。",
    "escalate": "【网格通】升级督办（第{step}级）：{department}的案卷{number}（{category}）已超期{overdue}，请督促办理。",
    "rework": "【网格通】返工：案卷{number}（{category}）需重新处置。{note}",
    "supervise": "【网格通】督办：案卷{number}（{category}），处置时限{due}。指挥中心要求：{note}",
}


class PolicyError(ValueError):
    pass


@dataclass(frozen=True)
class Span:
    """A duration in hours, in working time or on the wall clock."""
    hours: float
    working: bool

    @classmethod
    def parse(cls, text, key: str) -> "Span":
        try:
            hours, working = parse_limit(text)
        except ValueError as exc:
            raise PolicyError(f"{key}: {exc}") from None
        return cls(hours, working)


@dataclass(frozen=True)
class Policy:
    warn_ratio: float = 0.8
    remind_every: Span = Span(4, True)
    urgent_remind_every: Span = Span(1, False)
    escalate_after: Span = Span(4, True)
    escalate_every: Span = Span(8, True)
    urgent_escalate_after: Span = Span(1, False)
    urgent_escalate_every: Span = Span(1, False)
    notify: frozenset = frozenset({"dispatch", "yellow", "red", "remind", "escalate", "rework", "supervise"})
    department_heads: dict = field(default_factory=dict)
    duplicate_window: Span = Span(72, False)
    duplicate_similarity: float = 0.3
    duplicate_neighbours: bool = True
    messages: dict = field(default_factory=lambda: dict(DEFAULT_MESSAGES))
    # The centre's own steps, for 按时立案率 and 按时派遣率 (web/workload.py): 立案 counted from 上报,
    # 派遣 from 立案 or the department's 退回.
    file_within: Span = Span(0.25, False)
    dispatch_within: Span = Span(0.25, False)
    urgent_file_within: Span = Span(5 / 60, False)
    urgent_dispatch_within: Span = Span(5 / 60, False)
    reply: ReplyRules = ReplyRules()       # checks on the result note the citizen reads (tickets.reply_check)

    def remind_span(self, urgent_clock: bool) -> Span:
        return self.urgent_remind_every if urgent_clock else self.remind_every

    def escalate_spans(self, urgent_clock: bool) -> tuple[Span, Span]:
        if urgent_clock:
            return self.urgent_escalate_after, self.urgent_escalate_every
        return self.escalate_after, self.escalate_every

    def message(self, kind: str, **fields) -> str:
        return self.messages[kind].format(**fields)


def load(path: str | Path | None = None) -> Policy:
    path = Path(path or os.environ.get("GRIDLINE_LIFECYCLE") or DEFAULT_PATH)
    if not path.exists():
        return Policy()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: YAML 语法错误: {exc}") from None
    sla, dup = data.get("sla") or {}, data.get("duplicates") or {}
    base = Policy()
    kw: dict = {}
    ratio = sla.get("warn_ratio", base.warn_ratio)
    if not isinstance(ratio, (int, float)) or not 0 < ratio < 1:
        raise PolicyError(f"{path}: sla.warn_ratio 应在 0 与 1 之间，而不是 {ratio!r}")
    kw["warn_ratio"] = float(ratio)
    for key in ("remind_every", "urgent_remind_every", "escalate_after", "escalate_every",
                "urgent_escalate_after", "urgent_escalate_every"):
        if key in sla:
            kw[key] = Span.parse(sla[key], f"{path}: sla.{key}")
    if "notify" in sla:
        notify = sla["notify"] or {}
        unknown = set(notify) - set(DEFAULT_MESSAGES)
        if unknown:
            raise PolicyError(f"{path}: sla.notify 中未知的节点 {sorted(unknown)}（可用: {', '.join(DEFAULT_MESSAGES)}）")
        kw["notify"] = frozenset(k for k, v in notify.items() if v)
    centre = data.get("centre_limits") or {}
    for key in ("file", "dispatch", "urgent_file", "urgent_dispatch"):
        if key in centre:
            kw[f"{key}_within"] = Span.parse(centre[key], f"{path}: centre_limits.{key}")
    kw["department_heads"] = dict(data.get("department_heads") or {})
    if "window" in dup:
        kw["duplicate_window"] = _wall(Span.parse(dup["window"], f"{path}: duplicates.window"), f"{path}: duplicates.window")
    sim = dup.get("similarity", base.duplicate_similarity)
    if not isinstance(sim, (int, float)) or not 0 <= sim <= 1:
        raise PolicyError(f"{path}: duplicates.similarity 应在 0 与 1 之间，而不是 {sim!r}")
    kw["duplicate_similarity"] = float(sim)
    kw["duplicate_neighbours"] = bool(dup.get("neighbours", True))
    messages = dict(DEFAULT_MESSAGES)
    messages.update({k: str(v) for k, v in (data.get("messages") or {}).items() if k in DEFAULT_MESSAGES})
    kw["messages"] = messages
    kw["reply"] = _reply_rules(data.get("reply_check") or {}, f"{path}: reply_check")
    return Policy(**kw)


def _reply_rules(data: dict, key: str) -> ReplyRules:
    base, kw = ReplyRules(), {}
    for name in ("generic", "improper"):
        if name in data:
            words = data[name]
            if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
                raise PolicyError(f"{key}.{name} 应为词语列表（每项一个非空词语）")
            kw[name] = tuple(w.strip().lower() for w in words)
    if "remedies" in data:
        remedies = data["remedies"]
        if not isinstance(remedies, dict) or not all(
                isinstance(v, list) and all(isinstance(w, str) and w.strip() for w in v) for v in remedies.values()):
            raise PolicyError(f"{key}.remedies 应为“大类: [词语, …]”")
        kw["remedies"] = {str(k): tuple(w.strip().lower() for w in v) for k, v in remedies.items()}
    n = data.get("min_substance", base.min_substance)
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 50:
        raise PolicyError(f"{key}.min_substance 应为 0 到 50 的整数，而不是 {n!r}")
    kw["min_substance"] = n
    return ReplyRules(**kw)


def _wall(span: Span, key: str) -> Span:
    if span.working:
        raise PolicyError(f"{key}: 窗口按自然时间计，应写 N小时 或 N天")
    return span


@lru_cache(maxsize=1)
def default() -> Policy:
    return load()
