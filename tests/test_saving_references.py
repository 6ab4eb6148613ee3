"""References in forms: deactivated values stay, unknown ids are refused, saves never go quiet.

Deactivating a category or a unit (what the README recommends instead of deleting) must not
empty that field on the records that use it when they are saved later, even from a form opened
before the deactivation. An id that matches nothing (or that a new record may not choose) is
refused with a message on the field, and nothing is saved. A save hook that forgets to save is
refused loudly instead of being reported as saved.
"""

from __future__ import annotations

import logging
from datetime import date

import pytest
import sqlalchemy as sa

from models import (
    CalendarOverride,
    CallbackQuota,
    Case,
    Category,
    DeadlineRule,
    EscalationRule,
    Letter,
    Role,
    Unit,
    User,
    db,
)
from models.calendar import forget_work_calendar, work_calendar

from .test_model_views_save import _errors, fill, local_minute, read_form

NOT_A_CHOICE = "所选的项不存在或不能选用，请重新选择。"
INACTIVE = "（已停用）"
MISSING_ID = 987654321


@pytest.fixture
def office(government, create_user, create_party, login_as):
    admin = create_user("admin")
    units = db.session.scalars(
        sa.select(Unit).where(Unit.parent_id.is_not(None)).order_by(Unit.id)
    ).all()
    categories = db.session.scalars(
        sa.select(Category).where(Category.is_active.is_(True)).order_by(Category.id)
    ).all()
    return {
        "client": login_as(admin),
        "admin": admin,
        "unit": units[0],
        "other_unit": units[1],
        "category": categories[0],
        "party": create_party("王五", phone="13800000001"),
    }


def _deactivate(*records) -> None:
    for record in records:
        record.is_active = False
    db.session.commit()


def _case_columns(case_id: int) -> dict:
    db.session.expire_all()
    case = db.session.get(Case, case_id)
    skipped = {"updated_at", "version", "subject"}
    values = {
        attr.key: getattr(case, attr.key)
        for attr in sa.inspect(Case).column_attrs
        if attr.key not in skipped
    }
    values["petitioners"] = sorted(party.id for party in case.petitioners)
    return values


def _save_case_subject(client, case_id, form, subject):
    return client.post(f"/admin/case/edit/?id={case_id}", data=fill(form, {"subject": subject}))


# -- deactivated references ------------------------------------------------------------------


def test_deactivated_category_and_unit_stay_on_cases_saved_afterwards(office, create_case):
    client = office["client"]
    case = create_case(
        category=office["category"],
        handling_unit=office["unit"],
        petitioners=[office["party"]],
        subject="原标题",
    )
    other = create_case(category=office["category"], handling_unit=office["unit"])
    # A form opened before the deactivation, saved after it.
    stale_form = read_form(client, f"/admin/case/edit/?id={other.id}")
    _deactivate(office["category"], office["unit"])
    before = _case_columns(case.id)

    page = client.get(f"/admin/case/edit/?id={case.id}").get_data(as_text=True)
    if "category" in read_form(client, f"/admin/case/edit/?id={case.id}"):
        # Still offered and selected on this case, marked as deactivated.
        assert f"{office['category'].name}{INACTIVE}" in page
    form = read_form(client, f"/admin/case/edit/?id={case.id}")
    response = _save_case_subject(client, case.id, form, "只改了标题")
    assert response.status_code == 302
    after = _case_columns(case.id)
    assert db.session.get(Case, case.id).subject == "只改了标题"
    assert after == before
    assert after["category_id"] == office["category"].id
    assert after["handling_unit_id"] == office["unit"].id

    other_before = _case_columns(other.id)
    response = _save_case_subject(client, other.id, stale_form, "旧表单保存")
    assert response.status_code == 302
    assert _case_columns(other.id) == other_before
    assert db.session.get(Case, other.id).subject == "旧表单保存"


