"""inbound_messages: an index on (channel, received_at)

The 岗位工作量 statistics count each channel's messages in a time window (web/workload.py), and the
message log lists them newest first: without an index both read the whole table.

Revision ID: inbound_received_13
Revises: account_events_12
"""
from alembic import op


revision = "inbound_received_13"
down_revision = "account_events_12"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_inbound_channel_received", "inbound_messages", ["channel", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_inbound_channel_received", table_name="inbound_messages")
