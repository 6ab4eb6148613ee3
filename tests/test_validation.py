from datetime import date

import pytest

from models.validation import is_valid_phone, resident_id_check_char, resident_id_problem


def _with_check_char(first17: str) -> str:
    return first17 + resident_id_check_char(first17)


@pytest.mark.parametrize(
    "number",
    ["11010519491231002X", _with_check_char("52010219850315123")],
)
def test_valid_resident_ids(number):
    assert resident_id_problem(number) is None


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("110105194912310021", "校验位"),
        ("11010519491231002", "18位"),
        ("11010519491331002X", "出生日期"),
        ("1101051949123100AX", "18位"),
    ],
)
def test_invalid_resident_ids(number, message):
    assert message in resident_id_problem(number)


def test_birth_date_in_future_is_rejected():
    number = _with_check_char("11010520300101002")
    assert "出生日期" in resident_id_problem(number, today=date(2026, 1, 1))


@pytest.mark.parametrize(
    ("phone", "valid"),
    [
        ("13800138000", True),
        ("+86 138 0013 8000", True),
        ("0851-88886666", True),
        ("085188886666", True),
        ("010-12345678-123", True),
        ("12345", True),
        ("95598", True),
        ("400-800-1234", True),
        ("1380013800", False),
        ("23800138000", False),
        ("abc", False),
        ("12-34", False),
    ],
)
def test_phone_numbers(phone, valid):
    assert is_valid_phone(phone) is valid
