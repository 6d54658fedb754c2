"""routing_rules.yaml: the catalogue a city edits — loader and validator.

The file holds settings, departments (with escalation chains), urgency words, the categories
of GB/T 47678.5 (code, keywords, department, time limit) and, optionally, areas: per-street or
per-district overrides of the department (a road in district A goes to A's 市政). The department
named 属地街道办事处 (LOCAL_OFFICE) stands for "the street office of the case's cell"; routing.router
resolves it. Staff edit it by hand, so every mistake is reported with the file and line it sits
on, and all mistakes are reported at once: the YAML is composed into nodes (which keep their
marks) and walked here instead of being loaded blindly.
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import yaml

__all__ = [
    "RulesError", "TimeLimit", "Department", "Category", "Area", "Rules", "load_rules", "parse_time_limit",
    "LOCAL_OFFICE",
]

UNITS = ("工作时", "工作日", "小时", "天")
WORKING_UNITS = frozenset({"工作时", "工作日"})
_UNIT_ALIASES = {
    "工作时": "工作时", "工作小时": "工作时", "wh": "工作时",
    "工作日": "工作日", "wd": "工作日",
    "小时": "小时", "h": "小时",
    "天": "天", "日": "天", "d": "天",
}
_TIME_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(工作小时|工作时|工作日|小时|天|日|wh|wd|h|d)\s*$", re.IGNORECASE)
_CODE_RE = re.compile(r"^\d{5}$")
_HOURS_RE = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")

KINDS = ("部件", "事件")
PAIR = "+"          # 养+鸡: both words somewhere in the message (residents' words come apart: 养了十几只鸡)
PHRASE_CHARS = 6     # a keyword with 的 this short is a phrase of jieba words, not one word (all_keywords)
SETTINGS_DEFAULTS = {
    "confidence_threshold": 0.45,
    "model": None,
    "working_hours": ["08:00-12:00", "14:00-18:00"],
    "calendar": None,
    "urgent_time_limit": "2小时",
}
TOP_KEYS = {"settings", "departments", "urgency", "categories", "areas"}
# The department that means "the street office (街道办事处) of the cell the case is in".
LOCAL_OFFICE = "属地街道办事处"
AREA_KEYS = {"street": False, "district": False, "departments": False, "categories": False}
DEPARTMENT_KEYS = {"name": True, "short": False, "phone": False, "telegram_chat": False, "webhook": False,
                   "escalate_to": False}
_CHAT_RE = re.compile(r"^-?\d{1,20}$")      # a Telegram chat id: a user's, or a group's (-100…)
WEBHOOK_MAX = 255                          # outbound_messages.to holds the URL
CATEGORY_KEYS = {
    "code": True, "name": True, "kind": True, "big_class": True, "aliases": False,
    "keywords": True, "negative": False, "department": True, "time_limit": True, "urgent": False,
}


class RulesError(ValueError):
    """One or more mistakes in the rules file; one line each: 'file:line: message'."""

    def __init__(self, message: str, errors: list[str] | None = None):
        super().__init__(message)
        self.errors = errors if errors is not None else [message]


@dataclass(frozen=True)
class TimeLimit:
    amount: float
    unit: str  # one of UNITS

    @property
    def working(self) -> bool:
        """True when counted in working time (工作时/工作日), False on the wall clock."""
        return self.unit in WORKING_UNITS

    def __str__(self) -> str:
        amount = int(self.amount) if float(self.amount).is_integer() else self.amount
        return f"{amount}{self.unit}"


@dataclass(frozen=True)
class Department:
    name: str
    short: str
    phone: str
    escalate_to: tuple[str, ...]
    # Where its notices go besides SMS to phone (tickets.recipients): a Telegram chat id, an https URL.
    telegram_chat: str = ""
    webhook: str = ""


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    kind: str
    big_class: str
    aliases: tuple[str, ...]
    keywords: dict[str, float]
    negative: tuple[str, ...]
    department: str
    time_limit: TimeLimit
    urgent: bool
    line: int


@dataclass(frozen=True)
class Area:
    """Overrides for one street (街道) or district (区): category code → department, and
    department → department. `key` is the name or the code as written in the file."""
    level: str                      # street | district
    key: str
    categories: dict[str, str]
    departments: dict[str, str]
    line: int

    def matches(self, code: str, name: str) -> bool:
        return self.key in (code, name)


@dataclass
class Rules:
    path: str
    settings: dict
    departments: dict[str, Department]
    categories: list[Category]
    urgency_words: dict[str, float]
    urgent_time_limit: TimeLimit
    areas: list[Area] = field(default_factory=list)
    _by_code: dict[str, Category] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_code = {c.code: c for c in self.categories}

    def department_or_office(self, name: str) -> Department | None:
        """The entry for a department row's name; a street office not declared under its own name
        (东华门街道办事处) takes the 属地街道办事处 entry: its phone, targets and escalation chain."""
        if name in self.departments:
            return self.departments[name]
        template = self.departments.get(LOCAL_OFFICE)
        return template if template is not None and name.endswith("办事处") else None

    def category(self, code: str) -> Category:
        """The category with this code; KeyError if the file has none."""
        return self._by_code[code]

    def department_for(self, category_code: str, street: tuple[str, str] | None = None,
                       district: tuple[str, str] | None = None) -> tuple[str, Area | None]:
        """The department for a category in a place, after the areas' overrides: the street's
        first, then the district's, then the category's own. street/district are (code, name).
        May return LOCAL_OFFICE, which routing.router resolves to the cell's street office."""
        default = self.category(category_code).department
        for level, place in (("street", street), ("district", district)):
            if place is None:
                continue
            for area in self.areas:
                if area.level == level and area.matches(*place):
                    if category_code in area.categories:
                        return area.categories[category_code], area
                    if default in area.departments:
                        return area.departments[default], area
        return default, None

    def all_keywords(self) -> set[str]:
        """Every keyword, alias, category name and urgency word that jieba's user dictionary keeps
        whole. Not the short phrases with 的 (路边的树, 没人管的垃圾): the keyword rules find them by
        joining jieba's words (路边 / 的 / 树), and whole in the dictionary they would swallow the
        start of the next word (路边的树池子 → 路边的树 / 池子, and the 树池 is lost)."""
        words: set[str] = set(self.urgency_words)
        for c in self.categories:
            words.update(part for w in c.keywords for part in w.split(PAIR))   # a pair's words, each whole
            words.update(c.aliases)
            words.add(c.name)
        return {w for w in words if not ("的" in w and len(w) <= PHRASE_CHARS)}


