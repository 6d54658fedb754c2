"""Jobs: turn stored messages into dispatched cases, deliver the outbox, sweep what was left.

Jobs take ids (or find pending rows) and are safe to re-run: a message that is no longer
'received' is skipped, and each notification has a dedupe key. What a message is (a report, an
answer to our ask-back, a survey answer, a status query, STOP…) is decided by intake.conversation.
"""
from __future__ import annotations

import logging
import threading
import time
import weakref
from datetime import timedelta

from sqlalchemy import event, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from classifiers.places import Place
from classifiers.textprep import prepare
from intake import context, conversation, media, queue, service, spool
from intake.models import Conversation, InboundMessage
from notify import outbox
from notify.models import OutboundMessage
from notify.ratelimit import SendRate
from routing.router import route
from store.db import utcnow
from tickets import clock, numbers
from tickets.service import NewCase, batch_duplicates, late_notices, open_or_join

log = logging.getLogger("gridline.processing")
MAX_TEXT = 2000
# What the outbox sends a result with: the result text asks 1/2/3, so its delivery opens the survey.
SURVEY_KINDS = frozenset({"result", "survey"})
SEND_SLICE = 0.2   # seconds a notify job sends before it yields to waiting intake jobs
DRAIN_SLICE = 1.0  # seconds an intake job works before a waiting notify job gets its turn
GATHER = 0.05      # seconds between the starts of two batches while messages keep coming
MAX_ATTEMPTS = 3   # a message that fails this often alone goes to a person (status failed)
WORK_HERE = 3.0    # seconds a sweeper round works through intake and sends itself while Redis is away


def _place_from_meta(ctx, meta: dict | None):
    """A location the citizen shared (meta lat/lon, WGS84) is the place itself: no guessing."""
    try:
        lon, lat = float(meta["lon"]), float(meta["lat"])
    except (KeyError, TypeError, ValueError):
        return None, None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        return None, None
    label = str(meta.get("address") or "").strip() or f"定位 {lat:.5f},{lon:.5f}"
    return Place(label, "coordinates", lon, lat, 1.0, label[:200]), ctx.grids.cell_at(lon, lat)


def analyse(ctx, text: str, meta: dict | None = None, classification=None) -> dict:
    """Classification, place and cell for a text: what the pipeline and `gridline classify` show.

    "place_unclear" says the category is settled and only the place is missing or ambiguous:
    that is what the citizen can be asked about. `classification`: the text's, when a batch
    classified it already (classify_many: the model's arithmetic once for the batch).
    """
    # any text: odd input comes back with a reason (triage)
    cls = classification if classification is not None else ctx.classifier.classify(text)
    place, cell = _place_from_meta(ctx, meta or {})
    if place is None:
        place = ctx.gazetteer.find(prepare(text[:MAX_TEXT]).text)   # no lone surrogates, no control chars
        cell = ctx.grids.cell_at(place.lon, place.lat) if place else None
    fixed, chosen_by = dict((meta or {}).get("corrections") or {}), "人工更正"
    if not fixed.get("category_code") and (meta or {}).get("service_code"):
        # An Open311 client chose the service (a catalogue code) itself: that is the category.
        fixed["category_code"], chosen_by = meta["service_code"], f"service_code={meta['service_code']}"
    if fixed:
        cls, place, cell = _corrected(ctx, fixed, cls, place, cell, chosen_by)
    result = {"classification": cls, "place": place, "cell": cell, "route": None, "reason": "",
              "place_unclear": False}
    threshold = float(ctx.rules.settings.get("confidence_threshold", 0.45))
    if cls.code is None or cls.reason:
        result["reason"] = cls.reason or "未能分类"
    elif cls.confidence < threshold and not fixed.get("category_code"):
        result["reason"] = f"分类置信度 {_shown_below(cls.confidence, threshold)} 低于阈值 {threshold:.2f}"
    if cls.code is not None:
        result["route"] = route(ctx.rules, cls.code, cls.urgent, cell)  # the cell: 属地 and area overrides
        if cls.department and cls.department != result["route"].department:
            result["route"] = _model_department(ctx.rules, result["route"], cls.department)
    if not result["reason"] and (cell is None or getattr(place, "ambiguous", False)):
        result["reason"] = ("地点不明确，可能在多个网格" if cell is not None
                            else "未能确定地点所在网格" if place else "消息中没有可识别的地点")
        result["place_unclear"] = True
    return result


