"""Open311 GeoReport v2 under /open311/v2/ (discovery at /open311/discovery), JSON and XML.

Services are the catalogue of routing_rules.yaml (service_code = the 5-digit GB/T 47678.5 code,
group = its big class). A POSTed request is stored like any channel's message and processed by the
worker, so services are "batch": the answer is a token (the inbound message id), and
GET tokens/{token} gives the service_request_id — the case number — once the case is open.
Errors are the spec's list: [{"code": 400, "description": "…"}], with the HTTP status to match.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import re
import urllib.parse
from datetime import datetime, timedelta, timezone
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, request
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from intake import service
from intake.models import InboundMessage
from store.db import utcnow
from tickets import clock, pii
from tickets.lifecycle import STATUS_LABELS, TERMINAL
from tickets.models import Case

bp = Blueprint("open311", __name__, url_prefix="/open311")
CHANNEL = "open311"
SPEC = "http://wiki.open311.org/GeoReport_v2"
CONTENT_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
FMT = "<any(json, xml):fmt>"
CLOSED = TERMINAL  # closed, void, not filed: Open311 knows only open and closed
MAX_DESCRIPTION = 4000   # the spec's limit
MAX_FIELD = 200
MAX_RANGE = timedelta(days=90)
MAX_RESULTS = 1000
PHONE = re.compile(r"^\+?\d{5,20}$")
# XML element for one item of each list (the JSON form is the spec's "Spark convention" mapping).
ITEM_TAGS = {"services": "service", "service_requests": "request", "attributes": "attribute", "values": "value",
             "endpoints": "endpoint", "formats": "format", "errors": "error"}


SPOOLED_NOTICE = ("已受理：系统正在恢复，请求已保存，稍后自动立案；稍后以相同内容再次提交即可取得 token。"
                  " Accepted: the request is saved and will be filed shortly;"
                  " post the same request again later to get its token.")


class Open311Error(Exception):
    def __init__(self, status: int, *descriptions: str):
        super().__init__("; ".join(descriptions))
        self.status, self.descriptions = status, descriptions


def _ctx():
    return current_app.extensions["gridline"]


# --------------------------------------------------------------------------- rendering


def _xml(root: str, data) -> bytes:
    def fill(el, value):
        if isinstance(value, dict):
            for k, v in value.items():
                fill(ET.SubElement(el, k), v)
        elif isinstance(value, list):
            for v in value:
                fill(ET.SubElement(el, ITEM_TAGS.get(el.tag, "item")), v)
        elif isinstance(value, bool):
            el.text = "true" if value else "false"
        elif value is not None:
            el.text = str(value)
    top = ET.Element(root)
    fill(top, data)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="utf-8", xml_declaration=False)


def render(fmt: str, root: str, data, status: int = 200) -> Response:
    if fmt == "xml":
        body = _xml(root, data)
    else:
        body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    return Response(body, status=status, content_type=CONTENT_TYPES[fmt])


def error_response(status: int, *descriptions: str, fmt: str | None = None) -> Response:
    """The spec's error list, in the format the URL asked for (JSON when it named none)."""
    fmt = fmt or ("xml" if request.path.endswith(".xml") else "json")
    return render(fmt, "errors", [{"code": status, "description": d} for d in descriptions], status)


@bp.errorhandler(Open311Error)
def _open311_error(exc: Open311Error):
    return error_response(exc.status, *exc.descriptions)


# --------------------------------------------------------------------------- common arguments


def _check_jurisdiction(values) -> None:
    """One jurisdiction is served, so jurisdiction_id may be left out; a different one is not ours."""
    given = (values.get("jurisdiction_id") or "").strip()
    expected = _ctx().config.open311_jurisdiction
    if given and given != expected:
        raise Open311Error(404, f"jurisdiction_id '{given[:60]}' not found：本接口只服务 {expected}")


