"""telegram chats: the phone number a chat shared

Revision ID: tg5chats01
Revises: d0ed12cf91de
Create Date: 2026-11-22 04:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'tg5chats01'
down_revision = 'd0ed12cf91de'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('telegram_chats',
    sa.Column('chat_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('chat_id')
    )


def downgrade() -> None:
    op.drop_table('telegram_chats')
