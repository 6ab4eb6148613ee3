"""Letters, visits and calls: each contact belongs to exactly one case."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from . import db
from .base import UTCDateTime
from .enums import CallLine, LetterForm, LetterOrigin, VisitKind, enum_column
from .mixins import CreatedByMixin, SoftDeleteMixin, TimestampMixin


class ContactMixin(TimestampMixin, CreatedByMixin, SoftDeleteMixin):
    """What letters, visits and calls share: the case they belong to and the person."""

    @declared_attr
    def case_id(cls) -> Mapped[int]:
        return mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)

    @declared_attr
    def case(cls):
        return relationship("Case", lazy="select")

    #: True when this contact opened the case; False for a repeat contact on an existing case.
    is_first_contact: Mapped[bool] = mapped_column(default=True, nullable=False)


class Letter(ContactMixin, db.Model):
    __tablename__ = "letters"

    id: Mapped[int] = mapped_column(primary_key=True)
    writer_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("parties.id", ondelete="SET NULL"), index=True
    )
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    letter_date: Mapped[date | None] = mapped_column(sa.Date)
    form: Mapped[LetterForm] = mapped_column(
        enum_column(LetterForm, "letter_form"), default=LetterForm.paper
    )
    envelope_intact: Mapped[bool] = mapped_column(default=True, nullable=False)
    stamp_intact: Mapped[bool] = mapped_column(default=True, nullable=False)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    origin: Mapped[LetterOrigin] = mapped_column(
        enum_column(LetterOrigin, "letter_origin"), default=LetterOrigin.direct, index=True
    )
    forwarding_unit_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("units.id", ondelete="SET NULL"), index=True
    )
    #: Document number of the forwarding body's cover note, if any.
    forwarding_reference: Mapped[str | None] = mapped_column(sa.String(60))
    sender_email: Mapped[str | None] = mapped_column(sa.String(120))
    summary: Mapped[str | None] = mapped_column(sa.Text)

    writer = relationship("Party", lazy="select")
    forwarding_unit = relationship("Unit", lazy="select")

    __table_args__ = (sa.Index("ix_letters_list_order", "is_deleted", "received_at", "id"),)

    def __str__(self) -> str:
        return f"来信 #{self.id}"


class Visit(ContactMixin, db.Model):
    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    visitor_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("parties.id", ondelete="SET NULL"), index=True
    )
    visited_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    kind: Mapped[VisitKind] = mapped_column(
        enum_column(VisitKind, "visit_kind"), default=VisitKind.individual
    )
    head_count: Mapped[int] = mapped_column(default=1, nullable=False)
    purpose: Mapped[str] = mapped_column(sa.String(200))
    receptionist_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    interview_record: Mapped[str | None] = mapped_column(sa.Text)
    answered_on_spot: Mapped[bool] = mapped_column(default=False, nullable=False)
    answer: Mapped[str | None] = mapped_column(sa.Text)

    visitor = relationship("Party", lazy="select")
    receptionist = relationship("User", foreign_keys=[receptionist_id], lazy="select")

    __table_args__ = (
        sa.Index("ix_visits_list_order", "is_deleted", "visited_at", "id"),
        sa.CheckConstraint("head_count >= 1", name="head_count_positive"),
        sa.CheckConstraint(
            "NOT answered_on_spot OR answer IS NOT NULL", name="answer_if_answered_on_spot"
        ),
    )

    def __str__(self) -> str:
        return f"来访 #{self.id}"


class Call(ContactMixin, db.Model):
    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    caller_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("parties.id", ondelete="SET NULL"), index=True
    )
    line: Mapped[CallLine] = mapped_column(
        enum_column(CallLine, "call_line"), default=CallLine.office_line
    )
    #: The number dialled, e.g. ``12345`` or ``95598``.
    line_number: Mapped[str | None] = mapped_column(sa.String(20))
    caller_number: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    called_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    taken_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    record: Mapped[str] = mapped_column(sa.Text)

    caller = relationship("Party", lazy="select")
    taken_by = relationship("User", foreign_keys=[taken_by_id], lazy="select")

    __table_args__ = (sa.Index("ix_calls_list_order", "is_deleted", "called_at", "id"),)

    def __str__(self) -> str:
        return f"来电 #{self.id}"
