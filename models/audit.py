"""The audit log: one append-only row per change, login, export, print and confidential view."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .base import UTCDateTime, utcnow


class AuditAction:
    """Action codes stored in ``audit_log.action`` (plain strings: other modules add their own)."""

    create = "create"
    update = "update"
    delete = "delete"
    login = "login"
    login_failed = "login_failed"
    login_blocked = "login_blocked"
    logout = "logout"
    export = "export"
    print = "print"
    confidential_view = "confidential_view"
    denied = "denied"
    retry = "retry"


class AuditEntry(db.Model):
    """Written in the same transaction as what it records; never updated or deleted."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True, nullable=False)
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    #: Kept as text so the row still says who it was after the account is gone or renamed.
    username: Mapped[str | None] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(40), index=True)
    #: Table name of the record (``cases``, ``letters`` …) or a pseudo-target (``session``).
    target_type: Mapped[str | None] = mapped_column(sa.String(60), index=True)
    target_id: Mapped[str | None] = mapped_column(sa.String(40))
    summary: Mapped[str | None] = mapped_column(sa.String(300))
    #: ``{"before": {...}, "after": {...}}`` for changes; free-form details otherwise.
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict, nullable=False)
    ip_address: Mapped[str | None] = mapped_column(sa.String(45))

    user = relationship("User", lazy="select")

    __table_args__ = (sa.Index("ix_audit_log_target", "target_type", "target_id"),)

    def __str__(self) -> str:
        return f"{self.action} {self.target_type or ''} {self.target_id or ''}".strip()
