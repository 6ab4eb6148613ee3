"""Working days: Chinese statutory holidays and 调休 weekends, plus an administrator's overrides.

The ``chinese-calendar`` package knows the State Council's holiday arrangements for the years it
was released for (2004–2026 in 1.11.0). Administrators enter later years, or local exceptions, in
the override table; a year covered by neither falls back to Monday–Friday and the screens say so.
"""

from __future__ import annotations

import functools
from datetime import date, timedelta

import chinese_calendar
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from . import db
from .mixins import TimestampMixin


class CalendarOverride(TimestampMixin, db.Model):
    """One day whose working/rest status differs from (or is missing in) the calendar package."""

    __tablename__ = "calendar_overrides"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    is_working: Mapped[bool] = mapped_column(nullable=False)
    note: Mapped[str | None] = mapped_column(sa.String(100))

    def __str__(self) -> str:
        return self.day.isoformat()


@functools.lru_cache(maxsize=8192)
def _package_is_workday(day: date) -> bool | None:
    """The package's answer for ``day``, or None for a year it does not cover. Its data never
    changes in a running process, and deadline columns ask about the same few hundred days
    again and again (the package validates every date it is given, which is most of its cost)."""
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        return None


def package_covers(year: int) -> bool:
    return _package_is_workday(date(year, 6, 1)) is not None


def _is_spring_festival_rest(day: date) -> bool:
    # The lunar new year falls between 21 January and 20 February; its holiday starts at the
    # earliest on the eve and ends by the end of February. 1 January is 元旦, not 春节.
    return (day.month == 1 and day.day >= 20) or day.month == 2


def _is_national_day_rest(day: date) -> bool:
    return day.month == 10 and 1 <= day.day <= 8


def entered_holiday_years(overrides: dict[date, bool]) -> set[int]:
    """Years whose 春节 and 国庆 holidays the office has entered as overrides.

    A year counts when the override table holds, for that year, at least one weekday marked as
    a rest day from 20 January to the end of February (春节) and one from 1 to 8 October
    (国庆). One stray
    override (a local exception, or the first day typed in) does not make a year covered:
    without both holidays its deadlines would still be counted wrongly.
    """
    spring, national = set(), set()
    for day, is_working in overrides.items():
        if is_working or day.weekday() >= 5:
            continue
        if _is_spring_festival_rest(day):
            spring.add(day.year)
        elif _is_national_day_rest(day):
            national.add(day.year)
    return spring & national


class WorkCalendar:
    """Answers "is this a working day?" from overrides, then the package, then Mon–Fri."""

    def __init__(self, overrides: dict[date, bool]) -> None:
        self.overrides = overrides
        self._entered_years = entered_holiday_years(overrides)
        #: Years for which an answer fell back to Monday–Friday; shown as a warning.
        self.fallback_years: set[int] = set()

    def covers(self, year: int) -> bool:
        """Whether ``year``'s holidays are known: from the package, or entered by the office
        (both 春节 and 国庆, see ``entered_holiday_years``)."""
        return year in self._entered_years or package_covers(year)

    def is_working_day(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        answer = _package_is_workday(day)
        if answer is None:
            if day.year not in self._entered_years:
                self.fallback_years.add(day.year)
            return day.weekday() < 5
        return answer

    def add_working_days(self, start: date, count: int) -> date:
        """The ``count``-th working day after ``start`` (``start`` itself never counts)."""
        day = start
        remaining = count
        while remaining > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (``start``, ``end``]; negative when ``end`` is before ``start``."""
        if end < start:
            return -self.working_days_between(end, start)
        count = 0
        day = start
        while day < end:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count

    def next_working_day(self, day: date) -> date:
        """``day`` itself if it is a working day, otherwise the first working day after it."""
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day


def load_work_calendar() -> WorkCalendar:
    rows = db.session.execute(sa.select(CalendarOverride.day, CalendarOverride.is_working)).all()
    return WorkCalendar(dict(rows))


def work_calendar() -> WorkCalendar:
    """The calendar for this request/session (the override table is read once per session)."""
    cached = db.session.info.get("work_calendar")
    if cached is None:
        cached = db.session.info["work_calendar"] = load_work_calendar()
    return cached


def forget_work_calendar() -> None:
    """Drop the cached calendar after overrides change."""
    db.session.info.pop("work_calendar", None)
