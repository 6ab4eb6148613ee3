"""Case categories (a tree), each of one kind such as complaint or report."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .enums import CategoryKind, enum_column
from .mixins import TimestampMixin


class Category(TimestampMixin, db.Model):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    code: Mapped[str | None] = mapped_column(sa.String(20), unique=True)
    kind: Mapped[CategoryKind] = mapped_column(
        enum_column(CategoryKind, "category_kind"), default=CategoryKind.other, index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("categories.id", ondelete="SET NULL"), index=True
    )
    description: Mapped[str | None] = mapped_column(sa.Text)
    sort_order: Mapped[int] = mapped_column(default=0, nullable=False)
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False, index=True)

    parent = relationship("Category", remote_side=[id], lazy="select")

    __table_args__ = (sa.UniqueConstraint("parent_id", "name", name="uq_categories_parent_name"),)

    def __str__(self) -> str:
        return self.name