def pair_parts(word: str) -> tuple[str, ...] | None:
    """A paired keyword's words ('养+鸡' → ('养', '鸡')), or None for a plain keyword."""
    return tuple(word.split(PAIR)) if PAIR in word else None


def parse_time_limit(text: str) -> TimeLimit:
    """'4工作时', '2工作日', '6小时', '1天' (or '4wh', '2wd', '6h', '1d') → TimeLimit."""
    m = _TIME_RE.match(text) if isinstance(text, str) else None
    if not m:
        raise RulesError(f"时限格式错误 {text!r}（应为 N工作时、N工作日、N小时 或 N天，例如 4工作时）")
    amount = float(m.group(1))
    if amount <= 0:
        raise RulesError(f"时限必须大于 0: {text!r}")
    return TimeLimit(amount, _UNIT_ALIASES[m.group(2).lower()])


# --------------------------------------------------------------------------- loading


class _Checker:
    """Walks the composed node tree, building values and collecting 'file:line: message' errors."""

    def __init__(self, path: str, loader: yaml.SafeLoader):
        self.path = path
        self.loader = loader
        self.errors: list[tuple[int, str]] = []

    # -- reporting
    def err(self, node: yaml.Node | None, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 0
        self.errors.append((line, f"{self.path}:{line}: {message}"))

    # -- node helpers
    def value(self, node: yaml.Node):
        return self.loader.construct_object(node, deep=True)

    def mapping(self, node: yaml.Node, what: str) -> list[tuple[yaml.Node, yaml.Node]] | None:
        if not isinstance(node, yaml.MappingNode):
            self.err(node, f"{what} 应为映射（key: value）")
            return None
        seen: dict[str, int] = {}
        pairs = []
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else None
            if key is None:
                self.err(k, f"{what} 的键应为文字")
                continue
            if key in seen:
                self.err(k, f"{what} 中重复的键 '{key}'（第 {seen[key]} 行已有）")
                continue
            seen[key] = k.start_mark.line + 1
            pairs.append((k, v))
        return pairs

    def fields(self, node, what, allowed: dict[str, bool]) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        pairs = self.mapping(node, what)
        if pairs is None:
            return None
        out = {}
        for k, v in pairs:
            if k.value not in allowed:
                self.err(k, f"{what}: 未知字段 '{k.value}'（可用: {', '.join(allowed)}）")
            else:
                out[k.value] = (k, v)
        for name, required in allowed.items():
            if required and name not in out:
                self.err(node, f"{what}: 缺少必填字段 '{name}'")
        return out

    def text(self, node: yaml.Node, what: str) -> str | None:
        """A non-empty string, taken as written (so 01001 stays '01001', not octal 513)."""
        if not isinstance(node, yaml.ScalarNode) or node.tag == "tag:yaml.org,2002:null":
            self.err(node, f"{what} 应为非空文字")
            return None
        s = str(node.value).strip()
        if not s:
            self.err(node, f"{what} 应为非空文字")
            return None
        return s

    def text_list(self, node: yaml.Node, what: str) -> list[tuple[yaml.Node, str]]:
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.err(node, f"{what} 应为列表 [a, b]")
            return []
        out = []
        for item in node.value:
            s = self.text(item, f"{what} 的一项")
            if s is not None:
                out.append((item, s))
        return out

    def number(self, node: yaml.Node, what: str) -> float | None:
        v = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self.err(node, f"{what} 应为数字，而不是 {getattr(node, 'value', node)!r}")
            return None
        return float(v)

    def time_limit(self, node: yaml.Node, what: str) -> TimeLimit | None:
        if not isinstance(node, yaml.ScalarNode):
            self.err(node, f"{what} 应为文字，例如 4工作时")
            return None
        try:
            return parse_time_limit(str(node.value))
        except RulesError as e:
            self.err(node, f"{what}: {e}")
            return None


def load_rules(path: str | os.PathLike) -> Rules:
    """Load and validate a rules file; RulesError lists every mistake, one 'file:line: …' a line."""
    path = os.fspath(path)
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = mark.line + 1 if mark else 0
        msg = f"{path}:{line}: YAML 语法错误: {getattr(e, 'problem', None) or e}"
        raise RulesError(msg) from None
    ck = _Checker(path, loader)
    if root is None:
        ck.err(None, "文件为空")
        _raise(ck)
    top = ck.fields(root, "文件顶层", {k: k in ("departments", "categories") for k in TOP_KEYS})
    if top is None:
        _raise(ck)

    settings = _settings(ck, top.get("settings"), os.path.dirname(os.path.abspath(path)))
    departments, _lines = _departments(ck, top.get("departments"))
    urgency = _urgency(ck, top.get("urgency"))
    categories = _categories(ck, top.get("categories"), departments)
    areas = _areas(ck, top.get("areas"), departments, {c.code for c in categories})

    urgent_limit = settings.pop("_urgent_time_limit", None)
    if ck.errors:
        _raise(ck)
    return Rules(path=path, settings=settings, departments=departments, categories=categories,
                 urgency_words=urgency, urgent_time_limit=urgent_limit, areas=areas)


def _raise(ck: _Checker):
    msgs = [m for _, m in sorted(ck.errors, key=lambda e: e[0])]
    raise RulesError("\n".join(msgs), msgs)


def _settings(ck: _Checker, pair, base_dir: str) -> dict:
    settings = dict(SETTINGS_DEFAULTS)
    settings["working_hours"] = list(settings["working_hours"])
    empty = pair is None or (isinstance(pair[1], yaml.ScalarNode) and pair[1].tag == "tag:yaml.org,2002:null")
    fields = {} if empty else ck.fields(pair[1], "settings", dict.fromkeys(SETTINGS_DEFAULTS, False))
    fields = fields or {}
    if "confidence_threshold" in fields:
        node = fields["confidence_threshold"][1]
        v = ck.number(node, "settings.confidence_threshold")
        if v is not None and not 0 <= v <= 1:
            ck.err(node, f"settings.confidence_threshold 应在 0 与 1 之间，而不是 {v:g}")
        elif v is not None:
            settings["confidence_threshold"] = v
    for key in ("model", "calendar"):
        if key not in fields:
            continue
        node = fields[key][1]
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            settings[key] = None
            continue
        rel = ck.text(node, f"settings.{key}")
        if rel is None:
            continue
        full = os.path.normpath(os.path.join(base_dir, rel))  # relative to the rules file
        settings[key] = full
        if key == "model" and not os.path.exists(full):
            ck.err(node, f"settings.model: 模型文件不存在 '{rel}'（{full}）；未训练时请写 null")
    if "working_hours" in fields:
        node = fields["working_hours"][1]
        spans = ck.text_list(node, "settings.working_hours")
        good = []
        for item, s in spans:
            m = _HOURS_RE.match(s.replace(" ", ""))
            if not m or (int(m.group(1)), int(m.group(2))) >= (int(m.group(3)), int(m.group(4))):
                ck.err(item, f"settings.working_hours: 时段格式错误 '{s}'（应为 08:00-12:00）")
            else:
                good.append(s.replace(" ", ""))
        if isinstance(node, yaml.SequenceNode) and not node.value:
            ck.err(node, "settings.working_hours 不能为空")
        settings["working_hours"] = good
    limit_node = fields.get("urgent_time_limit", (None, None))[1]
    if limit_node is not None:
        settings["urgent_time_limit"] = str(limit_node.value) if isinstance(limit_node, yaml.ScalarNode) else None
        settings["_urgent_time_limit"] = ck.time_limit(limit_node, "settings.urgent_time_limit")
    else:
        settings["_urgent_time_limit"] = parse_time_limit(settings["urgent_time_limit"])
    return settings


def _departments(ck: _Checker, pair) -> tuple[dict[str, Department], dict[str, int]]:
    out: dict[str, Department] = {}
    lines: dict[str, int] = {}
    if pair is None:
        return out, lines
    node = pair[1]
    if not isinstance(node, yaml.SequenceNode):
        ck.err(node, "departments 应为列表（每项 - name: …）")
        return out, lines
    if not node.value:
        ck.err(node, "departments 不能为空")
    pending: list[tuple[str, yaml.Node, str]] = []  # (department, node of target, target)
    for item in node.value:
        f = ck.fields(item, "部门", DEPARTMENT_KEYS)
        if f is None or "name" not in f:
            continue
        name = ck.text(f["name"][1], "部门 name")
        if name is None:
            continue
        if name in out:
            ck.err(f["name"][1], f"重复的部门 '{name}'（第 {lines[name]} 行已有）")
            continue
        short = ck.text(f["short"][1], f"部门 '{name}' 的 short") if "short" in f else name
        phone = ck.text(f["phone"][1], f"部门 '{name}' 的 phone") if "phone" in f else ""
        chat = _telegram_chat(ck, f["telegram_chat"][1], name) if "telegram_chat" in f else ""
        webhook = _webhook_url(ck, f["webhook"][1], name) if "webhook" in f else ""
        targets = ck.text_list(f["escalate_to"][1], f"部门 '{name}' 的 escalate_to") if "escalate_to" in f else []
        for tnode, t in targets:
            pending.append((name, tnode, t))
        out[name] = Department(name=name, short=short or name, phone=phone or "",
                               escalate_to=tuple(t for _, t in targets), telegram_chat=chat or "",
                               webhook=webhook or "")
        lines[name] = f["name"][1].start_mark.line + 1
    for name, tnode, target in pending:
        if target not in out:
            ck.err(tnode, f"未知部门 '{target}'（部门 '{name}' 的 escalate_to）")
        elif target == name:
            ck.err(tnode, f"部门 '{name}' 不能升级到自己")
    _check_cycles(ck, out, lines)
    return out, lines


def _telegram_chat(ck: _Checker, node: yaml.Node, name: str) -> str:
    chat = ck.text(node, f"部门 '{name}' 的 telegram_chat")
    if chat is not None and not _CHAT_RE.match(chat):
        ck.err(node, f"部门 '{name}' 的 telegram_chat 应为 Telegram 会话号（数字，群组以 -100 开头），而不是 '{chat}'")
        return ""
    return chat or ""


def _webhook_url(ck: _Checker, node: yaml.Node, name: str) -> str:
    """An https URL; plain http only to this machine (a local relay, or a receiver in tests)."""
    url = ck.text(node, f"部门 '{name}' 的 webhook")
    if url is None:
        return ""
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname or "", parts.port
    except ValueError:
        parts, host = None, ""
    what = f"部门 '{name}' 的 webhook"
    if parts is None or not host or parts.scheme not in ("https", "http") or any(c.isspace() for c in url):
        ck.err(node, f"{what} 应为 https:// 开头的完整网址，而不是 '{url}'")
    elif parts.scheme == "http" and not _loopback(host):
        ck.err(node, f"{what} 须用 https（明文 http 只允许本机地址）：'{url}'")
    elif len(url) > WEBHOOK_MAX:
        ck.err(node, f"{what} 超过 {WEBHOOK_MAX} 个字符")
    else:
        return url
    return ""


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_cycles(ck: _Checker, deps: dict[str, Department], lines: dict[str, int]) -> None:
    """An escalation chain must end (at the command centre), never loop."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for nxt in deps[name].escalate_to:
            if nxt not in deps or nxt == name:
                continue
            if state.get(nxt) == 1:
                loop = path[path.index(nxt):] + [nxt] if nxt in path else [name, nxt]
                line = lines[nxt]
                ck.errors.append((line, f"{ck.path}:{line}: 升级链形成循环: {' → '.join(loop)}"))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[name] = 2

    for name in deps:
        if name not in state:
            visit(name, [name])


def _urgency(ck: _Checker, pair) -> dict[str, float]:
    if pair is None:
        return {}
    f = ck.fields(pair[1], "urgency", {"words": False})
    if not f or "words" not in f:
        return {}
    return _weighted_words(ck, f["words"][1], "urgency.words", check_unit=True)[0]


def _weighted_words(ck: _Checker, node, what: str, check_unit: bool = False):
    """A mapping {word: weight} (explicit) or a list [word, …] (weight 1, not explicit).

    Returns (words, {word: (node, explicit)}).
    """
    words: dict[str, float] = {}
    info: dict[str, tuple[yaml.Node, bool]] = {}
    if isinstance(node, yaml.SequenceNode):
        for item, w in ck.text_list(node, what):
            if w in words:
                ck.err(item, f"{what} 中重复的词 '{w}'")
                continue
            words[w] = 1.0
            info[w] = (item, False)
    elif isinstance(node, yaml.MappingNode):
        for k, v in ck.mapping(node, what) or []:
            w = ck.text(k, f"{what} 的词")
            weight = ck.number(v, f"{what} 中 '{k.value}' 的权重")
            if w is None or weight is None:
                continue
            if weight <= 0 or (check_unit and weight > 1):
                rng = "0 < 权重 ≤ 1" if check_unit else "权重 > 0"
                ck.err(v, f"{what} 中 '{w}' 的权重 {weight:g} 不合法（{rng}）")
                continue
            words[w] = weight
            info[w] = (k, True)
    elif not (isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"):
        ck.err(node, f"{what} 应为映射 {{词: 权重}} 或列表 [词, …]")
    return words, info


def _categories(ck: _Checker, pair, departments: dict[str, Department]) -> list[Category]:
    if pair is None:
        return []
    node = pair[1]
    if not isinstance(node, yaml.SequenceNode):
        ck.err(node, "categories 应为列表（每项 - code: …）")
        return []
    if not node.value:
        ck.err(node, "categories 不能为空")
    out: list[Category] = []
    codes: dict[str, int] = {}
    claims: dict[str, list[tuple[str, yaml.Node, bool]]] = {}  # keyword → [(code, node, explicit)]
    for item in node.value:
        f = ck.fields(item, "类别", CATEGORY_KEYS)
        if f is None:
            continue
        line = item.start_mark.line + 1
        code = ck.text(f["code"][1], "类别 code") if "code" in f else None
        label = f"(category {code})" if code else f"(第 {line} 行的类别)"
        if code is not None:
            if not _CODE_RE.match(code):
                ck.err(f["code"][1], f"类别编码应为 5 位数字（大类 2 位 + 小类 3 位），而不是 '{code}' {label}")
                code = None
            elif code in codes:
                ck.err(f["code"][1], f"重复的类别编码 '{code}'（第 {codes[code]} 行已有）")
                code = None
            else:
                codes[code] = line
        name = ck.text(f["name"][1], f"name {label}") if "name" in f else None
        kind = ck.text(f["kind"][1], f"kind {label}") if "kind" in f else None
        if kind is not None and kind not in KINDS:
            ck.err(f["kind"][1], f"kind 应为 部件 或 事件，而不是 '{kind}' {label}")
            kind = None
        elif kind is not None and code is not None and 1 <= int(code[:2]) <= 10:
            expected = "部件" if int(code[:2]) <= 5 else "事件"
            if kind != expected:
                ck.err(f["kind"][1], f"编码 {code} 属于{expected}大类（01–05 部件，06–10 事件），kind 却是 '{kind}'")
        big_class = ck.text(f["big_class"][1], f"big_class {label}") if "big_class" in f else None
        aliases = [s for _, s in ck.text_list(f["aliases"][1], f"aliases {label}")] if "aliases" in f else []
        negative = [s for _, s in ck.text_list(f["negative"][1], f"negative {label}")] if "negative" in f else []
        keywords: dict[str, float] = {}
        if "keywords" in f:
            knode = f["keywords"][1]
            before = len(ck.errors)
            keywords, info = _weighted_words(ck, knode, f"keywords {label}")
            if not keywords and len(ck.errors) == before:
                ck.err(knode, f"keywords 不能为空 {label}")
            for w, (wnode, explicit) in info.items():
                claims.setdefault(w, []).append((code or label, wnode, explicit))
                parts = pair_parts(w)
                if parts is not None and not (2 <= len(parts) <= 3 and len(set(filter(None, parts))) == len(parts)):
                    ck.err(wnode, f"组合关键词 '{w}' 应写成 词{PAIR}词（两三个不同的词，中间用 {PAIR} 连接）{label}")
                    keywords.pop(w, None)
            for w in negative:
                if w in keywords:
                    ck.err(knode, f"'{w}' 同时出现在 keywords 与 negative 中 {label}")
        department = ck.text(f["department"][1], f"department {label}") if "department" in f else None
        if department is not None and department not in departments:
            ck.err(f["department"][1], f"未知部门 '{department}' {label}")
        limit = ck.time_limit(f["time_limit"][1], f"time_limit {label}") if "time_limit" in f else None
        urgent = False
        if "urgent" in f:
            v = ck.value(f["urgent"][1])
            if not isinstance(v, bool):
                ck.err(f["urgent"][1], f"urgent 应为 true 或 false {label}")
            else:
                urgent = v
        if urgent and limit is not None and limit.working:
            ck.err(f["time_limit"][1], f"urgent: true 的类别按自然时间计时，time_limit 应写 N小时 或 N天，而不是 '{limit}' {label}")
        if None in (code, name, kind, big_class, department, limit) or not keywords:
            continue
        out.append(Category(code=code, name=name, kind=kind, big_class=big_class, aliases=tuple(aliases),
                            keywords=keywords, negative=tuple(negative), department=department,
                            time_limit=limit, urgent=urgent, line=line))
    for word, owners in claims.items():
        if len(owners) < 2:
            continue
        codes_txt = "、".join(str(o[0]) for o in owners)
        for owner, wnode, explicit in owners:
            if not explicit:
                ck.err(wnode, f"关键词 '{word}' 同时属于 {codes_txt}，须在每处写明权重"
                              f"（keywords 写成映射 {{{word}: 1}}）(category {owner})")
    return out


def _areas(ck: _Checker, pair, departments: dict[str, Department], codes: set[str]) -> list[Area]:
    """areas: [{street: 前门街道 | district: "110101", categories: {code: dept}, departments: {dept: dept}}]"""
    if pair is None or (isinstance(pair[1], yaml.ScalarNode) and pair[1].tag == "tag:yaml.org,2002:null"):
        return []
    node = pair[1]
    if not isinstance(node, yaml.SequenceNode):
        ck.err(node, "areas 应为列表（每项 - street: … 或 - district: …）")
        return []
    out: list[Area] = []
    seen: dict[tuple[str, str], int] = {}
    for item in node.value:
        f = ck.fields(item, "属地分派", AREA_KEYS)
        if f is None:
            continue
        line = item.start_mark.line + 1
        levels = [k for k in ("street", "district") if k in f]
        if len(levels) != 1:
            ck.err(item, "属地分派: 须写 street（街道名称或 9 位代码）或 district（区名称或 6 位代码）之一")
            continue
        level = levels[0]
        key = ck.text(f[level][1], f"属地分派 {level}")
        if key is None:
            continue
        if (level, key) in seen:
            ck.err(f[level][1], f"重复的属地分派 {level}: {key}（第 {seen[(level, key)]} 行已有）")
            continue
        seen[(level, key)] = line

        def known(dnode, name, what):
            if name is not None and name not in departments:
                ck.err(dnode, f"未知部门 '{name}'（{what}）")
                return False
            return name is not None

        cats: dict[str, str] = {}
        if "categories" in f:
            for k, v in ck.mapping(f["categories"][1], f"属地分派 {key} 的 categories") or []:
                code, dep = ck.text(k, "类别编码"), ck.text(v, "部门")
                if code is not None and code not in codes:
                    ck.err(k, f"未知类别编码 '{code}'（属地分派 {key}）")
                elif code is not None and known(v, dep, f"属地分派 {key}"):
                    cats[code] = dep
        deps: dict[str, str] = {}
        if "departments" in f:
            for k, v in ck.mapping(f["departments"][1], f"属地分派 {key} 的 departments") or []:
                src, dep = ck.text(k, "部门"), ck.text(v, "部门")
                if known(k, src, f"属地分派 {key}") and known(v, dep, f"属地分派 {key}"):
                    deps[src] = dep
        if not cats and not deps and "categories" not in f and "departments" not in f:
            ck.err(item, f"属地分派 {key}: 至少写 categories 或 departments 之一")
        out.append(Area(level=level, key=key, categories=cats, departments=deps, line=line))
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m routing.rules [routing_rules.yaml]`: check the file, print a summary or every error."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    path = args[0] if args else "routing_rules.yaml"
    try:
        rules = load_rules(path)
    except RulesError as e:
        print(e, file=sys.stderr)
        return 1
    n_kw = sum(len(c.keywords) for c in rules.categories)
    print(f"{path}: OK — {len(rules.categories)} 类别, {len(rules.departments)} 部门, "
          f"{n_kw} 关键词条目, {len(rules.urgency_words)} 紧急词")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
