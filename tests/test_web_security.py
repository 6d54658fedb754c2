"""Security of the consoles: department scope (pages and API), masked phone numbers with an audited
exception for operators, CSRF on every form, escaping of what citizens wrote."""
from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from tickets.models import Case
from web.models import PhoneView
import web_support
from web_support import META_TOKEN, csrf, login, png, signed_in, staff, staff_accounts  # noqa: F401 (fixtures)

CALLER = "+8613955556666"
MASKED = "139****6666"
LITTER = "东四北大街18号有暴露垃圾没人清理"      # 东城区环境卫生服务中心 (t_sanit)
VENDOR = "王府井大街18号有人占道经营卖水果"      # 东城区城管执法局 (t_law)
SCRIPT = "<script>alert('x')</script>"


def report(client, auth, run_worker, text, call_id, caller=CALLER) -> str:
    return web_support.report(client, auth, run_worker, text, call_id, caller)


def department_of(ctx, number):
    with ctx.db.session() as s:
        return s.scalar(select(Case).where(Case.number == number)).department.name


def api_headers(client, page="/dept"):
    return {"X-CSRFToken": META_TOKEN.search(client.get(page).get_data(as_text=True)).group(1)}


# ----------------------------------------------------------------------------- department scope


def test_a_department_never_sees_another_departments_case_on_the_pages(app, ctx, client, auth, run_worker, staff):
    theirs = report(client, auth, run_worker, VENDOR, "scope-1")
    assert department_of(ctx, theirs) == "东城区城管执法局"
    sanit = signed_in(app, "t_sanit")
    assert theirs not in sanit.get("/dept").get_data(as_text=True)
    assert theirs not in sanit.get("/dept?tab=done").get_data(as_text=True)
    r = sanit.get(f"/cases/{theirs}")
    assert r.status_code == 404 and theirs in r.get_data(as_text=True)  # says "not found", shows nothing of it
    assert "占道经营" not in r.get_data(as_text=True)
    assert sanit.get(f"/search?q={theirs}").status_code == 200
    assert "占道经营" not in sanit.get(f"/search?q={theirs}").get_data(as_text=True)
    assert "占道经营" not in sanit.get(f"/search?q={theirs[:8]}").get_data(as_text=True)
    # The owner sees it.
    assert signed_in(app, "t_law").get(f"/cases/{theirs}").status_code == 200


def test_a_department_never_acts_on_another_departments_case_on_the_pages(app, ctx, client, auth, run_worker, staff):
    theirs = report(client, auth, run_worker, VENDOR, "scope-2")
    sanit = signed_in(app, "t_sanit")
    token = csrf(sanit, "/dept")
    for action, note in [("accept", ""), ("return", "不归我们管"), ("resolve", "已处理")]:
        r = sanit.post(f"/cases/{theirs}/act", data={"action": action, "note": note, "csrf_token": token})
        assert r.status_code == 404
    r = sanit.post(f"/cases/{theirs}/act", data={"action": "resolve", "note": "x", "csrf_token": token,
                                                "photos": [(io.BytesIO(b"\x89PNG\r\n\x1a\n"), "a.png")]},
                   content_type="multipart/form-data")
    assert r.status_code == 404
    with ctx.db.session() as s:
        case = s.scalar(select(Case).where(Case.number == theirs))
        assert case.status == "dispatched" and [e.action for e in case.events] == ["file", "dispatch"]


