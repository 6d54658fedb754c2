"""cases.extension_request: "no request" is SQL NULL, not the JSON value null

The column was written as JSON null whenever no 延期 was pending, so `extension_request IS NOT NULL`
(the centre's 延期待批 tab and its count) matched every case. The model now stores None as SQL NULL
(JSON none_as_null); this turns the rows already written that way into NULL too.

Revision ID: extension_null_14
Revises: inbound_received_13
"""
from alembic import op


revision = "extension_null_14"
down_revision = "inbound_received_13"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":      # json has no '=': compare its text
        op.execute("UPDATE cases SET extension_request = NULL WHERE extension_request::text = 'null'")
    else:
        op.execute("UPDATE cases SET extension_request = NULL WHERE extension_request = 'null'")


def downgrade() -> None:
    pass    # NULL reads as None either way: nothing to undo
