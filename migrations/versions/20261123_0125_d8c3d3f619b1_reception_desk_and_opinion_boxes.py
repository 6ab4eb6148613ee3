"""reception desk: appointments, passes, incidents, reception days, opinion boxes

Revision ID: d8c3d3f619b1
Revises: 7d6a553bcefd
Create Date: 2026-11-23 01:25:58.976132

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd8c3d3f619b1'
down_revision = '7d6a553bcefd'
branch_labels = None
depends_on = None

#: Role code -> permissions this revision adds to the default roles of existing databases.
NEW_PERMISSIONS = {
    'admin': ['reception.manage', 'reception.approve', 'reception.schedule'],
    'registrar': ['reception.manage'],
    'office': ['reception.manage', 'reception.schedule'],
    'dept_head': ['reception.approve'],
    'leader': ['reception.approve'],
}

roles = sa.table(
    'roles',
    sa.column('id', sa.Integer),
    sa.column('code', sa.String),
    sa.column('permissions', sa.JSON),
)


def _change_role_permissions(add: bool) -> None:
    """Add (or remove) the reception permissions on the default role rows."""
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
    op.create_table('opinion_boxes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('location', sa.String(length=120), nullable=True),
    sa.Column('opener_id', sa.Integer(), nullable=True),
    sa.Column('interval_days', sa.Integer(), nullable=False),
    sa.Column('next_due_on', sa.Date(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('interval_days >= 1 AND interval_days <= 366', name=op.f('ck_opinion_boxes_interval_range')),
    sa.ForeignKeyConstraint(['opener_id'], ['users.id'], name=op.f('fk_opinion_boxes_opener_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opinion_boxes'))
    )
    with op.batch_alter_table('opinion_boxes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_opinion_boxes_next_due_on'), ['next_due_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_opinion_boxes_opener_id'), ['opener_id'], unique=False)

    op.create_table('reception_leaders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('post', sa.String(length=64), nullable=False),
    sa.Column('portfolio', sa.String(length=200), nullable=True),
    sa.Column('departments', sa.String(length=200), nullable=True),
    sa.Column('contact', sa.String(length=64), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_reception_leaders_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reception_leaders'))
    )
    with op.batch_alter_table('reception_leaders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reception_leaders_user_id'), ['user_id'], unique=False)

    op.create_table('leader_absences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('leader_id', sa.Integer(), nullable=False),
    sa.Column('deputy_id', sa.Integer(), nullable=True),
    sa.Column('first_day', sa.Date(), nullable=False),
    sa.Column('last_day', sa.Date(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('last_day >= first_day', name=op.f('ck_leader_absences_day_order')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_leader_absences_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['deputy_id'], ['reception_leaders.id'], name=op.f('fk_leader_absences_deputy_id_reception_leaders'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['leader_id'], ['reception_leaders.id'], name=op.f('fk_leader_absences_leader_id_reception_leaders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_leader_absences'))
    )
    with op.batch_alter_table('leader_absences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_leader_absences_created_by_id'), ['created_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_leader_absences_deputy_id'), ['deputy_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_leader_absences_leader_id'), ['leader_id'], unique=False)

    op.create_table('opinion_box_openings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('box_id', sa.Integer(), nullable=False),
    sa.Column('opened_on', sa.Date(), nullable=False),
    sa.Column('opener_id', sa.Integer(), nullable=True),
    sa.Column('slip_count', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('slip_count >= 0', name=op.f('ck_opinion_box_openings_slip_count_positive')),
    sa.ForeignKeyConstraint(['box_id'], ['opinion_boxes.id'], name=op.f('fk_opinion_box_openings_box_id_opinion_boxes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_opinion_box_openings_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['opener_id'], ['users.id'], name=op.f('fk_opinion_box_openings_opener_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opinion_box_openings'))
    )
    with op.batch_alter_table('opinion_box_openings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_opinion_box_openings_box_id'), ['box_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_opinion_box_openings_created_by_id'), ['created_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_opinion_box_openings_opened_on'), ['opened_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_opinion_box_openings_opener_id'), ['opener_id'], unique=False)

    op.create_table('reception_schedules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('recurrence', sa.Enum('weekly', 'monthly_weekday', 'monthly_day', name='reception_recurrence', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('weekday', sa.SmallInteger(), nullable=True),
    sa.Column('week_of_month', sa.SmallInteger(), nullable=True),
    sa.Column('day_of_month', sa.SmallInteger(), nullable=True),
    sa.Column('start_time', sa.Time(), nullable=False),
    sa.Column('end_time', sa.Time(), nullable=False),
    sa.Column('place', sa.String(length=120), nullable=False),
    sa.Column('leader_id', sa.Integer(), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('day_of_month IS NULL OR (day_of_month >= 1 AND day_of_month <= 31)', name=op.f('ck_reception_schedules_day_of_month')),
    sa.CheckConstraint('end_time > start_time', name=op.f('ck_reception_schedules_slot_order')),
    sa.CheckConstraint('week_of_month IS NULL OR (week_of_month >= 1 AND week_of_month <= 5)', name=op.f('ck_reception_schedules_week_of_month')),
    sa.CheckConstraint('weekday IS NULL OR (weekday >= 0 AND weekday <= 6)', name=op.f('ck_reception_schedules_weekday')),
    sa.ForeignKeyConstraint(['leader_id'], ['reception_leaders.id'], name=op.f('fk_reception_schedules_leader_id_reception_leaders'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reception_schedules'))
    )
    with op.batch_alter_table('reception_schedules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reception_schedules_leader_id'), ['leader_id'], unique=False)

    op.create_table('appointments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('appointment', 'application', name='appointment_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('channel', sa.Enum('phone', 'email', 'platform', 'in_person', name='appointment_channel', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('status', sa.Enum('pending', 'approved', 'rejected', 'cancelled', name='appointment_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('party_id', sa.Integer(), nullable=True),
    sa.Column('visitor_name', sa.String(length=64), nullable=False),
    sa.Column('gender', sa.Enum('male', 'female', 'unknown', name='appointment_gender', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('id_type', sa.Enum('resident_id', 'driving_licence', 'work_card', 'passport', 'hk_macao_permit', 'other', name='appointment_id_type', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('id_number', sa.String(length=32), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('work_unit', sa.String(length=120), nullable=True),
    sa.Column('head_count', sa.Integer(), nullable=False),
    sa.Column('host_id', sa.Integer(), nullable=True),
    sa.Column('unit_id', sa.Integer(), nullable=True),
    sa.Column('expected_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('purpose', sa.String(length=200), nullable=False),
    sa.Column('signature_confirmed', sa.Boolean(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sa.String(length=200), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('is_deleted', sa.Boolean(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deleted_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('head_count >= 1', name=op.f('ck_appointments_head_count_positive')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_appointments_case_id_cases'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_appointments_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_appointments_decided_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['deleted_by_id'], ['users.id'], name=op.f('fk_appointments_deleted_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['host_id'], ['users.id'], name=op.f('fk_appointments_host_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['party_id'], ['parties.id'], name=op.f('fk_appointments_party_id_parties'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_appointments_unit_id_units'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointments'))
    )
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appointments_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointments_created_by_id'), ['created_by_id'], unique=False)
        batch_op.create_index('ix_appointments_day_order', ['is_deleted', 'expected_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointments_decided_by_id'), ['decided_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointments_expected_at'), ['expected_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointments_host_id'), ['host_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointments_id_number'), ['id_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointments_party_id'), ['party_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointments_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointments_unit_id'), ['unit_id'], unique=False)

    op.create_table('opinion_slip_cases',
    sa.Column('opening_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_opinion_slip_cases_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['opening_id'], ['opinion_box_openings.id'], name=op.f('fk_opinion_slip_cases_opening_id_opinion_box_openings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('opening_id', 'case_id', name=op.f('pk_opinion_slip_cases'))
    )
    op.create_table('reception_rota_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('schedule_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('leader_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['leader_id'], ['reception_leaders.id'], name=op.f('fk_reception_rota_members_leader_id_reception_leaders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['schedule_id'], ['reception_schedules.id'], name=op.f('fk_reception_rota_members_schedule_id_reception_schedules'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reception_rota_members'))
    )
    with op.batch_alter_table('reception_rota_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reception_rota_members_leader_id'), ['leader_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reception_rota_members_schedule_id'), ['schedule_id'], unique=False)

    op.create_table('reception_queue_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('schedule_id', sa.Integer(), nullable=False),
    sa.Column('leader_id', sa.Integer(), nullable=True),
    sa.Column('queue_number', sa.Integer(), nullable=False),
    sa.Column('party_id', sa.Integer(), nullable=True),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=True),
    sa.Column('purpose', sa.String(length=200), nullable=False),
    sa.Column('status', sa.Enum('waiting', 'received', 'absent', name='queue_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_reception_queue_entries_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_reception_queue_entries_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['leader_id'], ['reception_leaders.id'], name=op.f('fk_reception_queue_entries_leader_id_reception_leaders'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['party_id'], ['parties.id'], name=op.f('fk_reception_queue_entries_party_id_parties'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['schedule_id'], ['reception_schedules.id'], name=op.f('fk_reception_queue_entries_schedule_id_reception_schedules'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_reception_queue_entries_visit_id_visits'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reception_queue_entries')),
    sa.UniqueConstraint('day', 'schedule_id', 'queue_number', name='uq_reception_queue_entries_number')
    )
    with op.batch_alter_table('reception_queue_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reception_queue_entries_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reception_queue_entries_created_by_id'), ['created_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reception_queue_entries_day'), ['day'], unique=False)
        batch_op.create_index(batch_op.f('ix_reception_queue_entries_leader_id'), ['leader_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reception_queue_entries_party_id'), ['party_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reception_queue_entries_schedule_id'), ['schedule_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reception_queue_entries_visit_id'), ['visit_id'], unique=False)

    op.create_table('visitor_passes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pass_number', sa.String(length=20), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=True),
    sa.Column('party_id', sa.Integer(), nullable=True),
    sa.Column('visitor_name', sa.String(length=64), nullable=False),
    sa.Column('id_type', sa.Enum('resident_id', 'driving_licence', 'work_card', 'passport', 'hk_macao_permit', 'other', name='pass_id_type', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('id_number', sa.String(length=32), nullable=True),
    sa.Column('id_checked', sa.Boolean(), nullable=False),
    sa.Column('host_id', sa.Integer(), nullable=True),
    sa.Column('host_name', sa.String(length=64), nullable=True),
    sa.Column('host_confirmed', sa.Boolean(), nullable=False),
    sa.Column('purpose', sa.String(length=200), nullable=True),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('returned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('returned_to_id', sa.Integer(), nullable=True),
    sa.Column('escorted_out', sa.Boolean(), nullable=False),
    sa.Column('feedback_rating', sa.Enum('satisfied', 'basically_satisfied', 'dissatisfied', name='pass_feedback_rating', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('feedback_comment', sa.String(length=500), nullable=True),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('feedback_rating IS NULL OR returned_at IS NOT NULL', name=op.f('ck_visitor_passes_feedback_after_return')),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'], name=op.f('fk_visitor_passes_appointment_id_appointments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_visitor_passes_case_id_cases'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_visitor_passes_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['host_id'], ['users.id'], name=op.f('fk_visitor_passes_host_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['party_id'], ['parties.id'], name=op.f('fk_visitor_passes_party_id_parties'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['returned_to_id'], ['users.id'], name=op.f('fk_visitor_passes_returned_to_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visitor_passes'))
    )
    with op.batch_alter_table('visitor_passes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_visitor_passes_appointment_id'), ['appointment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_visitor_passes_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_visitor_passes_created_by_id'), ['created_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_visitor_passes_feedback_rating'), ['feedback_rating'], unique=False)
        batch_op.create_index(batch_op.f('ix_visitor_passes_host_id'), ['host_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_visitor_passes_id_number'), ['id_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_visitor_passes_issued_at'), ['issued_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_visitor_passes_party_id'), ['party_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_visitor_passes_pass_number'), ['pass_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_visitor_passes_returned_at'), ['returned_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_visitor_passes_returned_to_id'), ['returned_to_id'], unique=False)
        batch_op.create_index('uq_visitor_passes_number_out', ['pass_number'], unique=True, sqlite_where=sa.text('returned_at IS NULL'), postgresql_where=sa.text('returned_at IS NULL'))

    op.create_table('visit_incidents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pass_id', sa.Integer(), nullable=True),
    sa.Column('party_id', sa.Integer(), nullable=True),
    sa.Column('visitor_name', sa.String(length=64), nullable=False),
    sa.Column('id_number', sa.String(length=32), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.Enum('refused_inspection', 'restricted_area', 'disruptive', 'no_identity', 'other', name='incident_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('measure', sa.Enum('warning', 'escorted_out', 'banned', 'police_called', name='incident_measure', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_visit_incidents_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['party_id'], ['parties.id'], name=op.f('fk_visit_incidents_party_id_parties'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['pass_id'], ['visitor_passes.id'], name=op.f('fk_visit_incidents_pass_id_visitor_passes'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visit_incidents'))
    )
    with op.batch_alter_table('visit_incidents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_visit_incidents_created_by_id'), ['created_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_visit_incidents_id_number'), ['id_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_visit_incidents_measure'), ['measure'], unique=False)
        batch_op.create_index(batch_op.f('ix_visit_incidents_occurred_at'), ['occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_visit_incidents_party_id'), ['party_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_visit_incidents_pass_id'), ['pass_id'], unique=False)

    _change_role_permissions(add=True)


def downgrade():
    _change_role_permissions(add=False)
    with op.batch_alter_table('visit_incidents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_visit_incidents_pass_id'))
        batch_op.drop_index(batch_op.f('ix_visit_incidents_party_id'))
        batch_op.drop_index(batch_op.f('ix_visit_incidents_occurred_at'))
        batch_op.drop_index(batch_op.f('ix_visit_incidents_measure'))
        batch_op.drop_index(batch_op.f('ix_visit_incidents_id_number'))
        batch_op.drop_index(batch_op.f('ix_visit_incidents_created_by_id'))

    op.drop_table('visit_incidents')
    with op.batch_alter_table('visitor_passes', schema=None) as batch_op:
        batch_op.drop_index('uq_visitor_passes_number_out', sqlite_where=sa.text('returned_at IS NULL'), postgresql_where=sa.text('returned_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_visitor_passes_returned_to_id'))
        batch_op.drop_index(batch_op.f('ix_visitor_passes_returned_at'))
        batch_op.drop_index(batch_op.f('ix_visitor_passes_pass_number'))
        batch_op.drop_index(batch_op.f('ix_visitor_passes_party_id'))
        batch_op.drop_index(batch_op.f('ix_visitor_passes_issued_at'))
        batch_op.drop_index(batch_op.f('ix_visitor_passes_id_number'))
        batch_op.drop_index(batch_op.f('ix_visitor_passes_host_id'))
        batch_op.drop_index(batch_op.f('ix_visitor_passes_feedback_rating'))
        batch_op.drop_index(batch_op.f('ix_visitor_passes_created_by_id'))
        batch_op.drop_index(batch_op.f('ix_visitor_passes_case_id'))
        batch_op.drop_index(batch_op.f('ix_visitor_passes_appointment_id'))

    op.drop_table('visitor_passes')
    with op.batch_alter_table('reception_queue_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reception_queue_entries_visit_id'))
        batch_op.drop_index(batch_op.f('ix_reception_queue_entries_schedule_id'))
        batch_op.drop_index(batch_op.f('ix_reception_queue_entries_party_id'))
        batch_op.drop_index(batch_op.f('ix_reception_queue_entries_leader_id'))
        batch_op.drop_index(batch_op.f('ix_reception_queue_entries_day'))
        batch_op.drop_index(batch_op.f('ix_reception_queue_entries_created_by_id'))
        batch_op.drop_index(batch_op.f('ix_reception_queue_entries_case_id'))

    op.drop_table('reception_queue_entries')
    with op.batch_alter_table('reception_rota_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reception_rota_members_schedule_id'))
        batch_op.drop_index(batch_op.f('ix_reception_rota_members_leader_id'))

    op.drop_table('reception_rota_members')
    op.drop_table('opinion_slip_cases')
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appointments_unit_id'))
        batch_op.drop_index(batch_op.f('ix_appointments_status'))
        batch_op.drop_index(batch_op.f('ix_appointments_party_id'))
        batch_op.drop_index(batch_op.f('ix_appointments_id_number'))
        batch_op.drop_index(batch_op.f('ix_appointments_host_id'))
        batch_op.drop_index(batch_op.f('ix_appointments_expected_at'))
        batch_op.drop_index(batch_op.f('ix_appointments_decided_by_id'))
        batch_op.drop_index('ix_appointments_day_order')
        batch_op.drop_index(batch_op.f('ix_appointments_created_by_id'))
        batch_op.drop_index(batch_op.f('ix_appointments_case_id'))

    op.drop_table('appointments')
    with op.batch_alter_table('reception_schedules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reception_schedules_leader_id'))

    op.drop_table('reception_schedules')
    with op.batch_alter_table('opinion_box_openings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_opinion_box_openings_opener_id'))
        batch_op.drop_index(batch_op.f('ix_opinion_box_openings_opened_on'))
        batch_op.drop_index(batch_op.f('ix_opinion_box_openings_created_by_id'))
        batch_op.drop_index(batch_op.f('ix_opinion_box_openings_box_id'))

    op.drop_table('opinion_box_openings')
    with op.batch_alter_table('leader_absences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_leader_absences_leader_id'))
        batch_op.drop_index(batch_op.f('ix_leader_absences_deputy_id'))
        batch_op.drop_index(batch_op.f('ix_leader_absences_created_by_id'))

    op.drop_table('leader_absences')
    with op.batch_alter_table('reception_leaders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reception_leaders_user_id'))

    op.drop_table('reception_leaders')
    with op.batch_alter_table('opinion_boxes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_opinion_boxes_opener_id'))
        batch_op.drop_index(batch_op.f('ix_opinion_boxes_next_due_on'))

    op.drop_table('opinion_boxes')
