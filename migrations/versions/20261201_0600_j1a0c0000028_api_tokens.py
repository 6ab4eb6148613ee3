"""API tokens of other systems, and the cases they registered under their own ids

Revision ID: j1a0c0000028
Revises: i2e0c0000027
Create Date: 2026-12-01 06:00:00.000000

``api_tokens`` holds the tokens created in 设置 → 接口令牌 (only a SHA-256 of each), with the
account each acts as and its permissions; ``api_token_units`` the units a token is limited to;
``api_case_links`` the calling system's own id of each case it registered (idempotency).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "j1a0c0000028"
down_revision = "i2e0c0000027"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("integration", sa.String(length=40), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_api_tokens_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by_id"], ["users.id"], name=op.f("fk_api_tokens_revoked_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )  # fmt: skip
    op.create_index(op.f("ix_api_tokens_integration"), "api_tokens", ["integration"])
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"])
    op.create_table(
        "api_token_units",
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_tokens.id"], name=op.f("fk_api_token_units_token_id_api_tokens"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_api_token_units_unit_id_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_id", "unit_id", name=op.f("pk_api_token_units")),
    )  # fmt: skip
    op.create_index(op.f("ix_api_token_units_unit_id"), "api_token_units", ["unit_id"])
    op.create_table(
        "api_case_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration", sa.String(length=40), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_api_case_links_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_tokens.id"], name=op.f("fk_api_case_links_token_id_api_tokens"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_case_links")),
        sa.UniqueConstraint(
            "integration", "external_id", name=op.f("uq_api_case_links_integration")
        ),
    )  # fmt: skip
    op.create_index(op.f("ix_api_case_links_case_id"), "api_case_links", ["case_id"])
    op.create_index(op.f("ix_api_case_links_token_id"), "api_case_links", ["token_id"])


def downgrade():
    op.drop_table("api_case_links")
    op.drop_table("api_token_units")
    op.drop_table("api_tokens")
