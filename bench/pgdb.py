"""PostgreSQL set-up the benchmarks share: the database named in the URL exists before they start."""
from __future__ import annotations

import psycopg
from sqlalchemy.engine import make_url


def ensure_database(url: str) -> None:
    """Create the URL's database when it is missing (a fresh machine has only `postgres` and `test`)."""
    u = make_url(url)
    admin = u.set(database="postgres").render_as_string(hide_password=False).replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (u.database,)).fetchone():
            conn.execute(f'CREATE DATABASE "{u.database}"')
