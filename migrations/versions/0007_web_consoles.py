"""Consoles: staff users, grid assignments, case photos, audit of phone-number views

Revision ID: web_consoles_1
Revises: d0ed12cf91de
"""
from alembic import op
import sqlalchemy as sa


revision = "web_consoles_1"
down_revision = "d0ed12cf91de"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(40), nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("department_id", sa.Integer(), sa.ForeignKey("departments.id"), nullable=True),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("last_login_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )
    op.create_index("ix_users_department_id", "users", ["department_id"])
    op.create_table(
        "user_grids",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("grid_code", sa.String(15), sa.ForeignKey("grid_cells.code"), nullable=False),
        sa.UniqueConstraint("user_id", "grid_code", name="uq_user_grid"),
    )
    op.create_index("ix_user_grids_user_id", "user_grids", ["user_id"])
    op.create_index("ix_user_grids_grid_code", "user_grids", ["grid_code"])
    op.create_table(
        "case_photos",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(60), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("uploaded_by", sa.String(40), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_case_photos_case_id", "case_photos", ["case_id"])
    op.create_table(
        "phone_views",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(40), nullable=False),
        sa.Column("phone", sa.String(64), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
    )
    op.create_index("ix_phone_views_at", "phone_views", ["at"])
    op.create_index("ix_phone_views_phone", "phone_views", ["phone"])
    op.create_index("ix_phone_views_user_id", "phone_views", ["user_id"])


def downgrade() -> None:
    op.drop_table("phone_views")
    op.drop_table("case_photos")
    op.drop_table("user_grids")
    op.drop_table("users")
