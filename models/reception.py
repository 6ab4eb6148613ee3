"""Visitors at the door: appointments and visit applications, temporary passes, incidents."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .base import UTCDateTime, partial_index
from .enums import (
    AppointmentChannel,
    AppointmentKind,
    AppointmentStatus,
    Gender,
    IdType,
    IncidentKind,
    IncidentMeasure,
    Satisfaction,
    enum_column,
)
from .mixins import CreatedByMixin, SoftDeleteMixin, TimestampMixin


class Appointment(TimestampMixin, CreatedByMixin, SoftDeleteMixin, db.Model):
    """A booked visit (预约) or an advance visit application (来访申请).

    An appointment is valid once recorded; an application only after someone with the
    approval right approves it.
    """

    __tablename__ = "appointments"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[AppointmentKind] = mapped_column(
        enum_column(AppointmentKind, "appointment_kind"), default=AppointmentKind.appointment
    )
    channel: Mapped[AppointmentChannel] = mapped_column(
        enum_column(AppointmentChannel, "appointment_channel"), default=AppointmentChannel.phone
    )
    status: Mapped[AppointmentStatus] = mapped_column(
        enum_column(AppointmentStatus, "appointment_status"),
        default=AppointmentStatus.pending,
        index=True,
    )
    party_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("parties.id", ondelete="SET NULL"), index=True
    )
    visitor_name: Mapped[str] = mapped_column(sa.String(64))
    gender: Mapped[Gender | None] = mapped_column(enum_column(Gender, "appointment_gender"))
    id_type: Mapped[IdType | None] = mapped_column(enum_column(IdType, "appointment_id_type"))
    id_number: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    work_unit: Mapped[str | None] = mapped_column(sa.String(120))
    head_count: Mapped[int] = mapped_column(default=1, nullable=False)
    #: The staff member or leader to be visited, and the department whose head approves.
    host_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    unit_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("units.id", ondelete="SET NULL"), index=True
    )
    expected_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    purpose: Mapped[str] = mapped_column(sa.String(200))
    #: The visitor signed the application form (本人签字确认).
    signature_confirmed: Mapped[bool] = mapped_column(default=False, nullable=False)
    case_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("cases.id", ondelete="SET NULL"), index=True
    )
    decided_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(sa.String(200))
    note: Mapped[str | None] = mapped_column(sa.Text)

    party = relationship("Party", lazy="select")
    host = relationship("User", foreign_keys=[host_id], lazy="select")
    unit = relationship("Unit", lazy="select")
    case = relationship("Case", lazy="select")
    decided_by = relationship("User", foreign_keys=[decided_by_id], lazy="select")

    __table_args__ = (
        sa.CheckConstraint("head_count >= 1", name="head_count_positive"),
        sa.Index("ix_appointments_day_order", "is_deleted", "expected_at", "id"),
    )

    def __str__(self) -> str:
        return f"{self.kind.title if self.kind else ''} #{self.id} {self.visitor_name}"

    @property
    def is_valid(self) -> bool:
        return self.status == AppointmentStatus.approved and not self.is_deleted


class VisitorPass(TimestampMixin, CreatedByMixin, db.Model):
    """One temporary pass handed to one visitor, from arrival until it comes back."""

    __tablename__ = "visitor_passes"

    id: Mapped[int] = mapped_column(primary_key=True)
    pass_number: Mapped[str] = mapped_column(sa.String(20), index=True)
    appointment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("appointments.id", ondelete="SET NULL"), index=True
    )
    party_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("parties.id", ondelete="SET NULL"), index=True
    )
    visitor_name: Mapped[str] = mapped_column(sa.String(64))
    id_type: Mapped[IdType | None] = mapped_column(enum_column(IdType, "pass_id_type"))
    id_number: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    #: The receptionist looked at the identity document.
    id_checked: Mapped[bool] = mapped_column(default=False, nullable=False)
    host_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    #: Free text when the host has no account (a guest of a department, a meeting).
    host_name: Mapped[str | None] = mapped_column(sa.String(64))
    #: The host confirmed the visit (signature on the return slip).
    host_confirmed: Mapped[bool] = mapped_column(default=False, nullable=False)
    purpose: Mapped[str | None] = mapped_column(sa.String(200))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    returned_to_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    escorted_out: Mapped[bool] = mapped_column(default=False, nullable=False)
    feedback_rating: Mapped[Satisfaction | None] = mapped_column(
        enum_column(Satisfaction, "pass_feedback_rating"), index=True
    )
    feedback_comment: Mapped[str | None] = mapped_column(sa.String(500))
    case_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("cases.id", ondelete="SET NULL"), index=True
    )
    note: Mapped[str | None] = mapped_column(sa.Text)

    appointment = relationship("Appointment", lazy="select")
    party = relationship("Party", lazy="select")
    host = relationship("User", foreign_keys=[host_id], lazy="select")
    returned_to = relationship("User", foreign_keys=[returned_to_id], lazy="select")
    case = relationship("Case", lazy="select")

    __table_args__ = (
        # A pass number can be out only once at a time; the service layer says so in words.
        partial_index(
            "uq_visitor_passes_number_out",
            "pass_number",
            unique=True,
            where="returned_at IS NULL",
        ),
        sa.CheckConstraint(
            "feedback_rating IS NULL OR returned_at IS NOT NULL", name="feedback_after_return"
        ),
    )

    def __str__(self) -> str:
        return f"{self.pass_number} {self.visitor_name}"

    @property
    def is_out(self) -> bool:
        return self.returned_at is None

    @property
    def host_display(self) -> str:
        return str(self.host) if self.host is not None else (self.host_name or "")


class VisitIncident(TimestampMixin, CreatedByMixin, db.Model):
    """Something that went wrong during a visit, and what was done about it."""

    __tablename__ = "visit_incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    pass_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("visitor_passes.id", ondelete="SET NULL"), index=True
    )
    party_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("parties.id", ondelete="SET NULL"), index=True
    )
    visitor_name: Mapped[str] = mapped_column(sa.String(64))
    id_number: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    kind: Mapped[IncidentKind] = mapped_column(enum_column(IncidentKind, "incident_kind"))
    measure: Mapped[IncidentMeasure] = mapped_column(
        enum_column(IncidentMeasure, "incident_measure"), index=True
    )
    description: Mapped[str] = mapped_column(sa.Text)

    visitor_pass = relationship("VisitorPass", lazy="select")
    party = relationship("Party", lazy="select")

    def __str__(self) -> str:
        return f"{self.visitor_name} {self.kind.title if self.kind else ''}"