def test_a_department_never_sees_or_acts_on_another_departments_case_over_the_api(app, ctx, client, auth,
                                                                                 run_worker, staff):
    theirs = report(client, auth, run_worker, VENDOR, "scope-3")
    ours = report(client, auth, run_worker, LITTER, "scope-4")
    sanit = signed_in(app, "t_sanit")
    headers = api_headers(sanit)
    assert sanit.get(f"/api/cases/{theirs}").status_code == 404
    assert sanit.get(f"/api/cases/{ours}").status_code == 200
    r = sanit.post(f"/api/cases/{theirs}/actions", json={"action": "accept"}, headers=headers)
    assert r.status_code == 404
    # A session cannot borrow another role through the API body either.
    r = sanit.post(f"/api/cases/{ours}/actions", json={"action": "void", "note": "x", "role": "supervisor"},
                   headers=headers)
    assert r.status_code == 409
    r = sanit.post(f"/api/cases/{ours}/actions", json={"action": "accept", "actor": "someone-else"}, headers=headers)
    assert r.status_code == 200 and r.get_json()["events"][-1]["actor"] == "t_sanit"
    # Messages of other departments' cases, their outbox and the city's statistics are out of reach.
    with ctx.db.session() as s:
        from intake.models import InboundMessage
        their_msg = s.scalar(select(InboundMessage.id).where(InboundMessage.external_id == "scope-3"))
    assert sanit.get(f"/api/messages/{their_msg}").status_code == 404
    assert sanit.get("/api/outbox").status_code == 403
    assert sanit.get("/api/stats").status_code == 403
    with ctx.db.session() as s:
        assert s.scalar(select(Case.status).where(Case.number == theirs)) == "dispatched"


def test_anonymous_api_calls_still_need_the_token(app, client, auth, run_worker, staff):
    number = report(client, auth, run_worker, LITTER, "anon-1")
    anonymous = app.test_client()
    assert anonymous.get(f"/api/cases/{number}").status_code == 401
    assert anonymous.post(f"/api/cases/{number}/actions", json={"action": "accept"}).status_code == 401
    assert anonymous.get("/api/outbox").status_code == 401


# ----------------------------------------------------------------------------- phone numbers


def _pages_with_the_case(number):
    return [f"/cases/{number}", "/dept", "/search?q=" + number[:8], "/centre?tab=all", "/centre?tab=duplicates",
            "/centre/dashboard", "/centre/evaluation", "/operator/triage", "/admin/audit", "/admin/users",
            "/centre/export.csv?what=cases", f"/api/cases/{number}", f"/api/outbox?to={CALLER}", "/api/stats"]


@pytest.mark.parametrize("username", ["t_sanit", "t_disp", "t_ver", "t_chief", "t_admin"])
def test_no_page_or_api_answer_shows_a_whole_number_to_roles_that_may_not_see_it(app, ctx, client, auth,
                                                                                 run_worker, staff, username):
    number = report(client, auth, run_worker, LITTER, f"mask-{username}")
    report(client, auth, run_worker, "东四北大街18号暴露垃圾没人清理，很臭", f"mask2-{username}", caller="+8613977778888")
    run_worker()
    # A survey answer is recorded with the citizen's number as its actor: that must be masked too.
    for action in ("accept", "resolve", "close"):
        assert client.post(f"/api/cases/{number}/actions", json={"action": action, "note": "已清理"},
                           headers=auth).status_code == 200
    from tickets.service import record_survey
    with ctx.db.session() as s:
        record_survey(s, s.scalar(select(Case).where(Case.number == number)), 1, phone=CALLER,
                      calendar=ctx.calendar, tz=ctx.config.timezone)
        s.commit()
    user = signed_in(app, username)
    seen = 0
    for path in _pages_with_the_case(number):
        r = user.get(path)
        body = r.get_data(as_text=True)
        for whole in (CALLER, CALLER[3:], "+8613977778888", "13977778888"):
            assert whole not in body, (username, path)
        seen += MASKED in body
    assert user.get("/search?q=13955556666").get_data(as_text=True).count(CALLER[3:]) <= 1  # only the query echoed
    if username != "t_sanit":
        assert seen >= 1  # the masked form is what they see
    with ctx.db.session() as s:
        assert s.scalar(select(PhoneView.id)) is None  # nothing unmasked, nothing to audit


