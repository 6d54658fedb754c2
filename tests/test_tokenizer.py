"""Our segmentation loop must give jieba's own words (classifiers.tokenizer): the keyword rules,
the trained models and the places all read them, and a model trained on jieba's words must see
the same words when it classifies."""
from __future__ import annotations

import csv
import glob
import os

import jieba
import pytest

from classifiers.textprep import normalize
from classifiers.tokenizer import add_words, tokenize

DATA = os.path.join(os.path.dirname(__file__), "data")
ODD = [
    "", " ", "\t\r\n", "东四北大街18号门口井盖丢了，晚上很危险", "KTV噪音 ABC 到凌晨两点", "3号楼2单元501室漏水",
    "路燈壞了沒人修", "ＡＢＣ１２３井盖", "a b\tc\r\nd", "e-mail: a.b@c.com 100% #1 & more", "C++和C#",
    "😀😀井盖😀", "中\u00a0文\u3000空格", "一" * 40, "井盖" * 500, "!!!???。。。", "12345678901",
    "x", "井", "占道经营占道经营烧烤摊", "琼A·12345的车堵在消防通道", "wifi没信号，4G也没有", "zhege lu deng huai le",
]


def _jieba(text: str) -> list[str]:
    return [w for w in jieba.lcut(text, HMM=False) if w.strip()]


def _own_texts() -> list[str]:
    texts = []
    for path in sorted(glob.glob(os.path.join(DATA, "*.csv"))):
        with open(path, newline="", encoding="utf-8-sig") as f:
            texts += [cell for row in csv.reader(f) for cell in row if cell]
    return texts


def test_the_same_words_as_jieba_on_every_message_of_the_test_data():
    texts = _own_texts()
    assert len(texts) > 500
    texts += [normalize(t) for t in texts]
    differ = [(t, tokenize(t), _jieba(t)) for t in texts if tokenize(t) != _jieba(t)]
    assert not differ, differ[:3]


@pytest.mark.parametrize("text", ODD)
def test_the_same_words_as_jieba_on_odd_text(text):
    assert tokenize(text) == _jieba(text)


def test_a_word_added_to_the_dictionary_is_kept_whole_by_both():
    text = "格栅板翘起来了在蓝桥湾北门"
    before = tokenize(text)
    assert "蓝桥湾" not in before
    add_words(["蓝桥湾", "格栅板翘起"])
    try:
        after = tokenize(text)
        assert "蓝桥湾" in after and "格栅板翘起" in after
        assert after == _jieba(text)
    finally:                # frequency 0: a prefix again, the other tests segment as before
        jieba.del_word("蓝桥湾")
        jieba.del_word("格栅板翘起")
    assert tokenize(text) == before
