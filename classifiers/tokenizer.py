"""jieba, set up once per process with the domain dictionary.

Why one module: jieba keeps a single global tokenizer (jieba.dt); user words added to any other
Tokenizer are invisible to it, and each Tokenizer costs ~1 s and ~90 MB. So every part of Gridline
segments through `tokenize` here, and `add_words` feeds the same dictionary (catalogue terms,
gazetteer place names) so 占道经营, 井盖 and road names stay whole.

`tokenize` gives exactly what jieba.lcut(text, HMM=False) gives, with jieba's dictionary, block
pattern and word frequencies, but walks each block in one loop of its own: jieba's pure-Python cut
builds a dict of lists (the DAG), a dict of routes and a generator per character, and matches a
regular expression per word, which is half of its time on a short message (23 vs 48 µs on real
ones). The same words on 32,000 real and made-up texts (tests/test_tokenizer.py keeps it so).
"""
from __future__ import annotations

import logging
import math
import os
import tempfile
import threading
import warnings

with warnings.catch_warnings():
    # jieba imports pkg_resources, which newer setuptools flags as deprecated.
    warnings.simplefilter("ignore")
    import jieba

jieba.setLogLevel(logging.WARNING)
_BLOCK = jieba.re_han_default     # jieba's runs of Chinese, letters, digits and +#&._%-
_ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_log = math.log
_lock = threading.Lock()
_ready = False


def _cache_dir() -> str:
    # jieba trusts any newer cache file in world-writable /tmp; keep ours in an app-owned folder.
    path = os.environ.get("GRIDLINE_CACHE_DIR") or os.path.join(tempfile.gettempdir(), f"gridline-{os.getuid()}")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def initialize() -> None:
    """Load jieba's dictionary now (about 1 s) instead of on the first message."""
    global _ready
    with _lock:
        if _ready:
            return
        jieba.dt.tmp_dir = _cache_dir()
        jieba.initialize()
        _ready = True


def add_words(words, freq: int = 2000, tag: str | None = None) -> None:
    """Keep domain words whole (catalogue terms, place names)."""
    initialize()
    for w in words:
        w = (w or "").strip()
        if len(w) >= 2:
            jieba.add_word(w, freq=freq, tag=tag)


def tokenize(text: str) -> list[str]:
    """Segment text into words, dropping whitespace-only tokens.

    Dictionary words only (HMM=False): jieba's HMM guesses new words from unknown characters,
    which costs a third of the time and adds nothing here — the domain words are in the
    dictionary (add_words), the keyword rules join up to four adjacent pieces, and the model has
    character n-grams for the rest. A model trained with one setting must run with the same
    (classifiers.model FORMAT)."""
    if not _ready:
        initialize()
    dt = jieba.dt
    freq, logtotal = dt.FREQ, _log(dt.total)
    out: list[str] = []
    for block in _BLOCK.split(text):
        if not block:
            continue
        if _BLOCK.match(block):
            _segment(block, freq, logtotal, out)
        else:                           # anything else: character by character, no whitespace
            out += [c for c in block if not c.isspace()]
    return out


def _segment(block: str, freq: dict, logtotal: float, out: list[str]) -> None:
    """The most probable split of one block into dictionary words (jieba's, HMM off).

    From the end: best[k] is the best log-probability of block[k:], reached by a word from k to
    end[k]. The candidates at k are the words of the dictionary that start there (jieba keeps
    every prefix of a word with frequency 0, so the scan stops at the first non-prefix); a
    character that starts none is a word of frequency 1. Same arithmetic as jieba, and the same
    tie-break (the longer word). Single ASCII letters or digits in a row are joined (`abc`, `18`)."""
    n = len(block)
    best = [0.0] * (n + 1)
    end = [0] * (n + 1)
    get = freq.get
    for k in range(n - 1, -1, -1):
        score, stop = 0.0 - logtotal + best[k + 1], k + 1     # the character alone (log 1 = 0)
        found = False
        i, piece = k + 1, block[k]
        while (f := get(piece)) is not None:
            if f:
                s = _log(f) - logtotal + best[i]
                if not found or s >= score:
                    score, stop, found = s, i, True
            if i >= n:
                break
            i += 1
            piece = block[k:i]
        best[k], end[k] = score, stop
    x, letters = 0, ""
    while x < n:
        y = end[x]
        if y - x == 1 and block[x] in _ASCII_ALNUM:
            letters += block[x]
        else:
            if letters:
                out.append(letters)
                letters = ""
            out.append(block[x:y])
        x = y
    if letters:
        out.append(letters)
