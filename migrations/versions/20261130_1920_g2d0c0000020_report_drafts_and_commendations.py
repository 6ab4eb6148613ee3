"""drafted reports (专报, 信访信息报告, 公示) on the timeline and commendations of a person

Revision ID: g2d0c0000020
Revises: g1d0c0000019
Create Date: 2026-11-30 19:20:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "g2d0c0000020"
down_revision = "g1d0c0000019"
branch_labels = None
depends_on = None

EVENT_KINDS_BEFORE = [
    "registered", "edited", "letter_added", "visit_added", "call_added", "callback_added",
    "callback_edited", "attachment_added", "attachment_removed", "contact_edited",
    "contact_removed", "deleted", "accept", "not_accept", "no_longer_accept", "keep",
    "answer_on_spot", "propose", "send_for_reading", "instruct", "assign", "acknowledge",
    "add_assistant", "transfer", "return_to_sender", "investigate", "urge", "interim_report",
    "request_extension", "decide_extension", "pause_clock", "resume_clock", "report_result",
    "approve_result", "send_back", "reply", "close", "request_review", "answer_review",
    "request_re_review", "answer_re_review", "archive", "reopen", "destroy", "merge",
    "merged_in", "split", "escalated", "document_issued", "reported_up", "send_reply",
    "log_contact", "routed", "out_of_scope", "sign_off_report", "commend",
]  # fmt: skip
EVENT_KINDS_AFTER = EVENT_KINDS_BEFORE + ["draft_report"]


def _replace_enum_check(table: str, column: str, name: str, values: list[str]) -> None:
    """Enums are VARCHAR plus a CHECK constraint; new members need a new constraint."""
    with op.batch_alter_table(table) as batch_op:
        batch_op.drop_constraint(name, type_="check")
        batch_op.create_check_constraint(name, sa.column(column).in_(values))


def upgrade():
    _replace_enum_check("case_events", "kind", "event_kind", EVENT_KINDS_AFTER)
    op.create_table(
        "commendations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("commended_on", sa.Date(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_commendations_party_id_parties"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_commendations_case_id_cases"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.ForeignKeyConstraint(
            ["event_id"], ["case_events.id"], name=op.f("fk_commendations_event_id_case_events"),
            ondelete="SET NULL",
        ),  # fmt: skip
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_commendations_created_by_id_users"),
            ondelete="SET NULL",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commendations")),
    )
    op.create_index(op.f("ix_commendations_party_id"), "commendations", ["party_id"])
    op.create_index(op.f("ix_commendations_case_id"), "commendations", ["case_id"])


def downgrade():
    op.drop_index(op.f("ix_commendations_case_id"), table_name="commendations")
    op.drop_index(op.f("ix_commendations_party_id"), table_name="commendations")
    op.drop_table("commendations")
    op.execute("DELETE FROM case_events WHERE kind = 'draft_report'")
    _replace_enum_check("case_events", "kind", "event_kind", EVENT_KINDS_BEFORE)
