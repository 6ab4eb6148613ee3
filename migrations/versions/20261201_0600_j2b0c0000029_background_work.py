"""background work: job heartbeats and attempts, and one row per periodic task run

Revision ID: j2b0c0000029
Revises: j1a0c0000028
Create Date: 2026-12-01 06:00:00.000000

``register_jobs`` gets ``heartbeat_at`` (written while a job runs, so a job whose worker died
is found and marked failed), ``started_at`` and ``attempt`` (a retry's number; an older run may
no longer write the row). ``scheduled_runs`` holds one row per periodic task and time slot; its
unique key keeps two schedulers from running the same slot twice.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "j2b0c0000029"
down_revision = "j1a0c0000028"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("register_jobs") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("attempt", sa.SmallInteger(), server_default="1", nullable=False)
        )
    op.create_table(
        "scheduled_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task", sa.String(length=40), nullable=False),
        sa.Column("slot", sa.String(length=40), nullable=False),
        sa.Column("ran_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("runner", sa.String(length=80), nullable=True),
        sa.Column("result", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_runs")),
        sa.UniqueConstraint("task", "slot", name="uq_scheduled_runs_task_slot"),
    )


def downgrade():
    op.drop_table("scheduled_runs")
    with op.batch_alter_table("register_jobs") as batch:
        batch.drop_column("attempt")
        batch.drop_column("started_at")
        batch.drop_column("heartbeat_at")
