"""Opinion boxes (意见箱): a designated opener, an opening interval and the opening log."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .mixins import CreatedByMixin, TimestampMixin

DEFAULT_INTERVAL_DAYS = 5

opinion_slip_cases = sa.Table(
    "opinion_slip_cases",
    db.metadata,
    sa.Column(
        "opening_id",
        sa.ForeignKey("opinion_box_openings.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("case_id", sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
)


class OpinionBox(TimestampMixin, db.Model):
    __tablename__ = "opinion_boxes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    location: Mapped[str | None] = mapped_column(sa.String(120))
    opener_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    interval_days: Mapped[int] = mapped_column(default=DEFAULT_INTERVAL_DAYS, nullable=False)
    #: Kept by the service layer (last opening + interval) so lists can filter on it.
    next_due_on: Mapped[date] = mapped_column(sa.Date, index=True)
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)

    opener = relationship("User", lazy="select")

    __table_args__ = (
        sa.CheckConstraint("interval_days >= 1 AND interval_days <= 366", name="interval_range"),
    )

    def __str__(self) -> str:
        return self.name

    def overdue_days(self, today: date) -> int:
        return max((today - self.next_due_on).days, 0)

    def missed_openings(self, today: date) -> int:
        """Openings skipped so far: the due one plus every full interval since."""
        late = (today - self.next_due_on).days
        return 0 if late <= 0 else 1 + (late - 1) // self.interval_days


class OpinionBoxOpening(TimestampMixin, CreatedByMixin, db.Model):
    __tablename__ = "opinion_box_openings"

    id: Mapped[int] = mapped_column(primary_key=True)
    box_id: Mapped[int] = mapped_column(
        sa.ForeignKey("opinion_boxes.id", ondelete="CASCADE"), index=True
    )
    opened_on: Mapped[date] = mapped_column(sa.Date, index=True)
    opener_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    slip_count: Mapped[int] = mapped_column(default=0, nullable=False)
    note: Mapped[str | None] = mapped_column(sa.Text)

    box = relationship("OpinionBox", lazy="select")
    opener = relationship("User", foreign_keys=[opener_id], lazy="select")
    cases = relationship("Case", secondary=opinion_slip_cases, lazy="select", order_by="Case.id")

    __table_args__ = (sa.CheckConstraint("slip_count >= 0", name="slip_count_positive"),)

    def __str__(self) -> str:
        return f"{self.box} {self.opened_on}"
