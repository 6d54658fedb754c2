"""Who may see what: a department sees only its own cases; only operators see phone numbers whole,
and every time they do it is written to the audit table (phone_views)."""
from __future__ import annotations


from flask import current_app, g, has_request_context, request
from flask_login import current_user
from sqlalchemy import select

from tickets import pii, retention
from tickets.models import Case
from web.models import PhoneView

PHONE_ROLES = {"operator"}
# Roles that see every department's cases (read); what they may do is the lifecycle's business.
ALL_CASES_ROLES = {"operator", "dispatcher", "verifier", "supervisor", "admin"}


def mask_phone(phone: str | None) -> str:
    """+8613800000000 → 138****0000 (tickets.pii.mask); a forgotten reporter: （已匿名）."""
    if phone and phone.startswith(retention.PREFIX):
        return "（已匿名）"
    return pii.mask(phone or "")


def sees_phones(user=None) -> bool:
    user = user if user is not None else current_user
    return bool(getattr(user, "is_authenticated", False) and user.role in PHONE_ROLES)


def show_phone(phone: str | None, case_id: int | None = None, message_id: int | None = None) -> str:
    """The number as the signed-in person may see it; an unmasked view is audited."""
    if not phone:
        return ""
    if not sees_phones() or phone.startswith(retention.PREFIX):
        return mask_phone(phone)
    audit_view(phone, case_id, message_id)
    return phone


def show_text(text: str | None, case_id: int | None = None, message_id: int | None = None) -> str:
    """A citizen's words as the signed-in person may see them: the numbers written in them
    (电话13800001111) masked like the reporter's, or whole and audited for an operator."""
    if not text or not sees_phones():
        return pii.redact(text)
    for number in pii.numbers(text):
        audit_view(number, case_id, message_id)
    return text


def audit_view(phone: str, case_id=None, message_id=None, username: str | None = None) -> None:
    """Remember an unmasked view; written once per request by write_audit (after the view ran)."""
    if not has_request_context():
        return
    views = g.setdefault("phone_views", {})
    views.setdefault((phone, case_id, message_id), username)


def write_audit(response):
    views = g.pop("phone_views", None)
    if not views or response.status_code >= 400:
        return response
    user_id = current_user.id if current_user.is_authenticated else None
    default_name = current_user.username if current_user.is_authenticated else "api-token"
    with current_app.extensions["gridline"].db.session() as s:
        for (phone, case_id, message_id), username in views.items():
            s.add(PhoneView(user_id=user_id, username=username or default_name, phone=phone, case_id=case_id,
                            message_id=message_id, path=request.full_path[:500]))
        s.commit()
    return response


def can_see_case(case: Case, user=None) -> bool:
    user = user if user is not None else current_user
    if not getattr(user, "is_authenticated", False):
        return False
    if user.role in ALL_CASES_ROLES:
        return True
    return user.role == "department" and user.department_id is not None and case.department_id == user.department_id


def scoped(query, user=None):
    """A select(Case…) narrowed to the cases this person may see."""
    user = user if user is not None else current_user
    if user.role in ALL_CASES_ROLES:
        return query
    if user.role == "department" and user.department_id is not None:
        return query.where(Case.department_id == user.department_id)
    return query.where(False)


def visible_case(session, number: str, user=None) -> Case | None:
    """The case with this number if this person may see it; None otherwise (never says which)."""
    case = session.scalar(select(Case).where(Case.number == number))
    if case is None or not can_see_case(case, user):
        return None
    return case


# ----------------------------------------------------------------------------- the JSON API
# The API answers the integration token (trusted, unscoped) and, for the consoles' scripts, a
# signed-in session; a session call is scoped and masked exactly as the pages are.


def api_user():
    """The console user when this API call was authenticated by the session cookie, else None."""
    return current_user if g.get("api_by_session") else None


# Only these endpoints are scoped and masked below; any other token endpoint still needs the token.
SESSION_ENDPOINTS = {"api.get_message", "api.get_case", "api.post_action", "api.get_stats", "api.get_stats_csv",
                     "api.get_outbox", "api.get_workload"}


def session_fallback() -> bool:
    """Called by web.http.require_token when no token came: may the signed-in session stand in?"""
    if request.endpoint not in SESSION_ENDPOINTS:
        return False
    try:
        if current_user.is_authenticated:
            g.api_by_session = True
            return True
    except Exception:  # an app without the consoles (no login manager): the token is required
        return False
    return False


def api_may_see(case: Case | None) -> bool:
    user = api_user()
    return case is not None and (user is None or can_see_case(case, user))


def api_may_see_message(session, msg) -> bool:
    user = api_user()
    if user is None or user.role in ALL_CASES_ROLES:
        return True
    case = session.get(Case, msg.case_id) if msg.case_id else None
    return case is not None and can_see_case(case, user)


def api_masked_case(body: dict) -> dict:
    """Survey events name the citizen's number as actor, and the description may hold numbers the
    citizen wrote: masked unless the caller may see numbers (then audited)."""
    user = api_user()
    if user is not None and not sees_phones(user):
        body["description"] = pii.redact(body.get("description"))
    else:
        for number in pii.numbers(body.get("description")):
            audit_view(number, username=None if user is not None else "api-token")
    for ev in body.get("events", []):
        if pii.PHONE_LIKE.match(str(ev.get("actor") or "")):
            if user is not None and not sees_phones(user):
                ev["actor"] = mask_phone(ev["actor"])
            else:
                audit_view(ev["actor"], username=None if user is not None else "api-token")
    return body


def api_outbox_rows(rows: list[dict]) -> list[dict] | None:
    """Outbox rows for the caller: None when a department asks (other departments' cases are in it)."""
    user = api_user()
    if user is not None and user.role == "department":
        return None
    for row in rows:
        if user is not None and not sees_phones(user):
            row["to"] = mask_phone(row["to"])
        else:
            audit_view(row["to"], case_id=row.get("case_id"), username=None if user is not None else "api-token")
    return rows


def api_denied_stats() -> bool:
    user = api_user()
    return user is not None and user.role not in ALL_CASES_ROLES
