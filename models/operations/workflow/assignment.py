"""Assignment: 交办, 签收, assistants, 转办 and 退回."""

from __future__ import annotations

from flask_babel import gettext as _

from models.texts import lazy_gettext as _l

from ...base import utcnow
from ...enums import Clock, OutOfScopePolicy
from ...messaging import MessageKind
from ...policies import may_handle
from .. import ValidationFailed
from ..deadlines import clock_event, notify, open_clock, start_clock, stop_all_clocks
from .common import (
    active_unit,
    deadline_data,
    ensure_may_join,
    future_date,
    hand_over,
    handler_in_unit,
    required,
)
from .routing import routing_data
from .steps import INTAKE, begin_step, finish_step, out_of_scope_policy


def assign(
    case,
    *,
    by,
    handling_unit=None,
    handler=None,
    supervised=False,
    due_on=None,
    note=None,
    at=None,
    expected_version=None,
):
    at = at or utcnow()
    step = begin_step("assign", case, by, expected_version)
    unit = active_unit(handling_unit)
    handler = handler_in_unit(handler, unit)
    if handler is not None:
        ensure_may_join(case, handler, by, "handler")
    future_date(due_on, "due_on", at)
    reassigned = case.handling_unit_id is not None and case.handling_unit_id != unit.id
    routing = routing_data(case, unit)
    clock = hand_over(case, unit, handler, supervised, due_on, at, restart=case.status in INTAKE)
    finish_step(
        step,
        case,
        by,
        at,
        {
            "handling_unit": unit.name,
            "handler": str(handler) if handler else None,
            "supervised": bool(supervised),
            "reassigned": reassigned,
            "note": note or "",
            **routing,
            **deadline_data(clock),
        },
    )


def acknowledge(case, *, by, at=None, expected_version=None):
    at = at or utcnow()
    step = begin_step("acknowledge", case, by, expected_version)
    if case.handler_id is None and by.unit_id == case.handling_unit_id:
        case.handler = by
    case.acknowledged_at = at
    handover_hours = (
        round((at - case.assigned_at).total_seconds() / 3600, 1) if case.assigned_at else None
    )
    finish_step(step, case, by, at, {"hours_after_assignment": handover_hours})


def add_assistant(case, *, by, assistant=None, note=None, at=None, expected_version=None):
    at = at or utcnow()
    step = begin_step("add_assistant", case, by, expected_version)
    if assistant is None:
        raise ValidationFailed(_("请选择协办人"), field="assistant")
    if not assistant.is_active:
        raise ValidationFailed(_("所选协办人账号已停用"), field="assistant")
    if not may_handle(assistant):
        raise ValidationFailed(
            _("%(name)s 的角色不能承办事项，请选择其他协办人", name=str(assistant)),
            field="assistant",
        )
    if assistant.id == case.handler_id or assistant in case.assistants:
        raise ValidationFailed(_("该人员已在承办此事项"), field="assistant")
    ensure_may_join(case, assistant, by, "assistant")
    case.assistants.append(assistant)
    notify([assistant], case, f"{case.number} 请您协助办理", at=at, kind=MessageKind.assignment)
    finish_step(
        step,
        case,
        by,
        at,
        {"assistant": str(assistant), "approved_by": str(by), "note": note or ""},
    )


def transfer(
    case,
    *,
    by,
    target_unit=None,
    reason=None,
    petitioner_informed=False,
    informed_how=None,
    at=None,
    expected_version=None,
):
    at = at or utcnow()
    step = begin_step("transfer", case, by, expected_version)
    if target_unit is None:
        raise ValidationFailed(_("请选择转送的机关或单位"), field="target_unit")
    reason = required(reason, "reason", _l("转办理由"))
    if petitioner_informed and not (informed_how or "").strip():
        raise ValidationFailed(_("已告知信访人的，请填写告知方式"), field="informed_how")
    deciding = open_clock(case, Clock.out_of_scope)
    # After an out-of-scope decision: was it passed on within that clock (我办: 3 days)?
    timing = {"within_limit": at <= deciding.due_at} if deciding is not None else {}
    clock_event(case, "transferred", at=at)
    stop_all_clocks(case, at=at)
    case.closed_at = at
    finish_step(
        step,
        case,
        by,
        at,
        {
            "target_unit": target_unit.name,
            "reason": reason,
            "petitioner_informed": bool(petitioner_informed),
            "informed_how": informed_how or "",
            **timing,
            **routing_data(case, target_unit),
        },
    )


def return_to_sender(
    case,
    *,
    by,
    returned_to=None,
    reason=None,
    suggested_destination=None,
    at=None,
    expected_version=None,
):
    at = at or utcnow()
    step = begin_step("return_to_sender", case, by, expected_version)
    returned_to = required(returned_to, "returned_to", _l("退回对象（来信人或原批转单位）"))
    reason = required(reason, "reason", _l("退回理由"))
    suggested_destination = (suggested_destination or "").strip()
    handover = open_clock(case, Clock.handover)
    within_limit = handover is None or at <= handover.due_at
    deciding = open_clock(case, Clock.out_of_scope)
    if deciding is not None:
        within_limit = within_limit and at <= deciding.due_at
    clock_event(case, "returned", at=at)
    stop_all_clocks(case, at=at)
    case.closed_at = at
    finish_step(
        step,
        case,
        by,
        at,
        {
            "returned_to": returned_to,
            "reason": reason,
            # Where the matter belongs, as the returning office sees it (96310: 建议转往).
            **({"suggested_destination": suggested_destination} if suggested_destination else {}),
            "within_limit": within_limit,
        },
    )


def out_of_scope(
    case,
    *,
    by,
    reason=None,
    forwarding_unit=None,
    at=None,
    expected_version=None,
):
    """不属本单位职责范围: the decision, its reason and the unit that forwarded the matter.

    Starts the out-of-scope clock (its amount from the deadline rules): counted from receipt
    where the unit returns such matters (退回, 15 days of receipt at the construction-quality
    station), from the decision where it transfers them or passes them to the office (3 days,
    我办 四.3). 转办 or 退回 stops it; which of the two the unit may take is ``steps._guard``'s.
    """
    at = at or utcnow()
    step = begin_step("out_of_scope", case, by, expected_version)
    reason = required(reason, "reason", _l("不属本单位职责范围的理由"))
    if forwarding_unit is not None and not forwarding_unit.is_active:
        raise ValidationFailed(_("所选单位已停用"), field="forwarding_unit")
    policy = out_of_scope_policy(by)
    case.out_of_scope_at = at
    case.out_of_scope_reason = reason
    case.out_of_scope_forwarding_unit = forwarding_unit
    clock_event(case, "out_of_scope_decided", at=at)
    since = case.received_at if policy == OutOfScopePolicy.return_only else at
    clock = start_clock(case, Clock.out_of_scope, at=since, restart=True)
    finish_step(
        step,
        case,
        by,
        at,
        {
            "reason": reason,
            "forwarding_unit": forwarding_unit.name if forwarding_unit else "",
            "policy": policy.value,
            **deadline_data(clock),
        },
    )
