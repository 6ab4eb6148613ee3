"""Routing rules (分派规则): S9 (product quality → 质保部, usage consultation → 销售部) and S14
(inpatient → 医务科 by the patient-type field, outpatient → 门诊部), the first matching rule,
suggesting versus handing over, the hand-over forms' preselection and override, the settings
screen and who may use it, bad input, and the configuration export / import."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from models import (
    Case,
    CaseClock,
    CaseEvent,
    Category,
    CustomField,
    DeadlineRule,
    RoutingRule,
    SystemSetting,
    Unit,
    db,
)
from models.base import utcnow
from models.enums import (
    CaseChannel,
    CasePriority,
    CaseStatus,
    CategoryKind,
    Clock,
    CustomFieldType,
    EventKind,
    RoutingAction,
    RoutingMoment,
    TimeUnit,
    UnitKind,
)
from models.operations import InvalidTransition, ValidationFailed
from models.operations.workflow import perform
from models.routing import (
    apply_routing_rules,
    custom_value_text,
    export_routing_rules,
)

from .conftest import row_counts
from .test_model_views_save import _errors, fill, local_minute, read_form

ROLES = ("admin", "registrar", "handler", "dept_head", "office", "leader", "supervisor")


@pytest.fixture
def org(app, create_user):
    """An enterprise and a hospital side by side: their units, categories and staff."""
    units = {}
    for order, name in enumerate(("客服部", "质保部", "销售部", "医务科", "门诊部"), start=1):
        units[name] = Unit(name=name, kind=UnitKind.department, sort_order=order)
    db.session.add_all(units.values())
    quality = Category(name="产品质量投诉", code="Q1", kind=CategoryKind.complaint)
    discoloured = Category(name="片剂变色", code="Q101", kind=CategoryKind.complaint)
    discoloured.parent = quality
    usage = Category(name="产品使用咨询", code="C1", kind=CategoryKind.consultation)
    medical = Category(name="医疗投诉", code="H1", kind=CategoryKind.complaint)
    db.session.add_all([quality, discoloured, usage, medical])
    db.session.commit()
    return {
        "units": units,
        "quality": quality,
        "discoloured": discoloured,
        "usage": usage,
        "medical": medical,
        "admin": create_user("admin"),
        "registrar": create_user("registrar"),
        "office": create_user("office"),
        "leader": create_user("leader"),
        "qa_head": create_user("dept_head", unit=units["质保部"]),
        "sales_clerk": create_user("handler", unit=units["销售部"]),
    }


def rule(name, unit, *, sort_order=100, **fields) -> RoutingRule:
    item = RoutingRule(name=name, unit=unit, sort_order=sort_order, **fields)
    db.session.add(item)
    db.session.commit()
    return item


def set_setting(key: str, value: str) -> None:
    db.session.get(SystemSetting, key).value = value
    db.session.commit()


def events(case, kind=EventKind.routed) -> list[CaseEvent]:
    return db.session.scalars(
        sa.select(CaseEvent)
        .where(CaseEvent.case_id == case.id, CaseEvent.kind == kind)
        .order_by(CaseEvent.id)
    ).all()


def selected_option(page: str, name: str) -> str | None:
    """The value of the selected option of select ``name`` on ``page``."""
    select = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert select, name
    chosen = re.search(r'<option[^>]*selected[^>]*value="([^"]*)"', select.group(1)) or re.search(
        r'<option[^>]*value="([^"]*)"[^>]*selected', select.group(1)
    )
    return chosen.group(1) if chosen else None


# -- S9: product quality to 质保部, usage consultation to 销售部 ---------------------------------


def test_s9_registration_through_the_form_routes_a_quality_complaint_to_quality_assurance(
    org, client, login_as
):
    qa, sales = org["units"]["质保部"], org["units"]["销售部"]
    rule("质量投诉归质保部", qa, sort_order=10, category=org["quality"])
    rule("使用咨询归销售部", sales, sort_order=20, category=org["usage"])
    login_as(org["registrar"])
    form = read_form(client, "/admin/case/new/")
    response = client.post(
        "/admin/case/new/",
        data=fill(
            form,
            {
                "channel": "letter",
                "received_at": local_minute(),
                "category": org["discoloured"].id,  # a child of 产品质量投诉
                "subject": "某批次片剂变色",
                "content": "医院药房来函：批号20261101的片剂出现变色。",
            },
        ),
    )
    assert response.status_code == 302, _errors(response.get_data(as_text=True))
    case = db.session.scalar(sa.select(Case).where(Case.subject == "某批次片剂变色"))
    assert case.status == CaseStatus.registered
    assert case.routed_unit == qa
    assert case.routing_rule.name == "质量投诉归质保部"
    assert case.handling_unit is None and not case.routing_assigned
    [event] = events(case)
    assert event.created_by_id == org["registrar"].id
    assert event.data["routing_rule"] == "质量投诉归质保部"
    assert event.data["routed_unit"] == "质保部"
    page = client.get(f"/admin/case/details/?id={case.id}").get_data(as_text=True)
    assert "按分派规则「质量投诉归质保部」建议交办：质保部" in page
    assert "自动分派" in page  # the timeline line


def test_s9_usage_consultation_goes_to_sales(org, create_case):
    rule("质量投诉归质保部", org["units"]["质保部"], sort_order=10, category=org["quality"])
    rule("使用咨询归销售部", org["units"]["销售部"], sort_order=20, category=org["usage"])
    case = create_case(by=org["registrar"], category=org["usage"], subject="如何服用")
    assert case.routed_unit.name == "销售部"
    assert case.routing_rule.name == "使用咨询归销售部"


def test_s9_the_assign_form_preselects_the_routed_unit_and_an_override_is_recorded(
    org, create_case, client, login_as, create_user
):
    set_setting("leader_reading", "important")
    qa, service = org["units"]["质保部"], org["units"]["客服部"]
    # A unit where nobody may handle is refused (issue 19): the override's unit has a handler.
    create_user("handler", unit=service)
    rule("质量投诉归质保部", qa, category=org["quality"], handler=org["qa_head"])
    followed = create_case(by=org["registrar"], category=org["quality"], subject="变色一")
    overridden = create_case(by=org["registrar"], category=org["quality"], subject="变色二")
    login_as(org["office"])

    page = client.get(f"/admin/workflow/assign/{followed.id}/").get_data(as_text=True)
    assert selected_option(page, "handling_unit") == str(qa.id)
    assert selected_option(page, "handler") == str(org["qa_head"].id)
    assert "按分派规则「质量投诉归质保部」建议交办：质保部" in page
    form = read_form(client, f"/admin/workflow/assign/{followed.id}/")
    assert client.post(f"/admin/workflow/assign/{followed.id}/", data=form).status_code == 302
    db.session.expire_all()
    assert followed.status == CaseStatus.assigned and followed.handling_unit == qa
    [assigned] = events(followed, EventKind.assign)
    assert assigned.data["routed_unit"] == "质保部"
    assert "routing_overridden" not in assigned.data

    form = read_form(client, f"/admin/workflow/assign/{overridden.id}/")
    response = client.post(
        f"/admin/workflow/assign/{overridden.id}/",
        data=fill(form, {"handling_unit": service.id, "handler": "__None"}),
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert overridden.handling_unit == service and overridden.handler is None
    [assigned] = events(overridden, EventKind.assign)
    assert assigned.data["routing_overridden"] is True
    assert assigned.data["routing_rule"] == "质量投诉归质保部"
    assert assigned.data["handling_unit"] == "客服部"
    page = client.get(f"/admin/case/details/?id={overridden.id}").get_data(as_text=True)
    assert "实际交办：客服部" in page
    assert "未采用规则建议" in page


def test_the_instruction_and_transfer_forms_preselect_the_routed_unit(
    org, create_case, client, login_as
):
    qa = org["units"]["质保部"]
    rule("质量投诉归质保部", qa, category=org["quality"])
    case = create_case(by=org["registrar"], category=org["quality"])
    login_as(org["leader"])
    page = client.get(f"/admin/workflow/instruct/{case.id}/").get_data(as_text=True)
    assert selected_option(page, "handling_unit") == str(qa.id)
    login_as(org["office"])
    page = client.get(f"/admin/workflow/transfer/{case.id}/").get_data(as_text=True)
    assert selected_option(page, "target_unit") == str(qa.id)


# -- S14: the patient-type field -------------------------------------------------------------


def test_s14_patient_type_routes_inpatients_to_medical_affairs_and_outpatients_elsewhere(
    org, create_case
):
    medical_affairs, outpatient = org["units"]["医务科"], org["units"]["门诊部"]
    rule("住院投诉", medical_affairs, sort_order=10, field_key="patient_type", field_value="住院")
    rule("门诊投诉", outpatient, sort_order=20, field_key="patient_type", field_value="门诊")
    inpatient = create_case(
        by=org["registrar"],
        category=org["medical"],
        subject="护士态度差",
        custom_values={"patient_type": "住院"},
    )
    walk_in = create_case(
        by=org["registrar"], category=org["medical"], custom_values={"patient_type": " 门诊 "}
    )
    unknown = create_case(by=org["registrar"], category=org["medical"])
    assert inpatient.routed_unit == medical_affairs
    assert walk_in.routed_unit == outpatient
    assert unknown.routed_unit is None and unknown.routing_rule is None
    assert events(unknown) == []  # no rule fitted: nothing on the timeline


def test_custom_values_compare_as_text_once_normalised():
    assert custom_value_text(True) == "是"
    assert custom_value_text(False) == "否"
    assert custom_value_text(3.0) == "3"
    assert custom_value_text(2.5) == "2.5"
    assert custom_value_text(12) == "12"
    assert custom_value_text(" 住院 ") == "住院"
    assert custom_value_text(None) == ""


def test_a_yes_no_field_and_a_field_with_any_value(org, create_case):
    rule(
        "有过错先道歉",
        org["units"]["客服部"],
        sort_order=10,
        field_key="apologised",
        field_value="是",
    )
    rule("有责任单位", org["units"]["质保部"], sort_order=20, field_key="contractor")
    apologised = create_case(by=org["registrar"], custom_values={"apologised": True})
    not_apologised = create_case(by=org["registrar"], custom_values={"apologised": False})
    contractor = create_case(by=org["registrar"], custom_values={"contractor": "某建筑公司"})
    assert apologised.routed_unit.name == "客服部"
    assert not_apologised.routed_unit is None
    assert contractor.routed_unit.name == "质保部"


# -- which rule fires ------------------------------------------------------------------------


def test_the_first_matching_rule_wins_by_sort_order_then_age(org, create_case):
    units = org["units"]
    broad = rule(
        "全部投诉归客服部", units["客服部"], sort_order=50, category_kind=CategoryKind.complaint
    )
    narrow = rule("质量投诉归质保部", units["质保部"], sort_order=10, category=org["quality"])
    first = create_case(by=org["registrar"], category=org["discoloured"])
    assert first.routing_rule == narrow
    narrow.sort_order = 90
    db.session.commit()
    second = create_case(by=org["registrar"], category=org["discoloured"])
    assert second.routing_rule == broad
    same_order = rule(
        "同序后建", units["销售部"], sort_order=50, category_kind=CategoryKind.complaint
    )
    third = create_case(by=org["registrar"], category=org["discoloured"])
    assert third.routing_rule == broad and same_order.id > broad.id


def test_every_condition_must_hold(org, create_case):
    rule(
        "紧急来电质量投诉",
        org["units"]["质保部"],
        category=org["quality"],
        channel=CaseChannel.call,
        priority=CasePriority.urgent,
    )
    letter = create_case(by=org["registrar"], category=org["quality"], priority=CasePriority.urgent)
    normal_call = create_case(
        by=org["registrar"], category=org["quality"], channel=CaseChannel.call
    )
    urgent_call = create_case(
        by=org["registrar"],
        category=org["quality"],
        channel=CaseChannel.call,
        priority=CasePriority.urgent,
    )
    assert letter.routed_unit is None and normal_call.routed_unit is None
    assert urgent_call.routed_unit.name == "质保部"


def test_inactive_rules_and_rules_of_inactive_units_are_ignored(org, create_case):
    units = org["units"]
    rule("停用的规则", units["销售部"], sort_order=1, category=org["quality"], is_active=False)
    rule("停用单位的规则", units["医务科"], sort_order=2, category=org["quality"])
    units["医务科"].is_active = False
    db.session.commit()
    rule("生效的规则", units["质保部"], sort_order=3, category=org["quality"])
    case = create_case(by=org["registrar"], category=org["quality"])
    assert case.routing_rule.name == "生效的规则"


def test_a_rule_of_acceptance_waits_for_acceptance(org, create_case):
    rule(
        "受理后分派",
        org["units"]["质保部"],
        category=org["quality"],
        moment=RoutingMoment.acceptance,
    )
    case = create_case(by=org["registrar"], category=org["quality"])
    assert case.routed_unit is None
    perform("accept", case, by=org["registrar"])
    db.session.commit()
    assert case.status == CaseStatus.accepted
    assert case.routed_unit.name == "质保部"
    kinds = [event.kind for event in case.events]
    assert kinds[-2:] == [EventKind.accept, EventKind.routed]


def test_a_rule_may_set_the_priority(org, create_case):
    rule(
        "质量投诉为急件",
        org["units"]["质保部"],
        category=org["quality"],
        set_priority=CasePriority.urgent,
    )
    case = create_case(by=org["registrar"], category=org["quality"])
    assert case.priority == CasePriority.urgent
    assert events(case)[0].data["priority"] == "一般 → 急件"


# -- handing over at once --------------------------------------------------------------------


def test_an_assigning_rule_hands_over_for_the_registrar_and_starts_the_handling_clock(
    org, create_case
):
    set_setting("leader_reading", "important")
    db.session.add(
        DeadlineRule(
            name="处理5个工作日", clock=Clock.handling, amount=5, unit=TimeUnit.working_days
        )
    )
    db.session.commit()
    qa = org["units"]["质保部"]
    rule("质量投诉直接交办", qa, category=org["quality"], action=RoutingAction.assign)
    registrar = org["registrar"]
    assert not registrar.has_permission("workflow.assign")
    case = create_case(by=registrar, category=org["quality"])
    assert case.status == CaseStatus.assigned
    assert case.handling_unit == qa and case.routing_assigned
    assert case.accepted_at is not None and case.assigned_at is not None
    handling = db.session.scalar(
        sa.select(CaseClock).where(CaseClock.case_id == case.id, CaseClock.kind == Clock.handling)
    )
    assert handling is not None and handling.stopped_at is None
    assert handling.rule.name == "处理5个工作日"
    handover = db.session.scalar(
        sa.select(CaseClock).where(CaseClock.case_id == case.id, CaseClock.kind == Clock.handover)
    )
    assert handover is None or handover.stopped_at is not None
    [event] = events(case)
    assert event.created_by_id == registrar.id
    assert event.data["auto_assigned"] is True
    assert event.data["handling_unit"] == "质保部"
    assert event.data["to"] == "assigned"


def test_an_assigning_rule_only_suggests_while_leaders_read_every_item(org, create_case):
    assert SystemSetting.get("leader_reading") == "all"
    rule(
        "质量投诉直接交办",
        org["units"]["质保部"],
        category=org["quality"],
        action=RoutingAction.assign,
    )
    case = create_case(by=org["registrar"], category=org["quality"])
    assert case.status == CaseStatus.registered and case.handling_unit is None
    assert case.routed_unit.name == "质保部" and not case.routing_assigned
    assert "领导批示" in events(case)[0].data["note"]


def test_a_split_does_not_route_its_children(org, create_case):
    set_setting("leader_reading", "important")
    rule("全部直接交办质保部", org["units"]["质保部"], action=RoutingAction.assign)
    parent = create_case(by=org["office"], category=org["usage"])
    assert parent.handling_unit.name == "质保部"
    perform(
        "split", parent, by=org["office"], units=[org["units"]["销售部"], org["units"]["客服部"]]
    )
    db.session.commit()
    children = db.session.scalars(sa.select(Case).where(Case.parent_id == parent.id)).all()
    assert {child.handling_unit.name for child in children} == {"销售部", "客服部"}
    assert all(child.routing_rule is None for child in children)


# -- routing again by hand ----------------------------------------------------------------


def test_routing_again_after_the_category_was_corrected(org, create_case, client, login_as):
    rule("使用咨询归销售部", org["units"]["销售部"], category=org["usage"])
    case = create_case(by=org["registrar"], category=org["quality"])
    assert case.routed_unit is None
    case.category = org["usage"]
    db.session.commit()
    login_as(org["registrar"])
    form = read_form(client, f"/admin/workflow/routed/{case.id}/")
    assert client.post(f"/admin/workflow/routed/{case.id}/", data=form).status_code == 302
    db.session.expire_all()
    assert case.routed_unit.name == "销售部"
    # Once handed over, the rules no longer apply.
    perform(
        "instruct", case, by=org["leader"], instruction="请办理", handling_unit=case.routed_unit
    )
    db.session.commit()
    with pytest.raises(InvalidTransition):
        perform("routed", case, by=org["registrar"])


def test_routing_by_hand_without_a_fitting_rule_says_so(org, create_case):
    case = create_case(by=org["registrar"])
    perform("routed", case, by=org["office"])
    db.session.commit()
    [event] = events(case)
    assert event.data["note"] == "没有适用的分派规则"


def test_a_handler_only_sees_no_routing_step(org, create_case, client, login_as):
    case = create_case(by=org["registrar"])
    login_as(org["sales_clerk"])
    assert client.get(f"/admin/workflow/routed/{case.id}/").status_code in (403, 404)


# -- the settings screen -------------------------------------------------------------------


SETTINGS_PAGES = ("/admin/routingrule/", "/admin/routingrule/new/")


@pytest.mark.parametrize("role", ROLES)
def test_only_administrators_manage_routing_rules(org, create_user, client, login_as, role):
    existing = rule("质量投诉归质保部", org["units"]["质保部"], category=org["quality"])
    user = create_user(role)
    login_as(user)
    allowed = role == "admin"
    for page in (*SETTINGS_PAGES, f"/admin/routingrule/edit/?id={existing.id}"):
        assert client.get(page).status_code == (200 if allowed else 403), (role, page)
    before = {table: n for table, n in row_counts().items() if table != "audit_log"}
    response = client.post(
        "/admin/routingrule/new/",
        data={"name": "越权规则", "sort_order": "1", "unit": org["units"]["销售部"].id},
    )
    response_delete = client.post("/admin/routingrule/delete/", data={"id": existing.id})
    if allowed:
        assert response.status_code == 302
        assert response_delete.status_code == 302
        names = db.session.scalars(sa.select(RoutingRule.name)).all()
        assert names == ["越权规则"]
    else:
        assert response.status_code == 403 and response_delete.status_code == 403
        # Refusals are written to the audit log; nothing else changes.
        after = {table: n for table, n in row_counts().items() if table != "audit_log"}
        assert after == before


def define_patient_type(is_active=True) -> CustomField:
    field = CustomField(
        key="patient_type",
        label="患者类型",
        field_type=CustomFieldType.choice,
        choices=["门诊", "住院"],
        is_active=is_active,
    )
    db.session.add(field)
    db.session.commit()
    return field


def test_the_settings_screen_creates_a_working_rule(org, client, login_as, create_case):
    define_patient_type()
    login_as(org["admin"])
    page = client.get("/admin/routingrule/new/").get_data(as_text=True)
    assert "从小到大依次比对，第一条符合的规则生效" in page
    assert 'value="patient_type">患者类型（patient_type）</option>' in page
    form = read_form(client, "/admin/routingrule/new/")
    response = client.post(
        "/admin/routingrule/new/",
        data=fill(
            form,
            {
                "name": "住院投诉",
                "sort_order": "10",
                "moment": "registration",
                "action": "suggest",
                "field_key": "patient_type",
                "field_value": "住院",
                "unit": org["units"]["医务科"].id,
            },
        ),
    )
    assert response.status_code == 302, _errors(response.get_data(as_text=True))
    listing = client.get("/admin/routingrule/").get_data(as_text=True)
    assert "patient_type = 住院" in listing and "医务科" in listing
    case = create_case(by=org["registrar"], custom_values={"patient_type": "住院"})
    assert case.routed_unit.name == "医务科"


BAD_INPUT = [
    ({"unit": "__None"}, "请选择承办单位"),
    ({"handler": "sales_clerk"}, "承办人须是“质保部”的人员"),
    ({"field_key": "病人类型"}, "不是有效的选择"),
    ({"field_key": "no_such_field"}, "不是有效的选择"),
    ({"field_key": "", "field_value": "住院"}, "请同时填写字段代码"),
    ({"field_key": "patient_type", "field_value": "急诊"}, "不是“患者类型”的可选值"),
    ({"name": "已有规则"}, "已经存在"),
    ({"name": ""}, "请填写规则名称"),
]


@pytest.mark.parametrize(("values", "message"), BAD_INPUT)
def test_bad_rules_are_refused_in_chinese_and_nothing_is_saved(
    org, client, login_as, values, message
):
    rule("已有规则", org["units"]["销售部"])
    define_patient_type()
    login_as(org["admin"])
    form = read_form(client, "/admin/routingrule/new/")
    values = {
        "name": "新规则",
        "sort_order": "10",
        "unit": org["units"]["质保部"].id,
        **values,
    }
    if values.get("handler") == "sales_clerk":
        values["handler"] = org["sales_clerk"].id
    before = row_counts()
    response = client.post("/admin/routingrule/new/", data=fill(form, values))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert message in page, _errors(page)
    db.session.rollback()
    assert row_counts() == before


# -- configuration export / import ---------------------------------------------------------


def test_export_and_import_round_trip(org):
    units = org["units"]
    rule(
        "质量投诉归质保部",
        units["质保部"],
        sort_order=10,
        category=org["quality"],
        action=RoutingAction.assign,
        set_priority=CasePriority.urgent,
        handler=org["qa_head"],
    )
    rule("住院投诉", units["医务科"], sort_order=20, field_key="patient_type", field_value="住院")
    rule(
        "受理后来电",
        units["销售部"],
        sort_order=30,
        channel=CaseChannel.call,
        moment=RoutingMoment.acceptance,
        is_active=False,
        note="夜间来电",
    )
    exported = export_routing_rules()
    assert [item["name"] for item in exported] == ["质量投诉归质保部", "住院投诉", "受理后来电"]
    assert exported[0]["unit"] == "质保部" and exported[0]["category"] == "Q1"
    assert "handler" not in exported[0]
    import json

    json.dumps(exported)  # plain JSON
    db.session.execute(sa.delete(RoutingRule))
    db.session.commit()
    apply_routing_rules(exported)
    db.session.commit()
    assert export_routing_rules() == exported
    # Applying again changes nothing; a rule left out is removed, a changed one updated.
    apply_routing_rules(exported)
    changed = [{**exported[0], "unit": "客服部"}, exported[1]]
    apply_routing_rules(changed)
    db.session.commit()
    assert export_routing_rules() == changed


def test_import_keeps_a_local_handler_that_still_fits(org):
    rule("质量投诉归质保部", org["units"]["质保部"], handler=org["qa_head"])
    apply_routing_rules(export_routing_rules())
    db.session.commit()
    assert db.session.scalar(sa.select(RoutingRule)).handler == org["qa_head"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"unit": "不存在的部门"}, "没有名为“不存在的部门”的单位"),
        ({"category": "ZZ"}, "没有代码为“ZZ”的分类"),
        ({"moment": "sometime"}, "“sometime”不是可选的值"),
        ({"field_key": "1bad"}, "字段代码须以字母开头"),
    ],
)
def test_import_refuses_bad_items_naming_the_rule(org, change, message):
    item = {"name": "坏规则", "unit": "质保部", **change}
    with pytest.raises(ValidationFailed) as refused:
        apply_routing_rules([item])
    assert "分派规则“坏规则”有误" in str(refused.value)
    assert message in str(refused.value)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(RoutingRule.id))) == 0


def test_a_deleted_rule_leaves_the_routed_unit_on_the_case(org, create_case, client, login_as):
    existing = rule("质量投诉归质保部", org["units"]["质保部"], category=org["quality"])
    case = create_case(by=org["registrar"], category=org["quality"])
    db.session.delete(existing)
    db.session.commit()
    db.session.expire_all()
    assert case.routing_rule is None and case.routed_unit.name == "质保部"
    login_as(org["office"])
    page = client.get(f"/admin/case/details/?id={case.id}").get_data(as_text=True)
    assert "建议交办：质保部" in page


def test_routing_fires_for_a_case_received_earlier(org, create_case):
    rule("质量投诉归质保部", org["units"]["质保部"], category=org["quality"])
    case = create_case(
        by=org["registrar"], category=org["quality"], received_at=utcnow() - timedelta(days=3)
    )
    assert case.routed_unit.name == "质保部"


def test_an_edit_before_hand_over_routes_again(org, create_case):
    from models.operations.cases import record_case_edit

    rule(
        "住院投诉",
        org["units"]["医务科"],
        sort_order=10,
        field_key="patient_type",
        field_value="住院",
    )
    rule(
        "门诊投诉",
        org["units"]["门诊部"],
        sort_order=20,
        field_key="patient_type",
        field_value="门诊",
    )
    case = create_case(by=org["registrar"], custom_values={"patient_type": "门诊"})
    assert case.routed_unit.name == "门诊部"
    case.custom_values = {"patient_type": "住院"}
    assert record_case_edit(case, by=org["registrar"])
    db.session.commit()
    assert case.routed_unit.name == "医务科"
    assert [event.data.get("routed_unit") for event in events(case)] == ["门诊部", "医务科"]
    case.subject = "只改标题"
    record_case_edit(case, by=org["registrar"])
    db.session.commit()
    assert len(events(case)) == 2  # not an input of the rules: nothing routed again
    case.custom_values = {}
    record_case_edit(case, by=org["registrar"])
    db.session.commit()
    assert case.routed_unit is None and case.routing_rule is None
    assert events(case)[-1].data["note"] == "没有适用的分派规则"


def test_an_edit_after_hand_over_leaves_the_routing_alone(org, create_case):
    from models.operations.cases import record_case_edit

    rule("住院投诉", org["units"]["医务科"], field_key="patient_type", field_value="住院")
    case = create_case(by=org["registrar"], custom_values={"patient_type": "住院"})
    perform(
        "instruct", case, by=org["leader"], instruction="请办理", handling_unit=case.routed_unit
    )
    db.session.commit()
    case.custom_values = {"patient_type": "门诊"}
    record_case_edit(case, by=org["office"])
    db.session.commit()
    assert case.routed_unit.name == "医务科" and len(events(case)) == 1


def test_a_rule_keeps_its_field_after_the_field_is_switched_off(org, client, login_as):
    field = define_patient_type()
    existing = rule(
        "住院投诉", org["units"]["医务科"], field_key="patient_type", field_value="住院"
    )
    field.is_active = False
    db.session.commit()
    login_as(org["admin"])
    url = f"/admin/routingrule/edit/?id={existing.id}"
    page = client.get(url).get_data(as_text=True)
    assert selected_option(page, "field_key") == "patient_type"
    assert "患者类型（patient_type）（已停用）" in page
    new_page = client.get("/admin/routingrule/new/").get_data(as_text=True)
    assert "patient_type" not in new_page  # not offered to new rules
    response = client.post(url, data=fill(read_form(client, url), {"note": "停用后仍保留"}))
    assert response.status_code == 302
    db.session.expire_all()
    assert existing.field_key == "patient_type" and existing.note == "停用后仍保留"
