"""The result SMS links to a page the citizen opens without an account: the result and the
department's photos taken after the work, signed so that case numbers cannot be walked."""
from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from tickets.models import Case
from tickets.service import record_survey
from web.models import CasePhoto
from web_support import csrf, png, signed_in, staff, staff_accounts  # noqa: F401 (fixtures)
import web_support

CALLER = "+8613800000077"
LITTER = "东四北大街18号有暴露垃圾没人清理"       # 东城区环境卫生服务中心 (t_sanit)
BASE = "https://gridline.example.gov.cn"


@pytest.fixture
def public_address(ctx, monkeypatch):
    monkeypatch.setattr(ctx.config, "link_url", BASE)


def result_sms(client, auth) -> list[str]:
    messages = client.get(f"/api/outbox?to={CALLER}", headers=auth).get_json()["messages"]
    return [m["text"] for m in messages if m["kind"] == "result"]


def resolved_with_photo(app, client, auth, run_worker, call_id) -> str:
    number = web_support.report(client, auth, run_worker, LITTER, call_id, CALLER)
    dept = signed_in(app, "t_sanit")
    r = dept.post(f"/cases/{number}/act", data={
        "action": "resolve", "note": "垃圾已清运，地面已冲洗", "csrf_token": csrf(dept, f"/cases/{number}"),
        "photos": [(io.BytesIO(png()), "after.png")]}, content_type="multipart/form-data")
    assert r.status_code == 302
    return number


def close(client, auth, run_worker, number):
    r = client.post(f"/api/cases/{number}/actions", json={"action": "close", "note": "核查属实"}, headers=auth)
    assert r.status_code == 200, r.get_json()
    run_worker()


def test_the_result_sms_links_to_the_result_and_the_photo_taken_after_the_work(
        app, ctx, client, auth, run_worker, staff, public_address):
    number = resolved_with_photo(app, client, auth, run_worker, "page-1")
    close(client, auth, run_worker, number)
    [sms] = result_sms(client, auth)
    link = re.search(rf"{re.escape(BASE)}(/r/{number}\?t=[\w-]+)", sms)
    assert link and "查看处理结果和现场照片" in sms, sms
    citizen = app.test_client()                       # no account, no cookie
    r = citizen.get(link.group(1))
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and r.headers["Referrer-Policy"] == "no-referrer"
    assert "Set-Cookie" not in r.headers                 # nothing kept about who opened it
    for shown in (number, "已办结", "垃圾已清运，地面已冲洗", "东城区环境卫生服务中心", "处置后照片", "办结时间"):
        assert shown in page, shown
    for hidden in (CALLER, CALLER[-8:], "没人清理", "t_sanit"):   # no phone, not the citizen's words, no staff
        assert hidden not in page, hidden
    photo = re.search(r'src="(/r/[^"]+/photos/\d+\?t=[\w-]+)"', page).group(1).replace("&amp;", "&")
    r = citizen.get(photo)
    assert (r.status_code, r.mimetype, r.data) == (200, "image/png", png())


def test_a_wrong_or_missing_signature_looks_like_no_case_at_all(app, ctx, client, auth, run_worker, staff,
                                                                public_address):
    number = resolved_with_photo(app, client, auth, run_worker, "page-2")
    close(client, auth, run_worker, number)
    token = re.search(r"\?t=([\w-]+)", result_sms(client, auth)[0]).group(1)
    citizen = app.test_client()
    other = number[:-1] + ("1" if number[-1] != "1" else "2")
    with ctx.db.session() as s:
        photo_id = s.scalar(select(CasePhoto.id).join(Case, Case.id == CasePhoto.case_id).where(Case.number == number))
    unknown = citizen.get("/r/20991231-000001?t=" + token)
    assert "链接无效" in unknown.get_data(as_text=True) and "Set-Cookie" not in unknown.headers
    for path in (f"/r/{number}", f"/r/{number}?t=", f"/r/{number}?t={token[:-1]}x", f"/r/{other}?t={token}",
                 f"/r/{number}/photos/{photo_id}?t=wrong",
                 f"/r/{number}?t=令牌", f"/r/{number}?t=" + "x" * 5000):
        r = citizen.get(path)
        assert r.status_code == 404 and r.get_data() == unknown.get_data(), path


def test_a_case_sent_back_for_rework_shows_no_old_result(app, ctx, client, auth, run_worker, staff, public_address):
    number = resolved_with_photo(app, client, auth, run_worker, "page-3")
    close(client, auth, run_worker, number)
    path = re.search(r"(/r/\S+)", result_sms(client, auth)[0]).group(1)
    page = app.test_client().get(path).get_data(as_text=True)
    photo = re.search(r'src="(/r/[^"]+)"', page).group(1).replace("&amp;", "&")
    with ctx.db.session() as s:                  # the citizen answers 3 不满意: back to the department
        case = s.scalar(select(Case).where(Case.number == number))
        record_survey(s, case, 3, actor=CALLER)
        s.commit()
        assert case.status == "accepted"
    page = app.test_client().get(path).get_data(as_text=True)
    assert "办理中" in page and "重新办理" in page and "垃圾已清运" not in page and "处置后照片" not in page
    assert app.test_client().get(photo).status_code == 404


def test_no_public_address_no_link(app, ctx, client, auth, run_worker, staff, monkeypatch):
    monkeypatch.setattr(ctx.config, "link_url", None)
    number = resolved_with_photo(app, client, auth, run_worker, "page-4")
    close(client, auth, run_worker, number)
    [sms] = result_sms(client, auth)
    assert number in sms and "/r/" not in sms and "查看处理结果" not in sms
