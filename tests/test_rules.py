"""routing_rules.yaml: the shipped catalogue loads complete, and every mistake names its line."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from routing.rules import (
    Category, Department, RulesError, TimeLimit, load_rules, parse_time_limit,
)

SHIPPED = Path(__file__).resolve().parents[1] / "routing_rules.yaml"
COMMAND_CENTRE = "东城区城市管理指挥中心"


@pytest.fixture(scope="module")
def rules():
    return load_rules(SHIPPED)


# ---------------------------------------------------------------- the shipped file


def test_shipped_file_has_all_250_matters_of_gbt47678_5(rules):
    codes = [c.code for c in rules.categories]
    assert len(codes) == 250
    assert len(set(codes)) == 250
    # gaps of the transcribed catalogue stay gaps
    for missing in ("01016", "05001", "05004", "06031", "07005", "09007"):
        assert missing not in codes


@pytest.mark.parametrize("code, name, kind, big_class", [
    # checked by hand against reference/gbt47678_5_2026_matters.csv
    ("01001", "供水井盖异常", "部件", "市政公用设施类"),
    ("01023", "不明井盖异常", "部件", "市政公用设施类"),
    ("01037", "路灯异常", "部件", "市政公用设施类"),
    ("01066", "紧急报警点异常SOS", "部件", "市政公用设施类"),
    ("02014", "交通信号灯异常", "部件", "交通设施类"),
    ("03005", "垃圾箱异常", "部件", "市容环卫设施类"),
    ("04002", "行道树异常", "部件", "园林绿化设施类"),
    ("05009", "文物古迹异常", "部件", "其他管理部件类"),
    ("06010", "暴露垃圾", "事件", "市容环境类"),
    ("06013", "道路破损", "事件", "市容环境类"),
    ("06036", "乱堆杂物", "事件", "市容环境类"),
    ("07001", "非法小广告", "事件", "宣传广告类"),
    ("08004", "工地扬尘", "事件", "施工管理类"),
    ("09006", "占道经营", "事件", "街面秩序类"),
    ("09009", "机动车乱停放", "事件", "街面秩序类"),
    ("10001", "道路积雪、结冰", "事件", "其他事项类"),
    ("10002", "架空线缆脱落", "事件", "其他事项类"),
])
def test_shipped_codes_match_the_standard(rules, code, name, kind, big_class):
    c = rules.category(code)
    assert (c.name, c.kind, c.big_class) == (name, kind, big_class)
    assert c.keywords and c.department in rules.departments


def test_shipped_time_limits_follow_the_sources(rules):
    assert str(rules.category("06010").time_limit) == "4工作时"      # 暴露垃圾
    assert str(rules.category("06012").time_limit) == "2工作时"      # 道路不洁
    manhole = rules.category("01023")
    assert str(manhole.time_limit) == "6小时" and manhole.urgent     # 广州井盖办法
    assert not manhole.time_limit.working
    assert rules.urgent_time_limit == TimeLimit(2, "小时")


def test_generic_manhole_word_goes_to_unknown_manhole(rules):
    owners = [c.code for c in rules.categories if "井盖" in c.keywords]
    assert owners == ["01023"]
    assert rules.category("01001").keywords["供水井盖"] > rules.category("01023").keywords["井盖"]


def test_every_escalation_chain_ends_at_the_command_centre(rules):
    assert isinstance(rules.departments[COMMAND_CENTRE], Department)
    for dep in rules.departments.values():
        seen, name = set(), dep.name
        while rules.departments[name].escalate_to:
            assert name not in seen
            seen.add(name)
            name = rules.departments[name].escalate_to[-1]
        assert name == COMMAND_CENTRE, dep.name


def test_all_keywords_feeds_jieba(rules):
    words = rules.all_keywords()
    assert {"供水井盖", "上水井盖异常", "燃气味", "占道经营"} <= words
    assert all(isinstance(w, str) and w for w in words)


def test_category_lookup(rules):
    assert isinstance(rules.category("09009"), Category)
    with pytest.raises(KeyError):
        rules.category("99999")


def test_cli_check(capsys):
    from routing.rules import main
    assert main([str(SHIPPED)]) == 0
    assert "250" in capsys.readouterr().out


# ---------------------------------------------------------------- time limits


@pytest.mark.parametrize("text, amount, unit, working", [
    ("4工作时", 4, "工作时", True), ("2工作日", 2, "工作日", True), ("6小时", 6, "小时", False),
    ("1天", 1, "天", False), ("4wh", 4, "工作时", True), ("2wd", 2, "工作日", True),
    ("6h", 6, "小时", False), ("1d", 1, "天", False), ("0.5工作日", 0.5, "工作日", True),
])
def test_parse_time_limit(text, amount, unit, working):
    t = parse_time_limit(text)
    assert (t.amount, t.unit, t.working) == (amount, unit, working)


def test_time_limit_str():
    assert str(parse_time_limit("4wh")) == "4工作时"
    assert str(TimeLimit(0.5, "工作日")) == "0.5工作日"


@pytest.mark.parametrize("text", ["4", "四工作时", "4周", "", "工作时", "-1小时", "0小时", "4 hours"])
def test_parse_time_limit_rejects(text):
    with pytest.raises(RulesError):
        parse_time_limit(text)


# ---------------------------------------------------------------- validation, with line numbers

HEAD = """\
settings:
  confidence_threshold: 0.45
  model: null
