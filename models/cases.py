"""The matter (信访事项) every letter, visit and call belongs to, and its timeline."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .base import UTCDateTime, partial_index, utcnow
from .enums import (
    CaseChannel,
    CasePriority,
    CaseStatus,
    EventKind,
    ReplyMethod,
    Satisfaction,
    enum_column,
)
from .mixins import CreatedByMixin, SoftDeleteMixin, TimestampMixin
from .text_search import bigram_index, trigram_index

case_petitioners = sa.Table(
    "case_petitioners",
    db.metadata,
    sa.Column("case_id", sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "party_id", sa.ForeignKey("parties.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
)

case_assistants = sa.Table(
    "case_assistants",
    db.metadata,
    sa.Column("case_id", sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
)


class Case(TimestampMixin, CreatedByMixin, SoftDeleteMixin, db.Model):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Registration number, e.g. ``XF2026-000123``; shared by the register, notices and original.
    number: Mapped[str] = mapped_column(sa.String(40), unique=True)
    #: Which numbered register the number was drawn from, and for which year.
    register: Mapped[str] = mapped_column(sa.String(20), default="case", nullable=False)
    register_year: Mapped[int] = mapped_column(sa.SmallInteger)
    register_seq: Mapped[int] = mapped_column()

    channel: Mapped[CaseChannel] = mapped_column(
        enum_column(CaseChannel, "case_channel"), index=True
    )
    category_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("categories.id", ondelete="SET NULL"), index=True
    )
    priority: Mapped[CasePriority] = mapped_column(
        enum_column(CasePriority, "case_priority"), default=CasePriority.normal, index=True
    )
    status: Mapped[CaseStatus] = mapped_column(
        enum_column(CaseStatus, "case_status"), default=CaseStatus.registered, index=True
    )

    # Importance flags (重要 / 重大 / 疑难复杂 / 敏感).
    is_important: Mapped[bool] = mapped_column(default=False, nullable=False)
    is_major: Mapped[bool] = mapped_column(default=False, nullable=False)
    is_difficult: Mapped[bool] = mapped_column(default=False, nullable=False)
    is_sensitive: Mapped[bool] = mapped_column(default=False, nullable=False)
    #: 越级访: taken past the proper level (e.g. straight to the province or Beijing).
    is_beyond_level: Mapped[bool] = mapped_column(default=False, nullable=False)
    #: 异常访: an abnormal visit (sit-in, blocking, extreme acts) that leaders hear of at once.
    is_abnormal: Mapped[bool] = mapped_column(default=False, nullable=False)
    is_anonymous: Mapped[bool] = mapped_column(default=False, nullable=False)
    is_group: Mapped[bool] = mapped_column(default=False, nullable=False)
    head_count: Mapped[int] = mapped_column(default=1, nullable=False)

    subject: Mapped[str] = mapped_column(sa.String(200))
    content: Mapped[str] = mapped_column(sa.Text)
    demands: Mapped[str | None] = mapped_column(sa.Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    #: Petitioner names joined for searching, kept in step by the service layer.
    petitioner_names: Mapped[str | None] = mapped_column(sa.String(400), index=True)
    agent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("parties.id", ondelete="SET NULL"), index=True
    )
    handling_unit_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("units.id", ondelete="SET NULL"), index=True
    )
    handler_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    #: Optimistic lock: a stale edit form is rejected instead of overwriting someone's work.
    version: Mapped[int] = mapped_column(default=1, nullable=False)

    # Workflow record, written only by models.operations.workflow.
    #: 督办: the case carries a supervision card.
    is_supervised: Mapped[bool] = mapped_column(default=False, nullable=False)
    #: 上级交办查处件: a higher body wants the result; it cannot close before a callback.
    is_investigation_order: Mapped[bool] = mapped_column(default=False, nullable=False)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    instruction: Mapped[str | None] = mapped_column(sa.Text)
    instructed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    instructed_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result_reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result_approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result_approved_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reply_method: Mapped[ReplyMethod | None] = mapped_column(
        enum_column(ReplyMethod, "reply_method")
    )
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: 0: none, 1: reviewed (复查), 2: re-reviewed (复核, final).
    review_level: Mapped[int] = mapped_column(sa.SmallInteger, default=0, nullable=False)
    #: 存信: packed by region and year for periodic destruction.
    kept_region: Mapped[str | None] = mapped_column(sa.String(60))
    kept_year: Mapped[int | None] = mapped_column(sa.SmallInteger)
    kept_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Retention (models.retention): the day the case reached its outcome, and the day its
    #: retention ends; both empty while it is open. Kept by models.operations.retention.
    retention_from: Mapped[date | None] = mapped_column(sa.Date)
    retain_until: Mapped[date | None] = mapped_column(sa.Date, index=True)
    #: The tombstone of a destroyed case: which batch, when and by whom.
    destruction_batch_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("destruction_batches.id", ondelete="SET NULL"), index=True
    )
    destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    destroyed_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    #: Contacts after the first one about the same matter (重复信访).
    repeat_count: Mapped[int] = mapped_column(default=0, nullable=False)
    merged_into_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("cases.id", ondelete="SET NULL"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("cases.id", ondelete="SET NULL"), index=True
    )
    #: The verdict of the latest completed callback, kept by models.operations.callbacks so the
    #: satisfaction rate counts a reopened case once, from the same scan as the other figures.
    last_satisfaction: Mapped[Satisfaction | None] = mapped_column(
        enum_column(Satisfaction, "satisfaction")
    )
    #: Values of the administrator-defined fields (models.custom_fields), keyed by field key.
    #: JSONB on PostgreSQL so a filter on one field is an indexed containment test.
    custom_values: Mapped[dict] = mapped_column(
        sa.JSON().with_variant(JSONB(), "postgresql"),
        default=dict,
        server_default=sa.text("'{}'"),
        nullable=False,
    )
    #: What the routing rules (models.routing) chose, kept by models.operations.workflow.routing:
    #: the rule that fired, the unit (and handler) it named, and whether it handed the case over.
    routing_rule_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("routing_rules.id", ondelete="SET NULL")
    )
    routed_unit_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("units.id", ondelete="SET NULL")
    )
    routed_handler_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    routing_assigned: Mapped[bool] = mapped_column(default=False, nullable=False)

    #: The result's sign-off (我办 四.2: the result is signed by the leader in charge and
    #: reported to the office): the signing user when the office has them as a user, and their
    #: name in any case (a leader without an account signs on paper), and the date reported.
    result_signed_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    result_signer_name: Mapped[str | None] = mapped_column(sa.String(50))
    result_reported_to_office_on: Mapped[date | None] = mapped_column(sa.Date)
    #: 不属本单位职责范围: when decided, why, and the unit that forwarded the matter here.
    out_of_scope_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    out_of_scope_reason: Mapped[str | None] = mapped_column(sa.Text)
    out_of_scope_forwarding_unit_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("units.id", ondelete="SET NULL")
    )

    category = relationship("Category", lazy="select")
    routing_rule = relationship("RoutingRule", lazy="select")
    routed_unit = relationship("Unit", foreign_keys=[routed_unit_id], lazy="select")
    routed_handler = relationship("User", foreign_keys=[routed_handler_id], lazy="select")
    agent = relationship("Party", foreign_keys=[agent_id], lazy="select")
    handling_unit = relationship("Unit", foreign_keys=[handling_unit_id], lazy="select")
    handler = relationship("User", foreign_keys=[handler_id], lazy="select")
    petitioners = relationship(
        "Party", secondary=case_petitioners, lazy="select", order_by="Party.id"
    )
    assistants = relationship("User", secondary=case_assistants, lazy="select")
    #: A group's representatives (代表人) as people, in the order the registrar entered them.
    representative_links = relationship(
        "CaseRepresentative",
        order_by="CaseRepresentative.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="select",
    )
    instructed_by = relationship("User", foreign_keys=[instructed_by_id], lazy="select")
    result_approved_by = relationship("User", foreign_keys=[result_approved_by_id], lazy="select")
    result_signed_by = relationship("User", foreign_keys=[result_signed_by_id], lazy="select")
    out_of_scope_forwarding_unit = relationship(
        "Unit", foreign_keys=[out_of_scope_forwarding_unit_id], lazy="select"
    )
    merged_into = relationship("Case", remote_side=[id], foreign_keys=[merged_into_id])
    destruction_batch = relationship("DestructionBatch", lazy="select")
    destroyed_by = relationship("User", foreign_keys=[destroyed_by_id], lazy="select")
    parent = relationship("Case", remote_side=[id], foreign_keys=[parent_id], lazy="select")
    clocks = relationship(
        "CaseClock",
        back_populates="case",
        order_by="CaseClock.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    events = relationship(
        "CaseEvent",
        back_populates="case",
        order_by="CaseEvent.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    #: Read-only views filled by the case page's one loading statement
    #: (:func:`admin_views.case_records.load_case_page`); code that writes these rows writes
    #: them directly, and readers use :func:`loaded_collection` or query.
    children = relationship(
        "Case", foreign_keys=[parent_id], viewonly=True, order_by="Case.id", lazy="select"
    )
    active_callbacks = relationship(
        "Callback",
        primaryjoin="and_(Callback.case_id == Case.id, Callback.is_deleted.is_(False))",
        viewonly=True,
        order_by="Callback.id",
        lazy="select",
    )
    issued_documents = relationship(
        "IssuedDocument", viewonly=True, order_by="IssuedDocument.id", lazy="select"
    )
    commendations = relationship(
        "Commendation",
        viewonly=True,
        order_by="[Commendation.commended_on, Commendation.id]",
        lazy="select",
    )

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        sa.UniqueConstraint(
            "register", "register_year", "register_seq", name="uq_cases_register_seq"
        ),
        sa.CheckConstraint("head_count >= 1", name="head_count_positive"),
        # Serves the default list (visible cases, newest received first) without a sort.
        sa.Index("ix_cases_list_order", "is_deleted", "received_at", "id"),
        # Serves 存信: the kept cases in (year, region, number) order and their counts per
        # year and region, from this small index alone (0.25 s to 36 ms at a million cases).
        partial_index(
            "ix_cases_kept",
            "kept_year",
            "kept_region",
            "number",
            "is_deleted",
            where="status = 'kept'",
        ),
        # Covers every column the statistics read, so they scan this narrow index instead of
        # the wide rows; led by the unit, whose grouping then needs no sort.
        sa.Index(
            "ix_cases_statistics",
            "handling_unit_id",
            "is_deleted",
            "received_at",
            "status",
            "channel",
            "category_id",
            "head_count",
            "is_group",
            "is_beyond_level",
            "is_abnormal",
            "repeat_count",
            "closed_at",
            "accepted_at",
            "instructed_at",
            "last_satisfaction",
            "id",
        ),
        sa.Index(
            "ix_cases_subject_trgm",
            "subject",
            postgresql_using="gin",
            postgresql_ops={"subject": "gin_trgm_ops"},
        ),
        sa.Index(
            "ix_cases_petitioner_names_trgm",
            "petitioner_names",
            postgresql_using="gin",
            postgresql_ops={"petitioner_names": "gin_trgm_ops"},
        ),
        # Two-character names and words (高瑞), which yield no trigram; and partial
        # registration numbers (000123, 2026-0001). PostgreSQL only (models.text_search).
        bigram_index("cases", "subject"),
        bigram_index("cases", "petitioner_names"),
        trigram_index("cases", "number"),
        # Custom-field filters are containment tests (custom_values @> '{"key": value}'),
        # which this index answers at a million cases; SQLite filters scan without one.
        sa.Index(
            "ix_cases_custom_values",
            sa.literal_column("custom_values"),
            postgresql_using="gin",
            postgresql_ops={"custom_values": "jsonb_path_ops"},
        ).ddl_if(dialect="postgresql"),
    )

    def __str__(self) -> str:
        return f"{self.number} {self.subject}"

    def __repr__(self) -> str:
        return f"<Case {self.id} {self.number}>"

    def refresh_petitioner_names(self) -> None:
        names = "、".join(party.name for party in self.petitioners)
        self.petitioner_names = names[:400] or None

    @property
    def representatives(self) -> list:
        """The representatives' people, in order (written by operations.parties)."""
        return [link.party for link in self.representative_links]

    @property
    def needs_callback_before_closing(self) -> bool:
        return self.is_group or self.is_investigation_order