def _model_department(rules, r, department: str):
    """A department-labelled model (classifiers.combined) was surer of the unit than the rules."""
    import dataclasses
    dep = rules.departments.get(department)
    return dataclasses.replace(r, department=department, escalate_to=dep.escalate_to if dep else (),
                               reason=f"{r.reason}；部门依据历史工单模型改为{department}")


def _shown_below(confidence: float, threshold: float) -> str:
    """The confidence with as many decimals as it takes to read below the threshold (0.449, not
    “0.45 低于阈值 0.45”)."""
    for digits in range(2, 7):
        if round(confidence, digits) < threshold:
            return f"{confidence:.{digits}f}"
    return f"{confidence:.6f}"


def _corrected(ctx, fixed: dict, cls, place, cell, chosen_by: str = "人工更正"):
    """An operator's choices (web console: meta "corrections") or the reporter's (Open311
    service_code) decide over the machine's guess: a category code from the rules, a grid cell by
    code (placed at a point inside it). `chosen_by` joins the words that decided it."""
    import dataclasses
    code = fixed.get("category_code")
    if code and code != cls.code:
        try:
            cat = ctx.rules.category(code)
        except KeyError:
            cat = None
        if cat is not None:
            cls = dataclasses.replace(cls, code=cat.code, name=cat.name, words=[chosen_by], confidence=1.0, reason="",
                                      department=None)
    elif code and cls.reason:  # a person confirmed the machine's category: nothing left to doubt
        cls = dataclasses.replace(cls, reason="", department=None)
    chosen = ctx.grids.by_code.get(fixed.get("grid_code") or "")
    if chosen is not None and (cell is None or chosen.code != cell.code or getattr(place, "ambiguous", False)):
        point = chosen.geometry.representative_point()
        label = str(fixed.get("place") or chosen.name)[:200]
        place, cell = Place(label, "operator", point.x, point.y, 1.0, label), chosen
    elif fixed.get("place") and place is not None:
        place = dataclasses.replace(place, matched=str(fixed["place"])[:200])
    return cls, place, cell


def _open(ctx, s, msg: InboundMessage, a: dict, description: str):
    """Open (or, with duplicate detection, join) the case and acknowledge it to the citizen."""
    tz = ctx.config.timezone
    cls, place, cell, r = a["classification"], a["place"], a["cell"], a["route"]
    case = open_or_join(s, NewCase(
        category_code=cls.code, category_name=cls.name, confidence=cls.confidence, decided_by=cls.words,
        urgent=r.urgent, department=r.department, grid_code=cell.code, place=place.matched,
        lon=place.lon, lat=place.lat, description=description, reporter_phone=msg.sender, channel=msg.channel,
        message_id=msg.id, time_limit=r.time_limit, route_reason=r.reason,
        filed_by=str((msg.meta or {}).get("triaged_by") or "")), ctx.calendar, tz, grids=ctx.grids,
        rules=ctx.rules)
    due = clock.to_local(case.due_at, tz).strftime("%m月%d日%H:%M") if case.due_at else "尽快"
    fields = {"department": case.department.name if case.department else r.department, "due": due}
    ack = conversation.reply(ctx, s, msg, "ack", ctx.templates.render("ack", number=case.number or "", **fields),
                             case.id)
    msg.status, msg.reason = "done", ""
    batch = _Batch.of(s)
    batch.link(msg, case)
    if ack is not None and ack.id is None:  # a new row (a re-run finds the first one and leaves it be)
        batch.link(ack, case)
        if case.number is None:
            batch.acks.append((ack, case, fields))  # the text quotes the number the write phase gives
    return case


def _triage(ctx, s, msg: InboundMessage, reason: str) -> None:
    msg.status, msg.reason = "triage", reason
    conversation.reply(ctx, s, msg, "received", ctx.templates.render("received", message_id=msg.id))


