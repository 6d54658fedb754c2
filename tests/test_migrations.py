"""The migrations build the schema the models describe: a column added to a model without its
migration (or the other way round) would fail here, not on a city's database."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from store.db import Base
from store.migrate import upgrade


def test_a_fresh_database_migrated_to_the_heads_matches_the_models(tmp_path):
    import gateway.models, intake.models, notify.models, routing.models, tickets.models, web.models  # noqa: F401,E401
    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert differences == []
