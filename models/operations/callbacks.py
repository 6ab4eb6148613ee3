"""Recording callbacks (回访)."""

from __future__ import annotations

from .. import db
from ..base import utcnow
from ..callbacks import Callback
from ..enums import Clock, EventKind, Satisfaction
from . import ValidationFailed
from .audit import changes_of, log_event
from .guards import ensure_case_visible, ensure_not_future, ensure_permission


def _check(callback: Callback) -> None:
    ensure_not_future(callback.done_at, "done_at", "回访完成时间")
    if callback.satisfaction is not None and callback.done_at is None:
        raise ValidationFailed("填写满意度前，请先填写回访完成时间", field="done_at")
    if callback.done_at is not None and callback.satisfaction is None:
        raise ValidationFailed("已完成的回访须填写满意度", field="satisfaction")


def record_callback(callback: Callback, *, by, at=None) -> Callback:
    """Add a callback (planned or already done) to its case."""
    ensure_permission(by, "callback.manage")
    ensure_case_visible(callback.case, by)
    _check(callback)
    callback.created_by_id = by.id
    if at is not None:
        callback.created_at = at
    db.session.add(callback)
    db.session.flush()
    reopened = _apply_outcome(callback, at=at)
    log_event(
        callback.case,
        EventKind.callback_added,
        f"Callback {callback.id} recorded",
        by=by,
        data={
            "done": callback.is_done,
            "satisfaction": callback.satisfaction.value if callback.satisfaction else None,
            "problem_remains": callback.problem_remains,
            "reopened": reopened,
        },
        at=at,
        callback=callback,
    )
    return callback


def _apply_outcome(callback: Callback, *, at=None) -> bool:
    """A done callback stops the callback clock; dissatisfaction reopens the case."""
    if not callback.is_done:
        return False
    from .deadlines import stop_clocks
    from .workflow import reopen_after_callback

    case = callback.case
    at = at or utcnow()
    stop_clocks(case, {Clock.callback}, at=callback.done_at)
    unhappy = callback.satisfaction == Satisfaction.dissatisfied or callback.problem_remains
    return unhappy and reopen_after_callback(case, at)


def record_callback_edit(callback: Callback, *, by) -> bool:
    # Read the diff first: a permission check may lazy-load and autoflush, resetting history.
    changes = changes_of(callback)
    ensure_permission(by, "callback.manage")
    _check(callback)
    if "case" in changes or "case_id" in changes:
        raise ValidationFailed("回访登记后不能改挂到其他事项", field="case")
    if not changes:
        return False
    if "done_at" in changes or "satisfaction" in changes or "problem_remains" in changes:
        changes["reopened"] = _apply_outcome(callback)
    log_event(
        callback.case,
        EventKind.callback_edited,
        f"Callback {callback.id} edited",
        by=by,
        data=changes,
        callback=callback,
    )
    return True


def delete_callback(callback: Callback, *, by) -> None:
    ensure_permission(by, "callback.manage")
    callback.mark_deleted(by)
    log_event(
        callback.case,
        EventKind.callback_edited,
        f"Callback {callback.id} deleted",
        by=by,
        data={"deleted": True},
        callback=callback,
    )
