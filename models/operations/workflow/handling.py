"""Handling: investigation, urging, interim reports, extensions, pauses and the result."""

from __future__ import annotations

from flask_babel import gettext as _

from models.texts import lazy_gettext as _l

from ...base import to_local, utcnow
from ...cases import Case
from ...enums import Clock
from ...policies import interim_report_audience, may_sign_result
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


def interim_report(
    case,
    *,
    by,
    reason=None,
    difficulties=None,
    amount=None,
    at=None,
    expected_version=None,
):
    """中途报告 (我办 五.4): why the case cannot close on time, reported to the leader with the
    office told. ``amount``: a new deadline asked for at the same time (days, or the clock's
    unit, on the handling clock); the leader decides it as any extension (``decide_extension``)."""
    at = at or utcnow()
    step = begin_step("interim_report", case, by, expected_version)
    reason = required(reason, "reason", _l("不能按期办结的原因"))
    asked = {}
    if amount:
        if any(c.pending_extension and c.stopped_at is None for c in case.clocks):
            raise ValidationFailed(_("已有延期申请待审批"), field="amount")
        extendable = {c.kind.value for c in case.clocks if c.stopped_at is None and c.max_extension}
        # The handling clock is the one a 中途报告 is about; else whatever may be extended.
        kind = "handling" if "handling" in extendable else None
        target = _clock_to_extend(case, kind, field="amount")
        asked = _ask_for_extension(target, int(amount), reason, by)
    audience = interim_report_audience(case)
    message = f"中途报告：{case.number}「{case.subject[:40]}」{reason[:60]}"
    if asked:
        message += f"（申请延期{asked['amount']}{asked['unit']}，待领导审批）"
    notify(audience, case, message[:300], at=at)
    finish_step(
        step,
        case,
        by,
        at,
        {
            "reason": reason,
            "difficulties": difficulties or "",
            **asked,
            "notified": [str(user) for user in audience],
        },
    )


def _clock_to_extend(case: Case, kind, field: str = "clock") -> object:
    candidates = [c for c in case.clocks if c.stopped_at is None and c.max_extension]
    if kind:
        candidates = [c for c in candidates if c.kind.value == str(kind)]
    if not candidates:
        raise ValidationFailed(_("所选时限不能延期或已结束"), field=field)
    return candidates[0]


def _ask_for_extension(target, amount: int, reason: str, by) -> dict:
    """Put an extension request on ``target`` for the leader's decision; its timeline data."""
    check_extension(target, amount)
    target.pending_extension = amount
    target.pending_reason = reason
    target.pending_by_id = by.id
    return {"clock": target.kind.value, "amount": amount, "unit": target.unit_label}


def request_extension(
    case, *, by, clock=None, amount=None, reason=None, at=None, expected_version=None
):
    at = at or utcnow()
    step = begin_step("request_extension", case, by, expected_version)
    target = _clock_to_extend(case, clock)
    reason = required(reason, "reason", _l("延期理由"))
    asked = _ask_for_extension(target, int(amount or 0), reason, by)
    finish_step(step, case, by, at, {**asked, "reason": reason})


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


def report_result(
    case,
    *,
    by,
    facts=None,
    decision=None,
    signed_by=None,
    signer_name=None,
    reported_to_office_on=None,
    at=None,
    expected_version=None,
):
    """报结: the facts and the decision, signed by the leader in charge and reported to the
    office (我办 四.2). The signer is a user (``signed_by``: the handling unit's head or a
    leader) or, where the leader has no account, their name as signed on paper."""
    at = at or utcnow()
    step = begin_step("report_result", case, by, expected_version)
    facts = required(facts, "facts", _l("查明的事实"))
    decision = required(decision, "decision", _l("对每项诉求的处理意见"))
    signer_name = (signer_name or "").strip()
    if signed_by is not None:
        if not may_sign_result(signed_by, case):
            raise ValidationFailed(_("签字的分管领导须是承办单位负责人或领导"), field="signed_by")
        signer_name = signed_by.full_name
    if len(signer_name) > 50:
        raise ValidationFailed(_("签字领导姓名不能超过50个字"), field="signer_name")
    today = to_local(at).date()
    reported_on = reported_to_office_on or today
    if reported_on > today:
        raise ValidationFailed(_("报送办公室日期不能晚于今天"), field="reported_to_office_on")
    if reported_on < to_local(case.received_at).date():
        raise ValidationFailed(
            _("报送办公室日期不能早于收到信访事项的日期"), field="reported_to_office_on"
        )
    case.result_reported_at = at
    case.result_approved_at = None
    case.result_approved_by_id = None
    case.result_signed_by = signed_by
    case.result_signer_name = signer_name or None
    case.result_reported_to_office_on = reported_on
    clock_event(case, "result_reported", at=at)
    finish_step(
        step,
        case,
        by,
        at,
        {
            "facts": facts,
            "decision": decision,
            "result_signer": signer_name,
            "reported_to_office_on": reported_on.isoformat(),
        },
    )


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
