"""Registers (台账): which rows each register lists, its columns, and its printable HTML.

A register is A4 landscape, one table with fixed column widths (``table-layout: fixed`` lays out
about 1.7× faster than automatic widths, perf-security.md §2.1), the header row repeated on
every page, and "第 N 页 共 M 页" in the footer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import render_template

from .. import db
from ..base import format_local, local_zone, to_local, utcnow
from ..callbacks import Callback
from ..cases import Case
from ..categories import Category
from ..contacts import Call, Letter, Visit
from ..deadlines import CaseClock
from ..enums import CategoryKind, Clock, QueueStatus, RegisterKind
from ..policies import MASK
from ..reception_days import ReceptionLeader, ReceptionQueueEntry, ReceptionSchedule
from ..settings import SystemSetting
from ..units import Unit
from ..vocabulary import substitute

#: Above this many rows a register is refused (split it by period or unit). A render process
#: needs about 200 MB per 1,000 rows and may add at most 1.5 GB; a long register is laid out as
#: two parts in two processes (:func:`register_parts`), so each holds at most 5,000 rows
#: (measured peak 1.1 GB per process). That covers a busy office's letters for a year.
MAX_ROWS = 10000


@dataclass(frozen=True)
class Column:
    title: str
    width_mm: int


COLUMNS: dict[RegisterKind, list[Column]] = {
    RegisterKind.letters: [
        Column("序号", 10),
        Column("登记编号", 29),
        Column("收信日期", 21),
        Column("来信人", 22),
        Column("形式/来源", 34),
        Column("事由", 62),
        Column("分类", 24),
        Column("承办单位", 34),
        Column("状态", 18),
        Column("办结日期", 21),
    ],
    RegisterKind.visits: [
        Column("序号", 11),
        Column("登记编号", 30),
        Column("来访时间", 28),
        Column("来访人", 24),
        Column("类型/人数", 22),
        Column("事由", 68),
        Column("接待人", 22),
        Column("承办单位", 32),
        Column("状态", 18),
        Column("当场答复", 17),
    ],
    RegisterKind.calls: [
        Column("序号", 11),
        Column("登记编号", 30),
        Column("来电时间", 28),
        Column("来电人", 24),
        Column("来电号码", 28),
        Column("内容摘要", 94),
        Column("承办单位", 32),
        Column("状态", 18),
    ],
    RegisterKind.complaints: [
        Column("序号", 11),
        Column("编号", 30),
        Column("投诉时间", 22),
        Column("投诉人", 24),
        Column("联系电话", 27),
        Column("投诉事项", 66),
        Column("承办单位", 32),
        Column("处理期限", 22),
        Column("状态", 18),
        Column("回访满意度", 20),
    ],
    RegisterKind.callbacks: [
        Column("序号", 11),
        Column("登记编号", 30),
        Column("应回访日期", 22),
        Column("回访时间", 28),
        Column("方式", 20),
        Column("回访人", 20),
        Column("被回访人", 20),
        Column("满意度", 18),
        Column("问题仍存在", 17),
        Column("信访人意见", 86),
    ],
    RegisterKind.overdue: [
        Column("序号", 11),
        Column("登记编号", 30),
        Column("事由", 72),
        Column("承办单位", 34),
        Column("承办人", 22),
        Column("时限", 28),
        Column("到期时间", 28),
        Column("已超期", 20),
        Column("状态", 18),
    ],
    # 院长、副院长接待上访当事人登记表: the reception day's queue, one line per visitor, with a
    # column the visitor signs on paper.
    RegisterKind.leaders_reception: [
        Column("顺序号", 12),
        Column("接待日期", 22),
        Column("来访人", 20),
        Column("身份证号码", 38),
        Column("联系电话", 26),
        Column("反映事项", 60),
        Column("接待领导", 20),
        Column("处理结果", 52),
        Column("来访人签名", 22),
    ],
}


#: Custom fields shown in the case list print as extra columns (at most this many), each this
#: wide; the register's own columns narrow in proportion so the table still fits the page.
MAX_CUSTOM_COLUMNS = 3
CUSTOM_COLUMN_MM = 22


def _custom_fields():
    from ..custom_fields import active_fields

    return [field for field in active_fields() if field.show_in_list][:MAX_CUSTOM_COLUMNS]


def register_columns(kind: RegisterKind, fields=None) -> list[Column]:
    """The register's columns, with one per custom field shown in the case list."""
    fields = _custom_fields() if fields is None else fields
    columns = COLUMNS[kind]
    if not fields:
        return list(columns)
    total = sum(column.width_mm for column in columns)
    scale = (total - CUSTOM_COLUMN_MM * len(fields)) / total
    return [Column(c.title, max(8, round(c.width_mm * scale))) for c in columns] + [
        Column(field.label, CUSTOM_COLUMN_MM) for field in fields
    ]


