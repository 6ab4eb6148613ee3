"""Handling: investigation, urging, interim reports, extensions, pauses and the result."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ...base import utcnow
from ...cases import Case
from ...enums import Clock
from .. import ValidationFailed
from ..deadlines import (
    check_extension,
    clock_event,
    extend,
    notify,
    pause,
    resume,
    start_clock,
)
from .common import deadline_data, required
from .steps import begin_step, finish_step


def investigate(
    case,
    *,
    by,
    findings=None,
    responsible_unit=None,
    needs_rectification=False,
    at=None,
    expected_version=None,
):
    at = at or utcnow()
    step = begin_step("investigate", case, by, expected_version)
    findings = required(findings, "findings", _l("调查核实情况"))
    clock = None
    if needs_rectification:
        clock = start_clock(case, Clock.rectification, at=at)
    finish_step(
        step,
        case,
        by,
        at,
        {
            "findings": findings,
            "responsible_unit": responsible_unit or "",
            "needs_rectification": bool(needs_rectification),
            **deadline_data(clock),
        },
    )


def urge(case, *, by, note=None, at=None, expected_version=None):
    at = at or utcnow()
    step = begin_step("urge", case, by, expected_version)
    recipients = [case.handler] if case.handler else []
    notify(recipients, case, f"催办：{case.number}「{case.subject[:40]}」{note or ''}", at=at)
    finish_step(step, case, by, at, {"note": note or ""})


def interim_report(case, *, by, reason=None, difficulties=None, at=None, expected_version=None):
    at = at or utcnow()
    step = begin_step("interim_report", case, by, expected_version)
    reason = required(reason, "reason", _l("不能按期办结的原因"))
    finish_step(step, case, by, at, {"reason": reason, "difficulties": difficulties or ""})


def _clock_to_extend(case: Case, kind) -> object:
    candidates = [c for c in case.clocks if c.stopped_at is None and c.max_extension]
    if kind:
        candidates = [c for c in candidates if c.kind.value == str(kind)]
    if not candidates:
        raise ValidationFailed(_("所选时限不能延期或已结束"), field="clock")
    return candidates[0]


def request_extension(
    case, *, by, clock=None, amount=None, reason=None, at=None, expected_version=None
):
    at = at or utcnow()
    step = begin_step("request_extension", case, by, expected_version)
    target = _clock_to_extend(case, clock)
    reason = required(reason, "reason", _l("延期理由"))
    amount = int(amount or 0)
    check_extension(target, amount)
    target.pending_extension = amount
    target.pending_reason = reason
    target.pending_by_id = by.id
    finish_step(
        step,
        case,
        by,
        at,
        {"clock": target.kind.value, "amount": amount, "unit": target.unit_label, "reason": reason},
    )


def decide_extension(
    case, *, by, approved=True, amount=None, note=None, at=None, expected_version=None
):
    at = at or utcnow()
    step = begin_step("decide_extension", case, by, expected_version)
    target = next(c for c in case.clocks if c.pending_extension and c.stopped_at is None)
    requested = target.pending_extension
    granted = int(amount) if amount else requested
    old_due = target.due_at
    if approved:
        extend(target, granted)
    target.pending_extension = None
    target.pending_reason = None
    target.pending_by_id = None
    finish_step(
        step,
        case,
        by,
        at,
        {
            "clock": target.kind.value,
            "approved": bool(approved),
            "requested": requested,
            "granted": granted if approved else 0,
            "unit": target.unit_label,
            "old_due_at": old_due.isoformat(),
            "due_at": target.due_at.isoformat(),
            "note": note or "",
        },
    )


def pause_clock(case, *, by, reason=None, at=None, expected_version=None):
    at = at or utcnow()
    step = begin_step("pause_clock", case, by, expected_version)
    reason = required(reason, "reason", _l("暂停计时的原因（如听证、等待信访人补充材料）"))
    paused = [c for c in case.clocks if c.is_running]
    for clock in paused:
        pause(clock, at=at)
    finish_step(step, case, by, at, {"reason": reason, "clocks": [c.kind.value for c in paused]})


def resume_clock(case, *, by, note=None, at=None, expected_version=None):
    at = at or utcnow()
    step = begin_step("resume_clock", case, by, expected_version)
    resumed = [c for c in case.clocks if c.stopped_at is None and c.paused_at is not None]
    for clock in resumed:
        resume(clock, at=at)
    finish_step(
        step,
        case,
        by,
        at,
        {
            "note": note or "",
            "clocks": [c.kind.value for c in resumed],
            "due": {c.kind.value: c.due_at.isoformat() for c in resumed},
        },
    )


def report_result(case, *, by, facts=None, decision=None, at=None, expected_version=None):
    at = at or utcnow()
    step = begin_step("report_result", case, by, expected_version)
    facts = required(facts, "facts", _l("查明的事实"))
    decision = required(decision, "decision", _l("对每项诉求的处理意见"))
    case.result_reported_at = at
    case.result_approved_at = None
    case.result_approved_by_id = None
    clock_event(case, "result_reported", at=at)
    finish_step(step, case, by, at, {"facts": facts, "decision": decision})


def approve_result(case, *, by, note=None, at=None, expected_version=None):
    at = at or utcnow()
    step = begin_step("approve_result", case, by, expected_version)
    case.result_approved_at = at
    case.result_approved_by_id = by.id
    finish_step(step, case, by, at, {"note": note or ""})


def send_back(case, *, by, reason=None, at=None, expected_version=None):
    at = at or utcnow()
    step = begin_step("send_back", case, by, expected_version)
    reason = required(reason, "reason", _l("退回重办的理由"))
    case.result_approved_at = None
    case.result_approved_by_id = None
    case.acknowledged_at = case.acknowledged_at or at
    clock = start_clock(case, Clock.handling, at=at, restart=True)
    notify(
        [case.handler] if case.handler else [],
        case,
        f"{case.number} 退回重办：{reason[:60]}",
        at=at,
    )
    finish_step(step, case, by, at, {"reason": reason, **deadline_data(clock)})
