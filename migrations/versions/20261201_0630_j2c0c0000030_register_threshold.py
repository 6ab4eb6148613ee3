"""registers above 50 rows render in the background (was 500)

Revision ID: j2c0c0000030
Revises: j2b0c0000029
Create Date: 2026-12-01 06:30:00.000000

A register renders at about 20 ms a row, so 500 rows kept the page waiting 7–11 s with nothing
to show. An office still on the old default moves to the new one; an office that chose another
value keeps it.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "j2c0c0000030"
down_revision = "j2b0c0000029"
branch_labels = None
depends_on = None

SETTINGS = sa.table("system_settings", sa.column("key", sa.String), sa.column("value", sa.String))


def _move(old: str, new: str) -> None:
    op.execute(
        SETTINGS.update()
        .where(SETTINGS.c.key == "register_background_rows", SETTINGS.c.value == old)
        .values(value=new)
    )


def upgrade():
    _move("500", "50")


def downgrade():
    _move("50", "500")
