"""outbox: room for a webhook's URL in outbound_messages.to (64 → 255 characters)

A department's notices may go to a webhook (routing_rules.yaml `webhook:`); the row's `to` is the
receiver's URL. On PostgreSQL widening a varchar is a catalogue change (no table rewrite); SQLite
does not enforce the length, but the table is rebuilt so the schema says what the model says.

Revision ID: outbox_webhook_9
Revises: sms_conversation_1
"""
from alembic import op
import sqlalchemy as sa


revision = "outbox_webhook_9"
down_revision = "sms_conversation_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbound_messages") as batch:
        batch.alter_column("to", existing_type=sa.String(64), type_=sa.String(255), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages") as batch:
        batch.alter_column("to", existing_type=sa.String(255), type_=sa.String(64), existing_nullable=False)
