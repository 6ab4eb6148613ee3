"""Input checks and hand-over helpers shared by the stages."""

from __future__ import annotations

from datetime import date, datetime

from flask_babel import gettext as _

from ...base import to_local
from ...cases import Case
from ...enums import Clock
from ...messaging import MessageKind
from ...policies import may_handle, may_join_circle
from ...units import Unit
from ...users import User
from .. import ValidationFailed
from ..deadlines import clock_event, notify, start_clock


def required(value, field: str, label: str) -> str:
    text = (value or "").strip() if isinstance(value, str | type(None)) else value
    if not text:
        raise ValidationFailed(_("请填写%(label)s", label=label), field=field)
    return text


def future_date(value: date | None, field: str, at: datetime) -> date | None:
    if value is not None and value < to_local(at).date():
        raise ValidationFailed(_("期限不能早于今天"), field=field)
    return value


def active_unit(unit: Unit | None, field: str = "handling_unit") -> Unit:
    if unit is None:
        raise ValidationFailed(_("请选择承办单位"), field=field)
    if not unit.is_active:
        raise ValidationFailed(_("所选单位已停用"), field=field)
    return unit


def ensure_may_join(case: Case, person: User, by, field: str) -> None:
    """On a 举报 case, naming a handler or an assistant brings them into the reporter's
    circle: the one who names them must be allowed to see the reporter already."""
    if not may_join_circle(person, case, named_by=by):
        raise ValidationFailed(
            _(
                "这是举报类事项，举报人身份保密：只有能查看举报人信息的人员"
                "（如部门负责人、办公室）才能指定%(person)s承办或协办",
                person=str(person),
            ),
            field=field,
        )


def handler_in_unit(handler: User | None, unit: Unit) -> User | None:
    if handler is None:
        return None
    if not handler.is_active:
        raise ValidationFailed(_("所选承办人账号已停用"), field="handler")
    if handler.unit_id != unit.id:
        raise ValidationFailed(_("承办人须是“%(unit)s”的人员", unit=unit.name), field="handler")
    if not may_handle(handler):
        raise ValidationFailed(
            _("%(name)s 的角色不能承办事项，请选择其他承办人", name=str(handler)), field="handler"
        )
    return handler


def accept_if_needed(case: Case, at: datetime) -> None:
    """Instructing or assigning a matter accepts it, if nobody recorded that yet."""
    if case.accepted_at is None:
        case.accepted_at = at
        # Stops the acceptance notice; starts closing, reply, interim, remedial and superior
        # clocks (the petitioner's ones not on anonymous cases).
        clock_event(case, "accepted", at=at)


def hand_over(
    case: Case, unit, handler, supervised, due_on, at, *, restart: bool, message: str | None = None
):
    """Give the case to ``unit``/``handler`` (批示, 交办 or a routing rule), start its handling
    clock and tell the handler (in the work list and, as they chose, by e-mail); ``message``
    replaces the usual words."""
    accept_if_needed(case, at)
    case.handling_unit = unit
    case.handler = handler
    case.assigned_at = at
    case.acknowledged_at = None
    case.is_supervised = case.is_supervised or bool(supervised)
    clock_event(case, "handed_over", at=at)
    clock = start_clock(case, Clock.handling, at=at, fixed_due_on=due_on, restart=restart)
    if handler is not None:
        notify(
            [handler],
            case,
            message or f"{case.number}「{case.subject[:40]}」已交您办理",
            at=at,
            kind=MessageKind.assignment,
        )
    return clock


def deadline_data(clock) -> dict:
    if clock is None:
        return {}
    return {"clock": clock.kind.value, "due_at": clock.due_at.isoformat()}
