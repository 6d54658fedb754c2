"""Keyword rules and a trained model together, end to end: routing_rules.yaml names a tiny model
trained here; the worker opens cases with what both decided; `gridline classify` shows it."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from classifiers.combined import CombinedClassifier
from classifiers.keywords import KeywordClassifier
from classifiers.model import ModelError, TextModel
from config import Config
from intake import context as context_module
from intake.processing import analyse
from routing.rules import RulesError, load_rules
from rules_copy import context_with, write_rules
from test_model import EXAMPLES

BY_CODE = {"井盖": "01023", "垃圾": "06010", "噪音": "06028", "路灯": "路灯异常"}   # a name is a code too
BY_DEPARTMENT = {"井盖": "属地街道办事处", "垃圾": "东城区环境卫生服务中心", "噪音": "东城区生态环境局",
                 "路灯": "东城区城市管理委员会"}
TEXTS = [t for texts in EXAMPLES.values() for t in texts]


def train(tmp_path, mapping, name):
    labels = [mapping[label] for label, texts in EXAMPLES.items() for _ in texts]
    path = tmp_path / name
    TextModel.train(TEXTS, labels, progress=False).save(path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return {"code": train(folder, BY_CODE, "codes.npz"),
            "department": train(folder, BY_DEPARTMENT, "departments.npz")}


@pytest.fixture(scope="module")
def rules():
    return load_rules(Config().rules_path)


@pytest.fixture(scope="module")
def keywords(rules):
    return KeywordClassifier(rules)


def combined(keywords, rules, path):
    return CombinedClassifier.load(keywords, path, rules)


def test_category_labels_vote_on_the_category(models, keywords, rules):
    c = combined(keywords, rules, models["code"])
    assert c.kind == "category"
    alone = keywords.classify("解放路的井盖没了")
    both = c.classify("解放路的井盖没了")
    assert both.code == alone.code == "01023"
    assert both.confidence > alone.confidence          # history agrees: surer
    assert "井盖没了" in both.words and all(w in "解放路的井盖没了" for w in both.words)
    assert 1 <= len(both.alternatives) <= 3 and both.alternatives[0]["code"] == "01023"
    assert all(0 <= a["score"] <= 1 for a in both.alternatives)


def test_model_alone_decides_when_no_keyword_matches(models, keywords, rules):
    c = combined(keywords, rules, models["code"])
    assert keywords.classify("臭味很大苍蝇很多").code is None
    cls = c.classify("臭味很大苍蝇很多")
    assert cls.code == "06010" and 0.5 < cls.confidence <= 1
    assert cls.words and all(w in "臭味很大苍蝇很多" for w in cls.words)   # the explanation names words


def test_rules_and_history_disagreeing_lowers_confidence(models, keywords, rules):
    c = combined(keywords, rules, models["code"])
    text = "工地打桩声音"          # rules: 施工扰民; this history: noise (噪声扰民)
    alone, both = keywords.classify(text), c.classify(text)
    model_top = c.model.predict([text])[0][0]
    assert alone.code == "08001" and model_top[0] == "06028"
    assert both.confidence < min(alone.confidence, model_top[1]) and both.confidence < 0.5
    assert {a["code"] for a in both.alternatives} >= {"08001", "06028"}   # both offered to triage


def test_department_labels_decide_the_department_when_rules_are_unsure(models, keywords, rules):
    c = combined(keywords, rules, models["department"])
    assert c.kind == "department"
    cls = c.classify("工地打桩声音")
    assert cls.code == "08001" and cls.department == "东城区生态环境局" and cls.confidence > 0.9
    sure = c.classify("楼下广场舞太吵")         # rules sure, and the history agrees on the unit
    assert sure.code == "06028" and sure.department is None and sure.confidence > 0.9
    none = c.classify("臭味很大苍蝇很多")       # no category: triage, with the model's suggestion
    assert none.code is None and none.department == "东城区环境卫生服务中心"
    assert "东城区环境卫生服务中心" in none.reason


@pytest.mark.parametrize("kind", ["code", "department"])
def test_a_batch_gets_the_answers_of_one_by_one(models, keywords, rules, kind):
    c = combined(keywords, rules, models[kind])
    texts = TEXTS + ["工地打桩声音", "臭味很大苍蝇很多", "", "😀", "路燈壞了", "解放路的井盖没了" * 400]
    for one, batch in zip([c.classify(t) for t in texts], c.classify_many(texts)):
        assert one.as_dict() == batch.as_dict()


def test_odd_input_with_a_model(models, keywords, rules):
    c = combined(keywords, rules, models["code"])
    for text in ("", "   ", "😀😀", None, b"\xff\xfe", "lu deng huai le"):
        cls = c.classify(text)
        assert cls.reason and (cls.code is None or 0 <= cls.confidence <= 1)


def test_two_labels_naming_one_code_add_up(tmp_path, keywords, rules):
    labels = [BY_CODE[label] for label, texts in EXAMPLES.items() for _ in texts]
    labels = ["01037" if lb == "路灯异常" and i % 2 else lb for i, lb in enumerate(labels)]   # code and name
    path = tmp_path / "mixed.npz"
    TextModel.train(TEXTS, labels, progress=False).save(path)
    c = combined(keywords, rules, path)
    assert c.targets.count("01037") == 1 and len(c.model.labels) == 5
    text = "一整排都不亮，晚上很黑"                         # no keyword: the model alone decides
    assert keywords.classify(text).code is None
    both = sum(v for label, v in c.model.predict([text], k=5)[0] if label in ("01037", "路灯异常"))
    cls = c.classify(text)
    assert cls.code == "01037" and abs(cls.confidence - both) < 1e-6


def test_foreign_labels_are_refused_at_load(tmp_path, keywords, rules):
    path = train(tmp_path, {"井盖": "A", "垃圾": "B", "噪音": "C", "路灯": "D"}, "foreign.npz")
    with pytest.raises(ModelError, match="foreign.npz"):
        combined(keywords, rules, path)


def test_a_damaged_or_missing_model_fails_at_load_naming_the_file(ctx, tmp_path):
    (tmp_path / "broken.npz").write_bytes(b"\x00\x01 not a model")
    broken = context_with(ctx, write_rules(tmp_path, model="broken.npz"), tmp_path)
    with pytest.raises(ModelError, match="broken.npz"):
        broken.preload()
    with pytest.raises(RulesError, match="gone.npz"):
        load_rules(write_rules(tmp_path, model="gone.npz"))


@pytest.mark.parametrize("kind, text, code, department", [
    ("code", "东四北大街18号门口，车一过就哐哐响", "01023", None),
    ("department", "东四北大街18号旁边工地打桩声音", "08001", "东城区生态环境局"),
])
def test_the_gateway_opens_cases_with_rules_and_model(ctx, client, auth, run_worker, new_id, models, tmp_path,
                                                      kind, text, code, department):
    model = tmp_path / "m.npz"
    model.write_bytes(models[kind].read_bytes())
    mctx = context_with(ctx, write_rules(tmp_path, model="m.npz"), tmp_path).preload()
    context_module.set_current(mctx)           # what the worker and `gridline classify` use
    try:
        a = analyse(mctx, text)
        assert a["classification"].code == code and not a["reason"], a["reason"]
        r = client.post("/hotline/transcripts", json={"caller": "+8613800000011", "text": text,
                                                      "call_id": new_id()}, headers=auth)
        assert r.status_code == 202
        run_worker()
        msg = client.get(f"/api/messages/{r.get_json()['message_id']}", headers=auth).get_json()
        assert msg["status"] == "done", msg
        case = client.get(f"/api/cases/{msg['case_number']}", headers=auth).get_json()
        assert case["category_code"] == code
        if department:
            assert case["department"] == department
        out = CliRunner().invoke(context_module_cli(), ["classify", text, "--json"])
        shown = json.loads(out.output)
        assert shown["category"]["code"] == code and shown["dispatch"] and shown["words"]
        assert 0 <= shown["confidence"] <= 1 and shown["alternatives"]
        if department:
            assert shown["department"] == department and "历史工单模型" in shown["route_reason"]
        text_out = CliRunner().invoke(context_module_cli(), ["classify", text]).output
        assert "候选" in text_out and code in text_out
    finally:
        context_module.set_current(ctx)
        mctx.db.dispose()


def context_module_cli():
    from cli import cli
    return cli
