"""The whole loop in a real browser (Playwright driving Debian's Chromium), one role after another:
the operator enters a call → the department accepts and reports it done with a photo (on a phone-
sized screen) → the centre verifies and closes → the citizen, on the simulated phone, reads the
result and answers the survey. Screenshots of every step go to test-artifacts/browser/.

Chromium comes from apt (`apt-get install chromium fonts-wqy-microhei`; .ci/run does it), never
from `playwright install`. Without it these tests fail: a silent skip would hide a broken loop.
"""
from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from config import ROOT
from tickets.models import Case
from test_intake_spool import database_back, outage
from web_support import PASSWORD, make_staff, png

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
SHOTS = ROOT / "test-artifacts" / "browser"
CALLER = "13966667777"
TEXT = "东四北大街18号有暴露垃圾没人清理，味道很大"
PHONE_SIZE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail("找不到 /usr/bin/chromium：请运行 apt-get install -y chromium fonts-wqy-microhei（.ci/run 会安装）")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@contextmanager
def serving(app):
    """The app on a real HTTP server in a thread (the worker runs in the test's own thread)."""
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}"
    finally:
        srv.shutdown()
        thread.join(5)


@pytest.fixture
def server(app, ctx):
    make_staff(ctx)
    with serving(app) as base:
        yield base


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(browser, base: str, username: str, **context_args):
    context = browser.new_context(locale="zh-CN", **context_args)
    page = context.new_page()
    page.set_default_timeout(30000)
    page.goto(f"{base}/login")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()[:500]
    return page


def test_the_whole_loop_in_a_browser(browser, server, ctx, run_worker, tmp_path, monkeypatch):
    monkeypatch.setattr(ctx.config, "link_url", server)     # the result SMS links to this server
    # 1. The operator types the call; the machine's suggestion appears while typing.
    op = sign_in(browser, server, "t_op")
    op.goto(f"{server}/operator")
    op.fill("#caller", CALLER)
    op.fill("#text", TEXT)
    op.wait_for_function("document.getElementById('a-category').textContent.includes('暴露垃圾')")
    assert op.input_value("#category_code") and re.fullmatch(r"\d{15}", op.input_value("#grid_code"))
    assert "东城区环境卫生服务中心" in op.text_content("#a-department")
    words = op.locator("#a-words span").all_text_contents()
    assert "暴露垃圾" in words and len(words) == len(set(words))      # each deciding word once
    assert "暴露垃圾" not in op.text_content("#a-alternatives")        # the runners-up, not the choice again
    shot(op, "1-operator-entry")
    op.click('#call-form button[type="submit"]')
    op.wait_for_url(re.compile(r"/operator/calls/\d+"))
    run_worker()
    op.reload()
    number = op.text_content("#case-link").strip()
    assert re.fullmatch(r"\d{8}-\d{6}", number)
    shot(op, "2-operator-case-opened")

    # 2. The department, on a phone-sized screen: its queue, accept, report done with a photo.
    dept = sign_in(browser, server, "t_sanit", viewport=PHONE_SIZE, is_mobile=True, has_touch=True)
    dept.goto(f"{server}/dept")
    row = dept.locator(f'tr[data-number="{number}"]')
    assert row.locator(".light").count() == 1
    shot(dept, "3-department-queue")
    row.locator("a").first.click()
    dept.click('form[data-action="accept"] button')
    dept.wait_for_selector("#case-status:has-text('处置中')")  # the accept landed before the next form
    photo = tmp_path / "after.png"
    photo.write_bytes(png())
    dept.fill('form[data-action="resolve"] textarea[name="note"]', "已清运完毕，现场已冲洗")
    dept.set_input_files('form[data-action="resolve"] input[type="file"]', str(photo))
    dept.click('form[data-action="resolve"] button')
    dept.wait_for_selector(".photos img")
    assert "待核查" in dept.text_content("#case-status")
    shot(dept, "4-department-resolved")

    # 3. The centre verifies and closes (the department could not).
    assert dept.locator('form[data-action="close"]').count() == 0
    ver = sign_in(browser, server, "t_ver")
    ver.goto(f"{server}/centre?tab=verify")
    ver.click(f'a:has-text("{number}")')
    ver.click('form[data-action="verify"] button')
    ver.wait_for_selector("#case-status:has-text('核查通过')")
    ver.click('form[data-action="close"] button')
    ver.wait_for_selector("#case-status:has-text('已结案')")
    shot(ver, "5-centre-closed")
    run_worker()  # the result SMS goes out and the survey opens

    # 4. The citizen's phone shows the result; the citizen answers 1 (满意).
    citizen = browser.new_context(locale="zh-CN", viewport=PHONE_SIZE, is_mobile=True, has_touch=True).new_page()
    citizen.set_default_timeout(30000)
    citizen.goto(f"{server}/phone")
    citizen.fill('input[name="number"]', CALLER)
    citizen.click('text=使用这个号码')
    citizen.wait_for_selector(f'.bubble.in[data-kind="result"]:has-text("{number}")')
    assert "已清运完毕" in citizen.text_content('.bubble.in[data-kind="result"]')
    shot(citizen, "6-citizen-result")
    # Stored and queued before the worker runs: the page shows a sent text at once, so wait for
    # the server's answer to the send, not for a bubble.
    with citizen.expect_response(lambda r: r.url.endswith("/phone/send")):
        citizen.click('#quick button[data-text="1"]')
    run_worker()
    citizen.wait_for_selector('.bubble.in:has-text("感谢您的评价")')
    shot(citizen, "7-citizen-survey")
    # The result's link opens the citizen's result page, with the photo taken after the work.
    with citizen.context.expect_page() as opened:
        citizen.click('.bubble.in[data-kind="result"] a')
    result = opened.value
    result.wait_for_load_state()
    assert "已办结" in result.text_content("main") and "已清运完毕" in result.text_content("main")
    assert result.evaluate("document.querySelector('.photos img').naturalWidth") > 0
    shot(result, "7b-citizen-result-page")
    with ctx.db.session() as s:
        case = s.scalar(select(Case).where(Case.number == number))
        actions = [e.action for e in case.events]
    assert actions[:2] == ["file", "dispatch"] and "survey" in actions
    assert actions.index("accept") < actions.index("resolve") < actions.index("verify") < actions.index("close")

    # 5. The supervisor's dashboard counts it, on the heat map too.
    chief = sign_in(browser, server, "t_chief")
    chief.goto(f"{server}/centre/dashboard")
    assert chief.text_content("#kpi-filed").strip() == "1"
    assert chief.locator('svg.heat path[data-count="1"]').count() == 1
    shot(chief, "8-dashboard")
    for context in browser.contexts:
        context.close()


