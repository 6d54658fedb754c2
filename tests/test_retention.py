"""`gridline anonymise`: a long-finished case forgets who reported it, and nothing else
(tickets/retention.py, intake/retention.py). Cases are built at past moments on the real rules and
database; the command runs as a city would run it, from the command line."""
from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import select

from case_factory import act_at, at, open_at
from cli import cli
from intake import media
from intake.models import Conversation, InboundMessage
from notify.models import OptOut, OutboundMessage
from tickets.models import Case, CaseEvent, CaseReporter
from tickets.service import record_survey
from web.models import PhoneView
from web_support import signed_in, staff, staff_accounts  # noqa: F401 (fixtures)

CITIZEN, OTHER = "+8613911112222", "+8613955556666"
WORDS = "东四北大街18号门口有一堆暴露垃圾没人清理，电话13800001111"


def _message(s, when, sender, text, case=None, **meta):
    msg = InboundMessage(channel="sms", external_id=f"SM{sender[-4:]}{when:%Y%m%d%H%M%S}", sender=sender, text=text,
                         meta=meta, status="done", kind="report" if case else "query", received_at=when,
                         case_id=case.id if case else None)
    s.add(msg)
    s.flush()
    return msg


def _anonymise(*args) -> dict:
    out = CliRunner().invoke(cli, ["anonymise", "--older-than", "365", "--json", *args])
    assert out.exit_code == 0, out.output
    return json.loads(out.output.splitlines()[-1])


def _stats(client, auth):
    body = client.get("/api/stats", query_string={"group_by": "department", "from": "2025-01", "to": "2025-12"},
                      headers=auth).get_json()
    return body["rows"]


def test_a_long_finished_case_forgets_the_reporter_and_keeps_what_happened(app, ctx, client, auth, staff):
    with ctx.db.session() as s:
        old = open_at(ctx, s, at(2025, 3, 3, 9, 0), phone=CITIZEN, text=WORDS)
        sms = _message(s, at(2025, 3, 3, 9, 0), CITIZEN, WORDS, old, twilio={"From": CITIZEN, "FromCity": "BEIJING"})
        s.add(CaseReporter(case=old, phone=OTHER, channel="sms"))             # a second reporter joined
        act_at(ctx, s, old, "resolve", "department", at(2025, 3, 3, 11, 0), note="已清运，联系人电话13622223333")
        act_at(ctx, s, old, "close", "verifier", at(2025, 3, 3, 12, 0))
        record_survey(s, old, 1, actor=CITIZEN, now=at(2025, 3, 3, 13, 0))
        query = _message(s, at(2025, 3, 5, 9, 0), CITIZEN, "查询进度")            # never a case
        voice_ref = "telegram:VOICE-old"
        voice = _message(s, at(2025, 3, 6, 9, 0), "tg:4242", "", None, voice=[voice_ref], name="张三",
                         chat_id=4242, username="zhangsan")
        kept = media._stem(ctx, voice_ref).with_suffix(".ogg")
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_bytes(b"OggS" + b"\0" * 60)
        s.add(PhoneView(username="t_op", phone=CITIZEN, case_id=old.id, at=at(2025, 3, 3, 9, 30)))
        s.add(OptOut(channel="sms", address=CITIZEN, keyword="TD"))
        s.add(OutboundMessage(to="+861065550000", text="【网格通】新派遣：…", kind="dispatch", case_id=old.id,
                              dedupe_key="test:dispatch:old", status="sent"))     # to the department
        recent = open_at(ctx, s, at(2026, 11, 30, 9, 0), phone=CITIZEN, text=WORDS)   # still open: untouched
        s.commit()
        old_id, recent_id, sms_id, query_id, voice_id, number = old.id, recent.id, sms.id, query.id, voice.id, old.number
    before = _stats(client, auth)

    dry = _anonymise("--dry-run")
    assert (dry["cases"], dry["dry_run"]) == (1, True) and dry["messages"] == 3 and dry["voice_files"] == 1
    with ctx.db.session() as s:
        assert s.get(Case, old_id).reporter_phone == CITIZEN and kept.exists()   # a dry run changes nothing

    done = _anonymise()
    assert (done["cases"], done["messages"], done["audit_rows"], done["voice_files"]) == (1, 3, 1, 1)
    with ctx.db.session() as s:
        case = s.get(Case, old_id)
        pseudonym = case.reporter_phone
        assert pseudonym.startswith("anon:") and "13800001111" not in case.description and "138****1111" in case.description
        assert pseudonym in {r.phone for r in case.reporters} and all(r.phone.startswith("anon:") for r in case.reporters)
        events = s.scalars(select(CaseEvent).where(CaseEvent.case_id == old_id)).all()
        assert [e.action for e in events][-1] == "survey" and events[-1].actor == pseudonym
        assert all("13622223333" not in (e.note or "") for e in events)
        sms, query, voice = s.get(InboundMessage, sms_id), s.get(InboundMessage, query_id), s.get(InboundMessage, voice_id)
        assert sms.sender == query.sender == pseudonym                       # one citizen, one pseudonym
        assert "twilio" not in sms.meta and "13800001111" not in sms.text
        assert voice.sender.startswith("anon:") and voice.meta["voice"] == [] and "name" not in voice.meta
        assert not kept.exists()
        sent = s.scalars(select(OutboundMessage).where(OutboundMessage.case_id == old_id)).all()
        assert sent and CITIZEN not in {m.to for m in sent} and OTHER not in {m.to for m in sent}
        assert all("13622223333" not in m.text for m in sent)
        assert [m.to for m in sent if m.kind == "dispatch"] == ["+861065550000"]   # departments keep theirs
        assert s.scalar(select(PhoneView.phone)) == pseudonym
        assert s.scalar(select(OptOut.address)) == CITIZEN                  # 退订 is still honoured
        assert s.get(Case, recent_id).reporter_phone == CITIZEN             # not finished: not touched
        assert s.scalar(select(Conversation.id).where(Conversation.sender == CITIZEN)) is None
    assert _stats(client, auth) == before                                   # every figure the same
    page = signed_in(app, "t_op").get(f"/cases/{number}").get_data(as_text=True)
    assert "（已匿名）" in page and "市民（已匿名）" in page and "anon:" not in page
    assert _anonymise()["cases"] == 0                                       # done once; a rerun is a no-op
    def results(s):
        return s.scalars(select(OutboundMessage.id).where(OutboundMessage.case_id == old_id,
                                                          OutboundMessage.kind == "result")).all()
    with ctx.db.session() as s:                  # reopened years later (返工) and closed: no SMS to a pseudonym
        before_rework = results(s)
        case = s.get(Case, old_id)
        act_at(ctx, s, case, "rework", "supervisor", at(2026, 12, 1, 9, 0), note="复查发现问题复发")
        act_at(ctx, s, case, "resolve", "department", at(2026, 12, 1, 11, 0), note="垃圾已再次清运")
        act_at(ctx, s, case, "close", "verifier", at(2026, 12, 1, 12, 0))
        s.commit()
        assert s.get(Case, old_id).status == "closed" and results(s) == before_rework