class CaseRepresentative(db.Model):
    """One representative (代表人) of a group visit or joint letter: a person in the register."""

    __tablename__ = "case_representatives"

    case_id: Mapped[int] = mapped_column(
        sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    party_id: Mapped[int] = mapped_column(
        sa.ForeignKey("parties.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(sa.SmallInteger, default=1, nullable=False)

    party = relationship("Party", lazy="joined")

    def __str__(self) -> str:
        return str(self.party)


class CaseEvent(db.Model):
    """One line of a case's timeline; written only by the service layer, never edited."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[EventKind] = mapped_column(enum_column(EventKind, "event_kind"), index=True)
    #: One English line for logs and exports; the screen shows the kind's title and ``data``.
    summary: Mapped[str] = mapped_column(sa.String(300))
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    letter_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("letters.id", ondelete="SET NULL"), index=True
    )
    visit_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("visits.id", ondelete="SET NULL"), index=True
    )
    call_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("calls.id", ondelete="SET NULL"), index=True
    )
    callback_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("callbacks.id", ondelete="SET NULL"), index=True
    )

    case = relationship("Case", back_populates="events")
    created_by = relationship("User", lazy="select")

    def __str__(self) -> str:
        return self.summary


class NumberSequence(db.Model):
    """The last number handed out per register and year; its row lock serialises registrations."""

    __tablename__ = "number_sequences"

    register: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    year: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True)
    last_value: Mapped[int] = mapped_column(default=0, nullable=False)


def loaded_collection(obj, name: str) -> list | None:
    """``obj.<name>`` if it is already loaded (eagerly, or by an earlier read), else ``None``,
    so a reader can use loaded rows without triggering a query of its own."""
    state = sa.inspect(obj)
    if name in state.unloaded:
        return None
    return list(getattr(obj, name))
