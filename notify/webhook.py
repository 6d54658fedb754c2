"""Signed outbound webhooks: the outbox backend of the channel "webhook".

A row's `to` is the receiver's URL and its `text` the JSON body, made when the notice was queued
(payload() below), so a retry sends the same bytes. Each attempt is signed afresh:

    X-Gridline-Timestamp: <unix seconds of this attempt>
    X-Gridline-Signature: sha256=<hex HMAC-SHA256 over "<timestamp>.<body>" with GRIDLINE_WEBHOOK_SECRET>

so a receiver checks the signature and refuses a timestamp older than a few minutes (a replay).
X-Gridline-Delivery is the notice's dedupe key: the same on every retry, for the receiver's own
idempotency. 2xx is sent; 5xx, 429 and network errors are retried by the outbox with backoff;
any other answer fails the row with the status and the start of the receiver's reply.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx

from notify.outbox import SendError

SEND_TIMEOUT = 10.0       # seconds: a slow receiver must not hold the outbox job
REASON_CHARS = 200        # how much of a refusing receiver's reply is kept as the reason
USER_AGENT = "Gridline-Webhook/1"


def payload(event: str, key: str, text: str, timestamp: str, **fields) -> str:
    """The JSON body (UTF-8, Chinese as is): event, id, text, timestamp and the case's fields."""
    body = {"id": key, "event": event, **fields, "text": text, "timestamp": timestamp}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookBackend:
    name = "webhook"
    rate = None   # no per-number pacing: each receiver is its own server

    def __init__(self, secret: str, timeout: float = SEND_TIMEOUT):
        if not secret:
            raise ValueError("GRIDLINE_WEBHOOK_SECRET 未设置")
        self.secret, self.timeout = secret, timeout

    def send(self, msg) -> tuple[str, str]:
        body = msg.text.encode("utf-8")
        stamp = str(int(time.time()))
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
                   "X-Gridline-Timestamp": stamp, "X-Gridline-Signature": signature(self.secret, stamp, body),
                   "X-Gridline-Delivery": msg.dedupe_key}
        try:
            # A fresh connection each time: sends are rare, and a client kept across forks is not safe.
            resp = httpx.post(msg.to, content=body, headers=headers, timeout=self.timeout, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise SendError(f"连接接收方失败：{exc.__class__.__name__} {exc}"[:300], transient=True) from exc
        if 200 <= resp.status_code < 300:
            return f"webhook-{msg.id}", "sent"
        reason = f"接收方返回 {resp.status_code}：{resp.text.strip()[:REASON_CHARS] or resp.reason_phrase}"
        transient = resp.status_code >= 500 or resp.status_code == 429
        raise SendError(reason, transient=transient, code=str(resp.status_code),
                        retry_after=_retry_after(resp) if transient else None)


def _retry_after(resp: httpx.Response) -> float | None:
    try:
        seconds = float(resp.headers.get("Retry-After", ""))
    except ValueError:
        return None  # an HTTP date or nothing: the outbox's own backoff
    return min(max(seconds, 1.0), 3600.0)


def backend_for(config) -> WebhookBackend | None:
    """None when no GRIDLINE_WEBHOOK_SECRET is set: unsigned webhooks are never sent."""
    secret = getattr(config, "webhook_secret", None)
    return WebhookBackend(secret) if secret else None
