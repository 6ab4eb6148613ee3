"""API tokens of other systems (hotlines, OA) and the cases they registered by their own ids.

A token is created in 设置 → 接口令牌 and shown once; only its SHA-256 is stored (a token is 32
random bytes, so a plain hash is enough: nothing to guess). Each token acts as one account (a
staff member or the system account 系统接口) and is limited to some of that account's
permissions and, optionally, to some units (``models.policies.api_token_sees_case``).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .base import UTCDateTime, utcnow

api_token_units = sa.Table(
    "api_token_units",
    db.metadata,
    sa.Column("token_id", sa.ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "unit_id", sa.ForeignKey("units.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
)


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    #: The calling system (``hotline-12345``, ``oa``): external ids are unique per integration,
    #: so a replacement token of the same system finds the cases its predecessor registered.
    integration: Mapped[str] = mapped_column(sa.String(40), index=True)
    #: The first characters of the token, to tell tokens apart on screen.
    prefix: Mapped[str] = mapped_column(sa.String(16))
    #: SHA-256 of the whole token, in hex.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: A subset of the acting account's permissions (``models.operations.api.API_PERMISSIONS``).
    permissions: Mapped[list] = mapped_column(sa.JSON, default=list, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    user = relationship("User", foreign_keys=[user_id], lazy="joined")
    created_by = relationship("User", foreign_keys=[created_by_id], lazy="select")
    units = relationship("Unit", secondary=api_token_units, lazy="select", order_by="Unit.id")

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def __str__(self) -> str:
        return f"{self.name}（{self.prefix}…）"


class ApiCaseLink(db.Model):
    """A case registered through the API under the calling system's own id."""

    __tablename__ = "api_case_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    integration: Mapped[str] = mapped_column(sa.String(40))
    external_id: Mapped[str] = mapped_column(sa.String(100))
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    token_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("api_tokens.id", ondelete="SET NULL"), index=True
    )
    #: SHA-256 of the request's content: the same id with other content is a conflict (409).
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    case = relationship("Case", lazy="select")

    __table_args__ = (sa.UniqueConstraint("integration", "external_id"),)

    def __str__(self) -> str:
        return f"{self.integration}:{self.external_id}"
