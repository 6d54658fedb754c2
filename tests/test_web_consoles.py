"""The consoles, driven through Flask's test client as the people who use them would: sign in, enter a
call, work the triage queue, handle a case in a department, verify and close it in the centre,
read the dashboard and exports, administer users, and text from the simulated phone."""
from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from intake.models import InboundMessage
from tickets.models import Case, Department, GridCell
from web.models import User, UserGrid
import web_support
from web_support import PASSWORD, csrf, handles, login, png, post_form, signed_in, staff, staff_accounts  # noqa: F401 (fixtures)

CALLER = "+8613911112222"
MASKED = "139****2222"
MANHOLE = "东四北大街18号门口井盖丢了，晚上很危险"          # the street's office (handles() assigns t_street)
LITTER = "东四北大街18号有暴露垃圾没人清理"               # 东城区环境卫生服务中心 (t_sanit)


def report(client, auth, run_worker, text, call_id, caller=CALLER) -> str:
    return web_support.report(client, auth, run_worker, text, call_id, caller)


def act(client, number, action, note="", **extra):
    return post_form(client, f"/cases/{number}/act", {"action": action, "note": note, **extra},
                     page=f"/cases/{number}")


def case_status(ctx, number):
    with ctx.db.session() as s:
        return s.scalar(select(Case.status).where(Case.number == number))


# ----------------------------------------------------------------------------- sign-in


def test_sign_in_sends_each_role_to_its_console(app, staff):
    for username, home in [("t_op", "/operator"), ("t_street", "/dept"), ("t_disp", "/centre"),
                           ("t_chief", "/centre/dashboard"), ("t_admin", "/admin/users")]:
        client = app.test_client()
        r = login(client, username)
        assert r.status_code == 302 and r.headers["Location"].endswith(home), username
        assert client.get(home).status_code == 200


def test_pages_need_sign_in_and_the_right_role(app, staff):
    anonymous = app.test_client()
    r = anonymous.get("/operator")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    dept = signed_in(app, "t_street")
    assert dept.get("/centre/dashboard").status_code == 403
    assert dept.get("/admin/users").status_code == 403
    assert signed_in(app, "t_op").get("/admin/users").status_code == 403


def test_wrong_password_five_times_locks_the_account_even_for_the_right_password(app, ctx, staff):
    client = app.test_client()
    for i in range(4):
        r = login(client, "t_ver", "wrong-password")
        assert r.status_code == 401 and "用户名或密码错误" in r.get_data(as_text=True)
    r = login(client, "t_ver", "wrong-password")
    assert "已锁定" in r.get_data(as_text=True)
    r = login(client, "t_ver", PASSWORD)
    assert r.status_code == 401 and "已锁定" in r.get_data(as_text=True)
    # The administrator unlocks it; then the right password works again.
    admin = signed_in(app, "t_admin")
    with ctx.db.session() as s:
        user_id = s.scalar(select(User.id).where(User.username == "t_ver"))
    r = post_form(admin, f"/admin/users/{user_id}", {"name": "t_ver", "role": "verifier", "active": "on",
                                                      "unlock": "on", "grids": ""})
    assert r.status_code == 302
    assert login(app.test_client(), "t_ver").status_code == 302


def test_unknown_user_and_wrong_password_read_the_same(app, staff):
    a = login(app.test_client(), "nobody-here", "whatever-123").get_data(as_text=True)
    assert "用户名或密码错误" in a


def test_idle_session_times_out(app, staff):
    client = signed_in(app, "t_op")
    assert client.get("/operator").status_code == 200
    with client.session_transaction() as sess:
        sess["seen"] = sess["seen"] - 31 * 60
    r = client.get("/operator")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert client.get("/operator").status_code == 302  # signed out for good, not just once


def test_logout_ends_the_session(app, staff):
    client = signed_in(app, "t_op")
    r = post_form(client, "/logout", {}, page="/operator")
    assert r.status_code == 302
    assert client.get("/operator").status_code == 302


# ----------------------------------------------------------------------------- operator


def test_live_classification_names_category_department_cell_and_words(app, staff):
    client = signed_in(app, "t_op")
    token = csrf(client, "/operator")
    r = client.post("/operator/analyse", json={"text": LITTER}, headers={"X-CSRFToken": token})
    a = r.get_json()
    assert a["category"]["name"] == "暴露垃圾" and re.fullmatch(r"\d{5}", a["category"]["code"])
    assert a["department"] == "东城区环境卫生服务中心"
    assert re.fullmatch(r"\d{15}", a["cell"]["code"]) and a["confidence"] > 0.5
    assert "暴露垃圾" in a["words"] and a["dispatch"] is True


