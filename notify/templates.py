"""Chinese message templates from one YAML file a city edits."""
from __future__ import annotations

from pathlib import Path

import yaml


class Templates:
    def __init__(self, texts: dict[str, str], links=None):
        self.texts = texts
        self.links = links          # notify.links.CaseLinks: result pages, when a public address is set

    @classmethod
    def load(cls, path: str | Path, links=None) -> "Templates":
        return cls(yaml.safe_load(Path(path).read_text(encoding="utf-8")), links)

    def result_link(self, number: str) -> str:
        """The sentence with the case's result page, or "" (no public address, or a city's older
        templates file without `result_link`)."""
        url = self.links.result_url(number) if self.links is not None else None
        return self.render("result_link", url=url) if url and "result_link" in self.texts else ""

    def render(self, name: str, **fields) -> str:
        return self.texts[name].format(**fields)
