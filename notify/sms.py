"""SMS backends: console (the embedded default) and Twilio (a Messaging Service or a pool of numbers).

A backend has name, send(msg) -> (provider_id, status), and optionally sender_for(msg) and rate
(segments a second per sending number) for the outbox's per-number pacing.
"""
from __future__ import annotations

import logging
import zlib

from notify.outbox import SendError

log = logging.getLogger("gridline.sms")

SEND_TIMEOUT = 15  # seconds: the twilio client waits forever by default
# Twilio errors that mean the recipient unsubscribed (STOP at the carrier / Twilio's opt-out).
UNSUBSCRIBED = {21610}


class ConsoleBackend:
    """Keeps the message in the outbox and logs it; the demo's simulated phone reads the outbox."""
    name = "console"
    rate = None

    def send(self, msg) -> tuple[str, str]:
        log.info("SMS to %s: %s", msg.to, msg.text)
        return f"console-{msg.id}", "sent"


class TwilioBackend:
    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, from_: str, base_url: str | None = None,
                 status_callback: str | None = None, rate: float | None = 1.0, http_client=None):
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        senders = [x.strip() for x in from_.split(",") if x.strip()]
        if not senders:
            raise ValueError("TWILIO_FROM 应为号码（可用逗号分隔多个）或 Messaging Service SID（MG…）")
        # A Messaging Service SID picks the number itself (and keeps a citizen on one number).
        self.service_sid = next((x for x in senders if x.startswith("MG")), None)
        self.numbers = [x for x in senders if not x.startswith("MG")]
        self.client = Client(account_sid, auth_token,
                             http_client=http_client or TwilioHttpClient(timeout=SEND_TIMEOUT))
        if base_url:  # a loopback fake of the Twilio API in tests
            self.client.api.base_url = base_url
        self.status_callback = status_callback
        self.rate = rate

    def sender_for(self, msg) -> str:
        if self.service_sid:
            return self.service_sid
        if msg.sender in self.numbers:  # a reply leaves from the number the citizen wrote to
            return msg.sender
        # Otherwise sticky by recipient: one citizen always hears from the same number.
        return self.numbers[zlib.crc32(msg.to.encode()) % len(self.numbers)]

    def send(self, msg) -> tuple[str, str]:
        import requests
        from twilio.base.exceptions import TwilioRestException

        sender = self.sender_for(msg)
        kwargs = {"to": msg.to, "body": msg.text}
        if sender.startswith("MG"):
            kwargs["messaging_service_sid"] = sender
        else:
            kwargs["from_"] = sender
        if self.status_callback:
            kwargs["status_callback"] = self.status_callback
        try:
            result = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            transient = exc.status >= 500 or exc.status == 429 or exc.code == 20429
            raise SendError(f"Twilio 返回 {exc.status}，错误码 {exc.code}：{exc.msg}", transient=transient,
                            code=str(exc.code or exc.status), opted_out=exc.code in UNSUBSCRIBED) from exc
        except requests.RequestException as exc:
            raise SendError(f"连接 Twilio 失败：{exc.__class__.__name__}", transient=True) from exc
        return result.sid, result.status or "queued"


def backend_for(config):
    if config.sms_backend == "twilio":
        callback = f"{config.public_url.rstrip('/')}/sms/twilio/status" if config.public_url else None
        return TwilioBackend(config.twilio_account_sid, config.twilio_auth_token, config.twilio_from,
                             config.twilio_base_url, callback, rate=config.sms_rate)
    return ConsoleBackend()
