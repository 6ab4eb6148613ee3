"""Declarative base, the UTC datetime column type and time helpers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.orm import DeclarativeBase

#: Deterministic constraint names so Alembic batch migrations on SQLite can find them again.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

DEFAULT_TIMEZONE = "Asia/Shanghai"


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def partial_index(name: str, *columns, where: str, **options) -> sa.Index:
    """An index over the rows matching ``where`` (SQL), the same on SQLite and PostgreSQL."""
    return sa.Index(
        name,
        *columns,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
        **options,
    )


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def local_zone(name: str | None = None) -> ZoneInfo:
    """The zone times are shown and entered in: ``TIMEZONE`` in the app config, else Beijing."""
    if name is None and has_app_context():
        name = current_app.config.get("TIMEZONE")
    return ZoneInfo(name or DEFAULT_TIMEZONE)


def to_local(value: datetime | None, zone: str | None = None) -> datetime | None:
    if value is None:
        return None
    return value.astimezone(local_zone(zone))


def format_local(value: datetime | None, zone: str | None = None) -> str:
    """Format an aware datetime in local time, e.g. ``2026-03-01 14:05``."""
    local = to_local(value, zone)
    return local.strftime("%Y-%m-%d %H:%M") if local else ""


def format_chinese_date(value: date | datetime | None) -> str:
    """Format a date the way official documents print it: ``2026年3月1日``."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = to_local(value).date()
    return f"{value.year}年{value.month}月{value.day}日"


class UTCDateTime(sa.types.TypeDecorator):
    """Store aware datetimes as UTC; refuse naive ones so local time never leaks in."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