def test_operator_corrections_decide_the_case(app, ctx, client, run_worker, staff):
    op = signed_in(app, "t_op")
    other_cell = "110101001001001"
    with ctx.db.session() as s:
        assert s.get(GridCell, other_cell) is not None
    street_lamp = next(c for c in ctx.rules.categories if c.name == "路灯异常")
    r = post_form(op, "/operator/calls", {"caller": "13911112222", "text": LITTER, "call_id": "op-correct-1",
                                          "category_code": street_lamp.code, "grid_code": other_cell,
                                          "place": "多福巷口", "suggested_category_code": "06010"}, page="/operator")
    assert r.status_code == 302
    message_id = int(r.headers["Location"].rsplit("/", 1)[1])
    run_worker()
    page = op.get(f"/operator/calls/{message_id}").get_data(as_text=True)
    number = re.search(r"/cases/(\d{8}-\d{6})", page).group(1)
    with ctx.db.session() as s:
        case = s.scalar(select(Case).where(Case.number == number))
        assert (case.category_code, case.grid_code, case.place) == (street_lamp.code, other_cell, "多福巷口")
        assert case.department.name == street_lamp.department
        assert case.reporter_phone == CALLER and case.channel == "hotline"
        msg = s.get(InboundMessage, message_id)
        assert msg.meta["operator"] == "t_op" and msg.meta["corrections"]["category_code"] == street_lamp.code


def test_operator_form_with_mistakes_comes_back_with_what_was_typed(app, ctx, staff):
    op = signed_in(app, "t_op")
    r = post_form(op, "/operator/calls", {"caller": "12", "text": "王府井大街有人占道经营", "call_id": "bad-1",
                                          "grid_code": "999"}, page="/operator")
    body = r.get_data(as_text=True)
    assert r.status_code == 422 and "来电号码格式不正确" in body and "没有网格编码 999" in body
    assert "王府井大街有人占道经营" in body
    with ctx.db.session() as s:
        assert s.scalar(select(InboundMessage.id)) is None


def test_same_call_submitted_twice_is_one_message(app, ctx, staff):
    op = signed_in(app, "t_op")
    data = {"caller": "13911112222", "text": LITTER, "call_id": "twice-1"}
    first = post_form(op, "/operator/calls", data, page="/operator")
    second = post_form(op, "/operator/calls", data, page="/operator")
    assert first.headers["Location"] == second.headers["Location"]
    assert "未重复提交" in op.get(second.headers["Location"]).get_data(as_text=True)


def test_triage_queue_lets_the_operator_open_the_case(app, ctx, client, auth, run_worker, staff):
    r = client.post("/hotline/transcripts", json={"caller": CALLER, "text": "垃圾好几天没人收，臭得不行",
                                                  "call_id": "triage-1"}, headers=auth)
    message_id = r.get_json()["message_id"]
    run_worker()
    op = signed_in(app, "t_op")
    queue_page = op.get("/operator/triage").get_data(as_text=True)
    assert "垃圾好几天没人收" in queue_page and "地点" in queue_page
    cell = "110101001001002"
    r = post_form(op, f"/operator/triage/{message_id}", {"decision": "open", "category_code": "06011",
                                                         "grid_code": cell, "place": "多福巷"})
    assert r.status_code == 302
    run_worker()
    number = client.get(f"/api/messages/{message_id}", headers=auth).get_json()["case_number"]
    assert number
    case = client.get(f"/api/cases/{number}", headers=auth).get_json()
    assert case["grid_code"] == cell and case["category_code"] == "06011"
    assert "垃圾好几天没人收" not in op.get("/operator/triage").get_data(as_text=True)
    filed = next(e for e in case["events"] if e["action"] == "file")
    assert (filed["actor"], filed["note"]) == ("t_op", "人工分拣立案")     # a person decided, not the rules
    from web.workload import of_centre
    from datetime import datetime
    with ctx.db.session() as s:
        mine = next(r for r in of_centre(ctx, s, datetime(2000, 1, 1), datetime(2100, 1, 1)) if r["username"] == "t_op")
    assert mine["filed"] == 1 and mine["filing_on_time"] == 1.0          # minutes after the call came in


