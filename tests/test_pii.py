"""Numbers a citizen writes into the message (电话, 身份证) are masked wherever the reporter's number
is: for staff other than operators, in the department's dispatch notice, and in the public Open311
feed; an operator sees them whole, and that view is audited (tickets/pii.py, web/access.py)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from notify.models import OutboundMessage
from tickets.pii import numbers, redact
from web.models import PhoneView
from web_support import handles, report, signed_in, staff, staff_accounts  # noqa: F401 (fixtures)

CALLER = "+8613911112222"
TEXT = "东四北大街18号门口井盖丢了，有事打我电话138 0000 1111，身份证110101199003071234"


@pytest.mark.parametrize("text, masked", [
    ("电话13800001111", "电话138****1111"),
    ("打 +86 138-0000-1111 找我", "打 138****1111 找我"),
    ("座机010-65123456", "座机010-****3456"),
    ("身份证11010119900307123X", "身份证1101**********123X"),
    ("案卷20261122-000123", "案卷20261122-000123"),        # case numbers, house numbers, plates stay
    ("东四北大街18号3单元502室", "东四北大街18号3单元502室"),
    ("工单20171218922818", "工单20171218922818"),          # 14 digits: not a phone
    ("京A12345停在消防通道", "京A12345停在消防通道"),
    ("", ""),
])
def test_personal_numbers_are_masked_and_nothing_else(text, masked):
    assert redact(text) == masked
    assert bool(numbers(text)) == (text != masked)


def test_staff_see_the_numbers_in_the_words_as_they_see_the_reporters(app, ctx, client, auth, run_worker, staff):
    number = report(client, auth, run_worker, TEXT, "pii-1", CALLER)
    handles(ctx, "t_street", number)
    for username in ("t_street", "t_disp", "t_ver"):
        page = signed_in(app, username).get(f"/cases/{number}").get_data(as_text=True)
        assert "138****1111" in page and "1101**********1234" in page, username
        assert "138 0000 1111" not in page and "110101199003071234" not in page, username
    with ctx.db.session() as s:
        assert s.scalar(select(PhoneView.id)) is None               # nothing whole, nothing to audit

    op_case = signed_in(app, "t_op").get(f"/cases/{number}").get_data(as_text=True)
    assert "138 0000 1111" in op_case
    with ctx.db.session() as s:
        seen = set(s.scalars(select(PhoneView.phone).where(PhoneView.username == "t_op")))
    assert {"138 0000 1111", "110101199003071234"} <= seen


def test_the_department_notice_and_the_public_feed_carry_the_numbers_masked(app, ctx, client, auth, run_worker, staff):
    number = report(client, auth, run_worker, TEXT, "pii-2", CALLER)
    with ctx.db.session() as s:
        notices = s.scalars(select(OutboundMessage.text).where(OutboundMessage.kind == "dispatch")).all()
    assert notices and all("138 0000 1111" not in t and "138****1111" in t for t in notices)

    public = client.get(f"/open311/v2/requests/{number}.json").get_json()[0]
    assert "138****1111" in public["description"] and "110101199003071234" not in public["description"]
    trusted = client.get(f"/api/cases/{number}", headers=auth).get_json()       # the API token: whole
    assert "138 0000 1111" in trusted["description"]
