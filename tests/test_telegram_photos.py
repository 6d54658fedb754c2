"""A photo sent on Telegram is a picture on the case page, not a file id: the worker fetches it
through the real python-telegram-bot from the loopback fake Bot API (getFile, then the file URL)
and keeps it; when that failed, the page fetches it when staff open it. Nothing is lost meanwhile.
"""
from __future__ import annotations

import json
import re

from sqlalchemy import select

from intake import media
from test_telegram import bot_api, ctx, telegram  # noqa: F401 (fixtures: fake Bot API, Telegram on)
from test_telegram import message, post, stored
from tickets.models import Case
from web_support import make_staff, png, signed_in

THUMB = re.compile(r'<img class="thumb" src="([^"]+)" alt="市民照片 1">')


def report_with_photo(ctx, client, run_worker, update_id: int, file_id: str) -> tuple[str, int]:
    body = message(update_id, caption="东四北大街18号门口井盖丢了，晚上很危险", photo=[
        {"file_id": f"{file_id}-small", "file_unique_id": "s", "width": 90, "height": 67},
        {"file_id": file_id, "file_unique_id": "l", "width": 1280, "height": 960}])
    assert post(client, body).status_code == 200
    run_worker()
    msg = stored(ctx, update_id)
    assert msg.status == "done", msg.reason
    with ctx.db.session() as s:
        return s.get(Case, msg.case_id).number, msg.id


def photo_src(app, ctx, number: str) -> tuple[object, str]:
    make_staff(ctx)
    staff = signed_in(app, "t_ver")
    page = staff.get(f"/cases/{number}").get_data(as_text=True)
    found = THUMB.search(page)
    assert found and "市民发来的照片" in page and "telegram:AgAC" not in page, page[:3000]
    return staff, found.group(1)


def test_the_worker_keeps_the_photo_and_the_case_page_shows_it(ctx, app, client, telegram, run_worker):
    picture = png()
    telegram.files["AgACphoto-1"] = picture
    number, message_id = report_with_photo(ctx, client, run_worker, 10501, "AgACphoto-1")
    assert ("getFile", {"file_id": "AgACphoto-1"}) in telegram.calls      # the largest size, once
    assert media.kept(ctx, "telegram:AgACphoto-1")[0].read_bytes() == picture
    staff, src = photo_src(app, ctx, number)
    assert src == f"/cases/{number}/messages/{message_id}/photos/0"
    telegram.calls.clear()
    r = staff.get(src)
    assert (r.status_code, r.mimetype, r.data) == (200, "image/png", picture)
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert telegram.calls == []                                           # served from our copy


def test_the_api_lists_the_photo_with_a_link_that_gives_the_image(ctx, client, auth, telegram, run_worker):
    telegram.files["AgACphoto-api"] = png()
    number, message_id = report_with_photo(ctx, client, run_worker, 10541, "AgACphoto-api")
    (photo,) = client.get(f"/api/cases/{number}", headers=auth).get_json()["photos"]
    assert photo["href"] == f"/api/cases/{number}/photos/{message_id}/0" and photo["channel"] == "telegram"
    r = client.get(photo["href"], headers=auth)
    assert (r.status_code, r.mimetype, r.data) == (200, "image/png", png())
    assert client.get(photo["href"]).status_code == 401                  # the API's token, as everywhere
    r = client.get(photo["href"].replace("/0", "/3"), headers=auth)
    assert r.status_code == 404 and r.get_json()["error"] == "not_found"


def test_a_photo_telegram_could_not_give_is_fetched_when_the_case_is_opened(ctx, app, client, telegram, run_worker):
    number, message_id = report_with_photo(ctx, client, run_worker, 10511, "AgACphoto-late")
    assert media.kept(ctx, "telegram:AgACphoto-late") is None             # getFile refused it: case opened anyway
    assert stored(ctx, 10511).meta["photos"] == ["telegram:AgACphoto-late"]
    staff, src = photo_src(app, ctx, number)
    r = staff.get(src)
    assert r.status_code == 502 and "暂时无法显示" in r.get_data(as_text=True) and "不会丢失" in r.get_data(as_text=True)
    telegram.files["AgACphoto-late"] = png()                              # Telegram has it again
    r = staff.get(src)
    assert (r.status_code, r.data) == (200, png())
    assert media.kept(ctx, "telegram:AgACphoto-late") is not None


