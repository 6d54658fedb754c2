"""Category × place → department, time limit and priority, from routing_rules.yaml.

Every decision carries its reason in Chinese, so anyone can see why a message went where it went.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Route:
    department: str
    time_limit: object      # routing.rules.TimeLimit
    urgent: bool
    reason: str


def route(rules, category_code: str, urgent_words: bool) -> Route:
    cat = rules.category(category_code)
    if urgent_words:
        return Route(cat.department, rules.urgent_time_limit, True,
                     f"类别 {cat.code} {cat.name} 由{cat.department}处置；含紧急词，时限 {rules.urgent_time_limit}（自然时间）")
    return Route(cat.department, cat.time_limit, cat.urgent,
                 f"类别 {cat.code} {cat.name} 由{cat.department}处置，时限 {cat.time_limit}")