def test_the_period_has_a_floor_and_a_clear_error():
    out = CliRunner().invoke(cli, ["anonymise", "--older-than", "7"])
    assert out.exit_code == 2 and "7 is not in the range x>=30" in out.output


def test_the_worker_forgets_once_a_day_when_the_city_set_a_period(ctx, monkeypatch):
    from commands import privacy
    with ctx.db.session() as s:
        old = open_at(ctx, s, at(2025, 3, 3, 9, 0), phone=CITIZEN, text=WORDS)
        act_at(ctx, s, old, "resolve", "department", at(2025, 3, 3, 11, 0), note="垃圾已清运")
        act_at(ctx, s, old, "close", "verifier", at(2025, 3, 3, 12, 0))
        s.commit()
        old_id = old.id
    assert privacy.daily(ctx) is None                          # no period set: never
    monkeypatch.setattr(ctx.config, "retention_days", 365)
    ctx.redis.delete(privacy.DAILY_KEY.format(day="2026-12-01"))
    first = privacy.daily(ctx, now=at(2026, 12, 1, 10, 0))
    assert first["cases"] == 1
    assert privacy.daily(ctx, now=at(2026, 12, 1, 15, 0)) is None   # the same day: another worker's turn is over
    with ctx.db.session() as s:
        assert s.get(Case, old_id).reporter_phone.startswith("anon:")


def test_a_period_shorter_than_a_month_is_refused_at_start(monkeypatch):
    import pytest
    from config import Config
    monkeypatch.setenv("GRIDLINE_RETENTION_DAYS", "7")
    with pytest.raises(ValueError, match="GRIDLINE_RETENTION_DAYS"):
        Config()
