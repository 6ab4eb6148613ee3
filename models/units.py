"""Departments, offices and outside bodies, as one tree."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .enums import OutOfScopePolicy, UnitKind, enum_column
from .mixins import TimestampMixin


class Unit(TimestampMixin, db.Model):
    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    short_name: Mapped[str | None] = mapped_column(sa.String(40))
    kind: Mapped[UnitKind] = mapped_column(
        enum_column(UnitKind, "unit_kind"), default=UnitKind.department, index=True
    )
    #: 机关代字 used in outgoing document numbers, e.g. ``X信复`` in ``X信复〔2026〕12号``.
    doc_code: Mapped[str | None] = mapped_column(sa.String(20))
    parent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("units.id", ondelete="SET NULL"), index=True
    )
    contact_phone: Mapped[str | None] = mapped_column(sa.String(32))
    address: Mapped[str | None] = mapped_column(sa.String(200))
    sort_order: Mapped[int] = mapped_column(default=0, nullable=False)
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False, index=True)
    #: What this unit does with matters outside its remit; empty: the system-wide setting.
    out_of_scope_policy: Mapped[OutOfScopePolicy | None] = mapped_column(
        enum_column(OutOfScopePolicy, "out_of_scope_policy")
    )

    parent = relationship("Unit", remote_side=[id], lazy="select")

    __table_args__ = (sa.UniqueConstraint("parent_id", "name", name="uq_units_parent_name"),)

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Unit {self.id} {self.name}>"
