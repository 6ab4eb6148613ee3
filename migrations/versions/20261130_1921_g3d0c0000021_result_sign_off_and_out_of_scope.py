"""the result's sign-off by the leader in charge and the out-of-scope decision on cases

Revision ID: g3d0c0000021
Revises: g2d0c0000020
Create Date: 2026-11-30 19:21:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "g3d0c0000021"
down_revision = "g2d0c0000020"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("cases") as batch_op:
        batch_op.add_column(sa.Column("result_signed_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("result_signer_name", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("result_reported_to_office_on", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("out_of_scope_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("out_of_scope_reason", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("out_of_scope_forwarding_unit_id", sa.Integer(), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_result_signed_by_id_users"),
            "users",
            ["result_signed_by_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_out_of_scope_forwarding_unit_id_units"),
            "units",
            ["out_of_scope_forwarding_unit_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade():
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_constraint(
            "fk_cases_out_of_scope_forwarding_unit_id_units", type_="foreignkey"
        )
        batch_op.drop_constraint("fk_cases_result_signed_by_id_users", type_="foreignkey")
        batch_op.drop_column("out_of_scope_forwarding_unit_id")
        batch_op.drop_column("out_of_scope_reason")
        batch_op.drop_column("out_of_scope_at")
        batch_op.drop_column("result_reported_to_office_on")
        batch_op.drop_column("result_signer_name")
        batch_op.drop_column("result_signed_by_id")
