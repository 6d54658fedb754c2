"""Grid registry and gazetteer: grid_cells.district / retired_at, gazetteer_entries, geo_imports

Revision ID: grid_registry_4
Revises: d0ed12cf91de
"""
from alembic import op
import sqlalchemy as sa


revision = "grid_registry_4"
down_revision = "d0ed12cf91de"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("grid_cells", schema=None) as batch_op:
        batch_op.add_column(sa.Column("district", sa.String(length=50), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("retired_at", sa.DateTime(), nullable=True))
    op.create_table(
        "geo_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("crs", sa.String(length=10), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("geo_imports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_geo_imports_kind"), ["kind"], unique=False)
    op.create_table(
        "gazetteer_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("street", sa.String(length=50), nullable=False),
        sa.Column("community", sa.String(length=50), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon2", sa.Float(), nullable=True),
        sa.Column("lat2", sa.Float(), nullable=True),
        sa.Column("num_from", sa.Integer(), nullable=True),
        sa.Column("num_to", sa.Integer(), nullable=True),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("gazetteer_entries", schema=None) as batch_op:
        batch_op.create_index("ix_gazetteer_entries_name", ["name"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("gazetteer_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_gazetteer_entries_name")
    op.drop_table("gazetteer_entries")
    with op.batch_alter_table("geo_imports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_geo_imports_kind"))
    op.drop_table("geo_imports")
    with op.batch_alter_table("grid_cells", schema=None) as batch_op:
        batch_op.drop_column("retired_at")
        batch_op.drop_column("district")