def test_a_new_case_cannot_choose_an_inactive_category_or_unit(office):
    client = office["client"]
    _deactivate(office["category"], office["unit"])
    form = read_form(client, "/admin/case/new/")
    page = client.get("/admin/case/new/").get_data(as_text=True)
    assert f">{office['category'].name}" not in page  # not offered at all
    count = db.session.scalar(sa.select(sa.func.count(Case.id)))
    attempts = [{"category": office["category"].id}]
    if "handling_unit" in form:
        attempts.append({"handling_unit": office["unit"].id})
    for choice in attempts:
        values = {
            "channel": "letter",
            "received_at": local_minute(),
            "subject": "路灯不亮",
            "content": "小区路灯已坏一周。",
            **choice,
        }
        response = client.post("/admin/case/new/", data=fill(form, values))
        assert response.status_code == 200, choice
        assert NOT_A_CHOICE in response.get_data(as_text=True), choice
        assert db.session.scalar(sa.select(sa.func.count(Case.id))) == count, choice


def test_deactivated_unit_stays_on_a_user_and_is_not_offered_to_new_users(office, create_user):
    client = office["client"]
    clerk = create_user("handler", unit=office["unit"])
    _deactivate(office["unit"])
    url = f"/admin/user/edit/?id={clerk.id}"
    assert f"{office['unit'].name}{INACTIVE}" in client.get(url).get_data(as_text=True)
    response = client.post(url, data=fill(read_form(client, url), {"position": "科员"}))
    assert response.status_code == 302
    db.session.expire_all()
    clerk = db.session.get(User, clerk.id)
    assert (clerk.position, clerk.unit_id) == ("科员", office["unit"].id)
    assert [role.code for role in clerk.roles] == ["handler"]

    form = read_form(client, "/admin/user/new/")
    response = client.post(
        "/admin/user/new/",
        data=fill(
            form,
            {
                "username": "newclerk",
                "full_name": "新办事员",
                "unit": office["unit"].id,
                "new_password": "Clerk-2026-pass",
            },
        ),
    )
    assert response.status_code == 200
    assert NOT_A_CHOICE in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(User).where(User.username == "newclerk")) is None


def test_a_deactivated_forwarding_unit_stays_on_a_letter(office, create_case):
    client = office["client"]
    case = create_case()
    letter = Letter(case=case, received_at=case.received_at, forwarding_unit=office["other_unit"])
    db.session.add(letter)
    db.session.commit()
    _deactivate(office["other_unit"])
    url = f"/admin/letter/edit/?id={letter.id}"
    response = client.post(url, data=fill(read_form(client, url), {"summary": "补记摘要"}))
    assert response.status_code == 302
    db.session.expire_all()
    letter = db.session.get(Letter, letter.id)
    assert (letter.summary, letter.forwarding_unit_id) == ("补记摘要", office["other_unit"].id)


# -- ids that match nothing ---------------------------------------------------------------


def test_unknown_role_id_is_refused_and_the_roles_are_kept(office, create_user):
    client = office["client"]
    clerk = create_user("handler", unit=office["unit"])
    url = f"/admin/user/edit/?id={clerk.id}"
    form = read_form(client, url)
    for roles in ([MISSING_ID], [clerk.roles[0].id, MISSING_ID], ["abc"]):
        response = client.post(url, data=fill(form, {"roles": roles, "position": "改了"}))
        assert response.status_code == 200, roles
        assert NOT_A_CHOICE in response.get_data(as_text=True), roles
        db.session.expire_all()
        clerk = db.session.get(User, clerk.id)
        assert [role.code for role in clerk.roles] == ["handler"], roles
        assert clerk.position is None, roles
    # The good path through the same form still saves.
    auditor = db.session.scalar(sa.select(Role).where(Role.code == "supervisor"))
    response = client.post(url, data=fill(form, {"roles": [auditor.id]}))
    assert response.status_code == 302
    db.session.expire_all()
    assert [role.code for role in db.session.get(User, clerk.id).roles] == ["supervisor"]


