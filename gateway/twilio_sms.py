"""Twilio SMS channel: incoming messages (POST /sms/twilio) and delivery status (POST /sms/twilio/status).

Both check X-Twilio-Signature over ALL posted fields (Twilio adds fields without notice) against
the public URL Twilio calls, GRIDLINE_PUBLIC_URL + the path: behind a reverse proxy Flask's
request.url is the internal address and would never match. An incoming message is stored once per
MessageSid (Twilio retries) and answered with empty TwiML at once; replies go out through the
outbox. MMS media (NumMedia, MediaUrlN, MediaContentTypeN) are kept in the message's meta, and the
images become the case's photos. With the database down the message waits in Redis (intake.spool)
and is answered the same way: Twilio does not retry an incoming-message webhook that failed.
"""
from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl

from flask import Blueprint, Response, current_app, request
from twilio.request_validator import (SIGNATURE_HEADER, SIGNATURE_SETTINGS_HEADER, RequestValidator,
                                      get_signature_algorithm)
from twilio.twiml.messaging_response import MessagingResponse
from werkzeug.datastructures import MultiDict

from intake import service
from notify import outbox
from web.http import BadRequest

log = logging.getLogger("gridline.twilio")
bp = Blueprint("twilio_sms", __name__)

CHANNEL = "sms"
BACKEND = "twilio"
MAX_BODY = 64 * 1024   # bytes: a Twilio webhook with ten media URLs is about 3 kB
MAX_TEXT = 2000        # characters: Twilio's own limit is 1 600; longer is kept but not processed
MAX_MEDIA = 10         # Twilio's limit per MMS
_MEDIA_URL = re.compile(r"^MediaUrl(\d+)$")


def _ctx():
    return current_app.extensions["gridline"]


def _form() -> MultiDict:
    """The posted fields, decoded strictly: a broken encoding is a clear 400, not mojibake."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise BadRequest(413, "too_large", f"请求体超过 {MAX_BODY} 字节")
    mimetype = request.mimetype or ""
    if mimetype != "application/x-www-form-urlencoded":
        raise BadRequest(415, "unsupported_media_type",
                         f"Twilio 回调应为 application/x-www-form-urlencoded，收到 {mimetype or '无类型'}")
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY:
        raise BadRequest(413, "too_large", f"请求体超过 {MAX_BODY} 字节")
    try:
        pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise BadRequest(400, "bad_encoding", f"请求体不是有效的 UTF-8 表单编码（第 {exc.start} 字节附近）") from exc
    return MultiDict(pairs)


def _verify(form: MultiDict) -> None:
    """403 unless X-Twilio-Signature is Twilio's signature of the public URL and every field."""
    cfg = _ctx().config
    if not cfg.twilio_auth_token:
        raise BadRequest(503, "not_configured", "未配置 TWILIO_AUTH_TOKEN，无法验证 Twilio 签名")
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not signature:
        raise BadRequest(403, "missing_signature", "缺少 X-Twilio-Signature 签名")
    base = (cfg.public_url or request.host_url).rstrip("/")
    url = base + request.full_path.rstrip("?")
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    if not RequestValidator(cfg.twilio_auth_token).validate(url, form, signature, algorithm):
        log.warning("bad Twilio signature for %s (check GRIDLINE_PUBLIC_URL)", url)
        raise BadRequest(403, "bad_signature", "Twilio 签名无效")


def _required(form: MultiDict, *names: str) -> str:
    for name in names:
        value = (form.get(name) or "").strip()
        if value:
            return value
    raise BadRequest(400, "missing_field", f"缺少字段 {names[0]}")


def message_meta(form: MultiDict) -> dict:
    """What the pipeline reads (to, photos, voice, media, opt_out_type) plus every field as Twilio sent it."""
    media, problems = [], []
    try:
        declared = int(form.get("NumMedia") or 0)
    except ValueError:
        declared = 0
        problems.append(f"NumMedia 不是数字：{form.get('NumMedia')!r}")
    indexes = sorted({int(m.group(1)) for k in form if (m := _MEDIA_URL.match(k))} | set(range(min(declared, MAX_MEDIA))))
    for i in indexes:
        url = (form.get(f"MediaUrl{i}") or "").strip()
        if not url:
            problems.append(f"NumMedia={declared} 但缺少 MediaUrl{i}")
            continue
        media.append({"url": url, "content_type": (form.get(f"MediaContentType{i}") or "").strip()})
    meta = {
        "to": form.get("To", ""),
        "media": media,
        "photos": [m["url"] for m in media if m["content_type"].startswith("image/")],
        # a recording or a video: an operator listens to it (intake.media, triage), as on Telegram
        "voice": [m["url"] for m in media if m["content_type"].startswith(("audio/", "video/"))],
        "twilio": {k: v[0] if len(v) == 1 else v for k, v in form.lists() if k != "Body"},
    }
    if form.get("OptOutType"):
        meta["opt_out_type"] = form["OptOutType"]
    if problems:
        meta["problems"] = problems
    return meta


@bp.post("/sms/twilio")
def incoming():
    form = _form()
    _verify(form)
    sid = _required(form, "MessageSid", "SmsMessageSid", "SmsSid")
    sender = _required(form, "From")
    meta = message_meta(form)
    if "Body" not in form:
        meta["body_missing"] = True  # kept all the same: a person looks at it (nothing lost)
    text = form.get("Body", "")
    if len(text) > MAX_TEXT:
        meta["too_long"] = len(text)
    try:
        msg, created = service.receive(_ctx(), CHANNEL, sid, sender, text, meta)
        if not created:
            log.info("Twilio retry of %s: already stored as message %s", sid, msg.id)
    except service.Spooled:
        pass  # the database is down, the message waits in Redis: Twilio does not retry a 503, so 200
    return Response(str(MessagingResponse()), status=200, mimetype="application/xml")


@bp.post("/sms/twilio/status")
def status_callback():
    form = _form()
    _verify(form)
    sid = _required(form, "MessageSid", "SmsSid")
    status = _required(form, "MessageStatus", "SmsStatus").lower()
    fields = {k: v for k, v in form.items()}
    with _ctx().db.session() as s:
        row = outbox.record_receipt(s, BACKEND, sid, status, (form.get("ErrorCode") or "").strip(), fields)
    if row is None:
        log.info("status %s for %s before (or without) its outbox row; kept as a receipt", status, sid)
    return Response(status=204)
