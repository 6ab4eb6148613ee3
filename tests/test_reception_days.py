"""Reception-day recurrence over a whole year, the rota, deputies and holidays (2026)."""

from __future__ import annotations

from datetime import date, time, timedelta

import chinese_calendar

from models import (
    CalendarOverride,
    LeaderAbsence,
    ReceptionLeader,
    ReceptionRotaMember,
    ReceptionSchedule,
    db,
)
from models.calendar import WorkCalendar, forget_work_calendar
from models.enums import Recurrence
from models.reception_days import reception_days

YEAR_START, YEAR_END = date(2026, 1, 1), date(2026, 12, 31)


def _leader(name, post, order=0):
    leader = ReceptionLeader(name=name, post=post, sort_order=order)
    db.session.add(leader)
    return leader


def court_schedules():
    """The court's rule: first Monday the president; other Mondays three leaders in turn."""
    president = _leader("王院长", "院长")
    deputies = [
        _leader(name, "副院长", n) for n, name in enumerate(("李副院长", "张副院长", "赵副院长"), 1)
    ]
    first_monday = ReceptionSchedule(
        name="院长接待日",
        recurrence=Recurrence.monthly_weekday,
        weekday=0,
        week_of_month=1,
        start_time=time(9),
        end_time=time(12),
        place="立案庭接待室",
        leader=president,
        priority=10,
        starts_on=YEAR_START,
    )
    rota = ReceptionSchedule(
        name="院领导轮流接待",
        recurrence=Recurrence.weekly,
        weekday=0,
        start_time=time(9),
        end_time=time(12),
        place="立案庭接待室",
        starts_on=YEAR_START,
        rota=[ReceptionRotaMember(position=n, leader=d) for n, d in enumerate(deputies, 1)],
    )
    db.session.add_all([first_monday, rota])
    db.session.commit()
    return president, deputies, first_monday, rota


def mondays(year=2026):
    day = date(year, 1, 5)
    while day.year == year:
        yield day
        day += timedelta(days=7)


def test_first_monday_president_and_rota_on_other_mondays(app):
    president, deputies, first_monday, rota = court_schedules()
    held = reception_days(YEAR_START, YEAR_END, calendar=WorkCalendar({}))
    by_day = {occurrence.day: occurrence for occurrence in held}

    # Every Monday that is a working day has exactly one reception; holiday Mondays have none.
    working_mondays = [day for day in mondays() if chinese_calendar.is_workday(day)]
    assert sorted(by_day) == working_mondays
    assert len(held) == len(working_mondays)
    for holiday in (date(2026, 2, 16), date(2026, 2, 23), date(2026, 4, 6), date(2026, 10, 5)):
        assert holiday not in by_day

    for day, occurrence in by_day.items():
        if day.day <= 7:
            assert occurrence.schedule is first_monday and occurrence.leader is president
        else:
            assert occurrence.schedule is rota and occurrence.leader in deputies
    # The rota advances only on days it actually holds: strictly in turn, never skipping anyone.
    rota_leaders = [o.leader for o in held if o.schedule is rota]
    assert rota_leaders == [deputies[n % 3] for n in range(len(rota_leaders))]
    # Spring Festival: 2 Feb (first Monday) is the president's; 9 Feb the rota; 16 and 23 off.
    assert by_day[date(2026, 2, 2)].leader is president
    assert by_day[date(2026, 2, 9)].schedule is rota
    assert by_day[date(2026, 3, 2)].leader is president


def test_skipped_days_are_listed_with_a_reason(app):
    court_schedules()
    everything = reception_days(date(2026, 2, 1), date(2026, 2, 28), include_skipped=True)
    skipped = {(o.day, o.schedule.name): o.skipped for o in everything if o.skipped}
    assert skipped[(date(2026, 2, 16), "院领导轮流接待")] == "节假日不接待"
    assert skipped[(date(2026, 2, 23), "院领导轮流接待")] == "节假日不接待"
    assert skipped[(date(2026, 2, 2), "院领导轮流接待")] == "与优先安排冲突"


def test_fixed_day_of_month_and_adjusted_working_saturdays(app):
    monthly = ReceptionSchedule(
        name="人大接待日",
        recurrence=Recurrence.monthly_day,
        day_of_month=14,
        start_time=time(9),
        end_time=time(11),
        place="乡人大接待室",
        leader=_leader("周主席", "人大主席"),
        starts_on=YEAR_START,
    )
    saturday = ReceptionSchedule(
        name="周六值班",
        recurrence=Recurrence.weekly,
        weekday=5,
        start_time=time(14),
        end_time=time(16),
        place="接待室",
        leader=_leader("钱主任", "办公室主任"),
        starts_on=YEAR_START,
    )
    db.session.add_all([monthly, saturday])
    db.session.commit()
    held = reception_days(YEAR_START, YEAR_END)

    monthly_days = [o.day for o in held if o.schedule is monthly]
    expected = [
        date(2026, m, 14) for m in range(1, 13) if chinese_calendar.is_workday(date(2026, m, 14))
    ]
    assert monthly_days == expected
    # 14 February 2026 is a Saturday made a working day (调休) before the Spring Festival.
    assert date(2026, 2, 14) in monthly_days
    assert date(2026, 3, 14) not in monthly_days  # an ordinary Saturday

    saturdays = [o.day for o in held if o.schedule is saturday]
    assert date(2026, 2, 14) in saturdays and date(2026, 2, 28) in saturdays
    assert all(chinese_calendar.is_workday(day) for day in saturdays)
    assert date(2026, 2, 21) not in saturdays


def test_deputy_receives_when_the_leader_is_away(app):
    president, deputies, first_monday, _rota = court_schedules()
    db.session.add(
        LeaderAbsence(
            leader=president,
            deputy=deputies[2],
            first_day=date(2026, 3, 1),
            last_day=date(2026, 3, 3),
            reason="外出开会",
        )
    )
    db.session.commit()
    (occurrence,) = list(reception_days(date(2026, 3, 2), date(2026, 3, 2)))
    assert occurrence.schedule is first_monday
    assert occurrence.leader is deputies[2] and occurrence.absent_leader is president
    (june,) = reception_days(date(2026, 6, 1), date(2026, 6, 1))
    assert june.leader is president and june.absent_leader is None


def test_override_table_turns_a_reception_day_off(app):
    _president, _deputies, _first, _rota = court_schedules()
    assert date(2026, 3, 9) in {o.day for o in reception_days(date(2026, 3, 9), date(2026, 3, 9))}
    db.session.add(CalendarOverride(day=date(2026, 3, 9), is_working=False, note="调整"))
    db.session.commit()
    forget_work_calendar()
    assert reception_days(date(2026, 3, 9), date(2026, 3, 9)) == []
