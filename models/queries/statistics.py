"""Statistics for the dashboard and the periodic reports, from aggregate SQL only.

Definitions (requirements.md §6, §1.16–1.17, S19; README "统计口径"):

* The population is the cases *received* in the period (local dates, both ends included), not
  deleted and not merged into another case (a merged duplicate is counted in the survivor).
* 批次 (batches) = number of cases; 人次 (person-visits) = sum of their head counts: a group visit
  of 30 is 1 batch and 30 person-visits. Repeat contacts about the same matter do not add batches;
  they are counted as 重复信访. A reopened case is still one row, so it counts once.
* 转出 (transferred out) = transferred or returned to another body and not closed here; these are
  neither open nor closed nor late.
* 已办结 = closed (办结) and not reopened since; 办理中 = in one of the open states.
* 超期 = open with a running clock past its deadline (the same rule as the work list).
* 按期办结率 = closed cases none of whose working clocks (hand-over … reply) stopped after their
  deadline, divided by closed cases; "—" when nothing was closed.
* 平均办理天数 = mean of (closed − received) in days over closed cases.
* 满意率 = (满意 + 基本满意) / evaluated, per case, using the case's latest completed callback, so a
  case reopened after a dissatisfied callback and called back again counts once, with its last
  verdict.
* 回访完成率 = completed callback tasks / all callback tasks of the cases in the population.
* 阅办率 = cases with a leader instruction / accepted cases.
* 越级访 / 异常访 = cases carrying that flag (batches, like 集体访); the flag is set on the
  registration or case form and may be added on a later contact.

Where the caller may see every case (``scope`` is None or ``sa.true()``), the additive figures come
from the rollup (``models.case_stats``: daily and monthly sums kept equal to the cases by the
session hooks there) and "overdue now" and "callbacks overdue" are counted at request time from
``case_stat_deadlines``, which holds only open cases' earliest running deadline and unfinished
callback tasks. A scoped caller (one unit's staff) gets the same figures from the cases directly.
Drill-down lists are always live.

Every figure has a *measure* name; ``case_condition`` turns (filter, measure, dimension) into the
SQL condition that both the count and the drill-down case list use, so they cannot disagree.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from models.texts import lazy_gettext as _l

from .. import db
from ..base import local_zone, utcnow
from ..callbacks import Callback
from ..case_stats import (
    CHANNEL_COLUMNS,
    PENDING_CALLBACK,
    RUNNING_CLOCK,
    CallbackDailyStats,
    CaseDeadline,
)
from ..case_stats import source as rollup_source
from ..cases import Case, CaseEvent
from ..categories import Category
from ..deadlines import WORKING_CLOCKS, CaseClock
from ..enums import SATISFIED, CaseChannel, CaseStatus, EventKind, Satisfaction
from ..policies import OPEN_STATUSES
from ..units import Unit

#: The figures of one breakdown row, in the order ``_breakdown`` selects them.
BREAKDOWN_KEYS = (
    "batches",
    "persons",
    "group_batches",
    "group_persons",
    "beyond_level",
    "abnormal",
    "open",
    "closed",
    "transferred",
    "overdue",
    "ontime",
    "repeat_cases",
    "repeat_contacts",
    "accepted",
    "instructed",
    "closed_days",
    "evaluated",
    "satisfied",
    "dissatisfied",
)

MEASURES = (
    "all",
    "group",
    "beyond_level",
    "abnormal",
    "open",
    "closed",
    "transferred",
    "overdue",
    "ontime",
    "late",
    "repeat",
    "accepted",
    "instructed",
    "unread",
    "evaluated",
    "satisfied",
    "dissatisfied",
    "callback_tasks",
    "callback_pending",
    "callback_overdue",
)


@dataclass(frozen=True)
class StatsFilter:
    start: date
    end: date
    unit_id: int | None = None
    category_id: int | None = None

    def encode(self, measure: str = "all", **dimensions) -> str:
        """The drill-down value the case list's 统计口径 filter understands."""
        parts = [f"s={self.start.isoformat()}", f"e={self.end.isoformat()}", f"m={measure}"]
        if self.unit_id:
            parts.append(f"u={self.unit_id}")
        if self.category_id:
            parts.append(f"c={self.category_id}")
        for key, value in dimensions.items():
            if value is not None:
                parts.append(f"{key}={value}")
        return ";".join(parts)

    @classmethod
    def decode(cls, text: str) -> tuple[StatsFilter, str, dict]:
        """Parse ``encode``'s output; ``ValueError`` on anything else."""
        values = dict(part.split("=", 1) for part in text.split(";") if part)
        start = date.fromisoformat(values.pop("s"))
        end = date.fromisoformat(values.pop("e"))
        measure = values.pop("m", "all")
        if measure not in MEASURES or end < start:
            raise ValueError(text)
        unit = int(values.pop("u")) if "u" in values else None
        category = int(values.pop("c")) if "c" in values else None
        dimensions = {}
        if "ch" in values:
            dimensions["ch"] = CaseChannel(values.pop("ch")).value
        if "cat" in values:
            dimensions["cat"] = values.pop("cat")
            if dimensions["cat"] != "none":
                int(dimensions["cat"])
        if "unit" in values:
            dimensions["unit"] = values.pop("unit")
            if dimensions["unit"] != "none":
                int(dimensions["unit"])
        if "mo" in values:
            month = values.pop("mo")
            date.fromisoformat(month + "-01")
            dimensions["mo"] = month
        if values:
            raise ValueError(text)
        return cls(start, end, unit, category), measure, dimensions


