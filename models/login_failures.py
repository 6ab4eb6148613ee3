"""Failed-login counters kept in the database, shared by every worker when Redis is not set up."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from . import db
from .base import UTCDateTime


class LoginFailure(db.Model):
    """Failures counted for one key within a fixed window that opens at the first failure.

    ``scope`` says what is counted: ``pair`` (one account from one address) or ``address``
    (every account from one address). Rows are bookkeeping for the throttle, not records: they are
    written outside the request's transaction and never audited.
    """

    __tablename__ = "login_failures"

    scope: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(160), primary_key=True)
    failures: Mapped[int] = mapped_column(nullable=False)
    #: When this window ends: the count starts again from zero afterwards.
    window_ends_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)

    def __repr__(self) -> str:
        return f"<LoginFailure {self.scope}:{self.key} {self.failures}>"
