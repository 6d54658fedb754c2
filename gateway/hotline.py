"""Hotline channel: operators post call transcripts (POST /hotline/transcripts)."""
from __future__ import annotations

import re
import uuid

from flask import Blueprint, current_app, jsonify, request

from intake import service
from web.http import BadRequest, json_body, require_token

bp = Blueprint("hotline", __name__)
PHONE = re.compile(r"^\+?\d{5,20}$")
MAX_TEXT = 2000       # characters: a long call summary fits; 10 kB of text does not
MAX_BODY = 64 * 1024  # bytes


def validate_transcript(data: dict, require_call_id: bool = False) -> tuple[str, str, str]:
    """(caller, text, call_id) of one transcript, or BadRequest saying what is wrong with it.

    The API and `gridline import-calls` share these rules; an import needs call_id, because without
    it a second run of the same file could not be told from new calls.
    """
    caller = data.get("caller")
    if not isinstance(caller, str) or not caller.strip():
        raise BadRequest(422, "missing_caller", "缺少来电号码 caller")
    caller = caller.strip().replace(" ", "").replace("-", "")
    if not PHONE.match(caller):
        raise BadRequest(422, "bad_caller", f"来电号码格式不正确：{caller[:30]}")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise BadRequest(422, "empty_text", "通话内容 text 不能为空")
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise BadRequest(413, "text_too_long", f"通话内容过长（{len(text)} 字，上限 {MAX_TEXT} 字）")
    call_id = data.get("call_id")
    if require_call_id and (call_id is None or not str(call_id).strip()):
        raise BadRequest(422, "missing_call_id", "缺少通话编号 call_id（重复导入时靠它识别同一通电话）")
    if call_id is None:
        call_id = uuid.uuid4().hex  # without a call id a retry cannot be recognised; say so in docs
    if not isinstance(call_id, (str, int)) or not str(call_id).strip() or len(str(call_id)) > 100:
        raise BadRequest(422, "bad_call_id", "call_id 应为不超过 100 字符的字符串")
    return caller, text, str(call_id).strip()


@bp.post("/hotline/transcripts")
@require_token
def post_transcript():
    caller, text, call_id = validate_transcript(json_body(request, MAX_BODY))
    # With the database down the transcript is spooled: app.py answers 202 {"spooled": true, …}.
    msg, created = service.receive(current_app.extensions["gridline"], "hotline", call_id, caller, text,
                                   {"operator": request.headers.get("X-Operator", "")})
    return jsonify({"message_id": msg.id, "duplicate": not created}), 202
