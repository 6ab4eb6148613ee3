"""Staff accounts and roles."""

from __future__ import annotations

import secrets
from datetime import datetime

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context
from flask_babel import gettext as _
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .base import UTCDateTime
from .mixins import TimestampMixin
from .texts import lazy_gettext as _l

user_roles = sa.Table(
    "user_roles",
    db.metadata,
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("role_id", sa.ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
)


def new_session_token() -> str:
    """A fresh value for ``User.session_token``: cookies naming the old one stop loading anyone."""
    return secrets.token_hex(16)


def password_hasher() -> PasswordHasher:
    """Argon2id with the configured cost (64 MiB, t=3 in production; cheaper in tests)."""
    params = {}
    if has_app_context():
        params = current_app.config.get("ARGON2_PARAMS", {})
    return PasswordHasher(**params)


#: The built-in roles' names (of every preset) in the reader's language; a name an office
#: typed itself is shown as typed.
ROLE_NAME_TITLES = {
    "系统管理员": _l("系统管理员"),
    "登记员": _l("登记员"),
    "承办人": _l("承办人"),
    "部门负责人": _l("部门负责人"),
    "信访办/办公室": _l("信访办/办公室"),
    "信访办": _l("信访办"),
    "办公室": _l("办公室"),
    "领导": _l("领导"),
    "监督": _l("监督"),
}


class Role(TimestampMixin, db.Model):
    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stable code used by presets and tests (``office``, ``leader`` …).
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(80), unique=True)
    description: Mapped[str | None] = mapped_column(sa.Text)
    permissions: Mapped[list] = mapped_column(sa.JSON, default=list, nullable=False)

    def __str__(self) -> str:
        return self.name

    @property
    def title(self) -> str:
        """The name in the reader's language (built-in names only)."""
        return str(ROLE_NAME_TITLES.get(self.name, self.name))


class User(UserMixin, TimestampMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(64))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    position: Mapped[str | None] = mapped_column(sa.String(64))
    is_active_user: Mapped[bool] = mapped_column(default=True, nullable=False)
    unit_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("units.id", ondelete="SET NULL"), index=True
    )
    #: Flask-Login's user id in the signed session cookie. Rotated on logout, password change and
    #: deactivation, so every cookie issued before stops working (see operations/sessions.py).
    session_token: Mapped[str] = mapped_column(
        sa.String(64), unique=True, default=new_session_token
    )
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Where notification e-mails go (issue 18); empty: none are sent.
    email: Mapped[str | None] = mapped_column(sa.String(120))
    #: ``immediate``, ``digest`` (one e-mail a day) or ``off`` (models/messaging.EmailDelivery).
    email_delivery: Mapped[str] = mapped_column(
        sa.String(16), default="immediate", server_default="immediate", nullable=False
    )
    #: The kinds told by e-mail, comma-separated (models/messaging.STAFF_KINDS).
    email_kinds: Mapped[str] = mapped_column(
        sa.String(200),
        default="assignment,due_soon,overdue,escalation,callback_due",
        server_default="assignment,due_soon,overdue,escalation,callback_due",
        nullable=False,
    )

    unit = relationship("Unit", lazy="joined")
    # Loaded with the signed-in user (see load_user); never for users merely shown in lists.
    roles = relationship("Role", secondary=user_roles, lazy="select", order_by="Role.id")

    def __str__(self) -> str:
        return self.full_name or self.username

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username}>"

    # Flask-Login
    @property
    def is_active(self) -> bool:
        return self.is_active_user

    def get_id(self) -> str:
        return self.session_token

    def set_password(self, password: str) -> None:
        self.password_hash = password_hasher().hash(password)
        self.session_token = new_session_token()

    def check_password(self, password: str) -> bool:
        try:
            return password_hasher().verify(self.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    @property
    def permissions(self) -> frozenset[str]:
        # A page asks a few hundred times (menu, row icons, steps); the set is rebuilt only
        # when the user's roles, or a role's stored list, are no longer the same objects.
        roles = self.roles
        key = tuple((id(role), id(role.permissions)) for role in roles)
        memo = self.__dict__.get("_permissions_memo")
        if memo is not None and memo[0] == key:
            return memo[1]
        permissions = frozenset(p for role in roles for p in (role.permissions or []))
        self.__dict__["_permissions_memo"] = (key, permissions)
        return permissions

    def has_permission(self, name: str) -> bool:
        return name in self.permissions

    def has_role(self, code: str) -> bool:
        return any(role.code == code for role in self.roles)

    @property
    def role_names(self) -> str:
        return str(_("、")).join(role.title for role in self.roles)


#: The account the online petition portal registers cases as (models/operations/portal.py).
PORTAL_USERNAME = "online-portal"
#: The account API tokens of other systems may act as (models/operations/api.py).
API_USERNAME = "api-integration"
#: Accounts the system itself acts as: never offered as staff in a picker.
SYSTEM_USERNAMES = (PORTAL_USERNAME, API_USERNAME)


def is_staff(user) -> bool:
    """An active person on the staff (not a system account)."""
    return bool(user.is_active_user) and user.username not in SYSTEM_USERNAMES


def staff_condition():
    """SQL twin of ``is_staff``."""
    return sa.and_(User.is_active_user.is_(True), User.username.notin_(SYSTEM_USERNAMES))
