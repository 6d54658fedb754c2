"""A loopback fake of Twilio's Messages API for the real twilio Client, and Twilio-signed webhooks.

The fake answers POST /2010-04-01/Accounts/{AccountSid}/Messages.json like Twilio: 201 with the
message JSON, or a scripted error ({"code": 21211, ...} with 400, a 500, a 429). Every request is
kept with its time, form fields and Basic-auth user, so a test reads it like the citizen's phone.
An MMS's media URL (`media_url`) answers like Twilio with HTTP auth on media: 401 without the
account's credentials, else a redirect to the media store (another path here), which serves the
bytes of `media` and notes whether credentials followed it there.
"""
from __future__ import annotations

import base64
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "f1e2d3c4b5a697887766554433221100"
PUBLIC_URL = "https://gridline.example.org"   # what Twilio calls; the app sits behind a proxy
OUR_NUMBER = "+8610690012345"
_PATH = re.compile(r"^/2010-04-01/Accounts/(AC\w+)/Messages\.json$")
_MEDIA = re.compile(r"^/2010-04-01/Accounts/(AC\w+)/Messages/MM\w+/Media/(ME\w+)$")
_STORE = "/media-store/"


@dataclass
class Sent:
    at: float
    account: str
    user: str
    fields: dict


@dataclass
class FakeTwilio:
    server: ThreadingHTTPServer = None
    sent: list[Sent] = field(default_factory=list)
    script: list[tuple[int, dict]] = field(default_factory=list)   # answers to give, first to last
    next_sids: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: itertools.count = field(default_factory=lambda: itertools.count(1))
    media: dict[str, bytes] = field(default_factory=dict)           # ME sid → bytes
    store_saw_credentials: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def media_url(self, media_sid: str, account: str = None) -> str:
        return f"{self.url}/2010-04-01/Accounts/{account or ACCOUNT_SID}/Messages/MM{media_sid[2:]}/Media/{media_sid}"

    def bodies(self, to: str | None = None) -> list[str]:
        return [s.fields["Body"] for s in self.sent if to is None or s.fields.get("To") == to]

    def answer(self, account: str, form: dict) -> tuple[int, dict]:
        with self.lock:
            if self.script:
                status, body = self.script.pop(0)
                if status >= 300:
                    return status, body
            sid = self.next_sids.pop(0) if self.next_sids else f"SM{next(self.counter):032x}"
        return 201, {"sid": sid, "account_sid": account, "to": form.get("To"), "from": form.get("From"),
                     "messaging_service_sid": form.get("MessagingServiceSid"), "body": form.get("Body"),
                     "status": "accepted" if form.get("MessagingServiceSid") else "queued",
                     "num_segments": "1", "direction": "outbound-api", "api_version": "2010-04-01",
                     "uri": f"/2010-04-01/Accounts/{account}/Messages/{sid}.json"}


def start_fake() -> FakeTwilio:
    fake = FakeTwilio()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802 (http.server's naming)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            m = _PATH.match(self.path)
            if not m:
                return self._reply(404, {"code": 20404, "message": "not found", "status": 404})
            user = ""
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                user = base64.b64decode(auth[6:]).decode().split(":")[0]
            form = dict(parse_qsl(raw.decode(), keep_blank_values=True))
            with fake.lock:
                fake.sent.append(Sent(time.monotonic(), m.group(1), user, form))
            status, body = fake.answer(m.group(1), form)
            self._reply(status, body)

        def do_GET(self):  # noqa: N802
            auth = self.headers.get("Authorization", "")
            if self.path.startswith(_STORE):
                fake.store_saw_credentials |= bool(auth)
                data = fake.media.get(self.path.removeprefix(_STORE))
                if data is None:
                    return self._reply(404, {"message": "not found"})
                return self.wfile.write(f"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n"
                                        f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
            m = _MEDIA.match(self.path)
            if not m:
                return self._reply(404, {"code": 20404, "message": "not found", "status": 404})
            if auth != "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode():
                return self._reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
            if m.group(2) not in fake.media:
                return self._reply(404, {"code": 20404, "message": "not found", "status": 404})
            self.wfile.write(f"HTTP/1.1 302 Found\r\nLocation: {_STORE}{m.group(2)}\r\n"
                             f"Content-Length: 0\r\n\r\n".encode())

        def _reply(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            head = (f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(data)}\r\n\r\n").encode()
            self.wfile.write(head + data)  # headers and body in one write: no Nagle stall

        def log_message(self, *args):
            pass

    fake.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=fake.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return fake


def signature(path: str, fields: dict, url: str = PUBLIC_URL, token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url + path, fields)


def post_signed(client, path: str, fields: dict, **kw):
    """POST the fields as Twilio would: form-encoded, signed over the public URL and every field."""
    return client.post(path, data=fields, headers={"X-Twilio-Signature": signature(path, fields)}, **kw)


_sids = itertools.count(1)


def sms_fields(sender: str, body: str | None, **extra) -> dict:
    """An incoming SMS as Twilio posts it (field list: Twilio's messaging webhook docs)."""
    sid = extra.pop("MessageSid", None) or f"SM{int(time.time() * 1000):013d}{next(_sids):019d}"
    fields = {
        "ToCountry": "CN", "ToState": "", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "",
        "FromZip": "", "SmsSid": sid, "FromState": "", "SmsStatus": "received", "FromCity": "",
        "FromCountry": "CN", "To": OUR_NUMBER, "ToZip": "", "NumSegments": "1", "MessageSid": sid,
        "AccountSid": ACCOUNT_SID, "From": sender, "ApiVersion": "2010-04-01",
    }
    if body is not None:
        fields["Body"] = body
    fields.update(extra)
    return fields


# ---- fixtures (imported by the test modules that use them) -----------------------------------

import dataclasses  # noqa: E402

import pytest  # noqa: E402

_SHARED = ("db", "redis", "rules", "classifier", "gazetteer", "grids", "calendar", "templates")


def twilio_context(ctx, fake: FakeTwilio, **config):
    """A context like the session's (same database, Redis, loaded rules and grids) with SMS through
    Twilio — the real twilio Client pointed at the loopback fake — made current for the jobs."""
    from intake import context as context_module
    from intake.context import Context
    settings = dict(twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN, twilio_from=OUR_NUMBER,
                    twilio_base_url=fake.url, public_url=PUBLIC_URL, sms_rate=1000.0)
    settings.update(config)
    c = Context(dataclasses.replace(ctx.config, **settings))
    for name in _SHARED:
        c.__dict__[name] = getattr(ctx, name)  # loaded once per session; the cost is jieba and grids
    context_module.set_current(c)
    return c


@pytest.fixture
def fake_twilio():
    fake = start_fake()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def twilio_ctx(ctx, fake_twilio):
    from intake import context as context_module
    c = twilio_context(ctx, fake_twilio)
    yield c
    context_module.set_current(ctx)


@pytest.fixture
def sms_client(twilio_ctx):
    from app import create_app
    app = create_app(twilio_ctx)
    app.testing = True
    return app.test_client()
