"""Callbacks (回访): asking the petitioner afterwards whether the matter was solved."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .base import UTCDateTime
from .enums import CallbackMethod, Satisfaction, enum_column
from .mixins import CreatedByMixin, SoftDeleteMixin, TimestampMixin


class Callback(TimestampMixin, CreatedByMixin, SoftDeleteMixin, db.Model):
    __tablename__ = "callbacks"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
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
    note: Mapped[str | None] = mapped_column(sa.Text)

    case = relationship("Case", lazy="select")
    caller = relationship("User", foreign_keys=[caller_id], lazy="select")

    __table_args__ = (
        sa.Index("ix_callbacks_list_order", "is_deleted", "id"),
        # A satisfaction verdict only exists once somebody was actually reached.
        sa.CheckConstraint(
            "satisfaction IS NULL OR done_at IS NOT NULL", name="satisfaction_needs_done_at"
        ),
    )

    def __str__(self) -> str:
        return f"回访 #{self.id}"

    @property
    def is_done(self) -> bool:
        return self.done_at is not None

    def can_view(self, user) -> bool:
        return self.case is not None and self.case.can_view(user)
