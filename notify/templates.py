"""Chinese message templates from one YAML file a city edits."""
from __future__ import annotations

from pathlib import Path

import yaml


class Templates:
    def __init__(self, texts: dict[str, str]):
        self.texts = texts

    @classmethod
    def load(cls, path: str | Path) -> "Templates":
        return cls(yaml.safe_load(Path(path).read_text(encoding="utf-8")))

    def render(self, name: str, **fields) -> str:
        return self.texts[name].format(**fields)