def _report(ctx, s, conv, msg: InboundMessage) -> None:
    msg.kind = "report"
    a = analyse(ctx, msg.text, msg.meta, _Batch.of(s).classified.pop(msg.id, None))
    if not a["reason"]:
        _open(ctx, s, msg, a, msg.text)
    elif a["place_unclear"] and conversation.can_ask(ctx, s, msg):
        conversation.ask_where(ctx, s, conv, msg, a["reason"])
    else:
        _triage(ctx, s, msg, a["reason"])


def _answer(ctx, s, conv, msg: InboundMessage) -> None:
    """The citizen answered our ask-back: the held report with the answer's place, asked only once."""
    until = conv.ask_until
    held = conversation.take_held(s, conv)
    if held is None:  # the held report was handled meanwhile (an operator took it)
        _report(ctx, s, conv, msg)
        return
    own = analyse(ctx, msg.text, msg.meta, _Batch.of(s).classified.pop(msg.id, None))
    first = analyse(ctx, held.text, held.meta)
    if not own["reason"] and own["classification"].code != first["classification"].code:
        # A different, complete report of its own: not the answer. The held one keeps waiting.
        conv.held_message_id, conv.ask_until = held.id, until
        _report(ctx, s, conv, msg)
        return
    msg.kind, msg.status = "answer", "done"
    held.meta = {**(held.meta or {}), "answer": {"message_id": msg.id, "text": msg.text}}
    held.processed_at = utcnow()
    meta = msg.meta if _place_from_meta(ctx, msg.meta or {})[0] else held.meta
    a = analyse(ctx, f"{held.text}；{msg.text}" if msg.text else held.text, meta)
    if a["reason"] and first["place"] is not None and msg.text:
        # "王府井大街有人摆摊" then "18号门口": the number belongs to the road already named.
        a = analyse(ctx, f"{first['place'].matched}{msg.text}；{held.text}", meta)
    if a["reason"]:
        _triage(ctx, s, held, f"追问后仍未能确定：{a['reason']}")
        msg.reason = f"对受理编号 {held.id} 的补充；仍未能确定，已转人工分拣"
        return
    place_note = msg.text or a["place"].matched
    case = _open(ctx, s, held, a, f"{held.text}（补充地点：{place_note}）")
    msg.reason = f"对受理编号 {held.id} 的补充地点"
    _Batch.of(s).link(msg, case)


