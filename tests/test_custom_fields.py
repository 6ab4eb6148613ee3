"""Custom fields: defined in the browser, checked on every surface, filtered fast."""

import csv
import io
from datetime import timedelta

import pytest
import sqlalchemy as sa

from models import Case, CaseEvent, Category, Letter, Unit, db
from models.base import local_zone, utcnow
from models.custom_fields import (
    CustomField,
    apply_custom_fields,
    clean_value,
    display_value,
    export_custom_fields,
    fields_for,
)
from models.enums import CaseChannel, CategoryKind, CustomFieldType, EventKind, UnitKind
from models.operations import ValidationFailed
from models.operations.cases import record_case_edit, register_case

PAST = (utcnow() - timedelta(hours=3)).astimezone(local_zone()).strftime("%Y-%m-%d %H:%M:%S")
T = CustomFieldType


@pytest.fixture
def hospital(app):
    """Two categories (inpatient complaints below complaints, and a consultation) and one
    field of each type; the patient type is required only for complaints."""
    complaints = Category(name="医疗投诉", code="complaint", kind=CategoryKind.complaint)
    db.session.add(complaints)
    db.session.flush()
    inpatient = Category(
        name="住院投诉", code="inpatient", kind=CategoryKind.complaint, parent_id=complaints.id
    )
    consultation = Category(name="咨询", code="consult", kind=CategoryKind.consultation)
    db.session.add_all([inpatient, consultation])
    db.session.flush()
    fields = {
        "patient_type": CustomField(
            key="patient_type",
            label="患者类型",
            field_type=T.choice,
            choices=["门诊", "住院"],
            required=True,
            category=complaints,
            show_in_list=True,
            filterable=True,
        ),
        "bed": CustomField(key="bed", label="床号", field_type=T.text, filterable=True),
        "amount": CustomField(key="amount", label="涉及金额", field_type=T.number),
        "visit_day": CustomField(key="visit_day", label="就诊日期", field_type=T.date),
        "first_contact": CustomField(
            key="first_contact", label="首次联系时间", field_type=T.datetime
        ),
        "apologised": CustomField(
            key="apologised", label="已先致歉", field_type=T.boolean, filterable=True
        ),
        "contractor": CustomField(key="contractor", label="责任人", field_type=T.person),
        "measures": CustomField(
            key="measures", label="整改措施", field_type=T.long_text, category=consultation
        ),
    }
    for order, field in enumerate(fields.values()):
        field.sort_order = order
        db.session.add(field)
    db.session.commit()
    return {
        "complaints": complaints,
        "inpatient": inpatient,
        "consultation": consultation,
        **fields,
    }


def _new_case(category, **values):
    return Case(
        channel=CaseChannel.letter,
        subject="病房空调不制冷",
        content="住院部三楼病房空调坏了一周。",
        received_at=utcnow() - timedelta(hours=2),
        category=category,
        custom_values=values,
    )


# --- the service layer ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "typed", "stored"),
    [
        ("bed", "  3床 ", "3床"),
        ("amount", "1,200", 1200),
        ("amount", "12.50", 12.5),
        ("visit_day", "2026-03-01", "2026-03-01"),
        ("first_contact", "2026-03-01T09:30", "2026-03-01T09:30:00+08:00"),
        ("apologised", "true", True),
        ("apologised", "否", False),
        ("patient_type", "住院", "住院"),
        ("measures", "一、更换空调\n二、回访", "一、更换空调\n二、回访"),
    ],
)
def test_each_type_is_stored_in_its_agreed_form(hospital, key, typed, stored):
    assert clean_value(hospital[key], typed) == stored


@pytest.mark.parametrize(
    ("key", "typed", "message"),
    [
        ("amount", "12元", "数字格式不正确"),
        ("amount", "1e400", "数字格式不正确"),
        ("visit_day", "2026-02-30", "日期格式不正确"),
        ("visit_day", "1800-01-01", "年份应在"),
        ("first_contact", "昨天上午", "时间格式不正确"),
        ("apologised", "也许", "请选择“是”或“否”"),
        ("patient_type", "急诊", "不在可选项中"),
        ("contractor", "999999", "所选人员不存在或已停用"),
        ("contractor", "张三", "请选择人员"),
        ("bed", "床" * 501, "不能超过 500 个字"),
    ],
)
def test_each_type_refuses_bad_input_with_a_chinese_message(hospital, key, typed, message):
    with pytest.raises(ValidationFailed) as refused:
        clean_value(hospital[key], typed)
    assert message in str(refused.value)
    assert refused.value.field == f"cf_{key}"


