"""Registration numbers: unique, gap-free per register and year, safe under concurrency."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .. import db
from ..base import to_local, utcnow
from ..cases import NumberSequence
from ..settings import SystemSetting
from . import ValidationFailed

_table = NumberSequence.__table__


def format_case_number(pattern: str, *, year: int, seq: int) -> str:
    try:
        return pattern.format(year=year, seq=seq)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValidationFailed(
            _("登记编号格式“%(pattern)s”无效：%(error)s", pattern=pattern, error=exc)
        ) from exc


def validate_number_pattern(pattern: str) -> str | None:
    """Return a message when ``pattern`` cannot produce distinct numbers, else ``None``."""
    if "{seq" not in pattern:
        return _("登记编号格式必须包含 {seq}（序号），例如 XF{year}-{seq:06d}")
    if "{year" not in pattern:
        return _("登记编号格式必须包含 {year}（年份），因为序号每年重新开始")
    try:
        first, second = (pattern.format(year=2026, seq=n) for n in (1, 2))
    except (KeyError, IndexError, ValueError):
        return _("登记编号格式无法解析，只能使用 {year} 和 {seq} 两个占位符")
    if first == second or len(first) > 40:
        return _("登记编号格式无效（序号不同的编号必须不同，且不超过40个字符）")
    return None


def next_sequence(register: str, year: int) -> int:
    """Take the next value of ``register``/``year`` inside the current transaction.

    The UPDATE takes a row lock that is held until the transaction ends, so two concurrent
    registrations queue on it; a rolled-back registration also rolls back its number, which
    keeps the register gap-free.
    """
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    db.session.execute(
        insert(_table).values(register=register, year=year, last_value=0).on_conflict_do_nothing()
    )
    return db.session.execute(
        sa.update(_table)
        .where(_table.c.register == register, _table.c.year == year)
        .values(last_value=_table.c.last_value + 1)
        .returning(_table.c.last_value)
    ).scalar_one()


def assign_case_number(case, *, register: str = "case", at: datetime | None = None) -> str:
    """Give ``case`` its registration number for the local year of ``at`` (default now)."""
    pattern = SystemSetting.get("case_number_pattern")
    year = to_local(at or utcnow()).year
    seq = next_sequence(register, year)
    case.register = register
    case.register_year = year
    case.register_seq = seq
    case.number = format_case_number(pattern, year=year, seq=seq)
    return case.number