class _Batch:
    """One transaction for a batch of messages, read and decided first, written at its end.

    Reports and answers (nearly all messages) are decided with autoflush off: nothing is written
    while the batch classifies, places, looks for duplicates and composes replies, so SQLite's
    single writer is held only for the short write phase at the end (POSTs are not kept waiting
    behind a whole batch), and the rows are written together (multi-row INSERTs on PostgreSQL).
    What needs a written row is settled at the write phase: the numbers of the new cases
    (tickets.numbers, one counter upsert a day), the acknowledgements that quote them, and the case
    ids of the rows that point at a new case. Rarer messages (opt-out, survey, status query…) are
    handled on written state, as ever.
    """
    KEY = "gridline.batch"

    def __init__(self, ctx, s):
        self.ctx, self.s = ctx, s
        self.acks: list = []    # (outbound row, case, template fields): text once the case has its number
        self.links: list = []   # (row, case): row.case_id once the case has its id
        self.conversations: dict = {}  # (channel, sender) → Conversation, read once for the batch
        self.classified: dict = {}     # message id → Classification, taken (once) by its report
        numbers.defer(s)
        batch_duplicates(s)
        s.info[self.KEY] = self
        event.listen(s, "before_flush", self._before_flush)
        event.listen(s, "after_flush_postexec", self._after_flush)

    def read_ahead(self, msgs: list[InboundMessage]) -> None:
        """What every message of the batch needs read, in one query each instead of one a message:
        the senders' conversations (made first for new senders), the flood counts, and the dedupe
        keys of the usual replies."""
        if not msgs:
            return
        s, senders = self.s, {m.sender for m in msgs}
        for conv in s.scalars(select(Conversation).where(Conversation.sender.in_(senders))):
            self.conversations[(conv.channel, conv.sender)] = conv
        new = {(m.channel, m.sender) for m in msgs} - set(self.conversations)
        if new:  # what conversation.state would insert one by one, mid-batch
            _add_conversations(self.ctx, new)
            for conv in s.scalars(select(Conversation).where(Conversation.sender.in_({snd for _, snd in new}))):
                self.conversations.setdefault((conv.channel, conv.sender), conv)
        since = min(m.received_at for m in msgs) - conversation.FLOOD_WINDOW
        recent: dict = {}
        for row in s.execute(select(InboundMessage.channel, InboundMessage.sender, InboundMessage.id,
                                    InboundMessage.received_at)
                             .where(InboundMessage.sender.in_(senders), InboundMessage.received_at > since)):
            recent.setdefault((row.channel, row.sender), []).append(row)
        s.info[conversation.FLOOD_COUNTS] = {  # as conversation.flood_count counts them
            m.id: sum(1 for r in recent.get((m.channel, m.sender), ())
                      if r.id <= m.id and r.received_at > m.received_at - conversation.FLOOD_WINDOW)
            for m in msgs}
        outbox.expect_keys(s, [f"{kind}:{m.id}" for m in msgs for kind in _BATCH_REPLY_KINDS])
        # Every text at once (a survey answer "1" costs next to nothing): with a trained model the
        # batch's arithmetic is shared, about twice the rate of one message at a time.
        self.classified = dict(zip((m.id for m in msgs), self.ctx.classifier.classify_many([m.text for m in msgs])))

    @classmethod
    def of(cls, s) -> "_Batch":
        return s.info[cls.KEY]

    def link(self, row, case) -> None:
        """row.case_id = case.id: now, or once the write phase has written a case this batch opened."""
        if case.id is not None:
            row.case_id = case.id
        else:
            self.links.append((row, case))

    def _before_flush(self, s, _flush_context, _instances) -> None:
        numbers.assign_deferred(s)
        self.links.extend(late_notices(s))   # the departments' dispatch notices, now that cases have numbers
        for row, case, fields in self.acks:
            row.text = self.ctx.templates.render("ack", number=case.number, **fields)
        self.acks.clear()

    def _after_flush(self, s, _flush_context) -> None:
        for row, case in self.links:  # changed after the flush: the commit writes them
            row.case_id = case.id
        self.links.clear()
        batch_duplicates(s)  # cases were written (a survey may have reopened one): read them afresh


# The replies a report or an answer queues, each under "<kind>:<message id>" (conversation.reply);
# a batch looks these keys up at once instead of once per reply.
_BATCH_REPLY_KINDS = ("ack", "askback", "received")


def _process(ctx, s, msg: InboundMessage) -> None:
    with s.no_autoflush:  # see _Batch
        conv = _Batch.of(s).conversations.get((msg.channel, msg.sender)) or conversation.state(s, msg)
        if conv.ask_until is not None and conv.ask_until < msg.received_at:
            conversation.expire_one(ctx, s, conv)  # the wait ran out before this message came
        intent = conversation.decide(ctx, s, conv, msg)
        if intent.kind == "report":
            _report(ctx, s, conv, msg)
            return
        if intent.kind == "answer":
            _answer(ctx, s, conv, msg)
            return
    s.flush()  # opt-out, survey, status query…: they read (and leave) written state
    conversation.handle(ctx, s, conv, msg, intent)
    s.flush()


def _add_conversations(ctx, pairs: set) -> None:
    """New senders' conversation rows in one multi-row insert, in a short transaction of its own
    before the batch writes anything (the batch's own ORM inserts go one row at a time on SQLite)."""
    with ctx.db.session() as s:
        insert = pg_insert if s.bind.dialect.name == "postgresql" else sqlite_insert
        s.execute(insert(Conversation).on_conflict_do_nothing(index_elements=["channel", "sender"]),
                  [{"channel": channel, "sender": sender, "updated_at": utcnow()} for channel, sender in pairs])
        s.commit()


