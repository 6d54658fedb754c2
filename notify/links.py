"""Links a citizen opens without an account: the result page of their case (web/public.py).

Case numbers are sequential (20261122-000123), so the link also carries a keyed signature of the
number: it cannot be made from the number alone. Whoever holds the link sees what the page shows,
which names no reporter and no phone number.
"""
from __future__ import annotations

import base64
import hashlib
import hmac

TOKEN_CHARS = 16        # 96 bits of the HMAC: nothing to gain by guessing, short enough for an SMS


class CaseLinks:
    def __init__(self, config):
        self.config = config        # read at each use: GRIDLINE_LINK_URL may be set after loading
        self._key: bytes | None = None

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = self.config.link_key()
        return self._key

    def token(self, number: str) -> str:
        mac = hmac.new(self.key, b"result:" + number.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode()[:TOKEN_CHARS]

    def valid(self, number: str, token: str | None) -> bool:
        # As bytes: compare_digest refuses a str with non-ASCII characters (a mangled link).
        return bool(token) and hmac.compare_digest(self.token(number).encode(), token.encode())

    def result_url(self, number: str) -> str | None:
        """The page's address, or None when no public address is configured (no link is sent)."""
        base = (self.config.link_url or "").rstrip("/")
        return f"{base}/r/{number}?t={self.token(number)}" if base else None
