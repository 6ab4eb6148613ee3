"""Callbacks (回访): asking the petitioner afterwards whether the matter was solved."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .base import UTCDateTime
from .enums import CallbackFollowUp, CallbackMethod, CallbackOrigin, Satisfaction, enum_column
from .mixins import CreatedByMixin, SoftDeleteMixin, TimestampMixin


class Callback(TimestampMixin, CreatedByMixin, SoftDeleteMixin, db.Model):
    __tablename__ = "callbacks"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Empty only for a routine callback from a schedule (a delivered project, not a case).
    case_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True
    )
    schedule_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("callback_schedules.id", ondelete="CASCADE"), index=True
    )
    origin: Mapped[CallbackOrigin] = mapped_column(
        enum_column(CallbackOrigin, "callback_origin"),
        default=CallbackOrigin.manual,
        nullable=False,
    )
    due_on: Mapped[date | None] = mapped_column(sa.Date, index=True)
    method: Mapped[CallbackMethod] = mapped_column(
        enum_column(CallbackMethod, "callback_method"), default=CallbackMethod.phone
    )
    caller_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    person_reached: Mapped[str | None] = mapped_column(sa.String(64))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    satisfaction: Mapped[Satisfaction | None] = mapped_column(
        enum_column(Satisfaction, "satisfaction"), index=True
    )
    opinion: Mapped[str | None] = mapped_column(sa.Text)
    problem_remains: Mapped[bool] = mapped_column(default=False, nullable=False)
    #: 核对收费情况 and 请被回访人签名 (回访工作制度 三).
    charges_checked: Mapped[bool] = mapped_column(default=False, nullable=False)
    signature_obtained: Mapped[bool] = mapped_column(default=False, nullable=False)
    follow_up: Mapped[CallbackFollowUp] = mapped_column(
        enum_column(CallbackFollowUp, "callback_follow_up"),
        default=CallbackFollowUp.none,
        nullable=False,
    )
    note: Mapped[str | None] = mapped_column(sa.Text)

    case = relationship("Case", lazy="select")
    caller = relationship("User", foreign_keys=[caller_id], lazy="select")
    schedule = relationship("CallbackSchedule", lazy="select")

    __table_args__ = (
        sa.Index("ix_callbacks_list_order", "is_deleted", "id"),
        # A satisfaction verdict only exists once somebody was actually reached.
        sa.CheckConstraint(
            "satisfaction IS NULL OR done_at IS NOT NULL", name="satisfaction_needs_done_at"
        ),
        sa.CheckConstraint(
            "case_id IS NOT NULL OR schedule_id IS NOT NULL", name="callback_has_subject"
        ),
        sa.Index("ix_callbacks_open_due", "is_deleted", "done_at", "due_on"),
    )

    def __str__(self) -> str:
        return f"回访 #{self.id}"

    @property
    def is_done(self) -> bool:
        return self.done_at is not None

    @property
    def retain_until(self):
        """The day this record's five-year retention ends (models.retention)."""
        from .retention import callback_retain_until

        return callback_retain_until(self)

    @property
    def is_overdue(self) -> bool:
        from .base import local_zone, utcnow

        today = utcnow().astimezone(local_zone()).date()
        return not self.is_done and self.due_on is not None and self.due_on < today


class CallbackSchedule(TimestampMixin, CreatedByMixin, db.Model):
    """Routine callbacks on a delivered project: monthly in its first year, quarterly after.

    (客户服务体系 五, T44.) The intervals are data so another organisation can change them.
    """

    __tablename__ = "callback_schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    contact: Mapped[str | None] = mapped_column(sa.String(100))
    delivered_on: Mapped[date] = mapped_column(sa.Date)
    first_year_months: Mapped[int] = mapped_column(default=1, nullable=False)
    later_months: Mapped[int] = mapped_column(default=3, nullable=False)
    unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("units.id", ondelete="SET NULL"))
    caller_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    method: Mapped[CallbackMethod] = mapped_column(
        enum_column(CallbackMethod, "callback_method"), default=CallbackMethod.phone
    )
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)
    note: Mapped[str | None] = mapped_column(sa.Text)

    unit = relationship("Unit", lazy="select")
    caller = relationship("User", foreign_keys=[caller_id], lazy="select")

    __table_args__ = (
        sa.CheckConstraint("first_year_months >= 1", name="first_year_months_positive"),
        sa.CheckConstraint("later_months >= 1", name="later_months_positive"),
    )

    def __str__(self) -> str:
        return self.name


class CallbackQuota(TimestampMixin, db.Model):
    """The smallest share of completed callbacks a role must make (manager ≥ 10 % …)."""

    __tablename__ = "callback_quotas"

    id: Mapped[int] = mapped_column(primary_key=True)
    role_id: Mapped[int] = mapped_column(sa.ForeignKey("roles.id", ondelete="CASCADE"), unique=True)
    min_percent: Mapped[int] = mapped_column()

    role = relationship("Role", lazy="select")

    __table_args__ = (
        sa.CheckConstraint("min_percent BETWEEN 0 AND 100", name="min_percent_range"),
    )

    def __str__(self) -> str:
        return f"{self.role} ≥ {self.min_percent}%"
