"""The case state machine: which action moves a case from which state to which, and who may do it.

The standard loop (reference/workflow_states.json, standards.md §5): 上报 reported → 立案 filed
(or 不予立案 not_filed) → 派遣 dispatched → 签收 accepted → 处置完毕 handled → 核查 verified → 结案
closed, with the exceptions 退回 (returned, then re-dispatched), 延期 (extension asked, approved or
refused), 挂账 (suspended, then resumed), 作废 (void) and 返工 (rework: verification failed, or the
citizen answered 3); 督办 (the centre presses the department, the status and clock unchanged). Supervision and handling are separate (监督与处置分离): the department resolves,
the command centre verifies and closes — a department never closes a case.

Roles: operator 受理员, dispatcher 派遣员, department 专业部门, verifier 核查员, supervisor 值班长,
admin; "system" (the pipeline and the scheduler), "citizen" (survey answers) and "api" (the trusted
integration token: the happy path accept → resolve → verify → close; it may name a role instead).
"""
from __future__ import annotations

STATUS_LABELS = {
    "reported": "待立案", "filed": "已立案", "not_filed": "不予立案", "dispatched": "已派遣",
    "accepted": "处置中", "handled": "待核查", "verified": "核查通过", "closed": "已结案",
    "returned": "已退回", "suspended": "已挂账", "void": "已作废",
}
ACTION_LABELS = {
    "report": "上报", "file": "立案", "not_file": "不予立案", "dispatch": "派遣", "accept": "签收",
    "return": "退回", "request_extension": "申请延期", "approve_extension": "批准延期",
    "refuse_extension": "驳回延期", "suspend": "挂账", "resume": "恢复", "resolve": "处置反馈",
    "verify": "核查通过", "rework": "返工", "close": "结案", "void": "作废", "split": "拆分",
    "join": "合并", "yellow": "黄灯预警", "red": "红灯超期", "remind": "催办", "escalate": "升级",
    "survey": "回访评价", "no_answer": "回访未回复", "supervise": "督办",
}
TERMINAL = frozenset({"not_filed", "closed", "void"})
OPEN = frozenset(STATUS_LABELS) - TERMINAL
CLOCK_RUNNING = frozenset({"dispatched", "accepted"})   # the department has it; the limit counts
ROLES = frozenset({"operator", "dispatcher", "department", "verifier", "supervisor", "admin",
                   "system", "citizen", "api"})

SAME = "="       # the action leaves the status as it is
RESUME = "<"     # back to the status the case had when it was suspended

_FILE = frozenset({"operator", "supervisor", "admin", "system"})
_DISPATCH = frozenset({"dispatcher", "supervisor", "admin", "system"})
_APPROVE = frozenset({"dispatcher", "supervisor", "admin"})
_VERIFY = frozenset({"verifier", "supervisor", "admin", "api"})
_HANDLING = frozenset({"dispatched", "accepted"})

# action: (from states, to state, roles allowed)
TRANSITIONS: dict[str, tuple[frozenset[str], str, frozenset[str]]] = {
    "file": (frozenset({"reported"}), "filed", _FILE),
    "not_file": (frozenset({"reported", "filed"}), "not_filed", _FILE),
    "dispatch": (frozenset({"filed", "returned"}), "dispatched", _DISPATCH),
    "accept": (frozenset({"dispatched"}), "accepted", frozenset({"department", "api"})),
    "return": (_HANDLING, "returned", frozenset({"department"})),
    "request_extension": (_HANDLING, SAME, frozenset({"department"})),
    "approve_extension": (_HANDLING, SAME, _APPROVE),
    "refuse_extension": (_HANDLING, SAME, _APPROVE),
    "suspend": (_HANDLING, "suspended", _APPROVE),
    # 督办: the command centre presses the department on a case it is handling, in its own words.
    "supervise": (_HANDLING, SAME, frozenset({"dispatcher", "supervisor", "admin"})),
    "resume": (frozenset({"suspended"}), RESUME, _APPROVE),
    "resolve": (_HANDLING, "handled", frozenset({"department", "api"})),
    "verify": (frozenset({"handled"}), "verified", _VERIFY),
    "close": (frozenset({"handled", "verified"}), "closed", _VERIFY),
    "rework": (frozenset({"handled", "verified", "closed"}), "accepted",
               frozenset({"verifier", "supervisor", "admin", "citizen"})),
    "void": (OPEN, "void", frozenset({"supervisor", "admin"})),
    "split": (OPEN | {"closed"}, SAME, frozenset({"operator", "supervisor", "admin"})),
}
# Who may rework from where: the verifier sends back what fails 核查; only the citizen's survey
# answer (or the supervisor) reopens a closed case.
_REWORK_CLOSED = frozenset({"citizen", "supervisor", "admin"})
_REWORK_OPEN = frozenset({"verifier", "supervisor", "admin"})


class IllegalTransition(Exception):
    def __init__(self, action: str, status: str, allowed: list[str], reason: str = ""):
        label = ACTION_LABELS.get(action, action)
        super().__init__(reason or f"当前状态“{STATUS_LABELS.get(status, status)}”下不能执行“{label}”")
        self.action, self.status, self.allowed = action, status, allowed


def _guard(action: str, status: str, role: str, case) -> str:
    """Why an action that the table allows is still not possible for this case ('' if it is)."""
    if action == "rework":
        if role not in (_REWORK_CLOSED if status == "closed" else _REWORK_OPEN):
            return "无权执行返工"
    if case is None:
        return ""
    pending = getattr(case, "extension_request", None)
    if action == "request_extension" and pending:
        return "已有延期申请待审批"
    if action in ("approve_extension", "refuse_extension") and not pending:
        return "没有待审批的延期申请"
    if action == "split" and not joined_reporters(case):
        return "该案卷没有合并进来的反映人，无可拆分"
    return ""


def joined_reporters(case) -> list:
    """Reporters who joined as duplicates (every reporter but the first)."""
    reporters = list(getattr(case, "reporters", None) or [])
    return reporters[1:]


def allowed_actions(status: str, role: str, case=None) -> list[str]:
    return sorted(a for a, (sources, _to, roles) in TRANSITIONS.items()
                  if status in sources and role in roles and not _guard(a, status, role, case))


def next_status(action: str, status: str, role: str, case=None) -> str:
    """The status after `action`, or IllegalTransition naming what this role may do instead."""
    spec = TRANSITIONS.get(action)
    if spec is None or status not in spec[0] or role not in spec[2]:
        raise IllegalTransition(action, status, allowed_actions(status, role, case))
    reason = _guard(action, status, role, case)
    if reason:
        raise IllegalTransition(action, status, allowed_actions(status, role, case), reason)
    to = spec[1]
    if to == SAME:
        return status
    if to == RESUME:
        return getattr(case, "resume_status", None) or "accepted"
    return to


def last_event(case, action: str):
    """The case's latest event of `action` (its events in order), or None."""
    return next((e for e in reversed(case.events) if e.action == action), None)
