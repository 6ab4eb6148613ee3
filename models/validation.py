"""Pure checks for identity numbers and phone numbers, shared by forms and operations."""

from __future__ import annotations

import re
from datetime import date

from flask_babel import gettext as _

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"
_ID_PATTERN = re.compile(r"^\d{17}[\dX]$")

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}(-\d{1,6})?$")
#: Service numbers such as 12345, 95598 or 96310 and 400/800 numbers.
_SERVICE = re.compile(r"^(1\d{4}|9\d{4}|[48]00-?\d{3}-?\d{4})$")


def normalize_id_number(value: str) -> str:
    return value.strip().replace(" ", "").upper()


def resident_id_check_char(first17: str) -> str:
    total = sum(int(digit) * weight for digit, weight in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CHARS[total % 11]


def resident_id_problem(value: str, today: date | None = None) -> str | None:
    """Return why a mainland resident ID number is invalid, or ``None`` when it is valid."""
    number = normalize_id_number(value)
    if not _ID_PATTERN.match(number):
        return _("居民身份证号码应为18位，前17位为数字，最后一位为数字或X")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return _("居民身份证号码中的出生日期无效")
    if born > (today or date.today()) or born.year < 1900:
        return _("居民身份证号码中的出生日期无效")
    if resident_id_check_char(number[:17]) != number[17]:
        return _("居民身份证号码校验位不正确，请核对")
    return None


def normalize_phone(value: str) -> str:
    return re.sub(r"[\s()（）]", "", value.strip())


def is_valid_phone(value: str) -> bool:
    """Mainland mobile, landline with area code (optional extension) or a service number."""
    number = normalize_phone(value)
    if number.startswith("+86"):
        number = number[3:]
    return bool(_MOBILE.match(number) or _LANDLINE.match(number) or _SERVICE.match(number))


_EMAIL = re.compile(r"^[^@\s<>,;\"']{1,64}@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+$")


def email_problem(value: str) -> str | None:
    """A Chinese message if ``value`` is not a plain e-mail address (``name@example.cn``)."""
    if len(value) > 120 or not _EMAIL.match(value):
        return _("邮箱地址格式不正确")
    return None
