"""Column groups shared by several models."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from .base import UTCDateTime, utcnow


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )


class CreatedByMixin:
    @declared_attr
    def created_by_id(cls) -> Mapped[int | None]:
        return mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)

    @declared_attr
    def created_by(cls):
        return relationship("User", foreign_keys=[cls.created_by_id], lazy="select")


class SoftDeleteMixin:
    """Case records are never hard-deleted from the admin; they are hidden instead."""

    #: Not indexed alone: nearly every row is False, and SQLite would pick that index over the
    #: list-order indexes. Each table has a composite ``(is_deleted, <list order>)`` index.
    is_deleted: Mapped[bool] = mapped_column(default=False, nullable=False)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @declared_attr
    def deleted_by_id(cls) -> Mapped[int | None]:
        return mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    def mark_deleted(self, by) -> None:
        """Hide the row, noting who and when; the caller checks the permission and logs it."""
        self.is_deleted = True
        self.deleted_at = utcnow()
        self.deleted_by_id = by.id
