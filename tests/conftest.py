"""Fixtures: a real database (SQLite file, or PostgreSQL when DATABASE_URL is set) and a real Redis
(the embedded one we start, or REDIS_URL), the preloaded context, the app, and an in-process worker.
"""
from __future__ import annotations

import os
import uuid

import pytest
from rq import Queue, SimpleWorker
from sqlalchemy import delete, text

from config import Config
from intake import context as context_module
from intake import queue
from intake.context import Context
from store.db import Base
from store.migrate import upgrade
from store.redis_server import EmbeddedRedis

TOKEN = "test-token"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    url = os.environ.get("DATABASE_URL")
    if url:
        from store.db import make_engine
        engine = make_engine(url)
        with engine.begin() as conn:  # a clean schema for this run
            import gateway.models, intake.models, notify.models, routing.models, tickets.models, web.models  # noqa: F401,E401
            Base.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        engine.dispose()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'gridline.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def ctx(database_url, redis_url, tmp_path_factory):
    from cli import load_demo_city
    cfg = Config(var_dir=tmp_path_factory.mktemp("var"), database_url=database_url, redis_url=redis_url,
                 api_token=TOKEN)
    cfg.twilio_account_sid = cfg.twilio_auth_token = cfg.twilio_from = None  # console SMS in tests
    context = Context(cfg).preload()
    context_module.set_current(context)
    load_demo_city(context)
    yield context
    context.db.dispose()


@pytest.fixture(autouse=True)
def clean(request):
    """Each test starts with no messages, cases or outbox rows, and empty queues."""
    if "ctx" not in request.fixturenames:
        yield
        return
    c = request.getfixturevalue("ctx")
    context_module.set_current(c)
    from intake.models import Conversation, InboundMessage
    from notify.models import DeliveryReceipt, OptOut, OutboundMessage
    from tickets.models import Case, CaseEvent, CaseReporter, Counter
    from web.models import CasePhoto    # no foreign key: a photo row would outlive its case into the next test
    with c.db.session() as s:
        for model in (Conversation, OptOut, DeliveryReceipt, InboundMessage, OutboundMessage, CaseEvent,
                      CaseReporter, Case, Counter, CasePhoto):
            s.execute(delete(model))
        s.commit()
    c.redis.flushdb()
    yield


@pytest.fixture
def app(ctx):
    from app import create_app
    application = create_app(ctx)
    application.testing = True
    return application


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def auth():
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def run_worker(ctx):
    """Work the real RQ queues in this process until they are empty (what worker.py does)."""
    def work() -> None:
        queues = [Queue(name, connection=ctx.redis) for name in queue.QUEUES]
        SimpleWorker(queues, connection=ctx.redis).work(burst=True, logging_level="WARNING")
    return work


@pytest.fixture
def new_id():
    return lambda prefix="call": f"{prefix}-{uuid.uuid4().hex[:12]}"
