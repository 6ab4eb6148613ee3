"""The working-day calendar for the date picker (issue 19): which days of a year differ from
Monday–Friday, so the picker can mark rest days (holidays) and 调休 working weekends.

``GET /admin/working-days/<year>`` → ``{"year", "known", "rest": [...], "work": [...]}``:
``rest`` holds weekdays off, ``work`` weekend days worked; ``known`` is false for a year whose
holidays neither the calendar package nor the office's overrides cover (then the lists only
carry the overrides and the picker shows plain weekends).
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import Flask, current_app, jsonify
from flask_login import current_user

from models.calendar import work_calendar

EARLIEST, LATEST = 1980, 2100


def working_days(year: int):
    if not (current_user and current_user.is_authenticated):
        # Like every other page: to the login page.
        return current_app.login_manager.unauthorized()
    if not EARLIEST <= year <= LATEST:
        return jsonify({"error": "year out of range"}), 400
    calendar = work_calendar()
    rest, work = [], []
    day = date(year, 1, 1)
    while day.year == year:
        working = calendar.is_working_day(day)
        if day.weekday() < 5 and not working:
            rest.append(day.isoformat())
        elif day.weekday() >= 5 and working:
            work.append(day.isoformat())
        day += timedelta(days=1)
    response = jsonify({"year": year, "known": calendar.covers(year), "rest": rest, "work": work})
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


def install_working_days(app: Flask) -> None:
    app.add_url_rule("/admin/working-days/<int:year>", "working_days", working_days)