def process_messages(ids: list[int]) -> int:
    """Process these messages (those still pending); one transaction, or one each if that fails."""
    ctx = context.get()
    done = 0
    try:
        with ctx.db.session() as s:
            # FOR UPDATE SKIP LOCKED (PostgreSQL; SQLite has one writer and ignores it): two
            # workers that read the same pending ids each take the rows the other has not.
            msgs = s.scalars(select(InboundMessage).where(InboundMessage.id.in_(ids),
                                                          InboundMessage.status == "received")
                             .order_by(InboundMessage.id).with_for_update(skip_locked=True)).all()
            _Batch(ctx, s).read_ahead(msgs)
            for msg in msgs:
                _process(ctx, s, msg)
                msg.processed_at = msg.processed_at or utcnow()
                done += 1
            with_photos = [m.id for m in msgs if media.fetchable_refs(ctx.config, m.meta)]
            s.commit()
        media.enqueue(ctx, with_photos)
        return done
    except Exception:
        if len(ids) == 1:
            _mark_failed(ctx, ids[0])
            return 0
        log.exception("batch of %d failed; retrying one by one", len(ids))
        return sum(process_messages([i]) for i in ids)


def _mark_failed(ctx, message_id: int) -> None:
    """A message that failed alone: left pending for the sweeper to try again (a deadlock, the
    database going away mid-write), and after MAX_ATTEMPTS given to a person, stored as it came."""
    log.exception("message %s failed", message_id)
    with ctx.db.session() as s:
        attempts = (s.scalar(select(InboundMessage.attempts).where(InboundMessage.id == message_id)) or 0) + 1
        values = {"attempts": attempts}
        if attempts >= MAX_ATTEMPTS:
            values.update(status="failed", reason="处理出错，已记录，待人工处理")
        s.execute(update(InboundMessage).where(InboundMessage.id == message_id,
                                               InboundMessage.status == "received").values(**values))
        s.commit()


def _pending_ids(ctx, limit: int) -> list[int]:
    with ctx.db.session() as s:
        # SKIP LOCKED: not the rows another worker is processing right now (PostgreSQL).
        return list(s.scalars(select(InboundMessage.id).where(InboundMessage.status == "received")
                              .order_by(InboundMessage.id).limit(limit).with_for_update(skip_locked=True)))


def drain() -> int:
    """The intake job: process pending messages in batches until none is left, or for about
    DRAIN_SLICE seconds and then leave the rest to a new job (the worker takes its queues in turn:
    a notify job gets its turn between two intake slices).

    While messages keep coming, a batch waits until GATHER seconds after the previous one began,
    unless a full batch is pending: its fixed cost (a few queries, the write) is then shared by the
    messages of those moments, not paid by each one (a stream of 200/s otherwise comes one or two
    messages a batch, at several times the CPU per message).
    """
    ctx = context.get()
    queue.clear_flag(ctx, queue.INTAKE)
    size, total, started, last = ctx.config.batch_size, 0, time.monotonic(), None
    while True:
        ids = _pending_ids(ctx, size)
        if last is not None and len(ids) < size and (wait := last + GATHER - time.monotonic()) > 0:
            time.sleep(wait)
            ids = _pending_ids(ctx, size)
        if not ids:
            break
        last = time.monotonic()
        done = process_messages(ids)
        total += done
        queue.kick(ctx, queue.NOTIFY)
        if done == 0:  # what is left failed (the sweeper retries it) or another worker holds it
            break
        if time.monotonic() - started > DRAIN_SLICE:
            queue.kick(ctx, queue.INTAKE)  # the rest in a new job; without Redis the sweeper kicks it
            break
    return total


# ---- sending ------------------------------------------------------------------------------------

def _telegram_backend(ctx):
    from notify.telegram import backend_for
    return backend_for(ctx.config)  # None when no bot token is configured


def _webhook_backend(ctx):
    from notify.webhook import backend_for
    return backend_for(ctx.config)  # None when GRIDLINE_WEBHOOK_SECRET is not set


# channel → the outbox backend that sends on it (None: not configured in this deployment).
CHANNEL_BACKENDS = {
    "sms": lambda ctx: ctx.sms_backend,
    "telegram": _telegram_backend,
    "webhook": _webhook_backend,
}
_senders: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_senders_lock = threading.Lock()  # the worker's sweeper thread and its jobs both ask