def test_operators_see_whole_numbers_and_every_view_is_audited(app, ctx, client, auth, run_worker, staff):
    number = report(client, auth, run_worker, LITTER, "audit-1")
    op = signed_in(app, "t_op")
    assert CALLER in op.get(f"/cases/{number}").get_data(as_text=True)
    assert CALLER in op.get("/search?q=13955556666").get_data(as_text=True)
    with ctx.db.session() as s:
        views = s.scalars(select(PhoneView).order_by(PhoneView.id)).all()
    assert len(views) >= 2 and {v.username for v in views} == {"t_op"}
    assert {v.phone for v in views} == {CALLER}
    assert views[0].case_id is not None and views[0].path.startswith(f"/cases/{number}")
    # The administrator reads the log, with the number masked.
    page = signed_in(app, "t_admin").get("/admin/audit").get_data(as_text=True)
    assert "t_op" in page and MASKED in page and CALLER not in page


def test_mask_keeps_the_first_three_and_last_four_digits():
    from web.access import mask_phone
    assert mask_phone("+8613800000000") == "138****0000"
    assert mask_phone("13800000000") == "138****0000"
    assert mask_phone("+861064000001") == "106****0001"
    assert mask_phone("12345") == "***45"
    assert mask_phone("") == ""


# ----------------------------------------------------------------------------- CSRF


def _console_post_rules(app):
    from web.auth import UI_BLUEPRINTS
    for rule in app.url_map.iter_rules():
        if "POST" in rule.methods and rule.endpoint.split(".")[0] in UI_BLUEPRINTS:
            yield rule


def test_every_console_form_refuses_a_post_without_the_csrf_token(app, client, auth, run_worker, staff):
    number = report(client, auth, run_worker, LITTER, "csrf-1")
    admin, op, dept = signed_in(app, "t_admin"), signed_in(app, "t_op"), signed_in(app, "t_sanit")
    rules = list(_console_post_rules(app))
    assert len(rules) >= 10
    for rule in rules:
        path = rule.rule.replace("<number>", number).replace("<int:message_id>", "1").replace("<int:user_id>", "1")
        for who in (admin, op, dept, app.test_client()):
            r = who.post(path, data={"action": "accept", "username": "t_op", "password": "x", "text": "hi"})
            assert r.status_code == 400, (rule.rule, r.status_code)
            r = who.post(path, data={"csrf_token": "forged", "action": "accept", "text": "hi"})
            assert r.status_code == 400, (rule.rule, r.status_code)
    r = op.post("/operator/analyse", json={"text": LITTER})
    assert r.status_code == 400 and r.get_json()["error"] == "csrf"
    # And nothing happened to the case.
    assert client.get(f"/api/cases/{number}", headers=auth).get_json()["status"] == "dispatched"


def test_an_api_call_on_the_session_needs_the_csrf_token_but_the_bearer_token_does_not(app, client, auth,
                                                                                        run_worker, staff):
    number = report(client, auth, run_worker, LITTER, "csrf-2")
    dept = signed_in(app, "t_sanit")
    r = dept.post(f"/api/cases/{number}/actions", json={"action": "accept"})
    assert r.status_code == 400
    r = client.post(f"/api/cases/{number}/actions", json={"action": "accept"}, headers=auth)
    assert r.status_code == 200


def test_every_form_on_every_page_carries_the_token(app, client, auth, run_worker, staff):
    number = report(client, auth, run_worker, LITTER, "csrf-3")
    pages = {"t_op": ["/operator", "/operator/triage", f"/cases/{number}"],
             "t_sanit": ["/dept", f"/cases/{number}"],
             "t_disp": ["/centre", "/centre/dashboard", f"/cases/{number}"],
             "t_admin": ["/admin/users", "/admin/users/1", "/admin/departments", "/admin/grids"]}
    for username, paths in pages.items():
        user = signed_in(app, username)
        for path in paths:
            html = user.get(path).get_data(as_text=True)
            for form in re.findall(r"<form\b[^>]*>.*?</form>", html, re.S):
                if re.search(r'method="post"', form):
                    assert 'name="csrf_token"' in form, (username, path, form[:200])
    html = app.test_client().get("/phone").get_data(as_text=True)
    assert all('name="csrf_token"' in f for f in re.findall(r"<form\b.*?</form>", html, re.S))


# ----------------------------------------------------------------------------- escaping


