"""The statistics rollup: sums of every additive dashboard figure, kept equal to the cases.

Four tables, all derived, all rebuilt by :func:`rebuild` (``flask rebuild-stats``):

* ``case_daily_stats``: per (local day received, handling unit, category), the sums over the
  statistics population (cases not deleted and not merged, ``statistics.base_condition``) of every
  figure that is a count or a sum over cases: batches, person-visits, closed, closed on time, days
  to close, evaluated and satisfied verdicts, callback tasks and completed tasks, accepted and
  instructed, flags, transferred out, open, and batches and person-visits per channel.
* ``case_monthly_stats``: the same per calendar month; a period reads its whole months here and
  only the days of its partial months from the daily table (``source``).
* ``case_stat_deadlines``: the time-dependent figures' inputs, one narrow row per open case with
  a running clock (its earliest deadline) and per unfinished callback task (its due day), with
  the case's group key, so "overdue now" and "callbacks overdue" are counted at request time
  without reading the cases or every clock.
* ``callback_daily_stats``: callback tasks per (day done, day due, caller), for the 回访 quotas.

Ratios are sums divided by sums, so ``models.queries.statistics`` gives the same figures as from
the cases (``tests/test_stats_rollup_issue16.py`` checks this after every kind of change).

One home keeps them right: the session hooks at the end of this module. Whatever the code path —
a service-layer function flushing ORM objects, or a bulk ``UPDATE``/``DELETE`` run through the
session (callback verdicts, retention erasure) — every case whose rows changed has its old and new
groups recomputed from the live rows, one aggregate per group, in the same transaction (never a
commit). On PostgreSQL a transaction first takes a transaction-scoped advisory lock per (month,
unit, category) it touches, in key order, so two workers changing the same group take turns and
the second one's aggregate (a new READ COMMITTED snapshot) sees the first one's commit. Writes
that bypass the session (raw connections, the benchmark loader, an executemany through the
session) are followed by :func:`rebuild`.
"""

from __future__ import annotations

import contextlib
import functools
import weakref
import zlib
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import db
from .base import UTCDateTime, local_zone
from .callbacks import Callback
from .cases import Case, CaseEvent
from .categories import Category
from .deadlines import WORKING_CLOCKS, CaseClock
from .enums import SATISFIED, CaseChannel, CaseStatus, EventKind, Satisfaction
from .units import Unit
from .users import User

#: The additive figures, in the column order of the table (channel columns follow).
SUM_COLUMNS = (
    "batches",
    "persons",
    "group_batches",
    "group_persons",
    "beyond_level",
    "abnormal",
    "open",
    "closed",
    "transferred",
    "ontime",
    "repeat_cases",
    "repeat_contacts",
    "accepted",
    "instructed",
    "closed_days",
    "evaluated",
    "satisfied",
    "dissatisfied",
    "callback_tasks",
    "callback_done",
)
#: Per channel: batches ``ch_<channel>`` and person-visits ``chp_<channel>``.
CHANNEL_COLUMNS = tuple(
    name for channel in CaseChannel for name in (f"ch_{channel.value}", f"chp_{channel.value}")
)
#: Tables whose rows feed a figure: a change to any of them recomputes the case's groups.
WATCHED_TABLES = ("cases", "case_clocks", "callbacks", "case_events")


def _count_column(name: str):
    return mapped_column(name, sa.Integer, nullable=False, default=0, server_default="0")


class StatsSums:
    """The additive figures of one group (a mixin: the daily and the monthly table share it)."""

    batches: Mapped[int] = _count_column("batches")
    persons: Mapped[int] = _count_column("persons")
    group_batches: Mapped[int] = _count_column("group_batches")
    group_persons: Mapped[int] = _count_column("group_persons")
    beyond_level: Mapped[int] = _count_column("beyond_level")
    abnormal: Mapped[int] = _count_column("abnormal")
    open: Mapped[int] = _count_column("open")
    closed: Mapped[int] = _count_column("closed")
    transferred: Mapped[int] = _count_column("transferred")
    ontime: Mapped[int] = _count_column("ontime")
    repeat_cases: Mapped[int] = _count_column("repeat_cases")
    repeat_contacts: Mapped[int] = _count_column("repeat_contacts")
    accepted: Mapped[int] = _count_column("accepted")
    instructed: Mapped[int] = _count_column("instructed")
    closed_days: Mapped[float] = mapped_column(
        sa.Float, nullable=False, default=0, server_default="0"
    )
    evaluated: Mapped[int] = _count_column("evaluated")
    satisfied: Mapped[int] = _count_column("satisfied")
    dissatisfied: Mapped[int] = _count_column("dissatisfied")
    callback_tasks: Mapped[int] = _count_column("callback_tasks")
    callback_done: Mapped[int] = _count_column("callback_done")
    ch_letter: Mapped[int] = _count_column("ch_letter")
    chp_letter: Mapped[int] = _count_column("chp_letter")
    ch_visit: Mapped[int] = _count_column("ch_visit")
    chp_visit: Mapped[int] = _count_column("chp_visit")
    ch_call: Mapped[int] = _count_column("ch_call")
    chp_call: Mapped[int] = _count_column("chp_call")
    ch_online: Mapped[int] = _count_column("ch_online")
    chp_online: Mapped[int] = _count_column("chp_online")
    ch_opinion_box: Mapped[int] = _count_column("ch_opinion_box")
    chp_opinion_box: Mapped[int] = _count_column("chp_opinion_box")
    ch_higher_assignment: Mapped[int] = _count_column("ch_higher_assignment")
    chp_higher_assignment: Mapped[int] = _count_column("chp_higher_assignment")
    ch_leader_instruction: Mapped[int] = _count_column("ch_leader_instruction")
    chp_leader_instruction: Mapped[int] = _count_column("chp_leader_instruction")
    ch_agent: Mapped[int] = _count_column("ch_agent")
    chp_agent: Mapped[int] = _count_column("chp_agent")


