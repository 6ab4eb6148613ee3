"""running clocks in deadline order, and pending extension requests, through partial indexes

Revision ID: k1a0c0000031
Revises: j3c0c0000030
Create Date: 2026-12-01 17:00:00.000000

我的工作台 lists overdue and due-soon clocks in deadline order and the cases with an extension
request awaiting a decision. The composite index on (stopped_at, paused_at, due_at) gives no
deadline order to PostgreSQL, and none served the pending requests, so at a million cases
both read the whole clock table (75 ms and 50 ms a visit). Both indexes are partial: they
hold only running clocks and undecided requests.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "k1a0c0000031"
down_revision = "j3c0c0000030"
branch_labels = None
depends_on = None

RUNNING = "stopped_at IS NULL AND paused_at IS NULL"
PENDING = "pending_extension IS NOT NULL AND stopped_at IS NULL"


def upgrade():
    op.create_index(
        "ix_case_clocks_running_by_due",
        "case_clocks",
        ["due_at"],
        sqlite_where=sa.text(RUNNING),
        postgresql_where=sa.text(RUNNING),
    )
    op.create_index(
        "ix_case_clocks_pending_extension",
        "case_clocks",
        ["case_id"],
        sqlite_where=sa.text(PENDING),
        postgresql_where=sa.text(PENDING),
    )


def downgrade():
    op.drop_index("ix_case_clocks_pending_extension", table_name="case_clocks")
    op.drop_index("ix_case_clocks_running_by_due", table_name="case_clocks")
