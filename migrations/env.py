"""Alembic environment: the URL comes from the caller (store.migrate) or DATABASE_URL."""
from alembic import context

import gateway.models  # noqa: F401  (each import registers its tables on Base.metadata)
import intake.models  # noqa: F401
import notify.models  # noqa: F401
import routing.models  # noqa: F401
import tickets.models  # noqa: F401
import web.models  # noqa: F401
from store.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        engine = make_engine(config.get_main_option("sqlalchemy.url"))
        with engine.connect() as connection:
            _run(connection)
        engine.dispose()
    else:
        _run(connectable)


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