class CaseDailyStats(StatsSums, db.Model):
    """Sums over the statistics population per (local day received, unit, category).

    ``unit_key`` / ``category_key`` are the handling unit's and category's ids, 0 for none (so the
    key is a plain primary key on both backends).
    """

    __tablename__ = "case_daily_stats"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    unit_key: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    category_key: Mapped[int] = mapped_column(sa.Integer, primary_key=True)


class CaseMonthlyStats(StatsSums, db.Model):
    """The daily rows added up per calendar month (``month`` is its first day).

    A period reads whole months here and only its partial months' days from the daily table, so
    a year is ~12 rows per (unit, category) instead of ~365.
    """

    __tablename__ = "case_monthly_stats"

    month: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    unit_key: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    category_key: Mapped[int] = mapped_column(sa.Integer, primary_key=True)


#: ``CaseDeadline.kind``: an open case's earliest running (not paused) clock deadline.
RUNNING_CLOCK = 1
#: ``CaseDeadline.kind``: an unfinished callback task's due day.
PENDING_CALLBACK = 2


class CaseDeadline(db.Model):
    """The deadlines behind the time-dependent figures, one narrow row each, with the group key.

    "Overdue now" is an open case whose earliest running clock's ``due_at`` < now; "callbacks
    overdue" an unfinished task whose ``due_on`` < today. Both change with the clock, so they
    cannot be summed ahead; this table holds only the open cases with a running clock and the
    unfinished tasks (of the statistics population), so counting them reads neither the cases nor
    every clock or callback.
    """

    __tablename__ = "case_stat_deadlines"

    kind: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True)
    #: The case's id (running clock) or the callback's (pending callback).
    ref_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.Integer, index=True)
    day: Mapped[date] = mapped_column(sa.Date)
    unit_key: Mapped[int] = mapped_column(sa.Integer)
    category_key: Mapped[int] = mapped_column(sa.Integer)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_on: Mapped[date | None] = mapped_column(sa.Date)

    __table_args__ = (sa.Index("ix_case_stat_deadlines_kind_day", "kind", "day"),)


#: ``CallbackDailyStats.done_key`` / ``due_key`` when the callback has no such day.
NO_DAY = date(1970, 1, 1)


class CallbackDailyStats(db.Model):
    """Callback tasks (not deleted) counted per (local day done, day due, caller).

    For 回访 quotas and 回访处理率 (``statistics.callback_quotas``), which count callbacks by the
    day they were made or fell due, whatever the case. ``is_done`` / ``has_due`` say whether the
    day keys mean anything (a task not done yet, a task without a due day).
    """

    __tablename__ = "callback_daily_stats"

    done_key: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    due_key: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    caller_key: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    is_done: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True)
    has_due: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True)
    callbacks: Mapped[int] = _count_column("callbacks")


missing = set(CHANNEL_COLUMNS) - set(CaseDailyStats.__table__.c.keys())
assert not missing, f"case_daily_stats lacks channel columns {missing} (add them in a migration)"

# --- the aggregate ------------------------------------------------------------------------------


def _days_between(dialect: str, later, earlier):
    if dialect == "postgresql":
        return sa.func.extract("epoch", later - earlier) / 86400.0
    return sa.func.julianday(later) - sa.func.julianday(earlier)


def local_day_expression(dialect: str):
    """The local calendar day of ``received_at`` (as ``statistics.month_expression`` does)."""
    return _local_day_expression(dialect, _local_day_shift(dialect))


