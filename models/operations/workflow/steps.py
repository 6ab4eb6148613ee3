"""The step table: which states each step starts from, where it leads and who may take it,
and the checks every step makes before it changes anything (``step_problem``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _

from ... import db
from ...callbacks import Callback
from ...cases import Case, CaseEvent, loaded_collection
from ...enums import CasePriority, CaseStatus, EventKind, OutOfScopePolicy
from ...policies import (
    OPEN_STATUSES,
    awaited_turn,
    can_see_live_case,
    closing_permission,
    may_act_instead,
    may_join_circle,
    reply_permissions,
    sees_all_units,
    works_on_case,
)
from ...settings import SystemSetting
from .. import Conflict, InvalidTransition, NotPermitted
from ..audit import log_event
from ..notifications import tell_petitioners
from ..retention import note_outcome, retention_problem

logger = logging.getLogger(__name__)

S = CaseStatus
INTAKE = frozenset({S.registered, S.accepted})
BEFORE_ASSIGNMENT = frozenset({S.registered, S.accepted, S.awaiting_instruction})
HANDLING = frozenset({S.assigned, S.in_progress})


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
        # Assignment. 自动分派: the routing rules, also re-applied by hand before hand-over.
        _step("routed", INTAKE, None, "workflow.intake", "case.register", secondary=True),
        _step("assign", INTAKE | HANDLING, S.assigned, "workflow.assign"),
        _step("acknowledge", {S.assigned}, S.in_progress, "workflow.handle", on_case=True),
        _step("add_assistant", HANDLING, None, "workflow.approve", "workflow.assign", on_case=True),
        # 不属本单位职责范围: the decision (and its clock), then 转办 or 退回 by the unit's policy.
        _step("out_of_scope", BEFORE_ASSIGNMENT, None, "workflow.intake", "workflow.assign"),
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
            "send_reply",
            OPEN_STATUSES,
            None,
            "workflow.reply",
            "workflow.handle",
            on_case=True,
        ),
        _step(
            "log_contact",
            OPEN_STATUSES,
            None,
            "workflow.handle",
            "workflow.reply",
            "workflow.intake",
            on_case=True,
        ),
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
        _step(
            "destroy",
            {S.kept},
            S.destroyed,
            "workflow.archive",
            "retention.destroy",
            secondary=True,
        ),
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


def _permissions(step: Step, case: Case) -> tuple[str, ...]:
    if step.code == "close":
        return (closing_permission(),)
    if step.code == "reply":
        return reply_permissions()
    return step.permissions


def step_permissions(step: Step, case: Case) -> tuple[str, ...]:
    """The permissions of which a user must hold one to take ``step`` on ``case``."""
    return _permissions(step, case)


def may_attempt(step: Step, case: Case, user) -> bool:
    """Holds one of the step's permissions, or stands in for a usual actor who does not exist
    (see ``policies.awaited_turn``)."""
    return any(user.has_permission(name) for name in _permissions(step, case)) or (
        may_act_instead(user, case, step.code)
    )


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
    children = loaded_collection(case, "children")
    if children is not None:
        return [c for c in children if not c.is_deleted and c.status in OPEN_STATUSES]
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
    callbacks = loaded_collection(case, "active_callbacks")
    if callbacks is not None:
        return any(callback.done_at is not None for callback in callbacks)
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
        if policy == OutOfScopePolicy.via_office and not sees_all_units(user):
            return _("按本单位规定，不属于职责范围的事项须送办公室转交")
    if code == "return_to_sender" and policy == OutOfScopePolicy.transfer:
        return _("按本单位规定，不属于职责范围的事项应转送有权处理的机关并告知信访人")
    if code == "out_of_scope" and case.out_of_scope_at is not None:
        return _("已界定为不属本单位职责范围，请按本单位规定转送或退回")
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
        if not sees_all_units(user) and user.unit_id != case.handling_unit_id:
            return _("只有承办单位的负责人可以审核报结")
    if code == "reply":
        if case.is_anonymous:
            return _("匿名事项不予答复")
        if case.result_approved_at is None:
            return _("报结尚未经部门负责人审核，不能答复")
    if code == "log_contact" and case.is_anonymous:
        return _("匿名事项没有可联系的信访人，不登记联系记录")
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
    if code == "destroy":
        return retention_problem(case)
    if code == "merge" and _open_children(case):
        return _("已拆分出子事项的事项不能合并")
    if code == "split" and case.parent_id is not None:
        return _("子事项不能再拆分")
    return None


def step_problem(step: Step, case: Case, user) -> tuple[type, str] | None:
    """Why ``user`` may not take ``step`` on ``case`` now: (error class, message), or None."""
    if user is None or not user.is_authenticated:
        return NotPermitted, _("请先登录")
    if not can_see_live_case(user, case):
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
    if not may_attempt(step, case, user):
        return NotPermitted, _("您没有“%(step)s”的权限", step=step.title)
    if step.on_case and not works_on_case(user, case):
        return NotPermitted, _("您不是该事项的承办人或承办单位人员，不能%(step)s", step=step.title)
    message = _guard(step, case, user)
    if message:
        return InvalidTransition, message
    return None


def available_steps(case: Case, user) -> list[Step]:
    # A step whose sources exclude the case's state is refused by step_problem anyway; skipping
    # it here spares wording the refusal for most of the ~40 steps on every case page.
    return [
        step
        for step in STEPS.values()
        if case.status in step.sources and step_problem(step, case, user) is None
    ]


#: Steps whose missing button the case page explains (the other steps' buttons come and go
#: with the state and say nothing surprising by their absence).
EXPLAINED_STEPS = ("approve_result", "reply", "close", "request_review", "archive")


def blocked_steps(case: Case, user) -> list[tuple[Step, str]]:
    """Steps the case's state allows and the user may take, held back by a rule of their own:
    (step, the rule's message), for the line under the case page's buttons."""
    turn = awaited_turn(case)
    codes = [*EXPLAINED_STEPS, *sorted(turn.steps if turn else ())]
    blocked = []
    for code in dict.fromkeys(codes):
        step = STEPS[code]
        problem = step_problem(step, case, user)
        if problem is not None and problem[0] is InvalidTransition and case.status in step.sources:
            blocked.append((step, problem[1]))
    return blocked


def begin_step(code: str, case: Case, by, expected_version: int | None = None) -> Step:
    step = STEPS[code]
    if expected_version is not None and int(expected_version) != case.version:
        raise Conflict(_("该事项刚被其他人办理或修改，您的操作未执行。请查看最新情况后再试。"))
    problem = step_problem(step, case, by)
    if problem is not None:
        error, message = problem
        raise error(message)
    return step


def finish_step(
    step: Step,
    case: Case,
    by,
    at: datetime,
    data: dict | None = None,
    target=None,
    before: CaseStatus | None = None,
) -> CaseEvent:
    """``before``: the state the step started from, when the step has already moved it."""
    before = before or case.status
    data = dict(data or {})
    if not any(by.has_permission(name) for name in _permissions(step, case)):
        # begin_step let them in as a stand-in for a usual actor who does not exist.
        data["stood_in"] = True
    if target or step.target:
        case.status = target or step.target
        note_outcome(case, before, at)
    # Always touch the row, so its version moves and a concurrent step on the same case fails.
    case.updated_at = at
    event = log_event(
        case,
        EventKind(step.code),
        f"Case {case.number}: {step.code} ({before.value} -> {case.status.value})",
        by=by,
        at=at,
        data={"from": before.value, "to": case.status.value, **data},
    )
    logger.info("case %s %s by user %s", case.id, step.code, by.id)
    tell_petitioners(case, step.code, data, at)
    return event
