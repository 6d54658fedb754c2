"""Configuration from the environment, with the embedded defaults of `make run`.

One place reads os.environ so every process (web, worker, CLI, tests) agrees on the settings.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


RETENTION_MIN_DAYS = 30   # a finished case stays whole this long at least: surveys, rework, appeals


def _days(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or int(value) < RETENTION_MIN_DAYS:
        raise ValueError(f"GRIDLINE_RETENTION_DAYS 应为不小于 {RETENTION_MIN_DAYS} 的天数，而不是 {value!r}")
    return int(value)


@dataclass
class Config:
    var_dir: Path = field(default_factory=lambda: Path(_env("GRIDLINE_VAR_DIR", str(ROOT / "var"))))
    database_url: str | None = field(default_factory=lambda: _env("DATABASE_URL"))
    redis_url: str | None = field(default_factory=lambda: _env("REDIS_URL"))
    rules_path: Path = field(default_factory=lambda: Path(_env("GRIDLINE_RULES", str(ROOT / "routing_rules.yaml"))))
    demo_dir: Path = field(default_factory=lambda: Path(_env("GRIDLINE_DEMO_DIR", str(ROOT / "data" / "demo"))))
    templates_path: Path = field(default_factory=lambda: Path(_env("GRIDLINE_TEMPLATES", str(ROOT / "notify" / "templates.yaml"))))
    api_token: str | None = field(default_factory=lambda: _env("GRIDLINE_API_TOKEN"))
    public_url: str | None = field(default_factory=lambda: _env("GRIDLINE_PUBLIC_URL"))
    # Where citizens open their case's result page (notify/links.py); no link is sent without one.
    link_url: str | None = field(default_factory=lambda: _env("GRIDLINE_LINK_URL") or _env("GRIDLINE_PUBLIC_URL"))
    twilio_account_sid: str | None = field(default_factory=lambda: _env("TWILIO_ACCOUNT_SID"))
    twilio_auth_token: str | None = field(default_factory=lambda: _env("TWILIO_AUTH_TOKEN"))
    twilio_from: str | None = field(default_factory=lambda: _env("TWILIO_FROM"))
    twilio_base_url: str | None = field(default_factory=lambda: _env("TWILIO_API_BASE_URL"))  # loopback fakes in tests
    telegram_bot_token: str | None = field(default_factory=lambda: _env("TELEGRAM_BOT_TOKEN"))
    telegram_webhook_secret: str | None = field(default_factory=lambda: _env("TELEGRAM_WEBHOOK_SECRET"))
    telegram_base_url: str | None = field(default_factory=lambda: _env("TELEGRAM_API_BASE_URL"))  # loopback fakes in tests
    webhook_secret: str | None = field(default_factory=lambda: _env("GRIDLINE_WEBHOOK_SECRET"))  # signs webhooks
    open311_jurisdiction: str = field(default_factory=lambda: _env("OPEN311_JURISDICTION", "bjdch.gov.cn"))
    open311_api_keys: str | None = field(default_factory=lambda: _env("OPEN311_API_KEYS"))  # comma-separated
    timezone: str = field(default_factory=lambda: _env("GRIDLINE_TZ", "Asia/Shanghai"))
    batch_size: int = field(default_factory=lambda: int(_env("GRIDLINE_BATCH_SIZE", "200")))
    # Conversation with citizens (intake/conversation.py)
    ask_back_minutes: float = field(default_factory=lambda: float(_env("GRIDLINE_ASK_BACK_MINUTES", "120")))
    ask_back_channels: str = field(default_factory=lambda: _env("GRIDLINE_ASK_BACK_CHANNELS", "sms,telegram"))
    survey_days: float = field(default_factory=lambda: float(_env("GRIDLINE_SURVEY_DAYS", "7")))
    flood_per_minute: int = field(default_factory=lambda: int(_env("GRIDLINE_FLOOD_PER_MINUTE", "6")))
    # Sending (notify/outbox.py): segments a second per sending number, retries, age limits per kind
    sms_rate: float = field(default_factory=lambda: float(_env("GRIDLINE_SMS_RATE", "1")))
    send_retry_seconds: float = field(default_factory=lambda: float(_env("GRIDLINE_SEND_RETRY_SECONDS", "30")))
    send_max_attempts: int = field(default_factory=lambda: int(_env("GRIDLINE_SEND_MAX_ATTEMPTS", "6")))
    outbox_max_age: str = field(default_factory=lambda: _env("GRIDLINE_OUTBOX_MAX_AGE", ""))  # "ack=24h,status=1h"
    # Forget reporters of cases finished this many days ago, once a day in the worker (tickets/retention.py)
    retention_days: int | None = field(default_factory=lambda: _days(_env("GRIDLINE_RETENTION_DAYS")))

    def __post_init__(self) -> None:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        if not self.database_url:
            self.database_url = f"sqlite:///{self.var_dir / 'gridline.db'}"

    @property
    def sms_backend(self) -> str:
        twilio_ready = self.twilio_account_sid and self.twilio_auth_token and self.twilio_from
        return "twilio" if twilio_ready else "console"

    def ensure_api_token(self) -> str:
        """GRIDLINE_API_TOKEN, else a token made once and kept in var/ so restarts keep it."""
        if not self.api_token:
            self.api_token = self._kept_secret("api_token")
        return self.api_token

    def pseudonym_key(self) -> bytes:
        """GRIDLINE_PSEUDONYM_KEY, else one made once and kept in var/: the same number keeps its
        pseudonym from one `gridline anonymise` run to the next (tickets.retention)."""
        return (_env("GRIDLINE_PSEUDONYM_KEY") or self._kept_secret("pseudonym_key")).encode()

    def link_key(self) -> bytes:
        """GRIDLINE_LINK_KEY, else one kept in var/: it signs the links of result pages, so every
        web node behind one address needs the same (set it when there is more than one machine)."""
        return (_env("GRIDLINE_LINK_KEY") or self._kept_secret("link_key")).encode()

    def _kept_secret(self, name: str) -> str:
        path = self.var_dir / name
        if not path.exists():
            path.write_text(secrets.token_urlsafe(24))
            path.chmod(0o600)
        return path.read_text().strip()
