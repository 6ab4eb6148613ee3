"""access control: audit log table; view, export and audit-log permissions on default roles

Revision ID: e6d0c0000006
Revises: e5d0c0000005
Create Date: 2026-11-29 11:30:00.000000

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = 'e6d0c0000006'
down_revision = 'e5d0c0000005'
branch_labels = None
depends_on = None

#: Role code -> permissions this revision adds to the default roles of existing databases.
#: Copied, not imported, so later edits to models/permissions.py do not change history.
NEW_PERMISSIONS = {
    'admin': ['audit.read_log', 'case.export', 'case.view'],
    'registrar': ['case.view'],
    'handler': ['case.view'],
    'dept_head': ['case.export', 'case.view'],
    'office': ['case.export', 'case.view', 'confidential.view'],
    'leader': ['case.export', 'case.view'],
    'supervisor': ['audit.read_log', 'case.export', 'case.view'],
}

roles = sa.table(
    'roles',
    sa.column('id', sa.Integer),
    sa.column('code', sa.String),
    sa.column('permissions', sa.JSON),
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
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('target_type', sa.String(length=60), nullable=True),
    sa.Column('target_id', sa.String(length=40), nullable=True),
    sa.Column('summary', sa.String(length=300), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('ip_address', sa.String(length=45), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_audit_log_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)
        batch_op.create_index('ix_audit_log_target', ['target_type', 'target_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_target_type'), ['target_type'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_user_id'), ['user_id'], unique=False)
    _change_role_permissions(add=True)


def downgrade():
    _change_role_permissions(add=False)
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_user_id'))
        batch_op.drop_index(batch_op.f('ix_audit_log_target_type'))
        batch_op.drop_index('ix_audit_log_target')
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))
        batch_op.drop_index(batch_op.f('ix_audit_log_action'))

    op.drop_table('audit_log')
