"""statistics rollup: daily and monthly case sums, deadlines, callback counts

Revision ID: h2d0c0000025
Revises: h1d0c0000024
Create Date: 2026-11-30 23:25:00.000000

``case_daily_stats`` holds the additive dashboard figures per (local day received, handling unit,
category), ``case_monthly_stats`` the same per month; ``models.case_stats`` keeps them equal to
the cases; ``case_stat_deadlines`` holds open cases' earliest running deadline and unfinished
callback tasks for the figures that depend on the time of day; ``callback_daily_stats`` counts
callback tasks per (day done, day due, caller) for the 回访 quotas. The upgrade fills them from the
cases already registered (the same code as ``flask rebuild-stats``).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "h2d0c0000025"
down_revision = "h1d0c0000024"
branch_labels = None
depends_on = None

SUMS = (
    "batches",
    "persons",
    "group_batches",
    "group_persons",
    "beyond_level",
    "abnormal",
    "open",
    "closed",
    "transferred",
    "ontime",
    "repeat_cases",
    "repeat_contacts",
    "accepted",
    "instructed",
)
SUMS_AFTER = ("evaluated", "satisfied", "dissatisfied", "callback_tasks", "callback_done")
CHANNELS = (
    "letter",
    "visit",
    "call",
    "online",
    "opinion_box",
    "higher_assignment",
    "leader_instruction",
    "agent",
)


def _count(name):
    return sa.Column(name, sa.Integer(), nullable=False, server_default="0")


def _sums():
    return [
        *[_count(name) for name in SUMS],
        sa.Column("closed_days", sa.Float(), nullable=False, server_default="0"),
        *[_count(name) for name in SUMS_AFTER],
        *[_count(name) for channel in CHANNELS for name in (f"ch_{channel}", f"chp_{channel}")],
    ]


def upgrade():
    op.create_table(
        "case_daily_stats",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("unit_key", sa.Integer(), nullable=False),
        sa.Column("category_key", sa.Integer(), nullable=False),
        *_sums(),
        sa.PrimaryKeyConstraint("day", "unit_key", "category_key", name="pk_case_daily_stats"),
    )
    op.create_table(
        "case_monthly_stats",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("unit_key", sa.Integer(), nullable=False),
        sa.Column("category_key", sa.Integer(), nullable=False),
        *_sums(),
        sa.PrimaryKeyConstraint(
            "month", "unit_key", "category_key", name="pk_case_monthly_stats"
        ),
    )
    op.create_table(
        "case_stat_deadlines",
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("ref_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("unit_key", sa.Integer(), nullable=False),
        sa.Column("category_key", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("kind", "ref_id", name="pk_case_stat_deadlines"),
    )
    op.create_index(
        "ix_case_stat_deadlines_case_id", "case_stat_deadlines", ["case_id"], unique=False
    )
    op.create_index(
        "ix_case_stat_deadlines_kind_day", "case_stat_deadlines", ["kind", "day"], unique=False
    )
    op.create_table(
        "callback_daily_stats",
        sa.Column("done_key", sa.Date(), nullable=False),
        sa.Column("due_key", sa.Date(), nullable=False),
        sa.Column("caller_key", sa.Integer(), nullable=False),
        sa.Column("is_done", sa.SmallInteger(), nullable=False),
        sa.Column("has_due", sa.SmallInteger(), nullable=False),
        _count("callbacks"),
        sa.PrimaryKeyConstraint(
            "done_key",
            "due_key",
            "caller_key",
            "is_done",
            "has_due",
            name="pk_callback_daily_stats",
        ),
    )
    from sqlalchemy.orm import Session

    from models.case_stats import rebuild

    session = Session(bind=op.get_bind())
    rebuild(session)


def downgrade():
    op.drop_table("callback_daily_stats")
    op.drop_index("ix_case_stat_deadlines_kind_day", table_name="case_stat_deadlines")
    op.drop_index("ix_case_stat_deadlines_case_id", table_name="case_stat_deadlines")
    op.drop_table("case_stat_deadlines")
    op.drop_table("case_monthly_stats")
    op.drop_table("case_daily_stats")
