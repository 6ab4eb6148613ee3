"""failed-login counters shared by all workers when Redis is not configured

Revision ID: e9d0c0000013
Revises: e8d0c0000008
Create Date: 2026-11-30 09:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "e9d0c0000013"
down_revision = "e8d0c0000008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "login_failures",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_login_failures")),
    )
    op.create_index(
        op.f("ix_login_failures_window_ends_at"), "login_failures", ["window_ends_at"], unique=False
    )


def downgrade():
    op.drop_index(op.f("ix_login_failures_window_ends_at"), table_name="login_failures")
    op.drop_table("login_failures")