def test_person_is_a_staff_user_id_and_displays_the_name(hospital, create_user):
    nurse = create_user("handler")
    assert clean_value(hospital["contractor"], str(nurse.id)) == nurse.id
    assert display_value(hospital["contractor"], nurse.id) == nurse.full_name


def test_required_only_within_the_fields_scope(hospital, create_user):
    registrar = create_user("registrar")
    # A consultation is outside the patient type's scope: no value needed.
    register_case(_new_case(hospital["consultation"]), by=registrar)
    # An inpatient complaint is below 医疗投诉: the patient type is required there.
    with pytest.raises(ValidationFailed) as refused:
        register_case(_new_case(hospital["inpatient"]), by=registrar)
    assert "请填写患者类型" in str(refused.value)
    db.session.rollback()
    case = register_case(
        _new_case(hospital["inpatient"], patient_type="住院", amount="30"), by=registrar
    )
    db.session.commit()
    assert case.custom_values == {"patient_type": "住院", "amount": 30}
    assert [f.key for f in fields_for(hospital["consultation"])] == [
        "bed",
        "amount",
        "visit_day",
        "first_contact",
        "apologised",
        "contractor",
        "measures",
    ]


def test_service_refuses_an_invalid_value_whatever_the_surface(hospital, create_user):
    with pytest.raises(ValidationFailed, match="数字格式不正确"):
        register_case(
            _new_case(hospital["inpatient"], patient_type="门诊", amount="很多"),
            by=create_user("registrar"),
        )


# --- the admin forms ----------------------------------------------------------------------------


def _letter_form(**extra):
    return {
        "new_person_name": "陈晓明",
        "new_subject": "病房空调不制冷",
        "new_content": "住院部三楼病房空调坏了一周。",
        "new_priority": "normal",
        "received_at": PAST,
        "form": "paper",
        "origin": "direct",
        **extra,
    }


def test_registration_form_saves_exactly_one_case_with_the_values(hospital, create_user, login_as):
    contractor = create_user("handler")
    client = login_as(create_user("registrar"))
    page = client.get("/admin/letter/new/").get_data(as_text=True)
    for label in ("患者类型", "床号", "涉及金额", "已先致歉", "custom_fields.js"):
        assert label in page
    response = client.post(
        "/admin/letter/new/",
        data=_letter_form(
            new_category=str(hospital["inpatient"].id),
            cf_patient_type="住院",
            cf_bed="12床",
            cf_amount="3000",
            cf_visit_day="2026-03-01",
            cf_first_contact="2026-03-02T10:15",
            cf_apologised="true",
            cf_contractor=str(contractor.id),
            # Outside the inpatient scope: ignored, not stored.
            cf_measures="不该保存",
        ),
    )
    assert response.status_code == 302
    case = db.session.scalars(sa.select(Case)).one()
    assert case.custom_values == {
        "patient_type": "住院",
        "bed": "12床",
        "amount": 3000,
        "visit_day": "2026-03-01",
        "first_contact": "2026-03-02T10:15:00+08:00",
        "apologised": True,
        "contractor": contractor.id,
    }
    details = client.get(f"/admin/case/details/?id={case.id}").get_data(as_text=True)
    for text in ("患者类型", "住院", "12床", "3000", "2026-03-02 10:15", contractor.full_name):
        assert text in details


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"cf_patient_type": ""}, "请填写患者类型"),
        ({"cf_patient_type": "急诊"}, "不在可选项中"),
        ({"cf_patient_type": "门诊", "cf_amount": "三千"}, "数字格式不正确"),
        ({"cf_patient_type": "门诊", "cf_visit_day": "3月1日"}, "日期格式不正确"),
        ({"cf_patient_type": "门诊", "cf_apologised": "maybe"}, "请选择“是”或“否”"),
        ({"cf_patient_type": "门诊", "cf_contractor": "99999"}, "所选人员不存在或已停用"),
    ],
)
def test_registration_form_refuses_bad_values_and_saves_nothing(
    hospital, create_user, login_as, inputs, message
):
    client = login_as(create_user("registrar"))
    response = client.post(
        "/admin/letter/new/",
        data=_letter_form(new_category=str(hospital["complaints"].id), **inputs),
    )
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Case.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(Letter.id))) == 0


