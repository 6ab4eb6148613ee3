"""surveys: a form number on each returned form (unique per campaign, for spreadsheet import)
and the read-only survey.view permission on the default roles (the leader reads the results)

Revision ID: g4d0c0000022
Revises: g3d0c0000021
Create Date: 2026-11-30 19:22:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "g4d0c0000022"
down_revision = "g3d0c0000021"
branch_labels = None
depends_on = None

#: Default roles that read survey results without managing surveys. Copied, not imported, so
#: later edits to models/permissions.py do not change history. Every role that manages surveys
#: (whatever an administrator named it) gets the read permission too, so nobody loses the
#: results page on upgrade.
READERS = ["admin", "leader", "supervisor"]
NEW_PERMISSION = "survey.view"
MANAGE = "survey.manage"

roles = sa.table(
    "roles",
    sa.column("id", sa.Integer),
    sa.column("code", sa.String),
    sa.column("permissions", sa.JSON),
)


def _grant(add: bool) -> None:
    connection = op.get_bind()
    for role_id, code, permissions in connection.execute(
        sa.select(roles.c.id, roles.c.code, roles.c.permissions)
    ).all():
        current = list(permissions or [])
        if add:
            if code not in READERS and MANAGE not in current:
                continue
            changed = sorted(set(current) | {NEW_PERMISSION})
        else:
            changed = [name for name in current if name != NEW_PERMISSION]
        if changed != current:
            connection.execute(
                roles.update().where(roles.c.id == role_id).values(permissions=changed)
            )


def upgrade():
    with op.batch_alter_table("survey_responses") as batch_op:
        batch_op.add_column(sa.Column("form_number", sa.String(length=40), nullable=True))
        batch_op.create_unique_constraint(
            "uq_survey_form_number", ["campaign_id", "form_number"]
        )
    _grant(add=True)


def downgrade():
    _grant(add=False)
    with op.batch_alter_table("survey_responses") as batch_op:
        batch_op.drop_constraint("uq_survey_form_number", type_="unique")
        batch_op.drop_column("form_number")
