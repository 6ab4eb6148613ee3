"""What a list page shows beside its rows: how many rows the list holds, and each case's
deadline.

Only reads. The totals are counted, or estimated, from the list's own query, so they hold
exactly the rows the list's scope and filters let through.

* A total is exact while it is small: a count of at most ``EXACT_COUNT_LIMIT + 1`` rows. A
  larger list on PostgreSQL is given the planner's estimate (``约 1,000,000 条``), which costs
  one ``EXPLAIN`` whatever the size; SQLite (the one-desk default) says ``超过 10,000 条``.
* A case's deadline is the soonest clock that has not stopped, joined into the list's own
  query (one statement for rows and deadlines).
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement

from .. import db
from ..base import to_local, utcnow
from ..calendar import CalendarOverride, WorkCalendar, load_work_calendar
from ..deadlines import CaseClock, time_left
from ..enums import TimeUnit
from ..settings import DEFAULT_SETTINGS

#: Lists of up to this many rows are counted exactly; longer ones are estimated.
EXACT_COUNT_LIMIT = {"postgresql": 1000}
#: Where no estimate is to be had, counting stops here ("超过 10,000 条").
COUNT_CAP = 10000


@dataclass(frozen=True)
class ListTotal:
    """How many rows a list holds: ``exact``, ``estimate`` (the planner's) or ``at_least``."""

    value: int
    kind: str = "exact"

    @property
    def exact(self) -> bool:
        return self.kind == "exact"

    def text(self) -> str:
        number = f"{self.value:,}"
        if self.kind == "estimate":
            return _("约 %(number)s 条", number=number)
        if self.kind == "at_least":
            return _("超过 %(number)s 条", number=number)
        return _("共 %(number)s 条", number=number)

    def figure(self) -> str:
        """The number alone, as a dashboard card shows it: ``1,234``, ``约 48,900``."""
        number = f"{self.value:,}"
        if self.kind == "estimate":
            return _("约 %(number)s", number=number)
        if self.kind == "at_least":
            return _("超过 %(number)s", number=number)
        return number


def _count_limit(dialect: str) -> int:
    return EXACT_COUNT_LIMIT.get(dialect, COUNT_CAP)


class _Explain(Executable, ClauseElement):
    """``EXPLAIN (FORMAT JSON) <statement>``, compiled with the statement's own bind
    processing (a JSON filter value must be serialised the way the list query serialised it)."""

    inherit_cache = False

    def __init__(self, statement):
        self.statement = statement


@compiles(_Explain)
def _compile_explain(element, compiler, **kw):
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


def planner_estimate(query) -> int:
    """PostgreSQL's estimate of the rows ``query`` returns (``EXPLAIN``, nothing is read)."""
    statement = query.statement if hasattr(query, "statement") else query
    raw = db.session.execute(_Explain(statement)).scalar()
    plan = raw if isinstance(raw, list) else json.loads(raw)
    return int(plan[0]["Plan"]["Plan Rows"])


#: How long a process reuses the total of a long list (one that was not counted exactly):
#: it reads "约 N 条" or "超过 N 条" anyway, and paging, sorting or reloading the same list
#: then costs neither the capped count nor the planner's estimate again.
LONG_TOTAL_TTL_SECONDS = 60
_long_totals: OrderedDict = OrderedDict()
_long_totals_lock = threading.Lock()


def _list_key(statement) -> tuple | None:
    """What identifies a list's rows: the statement's shape and its bound values (the
    user's scope, filters and search are among them)."""
    cache_key = statement._generate_cache_key()
    if cache_key is None:
        return None
    values = tuple(repr(bind.effective_value) for bind in cache_key.bindparams)
    return (db.session.get_bind().engine.url.render_as_string(), cache_key.key, values)


def _remembered_total(list_key) -> ListTotal | None:
    with _long_totals_lock:
        found = _long_totals.get(list_key)
        if found is None or time.monotonic() - found[0] > LONG_TOTAL_TTL_SECONDS:
            return None
        return found[1]


def _remember_total(list_key, total: ListTotal) -> None:
    with _long_totals_lock:
        _long_totals[list_key] = (time.monotonic(), total)
        _long_totals.move_to_end(list_key)
        while len(_long_totals) > 512:
            _long_totals.popitem(last=False)


def list_total(query, key, *, estimate: bool = True) -> ListTotal:
    """The number of rows of ``query`` (a list's filtered query, without paging).

    ``key`` is the list's primary-key column: the count reads only that. A long list's
    total (above the exact limit) is kept for ``LONG_TOTAL_TTL_SECONDS``. ``estimate=False``:
    past the limit, say "more than" it rather than ask the planner (a person's own work, where
    the planner's guess at a compound condition can be ten times off)."""
    dialect = db.session.get_bind().dialect.name
    limit = _count_limit(dialect)
    rows = query.order_by(None).limit(None).offset(None).enable_eagerloads(False)
    keys = rows.with_entities(key)
    list_key = _list_key(keys.statement)
    if list_key is not None:
        list_key = (*list_key, estimate)
    remembered = _remembered_total(list_key) if list_key is not None else None
    if remembered is not None:
        return remembered
    capped = keys.limit(limit + 1).subquery()
    counted = db.session.scalar(sa.select(sa.func.count()).select_from(capped))
    if counted <= limit:
        return ListTotal(counted)
    if dialect == "postgresql" and estimate:
        # Past the exact limit the estimate can only be larger: a stale statistic must not
        # show fewer rows than were just counted.
        total = ListTotal(max(planner_estimate(keys), counted), "estimate")
    else:
        total = ListTotal(limit, "at_least")
    if list_key is not None:
        _remember_total(list_key, total)
    return total


# -- deadlines on lists ---------------------------------------------------------------------


def soonest_clock_id(case_id):
    """Correlated subquery: the case's clock that has not stopped, running before paused,
    soonest deadline first (served by the index on ``case_clocks.case_id``)."""
    return (
        sa.select(CaseClock.id)
        .where(CaseClock.case_id == case_id, CaseClock.stopped_at.is_(None))
        .order_by(CaseClock.paused_at.is_not(None), CaseClock.due_at, CaseClock.id)
        .limit(1)
        .correlate_except(CaseClock)
        .scalar_subquery()
    )


#: The current clock of each listed case. One alias for the process: an alias is immutable and
#: may join any number of statements, and a new one per request cost its column collection
#: (about a millisecond of a list page).
CURRENT_CLOCK = sa.orm.aliased(CaseClock, name="current_clock")


def with_deadline(query, paged, case_entity):
    """The page of ``paged`` (a sorted, paged query of cases) with each case's current clock,
    or ``None``, as a second entity.

    The page's ids are picked first (``paged`` without its eager loads, inside ``IN``), and
    only those rows are joined to their clocks: a join on the whole query would look up the
    clock of every row an OFFSET skips (10,000 rows on page 500)."""
    page_ids = paged.with_entities(case_entity.id).enable_eagerloads(False).subquery()
    clock = CURRENT_CLOCK
    return (
        query.filter(case_entity.id.in_(sa.select(page_ids.c.id)))
        .outerjoin(clock, clock.id == soonest_clock_id(case_entity.id))
        .add_entity(clock)
    )


@dataclass(frozen=True)
class DeadlineCell:
    """What the 期限 column shows: the deadline, the time left in words, and its state
    (``overdue``, ``soon``, ``running`` or ``paused``), which the page shows as colour too."""

    due_at: datetime
    left: str
    state: str
    #: Which deadline it is (办理, 答复 …).
    kind: str = ""


#: How long a process keeps the holiday calendar it read for list pages. Overrides change a
#: few times a year; this process forgets at once when it changes one, other workers within
#: five minutes.
CALENDAR_TTL_SECONDS = 300
_calendar_lock = threading.Lock()
_calendar_cache: dict[str, object] = {}


def forget_list_calendar(*_args) -> None:
    _calendar_cache.clear()


def forget_long_totals() -> None:
    with _long_totals_lock:
        _long_totals.clear()


for _event in ("after_insert", "after_update", "after_delete"):
    sa.event.listen(CalendarOverride, _event, forget_list_calendar)


class _RememberingCalendar(WorkCalendar):
    """A calendar that remembers its answers: the holiday package takes about 0.1 ms a day,
    and a list counts up to a few hundred days for each of its rows."""

    def __init__(self, overrides) -> None:
        super().__init__(overrides)
        self._answers: dict = {}
        # Working days in (first, day] for every day of one contiguous span, grown on demand:
        # an overdue case counts back months, and a list does it for each of its rows.
        self._first: date | None = None
        self._running_totals: list[int] = []
        # One calendar serves every thread of a worker: growing the span is not atomic.
        self._span_lock = threading.Lock()

    def is_working_day(self, day) -> bool:
        answer = self._answers.get(day)
        if answer is None:
            answer = self._answers[day] = super().is_working_day(day)
        return answer

    def _total_to(self, day: date) -> int:
        if self._first is None:
            self._first, self._running_totals = day, [0]
        if day < self._first:
            # Grow the span backwards: recount from the new first day.
            span = (self._first - day).days
            earlier = [0]
            for offset in range(1, span + 1):
                working = self.is_working_day(day + timedelta(days=offset))
                earlier.append(earlier[-1] + working)
            shift = earlier[-1]
            self._running_totals = earlier + [total + shift for total in self._running_totals[1:]]
            self._first = day
        index = (day - self._first).days
        totals = self._running_totals
        while len(totals) <= index:
            following = self._first + timedelta(days=len(totals))
            totals.append(totals[-1] + self.is_working_day(following))
        return totals[index]

    def working_days_between(self, start: date, end: date) -> int:
        with self._span_lock:
            self._total_to(min(start, end))  # the span starts no later than either day
            return self._total_to(end) - self._total_to(start)


def list_calendar() -> WorkCalendar:
    """The working-day calendar for list pages without a statement per page: the process's
    copy, which remembers its answers, re-read after five minutes (and at once when this process
    changes an override)."""
    with _calendar_lock:
        cached = _calendar_cache.get("calendar")
        if cached is None or time.monotonic() - _calendar_cache["at"] > CALENDAR_TTL_SECONDS:
            cached = _RememberingCalendar(load_work_calendar().overrides)
            _calendar_cache.update(calendar=cached, at=time.monotonic())
    return cached


def _soon_days() -> int:
    try:
        return int(DEFAULT_SETTINGS["due_soon_working_days"][0])
    except (KeyError, ValueError):
        return 2


def deadline_cell(
    clock: CaseClock | None, calendar: WorkCalendar, now: datetime | None = None
) -> DeadlineCell | None:
    """The 期限 cell of a case whose current clock is ``clock``."""
    if clock is None:
        return None
    now = now or utcnow()
    left = time_left(clock, calendar, now)
    if clock.paused_at is not None:
        state = "paused"
    elif now > clock.due_at:
        state = "overdue"
    elif clock.unit in (TimeUnit.minutes, TimeUnit.hours) and clock.fixed_due_on is None:
        state = "soon" if (clock.due_at - now).total_seconds() <= 24 * 3600 else "running"
    else:
        today = to_local(now).date()
        due_day = to_local(clock.due_at).date()
        days = calendar.working_days_between(today, due_day)
        state = "soon" if days <= _soon_days() else "running"
    return DeadlineCell(due_at=clock.due_at, left=left, state=state, kind=clock.kind.title)
