"""An MMS photo is kept by Gridline: the worker fetches the media URL of our Twilio account with the
account's credentials (HTTP auth on media, as Twilio can require) from the loopback fake, follows
its redirect to the media store without them, and the case page shows the picture. A link that is
not our account's media is never fetched by the server: the page links to it."""
from __future__ import annotations

import re

from sqlalchemy import select

from intake import media
from intake.models import InboundMessage
from tickets.models import Case
from twilio_fake import fake_twilio, post_signed, sms_client, sms_fields, twilio_ctx  # noqa: F401 (fixtures)
from web_support import make_staff, png, signed_in

CITIZEN = "+8613800138111"
TEXT = "东四北大街18号门口井盖丢了，晚上很危险"


def mms(ctx, client, run_worker, url: str) -> tuple[str, int]:
    fields = sms_fields(CITIZEN, TEXT, NumMedia="1", MediaUrl0=url, MediaContentType0="image/png")
    assert post_signed(client, "/sms/twilio", fields).status_code == 200
    run_worker()
    with ctx.db.session() as s:
        msg = s.scalar(select(InboundMessage).where(InboundMessage.external_id == fields["MessageSid"]))
        assert msg.status == "done", msg.reason
        return s.get(Case, msg.case_id).number, msg.id


def page_of(client, ctx, number: str) -> tuple[object, str]:
    make_staff(ctx)
    staff = signed_in(client.application, "t_ver")
    return staff, staff.get(f"/cases/{number}").get_data(as_text=True)


def test_an_mms_photo_is_fetched_with_the_account_s_credentials_and_shown(twilio_ctx, sms_client, fake_twilio,
                                                                        run_worker, auth):
    sid = "ME" + "1" * 32
    fake_twilio.media[sid] = png()
    number, message_id = mms(twilio_ctx, sms_client, run_worker, fake_twilio.media_url(sid))
    path, ctype = media.kept(twilio_ctx, fake_twilio.media_url(sid))
    assert (path.read_bytes(), ctype) == (png(), "image/png")
    assert not fake_twilio.store_saw_credentials             # the account's secret stays with Twilio's API
    staff, page = page_of(sms_client, twilio_ctx, number)
    src = f"/cases/{number}/messages/{message_id}/photos/0"
    assert f'<img class="thumb" src="{src}" alt="市民照片 1">' in page
    r = staff.get(src)
    assert (r.status_code, r.mimetype, r.data) == (200, "image/png", png())
    (photo,) = sms_client.get(f"/api/cases/{number}", headers=auth).get_json()["photos"]
    assert sms_client.get(photo["href"], headers=auth).data == png()


def test_media_twilio_no_longer_has_is_explained_not_lost(twilio_ctx, sms_client, fake_twilio, run_worker):
    url = fake_twilio.media_url("ME" + "2" * 32)                 # deleted at Twilio before we fetched it
    number, message_id = mms(twilio_ctx, sms_client, run_worker, url)
    staff, _ = page_of(sms_client, twilio_ctx, number)
    r = staff.get(f"/cases/{number}/messages/{message_id}/photos/0")
    assert r.status_code == 502 and "已被删除" in r.get_data(as_text=True)
    with twilio_ctx.db.session() as s:
        assert s.get(InboundMessage, message_id).meta["photos"] == [url]


def test_a_link_that_is_not_our_account_s_media_is_linked_never_fetched(twilio_ctx, sms_client, fake_twilio,
                                                                        run_worker):
    for url in (fake_twilio.media_url("ME" + "3" * 32, account="AC" + "9" * 32),   # another account
                "http://127.0.0.1:9/internal/admin.png"):                        # not Twilio at all
        fake_twilio.media["ME" + "3" * 32] = png()
        number, message_id = mms(twilio_ctx, sms_client, run_worker, url)
        assert media.kept(twilio_ctx, url) is None
        staff, page = page_of(sms_client, twilio_ctx, number)
        assert re.search(rf'<a href="{re.escape(url)}" rel="noopener noreferrer" target="_blank">照片 \d</a>', page)
        r = staff.get(f"/cases/{number}/messages/{message_id}/photos/0")
        assert (r.status_code, r.headers["Location"]) == (302, url)


def test_an_mms_recording_goes_to_an_operator_with_its_sound(twilio_ctx, sms_client, fake_twilio, run_worker):
    sid, amr = "ME" + "4" * 32, b"#!AMR\n" + bytes(range(64))
    fake_twilio.media[sid] = amr
    fields = sms_fields(CITIZEN, "", NumMedia="1", MediaUrl0=fake_twilio.media_url(sid), MediaContentType0="audio/amr")
    assert post_signed(sms_client, "/sms/twilio", fields).status_code == 200
    run_worker()
    with twilio_ctx.db.session() as s:
        msg = s.scalar(select(InboundMessage).where(InboundMessage.external_id == fields["MessageSid"]))
    assert (msg.status, msg.reason) == ("triage", "语音或视频留言，待话务员收听后分拣")
    assert "语音留言已收到" in fake_twilio.bodies(CITIZEN)[-1]
    make_staff(twilio_ctx)
    operator = signed_in(sms_client.application, "t_op")
    page = operator.get(f"/operator/triage/{msg.id}").get_data(as_text=True)
    src = f"/operator/messages/{msg.id}/voice/0"
    assert f'<audio controls preload="none" src="{src}"></audio> <a href="{src}" download>下载</a>' in page
    r = operator.get(src)
    assert (r.status_code, r.mimetype, r.data) == (200, "audio/amr", amr)