def _local_day_shift(dialect: str) -> str:
    """What ``local_day_expression`` depends on: the zone's name on PostgreSQL, its offset now
    on SQLite."""
    if dialect == "postgresql":
        return str(local_zone())
    offset = int(datetime.now(local_zone()).utcoffset().total_seconds() // 60)
    return f"{offset:+d} minutes"


def _local_day_expression(dialect: str, shift: str):
    if dialect == "postgresql":
        return sa.cast(sa.func.timezone(shift, Case.received_at), sa.Date)
    return sa.func.date(Case.received_at, shift)


def local_midnight_utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=local_zone()).astimezone(UTC)


def local_day(moment: datetime) -> date:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(local_zone()).date()


def aggregate_columns(dialect: str) -> list:
    """The sums of one group, labelled like the table's columns (the statistics definitions).

    Per-case conditions on other tables are correlated ``EXISTS``/``COUNT`` sub-queries, so
    recomputing one group reads only that group's cases and their own clocks, events and callbacks.
    """
    from .policies import OPEN_STATUSES

    late = (
        sa.select(CaseClock.id)
        .where(
            CaseClock.case_id == Case.id,
            CaseClock.stopped_at > CaseClock.due_at,
            CaseClock.kind.in_(WORKING_CLOCKS),
        )
        .exists()
    )
    moved = (
        sa.select(CaseEvent.id)
        .where(
            CaseEvent.case_id == Case.id,
            CaseEvent.kind.in_([EventKind.transfer, EventKind.return_to_sender]),
        )
        .exists()
    )

    def tasks(*conditions):
        return (
            sa.select(sa.func.count(Callback.id))
            .where(Callback.case_id == Case.id, Callback.is_deleted.is_(False), *conditions)
            .scalar_subquery()
        )

    closed = Case.closed_at.is_not(None)
    transferred = sa.and_(
        Case.closed_at.is_(None),
        sa.or_(
            Case.status.in_([CaseStatus.transferred, CaseStatus.returned]),
            sa.and_(Case.status == CaseStatus.archived, moved),
        ),
    )

    def count(condition):
        return sa.func.count(Case.id).filter(condition)

    def total(column, condition=None):
        summed = sa.func.sum(column)
        return sa.func.coalesce(summed.filter(condition) if condition is not None else summed, 0)

    columns = {
        "batches": sa.func.count(Case.id),
        "persons": total(Case.head_count),
        "group_batches": count(Case.is_group.is_(True)),
        "group_persons": total(Case.head_count, Case.is_group.is_(True)),
        "beyond_level": count(Case.is_beyond_level.is_(True)),
        "abnormal": count(Case.is_abnormal.is_(True)),
        "open": count(Case.status.in_(OPEN_STATUSES)),
        "closed": count(closed),
        "transferred": count(transferred),
        "ontime": count(sa.and_(closed, ~late)),
        "repeat_cases": count(Case.repeat_count > 0),
        "repeat_contacts": total(Case.repeat_count),
        "accepted": count(Case.accepted_at.is_not(None)),
        "instructed": count(
            sa.and_(Case.accepted_at.is_not(None), Case.instructed_at.is_not(None))
        ),
        "closed_days": total(_days_between(dialect, Case.closed_at, Case.received_at), closed),
        "evaluated": count(Case.last_satisfaction.is_not(None)),
        "satisfied": count(Case.last_satisfaction.in_(SATISFIED)),
        "dissatisfied": count(Case.last_satisfaction == Satisfaction.dissatisfied),
        "callback_tasks": total(tasks()),
        "callback_done": total(tasks(Callback.done_at.is_not(None))),
    }
    for channel in CaseChannel:
        columns[f"ch_{channel.value}"] = count(Case.channel == channel)
        columns[f"chp_{channel.value}"] = total(Case.head_count, Case.channel == channel)
    return [expression.label(name) for name, expression in columns.items()]


def population():
    """The statistics population (``statistics.base_condition`` without period and filters)."""
    return sa.and_(Case.is_deleted.is_(False), Case.status != CaseStatus.merged)


def _column_names() -> list[str]:
    return [*SUM_COLUMNS, *CHANNEL_COLUMNS]


