"""The case workflow: every step from acceptance to archive (requirements.md §2, §2.22).

Each step is one function ``step(case, *, by, at=None, **inputs)``. It checks the case's state,
the user's permission and the step's own rules *before* touching anything, then changes the
case and its clocks, writes exactly one timeline event and returns. It never commits.

``STEPS`` is the state machine as data: which states a step starts from, where it leads and who
may take it. The case page shows a button for every step ``step_problem`` has no objection to,
and the endpoint calls the same function, so the screen and the rules cannot disagree.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import db
from ..attachments import Attachment
from ..base import to_local, utcnow
from ..callbacks import Callback
from ..cases import Case
from ..contacts import Call, Letter, Visit
from ..enums import (
    CasePriority,
    CaseStatus,
    Clock,
    EventKind,
    OutOfScopePolicy,
    ReplyMethod,
)
from ..policies import OPEN_STATUSES, closing_permission, may_join_circle, works_on_case
from ..settings import SystemSetting
from ..units import Unit
from ..users import User
from . import Conflict, InvalidTransition, NotPermitted, ValidationFailed
from .audit import log_event
from .deadlines import (
    check_extension,
    extend,
    notify,
    open_clock,
    pause,
    resume,
    start_clock,
    stop_all_clocks,
    stop_clocks,
)

logger = logging.getLogger(__name__)

S = CaseStatus
INTAKE = frozenset({S.registered, S.accepted})
BEFORE_ASSIGNMENT = frozenset({S.registered, S.accepted, S.awaiting_instruction})
HANDLING = frozenset({S.assigned, S.in_progress})
#: Years a callback record must be kept (000 用户访问管理制度 8: 5 years).
CALLBACK_RETENTION_YEARS = 5


@dataclass(frozen=True)
class Step:
    code: str
    sources: frozenset[CaseStatus]
    #: The state after the step; ``None`` keeps the current one.
    target: CaseStatus | None
    #: Holding any one of these is enough (settings may change them, see ``_permissions``).
    permissions: tuple[str, ...]
    #: The user must be on the case: its handler, an assistant or in its handling unit.
    on_case: bool = False
    #: Shown in the "more" group of buttons rather than the main row.
    secondary: bool = False

    @property
    def title(self) -> str:
        return EventKind(self.code).title


def _step(code, sources, target, *permissions, on_case=False, secondary=False) -> Step:
    return Step(code, frozenset(sources), target, permissions, on_case, secondary)


STEPS: dict[str, Step] = {
    step.code: step
    for step in (
        # Intake decisions.
        _step("accept", {S.registered}, S.accepted, "workflow.intake"),
        _step("not_accept", INTAKE, S.not_accepted, "workflow.intake"),
        _step("no_longer_accept", INTAKE, S.no_longer_accepted, "workflow.intake"),
        _step("keep", INTAKE, S.kept, "workflow.intake"),
        _step("answer_on_spot", INTAKE, S.closed, "workflow.intake"),
        # Leadership.
        _step("propose", BEFORE_ASSIGNMENT, None, "workflow.intake"),
        _step("send_for_reading", INTAKE, S.awaiting_instruction, "workflow.intake"),
        _step("instruct", BEFORE_ASSIGNMENT, S.assigned, "workflow.instruct"),
        # Assignment.
        _step("assign", INTAKE | HANDLING, S.assigned, "workflow.assign"),
        _step("acknowledge", {S.assigned}, S.in_progress, "workflow.handle", on_case=True),
        _step("add_assistant", HANDLING, None, "workflow.approve", "workflow.assign", on_case=True),
        _step("transfer", BEFORE_ASSIGNMENT, S.transferred, "workflow.intake", "workflow.assign"),
        _step(
            "return_to_sender",
            BEFORE_ASSIGNMENT,
            S.returned,
            "workflow.intake",
            "workflow.assign",
        ),
        # Handling.
        _step("investigate", {S.in_progress}, None, "workflow.handle", on_case=True),
        _step("urge", HANDLING | {S.result_reported}, None, "workflow.assign"),
        _step("interim_report", HANDLING, None, "workflow.handle", on_case=True),
        _step("request_extension", HANDLING, None, "workflow.handle", on_case=True),
        _step("decide_extension", HANDLING | {S.result_reported}, None, "workflow.instruct"),
        _step(
            "pause_clock",
            OPEN_STATUSES,
            None,
            "workflow.handle",
            "workflow.assign",
            on_case=True,
            secondary=True,
        ),
        _step(
            "resume_clock",
            OPEN_STATUSES,
            None,
            "workflow.handle",
            "workflow.assign",
            on_case=True,
            secondary=True,
        ),
        _step("report_result", {S.in_progress}, S.result_reported, "workflow.handle", on_case=True),
        _step("approve_result", {S.result_reported}, None, "workflow.approve", on_case=True),
        _step(
            "send_back",
            {S.result_reported, S.replied},
            S.in_progress,
            "workflow.assign",
            "workflow.instruct",
        ),
        # Closing.
        _step("reply", {S.result_reported}, S.replied, "workflow.reply"),
        _step("close", {S.result_reported, S.replied}, S.closed, "workflow.close"),
        _step("request_review", {S.closed, S.replied}, S.under_review, "workflow.review"),
        _step("answer_review", {S.under_review}, S.closed, "workflow.review"),
        _step("request_re_review", {S.closed}, S.under_re_review, "workflow.review"),
        _step("answer_re_review", {S.under_re_review}, S.closed, "workflow.review"),
        _step(
            "archive",
            {S.closed, S.not_accepted, S.no_longer_accepted, S.transferred, S.returned},
            S.archived,
            "workflow.archive",
        ),
        _step(
            "reopen",
            {S.closed, S.archived, S.not_accepted, S.returned},
            S.in_progress,
            "workflow.assign",
            secondary=True,
        ),
        _step("destroy", {S.kept}, S.destroyed, "workflow.archive", secondary=True),
        _step(
            "merge",
            INTAKE | HANDLING | {S.awaiting_instruction, S.kept},
            S.merged,
            "workflow.assign",
            secondary=True,
        ),
        _step(
            "split",
            {S.accepted, S.awaiting_instruction, S.assigned, S.in_progress},
            None,
            "workflow.assign",
            secondary=True,
        ),
    )
}


# --- who may do what -------------------------------------------------------------------------


def _permissions(step: Step, case: Case) -> tuple[str, ...]:
    if step.code == "close":
        return (closing_permission(),)
    if step.code == "reply" and SystemSetting.get("reply_by") == "department":
        return ("workflow.reply", "workflow.handle")
    return step.permissions


def step_permissions(step: Step, case: Case) -> tuple[str, ...]:
    """The permissions of which a user must hold one to take ``step`` on ``case``."""
    return _permissions(step, case)


def out_of_scope_policy(user) -> OutOfScopePolicy:
    unit = user.unit if user is not None else None
    if unit is not None and unit.out_of_scope_policy is not None:
        return unit.out_of_scope_policy
    try:
        return OutOfScopePolicy(SystemSetting.get("out_of_scope_policy"))
    except ValueError:
        return OutOfScopePolicy.transfer


def needs_leader_instruction(case: Case) -> bool:
    """Whether the case must be read and instructed by a leader before it is assigned."""
    if case.instructed_at is not None:
        return False
    if SystemSetting.get("leader_reading") == "important":
        return (
            case.is_important
            or case.is_major
            or case.is_sensitive
            or case.priority != CasePriority.normal
        )
    return True


def _open_children(case: Case) -> list[Case]:
    return list(
        db.session.scalars(
            sa.select(Case).where(
                Case.parent_id == case.id,
                Case.is_deleted.is_(False),
                Case.status.in_(OPEN_STATUSES),
            )
        )
    )


def _has_done_callback(case: Case) -> bool:
    return bool(
        db.session.scalar(
            sa.select(sa.func.count(Callback.id)).where(
                Callback.case_id == case.id,
                Callback.is_deleted.is_(False),
                Callback.done_at.is_not(None),
            )
        )
    )


def _guard(step: Step, case: Case, user) -> str | None:
    """The step's own rule beyond state and permission, as a message; ``None`` if fine."""
    code = step.code
    policy = out_of_scope_policy(user) if code in ("transfer", "return_to_sender") else None
    if code == "transfer":
        if policy == OutOfScopePolicy.return_only:
            return _("按本单位规定，不属于职责范围的事项应说明理由退回，不得自行转送其他单位")
        if policy == OutOfScopePolicy.via_office and not user.has_permission("case.view_all"):
            return _("按本单位规定，不属于职责范围的事项须送办公室转交")
    if code == "return_to_sender" and policy == OutOfScopePolicy.transfer:
        return _("按本单位规定，不属于职责范围的事项应转送有权处理的机关并告知信访人")
    if code == "assign" and case.status in INTAKE and needs_leader_instruction(case):
        if SystemSetting.get("leader_reading") == "important":
            return _("重要、紧急事项须经领导批示后方可交办，请先送阅")
        return _("按本单位规定，所有事项须经领导批示后方可交办，请先送阅")
    if code == "acknowledge" and case.acknowledged_at is not None:
        return _("该事项已签收")
    if (
        code == "acknowledge"
        and case.handler_id is None
        and user.unit_id == case.handling_unit_id
        and not may_join_circle(user, case)
    ):
        # Signing an unnamed case makes the signer its handler, inside the reporter's circle.
        return _(
            "这是举报类事项，举报人身份保密：须由部门负责人指定承办人后，"
            "由被指定的承办人签收，不能从本单位待办中自行签收"
        )
    if code == "approve_result":
        if case.result_approved_at is not None:
            return _("报结已审核通过")
        if not user.has_permission("case.view_all") and user.unit_id != case.handling_unit_id:
            return _("只有承办单位的负责人可以审核报结")
    if code == "reply":
        if case.is_anonymous:
            return _("匿名事项不予答复")
        if case.result_approved_at is None:
            return _("报结尚未经部门负责人审核，不能答复")
    if code == "close":
        if case.result_approved_at is None:
            return _("报结尚未经部门负责人审核，不能办结")
        if case.status == S.result_reported and not case.is_anonymous:
            return _("请先答复信访人再办结")
        if case.needs_callback_before_closing and not _has_done_callback(case):
            return _("集体访和上级交办查处件须先完成回访（复查）才能办结")
        children = _open_children(case)
        if children:
            numbers = "、".join(child.number for child in children[:5])
            return _("拆分出的子事项尚未办结：%(numbers)s", numbers=numbers)
    if code == "request_review":
        if case.review_level >= 2:
            return _("该事项已复核终结，不再受理")
        if case.review_level >= 1:
            return _("该事项已复查，如不服复查意见请登记复核申请")
        if case.replied_at is None:
            return _("尚未书面答复，不能申请复查")
    if code == "request_re_review":
        if case.review_level >= 2:
            return _("该事项已复核终结，不再受理")
        if case.review_level < 1:
            return _("须先经复查才能申请复核")
    if code == "resume_clock" and not any(
        c.stopped_at is None and c.paused_at is not None for c in case.clocks
    ):
        return _("没有暂停中的时限")
    if code == "pause_clock" and not any(c.is_running for c in case.clocks):
        return _("没有正在计时的时限")
    if code == "decide_extension" and not any(
        c.pending_extension and c.stopped_at is None for c in case.clocks
    ):
        return _("没有待审批的延期申请")
    if code == "request_extension":
        if any(c.pending_extension and c.stopped_at is None for c in case.clocks):
            return _("已有延期申请待审批")
        if not any(c.max_extension and c.stopped_at is None for c in case.clocks):
            return _("没有可以延期的时限")
    if code == "destroy" and _recent_callbacks(case):
        return _(
            "该事项有%(years)s年保存期内的回访记录，不能提前销毁", years=CALLBACK_RETENTION_YEARS
        )
    if code == "merge" and _open_children(case):
        return _("已拆分出子事项的事项不能合并")
    if code == "split" and case.parent_id is not None:
        return _("子事项不能再拆分")
    return None


