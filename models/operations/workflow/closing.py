"""Closing: reply, close, review and re-review, archive, reopen and destroy."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _

from models.texts import lazy_gettext as _l

from ... import db
from ...base import to_local, utcnow
from ...cases import Case
from ...deadlines import can_call_back
from ...enums import Clock, EventKind, ReplyKind
from ...settings import SystemSetting
from .. import ValidationFailed
from ..callback_planning import plan_callback_on_close
from ..deadlines import clock_event, start_clock, stop_all_clocks
from ..retention import DESTROY_PERMISSION, destroy_batch, note_outcome
from .common import deadline_data, required
from .replies import record_reply, reply_data
from .steps import S, begin_step, finish_step


def reply(
    case,
    *,
    by,
    method=None,
    replied_at=None,
    text=None,
    recipient=None,
    at=None,
    expected_version=None,
):
    """The formal reply (正式答复): one ``CaseReply`` row, the case's reply time and method,
    and the state "replied"; it stops the reply clock."""
    at = at or utcnow()
    step = begin_step("reply", case, by, expected_version)
    answer = record_reply(
        case, ReplyKind.formal, by=by, method=method, replied_at=replied_at, text=text,
        recipient=recipient, at=at,
    )  # fmt: skip
    case.replied_at = answer.replied_at
    case.reply_method = answer.method
    answer.event_id = finish_step(step, case, by, at, reply_data(answer)).id


def close(case, *, by, opinion=None, at=None, expected_version=None):
    at = at or utcnow()
    step = begin_step("close", case, by, expected_version)
    opinion = required(opinion, "opinion", _l("办结意见"))
    case.closed_at = at
    stop_all_clocks(case, at=at)
    reachable = can_call_back(case)
    # An anonymous matter with no recorded way to reach the writer gets no callback task
    # (it could never be done, and would only count as overdue).
    clock = start_clock(case, Clock.callback, at=at, restart=True) if reachable else None
    task = plan_callback_on_close(case, clock=clock, by=by, at=at)
    finish_step(
        step,
        case,
        by,
        at,
        {
            "opinion": opinion,
            "signed_by": str(by),
            **(deadline_data(clock) if task is not None else {}),
            **({} if reachable else {"no_callback": True}),
        },
    )


def _review_window_days() -> int:
    try:
        return int(SystemSetting.get("review_request_days"))
    except (KeyError, ValueError):
        return 30


def request_review(case, *, by, requested_on=None, reason=None, at=None, expected_version=None):
    at = at or utcnow()
    step = begin_step("request_review", case, by, expected_version)
    return _request_review(step, case, by, at, requested_on, reason, Clock.review)


def request_re_review(case, *, by, requested_on=None, reason=None, at=None, expected_version=None):
    at = at or utcnow()
    step = begin_step("request_re_review", case, by, expected_version)
    return _request_review(step, case, by, at, requested_on, reason, Clock.re_review)


def _request_review(step, case, by, at, requested_on, reason, clock_kind):
    reason = required(reason, "reason", _l("申请理由"))
    today = to_local(at).date()
    requested_on = requested_on or today
    if requested_on > today:
        raise ValidationFailed(_("申请日期不能晚于今天"), field="requested_on")
    window = _review_window_days()
    since = case.replied_at if clock_kind == Clock.review else _last_review_answer(case)
    if since is not None and (requested_on - to_local(since).date()).days > window:
        raise ValidationFailed(
            _("申请已超过期限（收到书面意见之日起%(days)s日内），应登记为不再受理", days=window),
            field="requested_on",
        )
    clock = start_clock(case, clock_kind, at=at, restart=True)
    finish_step(
        step,
        case,
        by,
        at,
        {"requested_on": requested_on.isoformat(), "reason": reason, **deadline_data(clock)},
    )


def _last_review_answer(case: Case) -> datetime | None:
    from ...cases import CaseEvent

    return db.session.scalar(
        sa.select(sa.func.max(CaseEvent.created_at)).where(
            CaseEvent.case_id == case.id, CaseEvent.kind == EventKind.answer_review
        )
    )


def answer_review(case, *, by, opinion=None, upheld=True, at=None, expected_version=None):
    at = at or utcnow()
    step = begin_step("answer_review", case, by, expected_version)
    opinion = required(opinion, "opinion", _l("复查意见"))
    case.review_level = max(case.review_level or 0, 1)
    clock_event(case, "review_answered", at=at)
    finish_step(step, case, by, at, {"opinion": opinion, "upheld": bool(upheld)})


def answer_re_review(case, *, by, opinion=None, upheld=True, at=None, expected_version=None):
    at = at or utcnow()
    step = begin_step("answer_re_review", case, by, expected_version)
    opinion = required(opinion, "opinion", _l("复核意见"))
    case.review_level = 2
    clock_event(case, "re_review_answered", at=at)
    finish_step(step, case, by, at, {"opinion": opinion, "upheld": bool(upheld), "final": True})


def archive(case, *, by, volume=None, at=None, expected_version=None):
    at = at or utcnow()
    step = begin_step("archive", case, by, expected_version)
    case.archived_at = at
    stop_all_clocks(case, at=at)
    finish_step(step, case, by, at, {"volume": volume or ""})


def reopen(case, *, by, reason=None, at=None, expected_version=None):
    at = at or utcnow()
    step = begin_step("reopen", case, by, expected_version)
    reason = required(reason, "reason", _l("重新办理的理由"))
    _reopen(case, at)
    # With nobody to work on it yet, it goes back to intake so it can be assigned.
    target = S.in_progress if case.handling_unit_id is not None else S.accepted
    finish_step(step, case, by, at, {"reason": reason}, target=target)


def _reopen(case: Case, at: datetime) -> None:
    case.closed_at = None
    case.archived_at = None
    case.result_reported_at = None
    case.result_approved_at = None
    case.result_approved_by_id = None
    clock_event(case, "reopened", at=at)  # the callback clock stops
    start_clock(case, Clock.handling, at=at, restart=True)


def reopen_after_callback(case: Case, at: datetime) -> bool:
    """A callback found the petitioner dissatisfied or the problem still there: work resumes.

    Called by the callback operation, whose event records it; returns whether it reopened.
    """
    if case.status not in (S.closed, S.replied, S.archived, S.result_reported):
        return False
    _reopen(case, at)
    before = case.status
    case.status = S.in_progress if case.handling_unit_id is not None else S.accepted
    note_outcome(case, before, at)
    return True


def destroy(case, *, by, batch=None, at=None, expected_version=None):
    """销毁 one kept letter: a batch of one, through the same erasure as every batch."""
    at = at or utcnow()
    step = begin_step("destroy", case, by, expected_version)
    region, year = case.kept_region, case.kept_year
    permission = next(
        (name for name in step.permissions if by.has_permission(name)), DESTROY_PERMISSION
    )
    record = destroy_batch(
        [case], by=by, year=year, region=region, note=batch, at=at, permission=permission
    )
    db.session.refresh(case)
    finish_step(
        step,
        case,
        by,
        at,
        {"batch": record.number, "note": batch or "", "region": region, "year": year},
        before=S.kept,
    )
