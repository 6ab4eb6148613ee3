"""Online petitions (网上信访): the query code that lets a petitioner follow their own case."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .base import UTCDateTime, utcnow


class OnlinePetition(db.Model):
    """One case filed on the public petition page.

    Only a salted hash of the query code is kept: the code is shown once to the petitioner,
    and staff cannot read it back (a lost code cannot be recovered, only the case number).
    """

    __tablename__ = "online_petitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), unique=True)
    #: ``salt$sha256(salt + code)`` in hex.
    code_hash: Mapped[str] = mapped_column(sa.String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    case = relationship("Case", lazy="select")

    def __repr__(self) -> str:
        return f"<OnlinePetition {self.id} case {self.case_id}>"
