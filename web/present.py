"""How cases look to people: Chinese labels, local times, and the green/yellow/red time-limit light."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import inspect

from tickets import clock, lifecycle, reply_check
from tickets.deadline import make_env
from store.db import utcnow

ACTION_LABELS = {
    "file": "立案", "not_file": "不予立案", "dispatch": "派遣", "redispatch": "重新派遣", "accept": "签收",
    "return": "退回", "extend": "申请延期", "approve_extension": "批准延期", "refuse_extension": "驳回延期",
    "reject_extension": "驳回延期", "suspend": "挂账", "resume": "恢复", "resolve": "处置完毕",
    "verify": "核查通过", "reject": "核查不通过", "close": "结案", "rework": "返工", "void": "作废",
    "remind": "催办", "escalate": "升级督办", "yellow": "黄灯预警", "red": "红灯超期", "merge": "合并",
    "split": "拆分", "join": "重复反映并入", "survey": "回访评价", "reopen": "重新打开", "comment": "备注",
}
STATUS_LABELS = {
    "reported": "已上报", "filed": "已立案", "not_filed": "不予立案", "dispatched": "已派遣", "accepted": "处置中",
    "returned": "已退回", "extension_requested": "延期待批", "suspended": "已挂账", "handled": "待核查",
    "verified": "已核查", "closed": "已结案", "void": "已作废", "rework": "返工",
}
CLOSED_STATUSES = {"closed", "void", "not_filed"}
MESSAGE_STATUS_LABELS = {   # intake.models.InboundMessage.status
    "received": "处理中", "done": "已处理", "held": "等待市民补充地点", "triage": "待人工分拣",
    "flooded": "发送过频（已保存，未处理）", "failed": "处理失败（待人工）", "dismissed": "不予立案",
}
CHANNEL_LABELS = {"sms": "短信", "telegram": "Telegram", "hotline": "热线电话", "open311": "Open311 接口",
                  "webhook": "接口推送"}


def action_label(action: str) -> str:
    return lifecycle.ACTION_LABELS.get(action) or ACTION_LABELS.get(action, action)


def status_label(status: str) -> str:
    return lifecycle.STATUS_LABELS.get(status) or STATUS_LABELS.get(status, status)


def channel_label(channel: str) -> str:
    """How staff read a channel (the stored value stays the code the API and exports use)."""
    return CHANNEL_LABELS.get(channel, channel)


def message_status_label(status: str) -> str:
    return MESSAGE_STATUS_LABELS.get(status, status)


def local(dt: datetime | None, tz: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return clock.to_local(dt, tz).strftime(fmt) if dt else ""


def _duration(hours: float) -> str:
    minutes = int(round(abs(hours) * 60))
    days, rest = divmod(minutes, 24 * 60)
    h, m = divmod(rest, 60)
    if days:
        return f"{days}天{h}小时"
    return f"{h}小时{m}分" if h else f"{m}分钟"


def light(case, ctx, now: datetime | None = None) -> dict:
    """The case's own clock, as the SLA scan judges it: yellow from its warn time (data/lifecycle.yaml
    warn_ratio of the limit), red past the due time; both move with suspensions, extensions and
    each fresh round (dispatch, rework). Counted in working time unless the limit is on the wall clock."""
    now = now or utcnow()
    if case.status == "closed" and case.closed_at and case.due_at:   # as 按期结案率 counts it
        return _judged("结案", case.closed_at, case.due_at)
    if case.status in ("handled", "verified"):                        # as 按期处置率 counts it
        resolved = _last_resolve(case)
        if resolved is not None and resolved.due_at is not None:
            return _judged("处置", resolved.at, resolved.due_at)
    if case.status not in lifecycle.CLOCK_RUNNING or case.due_at is None:  # handled, suspended…
        return {"colour": "grey", "label": status_label(case.status), "ratio": None}
    tz, working = ctx.config.timezone, case.working_clock
    env = make_env(ctx.calendar, tz)
    start = case.clock_start or case.created_at
    used = env.elapsed(start, now, working) - (case.paused_hours or 0.0) if now > start else 0.0
    ratio = used / case.limit_hours if case.limit_hours else 1.0
    if now >= case.due_at:
        colour, label = "red", f"超期 {_duration((now - case.due_at).total_seconds() / 3600)}"
    else:
        colour = "yellow" if case.warn_at is not None and now >= case.warn_at else "green"
        label = f"剩余 {_duration(env.elapsed(now, case.due_at, working))}{'（工作时间）' if working else ''}"
    return {"colour": colour, "label": label, "ratio": round(ratio, 3),
            "due_iso": clock.iso_local(case.due_at, tz)}


def _judged(what: str, at: datetime, due: datetime) -> dict:
    """A stopped clock: on time or how late (wall clock, as the red light counts)."""
    late = (at - due).total_seconds() / 3600
    return {"colour": "grey", "label": f"超期{what} {_duration(late)}" if late > 0 else f"按期{what}", "ratio": None}


def _last_resolve(case):
    """The case's last 处置完毕 event, when its events are loaded already (the case page): a list of
    cases keeps its one query and shows the state."""
    if "events" in inspect(case).unloaded:
        return None
    return lifecycle.last_event(case, "resolve")


def reply_warnings(case) -> list[str]:
    """What tickets.reply_check found in the note of the case's last 办结, while it waits for 核查."""
    return reply_check.noted(case) if case.status == "handled" else []