def backends(ctx) -> dict:
    """The backends of this process, made once per context (a Twilio client, a Telegram bot)."""
    with _senders_lock:
        return _senders.get(ctx) or _make_backends(ctx)


def _make_backends(ctx) -> dict:
    made = {}
    for channel, make in CHANNEL_BACKENDS.items():
        try:
            backend = make(ctx)
        except Exception as exc:  # a misconfigured channel must not stop the others
            log.error("no %s backend: %s", channel, exc)
            backend = None
        if backend is not None:
            made[channel] = backend
    _senders[ctx] = {"backends": made, "limiter": SendRate(ctx.redis), "policy": outbox.Policy.from_config(ctx.config)}
    return _senders[ctx]


def _after_sent(session, msg: OutboundMessage) -> None:
    if msg.kind in SURVEY_KINDS and msg.case_id:
        conversation.expect_survey(context.get(), session, msg.channel, msg.to, msg.case_id)


def deliver_outbox() -> int:
    """The notify job: send due outbox rows for about SEND_SLICE seconds, then leave the rest to a
    new job. The worker takes its queues in turn, so a burst of acknowledgements to send never
    keeps new reports waiting for more than a slice (nor a stream of reports the sending)."""
    ctx = context.get()
    queue.clear_flag(ctx, queue.NOTIFY)
    made = backends(ctx)
    total, until = 0, time.monotonic() + SEND_SLICE
    with ctx.db.session() as s:
        while ids := outbox.claim(s, channels=list(made["backends"])):
            total += outbox.deliver(s, ids, made["backends"], made["policy"], made["limiter"], _after_sent)
            if time.monotonic() > until:
                queue.kick(ctx, queue.NOTIFY)  # without Redis the sweeper kicks it
                break
    return total


def _work_here() -> int:
    """Redis is unreachable (no job can be queued, the RQ worker waits to reconnect): the sweeper
    itself processes pending messages and sends the outbox, in the jobs' slices, for up to
    WORK_HERE seconds a round, so acknowledgements still go out; the next round does more.
    Another worker doing the same is safe (the batches claim rows, SKIP LOCKED)."""
    until, done = time.monotonic() + WORK_HERE, 0
    while time.monotonic() < until:
        n = drain() + deliver_outbox()
        done += n
        if n == 0:
            break
    return done


def sweep(min_age_seconds: float = 2.0) -> dict:
    """Store what the database-down spool kept (intake.spool), kick the jobs for work that waited
    too long (Redis was down, a kick was lost) or do that work here while Redis is away, send held
    reports whose ask-back expired to triage, and show sends a dead worker left half done."""
    ctx = context.get()
    spooled = spool.drain(ctx, service.store_spooled)  # first: a stored spooled message is then pending like any other
    now = utcnow()
    cutoff = now - timedelta(seconds=min_age_seconds)
    channels = list(backends(ctx)["backends"])
    with ctx.db.session() as s:
        expired = conversation.expire(ctx, s, now)
        s.commit()
        stuck = outbox.mark_stuck(s, now)
        inbound = s.scalar(select(InboundMessage.id).where(InboundMessage.status == "received",
                                                           InboundMessage.received_at <= cutoff).limit(1))
        outbound = s.scalar(select(OutboundMessage.id).where(
            OutboundMessage.status == "pending", OutboundMessage.channel.in_(channels),
            OutboundMessage.created_at <= cutoff,
            or_(OutboundMessage.next_attempt_at.is_(None), OutboundMessage.next_attempt_at <= now)).limit(1))
    kicked = {}
    if inbound is not None:
        kicked[queue.INTAKE] = queue.kick(ctx, queue.INTAKE)
    if outbound is not None or expired:
        kicked[queue.NOTIFY] = queue.kick(ctx, queue.NOTIFY)
    if False in kicked.values():  # no job will come while Redis is away: a report must not wait for it
        kicked["worked_here"] = _work_here()
    if expired or stuck:
        kicked.update(expired_ask_backs=expired, stuck_sends=stuck)
    if spooled:
        kicked["spooled"] = spooled
    return kicked
