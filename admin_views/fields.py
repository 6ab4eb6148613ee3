"""Form fields and validators: local-time input, identity numbers, phone numbers."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_admin.form import DateTimeField
from wtforms import SelectMultipleField, widgets
from wtforms.validators import ValidationError

from models.base import local_zone, utcnow
from models.enums import IdType
from models.texts import lazy_gettext as _l
from models.validation import (
    is_valid_phone,
    normalize_id_number,
    normalize_phone,
    resident_id_problem,
)

_INPUT_FORMATS = (
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)
#: Nothing in a petition register predates this; an earlier year is a typing slip.
EARLIEST_YEAR = 1980


class LocalDateTimeInput(widgets.DateTimeLocalInput):
    """The browser's own date-time picker: typing and picking give the same, unambiguous value."""

    def __call__(self, field, **kwargs):
        kwargs.setdefault("max", utcnow().astimezone(local_zone()).strftime("%Y-%m-%dT%H:%M"))
        return super().__call__(field, **kwargs)


class LocalDateTimeField(DateTimeField):
    """Staff type local time (Asia/Shanghai); the model receives an aware UTC datetime."""

    widget = LocalDateTimeInput()

    def __init__(self, label=None, validators=None, format=None, **kwargs):
        super().__init__(label, validators, format="%Y-%m-%dT%H:%M", **kwargs)

    def _value(self):
        if self.raw_data:
            return " ".join(self.raw_data)
        if self.data is None:
            return ""
        return self.data.astimezone(local_zone()).strftime("%Y-%m-%dT%H:%M")

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        text = " ".join(valuelist).strip()
        if not text:
            self.data = None
            return
        for fmt in _INPUT_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
            except ValueError:
                continue
            try:
                self.data = parsed.replace(tzinfo=local_zone()).astimezone(UTC)
            except OverflowError:
                # 0001-01-01 00:00 local lies before the first representable UTC instant.
                self.data = None
                raise ValueError(str(_l("时间超出合理范围，请检查年份"))) from None
            return
        self.data = None
        raise ValueError(str(_l("时间格式不正确，应为 2026-03-01 14:30")))


class NotInFuture:
    """Reject times after now (a few minutes of clock drift are allowed) or implausibly early."""

    def __call__(self, form, field):
        if field.data is None:
            return
        if (field.data - utcnow()).total_seconds() > 300:
            raise ValidationError(str(_l("时间不能晚于当前时间")))
        if field.data.year < EARLIEST_YEAR:
            raise ValidationError(str(_l("时间过早，请检查年份")))


class PhoneNumber:
    def __call__(self, form, field):
        if field.data:
            field.data = normalize_phone(field.data)
            if not is_valid_phone(field.data):
                raise ValidationError(
                    str(_l("电话号码格式不正确：手机为11位，固话需带区号，如 0851-12345678"))
                )


class IdentityNumber:
    """Check a mainland ID number (with its check digit) when the ID type says so."""

    def __init__(self, type_field: str = "id_type") -> None:
        self.type_field = type_field

    def __call__(self, form, field):
        if not field.data:
            return
        field.data = normalize_id_number(field.data)
        type_field = form._fields.get(self.type_field)
        id_type = getattr(type_field, "data", None)
        if id_type in (None, "", "None"):
            if type_field is not None and len(field.data) == 18:
                # An 18-character number with no type chosen is almost always a resident ID.
                type_field.data = IdType.resident_id.value
                id_type = IdType.resident_id.value
            else:
                raise ValidationError(str(_l("填写证件号码时请选择证件类型")))
        if str(getattr(id_type, "value", id_type)) == IdType.resident_id.value:
            problem = resident_id_problem(field.data)
            if problem:
                raise ValidationError(problem)


class PermissionsField(SelectMultipleField):
    """Stores a list of permission names in a JSON column."""

    def process_data(self, value):
        self.data = list(value or [])
