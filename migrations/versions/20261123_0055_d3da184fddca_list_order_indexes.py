"""list order indexes

Revision ID: d3da184fddca
Revises: 2fedef0a3898
Create Date: 2026-11-23 00:55:13.597223

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd3da184fddca'
down_revision = '2fedef0a3898'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attachments_is_deleted'))
        batch_op.create_index('ix_attachments_list_order', ['is_deleted', 'id'], unique=False)

    with op.batch_alter_table('callbacks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_callbacks_is_deleted'))
        batch_op.create_index('ix_callbacks_list_order', ['is_deleted', 'id'], unique=False)

    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calls_is_deleted'))
        batch_op.create_index('ix_calls_list_order', ['is_deleted', 'called_at', 'id'], unique=False)

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_is_deleted'))
        batch_op.drop_index(batch_op.f('ix_cases_received_at_id'))
        batch_op.create_index('ix_cases_list_order', ['is_deleted', 'received_at', 'id'], unique=False)

    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_letters_is_deleted'))
        batch_op.create_index('ix_letters_list_order', ['is_deleted', 'received_at', 'id'], unique=False)

    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_visits_is_deleted'))
        batch_op.create_index('ix_visits_list_order', ['is_deleted', 'visited_at', 'id'], unique=False)



def downgrade():
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_index('ix_visits_list_order')
        batch_op.create_index(batch_op.f('ix_visits_is_deleted'), ['is_deleted'], unique=False)

    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.drop_index('ix_letters_list_order')
        batch_op.create_index(batch_op.f('ix_letters_is_deleted'), ['is_deleted'], unique=False)

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_list_order')
        batch_op.create_index(batch_op.f('ix_cases_received_at_id'), ['received_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_is_deleted'), ['is_deleted'], unique=False)

    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_list_order')
        batch_op.create_index(batch_op.f('ix_calls_is_deleted'), ['is_deleted'], unique=False)

    with op.batch_alter_table('callbacks', schema=None) as batch_op:
        batch_op.drop_index('ix_callbacks_list_order')
        batch_op.create_index(batch_op.f('ix_callbacks_is_deleted'), ['is_deleted'], unique=False)

    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_index('ix_attachments_list_order')
        batch_op.create_index(batch_op.f('ix_attachments_is_deleted'), ['is_deleted'], unique=False)

