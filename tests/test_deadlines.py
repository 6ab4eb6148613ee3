"""The deadline arithmetic, checked day by day against the chinese-calendar package.

Each row is one clock: when it starts, how long it runs, and when it must be met (local time).
Day counts start the day after the start; a deadline ends at 23:59:59 local on its last day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from models.calendar import WorkCalendar
from models.deadlines import CaseClock, compute_due, paused_span, time_left
from models.enums import Clock, TimeUnit
from models.operations import ValidationFailed
from models.operations.deadlines import check_extension

BEIJING = ZoneInfo("Asia/Shanghai")
W, D, H = TimeUnit.working_days, TimeUnit.calendar_days, TimeUnit.hours


def local(year, month, day, hour=10, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BEIJING).astimezone(UTC)


def clock(start, amount, unit, *, extension=0, paused=0, fixed=None, max_extension=None):
    return CaseClock(
        kind=Clock.handling,
        started_at=start,
        amount=amount,
        unit=unit,
        extension=extension,
        extension_count=0,
        paused_amount=paused,
        fixed_due_on=fixed,
        max_extension=max_extension,
    )


def due_day(app, row_clock, overrides=None, roll=True) -> tuple[date, WorkCalendar]:
    calendar = WorkCalendar(overrides or {})
    with app.app_context():
        due = compute_due(row_clock, calendar, roll_to_working_day=roll)
    return due.astimezone(BEIJING), calendar


# (id, start, amount, unit, expected local due date, kwargs)
TABLE = [
    ("5wd-plain-week", local(2026, 3, 2), 5, W, date(2026, 3, 9), {}),
    ("5wd-from-friday", local(2026, 3, 6), 5, W, date(2026, 3, 13), {}),
    ("1wd-friday-to-monday", local(2026, 3, 6), 1, W, date(2026, 3, 9), {}),
    # Spring Festival 2026: Feb 15-23 off, Sat Feb 14 and Sat Feb 28 are 调休 working days.
    ("spring-festival-tiaoxiu-saturday", local(2026, 2, 13), 1, W, date(2026, 2, 14), {}),
    ("spring-festival-3wd", local(2026, 2, 13), 3, W, date(2026, 2, 25), {}),
    ("spring-festival-start-in-holiday", local(2026, 2, 17), 1, W, date(2026, 2, 24), {}),
    ("spring-festival-5wd", local(2026, 2, 12), 5, W, date(2026, 2, 26), {}),
    ("feb-28-saturday-counts", local(2026, 2, 26), 2, W, date(2026, 2, 28), {}),
    # National Day 2026: Oct 1-7 off; Sun Sep 20 and Sat Oct 10 are working days.
    ("national-day-5wd", local(2026, 9, 30), 5, W, date(2026, 10, 13), {}),
    ("national-day-sunday-sep-20-works", local(2026, 9, 19), 1, W, date(2026, 9, 20), {}),
    ("national-day-3wd-leader", local(2026, 9, 29), 3, W, date(2026, 10, 9), {}),
    ("mid-autumn-friday-off", local(2026, 9, 24), 1, W, date(2026, 9, 28), {}),
    ("labour-day-3wd", local(2026, 4, 30), 3, W, date(2026, 5, 8), {}),
    ("labour-day-saturday-may-9-works", local(2026, 5, 8), 1, W, date(2026, 5, 9), {}),
    ("new-year-sunday-jan-4-works", local(2026, 1, 2), 1, W, date(2026, 1, 4), {}),
    ("qingming-monday-off", local(2026, 4, 3), 1, W, date(2026, 4, 7), {}),
    ("dragon-boat", local(2026, 6, 18), 1, W, date(2026, 6, 22), {}),
    # National Day 2025 (Oct 1-8 off, Sun Sep 28 and Sat Oct 11 working).
    ("national-day-2025", local(2025, 9, 30), 2, W, date(2025, 10, 10), {}),
    # Calendar days: a last day on a rest day runs to the next working day (民法典 203).
    ("15d-plain", local(2026, 3, 2), 15, D, date(2026, 3, 17), {}),
    ("15d-ends-in-national-day", local(2026, 9, 20), 15, D, date(2026, 10, 8), {}),
    ("15d-ends-on-sunday", local(2026, 3, 7), 15, D, date(2026, 3, 23), {}),
    ("60d-ends-in-labour-day", local(2026, 3, 2), 60, D, date(2026, 5, 6), {}),
    ("60d-plus-30-ends-on-sunday", local(2026, 3, 2), 60, D, date(2026, 6, 1), {"extension": 30}),
    ("3d-urgent", local(2026, 3, 10), 3, D, date(2026, 3, 13), {}),
    ("14d-rectification", local(2026, 6, 1), 14, D, date(2026, 6, 15), {}),
    # Pauses are counted in the clock's unit and push the deadline out.
    ("pause-over-national-day-wd", local(2026, 9, 28), 3, W, date(2026, 10, 9), {"paused": 1}),
    ("pause-3-calendar-days", local(2026, 3, 2), 15, D, date(2026, 3, 20), {"paused": 3}),
    ("extension-2wd", local(2026, 3, 2), 5, W, date(2026, 3, 11), {"extension": 2}),
    # An instruction's date overrides the rule, rest day or not.
    (
        "instruction-override",
        local(2026, 3, 2),
        5,
        W,
        date(2026, 3, 21),
        {"fixed": date(2026, 3, 21)},
    ),
    (
        "instruction-override-extended",
        local(2026, 3, 2),
        5,
        W,
        date(2026, 3, 26),
        {"fixed": date(2026, 3, 21), "extension": 5},
    ),
    # Years the package does not cover: Monday to Friday until the override table has them.
    ("2027-fallback", local(2026, 12, 28), 5, W, date(2027, 1, 4), {}),
    ("2027-calendar-days-fallback", local(2026, 12, 20), 15, D, date(2027, 1, 4), {}),
]


@pytest.mark.parametrize(
    ("start", "amount", "unit", "expected", "extra"),
    [row[1:] for row in TABLE],
    ids=[r[0] for r in TABLE],
)
def test_deadline_table(app, start, amount, unit, expected, extra):
    due, _calendar = due_day(app, clock(start, amount, unit, **extra))
    assert due.date() == expected
    assert (due.hour, due.minute, due.second) == (23, 59, 59)


def test_table_agrees_with_the_calendar_package():
    """Every working-day row's due date is itself a working day per chinese-calendar."""
    for name, _start, _amount, unit, expected, extra in TABLE:
        if unit == W and "fixed" not in extra and expected.year <= 2026:
            assert chinese_calendar.is_workday(expected), name


