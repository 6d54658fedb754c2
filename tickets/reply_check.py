"""The department's result note, checked before it can become the citizen's result SMS.

The note a department writes when it reports a case done (办结) is what the citizen reads: the
result SMS says 已办结：<note>. The complaint 12345 centres hear most about replies is that they
say nothing (“已处理”) or answer something else than what was asked (答非所问), and sometimes in
words no citizen should get. A command centre's verifier reads every note; these checks make the
obvious cases impossible and point the verifier at the doubtful ones. Rules, not a model: a
department is told exactly which word was the problem.

- Blocking (the note is refused, the case stays where it was, the department is told why): an
  empty note, one with nothing but set phrases (已处理, 已办结, 好了, ok …), an improper phrase
  (没事找事, 无理取闹 …), or an ID card number (the SMS goes to the citizen).
- Warnings (the note is accepted; the verifier sees them on the case and in its history): the
  note names nothing of the problem — neither the category, nor a word that decided it, nor a
  remedy of the category's big class (清运 answers 暴露垃圾 without naming it; 已清运 on a 井盖缺失
  is flagged) — or it holds a mobile number (perhaps the department's own, for the citizen to call).

The word lists are data/lifecycle.yaml `reply_check` (tickets.policy), so a city can add its own.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from tickets import lifecycle, pii

DEFAULT_GENERIC = (
    "已经", "已", "处理完毕", "处理完成", "处理好了", "处理", "办结", "完结", "解决", "落实", "完成", "完毕",
    "结束", "好了", "好的", "可以", "收到", "同意", "ok", "done", "谢谢", "情况属实", "属实", "现场",
)
DEFAULT_IMPROPER = (
    "没事找事", "无理取闹", "瞎反映", "乱反映", "别再打", "不要再打", "爱找谁找谁", "自己解决", "自行解决",
    "关你什么事", "神经病", "刁民", "活该", "滚蛋", "少管闲事", "吃饱了撑",
)
DEFAULT_REMEDIES = {      # GB/T 47678.5 big class → what a department does about such a problem
    "市政公用设施类": ("补装", "更换", "修复", "维修", "修好", "修理", "抢修", "加固", "疏通", "恢复", "复位", "加盖", "安装", "通电"),
    "交通设施类": ("修复", "更换", "维修", "修好", "扶正", "安装", "恢复", "复位", "加固", "补装", "拖移", "挪走", "移走", "清理"),
    "市容环卫设施类": ("清洗", "清掏", "维修", "修复", "修好", "更换", "补充", "补装", "保洁", "清运", "消毒"),
    "园林绿化设施类": ("修剪", "补种", "扶正", "清理", "移除", "浇水", "修复", "更换", "加固"),
    "其他管理部件类": ("修复", "更换", "维修", "修好", "补装", "安装"),
    "市容环境类": ("清运", "清扫", "清理", "清除", "冲洗", "保洁", "消杀", "清洗", "打扫", "铲除", "覆盖"),
    "宣传广告类": ("拆除", "清除", "覆盖", "撤除", "取下", "清理", "铲除"),
    "施工管理类": ("停工", "整改", "覆盖", "围挡", "清理", "洒水", "降尘", "限期", "处罚", "罚款"),
    "街面秩序类": ("劝离", "取缔", "暂扣", "教育", "整改", "清理", "驱离", "拖移", "规范", "处罚", "罚款"),
}
_NOT_TEXT = re.compile(r"[\W_]+")
_HAN = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class ReplyRules:
    generic: tuple = DEFAULT_GENERIC       # set phrases that say nothing by themselves
    improper: tuple = DEFAULT_IMPROPER     # never sent to a citizen
    min_substance: int = 2                 # characters left once the set phrases are taken out
    remedies: dict = field(default_factory=lambda: dict(DEFAULT_REMEDIES))    # big class → words


@dataclass(frozen=True)
class Finding:
    kind: str          # empty, generic, improper, id_card, off_topic, mobile
    message: str       # Chinese, for the department and the verifier
    blocking: bool


def check(note: str, category_name: str | None = None, decided_by=(), rules: ReplyRules | None = None,
          big_class: str | None = None) -> list[Finding]:
    """What is wrong with `note` as a result the citizen will read; blocking findings first."""
    rules = rules or ReplyRules()
    text = (note or "").strip()
    if not text:
        return [Finding("empty", "办结须写明处理结果（做了什么、现在怎样），结果会以短信告知市民", True)]
    low = text.lower()
    out: list[Finding] = []
    improper = [w for w in rules.improper if w in low]
    if improper:
        out.append(Finding("improper", f"办结说明含有不当用语“{'”“'.join(improper)}”，请修改后再提交", True))
    if pii.ID_CARD.search(text):
        out.append(Finding("id_card", "办结说明含有身份证号，结果会以短信发给市民，请删去", True))
    substance = _NOT_TEXT.sub("", low)
    for phrase in sorted(rules.generic, key=len, reverse=True):   # 处理完毕 before 处理
        substance = substance.replace(phrase, "")
    if len(substance) < rules.min_substance:
        out.append(Finding("generic", f"办结说明“{text[:20]}”只是套话，市民看不出做了什么；"
                                      "请写明处理结果，例如“已补装井盖，恢复通行”", True))
    if not out:
        terms = _terms(category_name, decided_by)
        remedies = rules.remedies.get(big_class or "", ())
        if terms and not any(g in low for g in _grams(terms)) and not any(w in low for w in remedies):
            out.append(Finding("off_topic", f"办结说明没有提到所反映的问题（{'、'.join(terms[:3])}），"
                                            "请核查是否答非所问", False))
        if pii.MOBILE.search(text):
            out.append(Finding("mobile", "办结说明含有手机号，将随结果短信发给市民，请确认可以告知", False))
    return out


def blocking(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.blocking]


def noted(case) -> list[str]:
    """The warnings recorded on the case's last 办结 (tickets.service.act keeps them on its event)."""
    last = lifecycle.last_event(case, "resolve")
    return list((last.data or {}).get("reply_check", [])) if last is not None else []


def _terms(category_name: str | None, decided_by) -> list[str]:
    """The problem in a few words: the deciding words of two or more Chinese characters, then the
    category's name (its parts split at 、 and /)."""
    words = [w for w in (decided_by or []) if isinstance(w, str) and len(_HAN.findall(w)) >= 2]
    words += [p for p in re.split(r"[、/（）()]", category_name or "") if len(_HAN.findall(p)) >= 2]
    return list(dict.fromkeys(words))


def _grams(terms: list[str]) -> set[str]:
    """Two-character pieces of the terms: 补装了新的井盖 names 井盖缺失 through 井盖."""
    return {t[i:i + 2] for t in terms for i in range(len(t) - 1) if _HAN.match(t[i]) and _HAN.match(t[i + 1])}