def _month_of(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _monthly_select(dialect: str, where):
    """The daily rows added up per (month, unit, category)."""
    daily = CaseDailyStats.__table__
    if dialect == "postgresql":
        month = sa.cast(sa.func.date_trunc("month", daily.c.day), sa.Date)
    else:
        month = sa.func.date(daily.c.day, "start of month")
    return (
        sa.select(
            month.label("month"),
            daily.c.unit_key,
            daily.c.category_key,
            *[sa.func.sum(daily.c[name]).label(name) for name in _column_names()],
        )
        .where(where)
        .group_by(month, daily.c.unit_key, daily.c.category_key)
    )


def rebuild(session=None) -> int:
    """Recompute both tables from the cases (``flask rebuild-stats``, bulk loaders).

    Returns the number of daily rows.
    """
    session = session or db.session
    connection = session.connection()
    dialect = connection.dialect.name
    table = CaseDailyStats.__table__
    monthly = CaseMonthlyStats.__table__
    if dialect == "postgresql":
        connection.execute(sa.text("LOCK TABLE case_daily_stats IN EXCLUSIVE MODE"))
        connection.execute(sa.text("LOCK TABLE case_monthly_stats IN EXCLUSIVE MODE"))
    connection.execute(table.delete())
    connection.execute(monthly.delete())
    day = local_day_expression(dialect)
    unit_key = sa.func.coalesce(Case.handling_unit_id, 0)
    category_key = sa.func.coalesce(Case.category_id, 0)
    select = (
        sa.select(
            day.label("day"),
            unit_key.label("unit_key"),
            category_key.label("category_key"),
            *aggregate_columns(dialect),
        )
        .where(population())
        .group_by(day, unit_key, category_key)
    )
    names = ["unit_key", "category_key", *_column_names()]
    connection.execute(table.insert().from_select(["day", *names], select))
    connection.execute(
        monthly.insert().from_select(["month", *names], _monthly_select(dialect, sa.true()))
    )
    if dialect == "postgresql":
        connection.execute(sa.text("LOCK TABLE case_stat_deadlines IN EXCLUSIVE MODE"))
    _refresh_deadlines(connection, None)
    if dialect == "postgresql":
        connection.execute(sa.text("LOCK TABLE callback_daily_stats IN EXCLUSIVE MODE"))
    _rebuild_callbacks(connection)
    return connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def _recompute_groups(connection, keys: set[tuple[date, int, int]]) -> None:
    """Replace the given groups' rows with the aggregate of their live cases, then their months.

    On PostgreSQL the (month, unit, category) of each group is locked first, in key order, so
    concurrent transactions touching the same month of a unit and category take turns.
    """
    if not keys:
        return
    dialect = connection.dialect.name
    months = sorted(
        {(_month_of(day), unit_key, category_key) for day, unit_key, category_key in keys}
    )
    if dialect == "postgresql":
        for month, unit_key, category_key in months:
            lock = zlib.crc32(f"case_stats:{month}:{unit_key}:{category_key}".encode())
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(lock - 2**31)))
    for day, unit_key, category_key in sorted(keys):
        delete, insert = _day_group_statements(dialect, bool(unit_key), bool(category_key))
        group = {"g_day": day, "g_unit": unit_key, "g_category": category_key}
        connection.execute(delete, group)
        connection.execute(
            insert,
            {
                **group,
                "w_start": local_midnight_utc(day),
                "w_end": local_midnight_utc(day + timedelta(days=1)),
                "w_unit": unit_key,
                "w_category": category_key,
            },
        )
    delete, insert = _month_group_statements()
    for month, unit_key, category_key in months:
        group = {"g_month": month, "g_unit": unit_key, "g_category": category_key}
        connection.execute(delete, group)
        connection.execute(insert, {**group, "w_next": _next_month(month)})


@functools.cache
def _day_group_statements(dialect: str, has_unit: bool, has_category: bool):
    """The DELETE and INSERT … SELECT that recompute one day's group, built once per shape
    (their values are bound per group: building the 40-column aggregate for every group cost
    more than running it)."""
    table = CaseDailyStats.__table__
    names = ["unit_key", "category_key", *_column_names()]
    group = (
        table.c.day == sa.bindparam("g_day", type_=sa.Date),
        table.c.unit_key == sa.bindparam("g_unit", type_=sa.Integer),
        table.c.category_key == sa.bindparam("g_category", type_=sa.Integer),
    )
    select = (
        sa.select(
            sa.bindparam("g_day", type_=sa.Date).label("day"),
            sa.bindparam("g_unit", type_=sa.Integer).label("unit_key"),
            sa.bindparam("g_category", type_=sa.Integer).label("category_key"),
            *aggregate_columns(dialect),
        )
        .where(
            population(),
            Case.received_at >= sa.bindparam("w_start", type_=Case.received_at.type),
            Case.received_at < sa.bindparam("w_end", type_=Case.received_at.type),
            Case.handling_unit_id == sa.bindparam("w_unit", type_=sa.Integer)
            if has_unit
            else Case.handling_unit_id.is_(None),
            Case.category_id == sa.bindparam("w_category", type_=sa.Integer)
            if has_category
            else Case.category_id.is_(None),
        )
        .having(sa.func.count(Case.id) > 0)
    )
    return table.delete().where(*group), table.insert().from_select(["day", *names], select)