def _recent_callbacks(case: Case) -> bool:
    limit = utcnow() - timedelta(days=365 * CALLBACK_RETENTION_YEARS + 1)
    return bool(
        db.session.scalar(
            sa.select(sa.func.count(Callback.id)).where(
                Callback.case_id == case.id,
                Callback.is_deleted.is_(False),
                Callback.created_at > limit,
            )
        )
    )


def step_problem(step: Step, case: Case, user) -> tuple[type, str] | None:
    """Why ``user`` may not take ``step`` on ``case`` now: (error class, message), or None."""
    if user is None or not user.is_authenticated:
        return NotPermitted, _("请先登录")
    if case.is_deleted or not case.can_view(user):
        return NotPermitted, _("该事项不存在或您无权查看")
    if case.status not in step.sources:
        return (
            InvalidTransition,
            _(
                "事项当前状态为“%(status)s”，不能%(step)s",
                status=case.status.title,
                step=step.title,
            ),
        )
    if not any(user.has_permission(name) for name in _permissions(step, case)):
        return NotPermitted, _("您没有“%(step)s”的权限", step=step.title)
    if step.on_case and not works_on_case(user, case):
        return NotPermitted, _("您不是该事项的承办人或承办单位人员，不能%(step)s", step=step.title)
    message = _guard(step, case, user)
    if message:
        return InvalidTransition, message
    return None