def test_a_required_field_waits_for_the_category(hospital, create_user):
    """The reception queue and opinion boxes register before anyone classifies the matter: an
    unscoped required field is required once the case has a category, not before."""
    registrar = create_user("registrar")
    hospital["bed"].required = True
    db.session.commit()
    unclassified = register_case(_new_case(None), by=registrar)
    db.session.commit()
    assert unclassified.custom_values == {}
    with pytest.raises(ValidationFailed) as refused:
        register_case(_new_case(hospital["consultation"]), by=registrar)
    assert "请填写床号" in str(refused.value)
    db.session.rollback()
    # Classifying it later asks for the value.
    unclassified = db.session.get(Case, unclassified.id)
    unclassified.category = hospital["consultation"]
    with pytest.raises(ValidationFailed):
        record_case_edit(unclassified, by=registrar)
    db.session.rollback()


def test_registration_outside_the_scope_needs_no_required_field(hospital, create_user, login_as):
    client = login_as(create_user("registrar"))
    response = client.post(
        "/admin/letter/new/",
        data=_letter_form(new_category=str(hospital["consultation"].id), cf_measures="解释政策"),
    )
    assert response.status_code == 302
    assert db.session.scalars(sa.select(Case)).one().custom_values == {"measures": "解释政策"}


def test_edit_keeps_values_the_form_did_not_show(hospital, create_user, login_as):
    registrar = create_user("registrar")
    case = register_case(_new_case(hospital["inpatient"], patient_type="门诊"), by=registrar)
    # A value of a field outside the case's category (left from an earlier category).
    case.custom_values = {**case.custom_values, "measures": "以前填写的措施"}
    db.session.commit()
    client = login_as(create_user("office"))
    form = client.get(f"/admin/case/edit/?id={case.id}").get_data(as_text=True)
    assert 'value="门诊" selected' in form or 'selected value="门诊"' in form
    response = client.post(
        f"/admin/case/edit/?id={case.id}",
        data={
            "channel": "letter",
            "received_at": PAST,
            "category": str(hospital["inpatient"].id),
            "priority": "normal",
            "subject": case.subject,
            "content": case.content,
            "head_count": "1",
            "cf_patient_type": "住院",
            "cf_bed": "8床",
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    saved = db.session.get(Case, case.id)
    assert saved.custom_values == {
        "patient_type": "住院",
        "bed": "8床",
        "measures": "以前填写的措施",
    }
    event = db.session.scalars(sa.select(CaseEvent).where(CaseEvent.kind == EventKind.edited)).one()
    assert event.data["患者类型"] == ["门诊", "住院"]
    assert event.data["床号"] == [None, "8床"]


def test_edit_refuses_a_bad_value_and_changes_nothing(hospital, create_user, login_as):
    case = register_case(
        _new_case(hospital["inpatient"], patient_type="门诊"), by=create_user("registrar")
    )
    db.session.commit()
    response = login_as(create_user("office")).post(
        f"/admin/case/edit/?id={case.id}",
        data={
            "channel": "letter",
            "received_at": PAST,
            "category": str(hospital["inpatient"].id),
            "priority": "normal",
            "subject": case.subject,
            "content": case.content,
            "head_count": "1",
            "cf_patient_type": "门诊",
            "cf_amount": "一百",
        },
    )
    assert "数字格式不正确" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Case, case.id).custom_values == {"patient_type": "门诊"}


# --- list, filters, exports, registers, documents ----------------------------------------------


@pytest.fixture
def three_cases(hospital, create_user):
    registrar = create_user("registrar")
    unit = Unit(name="医务科", kind=UnitKind.department)
    db.session.add(unit)
    cases = {
        "inpatient": register_case(
            _new_case(hospital["inpatient"], patient_type="住院", apologised=True), by=registrar
        ),
        "outpatient": register_case(
            _new_case(hospital["complaints"], patient_type="门诊", apologised=False),
            by=registrar,
        ),
        "other_unit": register_case(
            _new_case(hospital["inpatient"], patient_type="住院", bed="12床"), by=registrar
        ),
    }
    cases["inpatient"].subject = "住院病人投诉"
    cases["outpatient"].subject = "门诊病人投诉"
    cases["other_unit"].subject = "另一单位的住院投诉"
    cases["inpatient"].handling_unit = unit
    cases["outpatient"].handling_unit = unit
    db.session.commit()
    return cases, unit


def test_filters_return_the_right_rows(three_cases, create_user, login_as):
    client = login_as(create_user("office"))
    listing = client.get("/admin/case/?flt0_cf_patient_type_eq=住院").get_data(as_text=True)
    assert "住院病人投诉" in listing and "另一单位的住院投诉" in listing
    assert "门诊病人投诉" not in listing
    listing = client.get("/admin/case/?flt0_cf_apologised_eq=false").get_data(as_text=True)
    assert "门诊病人投诉" in listing
    assert "住院病人投诉" not in listing
    listing = client.get("/admin/case/?flt0_cf_bed_like=12").get_data(as_text=True)
    assert "另一单位的住院投诉" in listing
    assert "住院病人投诉" not in listing
    # A value outside the choices is refused, not run.
    listing = client.get("/admin/case/?flt0_cf_patient_type_eq=急诊").get_data(as_text=True)
    assert "门诊病人投诉" in listing


def test_filter_of_a_field_defined_later_works_without_restart(three_cases, login_as, create_user):
    client = login_as(create_user("office"))
    client.get("/admin/case/")
    admin = login_as(create_user("admin"))
    response = admin.post(
        "/admin/customfield/new/",
        data={
            "label": "责任科室",
            "key": "",
            "field_type": "text",
            "choices": "",
            "sort_order": "9",
            "filterable": "y",
            "show_in_list": "y",
            "is_active": "y",
        },
    )
    assert response.status_code == 302
    field = db.session.scalars(sa.select(CustomField).where(CustomField.label == "责任科室")).one()
    assert field.key.startswith("field_")
    cases, _unit = three_cases
    cases["outpatient"].custom_values = {**cases["outpatient"].custom_values, field.key: "内科"}
    db.session.commit()
    listing = admin.get(f"/admin/case/?flt0_{field.form_name}_eq=内科").get_data(as_text=True)
    assert "门诊病人投诉" in listing
    assert "住院病人投诉" not in listing
    assert "责任科室" in listing


@pytest.mark.own_connections
def test_list_column_and_export_show_the_value(three_cases, create_user, login_as):
    client = login_as(create_user("office"))
    listing = client.get("/admin/case/").get_data(as_text=True)
    assert "<th" in listing and "患者类型" in listing and "门诊" in listing
    exported = client.get("/admin/case/export/csv/?flt0_cf_patient_type_eq=门诊")
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert "患者类型" in rows[0]
    column = rows[0].index("患者类型")
    assert [row[column] for row in rows[1:]] == ["门诊"]


def test_department_user_filter_sees_only_visible_cases(three_cases, create_user, login_as):
    _cases, unit = three_cases
    handler = create_user("handler", unit=unit)
    listing = login_as(handler).get("/admin/case/?flt0_cf_patient_type_eq=住院")
    text = listing.get_data(as_text=True)
    assert "住院病人投诉" in text
    assert "另一单位的住院投诉" not in text


def test_register_prints_the_list_columns(three_cases):
    from models.enums import RegisterKind
    from models.rendering.registers import (
        RegisterParams,
        register_columns,
        register_rows,
    )

    today = utcnow().astimezone(local_zone()).date()
    # The cases were received two hours ago: just after local midnight that is yesterday.
    params = RegisterParams(
        kind=RegisterKind.complaints, start=today - timedelta(days=1), end=today
    )
    columns = register_columns(params.kind)
    assert columns[-1].title == "患者类型"
    rows = register_rows(params, sa.true())
    assert sorted(row[-1] for row in rows) == ["住院", "住院", "门诊"]


#: Yes/no fields fill in "是" or "否", as the built-in 问题仍存在 does.
WORDING = "患者类型：{{ 患者类型 }}{% if 已先致歉 == '是' %}，已致歉{% endif %}"


def test_document_placeholder_renders(three_cases):
    from models.rendering.catalog import TYPES, common_values
    from models.rendering.wording import render_wording

    cases, _unit = three_cases
    kind = next(iter(TYPES))
    assert "患者类型" in TYPES[kind].variables
    values = common_values(
        cases["inpatient"], unit_name="某医院", issued_on=utcnow().date(), number="1"
    )
    text = render_wording(WORDING, values)
    assert text == "患者类型：住院，已致歉"
    # Wording written while a field was active still renders after it is switched off.
    db.session.scalars(
        sa.select(CustomField).where(CustomField.key == "apologised")
    ).one().is_active = False
    values = common_values(
        cases["outpatient"], unit_name="某医院", issued_on=utcnow().date(), number="1"
    )
    text = render_wording(WORDING, values)
    assert text == "患者类型：门诊"


# --- definitions ------------------------------------------------------------------------------


def test_key_and_type_cannot_change_once_values_exist(three_cases, create_user, login_as):
    admin = login_as(create_user("admin"))
    field = db.session.scalars(
        sa.select(CustomField).where(CustomField.key == "patient_type")
    ).one()
    base = {
        "label": "患者类型",
        "key": "patient_type",
        "field_type": "choice",
        "choices": "门诊\n住院",
        "required": "y",
        "sort_order": "0",
        "is_active": "y",
    }
    refused = admin.post(f"/admin/customfield/edit/?id={field.id}", data={**base, "key": "kind2"})
    assert "不能修改字段标识" in refused.get_data(as_text=True)
    refused = admin.post(
        f"/admin/customfield/edit/?id={field.id}", data={**base, "field_type": "number"}
    )
    assert "不能修改字段类型" in refused.get_data(as_text=True)
    saved = admin.post(
        f"/admin/customfield/edit/?id={field.id}", data={**base, "choices": "门诊\n住院\n急诊"}
    )
    assert saved.status_code == 302
    db.session.expire_all()
    field = db.session.get(CustomField, field.id)
    assert (field.key, field.field_type, field.choices) == (
        "patient_type",
        T.choice,
        ["门诊", "住院", "急诊"],
    )


def test_a_choice_field_needs_choices(hospital, create_user, login_as):
    response = login_as(create_user("admin")).post(
        "/admin/customfield/new/",
        data={"label": "满意程度", "field_type": "choice", "choices": "", "sort_order": "0"},
    )
    assert "选项字段须至少填写一个选项" in response.get_data(as_text=True)


def test_configuration_round_trip(hospital):
    exported = export_custom_fields()
    assert exported[0]["key"] == "patient_type"
    assert exported[0]["category"] == "complaint"
    assert exported[0]["choices"] == ["门诊", "住院"]
    # Change everything, then import the export back: identical configuration.
    hospital["patient_type"].label = "病人类别"
    hospital["patient_type"].category = hospital["consultation"]
    db.session.delete(hospital["bed"])
    db.session.commit()
    apply_custom_fields(exported)
    db.session.commit()
    assert export_custom_fields() == exported
    with pytest.raises(ValidationFailed, match="分类代码"):
        apply_custom_fields([{**exported[0], "category": "nope"}])


def test_a_removed_choice_stays_on_cases_that_hold_it(hospital, create_user):
    from models.operations.cases import record_case_edit

    registrar = create_user("registrar")
    case = register_case(_new_case(hospital["inpatient"], patient_type="门诊"), by=registrar)
    db.session.commit()
    hospital["patient_type"].choices = ["住院", "急诊"]
    db.session.commit()
    # Editing something else keeps the old value; a new case may not pick it any more.
    case.subject = "改后的标题"
    record_case_edit(case, by=create_user("office"))
    db.session.commit()
    assert case.custom_values == {"patient_type": "门诊"}
    with pytest.raises(ValidationFailed, match="不在可选项中"):
        register_case(_new_case(hospital["inpatient"], patient_type="门诊"), by=registrar)


def test_range_filters_on_numbers_dates_and_times(hospital, create_user, login_as):
    registrar = create_user("registrar")
    for subject, values in (
        (
            "三月初的投诉",
            {"amount": 50, "visit_day": "2026-03-01", "first_contact": "2026-03-01T23:30"},
        ),
        (
            "三月中的投诉",
            {"amount": 500, "visit_day": "2026-03-15", "first_contact": "2026-03-15T08:00"},
        ),
    ):
        case = register_case(_new_case(hospital["consultation"], **values), by=registrar)
        case.subject = subject
    for field in ("amount", "visit_day", "first_contact"):
        hospital[field].filterable = True
    db.session.commit()
    client = login_as(create_user("office"))

    def listed(query):
        page = client.get(f"/admin/case/?{query}").get_data(as_text=True)
        return [subject for subject in ("三月初的投诉", "三月中的投诉") if subject in page]

    assert listed("flt0_cf_amount_from=100") == ["三月中的投诉"]
    assert listed("flt0_cf_amount_until=100") == ["三月初的投诉"]
    assert listed("flt0_cf_amount_eq=500") == ["三月中的投诉"]
    assert listed("flt0_cf_visit_day_until=2026-03-01") == ["三月初的投诉"]
    assert listed("flt0_cf_visit_day_from=2026-03-02") == ["三月中的投诉"]
    # A time late on 1 March still belongs to that day.
    assert listed("flt0_cf_first_contact_until=2026-03-01") == ["三月初的投诉"]
    assert listed("flt0_cf_first_contact_from=2026-03-15") == ["三月中的投诉"]