departments:
  - name: 东城区城市管理指挥中心
    short: 指挥中心
    phone: "+861064000001"
    escalate_to: []
  - name: 东城区城管执法局
    short: 城管执法
    phone: "+861064000003"
    escalate_to: [东城区城市管理指挥中心]
urgency:
  words: {燃气味: 1.0}
categories:
"""  # 15 lines; the first category starts on line 16


def category(code="09006", name="占道经营", dept="东城区城管执法局", limit="2工作时",
             keywords="{占道经营: 4}", extra=""):
    return textwrap.dedent(f"""\
      - code: "{code}"
        name: {name}
        kind: 事件
        big_class: 街面秩序类
        keywords: {keywords}
        department: {dept}
        time_limit: {limit}
    """) + extra
    # lines relative to the category: code +0, name +1, kind +2, big_class +3,
    # keywords +4, department +5, time_limit +6


def write(tmp_path, text, name="routing_rules.yaml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def errors(tmp_path, text):
    with pytest.raises(RulesError) as exc:
        load_rules(write(tmp_path, text))
    return str(exc.value).splitlines()


def indent(block: str) -> str:
    return textwrap.indent(block, "  ")


def test_minimal_file_loads(tmp_path):
    r = load_rules(write(tmp_path, HEAD + indent(category())))
    c = r.category("09006")
    assert c.line == 16 and c.keywords == {"占道经营": 4.0} and c.urgent is False
    assert r.departments["东城区城管执法局"].escalate_to == (COMMAND_CENTRE,)
    assert r.settings["working_hours"] == ["08:00-12:00", "14:00-18:00"]  # default


def test_unknown_department_in_category(tmp_path):
    msgs = errors(tmp_path, HEAD + indent(category(dept="东城区XX局")))
    assert msgs == [f"{tmp_path / 'routing_rules.yaml'}:21: 未知部门 '东城区XX局' (category 09006)"]


def test_unknown_department_in_escalation(tmp_path):
    text = HEAD.replace("escalate_to: [东城区城市管理指挥中心]", "escalate_to: [东城区指挥中心]")
    msgs = errors(tmp_path, text + indent(category()))
    assert len(msgs) == 1 and msgs[0].endswith(":12: 未知部门 '东城区指挥中心'（部门 '东城区城管执法局' 的 escalate_to）")


def test_escalation_loop(tmp_path):
    text = HEAD.replace("escalate_to: []", "escalate_to: [东城区城管执法局]")
    msgs = errors(tmp_path, text + indent(category()))
    assert any("升级链形成循环" in m for m in msgs)


def test_duplicate_code(tmp_path):
    text = HEAD + indent(category()) + indent(category(name="店外经营", keywords="{店外经营: 4}"))
    msgs = errors(tmp_path, text)
    assert len(msgs) == 1 and ":23: 重复的类别编码 '09006'（第 16 行已有）" in msgs[0]


@pytest.mark.parametrize("code", ["9006", "090060", "0900A"])
def test_code_not_five_digits(tmp_path, code):
    msgs = errors(tmp_path, HEAD + indent(category(code=code)))
    assert len(msgs) == 1 and ":16: 类别编码应为 5 位数字" in msgs[0]


def test_unquoted_code_keeps_leading_zero(tmp_path):
    # YAML 1.1 would read 01001 as octal 513; the loader takes the code as written
    text = HEAD + indent(category()).replace('code: "09006"', "code: 09006")
    assert load_rules(write(tmp_path, text)).category("09006")


def test_bad_time_limit(tmp_path):
    msgs = errors(tmp_path, HEAD + indent(category(limit="4周")))
    assert len(msgs) == 1 and ":22: time_limit (category 09006): 时限格式错误 '4周'" in msgs[0]


def test_urgent_category_needs_wall_clock_limit(tmp_path):
    msgs = errors(tmp_path, HEAD + indent(category(extra="  urgent: true\n")))
    assert len(msgs) == 1 and ":22: urgent: true" in msgs[0]


def test_keyword_in_two_categories_needs_explicit_weights(tmp_path):
    text = (HEAD + indent(category(keywords="{占道经营: 4, 摆摊: 2}"))
            + indent(category(code="09001", name="无照经营游商", keywords="[游商, 摆摊]")))
    msgs = errors(tmp_path, text)
    assert len(msgs) == 1
    assert ":27: 关键词 '摆摊' 同时属于 09006、09001，须在每处写明权重" in msgs[0]
    assert msgs[0].endswith("(category 09001)")


def test_keyword_in_two_categories_with_weights_is_fine(tmp_path):
    text = (HEAD + indent(category(keywords="{占道经营: 4, 摆摊: 2}"))
            + indent(category(code="09001", name="无照经营游商", keywords="{游商: 4, 摆摊: 1}")))
    r = load_rules(write(tmp_path, text))
    assert r.category("09001").keywords["摆摊"] == 1.0


def test_keyword_list_means_weight_one(tmp_path):
    r = load_rules(write(tmp_path, HEAD + indent(category(keywords="[占道经营, 摆摊]"))))
    assert r.category("09006").keywords == {"占道经营": 1.0, "摆摊": 1.0}


@pytest.mark.parametrize("kw", ["{}", "[]", ""])
def test_empty_keywords(tmp_path, kw):
    msgs = errors(tmp_path, HEAD + indent(category(keywords=kw)))
    assert len(msgs) == 1 and ":20: keywords 不能为空 (category 09006)" in msgs[0]


def test_bad_keyword_weight(tmp_path):
    msgs = errors(tmp_path, HEAD + indent(category(keywords="{占道经营: 高}")))
    assert len(msgs) == 1 and ":20:" in msgs[0] and "权重" in msgs[0]


def test_duplicate_keyword_key(tmp_path):
    msgs = errors(tmp_path, HEAD + indent(category(keywords="{占道经营: 4,\n                 占道经营: 2}")))
    assert len(msgs) == 1 and ":21: " in msgs[0] and "重复的键 '占道经营'" in msgs[0]


def test_missing_required_field(tmp_path):
    block = indent(category()).replace("    department: 东城区城管执法局\n", "")
    msgs = errors(tmp_path, HEAD + block)
    assert msgs == [f"{tmp_path / 'routing_rules.yaml'}:16: 类别: 缺少必填字段 'department'"]


def test_unknown_category_field(tmp_path):
    msgs = errors(tmp_path, HEAD + indent(category(extra="  keyword: {摆摊: 1}\n")))
    assert len(msgs) == 1 and ":23: 类别: 未知字段 'keyword'" in msgs[0]


def test_kind_must_match_big_class(tmp_path):
    msgs = errors(tmp_path, HEAD + indent(category()).replace("kind: 事件", "kind: 部件"))
    assert len(msgs) == 1 and ":18: 编码 09006 属于事件大类" in msgs[0]


def test_unknown_settings_key(tmp_path):
    text = HEAD.replace("  model: null\n", "  model: null\n  threshold: 0.5\n")
    msgs = errors(tmp_path, text + indent(category()))
    assert len(msgs) == 1 and ":4: settings: 未知字段 'threshold'" in msgs[0]


def test_model_path_must_exist(tmp_path):
    text = HEAD.replace("model: null", "model: models/gridline.joblib")
    msgs = errors(tmp_path, text + indent(category()))
    assert len(msgs) == 1 and ":3: settings.model: 模型文件不存在 'models/gridline.joblib'" in msgs[0]


def test_model_path_is_relative_to_the_rules_file(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "gridline.joblib").write_bytes(b"x")
    text = HEAD.replace("model: null", "model: models/gridline.joblib")
    r = load_rules(write(tmp_path, text + indent(category())))
    assert r.settings["model"] == str(tmp_path / "models" / "gridline.joblib")


def test_bad_settings_values(tmp_path):
    text = HEAD.replace("  model: null\n", "  model: null\n  working_hours: [\"8点-12点\"]\n  urgent_time_limit: 快\n")
    text = text.replace("confidence_threshold: 0.45", "confidence_threshold: 1.5")
    msgs = errors(tmp_path, text + indent(category()))
    assert [m.split(": ", 1)[0].rsplit(":", 1)[1] for m in msgs] == ["2", "4", "5"]


def test_all_errors_reported_at_once_in_line_order(tmp_path):
    text = (HEAD + indent(category(dept="东城区XX局", limit="三天"))
            + indent(category(code="123", name="店外经营", keywords="{}")))
    msgs = errors(tmp_path, text)
    lines = [int(m.split(": ", 1)[0].rsplit(":", 1)[1]) for m in msgs]
    assert lines == [21, 22, 23, 27]
    assert all(m.startswith(str(tmp_path / "routing_rules.yaml") + ":") for m in msgs)


def test_yaml_syntax_error_names_the_line(tmp_path):
    text = HEAD + indent(category()) + "    aliases: [unclosed\n"
    msgs = errors(tmp_path, text)
    assert len(msgs) == 1 and "YAML 语法错误" in msgs[0]
    assert msgs[0].startswith(str(tmp_path / "routing_rules.yaml") + ":")


def test_rules_error_is_a_value_error_with_the_list(tmp_path):
    with pytest.raises(ValueError) as exc:
        load_rules(write(tmp_path, HEAD + indent(category(dept="X")) + indent(category(code="1"))))
    assert len(exc.value.errors) == 2


def test_a_name_that_is_also_a_keyword_counts_once_with_its_written_weight(rules):
    """Staff read a word's weight in routing_rules.yaml; the classifier must not add the name's 3 to it."""
    from classifiers.keywords import KeywordClassifier
    kw = KeywordClassifier(rules)
    garbage = rules.category("06010")
    assert garbage.name in garbage.keywords
    got = kw.classify(f"门口有{garbage.name}")
    assert got.code == "06010" and got.words == [garbage.name]
    assert got.scores["06010"] == garbage.keywords[garbage.name]
    # An old name that is no keyword of its own still weighs 3 (the rule the file's header states).
    sewer = rules.category("01002")
    alias = next(a for a in sewer.aliases if a not in sewer.keywords)
    assert kw.lookup[alias][0] == (("01002", 3.0),)


@pytest.mark.parametrize("pair", ["摊+", "+摆摊", "摊+摊", "推+车+卖+菜"])
def test_a_paired_keyword_needs_two_or_three_different_words(tmp_path, pair):
    msgs = errors(tmp_path, HEAD + indent(category(keywords=f"{{占道经营: 4, {pair}: 3}}")))
    assert msgs == [f"{tmp_path / 'routing_rules.yaml'}:20: 组合关键词 '{pair}' 应写成 词+词"
                    f"（两三个不同的词，中间用 + 连接）(category 09006)"]


def test_a_paired_keyword_counts_when_its_words_are_apart_and_feeds_jieba_its_words(tmp_path):
    from classifiers.keywords import KeywordClassifier
    r = load_rules(write(tmp_path, HEAD + indent(category(keywords="{占道经营: 4, 桌子+人行道: 3}"))))
    assert {"桌子", "人行道"} <= r.all_keywords() and "桌子+人行道" not in r.all_keywords()
    kw = KeywordClassifier(r)
    apart = kw.classify("饭店把桌子都摆到人行道上了")
    assert (apart.code, apart.words, apart.scores) == ("09006", ["桌子+人行道"], {"09006": 3.0})
    assert kw.classify("桌子人行道").code == "09006"                 # together counts too, once
    assert kw.classify("桌子坏了").code is None                       # one word of the pair is not enough


def test_the_shipped_pairs_catch_what_residents_say(rules):
    from classifiers.keywords import KeywordClassifier
    kw = KeywordClassifier(rules)
    got = kw.classify("邻居在院子里养了十几只鸡，味道很大")
    assert got.code == "06038" and "养+鸡" in got.words and got.confidence >= rules.settings["confidence_threshold"]


@pytest.mark.parametrize("text, code, word", [
    ("北新桥公交站旁边有人扔了一大袋剩饭剩菜", "06010", "剩饭剩菜"),   # the bus stop is the landmark
    ("公交站旁边的垃圾桶被撞瘪了", "03005", "垃圾桶"),                 # 旁边的: still a landmark
    ("天桥上有人摆地摊卖东西", "09001", "摆地摊"),                   # on the bridge: an 事件 there
    ("饭店往雨水井里倒泔水", "06030", "倒泔水"),
    ("地下通道里积水了，走不过去", "02007", "地下通道"),            # in it, and its own fault
    ("路边一个写着电力俩字的井盖碎了一半", "01005", "电力+井盖"),     # the owner names the cover
    ("路边新立了一个大广告牌，没有审批", "07003", "广告牌+审批"),     # 审批 inside the word 没有审批
    ("路边的树池子里的砖都被撬了", "04011", "树池"),                 # 路边的树 does not swallow 树池
])
def test_a_part_named_as_the_place_yields_to_what_happened_there(rules, text, code, word):
    from classifiers.keywords import KeywordClassifier
    got = KeywordClassifier(rules).classify(text)
    assert (got.code, word in got.words) == (code, True), (got.code, got.words, got.scores)


def test_a_part_keeps_its_weight_where_the_message_is_about_it(rules):
    from classifiers.keywords import KeywordClassifier
    kw = KeywordClassifier(rules)
    assert kw.classify("过街天桥上的台阶松了").scores["02006"] == 4.0       # 上的: the bridge's own step
    assert kw.classify("公交站旁边的站牌坏了").code == "02004"               # nothing else named: no landmark


def test_short_phrases_with_de_are_left_to_jieba(rules):
    words = rules.all_keywords()
    assert "路边的树" not in words and "没人管的垃圾" not in words and "擅自在临街的建筑物上挂彩旗" in words