def available_steps(case: Case, user) -> list[Step]:
    return [step for step in STEPS.values() if step_problem(step, case, user) is None]


def _begin(code: str, case: Case, by, expected_version: int | None = None) -> Step:
    step = STEPS[code]
    if expected_version is not None and int(expected_version) != case.version:
        raise Conflict(_("该事项刚被其他人办理或修改，您的操作未执行。请查看最新情况后再试。"))
    problem = step_problem(step, case, by)
    if problem is not None:
        error, message = problem
        raise error(message)
    return step


def _finish(
    step: Step, case: Case, by, at: datetime, data: dict | None = None, target=None
) -> None:
    before = case.status
    if target or step.target:
        case.status = target or step.target
    # Always touch the row, so its version moves and a concurrent step on the same case fails.
    case.updated_at = at
    log_event(
        case,
        EventKind(step.code),
        f"Case {case.number}: {step.code} ({before.value} -> {case.status.value})",
        by=by,
        at=at,
        data={"from": before.value, "to": case.status.value, **(data or {})},
    )
    logger.info("case %s %s by user %s", case.id, step.code, by.id)


# --- input checks ----------------------------------------------------------------------------


def _required(value, field: str, label: str) -> str:
    text = (value or "").strip() if isinstance(value, str | type(None)) else value
    if not text:
        raise ValidationFailed(_("请填写%(label)s", label=label), field=field)
    return text