def test_calendar_days_without_rolling_end_on_the_rest_day(app):
    due, _ = due_day(app, clock(local(2026, 9, 20), 15, D), roll=False)
    assert due.date() == date(2026, 10, 5)


def test_hours_run_across_the_weekend_as_plain_hours(app):
    start = local(2026, 3, 6, 17, 0)  # Friday 17:00
    due, _ = due_day(app, clock(start, 24, H))
    assert due == datetime(2026, 3, 7, 17, 0, tzinfo=BEIJING)
    due, _ = due_day(app, clock(start, 24, H, paused=90))
    assert due == datetime(2026, 3, 7, 18, 30, tzinfo=BEIJING)


def test_year_without_holiday_data_is_flagged(app):
    row = clock(local(2026, 12, 28), 5, W)
    _due, calendar = due_day(app, row)
    assert row.calendar_fallback is True
    assert 2027 in calendar.fallback_years


def test_override_table_fills_the_missing_year(app):
    new_year = {date(2027, 1, 1): False, date(2027, 1, 2): False, date(2027, 1, 3): False}
    row = clock(local(2026, 12, 28), 5, W)
    due, _calendar = due_day(app, row, new_year)
    assert due.date() == date(2027, 1, 5)
    # 元旦 alone does not make 2027 known: 春节 and 国庆 are still missing, so the clock
    # keeps its "counted Monday to Friday" warning.
    assert row.calendar_fallback is True

    holidays = {**new_year, date(2027, 2, 8): False, date(2027, 10, 1): False}
    row = clock(local(2026, 12, 28), 5, W)
    due, _calendar = due_day(app, row, holidays)
    assert due.date() == date(2027, 1, 5)
    assert row.calendar_fallback is False


