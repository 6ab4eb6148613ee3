"""Changing a system setting: the one place where a setting's value is checked and saved."""

from __future__ import annotations

import logging
from datetime import date

from flask_babel import gettext as _

from .. import db
from ..base import to_local, utcnow
from ..settings import DEFAULT_SETTINGS, SettingKind, SystemSetting, setting_spec
from . import ValidationFailed
from .guards import ensure_permission
from .numbering import format_case_number, validate_number_pattern

logger = logging.getLogger(__name__)


def clean_setting_value(key: str, raw) -> str:
    """The stored text of ``raw`` as a value of setting ``key``, or ``ValidationFailed``
    (field ``value``) with a Chinese message saying what the setting accepts."""
    spec = setting_spec(key)
    value = "" if raw is None else str(raw).strip()
    if spec.kind in (SettingKind.choice, SettingKind.yes_no):
        if value not in {code for code, _title in spec.choices}:
            titles = " / ".join(str(title) for _code, title in spec.choices)
            raise ValidationFailed(_("请从列表中选择：%(titles)s", titles=titles), field="value")
        return value
    if spec.kind == SettingKind.number:
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or not (spec.minimum <= number <= spec.maximum):
            raise ValidationFailed(
                _(
                    "请填写 %(minimum)s 到 %(maximum)s 之间的整数",
                    minimum=spec.minimum,
                    maximum=spec.maximum,
                ),
                field="value",
            )
        return str(number)
    if spec.kind == SettingKind.date:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            day = None
        if day is None or not (1900 <= day.year <= 2100):
            raise ValidationFailed(_("请填写有效日期，例如 2026-01-01"), field="value")
        return day.isoformat()
    if not value:
        raise ValidationFailed(_("请填写此项"), field="value")
    if not value.isprintable():
        raise ValidationFailed(_("不能包含换行、制表符或不可见的控制字符"), field="value")
    if len(value) > spec.max_length:
        raise ValidationFailed(_("不能超过%(length)s个字", length=spec.max_length), field="value")
    if spec.kind == SettingKind.number_pattern:
        problem = validate_number_pattern(value)
        if problem:
            raise ValidationFailed(problem, field="value")
    return value


def update_setting(key: str, raw, *, by) -> SystemSetting:
    """Check and store a new value of setting ``key`` (the audit log records the change)."""
    ensure_permission(by, "settings.manage")
    if key not in DEFAULT_SETTINGS:
        raise ValidationFailed(_("没有这个设置项"), field="key")
    value = clean_setting_value(key, raw)
    row = db.session.get(SystemSetting, key)
    if row is None:
        row = SystemSetting(key=key, description=str(DEFAULT_SETTINGS[key][1]))
        db.session.add(row)
    row.value = value
    db.session.flush()
    logger.info("setting %s set to %r by user %s", key, value, by.id)
    return row


def next_number_preview(pattern: str | None = None) -> str | None:
    """The registration number the next case would get with ``pattern`` (default: the
    current one); ``None`` when the pattern cannot make one."""
    from ..cases import NumberSequence

    pattern = pattern or SystemSetting.get("case_number_pattern")
    year = to_local(utcnow()).year
    last = db.session.scalar(
        db.select(NumberSequence.last_value).where(
            NumberSequence.register == "case", NumberSequence.year == year
        )
    )
    try:
        return format_case_number(pattern, year=year, seq=(last or 0) + 1)
    except ValidationFailed:
        return None