def _future_date(value: date | None, field: str, at: datetime) -> date | None:
    if value is not None and value < to_local(at).date():
        raise ValidationFailed(_("期限不能早于今天"), field=field)
    return value


def _active_unit(unit: Unit | None, field: str = "handling_unit") -> Unit:
    if unit is None:
        raise ValidationFailed(_("请选择承办单位"), field=field)
    if not unit.is_active:
        raise ValidationFailed(_("所选单位已停用"), field=field)
    return unit


def _ensure_may_join(case: Case, person: User, by, field: str) -> None:
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


def _handler_in_unit(handler: User | None, unit: Unit) -> User | None:
    if handler is None:
        return None
    if not handler.is_active:
        raise ValidationFailed(_("所选承办人账号已停用"), field="handler")
    if handler.unit_id != unit.id:
        raise ValidationFailed(_("承办人须是“%(unit)s”的人员", unit=unit.name), field="handler")
    return handler


def _accept_if_needed(case: Case, at: datetime) -> None:
    """Instructing or assigning a matter accepts it, if nobody recorded that yet."""
    if case.accepted_at is None:
        case.accepted_at = at
        stop_clocks(case, {Clock.acceptance}, at=at)
        start_clock(case, Clock.closing, at=at)
        if not case.is_anonymous:
            start_clock(case, Clock.reply, at=at)


def _hand_over(case: Case, unit, handler, supervised, due_on, at, *, restart: bool):
    """Give the case to ``unit``/``handler`` (批示 or 交办) and start its handling clock."""
    _accept_if_needed(case, at)
    case.handling_unit = unit
    case.handler = handler
    case.assigned_at = at
    case.acknowledged_at = None
    case.is_supervised = case.is_supervised or bool(supervised)
    stop_clocks(case, {Clock.handover, Clock.instruction}, at=at)
    return start_clock(case, Clock.handling, at=at, fixed_due_on=due_on, restart=restart)


def _deadline_data(clock) -> dict:
    if clock is None:
        return {}
    return {"clock": clock.kind.value, "due_at": clock.due_at.isoformat()}


# --- intake ----------------------------------------------------------------------------------


def accept(case, *, by, at=None, note=None, expected_version=None):
    at = at or utcnow()
    step = _begin("accept", case, by, expected_version)
    _accept_if_needed(case, at)
    closing = open_clock(case, Clock.closing)
    _finish(step, case, by, at, {"note": note or "", **_deadline_data(closing)})


def not_accept(case, *, by, reason=None, legal_route=None, at=None, expected_version=None):
    at = at or utcnow()
    step = _begin("not_accept", case, by, expected_version)
    reason = _required(reason, "reason", _l("不予受理的理由"))
    legal_route = _required(legal_route, "legal_route", _l("应当通过的法定途径或有权处理的机关"))
    stop_all_clocks(case, at=at)
    case.closed_at = at
    _finish(step, case, by, at, {"reason": reason, "legal_route": legal_route})


def no_longer_accept(case, *, by, reason=None, at=None, expected_version=None):
    at = at or utcnow()
    step = _begin("no_longer_accept", case, by, expected_version)
    reason = _required(reason, "reason", _l("不再受理的理由"))
    stop_all_clocks(case, at=at)
    case.closed_at = at
    _finish(step, case, by, at, {"reason": reason})


def keep(
    case,
    *,
    by,
    region=None,
    year=None,
    related_number=None,
    note=None,
    at=None,
    expected_version=None,
):
    at = at or utcnow()
    step = _begin("keep", case, by, expected_version)
    region = _required(region, "region", _l("存信地区"))
    this_year = to_local(at).year
    if year is None or not (2000 <= int(year) <= this_year):
        raise ValidationFailed(_("存信年份应在2000到%(year)s之间", year=this_year), field="year")
    related = None
    if related_number:
        related = db.session.scalar(
            sa.select(Case).where(Case.number == related_number.strip(), Case.id != case.id)
        )
        if related is None or not related.can_view(by):
            raise ValidationFailed(_("找不到所关联的事项编号"), field="related_number")
    case.kept_region = region
    case.kept_year = int(year)
    stop_all_clocks(case, at=at)
    _finish(
        step,
        case,
        by,
        at,
        {
            "region": region,
            "year": int(year),
            "related": related.number if related else None,
            "note": note or "",
        },
    )


