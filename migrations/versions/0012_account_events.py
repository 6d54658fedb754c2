"""account_events: sign-ins, failed attempts, lock-outs and changes to staff accounts (admin → 账户记录)

Revision ID: account_events_12
Revises: password_change_11
"""
from alembic import op
import sqlalchemy as sa


revision = "account_events_12"
down_revision = "password_change_11"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("username", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(40), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
    )
    op.create_index("ix_account_events_at", "account_events", ["at"])
    op.create_index("ix_account_events_username", "account_events", ["username"])


def downgrade() -> None:
    op.drop_table("account_events")