@functools.cache
def _month_group_statements():
    """The DELETE and INSERT … SELECT that recompute one month's group from its days."""
    table = CaseDailyStats.__table__
    monthly = CaseMonthlyStats.__table__
    names = ["unit_key", "category_key", *_column_names()]
    month = sa.bindparam("g_month", type_=sa.Date)
    unit_key = sa.bindparam("g_unit", type_=sa.Integer)
    category_key = sa.bindparam("g_category", type_=sa.Integer)
    delete = monthly.delete().where(
        monthly.c.month == month,
        monthly.c.unit_key == unit_key,
        monthly.c.category_key == category_key,
    )
    select = (
        sa.select(
            month.label("month"),
            unit_key.label("unit_key"),
            category_key.label("category_key"),
            *[sa.func.sum(table.c[name]).label(name) for name in _column_names()],
        )
        .where(
            table.c.day >= month,
            table.c.day < sa.bindparam("w_next", type_=sa.Date),
            table.c.unit_key == unit_key,
            table.c.category_key == category_key,
        )
        .having(sa.func.count() > 0)
    )
    return delete, monthly.insert().from_select(["month", *names], select)


def source(start: date, end: date):
    """Rows covering exactly the days ``start``–``end``: whole months from the monthly table,
    the days of partial months from the daily one. Columns: ``day`` (a month's first day for a
    monthly row), ``unit_key``, ``category_key`` and the sums.

    Built once per period and kept: SQL constructs are immutable, and building this one (and
    its column collection, some 40 columns through a UNION) cost more than running the queries
    of a dashboard on it."""
    return _source(start, end)


@functools.lru_cache(maxsize=256)
def _source(start: date, end: date):
    stats = _build_source(start, end)
    stats.c  # noqa: B018 -- its columns, set up once here rather than by the first caller
    return stats


def _build_source(start: date, end: date):
    daily = CaseDailyStats.__table__
    monthly = CaseMonthlyStats.__table__
    first_full = start if start.day == 1 else _next_month(start)
    after_full = _month_of(end + timedelta(days=1))  # the month after the last whole month
    sums = _column_names()
    if first_full >= after_full:
        return (
            sa.select(daily.c.day, daily.c.unit_key, daily.c.category_key, *daily.c[tuple(sums)])
            .where(daily.c.day >= start, daily.c.day <= end)
            .subquery("stats")
        )
    months = sa.select(
        monthly.c.month.label("day"),
        monthly.c.unit_key,
        monthly.c.category_key,
        *monthly.c[tuple(sums)],
    ).where(monthly.c.month >= first_full, monthly.c.month < after_full)
    days = sa.select(
        daily.c.day, daily.c.unit_key, daily.c.category_key, *daily.c[tuple(sums)]
    ).where(
        sa.or_(
            sa.and_(daily.c.day >= start, daily.c.day < first_full),
            sa.and_(daily.c.day >= after_full, daily.c.day <= end),
        )
    )
    return sa.union_all(months, days).subquery("stats")


def _deadline_selects(dialect: str, case_condition, shift: str | None = None):
    """The ``case_stat_deadlines`` rows of the cases matching ``case_condition``."""
    from .policies import OPEN_STATUSES

    day = _local_day_expression(dialect, shift or _local_day_shift(dialect))
    unit_key = sa.func.coalesce(Case.handling_unit_id, 0)
    category_key = sa.func.coalesce(Case.category_id, 0)
    clocks = (
        sa.select(
            sa.literal(RUNNING_CLOCK, sa.SmallInteger),
            Case.id,
            Case.id,
            day,
            unit_key,
            category_key,
            sa.func.min(CaseClock.due_at),
            sa.null(),
        )
        .join(CaseClock, CaseClock.case_id == Case.id)
        .where(
            case_condition,
            population(),
            Case.status.in_(OPEN_STATUSES),
            CaseClock.stopped_at.is_(None),
            CaseClock.paused_at.is_(None),
            CaseClock.due_at.is_not(None),
        )
        .group_by(Case.id, day, unit_key, category_key)
    )
    callbacks = (
        sa.select(
            sa.literal(PENDING_CALLBACK, sa.SmallInteger),
            Callback.id,
            Case.id,
            day,
            unit_key,
            category_key,
            sa.null(),
            Callback.due_on,
        )
        .join(Case, Case.id == Callback.case_id)
        .where(
            case_condition,
            population(),
            Callback.done_at.is_(None),
            Callback.is_deleted.is_(False),
        )
    )
    return clocks, callbacks


DEADLINE_COLUMNS = [
    "kind",
    "ref_id",
    "case_id",
    "day",
    "unit_key",
    "category_key",
    "due_at",
    "due_on",
]


def _refresh_deadlines(connection, case_ids: set[int] | None) -> None:
    """Rewrite the deadline rows of ``case_ids`` (``None``: of every case) from the live rows."""
    table = CaseDeadline.__table__
    dialect = connection.dialect.name
    if case_ids is None:
        connection.execute(table.delete())
        batches = [None]
    else:
        ids = sorted(i for i in case_ids if i is not None)
        batches = [ids[offset : offset + 500] for offset in range(0, len(ids), 500)]
    for batch in batches:
        if batch is None:
            for select in _deadline_selects(dialect, sa.true()):
                connection.execute(table.insert().from_select(DEADLINE_COLUMNS, select))
            continue
        delete, inserts = _deadline_batch_statements(dialect, _local_day_shift(dialect))
        connection.execute(delete, {"case_ids": batch})
        for insert in inserts:
            connection.execute(insert, {"case_ids": batch})


