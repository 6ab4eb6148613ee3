"""Callbacks (回访): tasks created at closing or from schedules, assignment, results, follow-up."""

from __future__ import annotations

import calendar
import logging
from datetime import date, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _

from models.texts import lazy_gettext as _l

from .. import db
from ..base import to_local, utcnow
from ..callbacks import Callback, CallbackSchedule
from ..enums import (
    CallbackFollowUp,
    CallbackOrigin,
    EventKind,
    RectificationSource,
    Satisfaction,
)
from ..policies import callback_schedule_visible_clause, can_view_rectification
from ..settings import SystemSetting
from ..surveys import RectificationOrder
from . import NotPermitted, ValidationFailed
from .audit import changes_of, log_event
from .deadlines import clock_event
from .guards import (
    ensure_accepts_additions,
    ensure_case_visible,
    ensure_not_future,
    ensure_permission,
)
from .workflow import reopen_after_callback

logger = logging.getLogger(__name__)

#: A problem found on a callback is notified in writing within 24 hours (回访工作制度 四, T43).
RECTIFICATION_NOTICE_HOURS = 24


def _check(callback: Callback) -> None:
    ensure_not_future(callback.done_at, "done_at", _l("回访完成时间"))
    if callback.satisfaction is not None and callback.done_at is None:
        raise ValidationFailed(_("填写满意度前，请先填写回访完成时间"), field="done_at")
    if callback.done_at is not None and callback.satisfaction is None:
        raise ValidationFailed(_("已完成的回访须填写满意度"), field="satisfaction")
    if callback.follow_up == CallbackFollowUp.rectification and not callback.problem_remains:
        raise ValidationFailed(_("只有问题仍存在时才下达整改通知"), field="follow_up")
    if callback.caller is not None and not callback.caller.is_active:
        raise ValidationFailed(_("所选回访人账号已停用"), field="caller")


def _log(callback: Callback, kind: EventKind, summary: str, *, by, data: dict, at=None) -> None:
    """Case callbacks go on the case's timeline; project callbacks only to the log."""
    if callback.case is not None:
        log_event(callback.case, kind, summary, by=by, data=data, at=at, callback=callback)
    else:
        logger.info(
            "schedule %s callback %s: %s by user %s %s",
            callback.schedule_id,
            callback.id,
            summary,
            getattr(by, "id", None),
            data,
        )


def record_callback(callback: Callback, *, by, at=None) -> Callback:
    """Add a callback (planned or already done) to its case."""
    ensure_permission(by, "callback.manage")
    if callback.schedule is None or callback.case is not None:
        ensure_case_visible(callback.case, by)
    ensure_accepts_additions(callback.case)
    _check(callback)
    callback.created_by_id = by.id
    if at is not None:
        callback.created_at = at
    db.session.add(callback)
    db.session.flush()
    outcome = _apply_outcome(callback, by=by, at=at)
    _log(
        callback,
        EventKind.callback_added,
        f"Callback {callback.id} recorded",
        by=by,
        data={
            "done": callback.is_done,
            "satisfaction": callback.satisfaction.value if callback.satisfaction else None,
            "problem_remains": callback.problem_remains,
            **outcome,
        },
        at=at,
    )
    return callback


