"""No dead ends (a step whose usual actor does not exist is taken by the office or a leader,
and the case page says why the case waits), and typed settings (every system setting is a
choice, a number, a date, a yes/no or text, never a code to type)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from models import AuditEntry, Case, CaseEvent, EscalationRule, SystemSetting, Unit, db
from models.base import to_local, utcnow
from models.enums import CaseStatus, EventKind, OutOfScopePolicy
from models.operations.workflow import STEPS, perform, step_problem
from models.policies import awaiting_me
from models.queries.worklists import awaiting_cases
from models.settings import DEFAULT_SETTINGS, SETTING_SPECS, SettingKind, SettingSpec
from tests.conftest import row_counts as all_row_counts
from tests.conftest import sign_in
from tests.test_model_views_save import fill, read_form

S = CaseStatus


def row_counts() -> dict[str, int]:
    """Rows per table, but for the audit log (a refused request is itself logged)."""
    counts = all_row_counts()
    counts.pop("audit_log")
    return counts


# --- no dead ends --------------------------------------------------------------------------


@pytest.fixture
def office_world(app, government, create_user, create_case):
    """Unit A has a 部门负责人 and a handler; unit B has a handler only; unit C nobody."""
    units = db.session.scalars(
        sa.select(Unit).where(Unit.parent_id.is_not(None)).order_by(Unit.id)
    ).all()[:3]
    unit_a, unit_b, unit_c = units
    people = {
        "office": create_user("office"),
        "registrar": create_user("registrar"),
        "supervisor": create_user("supervisor"),
        "head_a": create_user("dept_head", unit=unit_a),
        "handler_a": create_user("handler", unit=unit_a),
        "handler_b": create_user("handler", unit=unit_b),
    }
    # The administrator holds every permission but is never counted as the usual actor.
    admin = create_user("admin")
    return {
        "units": (unit_a, unit_b, unit_c),
        "people": people,
        "admin": admin,
        "create": create_case,
    }


def _add_leader(world, create_user):
    world["people"]["leader"] = create_user("leader")


def _case(world, status, unit, **fields):
    case = world["create"](by=world["people"]["registrar"])
    now = utcnow()
    case.status = status
    case.handling_unit = unit
    case.accepted_at = now - timedelta(hours=3)
    case.assigned_at = now - timedelta(hours=2)
    if status in (S.result_reported, S.replied):
        case.result_reported_at = now - timedelta(hours=1)
    for key, value in fields.items():
        setattr(case, key, value)
    db.session.commit()
    return case


def _who_may(world, step, case):
    return {
        name
        for name, user in world["people"].items()
        if step_problem(STEPS[step], case, user) is None
    }


def _who_lists(world, case):
    listed = set()
    for name, user in world["people"].items():
        in_sql = case.id in {c.id for c in awaiting_cases(user, limit=1000)}
        assert in_sql == awaiting_me(user, case), name  # the rule's two halves agree
        if in_sql:
            listed.add(name)
    return listed


def _page(app, world, case, viewer="office"):
    client = sign_in(app.test_client(), world["people"][viewer])
    response = client.get(f"/admin/case/details/?id={case.id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


# (name, state, unit index, extra fields, step, leader exists,
#  who may take the step, whose 待我处理 list shows it, words on the page)
MATRIX = [
    (
        "approve with a head",
        S.result_reported,
        0,
        {},
        "approve_result",
        True,
        {"head_a"},
        {"head_a"},
        "等待部门负责人审核（测试dept_head）",
    ),
    (
        "approve without a head",
        S.result_reported,
        1,
        {},
        "approve_result",
        True,
        {"office", "leader"},
        {"office", "leader"},
        "等待部门负责人审核；承办单位没有在职的部门负责人，信访办/办公室或领导可代为审核",
    ),
    (
        "approve without a unit",
        S.result_reported,
        None,
        {},
        "approve_result",
        True,
        {"office", "leader"},
        {"office", "leader"},
        "尚未确定承办单位",
    ),
    (
        "signing in a unit with a handler",
        S.assigned,
        1,
        {},
        "acknowledge",
        True,
        {"handler_b"},
        {"handler_b"},
        "等待承办人签收（测试handler）",
    ),
    (
        "signing in a unit without staff",
        S.assigned,
        2,
        {},
        "assign",
        True,
        {"office", "leader"},
        {"office", "leader"},
        "承办单位没有在职的承办人，信访办/办公室或领导可改派其他单位或人员办理",
    ),
    (
        "instruct with a leader",
        S.awaiting_instruction,
        None,
        {},
        "instruct",
        True,
        {"leader"},
        {"leader"},
        "等待领导批示（测试leader）",
    ),
    (
        "instruct without a leader",
        S.awaiting_instruction,
        None,
        {},
        "instruct",
        False,
        {"office"},
        {"office"},
        "等待领导批示；系统中没有在职的领导，信访办/办公室或领导可代为批示",
    ),
    (
        "sign-off with a leader",
        S.replied,
        0,
        {"result_approved_at": utcnow(), "replied_at": utcnow()},
        "close",
        True,
        {"leader"},
        {"leader"},
        "等待领导签批办结（测试leader）",
    ),
    (
        "sign-off without a leader",
        S.replied,
        0,
        {"result_approved_at": utcnow(), "replied_at": utcnow()},
        "close",
        False,
        {"office"},
        {"office"},
        "系统中没有在职的领导，信访办/办公室或领导可代为签批办结",
    ),
]


@pytest.mark.parametrize(
    ("name", "state", "unit", "fields", "step", "leader", "may", "listed", "words"),
    MATRIX,
    ids=[m[0] for m in MATRIX],
)
def test_who_may_act_and_who_is_asked(
    app, office_world, create_user, name, state, unit, fields, step, leader, may, listed, words
):
    if leader:
        _add_leader(office_world, create_user)
    handling_unit = None if unit is None else office_world["units"][unit]
    case = _case(office_world, state, handling_unit, **fields)
    assert _who_may(office_world, step, case) == may
    assert _who_lists(office_world, case) == listed
    assert words in _page(app, office_world, case)


def test_the_handler_left(app, office_world, create_user):
    _add_leader(office_world, create_user)
    unit_a = office_world["units"][0]
    handler = office_world["people"]["handler_a"]
    case = _case(office_world, S.in_progress, unit_a, handler=handler)
    assert _who_lists(office_world, case) == {"handler_a"}
    assert "等待承办人办理（测试handler）" in _page(app, office_world, case)

    handler.is_active_user = False
    db.session.commit()
    del office_world["people"]["handler_a"]
    assert _who_lists(office_world, case) == {"office", "leader"}
    assert _who_may(office_world, "assign", case) == {"office", "leader"}
    assert "承办人测试handler已停用，信访办/办公室或领导可改派其他单位或人员办理" in _page(
        app, office_world, case
    )


def test_a_unit_without_a_head_is_approved_by_the_office(app, office_world):
    office = office_world["people"]["office"]
    case = _case(office_world, S.result_reported, office_world["units"][1])
    client = sign_in(app.test_client(), office)
    url = f"/admin/workflow/approve_result/{case.id}/"
    worklist = client.get("/admin/worklist/?tab=awaiting").get_data(as_text=True)
    assert case.number in worklist and "代为办理" in worklist
    form_page = client.get(url)
    assert form_page.status_code == 200
    assert "您在代为办理：承办单位没有在职的部门负责人。" in form_page.get_data(as_text=True)
    response = client.post(url, data={"expected_version": case.version})
    assert response.status_code == 302
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert case.result_approved_at is not None
    event = db.session.scalar(
        sa.select(CaseEvent).where(
            CaseEvent.case_id == case.id, CaseEvent.kind == EventKind.approve_result
        )
    )
    assert event.data["stood_in"] is True
    assert "代为办理（无人担任该职责）：是" in _page(app, office_world, case)


def test_with_a_head_the_office_still_may_not_approve(app, office_world):
    case = _case(office_world, S.result_reported, office_world["units"][0])
    office = office_world["people"]["office"]
    client = sign_in(app.test_client(), office)
    before = row_counts()
    assert client.get(f"/admin/workflow/approve_result/{case.id}/").status_code == 403
    assert client.post(f"/admin/workflow/approve_result/{case.id}/").status_code == 403
    assert case.number not in client.get("/admin/worklist/?tab=awaiting").get_data(as_text=True)
    assert row_counts() == before
    # The head approves as always, and is not recorded as a stand-in.
    perform("approve_result", case, by=office_world["people"]["head_a"])
    db.session.commit()
    event = db.session.scalar(
        sa.select(CaseEvent).where(
            CaseEvent.case_id == case.id, CaseEvent.kind == EventKind.approve_result
        )
    )
    assert "stood_in" not in event.data


def test_an_inactive_head_does_not_count(office_world):
    head = office_world["people"].pop("head_a")
    head.is_active_user = False
    db.session.commit()
    case = _case(office_world, S.result_reported, office_world["units"][0])
    assert _who_may(office_world, "approve_result", case) == {"office"}


def test_a_missing_button_says_why(app, office_world):
    db.session.get(SystemSetting, "close_requires_sign_off").value = "0"
    db.session.commit()
    case = _case(
        office_world, S.result_reported, office_world["units"][0], result_approved_at=utcnow()
    )
    page = _page(app, office_world, case)
    assert "暂不能办结：请先答复信访人再办结" in page
    assert "等待信访办/办公室答复" in page


def test_an_accepted_case_waits_for_the_office_to_hand_it_over(app, office_world):
    """After acceptance the page names the hand-over (not acceptance again), and the office's
    work list holds the case."""
    case = _case(office_world, S.accepted, None, assigned_at=None)
    page = _page(app, office_world, case)
    assert "等待信访办/办公室交办或送阅" in page and "受理；" not in page
    assert "office" in _who_lists(office_world, case)


# --- typed settings --------------------------------------------------------------------------


@pytest.fixture
def admin_client(app, government, create_user):
    return sign_in(app.test_client(), create_user("admin"))


def _edit(client, key, value):
    url = f"/admin/setting/edit/?id={key}"
    form = read_form(client, url)
    return client.post(url, data=fill(form, {"value": value}))


def _stored(key):
    db.session.expire_all()
    return db.session.get(SystemSetting, key).value


VALID = [
    ("leader_reading", "important"),
    ("reply_by", "department"),
    ("out_of_scope_policy", "via_office"),
    ("close_requires_sign_off", "0"),
    ("roll_deadline_to_working_day", "0"),
    ("attachment_max_mb", "60"),
    ("due_soon_working_days", "0"),
    ("organisation_name", "示范区物业服务中心"),
    ("case_number_pattern", "WY{year}{seq:05d}"),
]


def _setting_audits(key) -> int:
    return db.session.scalar(
        sa.select(sa.func.count(AuditEntry.id)).where(
            AuditEntry.target_type == "system_settings",
            AuditEntry.target_id == key,
            AuditEntry.action == "update",
        )
    )


@pytest.mark.parametrize(("key", "value"), VALID)
def test_a_valid_setting_saves_exactly_that_value(admin_client, key, value):
    audits = _setting_audits(key)
    others = {
        row.key: row.value for row in db.session.scalars(sa.select(SystemSetting)) if row.key != key
    }
    response = _edit(admin_client, key, value)
    assert response.status_code == 302
    assert _stored(key) == value
    assert _setting_audits(key) == audits + 1
    assert {
        row.key: row.value for row in db.session.scalars(sa.select(SystemSetting)) if row.key != key
    } == others


INVALID = [
    ("leader_reading", "important_only", "请从列表中选择：全部事项 / 仅重要、紧急事项"),
    ("close_requires_sign_off", "yes", "请从列表中选择：是 / 否"),
    ("attachment_max_mb", "0", "请填写 1 到 60 之间的整数"),
    ("attachment_max_mb", "61", "请填写 1 到 60 之间的整数"),
    ("attachment_max_mb", "二十", "请填写 1 到 60 之间的整数"),
    ("organisation_name", "   ", "请填写此项"),
    ("organisation_name", "名" * 61, "不能超过60个字"),
    ("case_number_pattern", "WY{year}", "登记编号格式必须包含 {seq}"),
]


@pytest.mark.parametrize(("key", "value", "message"), INVALID)
def test_an_invalid_setting_is_refused_and_nothing_changes(admin_client, key, value, message):
    before_value = _stored(key)
    before = row_counts()
    response = _edit(admin_client, key, value)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert _stored(key) == before_value
    assert row_counts() == before


def test_the_form_offers_titles_bounds_and_a_preview(admin_client):
    page = admin_client.get("/admin/setting/edit/?id=leader_reading").get_data(as_text=True)
    assert re.search(r'<select[^>]*name="value"', page)
    assert '<option selected value="all">全部事项</option>' in page
    assert '<option value="important">仅重要、紧急事项</option>' in page
    assert "哪些事项交办前须经领导批示" in page

    page = admin_client.get("/admin/setting/edit/?id=attachment_max_mb").get_data(as_text=True)
    assert 'type="number"' in page and 'min="1"' in page and 'max="60"' in page

    page = admin_client.get("/admin/setting/edit/?id=case_number_pattern").get_data(as_text=True)
    year = to_local(utcnow()).year
    assert f"下一个编号将是：XF{year}-000001" in page

    listing = admin_client.get("/admin/setting/").get_data(as_text=True)
    assert "全部事项" in listing and "领导阅批范围" in listing
    assert "all 全部事项" not in listing


def test_a_date_setting(app, admin_client, monkeypatch):
    monkeypatch.setitem(DEFAULT_SETTINGS, "statistics_start", ("2026-01-01", "统计起始日期"))
    monkeypatch.setitem(
        SETTING_SPECS, "statistics_start", SettingSpec(SettingKind.date, "统计从此日起")
    )
    db.session.add(SystemSetting(key="statistics_start", value="2026-01-01"))
    db.session.commit()
    page = admin_client.get("/admin/setting/edit/?id=statistics_start").get_data(as_text=True)
    assert 'type="date"' in page
    assert _edit(admin_client, "statistics_start", "2026-07-01").status_code == 302
    assert _stored("statistics_start") == "2026-07-01"
    response = _edit(admin_client, "statistics_start", "2026-13-01")
    assert response.status_code == 200
    assert "请填写有效日期" in response.get_data(as_text=True)
    assert _stored("statistics_start") == "2026-07-01"


def test_only_settings_managers_may_change_settings(app, government, create_user):
    client = sign_in(app.test_client(), create_user("office"))
    before = row_counts()
    assert client.get("/admin/setting/edit/?id=leader_reading").status_code == 403
    response = client.post("/admin/setting/edit/?id=leader_reading", data={"value": "important"})
    assert response.status_code == 403
    assert row_counts() == before
    assert _stored("leader_reading") == "all"


def test_the_service_refuses_without_permission(app, government, create_user):
    from models.operations import NotPermitted
    from models.operations.settings import update_setting

    with pytest.raises(NotPermitted):
        update_setting("leader_reading", "important", by=create_user("office"))


# --- other places that asked for a code ---------------------------------------------------------


def test_escalation_rules_pick_a_role_from_a_list(admin_client):
    page = admin_client.get("/admin/escalationrule/new/").get_data(as_text=True)
    assert '<option value="dept_head">部门负责人</option>' in page
    assert '<option value="leader">领导</option>' in page
    form = read_form(admin_client, "/admin/escalationrule/new/")
    data = {
        "name": "超期一日提醒领导",
        "level": 2,
        "trigger": "past_due",
        "threshold": 1,
        "recipient_role": "leader",
        "is_active": "y",
    }
    assert admin_client.post("/admin/escalationrule/new/", data=fill(form, data)).status_code == 302
    rule = db.session.scalar(sa.select(EscalationRule).where(EscalationRule.name == data["name"]))
    assert rule.recipient_role == "leader"
    assert "领导" in admin_client.get("/admin/escalationrule/").get_data(as_text=True)

    before = row_counts()
    data["name"] = "无此角色"
    data["recipient_role"] = "boss"
    response = admin_client.post("/admin/escalationrule/new/", data=fill(form, data))
    assert response.status_code == 200
    assert "请从列表中选择提醒角色" in response.get_data(as_text=True)
    assert row_counts() == before


def test_a_unit_chooses_its_out_of_scope_policy_from_titles(admin_client):
    unit = db.session.scalar(sa.select(Unit).where(Unit.parent_id.is_not(None)).limit(1))
    url = f"/admin/unit/edit/?id={unit.id}"
    page = admin_client.get(url).get_data(as_text=True)
    assert "15日内说明理由退回，不自行转送" in page
    form = read_form(admin_client, url)
    assert (
        admin_client.post(url, data=fill(form, {"out_of_scope_policy": "return_only"})).status_code
        == 302
    )
    db.session.expire_all()
    assert db.session.get(Unit, unit.id).out_of_scope_policy == OutOfScopePolicy.return_only
    form = read_form(admin_client, url)
    assert admin_client.post(url, data=fill(form, {"out_of_scope_policy": ""})).status_code == 302
    db.session.expire_all()
    assert db.session.get(Unit, unit.id).out_of_scope_policy is None
    before = row_counts()
    response = admin_client.post(url, data=fill(form, {"out_of_scope_policy": "anything"}))
    assert response.status_code == 200
    assert "不是有效的选择" in response.get_data(as_text=True)
    assert row_counts() == before