def test_a_citizen_reports_from_the_phone_and_gets_the_acknowledgement(browser, server, run_worker):
    page = browser.new_context(locale="zh-CN", viewport=PHONE_SIZE, is_mobile=True).new_page()
    page.set_default_timeout(30000)
    page.goto(f"{server}/phone")
    page.fill("#sms-text", "交道口南大街20号路灯不亮了")
    with page.expect_response(lambda r: r.url.endswith("/phone/send")):   # stored and queued
        page.click("#sms-send")
    page.wait_for_selector('.bubble.out:not(.pending):has-text("路灯不亮")')
    run_worker()
    page.wait_for_selector('.bubble.in[data-kind="ack"]')
    assert re.search(r"案卷号\d{8}-\d{6}", page.text_content('.bubble.in[data-kind="ack"]'))
    shot(page, "9-citizen-sms-ack")
    page.context.close()


def test_the_phone_keeps_what_the_citizen_sent_through_a_database_outage(browser, ctx, run_worker):
    from app import create_app
    node = outage(ctx)
    broken_db, broken_redis = node.db, outage(ctx, redis_down=True).redis
    node.__dict__["db"] = ctx.db
    with serving(create_app(node)) as base:
        page = browser.new_context(locale="zh-CN", viewport=PHONE_SIZE, is_mobile=True).new_page()
        page.set_default_timeout(30000)
        page.goto(f"{base}/phone")
        node.__dict__["db"] = broken_db   # the database goes away; Redis keeps the message
        page.fill("#sms-text", "东四北大街18号门口井盖丢了")
        page.click("#sms-send")
        page.wait_for_selector('.bubble.out.pending:has-text("已发送，系统恢复后处理")')
        page.wait_for_selector('#phone-status:has-text("连不上")')
        shot(page, "14-phone-database-down")

        node.__dict__["db"] = ctx.db
        database_back(ctx, run_worker)
        page.wait_for_selector('.bubble.in[data-kind="ack"]')
        assert re.search(r"案卷号\d{8}-\d{6}", page.text_content('.bubble.in[data-kind="ack"]'))
        assert page.locator(".bubble.pending").count() == 0
        assert page.locator('.bubble.out:has-text("井盖丢了")').count() == 1
        page.wait_for_selector("#phone-status", state="hidden")

        node.__dict__["db"], node.__dict__["redis"] = broken_db, broken_redis   # nowhere to keep it
        page.fill("#sms-text", "交道口南大街20号路灯不亮了")
        page.click("#sms-send")
        page.wait_for_selector('#phone-status:has-text("发送失败")')
        assert page.input_value("#sms-text") == "交道口南大街20号路灯不亮了"   # back in the box, not lost
        assert page.locator('.bubble:has-text("路灯不亮")').count() == 0
        shot(page, "15-phone-nothing-to-keep-it")
        node.__dict__["db"], node.__dict__["redis"] = ctx.db, ctx.redis
        page.context.close()


