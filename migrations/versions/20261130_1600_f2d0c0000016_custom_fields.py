"""custom fields defined by administrators; GIN index on cases.custom_values (PostgreSQL)

Revision ID: f2d0c0000016
Revises: f1d0c0000015
Create Date: 2026-11-30 16:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "f2d0c0000016"
down_revision = "f1d0c0000015"
branch_labels = None
depends_on = None


FIELD_TYPES = ["text", "long_text", "number", "date", "datetime", "choice", "boolean", "person"]
CATEGORY_KINDS = [
    "consultation", "complaint", "help_request", "suggestion", "report", "appeal",
    "accusation", "other",
]  # fmt: skip


def upgrade():
    op.create_table(
        "custom_fields",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=40), nullable=False),
        sa.Column(
            "field_type",
            sa.Enum(
                *FIELD_TYPES,
                name="custom_field_type",
                native_enum=False,
                length=32,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("help_text", sa.String(length=200), nullable=True),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column(
            "category_kind",
            sa.Enum(
                *CATEGORY_KINDS,
                name="category_kind",
                native_enum=False,
                length=32,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("show_in_list", sa.Boolean(), nullable=False),
        sa.Column("filterable", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
            name=op.f("fk_custom_fields_category_id_categories"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_fields")),
        sa.UniqueConstraint("key", name=op.f("uq_custom_fields_key")),
    )
    with op.batch_alter_table("custom_fields") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_custom_fields_category_id"), ["category_id"], unique=False
        )
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_cases_custom_values",
            "cases",
            ["custom_values"],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={"custom_values": "jsonb_path_ops"},
        )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_cases_custom_values", table_name="cases")
    with op.batch_alter_table("custom_fields") as batch_op:
        batch_op.drop_index(batch_op.f("ix_custom_fields_category_id"))
    op.drop_table("custom_fields")
