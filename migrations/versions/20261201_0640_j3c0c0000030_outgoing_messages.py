"""outgoing messages: e-mail to staff and messages to petitioners, their templates, and the
staff's e-mail preferences (issue 18)

Revision ID: j3c0c0000030
Revises: j2c0c0000030
Create Date: 2026-12-01 06:30:00.000000

``outgoing_messages`` records every message (recipient, channel, kind, case, status, attempts,
last error, times); ``message_templates`` holds an office's wording of the petitioner messages;
``users`` gets ``email``, ``email_delivery`` and ``email_kinds``.

Written on j2b0c0000029 (the head given for issue 18); moved on top of j2c0c0000030, which
reached main first.
"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'j3c0c0000030'
down_revision = 'j2c0c0000030'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('message_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('assignment', 'due_soon', 'overdue', 'escalation', 'callback_due', 'digest', 'acceptance', 'transfer', 'extension', 'reply_ready', name='message_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.String(length=1000), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_templates')),
    sa.UniqueConstraint('kind', name=op.f('uq_message_templates_kind'))
    )
    op.create_table('outgoing_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.Enum('email', 'sms', name='message_channel', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('kind', sa.Enum('assignment', 'due_soon', 'overdue', 'escalation', 'callback_due', 'digest', 'acceptance', 'transfer', 'extension', 'reply_ready', name='message_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('status', sa.Enum('queued', 'sent', 'failed', 'held', 'bundled', name='message_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('recipient_user_id', sa.Integer(), nullable=True),
    sa.Column('recipient_party_id', sa.Integer(), nullable=True),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('digest_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_outgoing_messages_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['digest_id'], ['outgoing_messages.id'], name=op.f('fk_outgoing_messages_digest_id_outgoing_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['recipient_party_id'], ['parties.id'], name=op.f('fk_outgoing_messages_recipient_party_id_parties'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['recipient_user_id'], ['users.id'], name=op.f('fk_outgoing_messages_recipient_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outgoing_messages'))
    )
    with op.batch_alter_table('outgoing_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outgoing_messages_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_outgoing_messages_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outgoing_messages_recipient_party_id'), ['recipient_party_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outgoing_messages_recipient_user_id'), ['recipient_user_id'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('email_delivery', sa.String(length=16), server_default='immediate', nullable=False))
        batch_op.add_column(sa.Column('email_kinds', sa.String(length=200), server_default='assignment,due_soon,overdue,escalation,callback_due', nullable=False))



def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('email_kinds')
        batch_op.drop_column('email_delivery')
        batch_op.drop_column('email')

    with op.batch_alter_table('outgoing_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outgoing_messages_recipient_user_id'))
        batch_op.drop_index(batch_op.f('ix_outgoing_messages_recipient_party_id'))
        batch_op.drop_index('ix_outgoing_messages_due')
        batch_op.drop_index(batch_op.f('ix_outgoing_messages_case_id'))

    op.drop_table('outgoing_messages')
    op.drop_table('message_templates')