def test_triage_dismiss_needs_a_reason(app, ctx, client, auth, run_worker, staff):
    message_id = client.post("/hotline/transcripts", json={"caller": CALLER, "text": "你好请问今天天气怎么样",
                                                           "call_id": "triage-2"}, headers=auth).get_json()["message_id"]
    run_worker()
    op = signed_in(app, "t_op")
    r = post_form(op, f"/operator/triage/{message_id}", {"decision": "dismiss", "reason": ""})
    assert r.status_code == 422 and "须说明理由" in r.get_data(as_text=True)
    r = post_form(op, f"/operator/triage/{message_id}", {"decision": "dismiss", "reason": "非城市管理问题"})
    assert r.status_code == 302
    with ctx.db.session() as s:
        msg = s.get(InboundMessage, message_id)
        assert msg.status == "dismissed" and "非城市管理问题" in msg.reason


def test_search_by_phone_and_by_case_number(app, client, auth, run_worker, staff):
    number = report(client, auth, run_worker, LITTER, "search-1")
    op = signed_in(app, "t_op")
    page = op.get("/search?q=13911112222").get_data(as_text=True)
    assert number in page and CALLER in page
    assert "<td>热线电话</td>" in page and "<td>已处理 " in page      # channel and status as staff read them
    r = op.get(f"/search?q={number}")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/cases/{number}")
    assert "没有找到案卷" in op.get("/search?q=20990101-000001").get_data(as_text=True)


# ----------------------------------------------------------------------------- department


def test_department_queue_is_its_own_sorted_by_due_time_with_lights(app, client, auth, run_worker, staff):
    litter = report(client, auth, run_worker, LITTER, "dq-1")
    lamp = report(client, auth, run_worker, "交道口南大街20号路灯不亮了", "dq-2")   # 城管委: not theirs
    page = signed_in(app, "t_sanit").get("/dept").get_data(as_text=True)
    assert litter in page and lamp not in page
    assert re.search(r'class="light (green|yellow|red)"', page)


def test_the_centre_presses_a_case_and_the_department_sees_it_in_its_queue(app, ctx, client, auth, run_worker, staff):
    number = report(client, auth, run_worker, LITTER, "press-1")
    dept, chief = signed_in(app, "t_sanit"), signed_in(app, "t_chief")
    assert 'data-action="supervise"' not in dept.get(f"/cases/{number}").get_data(as_text=True)
    assert 'data-action="supervise"' in chief.get(f"/cases/{number}").get_data(as_text=True)
    r = act(chief, number, "supervise", "")                                # no note: refused, said why
    assert r.status_code == 422 and "督办须写明督办要求" in r.get_data(as_text=True)
    assert act(chief, number, "supervise", "群众反映强烈，请今天处理").status_code == 302
    assert "督办1次" in dept.get("/dept").get_data(as_text=True)
    page = dept.get(f"/cases/{number}").get_data(as_text=True)
    assert "督办" in page and "群众反映强烈，请今天处理" in page
    assert "督办1次" in chief.get("/centre?tab=all").get_data(as_text=True)


def test_a_grid_worker_sees_their_cells_first_and_the_department_on_request(app, ctx, client, auth, run_worker, staff):
    here = report(client, auth, run_worker, LITTER, "dg-1")
    there = report(client, auth, run_worker, "交道口南大街20号有暴露垃圾没人清理", "dg-2")
    with ctx.db.session() as s:
        cell = s.scalar(select(Case.grid_code).where(Case.number == here))
        assert cell != s.scalar(select(Case.grid_code).where(Case.number == there))
        user_id = s.scalar(select(User.id).where(User.username == "t_sanit"))
        s.add(UserGrid(user_id=user_id, grid_code=cell))
        s.commit()
    dept = signed_in(app, "t_sanit")
    page = dept.get("/dept").get_data(as_text=True)
    assert here in page and there not in page and "只显示分配给我的 1 个网格" in page
    page = dept.get("/dept?cells=all").get_data(as_text=True)
    assert here in page and there in page


