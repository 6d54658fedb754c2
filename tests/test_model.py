"""The trained text model on small hand-written messages: train → save → load → predict."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from classifiers.metrics import coverage_at, evaluate, format_report
from classifiers.model import ModelError, TextModel
from classifiers.training import evaluate_csv, train_csv

EXAMPLES = {
    "井盖": [
        "人民路上的井盖丢了，很危险", "小区门口井盖破损，有人差点摔倒", "井盖松动，车一过就响",
        "学校旁边的窨井盖不见了", "井盖塌陷，路面出现大坑", "雨水井盖被偷了，晚上看不见",
        "污水井盖翘起来了，电动车容易翻", "路口井盖缺失已经三天", "公交站旁井盖碎了一半",
        "井盖下沉，积水很深",
    ],
    "垃圾": [
        "垃圾桶满了好几天没人清运", "楼下垃圾堆成山，臭味很大", "路边有人乱倒建筑垃圾",
        "菜市场门口垃圾没人收", "小区垃圾站苍蝇很多", "河边堆满了生活垃圾",
        "垃圾车每天早上五点吵人还漏污水", "公园里垃圾到处都是", "绿化带里被扔了很多垃圾袋",
        "垃圾分类箱坏了，垃圾散落一地",
    ],
    "噪音": [
        "工地晚上十二点还在施工，噪音太大", "楼下广场舞音响声音太吵", "KTV噪音扰民到凌晨",
        "隔壁装修电钻声每天很早就响", "夜市音响噪音很大睡不着", "工地打桩噪音扰民",
        "酒吧音乐太吵了，影响休息", "商铺门口喇叭一直循环播放很吵", "半夜有人在街上飙车轰鸣声很大",
        "空调外机噪音太大",
    ],
    "路灯": [
        "小区外面的路灯不亮了", "路灯坏了一整排，晚上很黑", "这条街的路灯白天一直亮着",
        "路灯杆被撞歪了", "桥上的路灯闪烁不停", "公园路灯全部熄灭",
        "路灯电线裸露很危险", "新修的路没有装路灯", "路灯灯罩掉下来了",
        "巷子里的路灯半个月没修",
    ],
}
TEXTS = [t for texts in EXAMPLES.values() for t in texts]
LABELS = [label for label, texts in EXAMPLES.items() for _ in texts]
BAD = ["", "   ", "\n\t", "😀😀😀", "？？？！！！", "a" * 10_000, "井盖" * 5_000,
       "路燈壞了，晚上很黑", None, 12345]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.npz"
    TextModel.train(TEXTS, LABELS, progress=False).save(path)
    return TextModel.load(path)


def test_round_trip_knows_the_labels(model):
    assert sorted(model.labels) == sorted(EXAMPLES)


@pytest.mark.parametrize("text,label", [
    ("解放路的井盖没了", "井盖"), ("垃圾没人清运，很臭", "垃圾"),
    ("工地噪音太大，晚上睡不着", "噪音"), ("路灯不亮，晚上很黑", "路灯"),
])
def test_predicts_new_messages(model, text, label):
    assert model.predict([text])[0][0][0] == label


def test_top_k_is_ordered_and_probabilities_in_range(model):
    for ranked in model.predict(TEXTS[:5] + ["路灯旁边的井盖坏了"], k=3):
        assert len(ranked) == 3
        probs = [p for _, p in ranked]
        assert probs == sorted(probs, reverse=True)
        assert all(0.0 <= p <= 1.0 for p in probs)
        assert sum(probs) <= 1.0 + 1e-6
        assert len({label for label, _ in ranked}) == 3
    assert len(model.predict(["路灯坏了"], k=10)[0]) == 4      # k capped at the label count
    assert len(model.predict(["路灯坏了"], k=1)[0]) == 1


def test_explain_names_words_of_the_text(model):
    text = "小区门口的井盖破损了"
    words = model.explain(text, "井盖", n=3)
    assert words and len(words) <= 3
    assert all(w in text for w in words)
    assert any("井盖" in w or w in "井盖" for w in words)
    assert model.explain(text, "no such label") == []


@pytest.mark.parametrize("text", BAD, ids=range(len(BAD)))
def test_bad_input_does_not_raise(model, text):
    ranked = model.predict([text])[0]
    assert all(0.0 <= p <= 1.0 for _, p in ranked)
    assert isinstance(model.explain(text, ranked[0][0]), list)


def test_nothing_known_gives_low_confidence(model):
    for ranked in model.predict(["", "😀😀😀", "   "]):
        assert ranked[0][1] <= 0.5


def test_empty_batch(model):
    assert model.predict([]) == []


def test_train_rejects_one_label():
    with pytest.raises(ValueError):
        TextModel.train(["路灯坏了", "路灯不亮"], ["路灯", "路灯"], progress=False)


def test_evaluate_and_report(model):
    result = evaluate(model, TEXTS, LABELS)
    assert result["n"] == len(TEXTS)
    assert 0.9 <= result["accuracy"] <= 1.0
    assert set(result["per_label"]) == set(EXAMPLES)
    assert {"macro_f1", "top3", "coverage_at_95", "threshold_at_95", "msgs_per_s"} <= set(result)
    assert "accuracy" in format_report(result)


def test_coverage_at_95():
    share, threshold = coverage_at([0.9, 0.8, 0.7, 0.6], [True, True, True, False], 0.95)
    assert (share, threshold) == (0.75, 0.7)
    assert coverage_at([0.9], [False]) == (0.0, None)
    assert coverage_at([0.5, 0.5], [True, False]) == (0.0, None)   # a tie cannot be split


def _write_csv(path, rows, header=("text", "label")):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def test_train_and_evaluate_csv(tmp_path):
    data, model_path = tmp_path / "data.csv", tmp_path / "m" / "model.npz"
    _write_csv(data, list(zip(TEXTS, LABELS)))
    summary = train_csv(data, "text", "label", model_path)
    assert summary["rows"] == len(TEXTS) and summary["labels"] == 4
    assert evaluate_csv(data, "text", "label", model_path)["accuracy"] >= 0.9


def test_csv_errors_name_the_problem(tmp_path):
    data = tmp_path / "data.csv"
    _write_csv(data, [("路灯坏了", "路灯")], header=("content", "label"))
    with pytest.raises(ValueError, match="text"):
        train_csv(data, "text", "label", tmp_path / "m.npz")
    _write_csv(data, [], header=("text", "label"))
    with pytest.raises(ValueError, match="data.csv"):
        train_csv(data, "text", "label", tmp_path / "m.npz")
    with pytest.raises(ValueError, match="missing.csv"):
        train_csv(tmp_path / "missing.csv", "text", "label", tmp_path / "m.npz")
    with pytest.raises(ValueError, match="model"):
        evaluate_csv(data, "text", "label", tmp_path / "none.npz")


def test_one_message_and_a_batch_give_the_same_numbers(model):
    from classifiers.model import _clean
    texts = [_clean(t) for t in TEXTS + ["路燈壞了", "KTV噪音 ABC", "😀", ""]]
    X, n_words = model.matrix(texts)
    assert abs(X - model.features(texts)).max() < 1e-5          # the training features
    for r, text in enumerate(texts):
        v = model.vector(text)
        assert v.n_words == n_words[r] and len(v.cols) == X.indptr[r + 1] - X.indptr[r]
        assert np.allclose(model.calibrated(v), model.calibrated_many(*model.decision([text]))[0], atol=1e-6)


def test_model_file_is_plain_data_not_a_pickle(model, tmp_path):
    import pickle
    path = tmp_path / "m.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as z:                 # readable without unpickling
        assert {"header", "weights", "classes"} <= set(z.files)
    pickled = tmp_path / "pickled.npz"
    pickled.write_bytes(pickle.dumps({"format": "gridline-textmodel/2"}))
    with pytest.raises(ModelError, match="pickled.npz"):
        TextModel.load(pickled)


def test_probabilities_add_up_to_one_even_when_the_top_label_is_nearly_certain(model):
    # A sharp temperature leaves the other labels a sliver (1e-5 in all): summed in float32 next to
    # the top label's 1.0 it kept two digits, and the one-message and batch paths disagreed.
    from classifiers.model import TextModel, _clean
    sharp = TextModel(model.classes, model.words, model.chars, model.weights, model.intercept,
                      model.temperature / 4, model.conf_coef, model.conf_label, model.conf_bias,
                      model.priors, model.info)
    texts = [_clean(t) for t in TEXTS]
    batch = sharp.calibrated_many(*sharp.decision(texts))
    for text, row in zip(texts, batch):
        one = sharp.calibrated(sharp.vector(text))
        assert abs(one.sum() - 1.0) < 1e-6 and abs(row.sum() - 1.0) < 1e-6
        assert np.allclose(one, row, rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("text", [
    "东四北大街18号门口井盖丢了，晚上很危险", "KTV噪音 ABC 到凌晨", "路燈壞了", "A座B1层电梯坏了",
    "İstanbul路灯", "ΣΑΣ井盖", "😀井盖😀", "井盖" * 300, "   井盖  \t丢了 ", "ｌｏｌ井盖", "12345678901", "a",
])
def test_the_token_shortcut_finds_the_same_features_as_the_plain_grams(model, text):
    """Each token's grams are kept for the next message (TextModel._ids): the features must be
    those of the text's own words and character n-grams, whatever the text."""
    from classifiers.model import _char_grams, _clean
    from classifiers.tokenizer import tokenize
    text = _clean(text)
    tokens = tokenize(text)
    model.vector(text, tokens)                     # the lookups, and each token's grams kept once
    words, chars = model._ids(text, tokens)
    expected_words = [i for i in map(model._wget, map(str.lower, tokens)) if i is not None]
    expected_chars = [i for i in map(model._cget_shifted, _char_grams(text)) if i is not None]
    assert (sorted(words), sorted(chars)) == (sorted(expected_words), sorted(expected_chars))
