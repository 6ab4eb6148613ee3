"""Commendations (表扬) of a person for what they did about a case (S16: the resident whose
suggestion led to an improvement is commended, and the commendation is posted in the 公示)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .base import UTCDateTime, utcnow


class Commendation(db.Model):
    """One commendation of ``party`` about ``case``; written by
    :func:`models.operations.case_reports.commend_party`, never edited."""

    __tablename__ = "commendations"

    id: Mapped[int] = mapped_column(primary_key=True)
    party_id: Mapped[int] = mapped_column(
        sa.ForeignKey("parties.id", ondelete="CASCADE"), index=True
    )
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    #: What the person is commended for, as it is posted.
    text: Mapped[str] = mapped_column(sa.Text)
    commended_on: Mapped[date] = mapped_column(sa.Date)
    #: The timeline event (EventKind.commend) that recorded it.
    event_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("case_events.id", ondelete="SET NULL")
    )
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    party = relationship("Party", lazy="select")
    case = relationship("Case", lazy="select")
    created_by = relationship("User", lazy="select")

    def __str__(self) -> str:
        return self.text[:40]