def _check_api_key(values) -> None:
    config = _ctx().config
    keys = [k.strip() for k in (config.open311_api_keys or "").split(",") if k.strip()] or [config.ensure_api_token()]
    given = (values.get("api_key") or "").strip()
    if not given:
        raise Open311Error(403, "缺少 api_key，无法提交服务请求")
    if not any(hmac.compare_digest(given.encode(), k.encode()) for k in keys):
        raise Open311Error(403, "api_key 无效，无法提交服务请求")


def _iso(utc_naive: datetime | None) -> str | None:
    return clock.iso_local(utc_naive, _ctx().config.timezone)


# --------------------------------------------------------------------------- discovery and services


@bp.get(f"/discovery.{FMT}")
@bp.get(f"/v2/discovery.{FMT}")
def discovery(fmt: str):
    ctx = _ctx()
    base = (ctx.config.public_url or request.host_url).rstrip("/")
    changed = datetime.fromtimestamp(_rules_mtime(ctx), ZoneInfo(ctx.config.timezone)).strftime("%Y-%m-%d %H:%M")
    data = {"changeset": changed, "contact": "网格通（东城区城市管理指挥中心）：接口问题请联系系统管理员",
            "key_service": "提交服务请求需要 api_key，请向指挥中心系统管理员申请",
            "endpoints": [{"specification": SPEC, "url": f"{base}/open311/v2", "changeset": changed,
                           "type": "production", "formats": ["application/json", "text/xml"]}]}
    return render(fmt, "discovery", data)


def _rules_mtime(ctx) -> float:
    try:
        return os.path.getmtime(ctx.rules.path)
    except OSError:
        return 0.0


def _service(cat) -> dict:
    words = list(cat.aliases) + [w for w, _ in sorted(cat.keywords.items(), key=lambda kv: -kv[1])]
    keywords = list(dict.fromkeys(w for w in words if w != cat.name))[:10]
    return {"service_code": cat.code, "service_name": cat.name, "description": _service_description(cat),
            "metadata": False, "type": "batch", "keywords": ", ".join(keywords) or None, "group": cat.big_class}


def _service_description(cat) -> str:
    urgent = "（紧急，按自然时间计）" if cat.urgent else ""
    return f"{cat.kind}·{cat.big_class}。责任部门：{cat.department}；处置时限：{cat.time_limit}{urgent}"


@bp.get(f"/v2/services.{FMT}")
def services(fmt: str):
    _check_jurisdiction(request.args)
    return render(fmt, "services", [_service(c) for c in _ctx().rules.categories])


@bp.get(f"/v2/services/<code>.{FMT}")
def service_definition(code: str, fmt: str):
    _check_jurisdiction(request.args)
    try:
        cat = _ctx().rules.category(code)
    except KeyError:
        raise Open311Error(404, f"service_code '{code[:20]}' not found：目录中没有该类别") from None
    # Nothing more to ask of the reporter; the attributes say what the city commits to (variable=false).
    info = [("department", "责任部门", cat.department), ("time_limit", "处置时限", str(cat.time_limit)),
            ("kind", "类型", f"{cat.kind}·{cat.big_class}")]
    attributes = [{"variable": False, "code": c, "datatype": "string", "required": False,
                   "datatype_description": None, "order": i, "description": f"{label}：{value}"}
                  for i, (c, label, value) in enumerate(info, 1)]
    return render(fmt, "service_definition", {"service_code": cat.code, "attributes": attributes})


# --------------------------------------------------------------------------- POST requests


def _form() -> MultiDict:
    """The POSTed fields, read as strict UTF-8 (the spec's encoding): a broken byte is an error."""
    if request.mimetype == "application/x-www-form-urlencoded":
        raw = request.get_data(cache=True)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Open311Error(400, f"请求体不是有效的 UTF-8（第 {exc.start} 字节）") from exc
        try:
            pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, max_num_fields=200, errors="strict")
        except UnicodeDecodeError as exc:  # %FF and the like: percent-encoded bytes that are not UTF-8
            raise Open311Error(400, "表单字段不是有效的 UTF-8（百分号编码的字节有误）") from exc
        except ValueError as exc:
            raise Open311Error(400, f"表单格式错误：{exc}"[:200]) from exc
        return MultiDict(pairs)
    if request.mimetype == "multipart/form-data":
        return request.form
    raise Open311Error(400, "请以 application/x-www-form-urlencoded 提交服务请求")