@functools.lru_cache(maxsize=16)
def _deadline_batch_statements(dialect: str, shift: str):
    """The DELETE and INSERT … SELECTs that rewrite a batch of cases' deadline rows (the ids
    bound per batch), built once: every commit that touches a case runs them."""
    table = CaseDeadline.__table__
    ids = sa.bindparam("case_ids", expanding=True)
    delete = table.delete().where(table.c.case_id.in_(ids))
    inserts = tuple(
        table.insert().from_select(DEADLINE_COLUMNS, select)
        for select in _deadline_selects(dialect, Case.id.in_(ids), shift)
    )
    return delete, inserts


def _callback_day_expression(dialect: str):
    if dialect == "postgresql":
        return sa.cast(sa.func.timezone(str(local_zone()), Callback.done_at), sa.Date)
    offset = int(datetime.now(local_zone()).utcoffset().total_seconds() // 60)
    return sa.func.date(Callback.done_at, f"{offset:+d} minutes")


CALLBACK_KEY_COLUMNS = ["done_key", "due_key", "caller_key", "is_done", "has_due", "callbacks"]


def _rebuild_callbacks(connection) -> None:
    table = CallbackDailyStats.__table__
    dialect = connection.dialect.name
    connection.execute(table.delete())
    done = sa.func.coalesce(_callback_day_expression(dialect), sa.literal(NO_DAY, sa.Date))
    due = sa.func.coalesce(Callback.due_on, sa.literal(NO_DAY, sa.Date))
    caller = sa.func.coalesce(Callback.caller_id, 0)
    is_done = sa.case((Callback.done_at.is_not(None), 1), else_=0)
    has_due = sa.case((Callback.due_on.is_not(None), 1), else_=0)
    select = (
        sa.select(done, due, caller, is_done, has_due, sa.func.count(Callback.id))
        .where(Callback.is_deleted.is_(False))
        .group_by(done, due, caller, is_done, has_due)
    )
    connection.execute(table.insert().from_select(CALLBACK_KEY_COLUMNS, select))


def _callback_key(done_at, due_on, caller_id, is_deleted=False):
    return (
        local_day(done_at) if done_at is not None else NO_DAY,
        due_on or NO_DAY,
        caller_id or 0,
        int(done_at is not None),
        int(due_on is not None),
    )


def _callback_keys(connection, condition) -> set[tuple]:
    rows = connection.execute(
        sa.select(Callback.done_at, Callback.due_on, Callback.caller_id).where(condition)
    )
    return {_callback_key(*row) for row in rows}


def _recompute_callback_groups(connection, keys: set[tuple]) -> None:
    """Replace the given (done day, due day, caller) counts with a count of the live tasks."""
    table = CallbackDailyStats.__table__
    dialect = connection.dialect.name
    for done_key, due_key, caller_key, is_done, has_due in sorted(keys):
        if dialect == "postgresql":
            lock = zlib.crc32(f"callback_stats:{done_key}:{due_key}:{caller_key}".encode())
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(lock - 2**31)))
        connection.execute(
            table.delete().where(
                table.c.done_key == done_key,
                table.c.due_key == due_key,
                table.c.caller_key == caller_key,
                table.c.is_done == is_done,
                table.c.has_due == has_due,
            )
        )
        conditions = [
            Callback.is_deleted.is_(False),
            Callback.due_on == due_key if has_due else Callback.due_on.is_(None),
            Callback.caller_id == caller_key if caller_key else Callback.caller_id.is_(None),
        ]
        if is_done:
            conditions += [
                Callback.done_at >= local_midnight_utc(done_key),
                Callback.done_at < local_midnight_utc(done_key + timedelta(days=1)),
            ]
        else:
            conditions.append(Callback.done_at.is_(None))
        select = (
            sa.select(
                sa.literal(done_key, sa.Date),
                sa.literal(due_key, sa.Date),
                sa.literal(caller_key),
                sa.literal(is_done),
                sa.literal(has_due),
                sa.func.count(Callback.id),
            )
            .where(*conditions)
            .having(sa.func.count(Callback.id) > 0)
        )
        connection.execute(table.insert().from_select(CALLBACK_KEY_COLUMNS, select))


def _key(received_at, unit_id, category_id) -> tuple[date, int, int] | None:
    if received_at is None:
        return None
    return local_day(received_at), unit_id or 0, category_id or 0