def answer_on_spot(case, *, by, answer=None, at=None, expected_version=None):
    at = at or utcnow()
    step = _begin("answer_on_spot", case, by, expected_version)
    answer = _required(answer, "answer", _l("答复内容"))
    stop_all_clocks(case, at=at)
    case.accepted_at = case.accepted_at or at
    case.closed_at = at
    if not case.is_anonymous:
        case.replied_at = at
        case.reply_method = ReplyMethod.on_site
    _finish(step, case, by, at, {"answer": answer})


# --- leadership ------------------------------------------------------------------------------


def propose(case, *, by, proposal=None, at=None, expected_version=None):
    at = at or utcnow()
    step = _begin("propose", case, by, expected_version)
    proposal = _required(proposal, "proposal", _l("拟办意见"))
    _finish(step, case, by, at, {"proposal": proposal})


def send_for_reading(case, *, by, leader=None, note=None, at=None, expected_version=None):
    at = at or utcnow()
    step = _begin("send_for_reading", case, by, expected_version)
    if leader is not None and not leader.has_permission("workflow.instruct"):
        raise ValidationFailed(_("所选人员没有批示权限"), field="leader")
    # T11: the leader signs by the 3rd working day after *receipt*, not after sending.
    clock = start_clock(case, Clock.instruction, at=case.received_at)
    if leader is not None:
        notify([leader], case, f"{case.number}「{case.subject[:40]}」送您阅批", at=at)
    _finish(
        step,
        case,
        by,
        at,
        {"leader": str(leader) if leader else None, "note": note or "", **_deadline_data(clock)},
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
    step = _begin("instruct", case, by, expected_version)
    instruction = _required(instruction, "instruction", _l("批示内容"))
    unit = _active_unit(handling_unit)
    handler = _handler_in_unit(handler, unit)
    if handler is not None:
        _ensure_may_join(case, handler, by, "handler")
    _future_date(due_on, "due_on", at)
    case.instruction = instruction
    case.instructed_at = at
    case.instructed_by_id = by.id
    clock = _hand_over(case, unit, handler, supervised, due_on, at, restart=True)
    if handler is not None:
        notify([handler], case, f"{case.number} 已交您办理：{instruction[:60]}", at=at)
    _finish(
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
            **_deadline_data(clock),
        },
    )


# --- assignment ------------------------------------------------------------------------------


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
    step = _begin("assign", case, by, expected_version)
    unit = _active_unit(handling_unit)
    handler = _handler_in_unit(handler, unit)
    if handler is not None:
        _ensure_may_join(case, handler, by, "handler")
    _future_date(due_on, "due_on", at)
    reassigned = case.handling_unit_id is not None and case.handling_unit_id != unit.id
    clock = _hand_over(case, unit, handler, supervised, due_on, at, restart=case.status in INTAKE)
    if handler is not None:
        notify([handler], case, f"{case.number}「{case.subject[:40]}」已交您办理", at=at)
    _finish(
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
            **_deadline_data(clock),
        },
    )


def acknowledge(case, *, by, at=None, expected_version=None):
    at = at or utcnow()
    step = _begin("acknowledge", case, by, expected_version)
    if case.handler_id is None and by.unit_id == case.handling_unit_id:
        case.handler = by
    case.acknowledged_at = at
    handover_hours = (
        round((at - case.assigned_at).total_seconds() / 3600, 1) if case.assigned_at else None
    )
    _finish(step, case, by, at, {"hours_after_assignment": handover_hours})


