"""shared enum members for issue 15: out-of-scope decision and clock, report sign-off,
commendation, four documents (专报, 信访信息报告, 公示, 客户投诉记录表) and four registers

Revision ID: g0d0c0000018
Revises: f3d0c0000017
Create Date: 2026-11-30 18:50:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "g0d0c0000018"
down_revision = "f3d0c0000017"
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
    "log_contact", "routed",
]  # fmt: skip
EVENT_KINDS_AFTER = EVENT_KINDS_BEFORE + ["out_of_scope", "sign_off_report", "commend"]
CLOCKS_BEFORE = [
    "handover", "acceptance", "instruction", "handling", "closing", "reply", "rectification",
    "callback", "review", "re_review", "dispatch", "first_contact", "interim_reply",
    "remedial_plan", "superior_reply",
]  # fmt: skip
CLOCKS_AFTER = CLOCKS_BEFORE + ["out_of_scope"]
DOCUMENT_KINDS_BEFORE = [
    "reply_letter", "acceptance_notice", "non_acceptance_notice", "handover_notice",
    "extension_notice", "supervision_card", "complaint_notice", "return_letter",
    "callback_record", "review_opinion",
]  # fmt: skip
DOCUMENT_KINDS_AFTER = DOCUMENT_KINDS_BEFORE + [
    "special_report",
    "information_report",
    "public_notice",
    "complaint_record",
]
REGISTER_KINDS_BEFORE = [
    "letters", "visits", "calls", "complaints", "callbacks", "overdue",
]  # fmt: skip
REGISTER_KINDS_AFTER = REGISTER_KINDS_BEFORE + [
    "leaders_reception",
    "supervision_report",
    "kept_letters",
    "destructions",
]

#: (table, column, constraint name, values before, values after)
CHECKS = [
    ("case_events", "kind", "event_kind", EVENT_KINDS_BEFORE, EVENT_KINDS_AFTER),
    ("deadline_rules", "clock", "clock", CLOCKS_BEFORE, CLOCKS_AFTER),
    ("case_clocks", "kind", "clock", CLOCKS_BEFORE, CLOCKS_AFTER),
    ("escalation_rules", "clock", "clock", CLOCKS_BEFORE, CLOCKS_AFTER),
    ("issued_documents", "kind", "document_kind", DOCUMENT_KINDS_BEFORE, DOCUMENT_KINDS_AFTER),
    (
        "document_templates",
        "kind",
        "document_template_kind",
        DOCUMENT_KINDS_BEFORE,
        DOCUMENT_KINDS_AFTER,
    ),
    ("register_jobs", "kind", "register_kind", REGISTER_KINDS_BEFORE, REGISTER_KINDS_AFTER),
]


def _replace_enum_check(table: str, column: str, name: str, values: list[str]) -> None:
    """Enums are VARCHAR plus a CHECK constraint; new members need a new constraint."""
    with op.batch_alter_table(table) as batch_op:
        batch_op.drop_constraint(name, type_="check")
        batch_op.create_check_constraint(name, sa.column(column).in_(values))


def upgrade():
    for table, column, name, _before, after in CHECKS:
        _replace_enum_check(table, column, name, after)


def downgrade():
    for table, column, name, before, _after in CHECKS:
        op.execute(
            sa.text(f"DELETE FROM {table} WHERE {column} NOT IN :kept").bindparams(
                sa.bindparam("kept", before, expanding=True)
            )
        )
        _replace_enum_check(table, column, name, before)
