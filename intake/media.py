"""Photos and voice messages that came with messages, kept by Gridline itself.

A Telegram photo or voice message arrives as a file id (gateway/telegram.py stores
"telegram:<file_id>" in the message's meta "photos" or "voice"), an MMS photo as a media URL of our
Twilio account, which Twilio may put behind the account's credentials (HTTP auth on media URLs) and
deletes with the message; staff need the picture and the sound. After a batch is processed the
worker fetches each one once (a job on the media queue: network calls stay out of the intake
batch) and keeps it under var/uploads/messages. The reference stays in the message, so nothing is
lost when the provider is unreachable: the page fetches it when someone opens it. Any other link
(an Open311 media_url) is never fetched by us: the page links to it, so no message can make the
server call an address of its choosing. What is kept is recognised by its first bytes, and a
photo must be an image, a voice message a sound: the browser is never handed anything else.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import redis
from rq import Queue
from sqlalchemy import select

log = logging.getLogger("gridline.media")

TELEGRAM = "telegram:"
MAX_PHOTO_BYTES = 8 * 1024 * 1024      # a phone camera's photo; a minute of Telegram voice is ~0.2 MB
IMAGES = {"jpg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp"}
SOUNDS = {"ogg": "audio/ogg", "mp3": "audio/mpeg", "m4a": "audio/mp4", "mp4": "video/mp4", "wav": "audio/wav",
          "webm": "video/webm", "amr": "audio/amr"}     # AMR: a phone's MMS recording (download, few play it)
FIELDS = {"photos": IMAGES, "voice": SOUNDS}      # meta field → the kinds it may hold
WHAT = {"photos": "JPEG/PNG/GIF/WebP 图片", "voice": "OGG/MP3/MP4/WAV/WebM/AMR 音频"}
_MAGIC = [(0, b"\xff\xd8\xff", "jpg"), (0, b"\x89PNG\r\n\x1a\n", "png"), (0, b"GIF87a", "gif"),
          (0, b"GIF89a", "gif"), (8, b"WEBP", "webp"), (0, b"OggS", "ogg"), (0, b"ID3", "mp3"),
          (0, b"\xff\xfb", "mp3"), (0, b"\xff\xf3", "mp3"), (8, b"WAVE", "wav"), (0, b"\x1a\x45\xdf\xa3", "webm"),
          (0, b"#!AMR", "amr"), (4, b"ftypM4A", "m4a"), (4, b"ftyp", "mp4")]

TWILIO_API = "https://api.twilio.com"
_TWILIO_MEDIA = re.compile(r"^/2010-04-01/Accounts/(AC\w+)/Messages/MM\w+/Media/ME\w+$")
TIMEOUT = httpx.Timeout(30.0, connect=5.0)
FETCH_SLICE = 10.0        # seconds a fetch job works before it leaves the rest to a new one


class Unavailable(Exception):
    """A photo (or voice message) we cannot show now; the message says why, in Chinese.
    `transient`: the provider may give it later (down, slow)."""

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.transient = transient


def sniff(data: bytes, kinds: dict[str, str] = IMAGES) -> tuple[str, str] | None:
    """(extension, content type) of bytes of one of `kinds`, by their first bytes, else None."""
    for at, magic, ext in _MAGIC:
        if data[at:at + len(magic)] == magic and (at != 8 or data[:4] == b"RIFF"):
            return (ext, kinds[ext]) if ext in kinds else None
    return None


def image_kind(data: bytes) -> tuple[str, str] | None:
    """(extension, content type) of JPEG, PNG, GIF or WebP bytes, else None."""
    return sniff(data, IMAGES)


def _twilio_media(config, ref: str) -> bool:
    """A media URL of this deployment's own Twilio account (the host its API calls go to)."""
    if not (config.twilio_account_sid and config.twilio_auth_token):
        return False
    url, api = urlsplit(ref), urlsplit(config.twilio_base_url or TWILIO_API)
    m = _TWILIO_MEDIA.match(url.path)
    return bool(m) and (url.scheme, url.netloc) == (api.scheme, api.netloc) and m.group(1) == config.twilio_account_sid


def fetchable(config, ref: str) -> bool:
    """Whether Gridline fetches and keeps this photo (else it stays a link)."""
    return (ref.startswith(TELEGRAM) and bool(config.telegram_bot_token)) or _twilio_media(config, ref)


def shown_here(config, ref: str) -> bool:
    """Whether the case page shows the picture itself (ours to fetch, or a reference that is no
    link) rather than a link to follow."""
    return fetchable(config, ref) or not ref.startswith(("https://", "http://"))


def fetchable_refs(config, meta: dict | None) -> list[tuple[str, str]]:
    """(field, ref) of each photo or voice message of a message that Gridline keeps."""
    return [(f, r) for f in FIELDS for r in (meta or {}).get(f) or [] if isinstance(r, str) and fetchable(config, r)]


def ref_of(meta: dict | None, field: str, n: int) -> str | None:
    """Item n of a message's photos (or voice), or None."""
    refs = (meta or {}).get(field) or [] if field in FIELDS else []
    return refs[n] if 0 <= n < len(refs) and isinstance(refs[n], str) else None


