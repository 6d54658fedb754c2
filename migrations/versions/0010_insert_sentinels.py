"""batched inserts on SQLite: a sentinel column on the tables the intake worker inserts many rows into

SQLAlchemy can put a batch of new rows in one INSERT … RETURNING and still match each returned id
to its row on PostgreSQL, but not on SQLite, where it went back to one INSERT a row (case events,
reporters and outbox rows: about three statements a message). With a sentinel column that
SQLAlchemy fills while inserting, SQLite gets the batched form too. Nullable, no default: adding it
rewrites nothing on PostgreSQL, and old rows keep NULL (nothing reads it).

Revision ID: insert_sentinels_10
Revises: outbox_webhook_9, c6a5e11fec02
"""
from alembic import op
import sqlalchemy as sa


revision = "insert_sentinels_10"
down_revision = ("outbox_webhook_9", "c6a5e11fec02")
branch_labels = None
depends_on = None

TABLES = ("case_events", "case_reporters", "outbound_messages")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("_sentinel", sa.Integer(), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("_sentinel")
