"""initial schema

Revision ID: 2fedef0a3898
Revises:
Create Date: 2026-11-23 00:34:44.342352

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "2fedef0a3898"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        # Trigram indexes serve the substring searches on names and subjects.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "consultation",
                "complaint",
                "help_request",
                "suggestion",
                "report",
                "appeal",
                "accusation",
                "other",
                name="category_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["categories.id"],
            name=op.f("fk_categories_parent_id_categories"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_categories")),
        sa.UniqueConstraint("code", name=op.f("uq_categories_code")),
        sa.UniqueConstraint("parent_id", "name", name="uq_categories_parent_name"),
    )
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_categories_is_active"), ["is_active"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_categories_kind"), ["kind"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_categories_parent_id"), ["parent_id"], unique=False
        )

    op.create_table(
        "number_sequences",
        sa.Column("register", sa.String(length=20), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("last_value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("register", "year", name=op.f("pk_number_sequences")),
    )
    op.create_table(
        "roles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roles")),
        sa.UniqueConstraint("code", name=op.f("uq_roles_code")),
        sa.UniqueConstraint("name", name=op.f("uq_roles_name")),
    )
    op.create_table(
        "system_settings",
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("value", sa.String(length=500), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_system_settings")),
    )
    op.create_table(
        "units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("short_name", sa.String(length=40), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "office",
                "department",
                "leadership",
                "higher_body",
                "external",
                name="unit_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("doc_code", sa.String(length=20), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("contact_phone", sa.String(length=32), nullable=True),
        sa.Column("address", sa.String(length=200), nullable=True),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["units.id"],
            name=op.f("fk_units_parent_id_units"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_units")),
        sa.UniqueConstraint("parent_id", "name", name="uq_units_parent_name"),
    )
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_units_is_active"), ["is_active"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_units_kind"), ["kind"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_units_parent_id"), ["parent_id"], unique=False
        )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("full_name", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("position", sa.String(length=64), nullable=True),
        sa.Column("is_active_user", sa.Boolean(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("session_token", sa.String(length=64), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["units.id"],
            name=op.f("fk_users_unit_id_units"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("session_token", name=op.f("uq_users_session_token")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "parties",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column(
            "gender",
            sa.Enum(
                "male",
                "female",
                "unknown",
                name="gender",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("age", sa.SmallInteger(), nullable=True),
        sa.Column(
            "id_type",
            sa.Enum(
                "resident_id",
                "driving_licence",
                "work_card",
                "passport",
                "hk_macao_permit",
                "other",
                name="id_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("id_number", sa.String(length=32), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("email", sa.String(length=120), nullable=True),
        sa.Column("work_unit", sa.String(length=120), nullable=True),
        sa.Column("address", sa.String(length=200), nullable=True),
        sa.Column("is_repeat_petitioner", sa.Boolean(), nullable=False),
        sa.Column("is_important_customer", sa.Boolean(), nullable=False),
        sa.Column("is_banned", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "age IS NULL OR (age >= 0 AND age <= 150)",
            name=op.f("ck_parties_age_range"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_parties_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parties")),
    )
    with op.batch_alter_table("parties", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_parties_created_by_id"), ["created_by_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_parties_id_number"), ["id_number"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_parties_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_parties_phone"), ["phone"], unique=False)

    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["roles.id"],
            name=op.f("fk_user_roles_role_id_roles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_roles_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "role_id", name=op.f("pk_user_roles")),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("register", sa.String(length=20), nullable=False),
        sa.Column("register_year", sa.SmallInteger(), nullable=False),
        sa.Column("register_seq", sa.Integer(), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "letter",
                "visit",
                "call",
                "online",
                "opinion_box",
                "higher_assignment",
                "leader_instruction",
                "agent",
                name="case_channel",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column(
            "priority",
            sa.Enum(
                "normal",
                "urgent",
                "emergency",
                name="case_priority",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "registered",
                "accepted",
                "awaiting_instruction",
                "assigned",
                "in_progress",
                "result_reported",
                "replied",
                "closed",
                "not_accepted",
                "no_longer_accepted",
                "kept",
                "destroyed",
                "transferred",
                "returned",
                "under_review",
                "archived",
                name="case_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("is_important", sa.Boolean(), nullable=False),
        sa.Column("is_major", sa.Boolean(), nullable=False),
        sa.Column("is_difficult", sa.Boolean(), nullable=False),
        sa.Column("is_sensitive", sa.Boolean(), nullable=False),
        sa.Column("is_anonymous", sa.Boolean(), nullable=False),
        sa.Column("is_group", sa.Boolean(), nullable=False),
        sa.Column("head_count", sa.Integer(), nullable=False),
        sa.Column("representatives", sa.String(length=200), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("demands", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("petitioner_names", sa.String(length=400), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("handling_unit_id", sa.Integer(), nullable=True),
        sa.Column("handler_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "head_count >= 1", name=op.f("ck_cases_head_count_positive")
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["parties.id"],
            name=op.f("fk_cases_agent_id_parties"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
            name=op.f("fk_cases_category_id_categories"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_cases_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deleted_by_id"],
            ["users.id"],
            name=op.f("fk_cases_deleted_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["handler_id"],
            ["users.id"],
            name=op.f("fk_cases_handler_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["handling_unit_id"],
            ["units.id"],
            name=op.f("fk_cases_handling_unit_id_units"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("number", name=op.f("uq_cases_number")),
        sa.UniqueConstraint(
            "register", "register_year", "register_seq", name="uq_cases_register_seq"
        ),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cases_agent_id"), ["agent_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_cases_category_id"), ["category_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_cases_channel"), ["channel"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_cases_created_by_id"), ["created_by_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_cases_handler_id"), ["handler_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_cases_handling_unit_id"), ["handling_unit_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_cases_is_deleted"), ["is_deleted"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_cases_petitioner_names"), ["petitioner_names"], unique=False
        )
        batch_op.create_index(
            "ix_cases_petitioner_names_trgm",
            ["petitioner_names"],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={"petitioner_names": "gin_trgm_ops"},
        )
        batch_op.create_index(
            batch_op.f("ix_cases_priority"), ["priority"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_cases_received_at"), ["received_at"], unique=False
        )
        batch_op.create_index(
            "ix_cases_received_at_id", ["received_at", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_cases_status"), ["status"], unique=False)
        batch_op.create_index(
            "ix_cases_subject_trgm",
            ["subject"],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={"subject": "gin_trgm_ops"},
        )

    op.create_table(
        "callbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column(
            "method",
            sa.Enum(
                "phone",
                "home_visit",
                "on_site",
                "symposium",
                "questionnaire",
                "message",
                "other",
                name="callback_method",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("caller_id", sa.Integer(), nullable=True),
        sa.Column("person_reached", sa.String(length=64), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "satisfaction",
            sa.Enum(
                "satisfied",
                "basically_satisfied",
                "dissatisfied",
                name="satisfaction",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("opinion", sa.Text(), nullable=True),
        sa.Column("problem_remains", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "satisfaction IS NULL OR done_at IS NOT NULL",
            name=op.f("ck_callbacks_satisfaction_needs_done_at"),
        ),
        sa.ForeignKeyConstraint(
            ["caller_id"],
            ["users.id"],
            name=op.f("fk_callbacks_caller_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_callbacks_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_callbacks_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deleted_by_id"],
            ["users.id"],
            name=op.f("fk_callbacks_deleted_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callbacks")),
    )
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_callbacks_caller_id"), ["caller_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_callbacks_case_id"), ["case_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_callbacks_created_by_id"), ["created_by_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_callbacks_done_at"), ["done_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_callbacks_due_on"), ["due_on"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_callbacks_is_deleted"), ["is_deleted"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_callbacks_satisfaction"), ["satisfaction"], unique=False
        )

    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("caller_id", sa.Integer(), nullable=True),
        sa.Column(
            "line",
            sa.Enum(
                "office_line",
                "hotline",
                "report_line",
                name="call_line",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("line_number", sa.String(length=20), nullable=True),
        sa.Column("caller_number", sa.String(length=32), nullable=True),
        sa.Column("called_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("taken_by_id", sa.Integer(), nullable=True),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("is_first_contact", sa.Boolean(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["caller_id"],
            ["parties.id"],
            name=op.f("fk_calls_caller_id_parties"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_calls_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_calls_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deleted_by_id"],
            ["users.id"],
            name=op.f("fk_calls_deleted_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["taken_by_id"],
            ["users.id"],
            name=op.f("fk_calls_taken_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_calls_called_at"), ["called_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_calls_caller_id"), ["caller_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_calls_caller_number"), ["caller_number"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_calls_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_calls_created_by_id"), ["created_by_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_calls_is_deleted"), ["is_deleted"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_calls_taken_by_id"), ["taken_by_id"], unique=False
        )

    op.create_table(
        "case_assistants",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_assistants_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_case_assistants_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("case_id", "user_id", name=op.f("pk_case_assistants")),
    )
    with op.batch_alter_table("case_assistants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_case_assistants_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "case_petitioners",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_petitioners_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.id"],
            name=op.f("fk_case_petitioners_party_id_parties"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "case_id", "party_id", name=op.f("pk_case_petitioners")
        ),
    )
    with op.batch_alter_table("case_petitioners", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_case_petitioners_party_id"), ["party_id"], unique=False
        )

    op.create_table(
        "letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("writer_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("letter_date", sa.Date(), nullable=True),
        sa.Column(
            "form",
            sa.Enum(
                "paper",
                "email",
                "fax",
                "online",
                name="letter_form",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("envelope_intact", sa.Boolean(), nullable=False),
        sa.Column("stamp_intact", sa.Boolean(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "origin",
            sa.Enum(
                "direct",
                "forwarded",
                "leader_instruction",
                name="letter_origin",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("forwarding_unit_id", sa.Integer(), nullable=True),
        sa.Column("forwarding_reference", sa.String(length=60), nullable=True),
        sa.Column("sender_email", sa.String(length=120), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("is_first_contact", sa.Boolean(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_letters_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_letters_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deleted_by_id"],
            ["users.id"],
            name=op.f("fk_letters_deleted_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["forwarding_unit_id"],
            ["units.id"],
            name=op.f("fk_letters_forwarding_unit_id_units"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["writer_id"],
            ["parties.id"],
            name=op.f("fk_letters_writer_id_parties"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letters")),
    )
    with op.batch_alter_table("letters", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_letters_case_id"), ["case_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_letters_created_by_id"), ["created_by_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_letters_forwarding_unit_id"),
            ["forwarding_unit_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_letters_is_deleted"), ["is_deleted"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_letters_origin"), ["origin"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_letters_received_at"), ["received_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_letters_writer_id"), ["writer_id"], unique=False
        )

    op.create_table(
        "visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visitor_id", sa.Integer(), nullable=True),
        sa.Column("visited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "individual",
                "group",
                name="visit_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("head_count", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("receptionist_id", sa.Integer(), nullable=True),
        sa.Column("interview_record", sa.Text(), nullable=True),
        sa.Column("answered_on_spot", sa.Boolean(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("is_first_contact", sa.Boolean(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "NOT answered_on_spot OR answer IS NOT NULL",
            name=op.f("ck_visits_answer_if_answered_on_spot"),
        ),
        sa.CheckConstraint(
            "head_count >= 1", name=op.f("ck_visits_head_count_positive")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_visits_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_visits_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deleted_by_id"],
            ["users.id"],
            name=op.f("fk_visits_deleted_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["receptionist_id"],
            ["users.id"],
            name=op.f("fk_visits_receptionist_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["visitor_id"],
            ["parties.id"],
            name=op.f("fk_visits_visitor_id_parties"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visits")),
    )
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_visits_case_id"), ["case_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_visits_created_by_id"), ["created_by_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_visits_is_deleted"), ["is_deleted"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_visits_receptionist_id"), ["receptionist_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_visits_visited_at"), ["visited_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_visits_visitor_id"), ["visitor_id"], unique=False
        )

    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("letter_id", sa.Integer(), nullable=True),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "scanned_letter",
                "envelope",
                "photo",
                "document",
                "other",
                name="attachment_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("original_name", sa.String(length=255), nullable=False),
        sa.Column("stored_name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_attachments_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_attachments_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deleted_by_id"],
            ["users.id"],
            name=op.f("fk_attachments_deleted_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["letter_id"],
            ["letters.id"],
            name=op.f("fk_attachments_letter_id_letters"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["visits.id"],
            name=op.f("fk_attachments_visit_id_visits"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
        sa.UniqueConstraint("stored_name", name=op.f("uq_attachments_stored_name")),
    )
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_attachments_case_id"), ["case_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_attachments_created_by_id"), ["created_by_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_attachments_is_deleted"), ["is_deleted"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_attachments_letter_id"), ["letter_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_attachments_visit_id"), ["visit_id"], unique=False
        )

    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "registered",
                "edited",
                "letter_added",
                "visit_added",
                "call_added",
                "callback_added",
                "callback_edited",
                "attachment_added",
                "attachment_removed",
                "contact_edited",
                "contact_removed",
                "deleted",
                name="event_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("summary", sa.String(length=300), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("letter_id", sa.Integer(), nullable=True),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column("callback_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.id"],
            name=op.f("fk_case_events_call_id_calls"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["callback_id"],
            ["callbacks.id"],
            name=op.f("fk_case_events_callback_id_callbacks"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_events_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_case_events_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["letter_id"],
            ["letters.id"],
            name=op.f("fk_case_events_letter_id_letters"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["visits.id"],
            name=op.f("fk_case_events_visit_id_visits"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_events")),
    )
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_case_events_call_id"), ["call_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_case_events_callback_id"), ["callback_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_case_events_case_id"), ["case_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_case_events_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_case_events_created_by_id"), ["created_by_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_case_events_kind"), ["kind"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_case_events_letter_id"), ["letter_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_case_events_visit_id"), ["visit_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_events_visit_id"))
        batch_op.drop_index(batch_op.f("ix_case_events_letter_id"))
        batch_op.drop_index(batch_op.f("ix_case_events_kind"))
        batch_op.drop_index(batch_op.f("ix_case_events_created_by_id"))
        batch_op.drop_index(batch_op.f("ix_case_events_created_at"))
        batch_op.drop_index(batch_op.f("ix_case_events_case_id"))
        batch_op.drop_index(batch_op.f("ix_case_events_callback_id"))
        batch_op.drop_index(batch_op.f("ix_case_events_call_id"))

    op.drop_table("case_events")
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attachments_visit_id"))
        batch_op.drop_index(batch_op.f("ix_attachments_letter_id"))
        batch_op.drop_index(batch_op.f("ix_attachments_is_deleted"))
        batch_op.drop_index(batch_op.f("ix_attachments_created_by_id"))
        batch_op.drop_index(batch_op.f("ix_attachments_case_id"))

    op.drop_table("attachments")
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visits_visitor_id"))
        batch_op.drop_index(batch_op.f("ix_visits_visited_at"))
        batch_op.drop_index(batch_op.f("ix_visits_receptionist_id"))
        batch_op.drop_index(batch_op.f("ix_visits_is_deleted"))
        batch_op.drop_index(batch_op.f("ix_visits_created_by_id"))
        batch_op.drop_index(batch_op.f("ix_visits_case_id"))

    op.drop_table("visits")
    with op.batch_alter_table("letters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_letters_writer_id"))
        batch_op.drop_index(batch_op.f("ix_letters_received_at"))
        batch_op.drop_index(batch_op.f("ix_letters_origin"))
        batch_op.drop_index(batch_op.f("ix_letters_is_deleted"))
        batch_op.drop_index(batch_op.f("ix_letters_forwarding_unit_id"))
        batch_op.drop_index(batch_op.f("ix_letters_created_by_id"))
        batch_op.drop_index(batch_op.f("ix_letters_case_id"))

    op.drop_table("letters")
    with op.batch_alter_table("case_petitioners", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_petitioners_party_id"))

    op.drop_table("case_petitioners")
    with op.batch_alter_table("case_assistants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_assistants_user_id"))

    op.drop_table("case_assistants")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calls_taken_by_id"))
        batch_op.drop_index(batch_op.f("ix_calls_is_deleted"))
        batch_op.drop_index(batch_op.f("ix_calls_created_by_id"))
        batch_op.drop_index(batch_op.f("ix_calls_case_id"))
        batch_op.drop_index(batch_op.f("ix_calls_caller_number"))
        batch_op.drop_index(batch_op.f("ix_calls_caller_id"))
        batch_op.drop_index(batch_op.f("ix_calls_called_at"))

    op.drop_table("calls")
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callbacks_satisfaction"))
        batch_op.drop_index(batch_op.f("ix_callbacks_is_deleted"))
        batch_op.drop_index(batch_op.f("ix_callbacks_due_on"))
        batch_op.drop_index(batch_op.f("ix_callbacks_done_at"))
        batch_op.drop_index(batch_op.f("ix_callbacks_created_by_id"))
        batch_op.drop_index(batch_op.f("ix_callbacks_case_id"))
        batch_op.drop_index(batch_op.f("ix_callbacks_caller_id"))

    op.drop_table("callbacks")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_cases_subject_trgm",
            postgresql_using="gin",
            postgresql_ops={"subject": "gin_trgm_ops"},
        )
        batch_op.drop_index(batch_op.f("ix_cases_status"))
        batch_op.drop_index("ix_cases_received_at_id")
        batch_op.drop_index(batch_op.f("ix_cases_received_at"))
        batch_op.drop_index(batch_op.f("ix_cases_priority"))
        batch_op.drop_index(
            "ix_cases_petitioner_names_trgm",
            postgresql_using="gin",
            postgresql_ops={"petitioner_names": "gin_trgm_ops"},
        )
        batch_op.drop_index(batch_op.f("ix_cases_petitioner_names"))
        batch_op.drop_index(batch_op.f("ix_cases_is_deleted"))
        batch_op.drop_index(batch_op.f("ix_cases_handling_unit_id"))
        batch_op.drop_index(batch_op.f("ix_cases_handler_id"))
        batch_op.drop_index(batch_op.f("ix_cases_created_by_id"))
        batch_op.drop_index(batch_op.f("ix_cases_channel"))
        batch_op.drop_index(batch_op.f("ix_cases_category_id"))
        batch_op.drop_index(batch_op.f("ix_cases_agent_id"))

    op.drop_table("cases")
    op.drop_table("user_roles")
    with op.batch_alter_table("parties", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_parties_phone"))
        batch_op.drop_index(batch_op.f("ix_parties_name"))
        batch_op.drop_index(batch_op.f("ix_parties_id_number"))
        batch_op.drop_index(batch_op.f("ix_parties_created_by_id"))

    op.drop_table("parties")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_unit_id"))

    op.drop_table("users")
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_units_parent_id"))
        batch_op.drop_index(batch_op.f("ix_units_kind"))
        batch_op.drop_index(batch_op.f("ix_units_is_active"))

    op.drop_table("units")
    op.drop_table("system_settings")
    op.drop_table("roles")
    op.drop_table("number_sequences")
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_categories_parent_id"))
        batch_op.drop_index(batch_op.f("ix_categories_kind"))
        batch_op.drop_index(batch_op.f("ix_categories_is_active"))

    op.drop_table("categories")