def test_triage_return_redispatch_and_grid_assignment_in_a_browser(browser, server, app, ctx, run_worker):
    """The other roles' main paths: the operator opens a case from triage, the department returns it,
    the dispatcher sends it on, the admin gives the new department's user that cell."""
    client = app.test_client()
    auth = {"Authorization": f"Bearer {ctx.config.api_token}"}
    message_id = client.post("/hotline/transcripts", headers=auth, json={
        "caller": CALLER, "text": "门口垃圾好几天没人收，臭得不行", "call_id": "browser-triage"}).get_json()["message_id"]
    run_worker()  # no place in it: the hotline does not ask back, it goes to triage

    # 1. The operator picks category and cell in the triage queue.
    op = sign_in(browser, server, "t_op")
    op.goto(f"{server}/operator/triage")
    op.click(f'tr:has-text("门口垃圾好几天没人收") a:has-text("分拣")')
    op.select_option("#category_code", "06011")
    op.fill("#grid_code", "110101001001002")
    op.fill("#place", "多福巷")
    shot(op, "10-operator-triage")
    op.click('button:has-text("立案派遣")')
    op.wait_for_load_state()
    run_worker()
    number = client.get(f"/api/messages/{message_id}", headers=auth).get_json()["case_number"]
    assert number
    case = client.get(f"/api/cases/{number}", headers=auth).get_json()
    assert (case["category_code"], case["grid_code"]) == ("06011", "110101001001002")
    first = case["department"]

    # 2. The department says it is not theirs.
    with ctx.db.session() as s:  # the test account works for whichever department got it
        from sqlalchemy import update
        from tickets.models import Department
        from web.models import User
        s.execute(update(User).where(User.username == "t_sanit").values(
            department_id=select(Department.id).where(Department.name == first).scalar_subquery()))
        s.commit()
    dept = sign_in(browser, server, "t_sanit")
    dept.goto(f"{server}/cases/{number}")
    dept.fill('form[data-action="return"] textarea[name="note"]', "该巷道由城管执法负责")
    dept.click('form[data-action="return"] button')
    dept.wait_for_url(re.compile(r"/dept"))  # back to the queue: the case is no longer theirs to work
    assert dept.locator(f'tr[data-number="{number}"]').count() == 0
    assert client.get(f"/api/cases/{number}", headers=auth).get_json()["status"] == "returned"

    # 3. The dispatcher re-dispatches to 城管执法.
    disp = sign_in(browser, server, "t_disp")
    disp.goto(f"{server}/cases/{number}")
    assert "该巷道由城管执法负责" in disp.text_content("body")
    disp.select_option('form[data-action="dispatch"] select[name="department"]', "东城区城管执法局")
    disp.click('form[data-action="dispatch"] button')
    disp.wait_for_selector("#case-status:has-text('已派遣')")
    shot(disp, "11-dispatcher-redispatched")
    assert client.get(f"/api/cases/{number}", headers=auth).get_json()["department"] == "东城区城管执法局"

    # 4. The admin gives 城管执法's user that cell; their queue shows it under "my cells".
    admin = sign_in(browser, server, "t_admin")
    admin.goto(f"{server}/admin/users")
    admin.click('a:has-text("t_law")')
    admin.fill('textarea[name="grids"]', "110101001001002")
    admin.click('button:has-text("保存")')
    admin.wait_for_load_state()
    shot(admin, "12-admin-grid-assigned")
    law = sign_in(browser, server, "t_law")
    law.goto(f"{server}/dept")
    assert law.locator(f'tr[data-number="{number}"]').count() == 1
    assert "只显示分配给我的 1 个网格" in law.text_content("body")
    shot(law, "13-department-my-cells")
    for context in browser.contexts:
        context.close()