def test_unknown_petitioner_or_category_id_is_refused_on_a_case(office, create_case):
    client = office["client"]
    case = create_case(petitioners=[office["party"]], category=office["category"])
    url = f"/admin/case/edit/?id={case.id}"
    form = read_form(client, url)
    before = _case_columns(case.id)
    bad_values = [
        {"petitioners": str(MISSING_ID)},
        {"petitioners": f"{office['party'].id},{MISSING_ID}"},
        {"category": MISSING_ID},
        {"agent": MISSING_ID},
    ]
    for bad in bad_values:
        bad = {name: value for name, value in bad.items() if name in form}
        if not bad:
            continue
        response = client.post(url, data=fill(form, {"subject": "不该保存", **bad}))
        assert response.status_code == 200, bad
        assert NOT_A_CHOICE in response.get_data(as_text=True), bad
        assert _case_columns(case.id) == before, bad
        assert db.session.get(Case, case.id).subject != "不该保存"


def test_unknown_letter_writer_is_refused_and_no_letter_is_saved(office, create_case):
    client = office["client"]
    case = create_case()
    form = read_form(client, "/admin/letter/new/")
    count = db.session.scalar(sa.select(sa.func.count(Letter.id)))
    response = client.post(
        "/admin/letter/new/",
        data=fill(
            form,
            {"case": case.id, "received_at": local_minute(), "writer": MISSING_ID},
        ),
    )
    assert response.status_code == 200
    assert NOT_A_CHOICE in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Letter.id))) == count
    # An unknown case id on the same form is refused the same way.
    response = client.post(
        "/admin/letter/new/",
        data=fill(form, {"case": MISSING_ID, "received_at": local_minute()}),
    )
    assert response.status_code == 200
    assert NOT_A_CHOICE in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Letter.id))) == count
    # A real writer saves.
    response = client.post(
        "/admin/letter/new/",
        data=fill(
            form,
            {"case": case.id, "received_at": local_minute(), "writer": office["party"].id},
        ),
    )
    assert response.status_code == 302
    letter = db.session.scalar(sa.select(Letter).order_by(Letter.id.desc()))
    assert letter.writer_id == office["party"].id


# -- deadline rules, escalation rules and calendar overrides really persist ------------------


def test_deadline_rule_is_created_and_deleted(office):
    client = office["client"]
    form = read_form(client, "/admin/deadlinerule/new/")
    response = client.post(
        "/admin/deadlinerule/new/",
        data=fill(
            form,
            {
                "name": "建议类10日",
                "clock": "handling",
                "amount": 10,
                "unit": "working_days",
                "is_active": "y",
            },
        ),
    )
    assert response.status_code == 302
    rules = db.session.scalars(sa.select(DeadlineRule).where(DeadlineRule.name == "建议类10日"))
    (rule,) = rules.all()
    assert (rule.amount, rule.unit.value, rule.is_active) == (10, "working_days", True)
    response = client.post("/admin/deadlinerule/delete/", data={"id": rule.id})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(DeadlineRule, rule.id) is None


def test_escalation_rule_is_created_and_deleted(office):
    client = office["client"]
    form = read_form(client, "/admin/escalationrule/new/")
    response = client.post(
        "/admin/escalationrule/new/",
        data=fill(
            form,
            {
                "name": "超期即提醒办公室",
                "level": 2,
                "trigger": "past_due",
                "threshold": 0,
                "recipient_role": "office",
                "is_active": "y",
            },
        ),
    )
    assert response.status_code == 302
    rule = db.session.scalar(
        sa.select(EscalationRule).where(EscalationRule.name == "超期即提醒办公室")
    )
    assert (rule.level, rule.recipient_role) == (2, "office")
    response = client.post("/admin/escalationrule/delete/", data={"id": rule.id})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(EscalationRule, rule.id) is None


def test_calendar_override_is_created_used_and_deleted(office):
    client = office["client"]
    day = date(2031, 2, 3)  # a Monday in a year the holiday package does not know
    assert work_calendar().is_working_day(day) is True
    form = read_form(client, "/admin/calendar/new/")
    response = client.post(
        "/admin/calendar/new/", data=fill(form, {"day": day.isoformat(), "note": "春节"})
    )
    assert response.status_code == 302
    db.session.expire_all()
    override = db.session.get(CalendarOverride, day)
    assert (override.is_working, override.note) == (False, "春节")
    db.session.info.pop("work_calendar", None)
    assert work_calendar().is_working_day(day) is False

    # The same day twice is refused on the field, not saved twice.
    response = client.post(
        "/admin/calendar/new/", data=fill(form, {"day": day.isoformat(), "note": "重复"})
    )
    assert response.status_code == 200, response.headers
    page = response.get_data(as_text=True)
    assert "已经存在" in page or "该日期已有设置" in page, _errors(page)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CalendarOverride)) == 1

    response = client.post("/admin/calendar/delete/", data={"id": day.isoformat()})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(CalendarOverride, day) is None