def _number(values, name: str, low: float, high: float, errors: list) -> float | None:
    raw = (values.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not low <= value <= high:
        errors.append(f"{name} 应为 {low:g} 到 {high:g} 之间的数字，而不是 '{raw[:30]}'")
        return None
    return value


def _media_url(values, errors: list) -> str | None:
    url = (values.get("media_url") or "").strip()
    if not url:
        return None
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 1000 or re.search(r"\s", url):
        errors.append("media_url 应为不超过 1000 字符的 http(s) 地址")
        return None
    return url


@bp.post(f"/v2/requests.{FMT}")
def post_request(fmt: str):
    ctx = _ctx()
    values = _form()
    merged = MultiDict(request.args)
    merged.update(values)
    _check_api_key(merged)
    _check_jurisdiction(merged)
    code = (values.get("service_code") or "").strip()
    if not code:
        raise Open311Error(400, "缺少 service_code（可用类别见 services）")
    try:
        cat = ctx.rules.category(code)
    except KeyError:
        raise Open311Error(404, f"service_code '{code[:20]}' not found：目录中没有该类别") from None

    errors: list[str] = []
    lat = _number(values, "lat", -90, 90, errors)
    lon = _number(values, "long", -180, 180, errors)
    address = (values.get("address_string") or "").strip()
    address_id = (values.get("address_id") or "").strip()
    if (lat is None) != (lon is None) and not errors:
        errors.append("lat 与 long 须同时提供")
    if lat is None and lon is None and not address and not address_id and not errors:
        errors.append("缺少地点：请提供 lat 与 long，或 address_string，或 address_id")
    description = (values.get("description") or "").strip()
    if len(description) > MAX_DESCRIPTION:
        errors.append(f"description 过长（{len(description)} 字，上限 {MAX_DESCRIPTION} 字）")
    if len(address) > MAX_FIELD or len(address_id) > MAX_FIELD:
        errors.append(f"address_string 与 address_id 不能超过 {MAX_FIELD} 字")
    media_url = _media_url(values, errors)
    phone = re.sub(r"[\s-]", "", values.get("phone") or "")
    if phone and not PHONE.match(phone):
        errors.append(f"phone 格式不正确：{phone[:30]}")
    if errors:
        raise Open311Error(400, *errors)

    # The description is what the pipeline reads; an address it does not mention is added so the
    # place can be found by name, as in any other channel's text.
    text = description or cat.name
    if address and address not in text:
        text = f"{text}（地址：{address}）"
    person = {k: (values.get(k) or "").strip()[:MAX_FIELD] for k in
              ("email", "first_name", "last_name", "device_id", "account_id")}
    meta = {"service_code": cat.code, "service_name": cat.name, "address_string": address or None,
            "address_id": address_id or None, "media_url": media_url, "photos": [media_url] if media_url else [],
            "phone": phone or None, **{k: v for k, v in person.items() if v},
            "attributes": _attributes(values)}
    if lat is not None:
        meta.update(lat=lat, lon=lon)
        if address:
            meta["address"] = address
    sender = phone or "open311:" + (person["account_id"] or person["device_id"] or person["email"] or "anonymous")
    try:
        msg, _ = service.receive(ctx, CHANNEL, _request_key(values), sender[:64], text, meta)
    except service.Spooled:  # kept in Redis until the database is back; the same POST then gives the token
        return render(fmt, "service_requests", [{"service_notice": SPOOLED_NOTICE,
                                                 "account_id": person["account_id"] or None}], 202)
    answer = {"service_notice": "已受理，正在分拣派遣；凭 token 查询案卷号", "account_id": person["account_id"] or None}
    number = _case_number(msg.case_id)
    if number:  # a client's retry after the case opened: the real id, not the token
        answer = {"service_request_id": number, **answer, "service_notice": "已立案"}
    else:
        answer = {"token": str(msg.id), **answer}
    return render(fmt, "service_requests", [answer])


def _attributes(values) -> dict:
    out: dict[str, list[str]] = {}
    for key, value in values.items(multi=True):
        m = re.fullmatch(r"attribute\[([^\]]{1,60})\](\[\])?", key)
        if m:
            out.setdefault(m.group(1), []).append(value[:MAX_FIELD])
    return {k: v[0] if len(v) == 1 else v for k, v in out.items()}


def _request_key(values) -> str:
    """The same POST (a client's retry) is the same message: its fields, minus the key, hashed."""
    explicit = (request.headers.get("Idempotency-Key") or "").strip()
    if explicit:
        return "key:" + explicit[:90]
    fields = sorted((k, v) for k, v in values.items(multi=True) if k != "api_key")
    return "sha256:" + hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode()).hexdigest()[:64]


