"""Telegram backend for the outbox: send(msg) -> (provider_id, status), like notify/sms.py's backends.

One python-telegram-bot Bot per process, reused: building a Bot costs ~84 ms (two httpx clients,
SSL contexts) while a reused, initialised one sends in ~2 ms. PTB is asyncio and the outbox job is
not, so the Bot lives on one event loop in a background thread and send() waits for its result.
The loop and Bot are made lazily, so a process that forks (gunicorn, RQ) builds its own after the
fork; a child that inherited a parent's backend drops it (a thread does not survive fork).
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading

from notify.outbox import SendError

log = logging.getLogger("gridline.telegram")

DEFAULT_BASE_URL = "https://api.telegram.org"
SEND_TIMEOUT = 30  # seconds: PTB's own timeouts are shorter; this only guards a stuck loop
SURVEY_LABELS = ("1 满意", "2 基本满意", "3 不满意")
SURVEY_KINDS = frozenset({"result", "survey"})           # messages that ask for a 1/2/3 answer
DONE_KINDS = frozenset({"survey_thanks", "survey_rework"})  # the answer arrived: put the keyboard away
WELCOME_KINDS = frozenset({"telegram_welcome"})
ACCEPT_KINDS = frozenset({"dispatch"})                  # a department's new case: the 签收 button
ACCEPT_PREFIX = "accept:"                                # the button sends back accept:<case id> (gateway/telegram.py)


def bot_base_url(base_url: str | None) -> str:
    """TELEGRAM_API_BASE_URL is the server root; PTB wants it ending in /bot (it appends the token)."""
    url = (base_url or DEFAULT_BASE_URL).rstrip("/")
    return url if url.endswith("/bot") else url + "/bot"


def file_base_url(base_url: str | None) -> str:
    """Where the same server keeps the files a bot may download: <root>/file/bot<token>/<path>."""
    return bot_base_url(base_url).removesuffix("/bot") + "/file/bot"


class FetchError(Exception):
    """A file the Bot API would not give us; `transient` when trying again later may work."""

    def __init__(self, message: str, transient: bool):
        super().__init__(message)
        self.transient = transient


def reply_markup(kind: str, case_id: int | None = None):
    """The keyboard a message of this kind carries: the survey's three answers, a department's
    签收 button under a new case (a group chat has no reply keyboard of its own), or none."""
    from telegram import (InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup,
                          ReplyKeyboardRemove)
    if kind in ACCEPT_KINDS and case_id is not None:
        return InlineKeyboardMarkup([[InlineKeyboardButton("✅ 签收", callback_data=f"{ACCEPT_PREFIX}{case_id}")]])
    if kind in SURVEY_KINDS:
        return ReplyKeyboardMarkup([[KeyboardButton(label) for label in SURVEY_LABELS]],
                                   resize_keyboard=True, one_time_keyboard=True,
                                   input_field_placeholder="请选择 1、2 或 3")
    if kind in DONE_KINDS:
        return ReplyKeyboardRemove()
    if kind in WELCOME_KINDS:
        return ReplyKeyboardMarkup([[KeyboardButton("📍 发送位置", request_location=True),
                                     KeyboardButton("📞 提供手机号", request_contact=True)]],
                                   resize_keyboard=True, one_time_keyboard=True)
    return None


class TelegramBackend:
    name = "telegram"

    def __init__(self, token: str, base_url: str | None = None):
        if not token:
            raise ValueError("TELEGRAM_BOT_TOKEN 未设置")
        self.token, self.base_url = token, bot_base_url(base_url)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bot = None
        self._pid = None

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(SEND_TIMEOUT)

    def _ensure_bot(self):
        with self._lock:
            if self._bot is not None and self._pid == os.getpid():
                return self._bot
            from telegram import Bot
            self._loop = asyncio.new_event_loop()
            threading.Thread(target=self._loop.run_forever, name="telegram-bot-loop", daemon=True).start()
            bot = Bot(self.token, base_url=self.base_url, base_file_url=file_base_url(self.base_url))
            try:
                self._run(bot.initialize())  # getMe: checks the token once per process
            except Exception:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._loop = None
                raise
            self._bot, self._pid = bot, os.getpid()
            return bot

    def send(self, msg) -> tuple[str, str]:
        from telegram import error
        try:
            chat_id = int(msg.to)
        except ValueError:
            raise SendError(f"不是 Telegram 会话号：{msg.to!r}", transient=False) from None
        try:
            bot = self._ensure_bot()
            sent = self._run(bot.send_message(chat_id=chat_id, text=msg.text, reply_markup=reply_markup(msg.kind, msg.case_id)))
        except error.RetryAfter as exc:  # flood control: Telegram says when to come back
            retry = exc.retry_after.total_seconds() if hasattr(exc.retry_after, "total_seconds") else exc.retry_after
            raise SendError(f"Telegram 限流，{retry} 秒后重试", transient=True, code="429",
                            retry_after=float(retry)) from exc
        except (error.TimedOut, error.NetworkError) as exc:
            if isinstance(exc, error.BadRequest):  # BadRequest is a NetworkError in PTB: chat not found etc.
                raise SendError(f"Telegram 拒绝：{exc.message}", transient=False, code="400") from exc
            raise SendError(f"Telegram 网络错误：{exc}", transient=True) from exc
        except error.Forbidden as exc:  # the citizen blocked the bot: retrying cannot help
            raise SendError(f"对方已屏蔽机器人：{exc.message}", transient=False, code="403",
                            opted_out=True) from exc
        except error.TelegramError as exc:
            raise SendError(f"Telegram 错误：{exc.message}", transient=False) from exc
        return f"{chat_id}:{sent.message_id}", "sent"

    def download(self, file_id: str, max_bytes: int) -> bytes:
        """The bytes of a file a chat sent (getFile, then the file URL it names). Telegram keeps a
        file id valid for the bot, so a failed download can be tried again later."""
        from telegram import error

        async def fetch() -> bytes:
            file = await bot.get_file(file_id)
            if file.file_size and file.file_size > max_bytes:
                raise FetchError(f"文件过大（{file.file_size // 1024} KB）", transient=False)
            return bytes(await file.download_as_bytearray())
        try:
            bot = self._ensure_bot()
            data = self._run(fetch())
        except FetchError:
            raise
        except error.BadRequest as exc:           # wrong or expired file id: asking again cannot help
            raise FetchError(f"Telegram 拒绝：{exc.message}", transient=False) from exc
        except (error.TelegramError, OSError, TimeoutError) as exc:
            raise FetchError(f"Telegram 暂时无法取回文件：{exc}", transient=True) from exc
        if len(data) > max_bytes:
            raise FetchError(f"文件过大（{len(data) // 1024} KB）", transient=False)
        return data

    def close(self) -> None:
        with self._lock:
            if self._bot is not None and self._pid == os.getpid():
                try:
                    self._run(self._bot.shutdown())
                finally:
                    self._loop.call_soon_threadsafe(self._loop.stop)
            self._bot = self._loop = None


_backends: dict[tuple[str, str], TelegramBackend] = {}
_backends_lock = threading.Lock()


def backend_for(config) -> TelegramBackend | None:
    """The process's one backend for this token, or None when Telegram is off (no token)."""
    if not config.telegram_bot_token:
        return None
    key = (config.telegram_bot_token, bot_base_url(config.telegram_base_url))
    with _backends_lock:
        backend = _backends.get(key)
        if backend is None:
            backend = _backends[key] = TelegramBackend(*key)
        return backend


def _forget_after_fork() -> None:
    _backends.clear()


os.register_at_fork(after_in_child=_forget_after_fork)
