"""documents and registers

Revision ID: e5d0c0000005
Revises: 6daadd3efb4a
Create Date: 2026-11-29 11:15:00.651813

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5d0c0000005'
down_revision = '6daadd3efb4a'
branch_labels = None
depends_on = None

EVENT_KINDS_BEFORE = [
    'registered', 'edited', 'letter_added', 'visit_added', 'call_added', 'callback_added',
    'callback_edited', 'attachment_added', 'attachment_removed', 'contact_edited',
    'contact_removed', 'deleted',
    'accept', 'not_accept', 'no_longer_accept', 'keep', 'answer_on_spot', 'propose',
    'send_for_reading', 'instruct', 'assign', 'acknowledge', 'add_assistant', 'transfer',
    'return_to_sender', 'investigate', 'urge', 'interim_report', 'request_extension',
    'decide_extension', 'pause_clock', 'resume_clock', 'report_result', 'approve_result',
    'send_back', 'reply', 'close', 'request_review', 'answer_review', 'request_re_review',
    'answer_re_review', 'archive', 'reopen', 'destroy', 'merge', 'merged_in', 'split',
    'escalated',
]
EVENT_KINDS_AFTER = EVENT_KINDS_BEFORE + ['document_issued']

#: Role code -> permissions this revision gives the default roles of existing databases.
NEW_PERMISSIONS = {
    'admin': ['document.print', 'register.print'],
    'registrar': ['document.print', 'register.print'],
    'handler': ['document.print'],
    'dept_head': ['document.print'],
    'office': ['document.print', 'register.print'],
    'leader': ['document.print'],
    'supervisor': ['register.print'],
}

roles = sa.table(
    'roles',
    sa.column('id', sa.Integer),
    sa.column('code', sa.String),
    sa.column('permissions', sa.JSON),
)


def _change_role_permissions(add: bool) -> None:
    """Add (or remove) the printing permissions on the default role rows."""
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


def _replace_enum_check(table: str, column: str, name: str, values: list[str]) -> None:
    """Enums are VARCHAR plus a CHECK constraint; new members need a new constraint."""
    with op.batch_alter_table(table) as batch_op:
        batch_op.drop_constraint(name, type_='check')
        batch_op.create_check_constraint(name, sa.column(column).in_(values))


def upgrade():
    _replace_enum_check('case_events', 'kind', 'event_kind', EVENT_KINDS_AFTER)
    op.create_table('document_templates',
    sa.Column('kind', sa.Enum('reply_letter', 'acceptance_notice', 'non_acceptance_notice', 'handover_notice', 'extension_notice', 'supervision_card', 'complaint_notice', 'return_letter', 'callback_record', 'review_opinion', name='document_template_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_document_templates_updated_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('kind', name=op.f('pk_document_templates'))
    )
    op.create_table('register_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('letters', 'visits', 'calls', 'complaints', 'callbacks', 'overdue', name='register_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('status', sa.Enum('queued', 'running', 'done', 'failed', name='register_job_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('progress', sa.SmallInteger(), nullable=False),
    sa.Column('row_count', sa.Integer(), nullable=True),
    sa.Column('page_count', sa.Integer(), nullable=True),
    sa.Column('message', sa.String(length=300), nullable=True),
    sa.Column('runner', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('pdf', sa.LargeBinary(), nullable=True),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_register_jobs_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_register_jobs'))
    )
    with op.batch_alter_table('register_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_register_jobs_created_by_id'), ['created_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_register_jobs_status'), ['status'], unique=False)

    op.create_table('issued_documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('reply_letter', 'acceptance_notice', 'non_acceptance_notice', 'handover_notice', 'extension_notice', 'supervision_card', 'complaint_notice', 'return_letter', 'callback_record', 'review_opinion', name='document_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('source_event_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('number', sa.String(length=60), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=True),
    sa.Column('year', sa.SmallInteger(), nullable=True),
    sa.Column('seq', sa.Integer(), nullable=True),
    sa.Column('issued_on', sa.Date(), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued_by_id', sa.Integer(), nullable=True),
    sa.Column('pdf', sa.LargeBinary(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_issued_documents_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['issued_by_id'], ['users.id'], name=op.f('fk_issued_documents_issued_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['source_event_id'], ['case_events.id'], name=op.f('fk_issued_documents_source_event_id_case_events'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_issued_documents_unit_id_units'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issued_documents')),
    sa.UniqueConstraint('case_id', 'kind', 'source_event_id', name='uq_issued_documents_case_kind_event'),
    sa.UniqueConstraint('unit_id', 'year', 'seq', name='uq_issued_documents_unit_year_seq')
    )
    with op.batch_alter_table('issued_documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issued_documents_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_issued_documents_issued_by_id'), ['issued_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_issued_documents_source_event_id'), ['source_event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_issued_documents_unit_id'), ['unit_id'], unique=False)

    _change_role_permissions(add=True)


def downgrade():
    _change_role_permissions(add=False)
    with op.batch_alter_table('issued_documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_issued_documents_unit_id'))
        batch_op.drop_index(batch_op.f('ix_issued_documents_source_event_id'))
        batch_op.drop_index(batch_op.f('ix_issued_documents_issued_by_id'))
        batch_op.drop_index(batch_op.f('ix_issued_documents_case_id'))

    op.drop_table('issued_documents')
    with op.batch_alter_table('register_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_register_jobs_status'))
        batch_op.drop_index(batch_op.f('ix_register_jobs_created_by_id'))

    op.drop_table('register_jobs')
    op.drop_table('document_templates')
    op.execute(sa.text("DELETE FROM case_events WHERE kind = 'document_issued'"))
    _replace_enum_check('case_events', 'kind', 'event_kind', EVENT_KINDS_BEFORE)
