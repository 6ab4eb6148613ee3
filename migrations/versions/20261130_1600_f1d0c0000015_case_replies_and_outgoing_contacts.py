"""several replies per case and the outgoing contact log

Revision ID: f1d0c0000015
Revises: f0d0c0000014
Create Date: 2026-11-30 16:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "f1d0c0000015"
down_revision = "f0d0c0000014"
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
    "escalated", "document_issued", "reported_up",
]  # fmt: skip
EVENT_KINDS_AFTER = EVENT_KINDS_BEFORE + ["send_reply", "log_contact"]
REPLY_KINDS = ["interim", "formal", "superior", "remedial_plan"]
REPLY_METHODS = ["letter", "phone", "email", "on_site", "message"]
CONTACT_METHODS = ["phone", "visit", "sms", "letter", "email", "other"]
#: Replies recorded before this revision had no text of their own but their event's.
NO_TEXT = "（升级前的答复，未留存答复内容）"


def _replace_enum_check(table: str, column: str, name: str, values: list[str]) -> None:
    """Enums are VARCHAR plus a CHECK constraint; new members need a new constraint."""
    with op.batch_alter_table(table) as batch_op:
        batch_op.drop_constraint(name, type_="check")
        batch_op.create_check_constraint(name, sa.column(column).in_(values))


def upgrade():
    _replace_enum_check("case_events", "kind", "event_kind", EVENT_KINDS_AFTER)
    op.create_table(
        "case_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(*REPLY_KINDS, name="reply_kind", native_enum=False, create_constraint=True,
                    length=32),
            nullable=False,
        ),  # fmt: skip
        sa.Column("recipient", sa.String(length=200), nullable=False),
        sa.Column(
            "method",
            sa.Enum(*REPLY_METHODS, name="reply_method", native_enum=False,
                    create_constraint=True, length=32),
            nullable=False,
        ),  # fmt: skip
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_replies_case_id_cases"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_case_replies_created_by_id_users"),
            ondelete="SET NULL",
        ),  # fmt: skip
        sa.ForeignKeyConstraint(
            ["event_id"], ["case_events.id"], name=op.f("fk_case_replies_event_id_case_events"),
            ondelete="SET NULL",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_replies")),
    )
    op.create_index("ix_case_replies_case", "case_replies", ["case_id", "replied_at"])
    op.create_table(
        "outgoing_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column(
            "method",
            sa.Enum(*CONTACT_METHODS, name="contact_method", native_enum=False,
                    create_constraint=True, length=32),
            nullable=False,
        ),  # fmt: skip
        sa.Column("contacted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("person", sa.String(length=100), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_outgoing_contacts_case_id_cases"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"],
            name=op.f("fk_outgoing_contacts_created_by_id_users"), ondelete="SET NULL",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outgoing_contacts")),
    )
    op.create_index(
        "ix_outgoing_contacts_case", "outgoing_contacts", ["case_id", "contacted_at"]
    )
    _copy_existing_replies()


def _copy_existing_replies() -> None:
    """Each case already answered gets its formal reply row, with the text of its reply (or
    on-the-spot answer) event."""
    bind = op.get_bind()
    cases = sa.table(
        "cases",
        sa.column("id", sa.Integer),
        sa.column("replied_at", sa.DateTime(timezone=True)),
        sa.column("reply_method", sa.String),
        sa.column("petitioner_names", sa.String),
    )
    events = sa.table(
        "case_events",
        sa.column("id", sa.Integer),
        sa.column("case_id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("data", sa.JSON),
        sa.column("created_by_id", sa.Integer),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    replies = sa.table(
        "case_replies",
        sa.column("case_id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("recipient", sa.String),
        sa.column("method", sa.String),
        sa.column("replied_at", sa.DateTime(timezone=True)),
        sa.column("text", sa.Text),
        sa.column("event_id", sa.Integer),
        sa.column("created_by_id", sa.Integer),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    answered = bind.execute(
        sa.select(cases).where(cases.c.replied_at.is_not(None)).order_by(cases.c.id)
    ).all()
    latest = {}
    for event in bind.execute(
        sa.select(events)
        .where(events.c.kind.in_(["reply", "answer_on_spot"]))
        .order_by(events.c.case_id, events.c.id)
    ):
        latest[event.case_id] = event
    rows = []
    for case in answered:
        event = latest.get(case.id)
        data = (event.data if event is not None else None) or {}
        text = data.get("text") or data.get("answer") or NO_TEXT
        rows.append(
            {
                "case_id": case.id,
                "kind": "formal",
                "recipient": (case.petitioner_names or "信访人")[:200],
                "method": case.reply_method or "letter",
                "replied_at": case.replied_at,
                "text": text,
                "event_id": event.id if event is not None else None,
                "created_by_id": event.created_by_id if event is not None else None,
                "created_at": event.created_at if event is not None else case.replied_at,
            }
        )
        if len(rows) >= 1000:
            bind.execute(replies.insert(), rows)
            rows = []
    if rows:
        bind.execute(replies.insert(), rows)


def downgrade():
    op.drop_index("ix_outgoing_contacts_case", table_name="outgoing_contacts")
    op.drop_table("outgoing_contacts")
    op.drop_index("ix_case_replies_case", table_name="case_replies")
    op.drop_table("case_replies")
    op.execute("DELETE FROM case_events WHERE kind IN ('send_reply', 'log_contact')")
    _replace_enum_check("case_events", "kind", "event_kind", EVENT_KINDS_BEFORE)