@pytest.mark.parametrize(
    ("overrides", "covered"),
    [
        ({}, False),
        ({date(2027, 3, 9): False}, False),  # one local exception
        ({date(2027, 2, 8): False}, False),  # 春节 without 国庆
        ({date(2027, 10, 1): False}, False),  # 国庆 without 春节
        ({date(2027, 1, 1): False, date(2027, 10, 4): False}, False),  # 元旦 is not 春节
        ({date(2027, 2, 6): False, date(2027, 10, 2): False}, False),  # weekends only
        ({date(2027, 2, 8): True, date(2027, 10, 1): True}, False),  # working, not rest
        ({date(2027, 2, 8): False, date(2027, 10, 1): False}, True),
        ({date(2027, 1, 29): False, date(2027, 10, 8): False}, True),
    ],
)
def test_an_entered_year_counts_as_covered_only_with_both_long_holidays(overrides, covered):
    calendar = WorkCalendar(overrides)
    assert calendar.covers(2027) is covered
    assert calendar.covers(2025) is True  # the package knows it, overrides or not


def test_override_can_make_a_weekend_a_working_day(app):
    overrides = {date(2026, 3, 7): True}  # a local make-up Saturday
    due, _ = due_day(app, clock(local(2026, 3, 6), 1, W), overrides)
    assert due.date() == date(2026, 3, 7)


def test_pause_counts_only_working_days_for_working_day_clocks(app):
    row = clock(local(2026, 9, 28), 3, W)
    row.paused_at = local(2026, 9, 30)
    with app.app_context():
        span = paused_span(row, local(2026, 10, 8), WorkCalendar({}))
    # Oct 1-7 are holidays: only Oct 8 was a working day lost.
    assert span == 1
    row.unit = D
    with app.app_context():
        assert paused_span(row, local(2026, 10, 8), WorkCalendar({})) == 8


def test_extension_at_the_cap_is_allowed_and_beyond_is_refused(app):
    row = clock(local(2026, 3, 2), 60, D, max_extension=30)
    check_extension(row, 30)
    with pytest.raises(ValidationFailed, match="不得超过30"):
        check_extension(row, 31)
    row.extension = 20
    with pytest.raises(ValidationFailed, match="最多还可延期10"):
        check_extension(row, 11)
    with pytest.raises(ValidationFailed, match="不能延期"):
        check_extension(clock(local(2026, 3, 2), 5, W), 1)


def test_single_postponement_rule(app):
    row = clock(local(2026, 3, 2), 2, D, max_extension=5)
    row.max_extension_count = 1
    row.extension_count = 1
    with pytest.raises(ValidationFailed, match="不得再次延期"):
        check_extension(row, 1)


def test_time_left_speaks_in_the_rules_unit(app):
    row = clock(local(2026, 3, 2), 5, W)
    calendar = WorkCalendar({})
    with app.app_context():
        row.due_at = compute_due(row, calendar, roll_to_working_day=True)
        assert time_left(row, calendar, local(2026, 3, 5)) == "剩余 2 个工作日"
        assert time_left(row, calendar, local(2026, 3, 9)) == "今日到期"
        assert time_left(row, calendar, local(2026, 3, 11)) == "已超期 2 个工作日"
        row.stopped_at = local(2026, 3, 6)
        assert time_left(row, calendar, local(2026, 3, 11)) == "按期完成"
    assert timedelta(0) < row.due_at - row.started_at
