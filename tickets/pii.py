"""Personal numbers that citizens write into their own words: 电话13800001111, 身份证号…

The reporter's number is masked for everyone but operators (web/access.py), yet a resident often
writes it into the message (“有事打我电话138 0000 1111”), and the message is the case description
that departments read, the dispatch notice carries and the public Open311 feed publishes. Masked
the same way here: mobile 138****1111, landline 010-****5678, ID card 1101**********1234. Only
whole numbers with the shape of one are touched; case numbers (20261122-000123), house numbers and
plates stay as written.
"""
from __future__ import annotations

import re

MOBILE = re.compile(r"(?<![\d-])(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}(?![\d-])")
ID_CARD = re.compile(r"(?<!\d)\d{17}[\dXx](?![\dXx])")
LANDLINE = re.compile(r"(?<![\d-])0\d{2,3}-\d{7,8}(?![\d-])")
PHONE_LIKE = re.compile(r"^\+?\d{7,20}$")     # a whole value that is a number (a survey event's actor)


def mask(phone: str) -> str:
    """+8613800000000 → 138****0000; anything shorter keeps only its last two characters."""
    if not phone:
        return ""
    digits = re.sub(r"\D", "", phone)
    if phone.startswith("+86") or (digits.startswith("86") and len(digits) == 13):
        digits = digits[2:]  # the national number is what people read
    if len(digits) >= 8:
        return digits[:3] + "****" + digits[-4:]
    if len(phone) <= 2:
        return "*" * len(phone)
    return "*" * (len(phone) - 2) + phone[-2:]


def numbers(text: str | None) -> list[str]:
    """The personal numbers in `text`, as written."""
    if not text:
        return []
    return [m.group(0) for pattern in (ID_CARD, MOBILE, LANDLINE) for m in pattern.finditer(text)]


def redact(text: str | None) -> str:
    """`text` with each personal number masked (None → "")."""
    if not text:
        return text or ""
    text = ID_CARD.sub(lambda m: m.group(0)[:4] + "*" * 10 + m.group(0)[-4:], text)
    text = MOBILE.sub(lambda m: mask(m.group(0)), text)
    return LANDLINE.sub(lambda m: m.group(0).split("-")[0] + "-****" + m.group(0)[-4:], text)