def test_department_accepts_extends_and_resolves_with_photos(app, ctx, client, auth, run_worker, staff):
    number = report(client, auth, run_worker, LITTER, "dept-1")
    other = report(client, auth, run_worker, "交道口南大街20号路灯不亮了", "dept-1b")   # asks for nothing
    dept = signed_in(app, "t_sanit")
    assert act(dept, number, "accept").status_code == 302
    assert case_status(ctx, number) == "accepted"
    # An extension needs a reason; with one it waits for the centre's approval.
    r = act(dept, number, "request_extension", "", extra="1工作日")
    assert r.status_code == 422 and "须说明理由" in r.get_data(as_text=True)
    act(dept, number, "request_extension", "需要协调清运车辆", extra="1工作日")
    disp = signed_in(app, "t_disp")
    waiting = disp.get("/centre?tab=extension").get_data(as_text=True)
    assert number in waiting and other not in waiting and "延期待批 1<" in waiting    # only the one that asked
    assert act(disp, number, "approve_extension", "同意").status_code == 302
    assert "延期待批 0<" in disp.get("/centre?tab=extension").get_data(as_text=True)
    # Done, with a note and a photo from the phone's camera.
    r = dept.post(f"/cases/{number}/act", data={
        "action": "resolve", "note": "已清运完毕", "csrf_token": csrf(dept, f"/cases/{number}"),
        "photos": [(io.BytesIO(png()), "after.png")]}, content_type="multipart/form-data")
    assert r.status_code == 302
    assert case_status(ctx, number) == "handled"
    page = dept.get(f"/cases/{number}").get_data(as_text=True)
    for label in ("签收", "申请延期", "批准延期", "处置反馈", "已清运完毕", "需要协调清运车辆"):
        assert label in page, label
    photo_url = re.search(rf'/cases/{number}/photos/\d+', page).group(0)
    r = dept.get(photo_url)
    assert r.status_code == 200 and r.data == png() and r.mimetype == "image/png"


def test_a_photo_that_is_not_an_image_is_refused_and_nothing_changes(app, ctx, client, auth, run_worker, staff):
    number = report(client, auth, run_worker, LITTER, "dept-2")
    dept = signed_in(app, "t_sanit")
    dept.post(f"/cases/{number}/act", data={
        "action": "resolve", "note": "已清运", "csrf_token": csrf(dept, f"/cases/{number}"),
        "photos": [(io.BytesIO(b"<html>not a picture</html>"), "x.jpg")]}, content_type="multipart/form-data")
    assert case_status(ctx, number) == "dispatched"
    assert "不是 JPEG/PNG/GIF/WebP 图片" in dept.get(f"/cases/{number}").get_data(as_text=True)


def test_department_returns_with_a_reason_and_the_centre_redispatches(app, ctx, client, auth, run_worker, staff):
    number = report(client, auth, run_worker, MANHOLE, "ret-1")
    handles(ctx, "t_street", number)
    street = signed_in(app, "t_street")
    act(street, number, "return", "")
    assert case_status(ctx, number) == "dispatched"  # no reason, no return
    act(street, number, "return", "井盖属排水集团管辖")
    assert case_status(ctx, number) == "returned"
    disp = signed_in(app, "t_disp")
    assert number in disp.get("/centre?tab=dispatch").get_data(as_text=True)
    act(disp, number, "dispatch", "改派排水集团", department="北京市排水集团")
    with ctx.db.session() as s:
        case = s.scalar(select(Case).where(Case.number == number))
        assert case.status == "dispatched" and case.department.name == "北京市排水集团"
    assert street.get(f"/cases/{number}").status_code == 404  # no longer theirs


# ----------------------------------------------------------------------------- command centre


def test_centre_verifies_and_closes_and_the_citizen_gets_the_result(app, ctx, client, auth, run_worker, staff):
    number = report(client, auth, run_worker, LITTER, "close-1")
    dept = signed_in(app, "t_sanit")
    act(dept, number, "accept")
    act(dept, number, "resolve", "已清运完毕")
    # The department that handled it cannot close it.
    assert "close" not in dept.get(f"/cases/{number}").get_data(as_text=True).split("办理过程")[1]
    ver = signed_in(app, "t_ver")
    assert number in ver.get("/centre?tab=verify").get_data(as_text=True)
    act(ver, number, "verify", "现场核查属实")
    act(ver, number, "close", "")
    assert case_status(ctx, number) == "closed"
    run_worker()
    results = [m for m in client.get(f"/api/outbox?to={CALLER}", headers=auth).get_json()["messages"]
               if m["kind"] == "result"]
    assert len(results) == 1 and "已清运完毕" in results[0]["text"]