def _local_midnight_utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=local_zone()).astimezone(UTC)


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def transferred_condition():
    moved = sa.select(CaseEvent.case_id).where(
        CaseEvent.kind.in_([EventKind.transfer, EventKind.return_to_sender])
    )
    return sa.and_(
        Case.closed_at.is_(None),
        sa.or_(
            Case.status.in_([CaseStatus.transferred, CaseStatus.returned]),
            sa.and_(Case.status == CaseStatus.archived, Case.id.in_(moved)),
        ),
    )


def late_condition():
    """A working clock that stopped after its deadline."""
    return Case.id.in_(
        sa.select(CaseClock.case_id).where(
            CaseClock.stopped_at > CaseClock.due_at, CaseClock.kind.in_(WORKING_CLOCKS)
        )
    )


def overdue_condition(now: datetime):
    running_late = sa.select(CaseClock.case_id).where(
        CaseClock.stopped_at.is_(None),
        CaseClock.paused_at.is_(None),
        CaseClock.due_at < now,
    )
    return sa.and_(Case.status.in_(OPEN_STATUSES), Case.id.in_(running_late))


def _callback_case_ids(*conditions):
    return sa.select(Callback.case_id).where(
        Callback.case_id.is_not(None), Callback.is_deleted.is_(False), *conditions
    )


def measure_condition(measure: str, now: datetime, today: date):
    if measure == "all":
        return sa.true()
    if measure == "group":
        return Case.is_group.is_(True)
    if measure == "beyond_level":
        return Case.is_beyond_level.is_(True)
    if measure == "abnormal":
        return Case.is_abnormal.is_(True)
    if measure == "open":
        return Case.status.in_(OPEN_STATUSES)
    if measure == "closed":
        return Case.closed_at.is_not(None)
    if measure == "transferred":
        return transferred_condition()
    if measure == "overdue":
        return overdue_condition(now)
    if measure == "ontime":
        return sa.and_(Case.closed_at.is_not(None), ~late_condition())
    if measure == "late":
        return sa.and_(Case.closed_at.is_not(None), late_condition())
    if measure == "repeat":
        return Case.repeat_count > 0
    if measure == "accepted":
        return Case.accepted_at.is_not(None)
    if measure == "instructed":
        return sa.and_(Case.accepted_at.is_not(None), Case.instructed_at.is_not(None))
    if measure == "unread":
        return sa.and_(Case.accepted_at.is_not(None), Case.instructed_at.is_(None))
    if measure == "evaluated":
        return Case.last_satisfaction.is_not(None)
    if measure == "satisfied":
        return Case.last_satisfaction.in_(SATISFIED)
    if measure == "dissatisfied":
        return Case.last_satisfaction == Satisfaction.dissatisfied
    if measure == "callback_tasks":
        return Case.id.in_(_callback_case_ids())
    if measure == "callback_pending":
        return Case.id.in_(_callback_case_ids(Callback.done_at.is_(None)))
    if measure == "callback_overdue":
        return Case.id.in_(_callback_case_ids(Callback.done_at.is_(None), Callback.due_on < today))
    raise ValueError(measure)


