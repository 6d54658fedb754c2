"""A voice message on Telegram is not lost to "unsupported": it goes to the triage queue with the
sound kept (fetched through the real python-telegram-bot from the loopback fake Bot API), the
citizen is told a person will listen, and the operator listens on the triage page, types what was
said and opens the case; the case keeps the voice beside the operator's words.
"""
from __future__ import annotations

import re

from sqlalchemy import select

from intake import media
from intake.models import InboundMessage
from test_telegram import bot_api, ctx, telegram  # noqa: F401 (fixtures: fake Bot API, Telegram on)
from test_telegram import message, post, stored
from tickets.models import Case
from web_support import make_staff, png, post_form, signed_in

OGG = b"OggS\x00\x02" + bytes(range(200))          # the first bytes of an Ogg/Opus voice note
AUDIO = re.compile(r'<audio controls preload="none" src="([^"]+)"></audio>')


def voice(update_id: int, file_id: str, **fields) -> dict:
    return message(update_id, voice={"file_id": file_id, "file_unique_id": file_id[-6:], "duration": 7,
                                     "mime_type": "audio/ogg", "file_size": len(OGG)}, **fields)


def test_a_voice_message_is_heard_by_an_operator_who_opens_the_case(ctx, app, client, auth, telegram, run_worker):
    telegram.files["AwACvoice-1"] = OGG
    assert post(client, voice(10601, "AwACvoice-1")).get_json()["outcome"] == "received"
    run_worker()
    msg = stored(ctx, 10601)
    assert (msg.status, msg.reason) == ("triage", "语音或视频留言，待话务员收听后分拣")
    reply = telegram.sent()[-1]["text"]
    assert "语音留言已收到" in reply and f"受理编号{msg.id}" in reply
    assert media.kept(ctx, "telegram:AwACvoice-1", "voice")[0].read_bytes() == OGG

    make_staff(ctx)
    operator = signed_in(app, "t_op")
    queue_page = operator.get("/operator/triage").get_data(as_text=True)
    assert re.search(rf'<tr><td>{msg.id}</td>(?:(?!</tr>).)*<span class="tag">语音</span>', queue_page, re.S)
    page = operator.get(f"/operator/triage/{msg.id}").get_data(as_text=True)
    src = AUDIO.search(page).group(1)
    assert src == f"/operator/messages/{msg.id}/voice/0" and 'name="text"' in page
    r = operator.get(src)
    assert (r.status_code, r.mimetype, r.data) == (200, "audio/ogg", OGG)

    category = next(c for c in ctx.rules.categories if not c.urgent)
    grid = next(iter(ctx.grids.by_code))
    choice = {"decision": "open", "category_code": category.code, "grid_code": grid, "place": "东四北大街18号"}
    r = post_form(operator, f"/operator/triage/{msg.id}", choice)
    assert r.status_code == 422 and "请填写听写内容" in r.get_data(as_text=True)   # nothing to open a case with
    heard = "东四北大街18号门口井盖丢了，晚上很危险"
    assert post_form(operator, f"/operator/triage/{msg.id}", {**choice, "text": heard}).status_code == 302
    run_worker()
    msg = stored(ctx, 10601)
    assert msg.status == "done", msg.reason
    assert (msg.text, msg.meta["transcribed_by"], msg.meta["voice"]) == (heard, "t_op", ["telegram:AwACvoice-1"])
    with ctx.db.session() as s:
        case = s.get(Case, msg.case_id)
        assert (case.description, case.category_code, case.grid_code) == (heard, category.code, grid)
    (listed,) = client.get(f"/api/cases/{case.number}", headers=auth).get_json()["voice"]
    assert client.get(listed["href"], headers=auth).data == OGG
    page = signed_in(app, "t_ver").get(f"/cases/{case.number}").get_data(as_text=True)
    assert "市民语音" in page and "听写：t_op" in page
    r = operator.get(AUDIO.search(page).group(1))
    assert (r.status_code, r.data) == (200, OGG)


def test_a_voice_with_a_caption_is_a_report_and_keeps_its_sound(ctx, client, telegram, run_worker):
    telegram.files["AwACvoice-2"] = OGG
    post(client, voice(10611, "AwACvoice-2", caption="东四北大街18号门口井盖丢了，晚上很危险"))
    run_worker()
    msg = stored(ctx, 10611)
    assert msg.status == "done" and msg.case_id is not None, msg.reason
    assert media.kept(ctx, "telegram:AwACvoice-2", "voice") is not None


def test_what_is_not_a_sound_is_not_played(ctx, app, client, telegram, run_worker):
    telegram.files["AwACvoice-3"] = png()                  # the provider sent something else
    post(client, voice(10621, "AwACvoice-3"))
    run_worker()
    msg = stored(ctx, 10621)
    assert msg.status == "triage" and media.kept(ctx, "telegram:AwACvoice-3", "voice") is None
    make_staff(ctx)
    r = signed_in(app, "t_op").get(f"/operator/messages/{msg.id}/voice/0")
    assert r.status_code == 502 and "不是 OGG/MP3/MP4/WAV/WebM/AMR 音频" in r.get_data(as_text=True)
    with ctx.db.session() as s:                            # nothing lost: the reference stays
        assert s.scalar(select(InboundMessage.meta).where(InboundMessage.id == msg.id))["voice"] == [
            "telegram:AwACvoice-3"]


def test_a_video_note_and_an_audio_file_are_voice_too(ctx, client, telegram):
    for update_id, kind, body in ((10631, "video_note", {"file_id": "DQACnote", "file_unique_id": "n1", "length": 240,
                                                         "duration": 5}),
                                  (10632, "audio", {"file_id": "CQACaudio", "file_unique_id": "a1", "duration": 30,
                                                    "mime_type": "audio/mpeg"})):
        assert post(client, message(update_id, **{kind: body})).get_json()["outcome"] == "received"
        meta = stored(ctx, update_id).meta
        assert (meta["voice"], meta["message_type"]) == ([f"telegram:{body['file_id']}"], kind)