def _case_number(case_id: int | None) -> str | None:
    if case_id is None:
        return None
    with _ctx().db.session() as s:
        return s.scalar(select(Case.number).where(Case.id == case_id))


# --------------------------------------------------------------------------- GET requests and tokens


def _request_dict(case: Case, media: dict[int, str]) -> dict:
    last = case.events[-1] if case.events else None
    closed = case.status in CLOSED
    updated = case.closed_at if closed and case.closed_at else (last.at if last else case.created_at)
    label = STATUS_LABELS.get(case.status, case.status)
    grid = case.grid
    address = "，".join(x for x in (case.place, grid.community if grid else "", grid.street if grid else "") if x)
    return {
        "service_request_id": case.number, "status": "closed" if closed else "open",
        "status_notes": f"{label}：{pii.redact(last.note)}" if last and last.note else label,   # a public feed
        "service_name": case.category_name, "service_code": case.category_code,
        "description": pii.redact(case.description)[:MAX_DESCRIPTION], "agency_responsible": case.department.name,
        "service_notice": None if closed else f"处置时限 {case.time_limit}",
        "requested_datetime": _iso(case.created_at),
        "updated_datetime": _iso(updated),
        "expected_datetime": _iso(case.due_at), "address": address or None, "address_id": case.grid_code,
        "zipcode": None, "lat": case.lat, "long": case.lon, "media_url": media.get(case.id),
    }


def _media_for(s, case_ids: list[int]) -> dict[int, str]:
    """The first http(s) photo among each case's messages, for media_url."""
    media: dict[int, str] = {}
    if not case_ids:
        return media
    rows = s.execute(select(InboundMessage.case_id, InboundMessage.meta).where(InboundMessage.case_id.in_(case_ids))
                     .order_by(InboundMessage.id))
    for case_id, meta in rows:
        for url in (meta or {}).get("photos") or []:
            if case_id not in media and isinstance(url, str) and url.startswith(("http://", "https://")):
                media[case_id] = url
    return media


def _cases_response(fmt: str, s, query) -> Response:
    cases = list(s.scalars(query.options(selectinload(Case.events), selectinload(Case.department),
                                         selectinload(Case.grid))))
    media = _media_for(s, [c.id for c in cases])
    return render(fmt, "service_requests", [_request_dict(c, media) for c in cases])


def _parse_date(values, name: str) -> datetime | None:
    raw = (values.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace(" ", "+") if re.search(r"\d \d{2}:\d{2}$", raw) else raw)
    except ValueError:
        raise Open311Error(400, f"{name} 应为 W3C 日期时间，例如 2026-11-01T00:00:00+08:00，而不是 '{raw[:40]}'") from None
    if value.tzinfo is None:  # documented leniency: a time without zone is the city's local time
        value = value.replace(tzinfo=ZoneInfo(_ctx().config.timezone))
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def _comma_list(values, name: str) -> list[str]:
    return [x.strip() for raw in values.getlist(name) for x in raw.split(",") if x.strip()]


