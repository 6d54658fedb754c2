"""The intake worker decides a batch of messages first and writes it at the end: SQLite's single
writer is held only for that moment, new cases are numbered in order at the write, and every
acknowledgement quotes its case's number."""
from __future__ import annotations

import re

from sqlalchemy import event, select

from intake.models import InboundMessage
from intake.processing import process_messages
from notify.models import OutboundMessage
from tickets.models import Case, Counter

REPORTS = [  # two new cases, a duplicate of the first (one batch), a third case, one without a place
    ("+8613800000301", "东四北大街18号门口井盖丢了，晚上很危险"),
    ("+8613800000302", "王府井大街18号有人占道经营卖水果"),
    ("+8613800000303", "东四北大街18号门口井盖丢了，很危险"),
    ("+8613800000304", "交道口南大街20号路灯不亮了"),
    ("+8613800000305", "路灯不亮了"),
]


def post_all(client, auth, new_id) -> list[int]:
    ids = []
    for caller, text in REPORTS:
        r = client.post("/hotline/transcripts", json={"caller": caller, "text": text, "call_id": new_id()},
                        headers=auth)
        assert r.status_code == 202
        ids.append(r.get_json()["message_id"])
    return ids


def test_a_batch_reads_and_decides_before_it_writes(client, auth, ctx, new_id):
    ids = post_all(client, auth, new_id)
    log: list[str] = []

    def statement(_conn, _cursor, sql, _params, _context, _many):
        log.append(sql.lstrip().split(None, 1)[0].upper())

    def commit(_conn):
        log.append("COMMIT")

    event.listen(ctx.db.engine, "before_cursor_execute", statement)
    event.listen(ctx.db.engine, "commit", commit)
    try:
        assert process_messages(ids) == len(ids)
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", statement)
        event.remove(ctx.db.engine, "commit", commit)
    transactions = [[]]
    for kind in log:
        transactions.append([]) if kind == "COMMIT" else transactions[-1].append(kind)
    batch = [t for t in transactions if t][-1]  # the batch's own (before it: the new conversations')
    first_write = next(i for i, kind in enumerate(batch) if kind != "SELECT")
    assert batch[:first_write].count("SELECT") >= 3                         # the batch did read
    assert "SELECT" not in batch[first_write:], batch                     # and then only wrote


def test_new_cases_of_a_batch_are_numbered_in_order_and_acknowledged_with_their_number(
        client, auth, ctx, new_id, run_worker):
    ids = post_all(client, auth, new_id)
    run_worker()
    with ctx.db.session() as s:
        msgs = s.scalars(select(InboundMessage).where(InboundMessage.id.in_(ids)).order_by(InboundMessage.id)).all()
        assert [m.status for m in msgs] == ["done"] * 4 + ["triage"]
        cases = {c.id: c for c in s.scalars(select(Case))}
        opened = [cases[m.case_id].number for m in msgs[:4]]
        assert opened[0] == opened[2]                                     # the duplicate joined
        first, second, third = (opened[0], opened[1], opened[3])
        day, seq = first.split("-")
        assert [second, third] == [f"{day}-{int(seq) + k:06d}" for k in (1, 2)]  # in order, no gap
        assert s.scalar(select(Counter.value).where(Counter.name == f"case-{day}")) == int(seq) + 2
        for m in msgs[:4]:
            ack = s.scalar(select(OutboundMessage).where(OutboundMessage.dedupe_key == f"ack:{m.id}"))
            assert ack.case_id == m.case_id
            assert re.search(r"\d{8}-\d{6}", ack.text).group(0) == cases[m.case_id].number
        assert sorted(r.phone for r in cases[msgs[0].case_id].reporters) == [REPORTS[0][0], REPORTS[2][0]]


def test_two_workers_on_the_same_messages_process_each_once(client, auth, ctx, new_id):
    """Two worker processes read the same pending ids; each message must still open one case and
    get one acknowledgement, and none may end as failed (PostgreSQL: SKIP LOCKED; SQLite: one
    writer, the loser finds the messages done)."""
    import threading

    roads = ["东四北大街", "王府井大街", "交道口南大街"]
    ids = []
    for n in range(60):  # enough for the two to overlap: distinct callers and house numbers
        text = f"{roads[n % 3]}{n + 1}号{'路灯不亮了' if n % 2 else '有暴露垃圾没人清理'}"
        r = client.post("/hotline/transcripts", json={"caller": f"+86139000{n:05d}", "text": text,
                                                      "call_id": new_id()}, headers=auth)
        ids.append(r.get_json()["message_id"])
    start = threading.Barrier(2)
    done: list[int] = []

    def work():
        start.wait()
        done.append(process_messages(ids))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    with ctx.db.session() as s:
        msgs = s.scalars(select(InboundMessage).where(InboundMessage.id.in_(ids))).all()
        assert [m.status for m in msgs if m.status != "done"] == []
        assert sum(done) == len(ids)
        acks = s.scalars(select(OutboundMessage).where(OutboundMessage.dedupe_key.in_(
            [f"ack:{i}" for i in ids]))).all()
        assert len(acks) == len(ids)  # one each (the dedupe key would refuse a second)
        assert all(m.case_id for m in msgs)  # similar reports nearby may join one case: each has one


def test_a_message_that_keeps_failing_is_retried_then_kept_for_a_person(client, auth, ctx, new_id, monkeypatch):
    import intake.processing as processing

    r = client.post("/hotline/transcripts", json={"caller": "+8613800000399", "text": "交道口南大街20号路灯不亮了",
                                                  "call_id": new_id()}, headers=auth)
    mid = r.get_json()["message_id"]
    real = processing.analyse

    def broken(ctx_, text, meta=None):  # a fault in the middle of processing, e.g. the database went away
        raise RuntimeError("injected fault")

    monkeypatch.setattr(processing, "analyse", broken)
    for attempt in range(1, processing.MAX_ATTEMPTS + 1):
        assert process_messages([mid]) == 0
        with ctx.db.session() as s:
            msg = s.get(InboundMessage, mid)
            assert msg.attempts == attempt
            assert msg.status == ("failed" if attempt == processing.MAX_ATTEMPTS else "received")
    assert "待人工处理" in msg.reason and msg.text == "交道口南大街20号路灯不亮了"   # stored as it came
    monkeypatch.setattr(processing, "analyse", real)


def test_each_new_case_of_a_batch_reaches_its_department_once_with_its_number(
        client, auth, ctx, new_id, run_worker):
    """新派遣: the department hears of each case the batch opened (not of a duplicate joining it),
    with the number the write phase gave it, and the notice points at the case."""
    ids = post_all(client, auth, new_id)
    run_worker()
    with ctx.db.session() as s:
        msgs = s.scalars(select(InboundMessage).where(InboundMessage.id.in_(ids)).order_by(InboundMessage.id)).all()
        opened = {m.case_id for m in msgs if m.case_id}
        assert len(opened) == 3
        for case in s.scalars(select(Case).where(Case.id.in_(opened))):
            [notice] = s.scalars(select(OutboundMessage).where(OutboundMessage.kind == "dispatch",
                                                               OutboundMessage.case_id == case.id)).all()
            assert notice.to == case.department.phone and notice.dedupe_key == f"dispatch:{case.number}:1"
            assert "新派遣" in notice.text and case.number in notice.text and case.place in notice.text
            assert case.description[:10] in notice.text
