"""What the classifiers read: any input made into clean text, or a reason it cannot be classified.

Every classifier goes through `prepare`, so odd input has one defined answer instead of an
exception: None, bytes (UTF-8 or not), numbers, empty or whitespace-only text, emoji only,
traditional characters (converted to simplified with OpenCC t2s, as place extraction does),
full-width letters and digits (NFKC), text with no Chinese at all (pinyin, English), and very long
pastes (classified on their first MAX_CHARS characters). A `reason` means: classify if you can, but
let an operator look (triage); `usable` False means there is nothing to classify (nothing left,
no letters, or no Chinese: the catalogue, keywords and history are all Chinese).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

try:
    import opencc
    _t2s = opencc.OpenCC("t2s").convert
except ImportError:  # pragma: no cover - pinned in pyproject
    _t2s = str

MAX_CHARS = 2000
_BAD = re.compile("[\ufffd\ud800-\udfff]")           # replacement character, lone surrogates
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

EMPTY = "消息为空"
NO_WORDS = "消息中没有文字（只有表情、符号或数字），无法自动分类"
NO_CHINESE = "消息中没有中文（拼音或外文），无法自动分类"
BAD_ENCODING = "消息含有无法识别的字符（编码错误），需人工核对"


def too_long(n: int) -> str:
    return f"消息过长（{n} 字），只按前 {MAX_CHARS} 字分类，需人工核对"


@dataclass(frozen=True)
class Prepared:
    text: str               # normalised text, at most MAX_CHARS characters
    reason: str = ""        # why a person should look at it ("" = nothing odd)
    usable: bool = True     # False: nothing to classify (empty, emoji only)


def normalize(text: str) -> str:
    """Traditional → simplified, full-width → half-width; the same for training and classifying."""
    if text.isascii():
        return text
    text = _t2s(text)
    # Most messages are NFKC already: checking costs a twentieth of normalising.
    return text if unicodedata.is_normalized("NFKC", text) else unicodedata.normalize("NFKC", text)


def prepare(raw) -> Prepared:
    bad = False
    if raw is None:
        raw = ""
    elif isinstance(raw, (bytes, bytearray, memoryview)):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raw, bad = bytes(raw).decode("utf-8", "replace"), True
    elif not isinstance(raw, str):
        raw = str(raw)
    if _BAD.search(raw):
        raw, bad = _BAD.sub(" ", raw), True
    n = len(raw)
    text = normalize(_CONTROL.sub(" ", raw[:MAX_CHARS])).strip()
    if not text:
        return Prepared("", BAD_ENCODING if bad else EMPTY, False)
    if not any(c.isalpha() for c in text):
        return Prepared(text, BAD_ENCODING if bad else NO_WORDS, False)
    if not _HAN.search(text):    # the catalogue, the keywords and the history are all Chinese
        return Prepared(text, BAD_ENCODING if bad else NO_CHINESE, False)
    return Prepared(text, BAD_ENCODING if bad else too_long(n) if n > MAX_CHARS else "")
