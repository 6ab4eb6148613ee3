"""retention rules, destruction batches, the retention date and tombstone on cases, and the
retention.destroy permission for the administrator role

Revision ID: g1d0c0000019
Revises: g0d0c0000018
Create Date: 2026-11-30 19:10:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "g1d0c0000019"
down_revision = "g0d0c0000018"
branch_labels = None
depends_on = None

OUTCOMES = ["any", "closed", "not_accepted", "transferred", "kept"]

#: Role code -> permissions this revision adds to the default roles of existing databases.
#: Copied, not imported, so later edits to models/permissions.py do not change history.
NEW_PERMISSIONS = {"admin": ["retention.destroy"]}

roles = sa.table(
    "roles",
    sa.column("id", sa.Integer),
    sa.column("code", sa.String),
    sa.column("permissions", sa.JSON),
)


def _change_role_permissions(add: bool) -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(roles.c.id, roles.c.code, roles.c.permissions).where(
            roles.c.code.in_(list(NEW_PERMISSIONS))
        )
    ).all()
    for role_id, code, permissions in rows:
        current = list(permissions or [])
        if add:
            changed = sorted(set(current) | set(NEW_PERMISSIONS[code]))
        else:
            changed = [name for name in current if name not in NEW_PERMISSIONS[code]]
        if changed != current:
            connection.execute(
                roles.update().where(roles.c.id == role_id).values(permissions=changed)
            )


def upgrade():
    op.create_table(
        "retention_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column(
            "outcome",
            sa.Enum(
                *OUTCOMES,
                name="retention_outcome",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("years", sa.SmallInteger(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "years >= 0 AND years <= 100", name=op.f("ck_retention_rules_years_range")
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
            name=op.f("fk_retention_rules_category_id_categories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_rules")),
        sa.UniqueConstraint("name", name=op.f("uq_retention_rules_name")),
    )
    with op.batch_alter_table("retention_rules") as batch_op:
        batch_op.create_index(batch_op.f("ix_retention_rules_category_id"), ["category_id"])

    op.create_table(
        "destruction_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("kept_year", sa.SmallInteger(), nullable=True),
        sa.Column("kept_region", sa.String(length=60), nullable=True),
        sa.Column("case_count", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_destruction_batches_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_destruction_batches")),
        sa.UniqueConstraint("number", name=op.f("uq_destruction_batches_number")),
    )
    with op.batch_alter_table("destruction_batches") as batch_op:
        batch_op.create_index(batch_op.f("ix_destruction_batches_created_at"), ["created_at"])
        batch_op.create_index(
            batch_op.f("ix_destruction_batches_created_by_id"), ["created_by_id"]
        )

    with op.batch_alter_table("cases") as batch_op:
        batch_op.add_column(sa.Column("kept_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("retention_from", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("retain_until", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("destruction_batch_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("destroyed_by_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_cases_retain_until"), ["retain_until"])
        batch_op.create_index(batch_op.f("ix_cases_destruction_batch_id"), ["destruction_batch_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_destruction_batch_id_destruction_batches"),
            "destruction_batches",
            ["destruction_batch_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_destroyed_by_id_users"),
            "users",
            ["destroyed_by_id"],
            ["id"],
            ondelete="SET NULL",
        )
    _change_role_permissions(add=True)


def downgrade():
    _change_role_permissions(add=False)
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_constraint("fk_cases_destroyed_by_id_users", type_="foreignkey")
        batch_op.drop_constraint(
            "fk_cases_destruction_batch_id_destruction_batches", type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_cases_destruction_batch_id"))
        batch_op.drop_index(batch_op.f("ix_cases_retain_until"))
        batch_op.drop_column("destroyed_by_id")
        batch_op.drop_column("destroyed_at")
        batch_op.drop_column("destruction_batch_id")
        batch_op.drop_column("retain_until")
        batch_op.drop_column("retention_from")
        batch_op.drop_column("kept_at")
    with op.batch_alter_table("destruction_batches") as batch_op:
        batch_op.drop_index(batch_op.f("ix_destruction_batches_created_by_id"))
        batch_op.drop_index(batch_op.f("ix_destruction_batches_created_at"))
    op.drop_table("destruction_batches")
    with op.batch_alter_table("retention_rules") as batch_op:
        batch_op.drop_index(batch_op.f("ix_retention_rules_category_id"))
    op.drop_table("retention_rules")
