"""The case state machine: which action moves a case from which state to which, and who may do it.

States follow the standard loop (reference/workflow_states.json): 立案 filed → 派遣 dispatched →
签收 accepted → 处置完毕 handled → 结案 closed. The department that handles a case never closes it
(监督与处置分离): resolve belongs to the department, close to the command centre.
"""
from __future__ import annotations

STATUS_LABELS = {
    "filed": "已立案", "dispatched": "已派遣", "accepted": "处置中", "handled": "待核查",
    "closed": "已结案",
}

# action: (from states, to state, roles allowed)
TRANSITIONS: dict[str, tuple[frozenset[str], str, frozenset[str]]] = {
    "dispatch": (frozenset({"filed"}), "dispatched", frozenset({"system", "dispatcher", "supervisor"})),
    "accept": (frozenset({"dispatched"}), "accepted", frozenset({"department", "api"})),
    "resolve": (frozenset({"dispatched", "accepted"}), "handled", frozenset({"department", "api"})),
    "close": (frozenset({"handled"}), "closed", frozenset({"verifier", "supervisor", "api"})),
}


class IllegalTransition(Exception):
    def __init__(self, action: str, status: str, allowed: list[str]):
        super().__init__(f"当前状态“{STATUS_LABELS.get(status, status)}”下不能执行“{action}”")
        self.action, self.status, self.allowed = action, status, allowed


def allowed_actions(status: str, role: str) -> list[str]:
    return sorted(a for a, (sources, _to, roles) in TRANSITIONS.items() if status in sources and role in roles)


def next_status(action: str, status: str, role: str) -> str:
    spec = TRANSITIONS.get(action)
    if spec is None or status not in spec[0] or role not in spec[2]:
        raise IllegalTransition(action, status, allowed_actions(status, role))
    return spec[1]
