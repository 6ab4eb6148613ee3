"""Petitioners, visitors and customers."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from . import db
from .enums import Gender, IdType, enum_column
from .mixins import CreatedByMixin, TimestampMixin
from .text_search import bigram_index, trigram_index


class Party(TimestampMixin, CreatedByMixin, db.Model):
    __tablename__ = "parties"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), index=True)
    gender: Mapped[Gender | None] = mapped_column(enum_column(Gender, "gender"))
    age: Mapped[int | None] = mapped_column(sa.SmallInteger)
    id_type: Mapped[IdType | None] = mapped_column(enum_column(IdType, "id_type"))
    id_number: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    phone: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    email: Mapped[str | None] = mapped_column(sa.String(120))
    work_unit: Mapped[str | None] = mapped_column(sa.String(120))
    address: Mapped[str | None] = mapped_column(sa.String(200))
    #: 老、难、缠 or otherwise repeated petitioner; shown as a warning on every case.
    is_repeat_petitioner: Mapped[bool] = mapped_column(default=False, nullable=False)
    is_important_customer: Mapped[bool] = mapped_column(default=False, nullable=False)
    #: Banned from visiting the premises again (用户来访管理制度 六.1).
    is_banned: Mapped[bool] = mapped_column(default=False, nullable=False)
    note: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (
        sa.CheckConstraint("age IS NULL OR (age >= 0 AND age <= 150)", name="age_range"),
        # A search finds a case by part of a petitioner's or representative's phone or ID
        # number, and by a representative's name. PostgreSQL only (models.text_search).
        trigram_index("parties", "phone"),
        trigram_index("parties", "id_number"),
        trigram_index("parties", "name"),
        bigram_index("parties", "name"),
    )

    def __str__(self) -> str:
        if self.phone:
            return f"{self.name}（{self.phone}）"
        return self.name

    def __repr__(self) -> str:
        return f"<Party {self.id} {self.name}>"