def refresh_verdict(case_id: int) -> None:
    """Copy the latest completed callback's verdict onto its case (for the statistics).

    A plain UPDATE: the verdict is bookkeeping and must not move the case's version, which
    would turn somebody's open step form into a conflict.
    """
    from ..cases import Case

    db.session.flush()
    latest = (
        sa.select(Callback.satisfaction)
        .where(
            Callback.case_id == case_id,
            Callback.is_deleted.is_(False),
            Callback.satisfaction.is_not(None),
        )
        .order_by(Callback.done_at.desc(), Callback.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    db.session.execute(
        sa.update(Case.__table__)
        .where(Case.__table__.c.id == case_id)
        .values(last_satisfaction=latest)
    )


def _apply_outcome(callback: Callback, *, by, at=None) -> dict:
    """A done callback stops the callback clock and closes the case's other open tasks.

    An unresolved problem either reopens the case (the default, 分析制度 五) or, when the
    callback says so, issues a written rectification notice with its 24-hour clock.
    """
    if callback.case is None:
        return {}
    refresh_verdict(callback.case_id)
    if not callback.is_done:
        return {"reopened": False}

    case = callback.case
    at = at or utcnow()
    clock_event(case, "callback_done", at=callback.done_at)
    _settle_open_tasks(callback)
    unhappy = callback.satisfaction == Satisfaction.dissatisfied or callback.problem_remains
    outcome: dict = {"reopened": False}
    if unhappy and callback.follow_up == CallbackFollowUp.rectification:
        order = _rectification_for(callback, by=by)
        outcome["rectification"] = order.id
        return outcome
    if unhappy and reopen_after_callback(case, at):
        callback.follow_up = CallbackFollowUp.reopen
        outcome["reopened"] = True
    return outcome


def _settle_open_tasks(done: Callback) -> None:
    """Another planned task of the same case is answered by this callback, not left dangling."""
    others = db.session.scalars(
        sa.select(Callback).where(
            Callback.case_id == done.case_id,
            Callback.id != done.id,
            Callback.done_at.is_(None),
            Callback.is_deleted.is_(False),
        )
    ).all()
    for other in others:
        other.is_deleted = True
        other.deleted_at = done.done_at
        other.deleted_by_id = done.created_by_id
        other.note = ((other.note or "") + f"\n由回访 #{done.id} 完成").strip()


def _rectification_for(callback: Callback, *, by) -> RectificationOrder:
    existing = db.session.scalar(
        sa.select(RectificationOrder).where(RectificationOrder.callback_id == callback.id)
    )
    if existing is not None:
        return existing
    try:
        days = int(SystemSetting.get("callback_rectification_days"))
    except (KeyError, ValueError):
        days = 3
    case = callback.case
    order = RectificationOrder(
        source=RectificationSource.callback,
        case=case,
        callback=callback,
        unit_id=case.handling_unit_id,
        addressee=case.handling_unit.name if case.handling_unit else "维修人员",
        content=callback.opinion or "回访发现问题仍存在，请限期整改。",
        notice_due_at=callback.done_at + timedelta(hours=RECTIFICATION_NOTICE_HOURS),
        due_on=to_local(callback.done_at).date() + timedelta(days=days),
        created_by_id=by.id,
    )
    db.session.add(order)
    db.session.flush()
    return order


def record_callback_edit(callback: Callback, *, by, at=None) -> bool:
    # Read the diff first: a permission check may lazy-load and autoflush, resetting history.
    changes = changes_of(callback)
    ensure_permission(by, "callback.manage")
    _check(callback)
    if "case" in changes or "case_id" in changes:
        raise ValidationFailed(_("回访登记后不能改挂到其他事项"), field="case")
    if not changes:
        return False
    if {"done_at", "satisfaction", "problem_remains", "follow_up"} & set(changes):
        changes.update(_apply_outcome(callback, by=by, at=at))
    _log(
        callback,
        EventKind.callback_edited,
        f"Callback {callback.id} edited",
        by=by,
        data=changes,
        at=at,
    )
    return True


def delete_callback(callback: Callback, *, by) -> None:
    ensure_permission(by, "callback.manage")
    callback.mark_deleted(by)
    if callback.case_id is not None:
        refresh_verdict(callback.case_id)
    _log(
        callback,
        EventKind.callback_edited,
        f"Callback {callback.id} deleted",
        by=by,
        data={"deleted": True},
    )


def assign_callbacks(callbacks, *, caller, by) -> int:
    """Give open callback tasks to ``caller`` (分派回访); done ones are left alone."""
    ensure_permission(by, "callback.manage")
    if caller is None or not caller.is_active:
        raise ValidationFailed(_("请选择在职的回访人"), field="caller")
    changed = 0
    for callback in callbacks:
        if callback.is_done or callback.is_deleted or callback.caller_id == caller.id:
            continue
        before = str(callback.caller) if callback.caller else None
        callback.caller = caller
        _log(
            callback,
            EventKind.callback_edited,
            f"Callback {callback.id} assigned",
            by=by,
            data={"caller": [before, str(caller)]},
        )
        changed += 1
    db.session.flush()
    return changed


# --- tasks at closing ------------------------------------------------------------------------


# --- routine callbacks from schedules --------------------------------------------------------


def _add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def schedule_due_dates(schedule: CallbackSchedule, until: date) -> list[date]:
    """Every callback date of ``schedule`` up to ``until``: monthly in year one, then quarterly."""
    dates, months = [], 0
    first_year_end = _add_months(schedule.delivered_on, 12)
    while True:
        current = _add_months(schedule.delivered_on, months)
        step = schedule.first_year_months if current < first_year_end else schedule.later_months
        months += step
        day = _add_months(schedule.delivered_on, months)
        if day > until:
            return dates
        dates.append(day)


def plan_scheduled_callbacks(today: date, *, by, lookahead_days: int = 7) -> list[Callback]:
    """Create the next task of every active schedule due within ``lookahead_days``.

    Idempotent: a date that already has a task (done, open or deleted) is not planned again.
    """
    ensure_permission(by, "callback.manage")
    return _plan(today, callback_schedule_visible_clause(by), by, lookahead_days)


def plan_all_scheduled_callbacks(today: date, lookahead_days: int = 7) -> list[Callback]:
    """The daily periodic task: plan every active schedule's next task, as the system (no
    user: the tasks and their log entries name no creator)."""
    return _plan(today, sa.true(), None, lookahead_days)


def _plan(today: date, visible, by, lookahead_days: int) -> list[Callback]:
    created = []
    schedules = db.session.scalars(
        sa.select(CallbackSchedule).where(CallbackSchedule.is_active.is_(True), visible)
    ).all()
    for schedule in schedules:
        dates = schedule_due_dates(schedule, today + timedelta(days=lookahead_days))
        if not dates:
            continue
        due_on = dates[-1]
        exists = db.session.scalar(
            sa.select(sa.func.count(Callback.id)).where(
                Callback.schedule_id == schedule.id, Callback.due_on == due_on
            )
        )
        if exists:
            continue
        callback = Callback(
            schedule=schedule,
            origin=CallbackOrigin.schedule,
            due_on=due_on,
            method=schedule.method,
            caller_id=schedule.caller_id,
            person_reached=schedule.contact,
            created_by_id=by.id if by is not None else None,
        )
        db.session.add(callback)
        db.session.flush()
        _log(
            callback,
            EventKind.callback_added,
            f"Callback {callback.id} planned",
            by=by,
            data={"due_on": due_on.isoformat()},
        )
        created.append(callback)
    return created


# --- rectification notices -------------------------------------------------------------------


def issue_rectification(order: RectificationOrder, *, by, at=None) -> None:
    """The written notice went out (printed and handed over)."""
    at = at or utcnow()
    _ensure_rectification_permission(order, by)
    if order.issued_at is not None:
        raise ValidationFailed(_("该整改通知已下达"))
    order.issued_at = at
    _log_rectification(order, "issued", by=by, at=at)


def complete_rectification(order: RectificationOrder, *, by, result=None, at=None) -> None:
    at = at or utcnow()
    _ensure_rectification_permission(order, by)
    result = (result or "").strip()
    if not result:
        raise ValidationFailed(_("请填写整改结果"), field="result")
    if order.completed_at is not None:
        raise ValidationFailed(_("该整改已完成"))
    if order.issued_at is None:
        order.issued_at = at
    order.completed_at = at
    order.result = result
    _log_rectification(order, "completed", by=by, at=at)


def _ensure_rectification_permission(order: RectificationOrder, by) -> None:
    needed = "callback.manage" if order.source == RectificationSource.callback else "survey.manage"
    ensure_permission(by, needed)
    if not can_view_rectification(by, order):
        raise NotPermitted(_("您无权处理其他单位的整改通知"))


def _log_rectification(order: RectificationOrder, what: str, *, by, at) -> None:
    if order.case is not None:
        log_event(
            order.case,
            EventKind.callback_edited,
            f"Rectification {order.id} {what}",
            by=by,
            at=at,
            data={"rectification": order.id, what: at.isoformat()},
            callback=order.callback,
        )
    else:
        logger.info("rectification %s %s by user %s", order.id, what, by.id)
