"""Jobs: turn stored messages into dispatched cases, deliver the outbox, sweep what was left.

Jobs take ids (or find pending rows) and are safe to re-run: a message that is no longer
'received' is skipped, and each notification has a dedupe key.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select, update

from intake import context, queue
from intake.models import InboundMessage
from notify import outbox
from notify.models import OutboundMessage
from routing.router import route
from store.db import utcnow
from tickets import clock
from tickets.service import NewCase, open_case

log = logging.getLogger("gridline.processing")
MAX_TEXT = 2000


def analyse(ctx, text: str) -> dict:
    """Classification, place and cell for a text: what the pipeline and `gridline classify` show."""
    cls = ctx.classifier.classify(text[:MAX_TEXT])
    place = ctx.gazetteer.find(text[:MAX_TEXT])
    cell = ctx.grids.cell_at(place.lon, place.lat) if place else None
    result = {"classification": cls, "place": place, "cell": cell, "route": None, "reason": ""}
    threshold = float(ctx.rules.settings.get("confidence_threshold", 0.45))
    if cls.code is None:
        result["reason"] = cls.reason
    elif cls.confidence < threshold:
        result["reason"] = f"分类置信度 {cls.confidence:.2f} 低于阈值 {threshold:.2f}"
    if cls.code is not None:
        result["route"] = route(ctx.rules, cls.code, cls.urgent)
    if not result["reason"] and cell is None:
        result["reason"] = "未能确定地点所在网格" if place else "消息中没有可识别的地点"
    return result


def _process(ctx, s, msg: InboundMessage) -> None:
    a = analyse(ctx, msg.text)
    tz = ctx.config.timezone
    if a["reason"]:
        msg.status, msg.reason = "triage", a["reason"]
        outbox.queue(s, msg.sender, ctx.templates.render("received", message_id=msg.id), "received",
                     f"received:{msg.id}", channel="sms")
        return
    cls, place, cell, r = a["classification"], a["place"], a["cell"], a["route"]
    case = open_case(s, NewCase(
        category_code=cls.code, category_name=cls.name, confidence=cls.confidence, decided_by=cls.words,
        urgent=r.urgent, department=r.department, grid_code=cell.code, place=place.matched,
        lon=place.lon, lat=place.lat, description=msg.text, reporter_phone=msg.sender, channel=msg.channel,
        message_id=msg.id, time_limit=r.time_limit, route_reason=r.reason), ctx.calendar, tz)
    s.flush()
    due = clock.to_local(case.due_at, tz).strftime("%m月%d日%H:%M")
    outbox.queue(s, msg.sender, ctx.templates.render("ack", number=case.number, department=r.department, due=due),
                 "ack", f"ack:{case.id}", case.id, channel="sms")
    msg.status, msg.case_id, msg.reason = "done", case.id, ""


def process_messages(ids: list[int]) -> int:
    """Process these messages (those still pending); one transaction, or one each if that fails."""
    ctx = context.get()
    done = 0
    try:
        with ctx.db.session() as s:
            for msg in s.scalars(select(InboundMessage).where(InboundMessage.id.in_(ids),
                                                              InboundMessage.status == "received")):
                _process(ctx, s, msg)
                msg.processed_at = utcnow()
                done += 1
            s.commit()
        return done
    except Exception:
        if len(ids) == 1:
            _mark_failed(ctx, ids[0])
            return 0
        log.exception("batch of %d failed; retrying one by one", len(ids))
        return sum(process_messages([i]) for i in ids)


def _mark_failed(ctx, message_id: int) -> None:
    log.exception("message %s failed", message_id)
    with ctx.db.session() as s:
        s.execute(update(InboundMessage).where(InboundMessage.id == message_id)
                  .values(status="failed", reason="处理出错，已记录，待人工处理",
                          attempts=InboundMessage.attempts + 1))
        s.commit()


def _pending_ids(ctx, limit: int) -> list[int]:
    with ctx.db.session() as s:
        return list(s.scalars(select(InboundMessage.id).where(InboundMessage.status == "received")
                              .order_by(InboundMessage.id).limit(limit)))


def drain() -> int:
    """The intake job: process pending messages in batches until none is left."""
    ctx = context.get()
    queue.clear_flag(ctx, queue.INTAKE)
    total = 0
    while ids := _pending_ids(ctx, ctx.config.batch_size):
        done = process_messages(ids)
        total += done
        queue.kick(ctx, queue.NOTIFY)
        if done == 0 and not _pending_ids(ctx, 1):
            break
    return total


def deliver_outbox() -> int:
    ctx = context.get()
    queue.clear_flag(ctx, queue.NOTIFY)
    total = 0
    with ctx.db.session() as s:
        while ids := outbox.claim(s):
            total += outbox.deliver(s, ids, ctx.sms_backend)
    return total


def sweep(min_age_seconds: float = 2.0) -> dict:
    """Kick the jobs for work that waited too long (Redis was down, a kick was lost)."""
    ctx = context.get()
    cutoff = utcnow() - timedelta(seconds=min_age_seconds)
    with ctx.db.session() as s:
        inbound = s.scalar(select(InboundMessage.id).where(InboundMessage.status == "received",
                                                           InboundMessage.received_at <= cutoff).limit(1))
        outbound = s.scalar(select(OutboundMessage.id).where(OutboundMessage.status == "pending",
                                                             OutboundMessage.created_at <= cutoff).limit(1))
    kicked = {}
    if inbound is not None:
        kicked[queue.INTAKE] = queue.kick(ctx, queue.INTAKE)
    if outbound is not None:
        kicked[queue.NOTIFY] = queue.kick(ctx, queue.NOTIFY)
    return kicked
