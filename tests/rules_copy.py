"""A copy of the shipped routing_rules.yaml with some settings changed, and a context that uses it."""
from __future__ import annotations

import re
from pathlib import Path

from config import Config
from intake.context import Context


def write_rules(folder, **settings) -> Path:
    """routing_rules.yaml in `folder` with settings replaced (model=None writes null); the calendar
    stays the shipped one, and a model path stays relative to the copy, as a city would write it."""
    shipped = Config().rules_path
    text = shipped.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^  calendar: (\S+)", lambda m: f"  calendar: {shipped.parent / m.group(1)}", text)
    for key, value in settings.items():
        text, n = re.subn(rf"(?m)^  {key}: \S+", f"  {key}: {'null' if value is None else value}", text)
        assert n == 1, f"settings.{key} not found in {shipped}"
    path = folder / "routing_rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def add_to_department(path: Path, name: str, lines: str) -> int:
    """Add setting lines (indented as the file's) under department `name` in the rules at `path`;
    returns the number of the first added line, for tests of error messages that name it."""
    text = path.read_text(encoding="utf-8")
    marker = f"  - name: {name}\n"
    assert text.count(marker) == 1, f"department {name} not found once in {path}"
    path.write_text(text.replace(marker, marker + lines), encoding="utf-8")
    return text[:text.index(marker)].count("\n") + 2


def context_with(ctx, rules_path, folder) -> Context:
    """A context on the test database and Redis of `ctx`, reading `rules_path`."""
    cfg = Config(var_dir=folder / "var", database_url=ctx.config.database_url,
                 redis_url=ctx.config.redis_url, api_token=ctx.config.api_token, rules_path=rules_path)
    cfg.twilio_account_sid = cfg.twilio_auth_token = cfg.twilio_from = None   # console SMS
    return Context(cfg)
