"""SMS backends: console (the embedded default) and Twilio."""
from __future__ import annotations

import logging

log = logging.getLogger("gridline.sms")


class ConsoleBackend:
    """Keeps the message in the outbox and logs it; the demo's simulated phone reads the outbox."""
    name = "console"

    def send(self, msg) -> tuple[str, str]:
        log.info("SMS to %s: %s", msg.to, msg.text)
        return f"console-{msg.id}", "sent"


class TwilioBackend:
    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, from_: str, base_url: str | None = None,
                 status_callback: str | None = None):
        from twilio.rest import Client

        self.client = Client(account_sid, auth_token)
        if base_url:  # a loopback fake of the Twilio API in tests
            self.client.api.base_url = base_url
        self.from_ = from_
        self.status_callback = status_callback

    def send(self, msg) -> tuple[str, str]:
        kwargs = {"to": msg.to, "body": msg.text}
        if self.from_.startswith("MG"):  # a Messaging Service SID picks the number itself
            kwargs["messaging_service_sid"] = self.from_
        else:
            kwargs["from_"] = self.from_
        if self.status_callback:
            kwargs["status_callback"] = self.status_callback
        result = self.client.messages.create(**kwargs)
        return result.sid, result.status or "queued"


def backend_for(config):
    if config.sms_backend == "twilio":
        callback = f"{config.public_url.rstrip('/')}/sms/twilio/status" if config.public_url else None
        return TwilioBackend(config.twilio_account_sid, config.twilio_auth_token, config.twilio_from,
                             config.twilio_base_url, callback)
    return ConsoleBackend()
