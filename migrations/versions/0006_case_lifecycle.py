"""case lifecycle: the handling clock on cases, and department/cell/due time on events

Revision ID: c6a5e11fec01
Revises: d0ed12cf91de
"""
from alembic import op
import sqlalchemy as sa


revision = "c6a5e11fec01"
down_revision = "d0ed12cf91de"
branch_labels = None
depends_on = None

CASE_COLUMNS = [
    sa.Column("working_clock", sa.Boolean(), nullable=False, server_default=sa.true()),
    sa.Column("limit_hours", sa.Double(), nullable=False, server_default="0"),
    sa.Column("clock_start", sa.DateTime(), nullable=True),
    sa.Column("clock_round", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("paused_hours", sa.Double(), nullable=False, server_default="0"),
    sa.Column("suspended_at", sa.DateTime(), nullable=True),
    sa.Column("resume_status", sa.String(length=20), nullable=True),
    sa.Column("warn_at", sa.DateTime(), nullable=True),
    sa.Column("sla_level", sa.String(length=10), nullable=False, server_default="green"),
    sa.Column("escalation_step", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("reminders", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_reminder_at", sa.DateTime(), nullable=True),
    sa.Column("extension_request", sa.JSON(), nullable=True),
    sa.Column("next_check_at", sa.DateTime(), nullable=True),
]


def _sqlite_foreign_keys_off() -> None:
    """SQLite rebuilds `cases` to make due_at nullable; with foreign keys on, dropping the old table
    fails once other tables reference its rows. The pragma only takes effect outside a transaction."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    raw = bind.connection.dbapi_connection
    if raw.in_transaction:
        raw.commit()
    raw.execute("PRAGMA foreign_keys=OFF")


def upgrade() -> None:
    _sqlite_foreign_keys_off()
    with op.batch_alter_table("cases", schema=None) as batch_op:
        for column in CASE_COLUMNS:
            batch_op.add_column(column)
        batch_op.alter_column("due_at", existing_type=sa.DateTime(), nullable=True)
        batch_op.create_index(batch_op.f("ix_cases_next_check_at"), ["next_check_at"], unique=False)
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("department_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("grid_code", sa.String(length=15), nullable=True))
        batch_op.add_column(sa.Column("due_at", sa.DateTime(), nullable=True))
        batch_op.create_index("ix_case_events_at", ["at"], unique=False)
        batch_op.create_index("ix_case_events_case_id_id", ["case_id", "id"], unique=False)
    # Existing rows: events learn their case's department, cell and due time; open cases get a
    # check right away (the scan starts their clock from created_at, see sla_scan.check).
    for column in ("department_id", "grid_code", "due_at"):
        op.execute(f"UPDATE case_events SET {column} = (SELECT cases.{column} FROM cases "
                   f"WHERE cases.id = case_events.case_id)")
    now = "CURRENT_TIMESTAMP" if op.get_bind().dialect.name == "sqlite" else "(now() AT TIME ZONE 'utc')"
    op.execute(f"UPDATE cases SET next_check_at = {now} WHERE status IN ('dispatched', 'accepted')")


def downgrade() -> None:
    _sqlite_foreign_keys_off()
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.drop_index("ix_case_events_case_id_id")
        batch_op.drop_index("ix_case_events_at")
        batch_op.drop_column("due_at")
        batch_op.drop_column("grid_code")
        batch_op.drop_column("department_id")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_next_check_at"))
        batch_op.alter_column("due_at", existing_type=sa.DateTime(), nullable=False)
        for column in reversed(CASE_COLUMNS):
            batch_op.drop_column(column.name)
