"""custom field values on cases

Revision ID: f0d0c0000014
Revises: e9d0c0000013
Create Date: 2026-11-30 15:00:00.000000

"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB


# revision identifiers, used by Alembic.
revision = "f0d0c0000014"
down_revision = "e9d0c0000013"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("cases") as batch_op:
        batch_op.add_column(
            sa.Column(
                "custom_values",
                sa.JSON().with_variant(JSONB(), "postgresql"),
                server_default=sa.text("'{}'"),
                nullable=False,
            )
        )


def downgrade():
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_column("custom_values")
