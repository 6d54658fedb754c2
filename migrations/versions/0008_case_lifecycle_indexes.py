"""case lifecycle: indexes measured with bench/lifecycle.py (1,000,000 cases)

On PostgreSQL the statistics are answered from covering indexes alone: events by action and time
(a month of closings, every red light so far) and a case's later events (is it still overdue?).
The SLA scan's index skips the cases it will never look at again (closed, void).

Revision ID: c6a5e11fec02
Revises: c6a5e11fec01
"""
from alembic import op
import sqlalchemy as sa


revision = "c6a5e11fec02"
down_revision = "c6a5e11fec01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_case_events_at", table_name="case_events")  # the covering index below serves its queries
    op.drop_index("ix_case_events_action_at", table_name="case_events")
    op.create_index("ix_case_events_action_at", "case_events", ["action", "at"],
                    postgresql_include=["case_id", "id", "department_id", "grid_code", "due_at"])
    op.drop_index("ix_case_events_case_id_id", table_name="case_events")
    op.create_index("ix_case_events_case_id_id", "case_events", ["case_id", "id"], postgresql_include=["at", "action"])
    op.drop_index("ix_cases_next_check_at", table_name="cases")
    op.create_index("ix_cases_next_check_at", "cases", ["next_check_at"],
                    postgresql_where=sa.text("next_check_at IS NOT NULL"),
                    sqlite_where=sa.text("next_check_at IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_cases_next_check_at", table_name="cases")
    op.create_index("ix_cases_next_check_at", "cases", ["next_check_at"])
    op.drop_index("ix_case_events_case_id_id", table_name="case_events")
    op.create_index("ix_case_events_case_id_id", "case_events", ["case_id", "id"])
    op.drop_index("ix_case_events_action_at", table_name="case_events")
    op.create_index("ix_case_events_action_at", "case_events", ["action", "at"])
    op.create_index("ix_case_events_at", "case_events", ["at"])
