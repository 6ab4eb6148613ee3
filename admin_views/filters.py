"""List filters for UTC datetime columns and for cached option lists."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from flask import has_app_context
from flask_admin.contrib.sqla import filters

from models.base import local_zone
from models.texts import lazy_gettext as _l


def _local_midnight_utc(day) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=local_zone()).astimezone(UTC)


class LocalDateBetweenFilter(filters.DateBetweenFilter):
    """Pick local calendar days; compare against UTC datetimes (end day inclusive)."""

    def apply(self, query, value, alias=None):
        start, end = value
        column = self.get_column(alias)
        return query.filter(
            column >= _local_midnight_utc(start),
            column < _local_midnight_utc(end + timedelta(days=1)),
        )


class LocalDateOnOrAfterFilter(filters.DateGreaterFilter):
    def apply(self, query, value, alias=None):
        return query.filter(self.get_column(alias) >= _local_midnight_utc(value))

    def operation(self):
        return _l("不早于")


class LocalDateBeforeFilter(filters.DateSmallerFilter):
    def apply(self, query, value, alias=None):
        return query.filter(self.get_column(alias) < _local_midnight_utc(value + timedelta(1)))

    def operation(self):
        return _l("不晚于")


def date_filters(column, label) -> list:
    return [
        LocalDateBetweenFilter(column, label),
        LocalDateOnOrAfterFilter(column, label),
        LocalDateBeforeFilter(column, label),
    ]


class CachedOptions:
    """Filter choices read from a small table, cached per process for a short while.

    Flask-Admin computes filter options once, when the view is built; these options are
    reloaded when they are older than ``ttl_seconds`` (or a save cleared them), and views
    rebuild their filter lists when the generation changes. Without the cache every list
    page would spend one query per option list.
    """

    ttl_seconds = 60
    generation = 0
    _registry: list[CachedOptions] = []

    def __init__(self, loader) -> None:
        self.loader = loader
        self._value: list | None = None
        self._loaded_at = 0.0
        CachedOptions._registry.append(self)

    def _stale(self) -> bool:
        return self._value is None or time.monotonic() - self._loaded_at > self.ttl_seconds

    def __call__(self):
        if not has_app_context():
            return []
        if self._stale():
            self._value = [(str(key), label) for key, label in self.loader()]
            self._loaded_at = time.monotonic()
            CachedOptions.generation += 1
        return self._value

    @classmethod
    def refresh_if_due(cls) -> int:
        """Reload whatever expired; return the generation views compare against."""
        for options in cls._registry:
            if options._stale():
                options()
        return cls.generation

    @classmethod
    def clear_all(cls) -> None:
        for options in cls._registry:
            options._value = None


class ChoiceEqualFilter(filters.FilterEqual):
    """Equality against a fixed list of choices; any other value is ignored, not a 500."""

    def validate(self, value) -> bool:
        return value in {str(key) for key, _label in (self.get_options(None) or [])}


class MyCasesFilter(filters.BaseSQLAFilter):
    """Cases the signed-in user handles or assists with (the home page's "mine" figure)."""

    def __init__(self, column, name):
        super().__init__(column, name, options=[("1", _l("是"))])

    def apply(self, query, value, alias=None):
        from flask_login import current_user

        from models.policies import handles_case_clause

        return query.filter(handles_case_clause(current_user))

    def validate(self, value) -> bool:
        return value == "1"

    def operation(self):
        return _l("是")


class DeadlineFilter(filters.BaseSQLAFilter):
    """Cases with a clock that is overdue, due soon or paused; derived from the clocks."""

    def __init__(self, column, name):
        super().__init__(
            column,
            name,
            options=[
                ("overdue", _l("已超期")),
                ("due_soon", _l("即将到期")),
                ("paused", _l("暂停计时")),
            ],
        )

    def apply(self, query, value, alias=None):
        from models import Case
        from models.operations.deadlines import (
            due_soon_case_ids,
            overdue_case_ids,
            paused_case_ids,
        )

        subquery = {
            "overdue": overdue_case_ids,
            "due_soon": due_soon_case_ids,
            "paused": paused_case_ids,
        }[value]()
        return query.filter(Case.id.in_(subquery))

    def validate(self, value) -> bool:
        return value in ("overdue", "due_soon", "paused")

    def operation(self):
        return _l("为")


class DailyReviewFilter(filters.BaseSQLAFilter):
    """The operator's morning review: repeat or unresolved cases of the last days."""

    def __init__(self, column, name):
        super().__init__(column, name, options=[("3", _l("近3日重复或未办结"))])

    def apply(self, query, value, alias=None):
        from models import Case
        from models.queries.worklists import daily_review_case_ids

        return query.filter(Case.id.in_(daily_review_case_ids(days=int(value))))

    def validate(self, value) -> bool:
        return value == "3"

    def operation(self):
        return _l("为")


class AwaitingMeFilter(MyCasesFilter):
    """Cases whose next workflow step is the signed-in user's (我的待办)."""

    def apply(self, query, value, alias=None):
        from flask_login import current_user

        from models.policies import awaiting_me_clause

        return query.filter(awaiting_me_clause(current_user))


class StatsDrillFilter(filters.BaseSQLAFilter):
    """The cases behind one figure of the statistics dashboard (统计口径).

    The value is ``StatsFilter.encode``'s text; the condition is the one the dashboard counted
    with, so the list always has as many rows as the figure that linked to it.
    """

    def __init__(self, column, name):
        super().__init__(column, name)

    def apply(self, query, value, alias=None):
        from models.queries.statistics import StatsFilter, case_condition

        flt, measure, dimensions = StatsFilter.decode(value)
        return query.filter(case_condition(flt, measure, dimensions))

    def validate(self, value) -> bool:
        from models.queries.statistics import StatsFilter

        try:
            StatsFilter.decode(value)
        except (KeyError, ValueError):
            return False
        return True

    def operation(self):
        return _l("为")
