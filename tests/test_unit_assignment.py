"""Which unit a department user may give a routine callback schedule or a survey to: their own
only (``policies.may_assign_to_unit``); the office may choose any. Planning routine callbacks
plans only the schedules the user may see."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from models import CallbackSchedule, Unit, db
from models.operations import ValidationFailed
from models.operations.callbacks import plan_scheduled_callbacks
from models.operations.surveys import check_campaign
from models.policies import assignable_units_clause, may_assign_to_unit
from models.surveys import SurveyCampaign, SurveyTemplate


@pytest.fixture
def units(app, government):
    first, second = db.session.scalars(sa.select(Unit).order_by(Unit.id).limit(2)).all()
    return first, second


def _schedule_form(unit: Unit) -> dict:
    return {
        "name": "幸福里小区二期",
        "delivered_on": date.today().isoformat(),
        "first_year_months": "1",
        "later_months": "3",
        "method": "phone",
        "unit": str(unit.id),
        "is_active": "y",
    }


def _schedules() -> list[tuple[str, int]]:
    return [
        (schedule.name, schedule.unit_id)
        for schedule in db.session.scalars(
            sa.select(CallbackSchedule).order_by(CallbackSchedule.id)
        )
    ]


def test_a_department_user_schedules_for_their_own_unit_only(units, create_user, client, login_as):
    own, other = units
    head = create_user("dept_head", unit=own)
    login_as(head)
    refused = client.post("/admin/callbackschedule/new/", data=_schedule_form(other))
    assert refused.status_code == 200
    assert _schedules() == []
    saved = client.post("/admin/callbackschedule/new/", data=_schedule_form(own))
    assert saved.status_code == 302
    assert _schedules() == [("幸福里小区二期", own.id)]
    # The form only offers the user's own unit.
    page = client.get("/admin/callbackschedule/new/").get_data(as_text=True)
    assert own.name in page and other.name not in page


def test_the_office_schedules_for_any_unit(units, create_user, client, login_as):
    _own, other = units
    login_as(create_user("office"))
    assert (
        client.post("/admin/callbackschedule/new/", data=_schedule_form(other)).status_code == 302
    )
    assert _schedules() == [("幸福里小区二期", other.id)]


def test_a_survey_for_another_unit_is_refused(units, create_user):
    own, other = units
    head = create_user("dept_head", unit=own)
    template = db.session.scalars(sa.select(SurveyTemplate)).first()
    if template is None:
        pytest.skip("the preset ships no survey template")
    campaign = SurveyCampaign(name="年度满意度调查", template=template, starts_on=date.today())
    campaign.unit = other
    with pytest.raises(ValidationFailed, match="只能选择本单位"):
        check_campaign(campaign, by=head)
    campaign.unit = own
    check_campaign(campaign, by=head)


def test_planning_covers_only_the_schedules_the_user_sees(units, create_user):
    own, other = units
    delivered = date.today() - timedelta(days=28)
    for unit in (own, other):
        db.session.add(
            CallbackSchedule(
                name=f"{unit.name}项目", delivered_on=delivered, unit_id=unit.id, is_active=True
            )
        )
    db.session.commit()
    head = create_user("dept_head", unit=own)
    planned = plan_scheduled_callbacks(date.today(), by=head)
    assert {task.schedule.unit_id for task in planned} == {own.id}
    office = create_user("office")
    planned = plan_scheduled_callbacks(date.today(), by=office)
    assert {task.schedule.unit_id for task in planned} == {other.id}


@pytest.mark.parametrize("role", ["admin", "office", "dept_head", "handler", "supervisor"])
def test_the_rule_and_its_sql_twin_agree(units, create_user, role):
    own, _other = units
    user = create_user(role, unit=own)
    every_unit = db.session.scalars(sa.select(Unit)).all()
    in_python = {unit.id for unit in every_unit if may_assign_to_unit(user, unit)}
    in_sql = set(db.session.scalars(sa.select(Unit.id).where(assignable_units_clause(user))))
    assert in_python == in_sql