def test_what_is_not_an_image_is_not_kept_or_served(ctx, app, client, telegram, run_worker):
    telegram.files["AgACnot-image"] = b"<html><script>alert(1)</script></html>"
    number, _ = report_with_photo(ctx, client, run_worker, 10521, "AgACnot-image")
    assert media.kept(ctx, "telegram:AgACnot-image") is None
    staff, src = photo_src(app, ctx, number)
    r = staff.get(src)
    assert r.status_code == 502 and "不是 JPEG/PNG/GIF/WebP 图片" in r.get_data(as_text=True)


def test_a_photo_of_another_case_or_beyond_the_list_is_not_found(ctx, app, client, telegram, run_worker):
    telegram.files["AgACphoto-2"] = png()
    number, message_id = report_with_photo(ctx, client, run_worker, 10531, "AgACphoto-2")
    staff, src = photo_src(app, ctx, number)
    with ctx.db.session() as s:
        other = s.scalar(select(Case.number).where(Case.number != number))
    assert staff.get(src.replace("/photos/0", "/photos/1")).status_code == 404
    if other:
        assert staff.get(src.replace(number, other)).status_code == 404
    assert signed_in(app, "t_sanit").get(src).status_code == 404             # not that department's case


def test_a_bot_api_that_is_down_ends_the_fetch_job_and_the_page_fetches_later(ctx, app, client, telegram,
                                                                            run_worker):
    telegram.files.update({"AgACdown-1": png(), "AgACdown-2": png()})
    telegram.down = True
    try:
        for update_id, file_id in ((10551, "AgACdown-1"), (10552, "AgACdown-2")):
            post(client, message(update_id, caption=f"东四北大街{update_id % 100}号门口井盖丢了", photo=[
                {"file_id": file_id, "file_unique_id": file_id[-6:], "width": 1280, "height": 960}]))
        run_worker()
    finally:
        telegram.down = False
    asked = [p["file_id"] for m, p in telegram.calls if m == "getFile"]
    assert "AgACdown-2" not in asked and len(asked) <= 1          # the job stopped at the first failure
    assert media.kept(ctx, "telegram:AgACdown-1") is None
    msg = stored(ctx, 10552)
    assert msg.case_id is not None                                 # the reports did not wait for it
    with ctx.db.session() as s:
        number = s.get(Case, msg.case_id).number
    staff, src = photo_src(app, ctx, number)
    assert staff.get(src).data == png()                            # fetched when someone looks


def test_fetch_media_keeps_what_the_worker_could_not(ctx, client, telegram, run_worker):
    from click.testing import CliRunner

    from cli import cli
    telegram.files["AgACbackfill"] = png()
    telegram.down = True
    try:
        post(client, message(10561, caption="东四北大街61号门口井盖丢了", photo=[
            {"file_id": "AgACbackfill", "file_unique_id": "bf", "width": 1280, "height": 960}]))
        run_worker()
        down = CliRunner().invoke(cli, ["fetch-media", "--json"])
    finally:
        telegram.down = False
    assert down.exit_code == 1 and json.loads(down.output.splitlines()[-1])["stopped_early"] is True
    assert media.kept(ctx, "telegram:AgACbackfill") is None
    up = CliRunner().invoke(cli, ["fetch-media", "--json"])
    assert up.exit_code == 0, up.output
    summary = json.loads(up.output.splitlines()[-1])
    assert (summary["fetched"], summary["failed"]) == (1, 0)
    assert media.kept(ctx, "telegram:AgACbackfill")[0].read_bytes() == png()
    again = json.loads(CliRunner().invoke(cli, ["fetch-media", "--json"]).output.splitlines()[-1])
    assert (again["fetched"], again["already_kept"]) == (0, 1)


def test_a_photo_alone_is_shown_to_the_operator_who_describes_it(ctx, app, client, telegram, run_worker):
    telegram.files["AgACalone"] = png()
    post(client, message(10571, photo=[{"file_id": "AgACalone", "file_unique_id": "al", "width": 1280, "height": 960}]))
    run_worker()
    msg = stored(ctx, 10571)
    assert msg.status == "triage", msg.reason
    make_staff(ctx)
    operator = signed_in(app, "t_op")
    page = operator.get(f"/operator/triage/{msg.id}").get_data(as_text=True)
    src = f"/operator/messages/{msg.id}/photos/0"
    assert f'<img class="thumb" src="{src}" alt="市民照片 1">' in page and 'name="text"' in page
    assert operator.get(src).data == png()
