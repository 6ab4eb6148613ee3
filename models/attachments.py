"""Files kept with a case: scanned letters, envelopes, photos and documents."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .enums import AttachmentKind, enum_column
from .mixins import CreatedByMixin, SoftDeleteMixin, TimestampMixin


class Attachment(TimestampMixin, CreatedByMixin, SoftDeleteMixin, db.Model):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    letter_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("letters.id", ondelete="SET NULL"), index=True
    )
    visit_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("visits.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[AttachmentKind] = mapped_column(
        enum_column(AttachmentKind, "attachment_kind"), default=AttachmentKind.document
    )
    title: Mapped[str | None] = mapped_column(sa.String(200))
    original_name: Mapped[str] = mapped_column(sa.String(255))
    #: Path relative to the attachment folder under ``instance/``; never shown to users.
    stored_name: Mapped[str] = mapped_column(sa.String(255), unique=True)
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))

    case = relationship("Case", lazy="select")
    letter = relationship("Letter", lazy="select")
    visit = relationship("Visit", lazy="select")

    __table_args__ = (sa.Index("ix_attachments_list_order", "is_deleted", "id"),)

    def __str__(self) -> str:
        return self.title or self.original_name