def message_ref(session, case_id: int, message_id: int, n: int, field: str = "photos") -> str | None:
    """Photo (or voice message) n of a message of this case, or None."""
    from intake.models import InboundMessage
    msg = session.get(InboundMessage, message_id)
    return ref_of(msg.meta, field, n) if msg is not None and msg.case_id == case_id else None


def _stem(ctx, ref: str) -> Path:
    folder = ctx.config.var_dir / "uploads" / "messages"
    return folder / hashlib.sha256(ref.encode()).hexdigest()[:40]


def kept(ctx, ref: str, field: str = "photos") -> tuple[Path, str] | None:
    """The file and content type of a photo (or voice message) fetched before."""
    stem = _stem(ctx, ref)
    for ext, ctype in FIELDS[field].items():
        path = stem.with_suffix("." + ext)
        if path.is_file():
            return path, ctype
    return None


def fetch(ctx, ref: str, field: str = "photos") -> tuple[Path, str]:
    """The photo (or voice message) `ref` names, from our copy or fetched now and kept;
    Unavailable if not."""
    if found := kept(ctx, ref, field):
        return found
    if not fetchable(ctx.config, ref):
        raise Unavailable("不是本系统取回的文件（Telegram 照片、语音或本账号的彩信）")
    data = _telegram(ctx, ref) if ref.startswith(TELEGRAM) else _twilio(ctx, ref)
    kind = sniff(data, FIELDS[field])
    if kind is None:
        provider = "Telegram" if ref.startswith(TELEGRAM) else "Twilio"
        raise Unavailable(f"{provider} 返回的不是 {WHAT[field]}")
    path = _stem(ctx, ref).with_suffix("." + kind[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    with os.fdopen(fd, "wb") as f:       # whole or nothing: a reader never sees half a photo
        f.write(data)
    os.replace(tmp, path)
    return path, kind[1]


def _telegram(ctx, ref: str) -> bytes:
    from notify.telegram import FetchError, backend_for
    try:
        return backend_for(ctx.config).download(ref.removeprefix(TELEGRAM), MAX_PHOTO_BYTES)
    except FetchError as exc:
        raise Unavailable(f"{exc}{'，稍后再试' if exc.transient else ''}", exc.transient) from exc


def _twilio(ctx, url: str) -> bytes:
    """The media's bytes. The account's credentials go to Twilio's API only: the media URL answers
    with a redirect to its media store, which is fetched without them."""
    auth = (ctx.config.twilio_account_sid, ctx.config.twilio_auth_token)
    try:
        with httpx.Client(timeout=TIMEOUT) as client:
            r = client.get(url, auth=auth)
            if r.is_redirect:
                r = client.get(r.next_request.url)
            return _body(r)
    except httpx.HTTPError as exc:
        raise Unavailable(f"Twilio 暂时无法取回彩信媒体：{exc}，稍后再试", transient=True) from exc


def _body(r: httpx.Response) -> bytes:
    if r.status_code == 404:
        raise Unavailable("Twilio 已没有这条彩信的媒体（可能已被删除）")
    if r.status_code != 200:
        raise Unavailable(f"Twilio 返回 HTTP {r.status_code}，稍后再试", transient=r.status_code >= 500)
    if len(r.content) > MAX_PHOTO_BYTES:
        raise Unavailable(f"文件超过 {MAX_PHOTO_BYTES // 1024 // 1024} MB")
    return r.content


def fetch_media(message_ids: list[int]) -> int:
    """The job: fetch the photos and voice messages of these messages that are not kept yet, for
    about FETCH_SLICE seconds (the rest in a new job). A provider that is down ends the job: what
    is left is fetched when staff open it, and the worker's other queues do not wait on it."""
    import time

    from intake import context
    from intake.models import InboundMessage
    ctx = context.get()
    until = time.monotonic() + FETCH_SLICE
    done = 0
    for i, message_id in enumerate(message_ids):
        if time.monotonic() > until:
            enqueue(ctx, message_ids[i:])
            break
        with ctx.db.session() as s:
            meta = s.scalar(select(InboundMessage.meta).where(InboundMessage.id == message_id))
        for field, ref in fetchable_refs(ctx.config, meta):
            try:
                fetch(ctx, ref, field)
                done += 1
            except Unavailable as exc:      # kept in the message: fetched when the case is opened
                log.warning("%s %s of message %s not fetched: %s", field, ref, message_id, exc)
                if exc.transient:
                    return done
    return done


def enqueue(ctx, message_ids: list[int]) -> None:
    """Queue the fetch of these messages' photos and voice. Never raises: without Redis the page
    fetches them."""
    if not message_ids or ctx.redis is None:
        return
    from intake.queue import MEDIA
    try:
        Queue(MEDIA, connection=ctx.redis).enqueue("intake.media.fetch_media", message_ids,
                                                   job_timeout=300, result_ttl=0, failure_ttl=86400)
    except redis.RedisError as exc:
        log.warning("Redis unavailable, photos of messages %s are fetched when viewed: %s", message_ids, exc)
