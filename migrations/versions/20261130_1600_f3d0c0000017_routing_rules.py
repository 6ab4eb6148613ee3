"""routing rules, the routing result on cases and the 'routed' timeline event

Revision ID: f3d0c0000017
Revises: f2d0c0000016
Create Date: 2026-11-30 16:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "f3d0c0000017"
down_revision = "f2d0c0000016"
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
    "escalated", "document_issued", "reported_up", "send_reply", "log_contact",
]  # fmt: skip
EVENT_KINDS_AFTER = EVENT_KINDS_BEFORE + ["routed"]

CATEGORY_KINDS = [
    "consultation", "complaint", "help_request", "suggestion", "report", "appeal",
    "accusation", "other",
]  # fmt: skip
CHANNELS = [
    "letter", "visit", "call", "online", "opinion_box", "higher_assignment",
    "leader_instruction", "agent",
]  # fmt: skip
PRIORITIES = ["normal", "urgent", "emergency"]


def _replace_enum_check(table: str, column: str, name: str, values: list[str]) -> None:
    """Enums are VARCHAR plus a CHECK constraint; new members need a new constraint."""
    with op.batch_alter_table(table) as batch_op:
        batch_op.drop_constraint(name, type_="check")
        batch_op.create_check_constraint(name, sa.column(column).in_(values))


def _enum(name: str, values: list[str]) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade():
    op.create_table(
        "routing_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column(
            "moment", _enum("routing_moment", ["registration", "acceptance"]), nullable=False
        ),
        sa.Column("action", _enum("routing_action", ["suggest", "assign"]), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("category_kind", _enum("category_kind", CATEGORY_KINDS), nullable=True),
        sa.Column("channel", _enum("case_channel", CHANNELS), nullable=True),
        sa.Column("priority", _enum("case_priority", PRIORITIES), nullable=True),
        sa.Column("field_key", sa.String(length=60), nullable=True),
        sa.Column("field_value", sa.String(length=200), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("handler_id", sa.Integer(), nullable=True),
        sa.Column("set_priority", _enum("set_priority", PRIORITIES), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
            name=op.f("fk_routing_rules_category_id_categories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["handler_id"],
            ["users.id"],
            name=op.f("fk_routing_rules_handler_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["units.id"],
            name=op.f("fk_routing_rules_unit_id_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_rules")),
        sa.UniqueConstraint("name", name=op.f("uq_routing_rules_name")),
    )
    with op.batch_alter_table("routing_rules") as batch_op:
        batch_op.create_index(batch_op.f("ix_routing_rules_category_id"), ["category_id"])
        batch_op.create_index(batch_op.f("ix_routing_rules_handler_id"), ["handler_id"])
        batch_op.create_index(batch_op.f("ix_routing_rules_unit_id"), ["unit_id"])

    with op.batch_alter_table("cases") as batch_op:
        batch_op.add_column(sa.Column("routing_rule_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("routed_unit_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("routed_handler_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("routing_assigned", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_routing_rule_id_routing_rules"),
            "routing_rules",
            ["routing_rule_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_routed_unit_id_units"),
            "units",
            ["routed_unit_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_routed_handler_id_users"),
            "users",
            ["routed_handler_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("cases") as batch_op:
        batch_op.alter_column("routing_assigned", server_default=None)
    _replace_enum_check("case_events", "kind", "event_kind", EVENT_KINDS_AFTER)


def downgrade():
    op.execute("DELETE FROM case_events WHERE kind = 'routed'")
    _replace_enum_check("case_events", "kind", "event_kind", EVENT_KINDS_BEFORE)
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_constraint("fk_cases_routed_handler_id_users", type_="foreignkey")
        batch_op.drop_constraint("fk_cases_routed_unit_id_units", type_="foreignkey")
        batch_op.drop_constraint("fk_cases_routing_rule_id_routing_rules", type_="foreignkey")
        batch_op.drop_column("routing_assigned")
        batch_op.drop_column("routed_handler_id")
        batch_op.drop_column("routed_unit_id")
        batch_op.drop_column("routing_rule_id")
    with op.batch_alter_table("routing_rules") as batch_op:
        batch_op.drop_index(batch_op.f("ix_routing_rules_unit_id"))
        batch_op.drop_index(batch_op.f("ix_routing_rules_handler_id"))
        batch_op.drop_index(batch_op.f("ix_routing_rules_category_id"))
    op.drop_table("routing_rules")
