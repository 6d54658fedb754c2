"""jieba, set up once per process with the domain dictionary.

Why one module: jieba keeps a single global tokenizer (jieba.dt); user words added to any other
Tokenizer are invisible to it, and each Tokenizer costs ~1 s and ~90 MB. So every part of Gridline
segments through `tokenize` here, and `add_words` feeds the same dictionary (catalogue terms,
gazetteer place names) so 占道经营, 井盖 and road names stay whole.
"""
from __future__ import annotations

import logging
import os
import tempfile
import threading
import warnings

with warnings.catch_warnings():
    # jieba imports pkg_resources, which newer setuptools flags as deprecated.
    warnings.simplefilter("ignore")
    import jieba

jieba.setLogLevel(logging.WARNING)
_lcut = jieba.lcut
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
    return [t for t in _lcut(text, HMM=False) if t.strip()]
