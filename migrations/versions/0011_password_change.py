"""users: when the password last changed, and whether its owner must choose a new one

A password an admin or `gridline create-user` gave is one someone else knows: its owner picks
their own at the next sign-in. The time of the last change ends every other session of the
account (web/auth.py compares it with the one the session signed in under).

Revision ID: password_change_11
Revises: web_consoles_1
"""
from alembic import op
import sqlalchemy as sa


revision = "password_change_11"
down_revision = "web_consoles_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("password_changed_at", sa.DateTime(), nullable=True))
    op.add_column("users", sa.Column("must_change_password", sa.Boolean(), nullable=False,
                                     server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("must_change_password")
        batch.drop_column("password_changed_at")
