"""custom field values on cases; minute clocks and event-driven clock kinds

Revision ID: f0d0c0000014
Revises: e9d0c0000013
Create Date: 2026-11-30 15:00:00.000000

"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB


# revision identifiers, used by Alembic.
revision = "f0d0c0000014"
down_revision = "e9d0c0000013"
branch_labels = None
depends_on = None


CLOCKS_BEFORE = [
    "handover", "acceptance", "instruction", "handling", "closing", "reply", "rectification",
    "callback", "review", "re_review",
]  # fmt: skip
CLOCKS_AFTER = CLOCKS_BEFORE + [
    "dispatch", "first_contact", "interim_reply", "remedial_plan", "superior_reply",
]  # fmt: skip
UNITS_BEFORE = ["hours", "calendar_days", "working_days"]
UNITS_AFTER = ["minutes"] + UNITS_BEFORE
CLOCK_COLUMNS = [
    ("deadline_rules", "clock"),
    ("case_clocks", "kind"),
    ("escalation_rules", "clock"),
]
UNIT_COLUMNS = [("deadline_rules", "unit"), ("case_clocks", "unit")]


def _replace_enum_check(table: str, column: str, name: str, values: list[str]) -> None:
    """Enums are VARCHAR plus a CHECK constraint; new members need a new constraint."""
    with op.batch_alter_table(table) as batch_op:
        batch_op.drop_constraint(name, type_="check")
        batch_op.create_check_constraint(name, sa.column(column).in_(values))


def upgrade():
    for table, column in CLOCK_COLUMNS:
        _replace_enum_check(table, column, "clock", CLOCKS_AFTER)
    for table, column in UNIT_COLUMNS:
        _replace_enum_check(table, column, "time_unit", UNITS_AFTER)
    with op.batch_alter_table("cases") as batch_op:
        batch_op.add_column(
            sa.Column(
                "custom_values",
                sa.JSON().with_variant(JSONB(), "postgresql"),
                server_default=sa.text("'{}'"),
                nullable=False,
            )
        )


def downgrade():
    for table, column in CLOCK_COLUMNS:
        op.execute(
            sa.text(f"DELETE FROM {table} WHERE {column} NOT IN :kept").bindparams(
                sa.bindparam("kept", CLOCKS_BEFORE, expanding=True)
            )
        )
        _replace_enum_check(table, column, "clock", CLOCKS_BEFORE)
    for table, column in UNIT_COLUMNS:
        op.execute(
            sa.text(f"DELETE FROM {table} WHERE {column} NOT IN :kept").bindparams(
                sa.bindparam("kept", UNITS_BEFORE, expanding=True)
            )
        )
        _replace_enum_check(table, column, "time_unit", UNITS_BEFORE)
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_column("custom_values")