def test_what_citizens_write_is_escaped_on_every_page(app, ctx, client, auth, run_worker, staff):
    hostile = f"东四北大街18号有暴露垃圾没人清理{SCRIPT}<img src=x onerror=alert(1)>"
    number = report(client, auth, run_worker, hostile, "xss-1")
    report(client, auth, run_worker, f"东四北大街18号暴露垃圾没人清理 {SCRIPT}", "xss-2", caller="+8613900001111")
    triage_text = f"{SCRIPT}垃圾好几天没人收"
    client.post("/hotline/transcripts", json={"caller": CALLER, "text": triage_text, "call_id": "xss-3"}, headers=auth)
    run_worker()
    phone = app.test_client()
    phone.post("/phone/send", json={"text": f"{SCRIPT}你好"}, headers={"X-CSRFToken": csrf(phone, "/phone")})
    pages = {"t_op": [f"/cases/{number}", "/operator/triage", "/search?q=13955556666"],
             "t_sanit": [f"/cases/{number}", "/dept"],
             "t_disp": ["/centre?tab=duplicates", "/centre?tab=all", f"/cases/{number}"]}
    for username, paths in pages.items():
        user = signed_in(app, username)
        for path in paths:
            html = user.get(path).get_data(as_text=True)
            assert "<script>alert" not in html and "<img src=x" not in html, (username, path)
        if username == "t_op":
            assert "&lt;script&gt;alert(" in user.get(f"/cases/{number}").get_data(as_text=True)
    with ctx.db.session() as s:
        from intake.models import InboundMessage
        triaged = s.scalar(select(InboundMessage.id).where(InboundMessage.external_id == "xss-3"))
    html = signed_in(app, "t_op").get(f"/operator/triage/{triaged}").get_data(as_text=True)
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    # The phone page's thread is JSON and the page's script sets it as text, never as HTML.
    assert "innerHTML" not in open(app.blueprints["ui"].static_folder + "/phone.js").read()
    assert "innerHTML" not in open(app.blueprints["ui"].static_folder + "/operator.js").read()


def test_login_next_never_leaves_the_site(app, staff):
    client = app.test_client()
    token = csrf(client)
    r = client.post("/login?next=https://evil.example/", data={"username": "t_op", "password": "test-pass-2026",
                                                              "csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"] == "/operator"
    client = app.test_client()
    token = csrf(client)
    r = client.post("/login?next=//evil.example/x", data={"username": "t_op", "password": "test-pass-2026",
                                                          "csrf_token": token})
    assert r.headers["Location"] == "/operator"


def test_photos_of_a_case_are_not_served_to_another_department(app, ctx, client, auth, run_worker, staff):
    number = report(client, auth, run_worker, LITTER, "photo-1")
    sanit = signed_in(app, "t_sanit")
    sanit.post(f"/cases/{number}/act", data={"action": "resolve", "note": "已清运", "csrf_token": csrf(sanit, "/dept"),
                                             "photos": [(io.BytesIO(png()), "after.png")]},
               content_type="multipart/form-data")
    url = re.search(rf"/cases/{number}/photos/\d+", sanit.get(f"/cases/{number}").get_data(as_text=True)).group(0)
    assert sanit.get(url).status_code == 200
    assert signed_in(app, "t_law").get(url).status_code == 404
    assert app.test_client().get(url).status_code == 302  # to the sign-in page


def test_session_cookie_is_http_only(app, staff):
    client = app.test_client()
    r = login(client, "t_op")
    cookie = r.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_the_simulated_phone_is_off_when_sms_goes_through_twilio(ctx, tmp_path):
    from app import create_app
    from config import Config
    from intake.context import Context
    cfg = Config(var_dir=tmp_path, database_url=ctx.config.database_url, redis_url=ctx.config.redis_url)
    cfg.twilio_account_sid, cfg.twilio_auth_token, cfg.twilio_from = "AC" + "0" * 32, "secret", "+15005550006"
    live = create_app(Context(cfg)).test_client()
    assert live.get("/phone").status_code == 404
    assert live.get("/phone/thread").status_code == 404
