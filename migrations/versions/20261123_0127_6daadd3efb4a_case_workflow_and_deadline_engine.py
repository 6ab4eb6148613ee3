"""case workflow and deadline engine

Revision ID: 6daadd3efb4a
Revises: d8c3d3f619b1
Create Date: 2026-11-23 01:27:08.120336

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '6daadd3efb4a'
down_revision = 'd8c3d3f619b1'
branch_labels = None
depends_on = None


CASE_STATUSES_BEFORE = [
    'registered', 'accepted', 'awaiting_instruction', 'assigned', 'in_progress',
    'result_reported', 'replied', 'closed', 'not_accepted', 'no_longer_accepted', 'kept',
    'destroyed', 'transferred', 'returned', 'under_review', 'archived',
]
CASE_STATUSES_AFTER = CASE_STATUSES_BEFORE + ['under_re_review', 'merged']
EVENT_KINDS_BEFORE = [
    'registered', 'edited', 'letter_added', 'visit_added', 'call_added', 'callback_added',
    'callback_edited', 'attachment_added', 'attachment_removed', 'contact_edited',
    'contact_removed', 'deleted',
]
EVENT_KINDS_AFTER = EVENT_KINDS_BEFORE + [
    'accept', 'not_accept', 'no_longer_accept', 'keep', 'answer_on_spot', 'propose',
    'send_for_reading', 'instruct', 'assign', 'acknowledge', 'add_assistant', 'transfer',
    'return_to_sender', 'investigate', 'urge', 'interim_report', 'request_extension',
    'decide_extension', 'pause_clock', 'resume_clock', 'report_result', 'approve_result',
    'send_back', 'reply', 'close', 'request_review', 'answer_review', 'request_re_review',
    'answer_re_review', 'archive', 'reopen', 'destroy', 'merge', 'merged_in', 'split',
    'escalated',
]

#: Role code -> workflow permissions this revision gives the default roles of existing databases.
NEW_PERMISSIONS = {
    'admin': [
        'workflow.intake', 'workflow.instruct', 'workflow.assign', 'workflow.handle',
        'workflow.approve', 'workflow.reply', 'workflow.close', 'workflow.sign_off',
        'workflow.review', 'workflow.archive',
    ],
    'registrar': ['workflow.intake'],
    'handler': ['workflow.handle'],
    'dept_head': ['workflow.handle', 'workflow.approve'],
    'office': [
        'workflow.intake', 'workflow.assign', 'workflow.reply', 'workflow.close',
        'workflow.review', 'workflow.archive',
    ],
    'leader': ['workflow.instruct', 'workflow.sign_off', 'workflow.review'],
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


def _replace_enum_check(table: str, column: str, name: str, values: list[str]) -> None:
    """Enums are VARCHAR plus a CHECK constraint; new members need a new constraint."""
    with op.batch_alter_table(table) as batch_op:
        batch_op.drop_constraint(name, type_='check')
        batch_op.create_check_constraint(name, sa.column(column).in_(values))


def upgrade():
    _replace_enum_check('cases', 'status', 'case_status', CASE_STATUSES_AFTER)
    _replace_enum_check('case_events', 'kind', 'event_kind', EVENT_KINDS_AFTER)
    op.create_table('escalation_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('clock', sa.Enum('handover', 'acceptance', 'instruction', 'handling', 'closing', 'reply', 'rectification', 'callback', 'review', 're_review', name='clock', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('trigger', sa.Enum('percent_elapsed', 'past_due', name='escalation_trigger', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('threshold', sa.Integer(), nullable=False),
    sa.Column('recipient_role', sa.String(length=40), nullable=False),
    sa.Column('same_unit_only', sa.Boolean(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('threshold >= 0', name=op.f('ck_escalation_rules_threshold_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_rules'))
    )
    op.create_table('deadline_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('clock', sa.Enum('handover', 'acceptance', 'instruction', 'handling', 'closing', 'reply', 'rectification', 'callback', 'review', 're_review', name='clock', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=True),
    sa.Column('category_kind', sa.Enum('consultation', 'complaint', 'help_request', 'suggestion', 'report', 'appeal', 'accusation', 'other', name='category_kind', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('priority', sa.Enum('normal', 'urgent', 'emergency', name='case_priority', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('channel', sa.Enum('letter', 'visit', 'call', 'online', 'opinion_box', 'higher_assignment', 'leader_instruction', 'agent', name='case_channel', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('unit', sa.Enum('hours', 'calendar_days', 'working_days', name='time_unit', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('max_extension', sa.Integer(), nullable=True),
    sa.Column('max_extension_count', sa.Integer(), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_deadline_rules_amount_positive')),
    sa.CheckConstraint('max_extension IS NULL OR max_extension >= 0', name=op.f('ck_deadline_rules_max_extension_not_negative')),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_deadline_rules_category_id_categories'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deadline_rules'))
    )
    with op.batch_alter_table('deadline_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deadline_rules_category_id'), ['category_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deadline_rules_clock'), ['clock'], unique=False)

    op.create_table('case_clocks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('handover', 'acceptance', 'instruction', 'handling', 'closing', 'reply', 'rectification', 'callback', 'review', 're_review', name='clock', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('rule_id', sa.Integer(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('unit', sa.Enum('hours', 'calendar_days', 'working_days', name='time_unit', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('max_extension', sa.Integer(), nullable=True),
    sa.Column('max_extension_count', sa.Integer(), nullable=True),
    sa.Column('fixed_due_on', sa.Date(), nullable=True),
    sa.Column('extension', sa.Integer(), nullable=False),
    sa.Column('extension_count', sa.Integer(), nullable=False),
    sa.Column('paused_amount', sa.Integer(), nullable=False),
    sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('calendar_fallback', sa.Boolean(), nullable=False),
    sa.Column('pending_extension', sa.Integer(), nullable=True),
    sa.Column('pending_reason', sa.Text(), nullable=True),
    sa.Column('pending_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('extension >= 0', name=op.f('ck_case_clocks_extension_not_negative')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_clocks_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['pending_by_id'], ['users.id'], name=op.f('fk_case_clocks_pending_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['rule_id'], ['deadline_rules.id'], name=op.f('fk_case_clocks_rule_id_deadline_rules'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_clocks'))
    )
    with op.batch_alter_table('case_clocks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_clocks_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_clocks_rule_id'), ['rule_id'], unique=False)
        batch_op.create_index('ix_case_clocks_running', ['stopped_at', 'paused_at', 'due_at'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('message', sa.String(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_notifications_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notifications_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notifications_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_notifications_user_unread', ['user_id', 'read_at', 'id'], unique=False)

    op.create_table('clock_escalations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clock_id', sa.Integer(), nullable=False),
    sa.Column('rule_id', sa.Integer(), nullable=False),
    sa.Column('fired_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['clock_id'], ['case_clocks.id'], name=op.f('fk_clock_escalations_clock_id_case_clocks'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rule_id'], ['escalation_rules.id'], name=op.f('fk_clock_escalations_rule_id_escalation_rules'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clock_escalations')),
    sa.UniqueConstraint('clock_id', 'rule_id', name='uq_clock_escalations')
    )
    with op.batch_alter_table('clock_escalations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clock_escalations_rule_id'), ['rule_id'], unique=False)

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_supervised', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('is_investigation_order', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('instruction', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('instructed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('instructed_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('result_reported_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('result_approved_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('result_approved_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('replied_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reply_method', sa.Enum('letter', 'phone', 'email', 'on_site', 'message', name='reply_method', native_enum=False, create_constraint=True, length=32), nullable=True))
        batch_op.add_column(sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('review_level', sa.SmallInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('kept_region', sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column('kept_year', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('repeat_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('parent_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_cases_closed_at'), ['closed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_merged_into_id'), ['merged_into_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_parent_id'), ['parent_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_cases_merged_into_id_cases'), 'cases', ['merged_into_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_cases_parent_id_cases'), 'cases', ['parent_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_cases_result_approved_by_id_users'), 'users', ['result_approved_by_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_cases_instructed_by_id_users'), 'users', ['instructed_by_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.add_column(sa.Column('out_of_scope_policy', sa.Enum('transfer', 'return_only', 'via_office', name='out_of_scope_policy', native_enum=False, create_constraint=True, length=32), nullable=True))


    _change_role_permissions(add=True)


def downgrade():
    _change_role_permissions(add=False)
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.drop_constraint('out_of_scope_policy', type_='check')
        batch_op.drop_column('out_of_scope_policy')

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_cases_instructed_by_id_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_cases_result_approved_by_id_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_cases_parent_id_cases'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_cases_merged_into_id_cases'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_cases_parent_id'))
        batch_op.drop_index(batch_op.f('ix_cases_merged_into_id'))
        batch_op.drop_index(batch_op.f('ix_cases_closed_at'))
        batch_op.drop_column('parent_id')
        batch_op.drop_column('merged_into_id')
        batch_op.drop_column('repeat_count')
        batch_op.drop_column('kept_year')
        batch_op.drop_column('kept_region')
        batch_op.drop_column('review_level')
        batch_op.drop_column('archived_at')
        batch_op.drop_column('closed_at')
        batch_op.drop_constraint('reply_method', type_='check')
        batch_op.drop_column('reply_method')
        batch_op.drop_column('replied_at')
        batch_op.drop_column('result_approved_by_id')
        batch_op.drop_column('result_approved_at')
        batch_op.drop_column('result_reported_at')
        batch_op.drop_column('acknowledged_at')
        batch_op.drop_column('assigned_at')
        batch_op.drop_column('instructed_by_id')
        batch_op.drop_column('instructed_at')
        batch_op.drop_column('instruction')
        batch_op.drop_column('accepted_at')
        batch_op.drop_column('is_investigation_order')
        batch_op.drop_column('is_supervised')

    with op.batch_alter_table('clock_escalations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clock_escalations_rule_id'))

    op.drop_table('clock_escalations')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_user_unread')
        batch_op.drop_index(batch_op.f('ix_notifications_case_id'))

    op.drop_table('notifications')
    with op.batch_alter_table('case_clocks', schema=None) as batch_op:
        batch_op.drop_index('ix_case_clocks_running')
        batch_op.drop_index(batch_op.f('ix_case_clocks_rule_id'))
        batch_op.drop_index(batch_op.f('ix_case_clocks_case_id'))

    op.drop_table('case_clocks')
    with op.batch_alter_table('deadline_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deadline_rules_clock'))
        batch_op.drop_index(batch_op.f('ix_deadline_rules_category_id'))

    op.drop_table('deadline_rules')
    op.drop_table('escalation_rules')
    _replace_enum_check('case_events', 'kind', 'event_kind', EVENT_KINDS_BEFORE)
    _replace_enum_check('cases', 'status', 'case_status', CASE_STATUSES_BEFORE)
