"""escalation beyond level and abnormal visit flags

Revision ID: e8d0c0000008
Revises: e7d0c0000007
Create Date: 2026-11-29 12:30:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "e8d0c0000008"
down_revision = "e7d0c0000007"
branch_labels = None
depends_on = None

EVENT_KINDS_BEFORE = [
    "registered", "edited", "letter_added", "visit_added", "call_added", "callback_added",
    "callback_edited", "attachment_added", "attachment_removed", "contact_edited",
    "contact_removed", "deleted",
    "accept", "not_accept", "no_longer_accept", "keep", "answer_on_spot", "propose",
    "send_for_reading", "instruct", "assign", "acknowledge", "add_assistant", "transfer",
    "return_to_sender", "investigate", "urge", "interim_report", "request_extension",
    "decide_extension", "pause_clock", "resume_clock", "report_result", "approve_result",
    "send_back", "reply", "close", "request_review", "answer_review", "request_re_review",
    "answer_re_review", "archive", "reopen", "destroy", "merge", "merged_in", "split",
    "escalated", "document_issued",
]
EVENT_KINDS_AFTER = EVENT_KINDS_BEFORE + ["reported_up"]

STATISTICS_INDEX_BEFORE = [
    "handling_unit_id", "is_deleted", "received_at", "status", "channel", "category_id",
    "head_count", "is_group", "repeat_count", "closed_at", "accepted_at", "instructed_at",
    "last_satisfaction", "id",
]
# The statistics count the two new flags too; keeping them in the covering index keeps the
# dashboard an index-only scan.
STATISTICS_INDEX_AFTER = [
    "handling_unit_id", "is_deleted", "received_at", "status", "channel", "category_id",
    "head_count", "is_group", "is_beyond_level", "is_abnormal", "repeat_count", "closed_at",
    "accepted_at", "instructed_at", "last_satisfaction", "id",
]


def _replace_enum_check(table: str, column: str, name: str, values: list[str]) -> None:
    """Enums are VARCHAR plus a CHECK constraint; new members need a new constraint."""
    with op.batch_alter_table(table) as batch_op:
        batch_op.drop_constraint(name, type_="check")
        batch_op.create_check_constraint(name, sa.column(column).in_(values))


def upgrade():
    _replace_enum_check("case_events", "kind", "event_kind", EVENT_KINDS_AFTER)
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_beyond_level", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("is_abnormal", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.alter_column("is_beyond_level", server_default=None)
        batch_op.alter_column("is_abnormal", server_default=None)
        batch_op.drop_index("ix_cases_statistics")
        batch_op.create_index("ix_cases_statistics", STATISTICS_INDEX_AFTER, unique=False)


def downgrade():
    op.execute("DELETE FROM case_events WHERE kind = 'reported_up'")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_statistics")
        batch_op.create_index("ix_cases_statistics", STATISTICS_INDEX_BEFORE, unique=False)
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("is_abnormal")
        batch_op.drop_column("is_beyond_level")
    _replace_enum_check("case_events", "kind", "event_kind", EVENT_KINDS_BEFORE)
