"""Photos that came with messages, kept by Gridline itself.

A Telegram photo arrives as a file id (gateway/telegram.py stores "telegram:<file_id>" in the
message's meta); staff need the picture, not the id. After a batch is processed the worker fetches
each such photo from the Bot API once (a job on the notify queue: network calls stay out of the
intake batch) and keeps it under var/uploads/messages. The id stays in the message, so nothing is
lost when Telegram is unreachable: the case page fetches the photo when someone opens it, and
whatever failed is fetched then. MMS photos stay links to the provider's media URL.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import redis
from rq import Queue
from sqlalchemy import select

log = logging.getLogger("gridline.media")

TELEGRAM = "telegram:"
MAX_PHOTO_BYTES = 8 * 1024 * 1024      # a phone camera's photo; Telegram's own photos are far smaller
IMAGE_MAGIC = [(b"\xff\xd8\xff", "jpg", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "png", "image/png"),
               (b"GIF87a", "gif", "image/gif"), (b"GIF89a", "gif", "image/gif")]
CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp"}


class PhotoUnavailable(Exception):
    """A photo we cannot show now; the message says why, in Chinese, for the page."""


def image_kind(data: bytes) -> tuple[str, str] | None:
    """(extension, content type) of JPEG, PNG, GIF or WebP bytes, else None."""
    for magic, ext, ctype in IMAGE_MAGIC:
        if data.startswith(magic):
            return ext, ctype
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp", "image/webp"
    return None


def telegram_refs(meta: dict | None) -> list[str]:
    return [r for r in (meta or {}).get("photos") or [] if isinstance(r, str) and r.startswith(TELEGRAM)]


def message_ref(session, case_id: int, message_id: int, n: int) -> str | None:
    """Photo n of a message of this case (its URL or Telegram ref), or None."""
    from intake.models import InboundMessage
    msg = session.get(InboundMessage, message_id)
    refs = (msg.meta or {}).get("photos") or [] if msg is not None and msg.case_id == case_id else []
    return refs[n] if 0 <= n < len(refs) and isinstance(refs[n], str) else None


def _stem(ctx, ref: str) -> Path:
    folder = ctx.config.var_dir / "uploads" / "messages"
    return folder / hashlib.sha256(ref.encode()).hexdigest()[:40]


def kept(ctx, ref: str) -> tuple[Path, str] | None:
    """The photo's file and content type, if it was fetched before."""
    stem = _stem(ctx, ref)
    for ext, ctype in CONTENT_TYPES.items():
        path = stem.with_suffix("." + ext)
        if path.is_file():
            return path, ctype
    return None


def fetch(ctx, ref: str) -> tuple[Path, str]:
    """The photo `ref` names, from our copy or fetched now and kept; PhotoUnavailable if not."""
    if found := kept(ctx, ref):
        return found
    if not ref.startswith(TELEGRAM):
        raise PhotoUnavailable("不是 Telegram 照片")
    from notify.telegram import FetchError, backend_for
    backend = backend_for(ctx.config)
    if backend is None:
        raise PhotoUnavailable("未配置 Telegram 机器人（TELEGRAM_BOT_TOKEN），无法取回照片")
    try:
        data = backend.download(ref.removeprefix(TELEGRAM), MAX_PHOTO_BYTES)
    except FetchError as exc:
        raise PhotoUnavailable(f"{exc}{'，稍后再试' if exc.transient else ''}") from exc
    kind = image_kind(data)
    if kind is None:
        raise PhotoUnavailable("Telegram 返回的不是 JPEG/PNG/GIF/WebP 图片")
    path = _stem(ctx, ref).with_suffix("." + kind[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    with os.fdopen(fd, "wb") as f:       # whole or nothing: a reader never sees half a photo
        f.write(data)
    os.replace(tmp, path)
    return path, kind[1]


def fetch_photos(message_ids: list[int]) -> int:
    """The job: fetch the Telegram photos of these messages that are not kept yet."""
    from intake import context
    from intake.models import InboundMessage
    ctx = context.get()
    with ctx.db.session() as s:
        refs = [r for meta in s.scalars(select(InboundMessage.meta).where(InboundMessage.id.in_(message_ids)))
                for r in telegram_refs(meta)]
    done = 0
    for ref in refs:
        try:
            fetch(ctx, ref)
            done += 1
        except PhotoUnavailable as exc:      # kept in the message: fetched when the case is opened
            log.warning("photo %s not fetched: %s", ref, exc)
    return done


def enqueue(ctx, message_ids: list[int]) -> None:
    """Queue the fetch of these messages' photos. Never raises: without Redis the page fetches them."""
    if not message_ids or ctx.redis is None or not ctx.config.telegram_bot_token:
        return
    from intake.queue import NOTIFY
    try:
        Queue(NOTIFY, connection=ctx.redis).enqueue("intake.media.fetch_photos", message_ids,
                                                    job_timeout=300, result_ttl=0, failure_ttl=86400)
    except redis.RedisError as exc:
        log.warning("Redis unavailable, photos of messages %s are fetched when viewed: %s", message_ids, exc)
