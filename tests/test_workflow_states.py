"""Every workflow step from every state: allowed steps move the case and write exactly one event;
every other combination is refused and changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from models import Case, CaseEvent, Unit, db
from models.base import utcnow
from models.enums import CaseStatus, Clock, EventKind, ReplyMethod, UnitKind
from models.maintenance.presets import load_deadline_preset
from models.operations import WorkflowError
from models.operations.deadlines import start_clock
from models.operations.workflow import STEPS, perform
from models.users import User
from tests.conftest import BACKENDS, fresh_database, row_counts

SAMPLE_INPUTS = {
    "accept": {},
    "not_accept": {"reason": "属于诉讼事项", "legal_route": "向人民法院提起诉讼"},
    "no_longer_accept": {"reason": "已复核终结"},
    "keep": {"region": "城关镇", "year": 2026},
    "answer_on_spot": {"answer": "已当场解释政策"},
    "propose": {"proposal": "建议交住建局办理"},
    "send_for_reading": {},
    "instruct": {"instruction": "请住建局3日内核实处理"},
    "routed": {},
    "assign": {},
    "acknowledge": {},
    "add_assistant": {},
    "transfer": {"reason": "不属本机关职责", "petitioner_informed": True, "informed_how": "电话"},
    "return_to_sender": {"returned_to": "市信访局", "reason": "不属本站职责"},
    "out_of_scope": {"reason": "属法院执行职责"},
    "investigate": {"findings": "经现场核实，情况属实"},
    "urge": {"note": "请抓紧办理"},
    "interim_report": {"reason": "需等待现场勘验"},
    "request_extension": {"amount": 2, "reason": "情况复杂"},
    "decide_extension": {"approved": True},
    "pause_clock": {"reason": "等待信访人补充材料"},
    "resume_clock": {},
    "report_result": {"facts": "道路确有破损", "decision": "诉求合理，已安排维修"},
    "approve_result": {},
    "send_back": {"reason": "调查不充分"},
    "send_reply": {"kind": "interim", "method": ReplyMethod.phone, "text": "正在检测，下周答复"},
    "log_contact": {"method": "phone", "summary": "已电话告知受理情况", "person": "张三"},
    "reply": {"method": ReplyMethod.letter, "text": "您反映的问题已处理"},
    "close": {"opinion": "同意办结"},
    "request_review": {"reason": "对处理意见不服"},
    "answer_review": {"opinion": "维持原处理意见"},
    "request_re_review": {"reason": "对复查意见不服"},
    "answer_re_review": {"opinion": "维持复查意见"},
    "archive": {"volume": "2026-01"},
    "reopen": {"reason": "信访人补充了新证据"},
    "destroy": {"batch": "2026年第一批"},
    "merge": {"reason": "同一事项重复登记"},
    "split": {},
}


@pytest.fixture
def setting(app):
    load_deadline_preset("government")
    unit = Unit(name="县住房和城乡建设局", kind=UnitKind.department)
    other = Unit(name="县自然资源局", kind=UnitKind.department)
    db.session.add_all([unit, other])
    db.session.commit()
    return unit, other


def prepare(step: str, case: Case, user, unit, other, merge_target) -> dict:
    """Put the case where only its *state* decides whether ``step`` may run."""
    now = utcnow()
    case.handling_unit = unit
    case.handler = user
    case.instructed_at = now - timedelta(hours=1)
    case.accepted_at = now - timedelta(hours=1)
    case.assigned_at = now - timedelta(hours=1)
    case.result_reported_at = now - timedelta(minutes=30)
    case.result_approved_at = now - timedelta(minutes=20)
    case.replied_at = now - timedelta(minutes=10)
    start_clock(case, Clock.closing, at=now - timedelta(days=1))
    inputs = dict(SAMPLE_INPUTS[step])
    if step == "acknowledge":
        case.acknowledged_at = None
    if step == "approve_result":
        case.result_approved_at = None
    if step == "close":
        # Closing straight from "result reported" is the anonymous path (no reply owed).
        case.is_anonymous = case.status == CaseStatus.result_reported
    if step == "request_re_review":
        case.review_level = 1
    if step == "resume_clock":
        for clock in case.clocks:
            clock.paused_at = now - timedelta(hours=1)
    if step == "decide_extension":
        next(clock for clock in case.clocks if clock.max_extension).pending_extension = 5
    if step in ("assign", "instruct"):
        inputs["handling_unit"] = other
    if step == "add_assistant":
        from models.operations.users import create_user

        inputs["assistant"] = create_user(
            username=f"assist{case.id}",
            full_name="协办人",
            password="secret123",
            role_codes=["handler"],
        )
    if step == "return_to_sender":
        from models.enums import OutOfScopePolicy

        unit.out_of_scope_policy = OutOfScopePolicy.return_only
    if step == "transfer":
        inputs["target_unit"] = other
    if step == "merge":
        inputs["into"] = merge_target
    if step == "split":
        inputs["units"] = [unit, other]
    if step == "request_extension":
        inputs["clock"] = "closing"
    db.session.flush()
    return inputs


@dataclass
class Walk:
    """One case per state (and a merge target), built once per backend for all steps."""

    unit_id: int
    other_id: int
    user_id: int
    case_ids: dict
    merge_target_id: int


@pytest.fixture(scope="module", params=BACKENDS)
def walk(request, tmp_path_factory):
    from models.operations.users import create_user

    with fresh_database(request.param, tmp_path_factory):
        load_deadline_preset("government")
        unit = Unit(name="县住房和城乡建设局", kind=UnitKind.department)
        other = Unit(name="县自然资源局", kind=UnitKind.department)
        db.session.add_all([unit, other])
        user = create_user(
            username="walker", full_name="测试admin", password="secret123", role_codes=["admin"]
        )
        user.unit = unit
        db.session.flush()
        cases = {state: _registered(user) for state in CaseStatus}
        merge_target = _registered(user, subject="另一件事项")
        db.session.commit()
        yield Walk(
            unit.id,
            other.id,
            user.id,
            {state: case.id for state, case in cases.items()},
            merge_target.id,
        )


def _registered(user, **fields) -> Case:
    from models.enums import CaseChannel
    from models.operations.cases import register_case

    values = {
        "channel": CaseChannel.letter,
        "subject": "小区道路破损",
        "content": "小区门口道路破损，雨天积水。",
        "received_at": utcnow() - timedelta(hours=2),
        **fields,
    }
    return register_case(Case(**values), by=user, petitioners=())


@pytest.mark.parametrize("step", list(STEPS))
def test_every_step_from_every_state(walk, step):
    """Each step walks all states, each inside a savepoint that is rolled back, on cases built
    once per backend, so the 18 × 34 combinations cost one set-up instead of 612."""
    unit, other = db.session.get(Unit, walk.unit_id), db.session.get(Unit, walk.other_id)
    user = db.session.get(User, walk.user_id)
    merge_target = db.session.get(Case, walk.merge_target_id)
    definition = STEPS[step]
    try:
        for state, case_id in walk.case_ids.items():
            case = db.session.get(Case, case_id)
            savepoint = db.session.begin_nested()
            try:
                case.status = state
                inputs = prepare(step, case, user, unit, other, merge_target)
                _check_step(step, definition, state, case, user, inputs)
            finally:
                if savepoint.is_active:
                    savepoint.rollback()
                db.session.expire_all()
    finally:
        # Nothing a step did may reach the next step's cases.
        db.session.rollback()


def _check_step(step, definition, state, case, user, inputs):
    events_before = _events(case)
    counts_before = row_counts()
    label = f"{step} from {state.value}"
    if state in definition.sources:
        perform(step, case, by=user, **inputs)
        db.session.flush()
        db.session.expire_all()
        case = db.session.get(Case, case.id)
        expected = definition.target or state
        if step == "reopen":
            expected = CaseStatus.in_progress
        assert case.status == expected, label
        new_events = _events(case)[len(events_before) :]
        assert [event.kind for event in new_events] == [EventKind(step)], label
    else:
        nested = db.session.begin_nested()
        try:
            perform(step, case, by=user, **inputs)
        except WorkflowError:
            pass
        else:
            pytest.fail(f"{label} was allowed")
        nested.rollback()
        db.session.expire_all()
        assert db.session.get(Case, case.id).status == state, label
        assert row_counts() == counts_before, label
        assert len(_events(case)) == len(events_before), label


def _events(case):
    return db.session.scalars(
        sa.select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
    ).all()


def test_refused_for_a_user_without_the_permission(app, setting, create_user, create_case):
    unit, _ = setting
    registrar = create_user("registrar", unit=unit)
    case = create_case(by=registrar)
    before = row_counts()
    with pytest.raises(WorkflowError, match="权限"):
        perform("instruct", case, by=registrar, instruction="x", handling_unit=unit)
    db.session.rollback()
    assert row_counts() == before


def test_department_user_cannot_act_on_another_units_case(app, setting, create_user, create_case):
    unit, other = setting
    office = create_user("office")
    handler = create_user("handler", unit=other)
    case = create_case(by=office)
    case.status = CaseStatus.assigned
    case.handling_unit = unit
    db.session.commit()
    with pytest.raises(WorkflowError):
        perform("acknowledge", case, by=handler)
    db.session.rollback()
    assert db.session.get(Case, case.id).status == CaseStatus.assigned


def test_a_stale_form_is_refused_as_a_conflict(app, setting, create_user, create_case):
    unit, _ = setting
    user = create_user("admin", unit=unit)
    case = create_case(by=user)
    seen = case.version
    perform("accept", case, by=user, expected_version=seen)
    db.session.commit()
    before = row_counts()
    with pytest.raises(WorkflowError, match="其他人"):
        perform("keep", case, by=user, region="城关镇", year=2026, expected_version=seen)
    db.session.rollback()
    assert row_counts() == before
    assert db.session.get(Case, case.id).status == CaseStatus.accepted


def test_instruction_deadline_in_the_past_is_refused(app, setting, create_user, create_case):
    unit, _ = setting
    leader = create_user("admin", unit=unit)
    case = create_case(by=leader)
    before = row_counts()
    with pytest.raises(WorkflowError, match="不能早于今天"):
        perform(
            "instruct",
            case,
            by=leader,
            instruction="请办理",
            handling_unit=unit,
            due_on=date.today() - timedelta(days=3),
        )
    db.session.rollback()
    assert row_counts() == before
