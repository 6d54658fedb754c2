"""What a process loads once: rules, jieba with the domain dictionary, gazetteer, grid index.

The worker builds it before it takes its first job (preloading jieba costs ~1 s; inside a forked
job it would cost that on every job). The web app builds it lazily for the classify preview.
"""
from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path

import redis

from config import Config
from store.db import Database


class Context:
    def __init__(self, config: Config | None = None):
        self.config = config or Config()

    @cached_property
    def db(self) -> Database:
        return Database(self.config.database_url)

    @cached_property
    def redis(self) -> redis.Redis | None:
        if not self.config.redis_url:
            return None
        return redis.Redis.from_url(self.config.redis_url, socket_timeout=2, socket_connect_timeout=2)

    @cached_property
    def rules(self):
        from routing.rules import load_rules
        return load_rules(self.config.rules_path)

    @cached_property
    def classifier(self):
        """Keyword rules, joined by the trained model when routing_rules.yaml names one
        (settings.model). A damaged model file fails here, naming the file, not mid-job."""
        from classifiers.keywords import KeywordClassifier
        keywords = KeywordClassifier(self.rules)
        path = self.rules.settings.get("model")
        if not path:
            return keywords
        from classifiers.combined import CombinedClassifier
        return CombinedClassifier.load(keywords, path, self.rules)

    @cached_property
    def grid_source(self):
        from routing.grids import GridSource
        return GridSource(self.db, self.config.demo_dir / "grids.geojson")

    @cached_property
    def gazetteer_source(self):
        from classifiers.places import GazetteerSource
        return GazetteerSource(self.db, self.config.demo_dir / "gazetteer.csv", self.grid_source)

    @property
    def gazetteer(self):
        """The place names: the database's after `gridline import-gazetteer`, else the demo CSV."""
        return self.gazetteer_source.current()

    @property
    def grids(self):
        """The grid index: the database's cells after `gridline import-grids` or load-demo, else the
        demo GeoJSON; re-read within 30 s of a new import (routing.grids.GridSource)."""
        return self.grid_source.current()

    @cached_property
    def calendar(self):
        from tickets.sla import WorkCalendar
        settings = self.rules.settings
        path = settings.get("calendar")
        if path and not Path(path).is_absolute():
            path = Path(self.rules.path).parent / path
        return WorkCalendar.load(path, settings.get("working_hours"))

    @cached_property
    def templates(self):
        from notify.links import CaseLinks
        from notify.templates import Templates
        return Templates.load(self.config.templates_path, CaseLinks(self.config))

    @cached_property
    def sms_backend(self):
        from notify.sms import backend_for
        return backend_for(self.config)

    def preload(self) -> "Context":
        from classifiers.tokenizer import initialize
        initialize()
        for name in ("rules", "classifier", "gazetteer", "grids", "calendar", "templates"):
            getattr(self, name)
        return self


_lock = threading.Lock()
_current: Context | None = None


def get() -> Context:
    global _current
    with _lock:
        if _current is None:
            _current = Context()
        return _current


def set_current(ctx: Context | None) -> None:
    global _current
    with _lock:
        _current = ctx
