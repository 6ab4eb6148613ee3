"""online petitions: the hashed query code of each case filed on the public page

Revision ID: i2e0c0000027
Revises: h2d0c0000025
Create Date: 2026-12-01 03:00:00.000000

``online_petitions`` keeps, per case filed on 网上信访, a salted hash of the query code (查询码)
the petitioner was shown; the progress lookup checks number and code against it.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "i2e0c0000027"
down_revision = "h2d0c0000025"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "online_petitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_online_petitions_case_id_cases"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_online_petitions")),
        sa.UniqueConstraint("case_id", name=op.f("uq_online_petitions_case_id")),
    )


def downgrade():
    op.drop_table("online_petitions")
