"""Leadership: a proposal, sending for reading, and the leader's instruction."""

from __future__ import annotations

from flask_babel import gettext as _

from models.texts import lazy_gettext as _l

from ...base import utcnow
from ...enums import Clock
from .. import ValidationFailed
from ..deadlines import notify, start_clock
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
from .steps import begin_step, finish_step


def propose(case, *, by, proposal=None, at=None, expected_version=None):
    at = at or utcnow()
    step = begin_step("propose", case, by, expected_version)
    proposal = required(proposal, "proposal", _l("拟办意见"))
    finish_step(step, case, by, at, {"proposal": proposal})


def send_for_reading(case, *, by, leader=None, note=None, at=None, expected_version=None):
    at = at or utcnow()
    step = begin_step("send_for_reading", case, by, expected_version)
    if leader is not None and not leader.has_permission("workflow.instruct"):
        raise ValidationFailed(_("所选人员没有批示权限"), field="leader")
    # T11: the leader signs by the 3rd working day after *receipt*, not after sending.
    clock = start_clock(case, Clock.instruction, at=case.received_at)
    if leader is not None:
        notify([leader], case, f"{case.number}「{case.subject[:40]}」送您阅批", at=at)
    finish_step(
        step,
        case,
        by,
        at,
        {"leader": str(leader) if leader else None, "note": note or "", **deadline_data(clock)},
    )


def instruct(
    case,
    *,
    by,
    instruction=None,
    handling_unit=None,
    handler=None,
    due_on=None,
    supervised=False,
    at=None,
    expected_version=None,
):
    """Leader instruction (批示), also the 督办卡 of a reception day: it assigns at once."""
    at = at or utcnow()
    step = begin_step("instruct", case, by, expected_version)
    instruction = required(instruction, "instruction", _l("批示内容"))
    unit = active_unit(handling_unit)
    handler = handler_in_unit(handler, unit)
    if handler is not None:
        ensure_may_join(case, handler, by, "handler")
    future_date(due_on, "due_on", at)
    case.instruction = instruction
    case.instructed_at = at
    case.instructed_by_id = by.id
    routing = routing_data(case, unit)
    clock = hand_over(
        case,
        unit,
        handler,
        supervised,
        due_on,
        at,
        restart=True,
        message=f"{case.number} 已交您办理：{instruction[:60]}",
    )
    finish_step(
        step,
        case,
        by,
        at,
        {
            "instruction": instruction,
            "handling_unit": unit.name,
            "handler": str(handler) if handler else None,
            "due_on": due_on.isoformat() if due_on else None,
            "supervised": bool(supervised),
            **routing,
            **deadline_data(clock),
        },
    )