@bp.get(f"/v2/requests.{FMT}")
def get_requests(fmt: str):
    _check_jurisdiction(request.args)
    args = request.args
    query = select(Case).order_by(Case.created_at.desc(), Case.id.desc()).limit(MAX_RESULTS)
    ids = _comma_list(args, "service_request_id")
    if ids:  # overrides every other argument (the spec)
        query = query.where(Case.number.in_(ids[:MAX_RESULTS]))
    else:
        start, end = _parse_date(args, "start_date"), _parse_date(args, "end_date")
        if start and end and end < start:
            raise Open311Error(400, "end_date 早于 start_date")
        if start and end and end - start > MAX_RANGE:
            raise Open311Error(400, "start_date 与 end_date 相隔不能超过 90 天")
        if start is None and end is None:
            end = utcnow() + timedelta(minutes=1)
        start = start or end - MAX_RANGE
        end = end or start + MAX_RANGE
        query = query.where(Case.created_at >= start, Case.created_at <= end)
        codes = _comma_list(args, "service_code")
        if codes:
            query = query.where(Case.category_code.in_(codes))
        statuses = set(_comma_list(args, "status"))
        unknown = ", ".join(sorted(statuses - {"open", "closed"}))
        if unknown:
            raise Open311Error(400, f"status 只能是 open 或 closed，而不是 {unknown[:60]}")
        if statuses == {"open"}:
            query = query.where(Case.status.not_in(CLOSED))
        elif statuses == {"closed"}:
            query = query.where(Case.status.in_(CLOSED))
    with _ctx().db.session() as s:
        return _cases_response(fmt, s, query)


@bp.get(f"/v2/requests/<request_id>.{FMT}")
def get_request(request_id: str, fmt: str):
    _check_jurisdiction(request.args)
    with _ctx().db.session() as s:
        number = request_id
        if request_id.isdigit():  # a token: its case, once there is one
            msg = _token_message(s, request_id)
            number = s.scalar(select(Case.number).where(Case.id == msg.case_id)) if msg and msg.case_id else None
            if number is None:
                raise Open311Error(404, f"service_request_id '{request_id[:30]}' not found：尚未立案，"
                                        f"请用 tokens/{request_id[:30]} 查询")
        if s.scalar(select(Case.id).where(Case.number == number)) is None:
            raise Open311Error(404, f"service_request_id '{request_id[:30]}' not found")
        return _cases_response(fmt, s, select(Case).where(Case.number == number))


def _token_message(s, token: str) -> InboundMessage | None:
    if not token.isdigit() or len(token) > 18:
        return None
    return s.scalar(select(InboundMessage).where(InboundMessage.id == int(token), InboundMessage.channel == CHANNEL))


@bp.get(f"/v2/tokens/<token>.{FMT}")
def get_token(token: str, fmt: str):
    _check_jurisdiction(request.args)
    with _ctx().db.session() as s:
        msg = _token_message(s, token)
        if msg is None:
            raise Open311Error(404, f"token '{token[:30]}' not found")
        number = s.scalar(select(Case.number).where(Case.id == msg.case_id)) if msg.case_id else None
    # Until the case is open there is no id yet: null, and the client asks again later.
    return render(fmt, "service_requests", [{"service_request_id": number, "token": token}])


# --------------------------------------------------------------------------- everything else under /open311


@bp.errorhandler(413)
def _too_large(_exc):
    return error_response(413, "请求体过大")


@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(rest: str):
    """Wrong paths and methods answer in the spec's error format too, not the JSON API's."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    for method in ("GET", "POST"):
        try:
            endpoint, _ = adapter.match(request.path, method=method)
        except HTTPException:
            continue
        if endpoint != "open311.unknown" and method != request.method:
            return error_response(405, f"{request.method} 不适用于此地址")
    return error_response(404, f"没有这个地址：{request.path[:100]}（格式后缀应为 .json 或 .xml）")