def add_assistant(case, *, by, assistant=None, note=None, at=None, expected_version=None):
    at = at or utcnow()
    step = _begin("add_assistant", case, by, expected_version)
    if assistant is None:
        raise ValidationFailed(_("请选择协办人"), field="assistant")
    if not assistant.is_active:
        raise ValidationFailed(_("所选协办人账号已停用"), field="assistant")
    if assistant.id == case.handler_id or assistant in case.assistants:
        raise ValidationFailed(_("该人员已在承办此事项"), field="assistant")
    _ensure_may_join(case, assistant, by, "assistant")
    case.assistants.append(assistant)
    notify([assistant], case, f"{case.number} 请您协助办理", at=at)
    _finish(
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
    step = _begin("transfer", case, by, expected_version)
    if target_unit is None:
        raise ValidationFailed(_("请选择转送的机关或单位"), field="target_unit")
    reason = _required(reason, "reason", _l("转办理由"))
    if petitioner_informed and not (informed_how or "").strip():
        raise ValidationFailed(_("已告知信访人的，请填写告知方式"), field="informed_how")
    stop_all_clocks(case, at=at)
    case.closed_at = at
    _finish(
        step,
        case,
        by,
        at,
        {
            "target_unit": target_unit.name,
            "reason": reason,
            "petitioner_informed": bool(petitioner_informed),
            "informed_how": informed_how or "",
        },
    )


def return_to_sender(case, *, by, returned_to=None, reason=None, at=None, expected_version=None):
    at = at or utcnow()
    step = _begin("return_to_sender", case, by, expected_version)
    returned_to = _required(returned_to, "returned_to", _l("退回对象（来信人或原批转单位）"))
    reason = _required(reason, "reason", _l("退回理由"))
    handover = open_clock(case, Clock.handover)
    within_limit = handover is None or at <= handover.due_at
    stop_all_clocks(case, at=at)
    case.closed_at = at
    _finish(
        step,
        case,
        by,
        at,
        {"returned_to": returned_to, "reason": reason, "within_limit": within_limit},
    )


# --- handling --------------------------------------------------------------------------------


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
    step = _begin("investigate", case, by, expected_version)
    findings = _required(findings, "findings", _l("调查核实情况"))
    clock = None
    if needs_rectification:
        clock = start_clock(case, Clock.rectification, at=at)
    _finish(
        step,
        case,
        by,
        at,
        {
            "findings": findings,
            "responsible_unit": responsible_unit or "",
            "needs_rectification": bool(needs_rectification),
            **_deadline_data(clock),
        },
    )


def urge(case, *, by, note=None, at=None, expected_version=None):
    at = at or utcnow()
    step = _begin("urge", case, by, expected_version)
    recipients = [case.handler] if case.handler else []
    notify(recipients, case, f"催办：{case.number}「{case.subject[:40]}」{note or ''}", at=at)
    _finish(step, case, by, at, {"note": note or ""})


def interim_report(case, *, by, reason=None, difficulties=None, at=None, expected_version=None):
    at = at or utcnow()
    step = _begin("interim_report", case, by, expected_version)
    reason = _required(reason, "reason", _l("不能按期办结的原因"))
    _finish(step, case, by, at, {"reason": reason, "difficulties": difficulties or ""})


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
    step = _begin("request_extension", case, by, expected_version)
    target = _clock_to_extend(case, clock)
    reason = _required(reason, "reason", _l("延期理由"))
    amount = int(amount or 0)
    check_extension(target, amount)
    target.pending_extension = amount
    target.pending_reason = reason
    target.pending_by_id = by.id
    _finish(
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
    step = _begin("decide_extension", case, by, expected_version)
    target = next(c for c in case.clocks if c.pending_extension and c.stopped_at is None)
    requested = target.pending_extension
    granted = int(amount) if amount else requested
    old_due = target.due_at
    if approved:
        extend(target, granted)
    target.pending_extension = None
    target.pending_reason = None
    target.pending_by_id = None
    _finish(
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
    step = _begin("pause_clock", case, by, expected_version)
    reason = _required(reason, "reason", _l("暂停计时的原因（如听证、等待信访人补充材料）"))
    paused = [c for c in case.clocks if c.is_running]
    for clock in paused:
        pause(clock, at=at)
    _finish(step, case, by, at, {"reason": reason, "clocks": [c.kind.value for c in paused]})


def resume_clock(case, *, by, note=None, at=None, expected_version=None):
    at = at or utcnow()
    step = _begin("resume_clock", case, by, expected_version)
    resumed = [c for c in case.clocks if c.stopped_at is None and c.paused_at is not None]
    for clock in resumed:
        resume(clock, at=at)
    _finish(
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
    step = _begin("report_result", case, by, expected_version)
    facts = _required(facts, "facts", _l("查明的事实"))
    decision = _required(decision, "decision", _l("对每项诉求的处理意见"))
    case.result_reported_at = at
    case.result_approved_at = None
    case.result_approved_by_id = None
    stop_clocks(case, {Clock.handling, Clock.rectification}, at=at)
    _finish(step, case, by, at, {"facts": facts, "decision": decision})


def approve_result(case, *, by, note=None, at=None, expected_version=None):
    at = at or utcnow()
    step = _begin("approve_result", case, by, expected_version)
    case.result_approved_at = at
    case.result_approved_by_id = by.id
    _finish(step, case, by, at, {"note": note or ""})


def send_back(case, *, by, reason=None, at=None, expected_version=None):
    at = at or utcnow()
    step = _begin("send_back", case, by, expected_version)
    reason = _required(reason, "reason", _l("退回重办的理由"))
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
    _finish(step, case, by, at, {"reason": reason, **_deadline_data(clock)})


# --- closing ---------------------------------------------------------------------------------


def reply(case, *, by, method=None, replied_at=None, text=None, at=None, expected_version=None):
    at = at or utcnow()
    step = _begin("reply", case, by, expected_version)
    if method is None:
        raise ValidationFailed(_("请选择答复方式"), field="method")
    text = _required(text, "text", _l("答复内容"))
    replied_at = replied_at or at
    if replied_at > utcnow() + timedelta(minutes=5):
        raise ValidationFailed(_("答复时间不能晚于当前时间"), field="replied_at")
    case.replied_at = replied_at
    case.reply_method = ReplyMethod(method)
    stop_clocks(case, {Clock.reply}, at=replied_at)
    _finish(
        step,
        case,
        by,
        at,
        {"method": case.reply_method.value, "replied_at": replied_at.isoformat(), "text": text},
    )


def close(case, *, by, opinion=None, at=None, expected_version=None):
    at = at or utcnow()
    step = _begin("close", case, by, expected_version)
    opinion = _required(opinion, "opinion", _l("办结意见"))
    case.closed_at = at
    stop_all_clocks(case, at=at)
    clock = start_clock(case, Clock.callback, at=at, restart=True)
    from .callbacks import plan_callback_on_close

    task = plan_callback_on_close(case, clock=clock, by=by, at=at)
    _finish(
        step,
        case,
        by,
        at,
        {
            "opinion": opinion,
            "signed_by": str(by),
            **(_deadline_data(clock) if task is not None else {}),
        },
    )


def _review_window_days() -> int:
    try:
        return int(SystemSetting.get("review_request_days"))
    except (KeyError, ValueError):
        return 30


def request_review(case, *, by, requested_on=None, reason=None, at=None, expected_version=None):
    at = at or utcnow()
    step = _begin("request_review", case, by, expected_version)
    return _request_review(step, case, by, at, requested_on, reason, Clock.review)


def request_re_review(case, *, by, requested_on=None, reason=None, at=None, expected_version=None):
    at = at or utcnow()
    step = _begin("request_re_review", case, by, expected_version)
    return _request_review(step, case, by, at, requested_on, reason, Clock.re_review)


def _request_review(step, case, by, at, requested_on, reason, clock_kind):
    reason = _required(reason, "reason", _l("申请理由"))
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
    _finish(
        step,
        case,
        by,
        at,
        {"requested_on": requested_on.isoformat(), "reason": reason, **_deadline_data(clock)},
    )


def _last_review_answer(case: Case) -> datetime | None:
    from ..cases import CaseEvent

    return db.session.scalar(
        sa.select(sa.func.max(CaseEvent.created_at)).where(
            CaseEvent.case_id == case.id, CaseEvent.kind == EventKind.answer_review
        )
    )


def answer_review(case, *, by, opinion=None, upheld=True, at=None, expected_version=None):
    at = at or utcnow()
    step = _begin("answer_review", case, by, expected_version)
    opinion = _required(opinion, "opinion", _l("复查意见"))
    case.review_level = max(case.review_level or 0, 1)
    stop_clocks(case, {Clock.review}, at=at)
    _finish(step, case, by, at, {"opinion": opinion, "upheld": bool(upheld)})


def answer_re_review(case, *, by, opinion=None, upheld=True, at=None, expected_version=None):
    at = at or utcnow()
    step = _begin("answer_re_review", case, by, expected_version)
    opinion = _required(opinion, "opinion", _l("复核意见"))
    case.review_level = 2
    stop_clocks(case, {Clock.re_review}, at=at)
    _finish(step, case, by, at, {"opinion": opinion, "upheld": bool(upheld), "final": True})


def archive(case, *, by, volume=None, at=None, expected_version=None):
    at = at or utcnow()
    step = _begin("archive", case, by, expected_version)
    case.archived_at = at
    stop_all_clocks(case, at=at)
    _finish(step, case, by, at, {"volume": volume or ""})


def reopen(case, *, by, reason=None, at=None, expected_version=None):
    at = at or utcnow()
    step = _begin("reopen", case, by, expected_version)
    reason = _required(reason, "reason", _l("重新办理的理由"))
    _reopen(case, at)
    # With nobody to work on it yet, it goes back to intake so it can be assigned.
    target = S.in_progress if case.handling_unit_id is not None else S.accepted
    _finish(step, case, by, at, {"reason": reason}, target=target)


def _reopen(case: Case, at: datetime) -> None:
    case.closed_at = None
    case.archived_at = None
    case.result_reported_at = None
    case.result_approved_at = None
    case.result_approved_by_id = None
    stop_clocks(case, {Clock.callback}, at=at)
    start_clock(case, Clock.handling, at=at, restart=True)


def reopen_after_callback(case: Case, at: datetime) -> bool:
    """A callback found the petitioner dissatisfied or the problem still there: work resumes.

    Called by the callback operation, whose event records it; returns whether it reopened.
    """
    if case.status not in (S.closed, S.replied, S.archived, S.result_reported):
        return False
    _reopen(case, at)
    case.status = S.in_progress if case.handling_unit_id is not None else S.accepted
    return True


def destroy(case, *, by, batch=None, at=None, expected_version=None):
    at = at or utcnow()
    step = _begin("destroy", case, by, expected_version)
    _finish(
        step,
        case,
        by,
        at,
        {"batch": batch or "", "region": case.kept_region, "year": case.kept_year},
    )


# --- merge and split -------------------------------------------------------------------------


def merge(case, *, by, into=None, reason=None, at=None, expected_version=None):
    """Fold ``case`` into ``into``: its contacts, files and petitioners move; its number stays
    searchable and leads to ``into``."""
    at = at or utcnow()
    step = _begin("merge", case, by, expected_version)
    if into is None or into.is_deleted or not into.can_view(by):
        raise ValidationFailed(_("找不到要并入的事项"), field="into")
    if into.id == case.id:
        raise ValidationFailed(_("不能并入事项本身"), field="into")
    if into.status not in OPEN_STATUSES:
        raise ValidationFailed(
            _("目标事项状态为“%(status)s”，只能并入办理中的事项", status=into.status.title),
            field="into",
        )
    reason = _required(reason, "reason", _l("合并理由"))
    moved = {}
    for model in (Letter, Visit, Call, Attachment, Callback):
        rows = db.session.scalars(sa.select(model).where(model.case_id == case.id)).all()
        for row in rows:
            row.case_id = into.id
        moved[model.__tablename__] = len(rows)
    if not into.is_anonymous:
        for party in case.petitioners:
            if party not in into.petitioners:
                into.petitioners.append(party)
        into.refresh_petitioner_names()
    contacts = moved["letters"] + moved["visits"] + moved["calls"]
    into.repeat_count = (into.repeat_count or 0) + max(contacts, 1) + (case.repeat_count or 0)
    into.updated_at = at
    case.merged_into = into
    stop_all_clocks(case, at=at)
    case.closed_at = at
    _finish(step, case, by, at, {"into": into.number, "reason": reason, "moved": moved})
    log_event(
        into,
        EventKind.merged_in,
        f"Case {case.number} merged into {into.number}",
        by=by,
        at=at,
        data={"from_case": case.number, "reason": reason, "moved": moved},
    )


def split(case, *, by, units=(), note=None, at=None, expected_version=None):
    """Open one child case per unit; the parent cannot close while a child is open."""
    from .cases import register_case

    at = at or utcnow()
    step = _begin("split", case, by, expected_version)
    units = [unit for unit in units if unit is not None]
    if not units:
        raise ValidationFailed(_("请至少选择一个承办单位"), field="units")
    if len({unit.id for unit in units}) != len(units):
        raise ValidationFailed(_("承办单位不能重复"), field="units")
    for unit in units:
        _active_unit(unit, field="units")
    if not by.has_permission("case.register"):
        raise NotPermitted(_("拆分会新登记子事项，您没有登记权限"))
    children = []
    for unit in units:
        child = Case(
            channel=case.channel,
            category_id=case.category_id,
            priority=case.priority,
            subject=f"{case.subject[:180]}（{unit.name}）",
            content=case.content,
            demands=case.demands,
            received_at=case.received_at,
            is_anonymous=case.is_anonymous,
            is_group=case.is_group,
            head_count=case.head_count,
            is_important=case.is_important,
            is_sensitive=case.is_sensitive,
            parent_id=case.id,
        )
        register_case(child, by=by, petitioners=list(case.petitioners), at=at)
        child.accepted_at = at
        child.instruction = case.instruction
        child.instructed_at = case.instructed_at
        child.instructed_by_id = case.instructed_by_id
        child.handling_unit = unit
        child.assigned_at = at
        child.status = S.assigned
        stop_clocks(child, {Clock.handover, Clock.acceptance}, at=at)
        start_clock(child, Clock.closing, at=at)
        start_clock(child, Clock.handling, at=at)
        children.append(child)
    _finish(
        step,
        case,
        by,
        at,
        {"children": [child.number for child in children], "note": note or ""},
    )
    return children


STEP_FUNCTIONS: dict[str, Callable] = {
    "accept": accept,
    "not_accept": not_accept,
    "no_longer_accept": no_longer_accept,
    "keep": keep,
    "answer_on_spot": answer_on_spot,
    "propose": propose,
    "send_for_reading": send_for_reading,
    "instruct": instruct,
    "assign": assign,
    "acknowledge": acknowledge,
    "add_assistant": add_assistant,
    "transfer": transfer,
    "return_to_sender": return_to_sender,
    "investigate": investigate,
    "urge": urge,
    "interim_report": interim_report,
    "request_extension": request_extension,
    "decide_extension": decide_extension,
    "pause_clock": pause_clock,
    "resume_clock": resume_clock,
    "report_result": report_result,
    "approve_result": approve_result,
    "send_back": send_back,
    "reply": reply,
    "close": close,
    "request_review": request_review,
    "answer_review": answer_review,
    "request_re_review": request_re_review,
    "answer_re_review": answer_re_review,
    "archive": archive,
    "reopen": reopen,
    "destroy": destroy,
    "merge": merge,
    "split": split,
}
assert set(STEP_FUNCTIONS) == set(STEPS), "every step has exactly one function"


def perform(code: str, case: Case, *, by, **inputs):
    """Run step ``code`` on ``case`` (the admin's single entry point)."""
    if code not in STEP_FUNCTIONS:
        raise InvalidTransition(_("没有这个办理步骤"))
    return STEP_FUNCTIONS[code](case, by=by, **inputs)