def month_expression():
    """The local calendar month of ``received_at`` as ``YYYY-MM``, on either backend."""
    if db.engine.dialect.name == "postgresql":
        return sa.func.to_char(
            sa.func.timezone(str(local_zone()), Case.received_at), sa.literal("YYYY-MM")
        )
    offset = int(datetime.now(local_zone()).utcoffset().total_seconds() // 60)
    return sa.func.strftime("%Y-%m", Case.received_at, f"{offset:+d} minutes")


def days_between(later, earlier):
    if db.engine.dialect.name == "postgresql":
        return sa.func.extract("epoch", later - earlier) / 86400.0
    return sa.func.julianday(later) - sa.func.julianday(earlier)


def base_condition(flt: StatsFilter, scope=None):
    conditions = [
        Case.received_at >= _local_midnight_utc(flt.start),
        Case.received_at < _local_midnight_utc(flt.end + timedelta(days=1)),
        Case.is_deleted.is_(False),
        Case.status != CaseStatus.merged,
    ]
    if scope is not None:
        conditions.append(scope)
    if flt.unit_id:
        conditions.append(Case.handling_unit_id == flt.unit_id)
    if flt.category_id:
        children = sa.select(Category.id).where(
            sa.or_(Category.id == flt.category_id, Category.parent_id == flt.category_id)
        )
        conditions.append(Case.category_id.in_(children))
    return sa.and_(*conditions)


def dimension_condition(dimensions: dict):
    conditions = []
    if "ch" in dimensions:
        conditions.append(Case.channel == CaseChannel(dimensions["ch"]))
    if "cat" in dimensions:
        value = dimensions["cat"]
        conditions.append(
            Case.category_id.is_(None) if value == "none" else Case.category_id == int(value)
        )
    if "unit" in dimensions:
        value = dimensions["unit"]
        conditions.append(
            Case.handling_unit_id.is_(None)
            if value == "none"
            else Case.handling_unit_id == int(value)
        )
    if "mo" in dimensions:
        conditions.append(month_expression() == dimensions["mo"])
    return sa.and_(sa.true(), *conditions)


def case_condition(
    flt: StatsFilter, measure: str = "all", dimensions: dict | None = None, *, scope=None, now=None
):
    """The SQL condition for the cases behind one figure (used by the drill-down list)."""
    now = now or utcnow()
    today = now.astimezone(local_zone()).date()
    return sa.and_(
        base_condition(flt, scope),
        measure_condition(measure, now, today),
        dimension_condition(dimensions or {}),
    )


def _rate(part: int, whole: int) -> float | None:
    return part / whole * 100 if whole else None


def uses_rollup(scope) -> bool:
    """The rollup answers exactly only for a caller who sees every case."""
    return scope is None or isinstance(scope, sa.sql.elements.True_)


def _category_ids(category_id: int) -> list[int]:
    """The category and its children, as a list (a literal IN list plans well on the rollup)."""
    return db.session.scalars(
        sa.select(Category.id).where(
            sa.or_(Category.id == category_id, Category.parent_id == category_id)
        )
    ).all()


def rollup(flt: StatsFilter):
    """The rollup rows of the period and the ``base_condition`` filters on them."""
    stats = rollup_source(flt.start, flt.end)
    conditions = []
    if flt.unit_id:
        conditions.append(stats.c.unit_key == flt.unit_id)
    if flt.category_id:
        conditions.append(stats.c.category_key.in_(_category_ids(flt.category_id)))
    return stats, sa.and_(sa.true(), *conditions)


#: The breakdown figures the rollup holds (all but "overdue", which depends on the clock).
ROLLUP_BREAKDOWN_KEYS = tuple(key for key in BREAKDOWN_KEYS if key != "overdue")


def _deadlines(flt: StatsFilter, kind: int):
    """``base_condition`` on ``case_stat_deadlines`` rows of one kind."""
    conditions = [
        CaseDeadline.kind == kind,
        CaseDeadline.day >= flt.start,
        CaseDeadline.day <= flt.end,
    ]
    if flt.unit_id:
        conditions.append(CaseDeadline.unit_key == flt.unit_id)
    if flt.category_id:
        conditions.append(CaseDeadline.category_key.in_(_category_ids(flt.category_id)))
    return sa.and_(*conditions)


def _overdue_by_unit(flt: StatsFilter, now: datetime) -> dict:
    """Open cases of the population with a running clock past its deadline, per unit.

    Counted now from ``case_stat_deadlines`` (one row per open case with a running clock: its
    earliest deadline), not from the cases and every clock.
    """
    rows = db.session.execute(
        sa.select(CaseDeadline.unit_key, sa.func.count())
        .where(_deadlines(flt, RUNNING_CLOCK), CaseDeadline.due_at < now)
        .group_by(CaseDeadline.unit_key)
    ).all()
    return {unit_key or None: count for unit_key, count in rows}


def _callbacks_overdue(flt: StatsFilter, today: date) -> int:
    """Unfinished callback tasks of the population due before today, from the same table."""
    return db.session.scalar(
        sa.select(sa.func.count()).where(
            _deadlines(flt, PENDING_CALLBACK), CaseDeadline.due_on < today
        )
    )


def _rollup_breakdown(flt: StatsFilter, scope, now: datetime) -> list[dict]:
    """``_breakdown`` from the rollup, plus the callback task sums, plus overdue counted live."""
    keys = (*ROLLUP_BREAKDOWN_KEYS, "callback_tasks", "callback_done")
    stats, where = rollup(flt)
    rows = db.session.execute(
        sa.select(stats.c.unit_key, *[sa.func.sum(stats.c[key]) for key in keys])
        .where(where)
        .group_by(stats.c.unit_key)
    ).all()
    overdue = _overdue_by_unit(flt, now)
    result = []
    for unit_key, *values in rows:
        unit_id = unit_key or None
        row = {"unit_id": unit_id, "overdue": overdue.get(unit_id, 0)}
        for key, value in zip(keys, values, strict=True):
            row[key] = float(value or 0) if key == "closed_days" else int(value or 0)
        result.append(row)
    return result


def _breakdown(flt: StatsFilter, scope, now: datetime) -> list[dict]:
    """Every per-case figure, per handling unit, from one scan of the statistics index.

    Late, overdue and transferred cases are ``IN`` lists of ids (each computed once, hashed)
    rather than a correlated sub-query or a join per case; the conditions are the same as
    ``measure_condition``'s.
    """
    if uses_rollup(scope):
        return _rollup_breakdown(flt, scope, now)
    rows = db.session.execute(
        sa.select(*_live_breakdown_columns(db.engine.dialect.name))
        .where(base_condition(flt, scope))
        .group_by(Case.handling_unit_id),
        {"breakdown_now": now},
    ).all()
    return [dict(zip(("unit_id", *BREAKDOWN_KEYS), row, strict=True)) for row in rows]


@functools.cache
def _live_breakdown_columns(dialect: str) -> tuple:
    """The columns of ``_breakdown``'s live query, built once per dialect (``days_between``
    depends on it; "now" is bound when it runs): a scoped dashboard builds it for every
    figure, and building it cost more than running it."""
    now = sa.bindparam("breakdown_now", type_=CaseClock.due_at.type)
    # "stopped_at > due_at" alone (NULL never compares greater) matches the partial index.
    late = sa.select(CaseClock.case_id).where(
        CaseClock.stopped_at > CaseClock.due_at, CaseClock.kind.in_(WORKING_CLOCKS)
    )
    running_late = sa.select(CaseClock.case_id).where(
        CaseClock.stopped_at.is_(None),
        CaseClock.paused_at.is_(None),
        CaseClock.due_at < now,
    )
    moved = sa.select(CaseEvent.case_id).where(
        CaseEvent.kind.in_([EventKind.transfer, EventKind.return_to_sender])
    )
    closed = Case.closed_at.is_not(None)
    is_open = Case.status.in_(OPEN_STATUSES)
    transferred = sa.and_(
        Case.closed_at.is_(None),
        sa.or_(
            Case.status.in_([CaseStatus.transferred, CaseStatus.returned]),
            sa.and_(Case.status == CaseStatus.archived, Case.id.in_(moved)),
        ),
    )

    def count(condition):
        return sa.func.count(Case.id).filter(condition)

    def total(column, condition=None):
        summed = sa.func.sum(column)
        return sa.func.coalesce(summed.filter(condition) if condition is not None else summed, 0)

    return (
        Case.handling_unit_id,
        sa.func.count(Case.id),
        total(Case.head_count),
        count(Case.is_group.is_(True)),
        total(Case.head_count, Case.is_group.is_(True)),
        count(Case.is_beyond_level.is_(True)),
        count(Case.is_abnormal.is_(True)),
        count(is_open),
        count(closed),
        count(transferred),
        count(sa.and_(is_open, Case.id.in_(running_late))),
        count(sa.and_(closed, Case.id.not_in(late))),
        count(Case.repeat_count > 0),
        total(Case.repeat_count),
        count(Case.accepted_at.is_not(None)),
        count(sa.and_(Case.accepted_at.is_not(None), Case.instructed_at.is_not(None))),
        total(days_between(Case.closed_at, Case.received_at), closed),
        count(Case.last_satisfaction.is_not(None)),
        count(Case.last_satisfaction.in_(SATISFIED)),
        count(Case.last_satisfaction == Satisfaction.dissatisfied),
    )


def summary(flt: StatsFilter, *, scope=None, now=None, breakdown=None) -> dict:
    """The headline figures: the per-unit breakdown summed, plus one query for callback tasks."""
    now = now or utcnow()
    today = now.astimezone(local_zone()).date()
    rows = breakdown if breakdown is not None else _breakdown(flt, scope, now)
    sums = {key: sum(row[key] or 0 for row in rows) for key in BREAKDOWN_KEYS}
    if uses_rollup(scope) and all("callback_tasks" in row for row in rows):
        # The task sums came with the rollup rows; only "overdue today" is counted now, from
        # the unfinished tasks (``case_stat_deadlines``).
        tasks = sum(row["callback_tasks"] for row in rows)
        tasks_done = sum(row["callback_done"] for row in rows)
        tasks_overdue = _callbacks_overdue(flt, today)
    else:
        tasks, tasks_done, tasks_overdue = db.session.execute(
            sa.select(
                sa.func.count(Callback.id),
                sa.func.count(Callback.id).filter(Callback.done_at.is_not(None)),
                sa.func.count(Callback.id).filter(
                    Callback.done_at.is_(None), Callback.due_on < today
                ),
            )
            .join(Case, Case.id == Callback.case_id)
            .where(base_condition(flt, scope), Callback.is_deleted.is_(False))
        ).one()
    closed = sums["closed"]
    return {
        **{key: int(value) for key, value in sums.items() if key != "closed_days"},
        "late": closed - sums["ontime"],
        "ontime_rate": _rate(sums["ontime"], closed),
        "average_days": float(sums["closed_days"]) / closed if closed else None,
        "reading_rate": _rate(sums["instructed"], sums["accepted"]),
        "satisfaction_rate": _rate(sums["satisfied"], sums["evaluated"]),
        "callback_tasks": tasks,
        "callback_done": tasks_done,
        "callback_pending": tasks - tasks_done,
        "callback_overdue": tasks_overdue,
        "callback_rate": _rate(tasks_done, tasks),
    }


def dimensions(flt: StatsFilter, *, scope=None) -> list[tuple]:
    """Batches and person-visits per (channel, category, month), from one scan.

    ``by_channel``, ``by_category`` and ``by_month`` add these aggregated rows up, so a page
    that shows all three reads the cases once.
    """
    if uses_rollup(scope):
        return _rollup_dimensions(flt)
    month = month_expression()
    return db.session.execute(
        sa.select(
            Case.channel,
            Case.category_id,
            month,
            sa.func.count(Case.id),
            sa.func.coalesce(sa.func.sum(Case.head_count), 0),
        )
        .where(base_condition(flt, scope))
        .group_by(Case.channel, Case.category_id, month)
    ).all()


def _rollup_dimensions(flt: StatsFilter) -> list[tuple]:
    """``dimensions`` from the rollup: its per-channel columns summed per (category, month)."""
    stats, where = rollup(flt)
    if db.engine.dialect.name == "postgresql":
        month = sa.func.to_char(stats.c.day, sa.literal("YYYY-MM"))
    else:
        month = sa.func.strftime("%Y-%m", stats.c.day)
    rows = db.session.execute(
        sa.select(
            stats.c.category_key, month, *[sa.func.sum(stats.c[name]) for name in CHANNEL_COLUMNS]
        )
        .where(where)
        .group_by(stats.c.category_key, month)
    ).all()
    result = []
    for category_key, month_key, *sums in rows:
        for index, channel in enumerate(CaseChannel):
            count, persons = sums[2 * index], sums[2 * index + 1]
            if count:
                result.append((channel, category_key or None, month_key, int(count), int(persons)))
    return result


def _add_up(rows, position: int) -> dict:
    totals: dict = {}
    for row in rows:
        count, persons = totals.get(row[position], (0, 0))
        totals[row[position]] = (count + row[3], persons + int(row[4] or 0))
    return totals


def _ordered(totals: dict, label) -> list[dict]:
    ordered = sorted(totals.items(), key=lambda item: (-item[1][0], str(item[0])))
    return [
        {"key": key, "label": label(key), "count": count, "persons": persons}
        for key, (count, persons) in ordered
    ]


def by_channel(flt: StatsFilter, *, scope=None, rows=None) -> list[dict]:
    rows = dimensions(flt, scope=scope) if rows is None else rows
    totals = {
        (key.value if hasattr(key, "value") else key): value
        for key, value in _add_up(rows, 0).items()
    }
    return _ordered(totals, CaseChannel.title_of)


def by_category(flt: StatsFilter, *, scope=None, rows=None) -> list[dict]:
    rows = dimensions(flt, scope=scope) if rows is None else rows
    names = dict(db.session.execute(sa.select(Category.id, Category.name)).all())
    totals = {
        (key if key is not None else "none"): value for key, value in _add_up(rows, 1).items()
    }
    return _ordered(totals, lambda key: names.get(key, str(_l("未分类"))))


def by_month(flt: StatsFilter, *, scope=None, rows=None) -> list[dict]:
    rows = dimensions(flt, scope=scope) if rows is None else rows
    totals = _add_up(rows, 2)
    result, current = [], _month_start(flt.start)
    while current <= flt.end:
        key = current.strftime("%Y-%m")
        count, persons = totals.get(key, (0, 0))
        result.append({"key": key, "label": key, "count": count, "persons": persons})
        current = _next_month(current)
    return result


def by_unit(flt: StatsFilter, *, scope=None, now=None, breakdown=None) -> list[dict]:
    """Per handling unit: received, open, closed, overdue, transferred, on-time rate."""
    rows = breakdown if breakdown is not None else _breakdown(flt, scope, now or utcnow())
    names = dict(db.session.execute(sa.select(Unit.id, Unit.name)).all())
    rows = sorted(rows, key=lambda row: (-row["batches"], row["unit_id"] or 0))
    return [
        {
            "key": row["unit_id"] if row["unit_id"] is not None else "none",
            "label": names.get(row["unit_id"], str(_l("未交办"))),
            "count": row["batches"],
            "persons": int(row["persons"] or 0),
            "open": row["open"],
            "closed": row["closed"],
            "overdue": row["overdue"],
            "ontime": row["ontime"],
            "ontime_rate": _rate(row["ontime"], row["closed"]),
            "transferred": row["transferred"],
        }
        for row in rows
    ]


def breakdown(flt: StatsFilter, *, scope=None, now=None) -> list[dict]:
    """The per-unit rows ``summary`` and ``by_unit`` share; compute once per page."""
    return _breakdown(flt, scope, now or utcnow())


#: A problem type needs at least this many cases in the period to count as recurring.
RECURRING_MIN_CASES = 3
#: The recurring rule in words, printed under the table on the dashboard and in the reports.
RECURRING_RULE = _l(
    "标色的问题类型为反复出现的问题：期间至少 3 件，且不少于其他各类平均件数的 2 倍；"
    "或有 3 件以上事项被重复信访。"
)


def is_recurring(count: int, repeat_cases: int, others_average: float) -> bool:
    """One problem type recurring in the period (业主投诉处理和分析制度 六).

    Compared with the average of the *other* types, so one type that dominates a quiet period
    (four leaks and one rude cleaner) still stands out; or people came back about it repeatedly.
    """
    return (
        count >= RECURRING_MIN_CASES and count >= 2 * others_average
    ) or repeat_cases >= RECURRING_MIN_CASES


def recurring_problems(flt: StatsFilter, *, scope=None, limit: int | None = 10) -> list[dict]:
    """Cases per problem type (category), with how many were repeats and which ones recur."""
    names = dict(db.session.execute(sa.select(Category.id, Category.name)).all())
    if uses_rollup(scope):
        # 0 is "no category" in the rollup; NULLIF gives it back its NULL and the same order.
        stats, where = rollup(flt)
        category = sa.func.nullif(stats.c.category_key, 0)
        batches = sa.func.sum(stats.c.batches)
        query = (
            sa.select(
                category,
                batches,
                sa.func.sum(stats.c.repeat_cases),
                sa.func.sum(stats.c.repeat_contacts),
            )
            .where(where)
            .group_by(category)
            .order_by(batches.desc(), category)
        )
    else:
        query = (
            sa.select(
                Case.category_id,
                sa.func.count(Case.id),
                sa.func.count(Case.id).filter(Case.repeat_count > 0),
                sa.func.coalesce(sa.func.sum(Case.repeat_count), 0),
            )
            .where(base_condition(flt, scope))
            .group_by(Case.category_id)
            .order_by(sa.func.count(Case.id).desc(), Case.category_id)
        )
    rows = [
        (key, int(n), int(repeat_cases or 0), int(repeat_contacts or 0))
        for key, n, repeat_cases, repeat_contacts in db.session.execute(query).all()
    ]
    total = sum(n for _key, n, _r, _c in rows)
    result = []
    for key, n, repeat_cases, repeat_contacts in rows[:limit]:
        others_average = (total - n) / (len(rows) - 1) if len(rows) > 1 else 0
        result.append(
            {
                "key": key if key is not None else "none",
                "label": names.get(key, str(_l("未分类"))),
                "count": n,
                "repeat_cases": repeat_cases,
                "repeat_contacts": int(repeat_contacts),
                # Cases nobody classified are no problem type of their own.
                "recurring": key is not None and is_recurring(n, repeat_cases, others_average),
            }
        )
    return result


#: 回访处理率 target (住宅区管理处回访制度: 回访处理率达100%).
CALLBACK_HANDLING_TARGET = 100


def callback_quotas(flt: StatsFilter) -> dict:
    """Completed callbacks per role against the role's minimum share (回访工作制度 一)."""
    from ..callbacks import CallbackQuota
    from ..users import Role, user_roles

    # Counted from ``callback_daily_stats`` (tasks per day done, day due and caller), which the
    # session hooks keep equal to the callbacks; the conditions are the ones in the comments.
    stats = CallbackDailyStats
    # Made in the period.
    period = sa.and_(stats.is_done == 1, stats.done_key >= flt.start, stats.done_key <= flt.end)
    total = (
        db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(stats.callbacks), 0)).where(period)
        )
        or 0
    )
    rows = db.session.execute(
        sa.select(
            Role.name,
            CallbackQuota.min_percent,
            sa.func.coalesce(sa.func.sum(stats.callbacks), 0),
        )
        .select_from(CallbackQuota)
        .join(Role, Role.id == CallbackQuota.role_id)
        .outerjoin(user_roles, user_roles.c.role_id == Role.id)
        .outerjoin(stats, sa.and_(stats.caller_key == user_roles.c.user_id, period))
        .group_by(Role.name, CallbackQuota.min_percent, Role.id)
        .order_by(CallbackQuota.min_percent, Role.id)
    ).all()
    result = []
    for name, minimum, done in rows:
        done = int(done)
        share = _rate(done, total)
        result.append(
            {
                "role": name,
                "min_percent": minimum,
                "done": done,
                "share": share,
                "met": share is not None and share >= minimum,
            }
        )
    # 回访处理率: of the callbacks that belong to the period, how many were made (target 100 %).
    # A callback belongs to the period when it was made in it, or fell due in it and was made or
    # is now overdue; one due later than today is not missed yet.
    today = utcnow().astimezone(local_zone()).date()
    in_period = sa.or_(
        period,
        sa.and_(
            stats.has_due == 1,
            stats.due_key >= flt.start,
            stats.due_key <= flt.end,
            sa.or_(stats.is_done == 1, stats.due_key < today),
        ),
    )
    due, handled = db.session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(stats.callbacks), 0),
            sa.func.coalesce(sa.func.sum(stats.callbacks).filter(stats.is_done == 1), 0),
        ).where(in_period)
    ).one()
    due, handled = int(due), int(handled)
    handling_rate = _rate(handled, due)
    handling = {
        "due": due,
        "handled": handled,
        "rate": handling_rate,
        "target": CALLBACK_HANDLING_TARGET,
        # Nothing due is nothing missed.
        "met": handling_rate is None or handling_rate >= CALLBACK_HANDLING_TARGET,
    }
    return {"total": total, "rows": result, "handling": handling}


def period_of(kind: str, year: int, number: int = 1) -> tuple[date, date]:
    """A report period: ``month`` (number 1–12), ``half`` (1 or 2) or ``year``."""
    if kind == "month":
        start = date(year, number, 1)
        return start, _next_month(start) - timedelta(days=1)
    if kind == "half":
        return (
            (date(year, 1, 1), date(year, 6, 30))
            if number == 1
            else (
                date(year, 7, 1),
                date(year, 12, 31),
            )
        )
    if kind == "year":
        return date(year, 1, 1), date(year, 12, 31)
    raise ValueError(kind)


def with_period(flt: StatsFilter, start: date, end: date) -> StatsFilter:
    return replace(flt, start=start, end=end)
