"""Working days: Chinese statutory holidays and 调休 weekends, plus an administrator's overrides.

The ``chinese-calendar`` package knows the State Council's holiday arrangements for the years it
was released for (2004–2026 in 1.11.0). Administrators enter later years, or local exceptions, in
the override table; a year covered by neither falls back to Monday–Friday and the screens say so.
"""

from __future__ import annotations

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


def package_covers(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


class WorkCalendar:
    """Answers "is this a working day?" from overrides, then the package, then Mon–Fri."""

    def __init__(self, overrides: dict[date, bool]) -> None:
        self.overrides = overrides
        self._override_years = {day.year for day in overrides}
        #: Years for which an answer fell back to Monday–Friday; shown as a warning.
        self.fallback_years: set[int] = set()

    def covers(self, year: int) -> bool:
        return year in self._override_years or package_covers(year)

    def is_working_day(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:
            if day.year not in self._override_years:
                self.fallback_years.add(day.year)
            return day.weekday() < 5

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
