"""SMS and conversation: outbox retries and receipts, opt-outs, conversation state

Revision ID: sms_conversation_1
Revises: d0ed12cf91de
"""
from alembic import op
import sqlalchemy as sa


revision = "sms_conversation_1"
down_revision = "d0ed12cf91de"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbound_messages") as batch:
        batch.add_column(sa.Column("error_code", sa.String(16), nullable=False, server_default=""))
        batch.add_column(sa.Column("sender", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("status_at", sa.DateTime(), nullable=True))
        batch.create_index("ix_outbound_messages_next_attempt_at", ["next_attempt_at"])
    with op.batch_alter_table("inbound_messages") as batch:
        batch.add_column(sa.Column("kind", sa.String(20), nullable=False, server_default=""))
    op.create_table(
        "delivery_receipts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("backend", sa.String(20), nullable=False),
        sa.Column("provider_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error_code", sa.String(16), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("backend", "provider_id", "status", name="uq_receipt_status"),
    )
    op.create_index("ix_delivery_receipts_provider_id", "delivery_receipts", ["provider_id"])
    op.create_table(
        "opt_outs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("keyword", sa.String(20), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("channel", "address", name="uq_opt_out_address"),
    )
    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("sender", sa.String(64), nullable=False),
        sa.Column("held_message_id", sa.Integer(), nullable=True),
        sa.Column("ask_until", sa.DateTime(), nullable=True),
        sa.Column("survey_case_id", sa.Integer(), nullable=True),
        sa.Column("survey_until", sa.DateTime(), nullable=True),
        sa.Column("flood_notice_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("channel", "sender", name="uq_conversation_sender"),
    )
    op.create_index("ix_conversations_ask_until", "conversations", ["ask_until"])


def downgrade() -> None:
    op.drop_index("ix_conversations_ask_until", table_name="conversations")
    op.drop_table("conversations")
    op.drop_table("opt_outs")
    op.drop_index("ix_delivery_receipts_provider_id", table_name="delivery_receipts")
    op.drop_table("delivery_receipts")
    with op.batch_alter_table("inbound_messages") as batch:
        batch.drop_column("kind")
    with op.batch_alter_table("outbound_messages") as batch:
        batch.drop_index("ix_outbound_messages_next_attempt_at")
        batch.drop_column("status_at")
        batch.drop_column("next_attempt_at")
        batch.drop_column("sender")
        batch.drop_column("error_code")