def test_dashboard_heat_map_trends_and_evaluation(app, client, auth, run_worker, staff):
    number = report(client, auth, run_worker, LITTER, "dash-1")
    report(client, auth, run_worker, "交道口南大街20号路灯不亮了", "dash-2")
    chief = signed_in(app, "t_chief")
    page = chief.get("/centre/dashboard").get_data(as_text=True)
    assert re.search(r'id="kpi-filed">2<', page)
    assert "东城区环境卫生服务中心" in page and "<svg" in page
    counted = re.findall(r'data-cell="(\d{15})" data-count="(\d+)"', page)
    assert len(counted) > 100 and sum(int(n) for _c, n in counted) == 2
    cell = client.get(f"/api/cases/{number}", headers=auth).get_json()["grid_code"]
    assert dict(counted)[cell] == "1"
    assert number in chief.get(f"/centre/cases?grid={cell}").get_data(as_text=True)
    # the department's 立案数 links to the cases behind it: this one, not the other department's
    link = re.search(r'<a href="(/centre/cases\?[^"]*department=\d+[^"]*)">东城区环境卫生服务中心</a>', page)
    behind = chief.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert number in behind and "交道口南大街20号" not in behind
    assert "交道口南大街20号" in chief.get("/centre/cases").get_data(as_text=True)  # the list shows places
    assert "<polyline" in page  # the 30-day trend
    by_street = chief.get("/centre/dashboard?by=street").get_data(as_text=True)
    assert "街道" in by_street
    evaluation = chief.get("/centre/evaluation").get_data(as_text=True)
    assert re.search(r"东城区环境卫生服务中心</td>.*?<b>[A-E]</b>", evaluation, re.S)
    # A department given nothing this month is not ranked above the one that worked: it is not graded.
    graded, idle = evaluation.index("东城区环境卫生服务中心"), evaluation.index("北京市气象局")
    assert graded < idle and re.search(r"北京市气象局</td>.*?不参评", evaluation, re.S)


def test_exports_csv_and_xlsx(app, client, auth, run_worker, staff):
    number = report(client, auth, run_worker, LITTER, "exp-1")
    chief = signed_in(app, "t_chief")
    r = chief.get("/centre/export.csv?what=indicators&by=department")
    text = r.data.decode("utf-8-sig")
    assert r.mimetype == "text/csv" and text.splitlines()[0].startswith("部门,编码,立案数")
    assert any(line.startswith("东城区环境卫生服务中心,") for line in text.splitlines())
    r = chief.get("/centre/export.xlsx?what=cases")
    rows = list(load_workbook(io.BytesIO(r.data)).active.iter_rows(values_only=True))
    assert rows[0][0] == "案卷号" and rows[1][0] == number
    assert CALLER not in str(rows) and "没人清理" not in str(rows)  # no phones, no citizen text
    r = chief.get("/centre/export.xlsx?what=evaluation")
    rows = list(load_workbook(io.BytesIO(r.data)).active.iter_rows(values_only=True))
    assert rows[0][0] == "部门" and rows[0][-1] == "等级"


def test_duplicate_cluster_is_shown_to_the_centre(app, client, auth, run_worker, staff):
    number = report(client, auth, run_worker, LITTER, "dup-1")
    again = report(client, auth, run_worker, "东四北大街18号暴露垃圾没人清理，很臭", "dup-2", caller="+8613922223333")
    assert again == number
    page = signed_in(app, "t_disp").get("/centre?tab=duplicates").get_data(as_text=True)
    assert number in page and "2 位反映人" in page and "很臭" in page


# ----------------------------------------------------------------------------- administration