def _current_keys(connection, case_ids: set[int]) -> set[tuple[date, int, int]]:
    keys = set()
    ids = sorted(i for i in case_ids if i is not None)
    for offset in range(0, len(ids), 500):
        rows = connection.execute(
            sa.select(Case.received_at, Case.handling_unit_id, Case.category_id).where(
                Case.id.in_(ids[offset : offset + 500])
            )
        )
        keys.update(_key(*row) for row in rows)
    keys.discard(None)
    return keys


def _days_with(connection, column, value) -> set[tuple[date, int, int]]:
    """Every group holding a unit or category that is going away (its cases fall to "none")."""
    table = CaseDailyStats.__table__
    rows = connection.execute(
        sa.select(table.c.day, table.c.unit_key, table.c.category_key).where(column == value)
    )
    keys = set()
    for day, unit_key, category_key in rows:
        keys.add((day, unit_key, category_key))
        if column is table.c.unit_key:
            keys.add((day, 0, category_key))
        else:
            keys.add((day, unit_key, 0))
    return keys


# --- the hooks ----------------------------------------------------------------------------------


@event.listens_for(Session, "before_flush")
def _before_flush(session, _flush_context, _instances):
    """Remember the groups the changed rows are in *before* the flush writes them.

    Read from the database, not from attribute history: a value set on an expired object has no
    old value in its history.
    """
    changed = [obj for obj in (*session.dirty, *session.deleted) if obj not in session.new]
    connection = None
    keys: set[tuple[date, int, int]] = session.info.setdefault("case_stats_keys", set())
    old_ids: set[int] = session.info.setdefault("case_stats_case_ids", set())
    callback_keys: set[tuple] = session.info.setdefault("callback_stats_keys", set())
    callback_ids = sorted(
        sa.inspect(obj).identity[0]
        for obj in changed
        if isinstance(obj, Callback) and sa.inspect(obj).identity is not None
    )
    for offset in range(0, len(callback_ids), 500):
        connection = connection or session.connection()
        callback_keys.update(
            _callback_keys(connection, Callback.id.in_(callback_ids[offset : offset + 500]))
        )
    for model in (Case, CaseClock, Callback, CaseEvent):
        ids = sorted(
            sa.inspect(obj).identity[0]
            for obj in changed
            if isinstance(obj, model) and sa.inspect(obj).identity is not None
        )
        if not ids:
            continue
        connection = connection or session.connection()
        if model is Case:
            keys.update(_current_keys(connection, set(ids)))
        else:
            for offset in range(0, len(ids), 500):
                case_ids = set(
                    connection.execute(
                        sa.select(model.case_id).where(model.id.in_(ids[offset : offset + 500]))
                    ).scalars()
                )
                old_ids.update(case_ids)
                keys.update(_current_keys(connection, case_ids))
    for obj in session.deleted:
        if isinstance(obj, User):
            connection = connection or session.connection()
            table = CallbackDailyStats.__table__
            rows = connection.execute(
                sa.select(
                    table.c.done_key,
                    table.c.due_key,
                    table.c.caller_key,
                    table.c.is_done,
                    table.c.has_due,
                ).where(table.c.caller_key == obj.id)
            )
            for done_key, due_key, _caller, is_done, has_due in rows:
                callback_keys.update(
                    {
                        (done_key, due_key, obj.id, is_done, has_due),
                        (done_key, due_key, 0, is_done, has_due),
                    }
                )
        if isinstance(obj, (Unit, Category)):
            connection = connection or session.connection()
            table = CaseDailyStats.__table__
            column = table.c.unit_key if isinstance(obj, Unit) else table.c.category_key
            keys.update(_days_with(connection, column, obj.id))
            deadlines = CaseDeadline.__table__
            column = deadlines.c.unit_key if isinstance(obj, Unit) else deadlines.c.category_key
            old_ids.update(
                connection.execute(sa.select(deadlines.c.case_id).where(column == obj.id)).scalars()
            )


PENDING_KEY = "case_stats_pending"
STATS_TABLES = frozenset(
    {"case_daily_stats", "case_monthly_stats", "case_stat_deadlines", "callback_daily_stats"}
)


def _pending(session) -> dict[str, set]:
    return session.info.setdefault(
        PENDING_KEY,
        {"keys": set(), "case_ids": set(), "callback_keys": set(), "callback_ids": set()},
    )


@event.listens_for(Session, "after_flush")
def _after_flush(session, _flush_context):
    """Note the groups this flush touched: their old keys (remembered before the flush) and the
    cases and callback tasks whose new keys are read when the groups are recomputed.

    A request flushes many times (every query autoflushes); recomputing after each flush cost
    most of a registration's time. The groups are recomputed once, by :func:`apply_pending`,
    before the transaction commits or before a statement in it reads the rollup."""
    pending = _pending(session)
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Case):
            pending["case_ids"].add(obj.id)
        elif isinstance(obj, (CaseClock, Callback, CaseEvent)):
            pending["case_ids"].add(obj.case_id)
        if isinstance(obj, Callback) and obj not in session.deleted:
            pending["callback_ids"].add(obj.id)
    pending["keys"].update(session.info.pop("case_stats_keys", set()))
    pending["case_ids"].update(session.info.pop("case_stats_case_ids", set()))
    pending["callback_keys"].update(session.info.pop("callback_stats_keys", set()))


