"""Odd input gets a defined answer — a category or none, and a reason that sends it to triage — from
the keyword rules, from rules + model, and from the pipeline's analyse(); never an exception."""
from __future__ import annotations

import pytest

from classifiers import textprep
from classifiers.combined import CombinedClassifier
from classifiers.model import TextModel
from intake.processing import analyse
from test_model import LABELS, TEXTS

PLACE = "东四北大街18号门口"
# input, category code expected (None: none), reason (None: no reason, dispatched)
CASES = [
    ("", None, textprep.EMPTY),
    ("   \n\t　", None, textprep.EMPTY),                       # ASCII and ideographic spaces
    (None, None, textprep.EMPTY),
    ("😀😀😀👍", None, textprep.NO_WORDS),
    ("？？？！！！……", None, textprep.NO_WORDS),
    ("12345", None, textprep.NO_WORDS),
    (12345, None, textprep.NO_WORDS),
    ("\x00\x01\x02", None, textprep.EMPTY),
    (PLACE + "路燈壞了，晚上很黑", "01037", None),               # traditional: read as simplified
    (PLACE + "ＫＴＶ噪音擾民到淩晨", "06028", None),             # full-width letters too
    ("lu deng huai le, street light broken", None, textprep.NO_CHINESE),
    ("ludeng 坏了 at " + PLACE + "，路灯不亮", "01037", None),   # mixed: the Chinese decides
    (PLACE + "井盖丢了" + "很危险" * 3400, "01023", textprep.too_long(10 + 4 + 3 * 3400)),
    ("嗯" * 10_240, None, textprep.too_long(10_240)),
    ((PLACE + "路灯不亮").encode() + b"\xff\xfe", "01037", textprep.BAD_ENCODING),   # broken UTF-8
    (b"\xff\xfe\xfd", None, textprep.BAD_ENCODING),
    (PLACE + "路灯不亮\ufffd\ufffd", "01037", textprep.BAD_ENCODING),  # already replaced upstream
    (PLACE + "路灯不亮\udcff", "01037", textprep.BAD_ENCODING),        # surrogateescape leftovers
]
IDS = [f"{i}:{repr(c[0])[:24]}" for i, c in enumerate(CASES)]


@pytest.fixture(scope="module")
def with_model(ctx, tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "m.npz"
    codes = {"井盖": "01023", "垃圾": "06010", "噪音": "06028", "路灯": "01037"}
    TextModel.train(TEXTS, [codes[label] for label in LABELS], progress=False).save(path)
    return CombinedClassifier.load(ctx.classifier, path, ctx.rules)


def check(cls, code, reason):
    assert cls.code == code
    assert cls.reason == (reason or "")
    assert 0.0 <= cls.confidence <= 1.0
    assert isinstance(cls.words, list) and len(cls.alternatives) <= 3


@pytest.mark.parametrize("raw, code, reason", CASES, ids=IDS)
def test_keyword_rules(ctx, raw, code, reason):
    check(ctx.classifier.classify(raw), code, reason)


@pytest.mark.parametrize("raw, code, reason", CASES, ids=IDS)
def test_rules_and_model(with_model, raw, code, reason):
    check(with_model.classify(raw), code, reason)


@pytest.mark.parametrize("raw, code, reason", [c for c in CASES if isinstance(c[0], str)],
                         ids=[i for i, c in zip(IDS, CASES) if isinstance(c[0], str)])
def test_pipeline_sends_it_to_triage_with_the_reason(ctx, raw, code, reason):
    a = analyse(ctx, raw)
    assert a["classification"].code == code
    if reason:
        assert a["reason"] == reason          # triage, with the reason
    else:
        assert a["reason"] == "" and a["route"] is not None and a["cell"] is not None