def test_admin_creates_a_department_user_and_assigns_grids(app, ctx, staff):
    admin = signed_in(app, "t_admin")
    with ctx.db.session() as s:
        s.execute(User.__table__.delete().where(User.username == "new_water"))
        s.commit()
        dep_id = s.execute(select(User.department_id).where(User.username == "t_sanit")).scalar()
    r = post_form(admin, "/admin/users", {"username": "new_water", "name": "水务处置员", "role": "department",
                                          "department_id": str(dep_id), "password": "short"})
    assert r.status_code == 422 and "至少 8 位" in r.get_data(as_text=True)
    r = post_form(admin, "/admin/users", {"username": "new_water", "name": "水务处置员", "role": "department",
                                          "department_id": str(dep_id), "password": "long-enough-1"})
    assert r.status_code == 302
    with ctx.db.session() as s:
        user_id = s.scalar(select(User.id).where(User.username == "new_water"))
    community = "110101001001"
    r = post_form(admin, f"/admin/users/{user_id}", {"name": "水务处置员", "role": "department",
                                                      "department_id": str(dep_id), "active": "on",
                                                      "grids": f"{community} 999"})
    assert r.status_code == 422 and "没有这些网格：999" in r.get_data(as_text=True)
    post_form(admin, f"/admin/users/{user_id}", {"name": "水务处置员", "role": "department",
                                                  "department_id": str(dep_id), "active": "on", "grids": community})
    with ctx.db.session() as s:
        codes = set(s.scalars(select(UserGrid.grid_code).where(UserGrid.user_id == user_id)))
        assert codes and all(c.startswith(community) for c in codes)
        assert len(codes) == len(ctx.grids.in_community(community))
    assert login(app.test_client(), "new_water", "long-enough-1").status_code == 302


def test_admin_edits_departments(app, ctx, staff):
    admin = signed_in(app, "t_admin")
    page = admin.get("/admin/departments").get_data(as_text=True)
    assert "东城区水务局" in page
    r = post_form(admin, "/admin/departments", {"name": "东城区测试办公室", "short": "测试", "phone": "+861000000000"})
    assert r.status_code == 302 and "东城区测试办公室" in admin.get("/admin/departments").get_data(as_text=True)
    from tickets.models import Department
    with ctx.db.session() as s:
        s.execute(Department.__table__.delete().where(Department.name == "东城区测试办公室"))
        s.commit()