def apply_pending(session) -> None:
    """Recompute the groups noted since the last time, from the live rows (never commits)."""
    pending = session.info.pop(PENDING_KEY, None)
    if not pending or not any(pending.values()):
        return
    connection = session.connection()
    callback_keys = pending["callback_keys"]
    callback_ids = sorted(i for i in pending["callback_ids"] if i is not None)
    for offset in range(0, len(callback_ids), 500):
        callback_keys.update(
            _callback_keys(connection, Callback.id.in_(callback_ids[offset : offset + 500]))
        )
    _recompute_callback_groups(connection, callback_keys)
    case_ids = {i for i in pending["case_ids"] if i is not None}
    keys = pending["keys"] | _current_keys(connection, case_ids)
    keys.discard(None)
    _recompute_groups(connection, keys)
    _refresh_deadlines(connection, case_ids)


@event.listens_for(Session, "before_commit")
def _before_commit(session):
    # The commit flushes after this hook; flush first so the last changes are counted too.
    session.flush()
    apply_pending(session)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session, transaction):
    if transaction.parent is None:
        # Rolled back (a commit has applied them): nothing of it is left to count.
        session.info.pop(PENDING_KEY, None)
        for name in ("case_stats_keys", "case_stats_case_ids", "callback_stats_keys"):
            session.info.pop(name, None)


#: ``_reads_rollup`` of statements run more than once (built once and kept, like the
#: dashboard's): walking a large statement's tree for every execution cost more than the rest.
_READS_ROLLUP: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _reads_rollup(statement) -> bool:
    try:
        return _READS_ROLLUP[statement]
    except (KeyError, TypeError):
        pass
    from sqlalchemy.sql.util import find_tables

    found = any(
        getattr(table, "name", None) in STATS_TABLES
        for table in find_tables(statement, include_aliases=True, include_joins=True)
    )
    with contextlib.suppress(TypeError):  # not weakly referenceable: not remembered
        _READS_ROLLUP[statement] = found
    return found


def _statement_table(statement):
    table = getattr(statement, "table", None)
    if table is None:
        return None
    if not isinstance(table, sa.Table):
        table = getattr(sa.inspect(table, raiseerr=False), "local_table", None)
    return table


@event.listens_for(Session, "do_orm_execute")
def _bulk_statement(state):
    """A bulk ``UPDATE``/``DELETE`` on a watched table: recompute the groups it touched. A
    statement reading the rollup first brings the groups this transaction changed up to date."""
    if state.is_select:
        session = state.session
        if session.info.get(PENDING_KEY) and _reads_rollup(state.statement):
            if session.autoflush:
                session.flush()
            apply_pending(session)
        return None
    if not (state.is_update or state.is_delete):
        return None
    table = _statement_table(state.statement)
    if table is None or table.name not in WATCHED_TABLES:
        return None
    connection = state.session.connection()
    if isinstance(state.parameters, (list, tuple)):
        # An executemany (rows by key): which cases it touches is in each row; rebuild instead.
        result = state.invoke_statement()
        rebuild(state.session)
        return result
    where = state.statement.whereclause
    if table.name == "cases":
        select = sa.select(
            table.c.id, table.c.received_at, table.c.handling_unit_id, table.c.category_id
        )
    else:
        select = sa.select(table.c.case_id)
    if where is not None:
        select = select.where(where)
    callback_ids, callback_keys = [], set()
    if table.name == "callbacks":
        select = sa.select(
            table.c.case_id, table.c.id, table.c.done_at, table.c.due_on, table.c.caller_id
        )
        if where is not None:
            select = select.where(where)
    rows = connection.execute(select, state.parameters or {}).all()
    if table.name == "callbacks":
        callback_ids = sorted(row[1] for row in rows)
        callback_keys = {_callback_key(*row[2:]) for row in rows}
    case_ids = {row[0] for row in rows}
    keys = {_key(*row[1:]) for row in rows} if table.name == "cases" else set()
    result = state.invoke_statement()
    case_ids.discard(None)
    keys.update(_current_keys(connection, case_ids))
    keys.discard(None)
    _recompute_groups(connection, keys)
    _refresh_deadlines(connection, case_ids)
    if table.name == "callbacks":
        for offset in range(0, len(callback_ids), 500):
            callback_keys.update(
                _callback_keys(connection, Callback.id.in_(callback_ids[offset : offset + 500]))
            )
        _recompute_callback_groups(connection, callback_keys)
    return result