def test_calendar_warning_stays_until_both_long_holidays_are_entered(office):
    client = office["client"]
    year = date.today().year + 1
    if work_calendar().covers(year):
        pytest.skip(f"the holiday package already covers {year}")
    warning = f"未包含{year}年"
    assert warning in client.get("/admin/calendar/").get_data(as_text=True)
    spring = next(date(year, 2, d) for d in range(1, 28) if date(year, 2, d).weekday() < 5)
    national = next(date(year, 10, d) for d in range(1, 8) if date(year, 10, d).weekday() < 5)
    db.session.add(CalendarOverride(day=spring, is_working=False, note="春节"))
    db.session.commit()
    forget_work_calendar()  # the test shares the requests' session and its cached calendar
    assert warning in client.get("/admin/calendar/").get_data(as_text=True)
    db.session.add(CalendarOverride(day=national, is_working=False, note="国庆"))
    db.session.commit()
    forget_work_calendar()
    assert warning not in client.get("/admin/calendar/").get_data(as_text=True)


# -- a hook that forgets to save is refused ---------------------------------------------------


def test_a_create_hook_that_saves_nothing_is_refused_loudly(office, monkeypatch, caplog):
    from admin_views.settings import DeadlineRuleView

    monkeypatch.setattr(DeadlineRuleView, "on_create", lambda self, form, model: None)
    client = office["client"]
    form = read_form(client, "/admin/deadlinerule/new/")
    with caplog.at_level(logging.ERROR):
        response = client.post(
            "/admin/deadlinerule/new/",
            data=fill(
                form,
                {"name": "不会保存", "clock": "handling", "amount": 5, "unit": "calendar_days"},
            ),
        )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "保存失败" in page
    assert "创建记录成功" not in page and "Record was successfully created" not in page
    assert db.session.scalar(sa.select(DeadlineRule).where(DeadlineRule.name == "不会保存")) is None
    assert any("unsaved" in record.getMessage() for record in caplog.records)


def test_a_delete_hook_that_deletes_nothing_is_refused_loudly(office, monkeypatch):
    from admin_views.settings import CalendarOverrideView

    day = date(2031, 5, 5)
    db.session.add(CalendarOverride(day=day, is_working=False))
    db.session.commit()
    monkeypatch.setattr(CalendarOverrideView, "on_delete", lambda self, model: None)
    response = office["client"].post(
        "/admin/calendar/delete/", data={"id": day.isoformat()}, follow_redirects=True
    )
    assert "保存失败" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(CalendarOverride, day) is not None


# -- callback quotas are a setting --------------------------------------------------------


def test_only_settings_managers_change_callback_quotas(office, create_user, login_as):
    handler_role = db.session.scalar(sa.select(Role).where(Role.code == "handler"))
    quota = CallbackQuota(role_id=handler_role.id, min_percent=30)
    db.session.add(quota)
    db.session.commit()

    handler = create_user("handler", unit=office["unit"])
    assert handler.has_permission("callback.manage")
    assert not handler.has_permission("settings.manage")
    client = login_as(handler)
    assert client.get("/admin/callbackquota/").status_code == 200  # may read them
    edit_url = f"/admin/callbackquota/edit/?id={quota.id}"
    client.post(edit_url, data={"role": handler_role.id, "min_percent": 0})
    client.post("/admin/callbackquota/delete/", data={"id": quota.id})
    client.post("/admin/callbackquota/new/", data={"role": handler_role.id, "min_percent": 1})
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(CallbackQuota.id))) == 1
    assert db.session.get(CallbackQuota, quota.id).min_percent == 30

    client = login_as(office["admin"])
    form = read_form(client, edit_url)
    response = client.post(edit_url, data=fill(form, {"min_percent": 45}))
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(CallbackQuota, quota.id).min_percent == 45
