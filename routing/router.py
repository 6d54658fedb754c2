"""Category × place → department, time limit and priority, from routing_rules.yaml.

The place matters twice: the rules' `areas` may give a street or a district its own department
for a category, and the department 属地街道办事处 means the street office of the case's cell
(东华门街道办事处 for a cell in 东华门街道). Without a cell the rules' own department stands.

Every decision carries its reason in Chinese, so anyone can see why a message went where it went,
and the place hierarchy (cell → community → street → district) that escalation climbs.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from routing.rules import LOCAL_OFFICE, Department


@dataclass
class Route:
    department: str
    time_limit: object      # routing.rules.TimeLimit
    urgent: bool
    reason: str
    chain: list = field(default_factory=list)         # routing.grids.Level: cell → community → street → district
    escalate_to: tuple[str, ...] = ()                  # the department's escalation chain


def street_office_name(street: str) -> str:
    """东华门街道 → 东华门街道办事处."""
    return f"{street}办事处"


def street_office(rules, street: str) -> Department:
    """The street office as a department: declared in the rules under its own name, or made from
    the 属地街道办事处 entry (its phone, notification targets and escalation chain)."""
    name = street_office_name(street)
    if name in rules.departments:
        return rules.departments[name]
    template = rules.departments.get(LOCAL_OFFICE)
    if template is None:
        return Department(name=name, short=street, phone="", escalate_to=())
    return dataclasses.replace(template, name=name, short=street)


def street_offices(rules, streets) -> list[Department]:
    """One department per street name: what load-demo and import-grids put in the database, so a
    case routed to 属地街道办事处 lands on a real department row."""
    if LOCAL_OFFICE not in rules.departments:
        return []
    return [street_office(rules, name) for name in sorted(set(streets)) if name]


def department_for(rules, category_code: str, cell=None) -> tuple[str, str]:
    """(department, why) for a category in a cell (routing.grids.Cell or None)."""
    street = (cell.street_code, cell.street) if cell is not None else None
    district = (cell.district_code, cell.district or cell.district_code) if cell is not None else None
    name, area = rules.department_for(category_code, street, district)
    why = ""
    if area is not None:
        why = f"（{area.key}属地分派）"
    if name == LOCAL_OFFICE and cell is not None and cell.street:
        name = street_office(rules, cell.street).name
        why += f"（属地：{cell.street}）"
    return name, why


def route(rules, category_code: str, urgent_words: bool, cell=None) -> Route:
    cat = rules.category(category_code)
    department, why = department_for(rules, category_code, cell)
    chain = cell.chain() if cell is not None else []
    dep = rules.departments.get(department) or (street_office(rules, cell.street) if cell is not None else None)
    escalate = dep.escalate_to if dep is not None else ()
    if urgent_words:
        return Route(department, rules.urgent_time_limit, True,
                     f"类别 {cat.code} {cat.name} 由{department}处置{why}；含紧急词，时限 {rules.urgent_time_limit}（自然时间）",
                     chain, escalate)
    return Route(department, cat.time_limit, cat.urgent,
                 f"类别 {cat.code} {cat.name} 由{department}处置{why}，时限 {cat.time_limit}", chain, escalate)
