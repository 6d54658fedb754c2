"""HTTP helpers shared by channels and the API: one JSON error shape and the bearer token.

Errors look like {"error": code, "message": Chinese text}.
"""
from __future__ import annotations

import hmac
import json
from functools import wraps

from flask import current_app, jsonify, redirect, render_template, request, send_file

from intake import media


class BadRequest(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str, **extra):
    body = {"error": code, "message": message, **extra}
    return jsonify(body), status


def json_body(request, max_bytes: int) -> dict:
    """The request's JSON object, or BadRequest with a clear reason (size, UTF-8, syntax, type)."""
    raw = request.get_data(cache=True)
    if len(raw) > max_bytes:
        raise BadRequest(413, "too_large", f"请求体超过 {max_bytes} 字节")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(400, "bad_encoding", f"请求体不是有效的 UTF-8（第 {exc.start} 字节）") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(400, "bad_json", f"JSON 格式错误：第 {exc.lineno} 行第 {exc.colno} 列") from exc
    if not isinstance(data, dict):
        raise BadRequest(400, "bad_json", "请求体应为 JSON 对象")
    return data


def require_token(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        expected = current_app.extensions["gridline"].config.ensure_api_token()
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.startswith("Bearer ") else ""
        if not token:
            from web.access import session_fallback  # a signed-in console user, scoped by web.access
            if session_fallback():
                return view(*args, **kwargs)
        if not token or not hmac.compare_digest(token.encode(), expected.encode()):
            return error_response(401, "unauthorized", "需要有效的 API 令牌：Authorization: Bearer <token>")
        return view(*args, **kwargs)
    return wrapped


def media_response(ctx, ref: str, field: str = "photos"):
    """A message's photo or voice message: our copy of a Telegram or MMS file (fetched now if the
    worker could not; media.Unavailable says why not), else a redirect to its link."""
    if not media.fetchable(ctx.config, ref) and media.kept(ctx, ref, field) is None:
        if ref.startswith(("https://", "http://")):
            return redirect(ref)
    path, ctype = media.fetch(ctx, ref, field)
    response = send_file(path, mimetype=ctype, max_age=3600)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def media_page(ctx, ref: str, field: str, whose: str):
    """`media_response` for the consoles: when the file cannot be fetched now, a 502 page that
    says why and that nothing is lost (`whose`: 案卷 … or 消息 …). The API answers JSON instead."""
    try:
        return media_response(ctx, ref, field)
    except media.Unavailable as exc:
        what = "照片" if field == "photos" else "语音"
        return render_template("ui/error.html", title=f"{what}暂时无法显示",
                               message=f"{whose}的这条{what}暂时无法显示：{exc}。文件编号已保存，不会丢失。"), 502