def test_create_user_command(ctx, staff):
    from click.testing import CliRunner
    from web.users import create_user_command
    result = CliRunner().invoke(create_user_command, ["t_cli", "--role", "department", "--department", "东城区水务局",
                                                      "--password", "cli-pass-123"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(create_user_command, ["t_cli2", "--role", "department", "--password", "cli-pass-123"])
    assert result.exit_code != 0 and "须指定部门" in result.output
    with ctx.db.session() as s:
        user = s.scalar(select(User).where(User.username == "t_cli"))
        assert user.role == "department" and user.password_hash != "cli-pass-123"
        s.delete(user)
        s.commit()


def test_demo_users_exist_for_every_role_and_department(ctx):
    from web.users import demo_users
    with ctx.db.session() as s:
        have = {u.username: u for u in s.scalars(select(User))}
    for username, role, _name, _dep in demo_users(ctx):
        assert username in have and have[username].role == role
    # One per department a case can land on: the street offices, not their 属地街道办事处 template.
    from routing.rules import LOCAL_OFFICE
    departments = [dep for _u, role, _n, dep in demo_users(ctx) if role == "department"]
    with ctx.db.session() as s:
        rows = set(s.scalars(select(Department.name)))
    assert sorted(departments) == sorted(rows - {LOCAL_OFFICE})
    assert {"东华门街道办事处", "东四街道办事处", "东城区环境卫生服务中心"} <= set(departments)


# ----------------------------------------------------------------------------- simulated phone


def test_simulated_phone_sends_through_intake_and_shows_replies(app, ctx, run_worker):
    phone = app.test_client()
    page = phone.get("/phone").get_data(as_text=True)
    number = re.search(r'id="my-number">([^<]+)<', page).group(1)
    token = csrf(phone, "/phone")
    r = phone.post("/phone/send", json={"text": LITTER}, headers={"X-CSRFToken": token})
    sid = r.get_json()["sid"]
    assert re.fullmatch(r"SM[0-9a-f]{32}", sid)
    with ctx.db.session() as s:
        msg = s.scalar(select(InboundMessage).where(InboundMessage.external_id == sid))
        assert (msg.channel, msg.sender, msg.text) == ("sms", number, LITTER)
    run_worker()
    thread = phone.get("/phone/thread").get_json()["messages"]
    assert [m["dir"] for m in thread] == ["out", "in"]
    assert "已受理" in thread[1]["text"] and re.search(r"\d{8}-\d{6}", thread[1]["text"])
    r = phone.post("/phone/send", json={"text": "  "}, headers={"X-CSRFToken": token})
    assert r.status_code == 422


def test_the_light_follows_the_cases_own_clock_after_rework_and_suspension(ctx):
    """The console shows what the SLA scan judges: a reworked case starts green again, and suspended
    time does not count."""
    from case_factory import act_at, at, open_at
    from web.present import light
    with ctx.db.session() as s:
        case = open_at(ctx, s, at(2026, 11, 23, 9, 0))       # 4 working hours
        act_at(ctx, s, case, "resolve", "department", at(2026, 11, 23, 10, 0), note="已清理")
        act_at(ctx, s, case, "rework", "verifier", at(2026, 11, 25, 9, 0), note="现场仍有垃圾")
        assert light(case, ctx, at(2026, 11, 25, 9, 30))["colour"] == "green"      # not judged from the filing
        assert light(case, ctx, at(2026, 11, 25, 12, 30))["colour"] == "green"     # 3 of 4 h: lunch does not count
        assert light(case, ctx, at(2026, 11, 25, 14, 15))["colour"] == "yellow"    # 3.25 of 4 h: past 80 %
        act_at(ctx, s, case, "suspend", "dispatcher", at(2026, 11, 25, 10, 0), note="等待配件")
        assert light(case, ctx, at(2026, 11, 25, 11, 0))["colour"] == "grey"
        act_at(ctx, s, case, "resume", "dispatcher", at(2026, 11, 26, 10, 0))  # a working day later
        shown = light(case, ctx, at(2026, 11, 26, 10, 30))
        assert shown["colour"] == "green" and shown["ratio"] == 0.375            # 1.5 of 4 working hours
        s.rollback()


def test_a_finished_case_says_whether_it_was_handled_and_closed_on_time_and_names_its_channel(app, ctx, staff):
    """The header's light of a handled or closed case answers what the verifier asks (按期处置率 and
    按期结案率 count the same: by the due time), instead of repeating 待核查 or 已结案; the channel
    reads 热线电话, not hotline."""
    from case_factory import act_at, at, open_at
    numbers = {}
    with ctx.db.session() as s:
        for name, closing in (("on_time", at(2026, 11, 23, 11, 0)), ("late", at(2026, 11, 24, 10, 0))):
            case = open_at(ctx, s, at(2026, 11, 23, 9, 0))                 # 4 working hours: due 15:00 (lunch 12–14)
            act_at(ctx, s, case, "resolve", "department", closing - timedelta(minutes=30), note="垃圾已清运")
            act_at(ctx, s, case, "verify", "verifier", closing - timedelta(minutes=10), note="现场核查属实")
            act_at(ctx, s, case, "close", "verifier", closing)
            numbers[name] = case.number
        s.commit()
    chief = signed_in(app, "t_chief")
    on_time = chief.get(f"/cases/{numbers['on_time']}").get_data(as_text=True)
    late = chief.get(f"/cases/{numbers['late']}").get_data(as_text=True)
    assert re.search(r'class="light grey"[^>]*>按期结案<', on_time)
    assert re.search(r'class="light grey"[^>]*>超期结案 19小时0分<', late)   # 15:00 to 10:00 the next day
    assert "（热线电话）" in on_time and "（hotline）" not in on_time
    with ctx.db.session() as s:                       # waiting for 核查: was it handled on time?
        case = open_at(ctx, s, at(2026, 11, 23, 9, 0))
        act_at(ctx, s, case, "resolve", "department", at(2026, 11, 23, 16, 30), note="垃圾已清运")
        s.commit()
        handled = case.number
    assert re.search(r'class="light grey"[^>]*>超期处置 1小时30分<', chief.get(f"/cases/{handled}").get_data(as_text=True))
    assert "待核查" in chief.get("/centre/cases?status=handled&month=2026-11").get_data(as_text=True)   # a list: the state


def test_time_limit_light_is_green_then_yellow_at_80_percent_then_red(app, ctx, client, auth, run_worker):
    from datetime import timedelta
    from web.present import light
    number = report(client, auth, run_worker, MANHOLE, "light-1")   # urgent: counted on the wall clock
    with ctx.db.session() as s:
        case = s.scalar(select(Case).where(Case.number == number))
        assert not case.working_clock
        start, span = case.clock_start or case.created_at, case.due_at - (case.clock_start or case.created_at)
        at = lambda frac: start + span * frac  # noqa: E731
        assert light(case, ctx, at(0.5))["colour"] == "green"
        assert light(case, ctx, at(0.85))["colour"] == "yellow"
        red = light(case, ctx, at(1) + timedelta(minutes=90))
        assert red["colour"] == "red" and red["label"] == "超期 1小时30分"