@dataclass(frozen=True)
class RegisterParams:
    kind: RegisterKind
    start: date
    end: date
    unit_id: int | None = None
    category_id: int | None = None
    #: The receiving leader (leaders' reception register only).
    leader_id: int | None = None

    def as_json(self) -> dict:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "unit_id": self.unit_id,
            "category_id": self.category_id,
            "leader_id": self.leader_id,
        }

    @classmethod
    def from_json(cls, kind: RegisterKind, data: dict) -> RegisterParams:
        return cls(
            kind=kind,
            start=date.fromisoformat(data["start"]),
            end=date.fromisoformat(data["end"]),
            unit_id=data.get("unit_id"),
            category_id=data.get("category_id"),
            leader_id=data.get("leader_id"),
        )


def _utc_bounds(params: RegisterParams) -> tuple[datetime, datetime]:
    zone = local_zone()
    start = datetime.combine(params.start, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(params.end + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return start, end


def _subtree_ids(model, root_id: int) -> list[int]:
    """``root_id`` and every descendant (units and categories are small trees)."""
    parents = dict(db.session.execute(sa.select(model.id, model.parent_id)).all())
    ids, frontier = {root_id}, {root_id}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - ids
        ids |= frontier
    return sorted(ids)


def _case_filters(params: RegisterParams, scope) -> list:
    conditions = [Case.is_deleted.is_(False), scope]
    if params.unit_id:
        conditions.append(Case.handling_unit_id.in_(_subtree_ids(Unit, params.unit_id)))
    if params.category_id:
        conditions.append(Case.category_id.in_(_subtree_ids(Category, params.category_id)))
    return conditions


def _statement(params: RegisterParams, scope):
    """The SELECT of the register's rows (entities, in print order)."""
    start, end = _utc_bounds(params)
    filters = _case_filters(params, scope)
    kind = params.kind
    if kind == RegisterKind.letters:
        return (
            sa.select(Letter, Case)
            .join(Case, Letter.case_id == Case.id)
            .where(Letter.is_deleted.is_(False), Letter.received_at >= start)
            .where(Letter.received_at < end, *filters)
            .order_by(Letter.received_at, Letter.id)
        )
    if kind == RegisterKind.visits:
        return (
            sa.select(Visit, Case)
            .join(Case, Visit.case_id == Case.id)
            .where(Visit.is_deleted.is_(False), Visit.visited_at >= start)
            .where(Visit.visited_at < end, *filters)
            .order_by(Visit.visited_at, Visit.id)
        )
    if kind == RegisterKind.calls:
        return (
            sa.select(Call, Case)
            .join(Case, Call.case_id == Case.id)
            .where(Call.is_deleted.is_(False), Call.called_at >= start)
            .where(Call.called_at < end, *filters)
            .order_by(Call.called_at, Call.id)
        )
    if kind == RegisterKind.complaints:
        return (
            sa.select(Case)
            .join(Category, Case.category_id == Category.id)
            .where(Category.kind == CategoryKind.complaint)
            .where(Case.received_at >= start, Case.received_at < end, *filters)
            .order_by(Case.received_at, Case.id)
        )
    if kind == RegisterKind.callbacks:
        in_range = sa.or_(
            sa.and_(Callback.done_at >= start, Callback.done_at < end),
            sa.and_(
                Callback.done_at.is_(None),
                Callback.due_on >= params.start,
                Callback.due_on <= params.end,
            ),
        )
        return (
            sa.select(Callback, Case)
            .join(Case, Callback.case_id == Case.id)
            .where(Callback.is_deleted.is_(False), in_range, *filters)
            .order_by(sa.func.coalesce(Callback.done_at, Callback.created_at), Callback.id)
        )
    if kind == RegisterKind.leaders_reception:
        return _leaders_reception_statement(params, filters)
    now = utcnow()
    return (
        sa.select(CaseClock, Case)
        .join(Case, CaseClock.case_id == Case.id)
        .where(CaseClock.stopped_at.is_(None), CaseClock.paused_at.is_(None))
        .where(CaseClock.due_at < now, CaseClock.due_at >= start, CaseClock.due_at < end)
        .where(*filters)
        .order_by(CaseClock.due_at, CaseClock.id)
    )


def count_rows(params: RegisterParams, scope) -> int:
    statement = _statement(params, scope)
    return db.session.scalar(sa.select(sa.func.count()).select_from(statement.subquery()))


def _day(value) -> str:
    if value is None:
        return ""
    local = to_local(value).date() if isinstance(value, datetime) else value
    return local.isoformat()


def _name(party, fallback: str = "匿名") -> str:
    return party.name if party is not None else fallback


def _unit(case: Case) -> str:
    return case.handling_unit.name if case.handling_unit else ""


def register_rows(
    params: RegisterParams, scope, hidden_case_ids: frozenset[int] = frozenset()
) -> list[tuple[str, ...]]:
    """Every row as strings, numbered from 1. Related rows load in bulk, not one by one.

    ``hidden_case_ids``: 举报 cases whose reporter the reader may not see; their identity
    columns print as the mask, as they do on every screen.
    """
    load = sa.orm.selectinload
    related = {
        RegisterKind.letters: [load(Letter.writer)],
        RegisterKind.visits: [load(Visit.visitor), load(Visit.receptionist)],
        RegisterKind.calls: [load(Call.caller)],
        RegisterKind.complaints: [load(Case.petitioners), load(Case.clocks)],
        RegisterKind.callbacks: [load(Callback.caller)],
        RegisterKind.overdue: [load(Case.handler)],
        RegisterKind.leaders_reception: [
            load(ReceptionQueueEntry.party),
            load(ReceptionQueueEntry.leader),
            load(ReceptionQueueEntry.visit),
            load(Case.clocks),
        ],
    }[params.kind]
    statement = _statement(params, scope).options(load(Case.handling_unit), *related)
    result = db.session.execute(statement).all()
    rows: list[tuple[str, ...]] = []
    kind = params.kind
    categories = dict(db.session.execute(sa.select(Category.id, Category.name)).all())
    for number, record in enumerate(result, start=1):
        index = str(number)
        case = record[-1]
        hidden = case.id in hidden_case_ids
        if kind == RegisterKind.letters:
            letter, case = record
            rows.append(
                (
                    index,
                    case.number,
                    _day(letter.received_at),
                    MASK if hidden else _name(letter.writer),
                    f"{letter.form.title}/{letter.origin.title}",
                    case.subject,
                    categories.get(case.category_id, ""),
                    _unit(case),
                    case.status.title,
                    _day(case.closed_at),
                )
            )
        elif kind == RegisterKind.visits:
            visit, case = record
            rows.append(
                (
                    index,
                    case.number,
                    format_local(visit.visited_at),
                    MASK if hidden else _name(visit.visitor, ""),
                    f"{visit.kind.title}/{visit.head_count}人",
                    visit.purpose,
                    visit.receptionist.full_name if visit.receptionist else "",
                    _unit(case),
                    case.status.title,
                    "是" if visit.answered_on_spot else "否",
                )
            )
        elif kind == RegisterKind.calls:
            call, case = record
            rows.append(
                (
                    index,
                    case.number,
                    format_local(call.called_at),
                    MASK if hidden else _name(call.caller, ""),
                    MASK if hidden else call.caller_number or "",
                    (call.record or "")[:200],
                    _unit(case),
                    case.status.title,
                )
            )
        elif kind == RegisterKind.complaints:
            (case,) = record
            petitioner = case.petitioners[0] if case.petitioners and not hidden else None
            handling = next((c for c in case.clocks if c.kind.value == "handling"), None)
            rows.append(
                (
                    index,
                    case.number,
                    _day(case.received_at),
                    "匿名" if case.is_anonymous else MASK if hidden else _name(petitioner, ""),
                    "" if case.is_anonymous or petitioner is None else (petitioner.phone or ""),
                    case.subject,
                    _unit(case),
                    _day(handling.due_at) if handling else "",
                    case.status.title,
                    "",
                )
            )
        elif kind == RegisterKind.callbacks:
            callback, case = record
            rows.append(
                (
                    index,
                    case.number,
                    _day(callback.due_on),
                    format_local(callback.done_at),
                    callback.method.title,
                    callback.caller.full_name if callback.caller else "",
                    MASK if hidden and callback.person_reached else callback.person_reached or "",
                    callback.satisfaction.title if callback.satisfaction else "未完成",
                    ("是" if callback.problem_remains else "否") if callback.done_at else "",
                    # The opinion is the petitioner's words: hidden with the reporter.
                    MASK if hidden and callback.opinion else callback.opinion or "",
                )
            )
        elif kind == RegisterKind.leaders_reception:
            rows.append(_leaders_reception_row(record, hidden))
        else:
            clock, case = record
            late = utcnow() - clock.due_at
            rows.append(
                (
                    index,
                    case.number,
                    case.subject,
                    _unit(case),
                    case.handler.full_name if case.handler else "",
                    clock.kind.title,
                    format_local(clock.due_at),
                    f"{late.days}天{late.seconds // 3600}小时",
                    case.status.title,
                )
            )
    if kind == RegisterKind.complaints:
        _fill_satisfaction(rows, result)
    fields = _custom_fields()
    if fields:
        from ..custom_fields import display_value, person_names

        people = person_names()
        for position, record in enumerate(result):
            values = record[-1].custom_values or {}
            rows[position] = (
                *rows[position],
                *(display_value(field, values.get(field.key), people) for field in fields),
            )
    return rows


# -- the leaders' reception register (院长、副院长接待上访当事人登记表) ---------------------------


def _leaders_reception_statement(params: RegisterParams, case_filters: list):
    """The queue of the leaders' reception days in the period (and of one leader), in the
    order visitors were received: day, the slot's start, queue number."""
    statement = (
        sa.select(ReceptionQueueEntry, Case)
        .join(Case, ReceptionQueueEntry.case_id == Case.id)
        .join(ReceptionSchedule, ReceptionSchedule.id == ReceptionQueueEntry.schedule_id)
        .where(ReceptionQueueEntry.day >= params.start, ReceptionQueueEntry.day <= params.end)
        .where(*case_filters)
        .order_by(
            ReceptionQueueEntry.day,
            ReceptionSchedule.start_time,
            ReceptionSchedule.id,
            ReceptionQueueEntry.queue_number,
        )
    )
    if params.leader_id:
        statement = statement.where(ReceptionQueueEntry.leader_id == params.leader_id)
    return statement


def reception_outcome(entry: ReceptionQueueEntry, case: Case, hidden: bool) -> str:
    """What came of the visit: answered on the spot, a supervision card (the division and its
    deadline), or else where the matter stands."""
    visit = entry.visit
    if entry.status == QueueStatus.absent:
        return entry.status.title
    if visit is not None and visit.answered_on_spot:
        answer = "" if hidden or not visit.answer else f"：{visit.answer[:60]}"
        return f"当场答复{answer}"
    if case.is_supervised and case.handling_unit is not None:
        handling = [c for c in case.clocks if c.kind == Clock.handling]
        due = f"，限{_day(handling[-1].due_at)}前办结" if handling else ""
        return f"督办卡：交{case.handling_unit.name}办理{due}"
    if entry.status == QueueStatus.waiting:
        return entry.status.title
    return f"其他：{case.status.title}"


def _leaders_reception_row(record, hidden: bool) -> tuple[str, ...]:
    entry, case = record
    person = entry.party
    return (
        str(entry.queue_number),
        entry.day.isoformat(),
        MASK if hidden else _name(person, ""),
        MASK if hidden else (person.id_number or "") if person else "",
        MASK if hidden else (person.phone or "") if person else "",
        entry.purpose,
        entry.leader.name if entry.leader else "",
        reception_outcome(entry, case, hidden),
        "",
    )


def _fill_satisfaction(rows: list[tuple[str, ...]], result) -> None:
    """The last completed callback's verdict per complaint, in one query."""
    case_ids = [record[0].id for record in result]
    if not case_ids:
        return
    verdicts: dict[int, str] = {}
    for case_id, satisfaction in db.session.execute(
        sa.select(Callback.case_id, Callback.satisfaction)
        .where(Callback.case_id.in_(case_ids), Callback.satisfaction.is_not(None))
        .where(Callback.is_deleted.is_(False))
        .order_by(Callback.done_at)
    ):
        verdicts[case_id] = satisfaction.title
    for position, record in enumerate(result):
        verdict = verdicts.get(record[0].id)
        if verdict:
            rows[position] = (*rows[position][:-1], verdict)


def describe(params: RegisterParams) -> str:
    parts = [f"{params.start.isoformat()} 至 {params.end.isoformat()}"]
    if params.unit_id:
        unit = db.session.get(Unit, params.unit_id)
        parts.append(f"承办单位：{unit.name if unit else '—'}")
    if params.category_id:
        category = db.session.get(Category, params.category_id)
        parts.append(f"分类：{category.name if category else '—'}")
    if params.leader_id:
        leader = db.session.get(ReceptionLeader, params.leader_id)
        parts.append(f"接待领导：{leader if leader else '—'}")
    return "　".join(parts)


#: From this many rows on, a register is laid out as two parts in two processes at once (the
#: server has at least two cores) and joined; below it the fork and join cost more than they save.
PARALLEL_MIN_ROWS = 400
#: Parts a long register is split into: one per core of the 2-core servers this runs on.
PARALLEL_PARTS = 2


def register_html(
    params: RegisterParams,
    rows: list[tuple[str, ...]],
    *,
    part: int | None = None,
    total_rows: int | None = None,
) -> str:
    """The register as one HTML document, or, with ``part``, one part of it (see
    :func:`register_parts`): no page footer, and after part 1 no heading either."""
    return render_template(
        "documents/register.html",
        title=register_title(params.kind),
        organisation=SystemSetting.get("organisation_name"),
        period=describe(params),
        printed=format_local(utcnow()),
        columns=[Column(substitute(c.title), c.width_mm) for c in register_columns(params.kind)],
        rows=rows,
        total_rows=len(rows) if total_rows is None else total_rows,
        part=part,
        # Rows tall enough to sign in (the visitor signs the leaders' reception register).
        row_min_height_mm=12 if params.kind == RegisterKind.leaders_reception else None,
    )


def register_title(kind: RegisterKind) -> str:
    """The printed heading: the kind's title, or the office's own for the leaders' register
    (a court calls it 院长、副院长接待上访当事人登记表)."""
    if kind == RegisterKind.leaders_reception:
        return SystemSetting.get("leaders_register_title") or str(kind.title)
    return str(kind.title)


def register_parts(params: RegisterParams, rows: list[tuple[str, ...]]) -> list[str]:
    """The register's HTML split into consecutive parts of equal row counts, for
    :func:`~models.rendering.pdf.render_pdf_in_parts`; a single part below
    :data:`PARALLEL_MIN_ROWS`. Each part after the first starts on a new page with the header
    row; only the page where one part ends may be shorter than a full page."""
    if len(rows) < PARALLEL_MIN_ROWS:
        return [register_html(params, rows)]
    size = -(-len(rows) // PARALLEL_PARTS)
    return [
        register_html(params, rows[start : start + size], part=number, total_rows=len(rows))
        for number, start in enumerate(range(0, len(rows), size), start=1)
    ]


def register_footer_html(pages: int) -> str:
    """``pages`` blank pages carrying only "第 N 页 共 M 页", stamped over a register's parts."""
    return render_template("documents/register_footer.html", pages=pages)
