"""Callback programme (tasks at closing, schedules, assignment, follow-up) and surveys."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from models import (
    Callback,
    CallbackQuota,
    CallbackSchedule,
    Case,
    Category,
    DeadlineRule,
    RectificationOrder,
    Role,
    SurveyCampaign,
    SurveyResponse,
    Unit,
    db,
)
from models.base import local_zone, to_local, utcnow
from models.enums import (
    CallbackFollowUp,
    CallbackOrigin,
    CaseStatus,
    Clock,
    Satisfaction,
    TimeUnit,
)
from models.operations import NotPermitted, ValidationFailed
from models.operations.callbacks import (
    assign_callbacks,
    complete_rectification,
    issue_rectification,
    plan_scheduled_callbacks,
    record_callback,
    schedule_due_dates,
)
from models.operations.surveys import (
    campaign_results,
    ensure_owner_survey_template,
    order_rectification,
    record_survey_response,
)
from models.operations.workflow import perform
from models.queries.statistics import StatsFilter, callback_quotas


def _today() -> date:
    return utcnow().astimezone(local_zone()).date()


@pytest.fixture
def people(app, government, create_user):
    units = {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}
    housing = units["县住房和城乡建设局"]
    return {
        "office": create_user("office", unit=units["县信访局"]),
        "leader": create_user("leader", unit=units["县政府领导"]),
        "handler": create_user("handler", unit=housing),
        "head": create_user("dept_head", unit=housing),
        "registrar": create_user("registrar", unit=units["县信访局"]),
        "housing": housing,
    }


def _ready_to_close(create_case, people, **fields) -> Case:
    case = create_case(by=people["registrar"], **fields)
    now = utcnow()
    case.status = CaseStatus.replied
    case.handling_unit = people["housing"]
    case.handler = people["handler"]
    case.accepted_at = case.result_approved_at = case.replied_at = now
    db.session.commit()
    return case


def _category(name: str) -> Category:
    return db.session.scalar(sa.select(Category).where(Category.name == name))


def _rule(name, category, days):
    db.session.add(
        DeadlineRule(
            name=name,
            clock=Clock.callback,
            amount=days,
            unit=TimeUnit.calendar_days,
            category=category,
        )
    )
    db.session.commit()


def test_closing_plans_a_callback_task_per_category_rule(people, create_case):
    # Safety repairs 2 days, leaks 3 days, everything else the preset's 1 week (T42).
    _rule("安全设施维修后回访（2日）", _category("市政设施"), 2)
    _rule("漏水维修后回访（3日）", _category("房屋质量"), 3)
    expected = {"市政设施": 2, "房屋质量": 3, "物业管理": 7}
    for name, days in expected.items():
        case = _ready_to_close(create_case, people, category=_category(name))
        perform("close", case, by=people["leader"], opinion="同意办结")
        db.session.commit()
        task = db.session.scalar(sa.select(Callback).where(Callback.case_id == case.id))
        clock = next(c for c in case.clocks if c.kind == Clock.callback)
        assert clock.amount == days, name
        assert task.origin == CallbackOrigin.on_close and not task.is_done
        assert task.due_on == to_local(clock.due_at).date()
        assert task.caller_id == people["handler"].id
        assert (task.due_on - to_local(case.closed_at).date()).days >= days


def test_group_visit_cannot_close_before_its_callback(people, create_case):
    from models.operations import InvalidTransition

    case = _ready_to_close(create_case, people, is_group=True, head_count=30)
    with pytest.raises(InvalidTransition):
        perform("close", case, by=people["leader"], opinion="同意")


def test_group_visit_after_its_callback(people, create_case):
    case = _ready_to_close(create_case, people, is_group=True, head_count=30)
    record_callback(
        Callback(case=case, done_at=utcnow(), satisfaction=Satisfaction.satisfied),
        by=people["office"],
    )
    perform("close", case, by=people["leader"], opinion="同意")
    db.session.commit()
    tasks = db.session.scalars(sa.select(Callback).where(Callback.case_id == case.id)).all()
    assert len(tasks) == 1 and tasks[0].is_done
    assert all(c.stopped_at is not None for c in case.clocks if c.kind == Clock.callback)


def test_done_callback_settles_the_planned_task(people, create_case):
    case = _ready_to_close(create_case, people)
    perform("close", case, by=people["leader"], opinion="同意")
    db.session.commit()
    record_callback(
        Callback(case=case, done_at=utcnow(), satisfaction=Satisfaction.satisfied),
        by=people["office"],
    )
    db.session.commit()
    open_tasks = db.session.scalar(
        sa.select(sa.func.count(Callback.id)).where(
            Callback.case_id == case.id,
            Callback.done_at.is_(None),
            Callback.is_deleted.is_(False),
        )
    )
    assert open_tasks == 0


def test_unresolved_problem_reopens_or_issues_a_24_hour_notice(people, create_case):
    reopened = _ready_to_close(create_case, people)
    perform("close", reopened, by=people["leader"], opinion="同意")
    callback = record_callback(
        Callback(
            case=reopened,
            done_at=utcnow(),
            satisfaction=Satisfaction.basically_satisfied,
            problem_remains=True,
        ),
        by=people["office"],
    )
    assert reopened.status == CaseStatus.in_progress
    assert callback.follow_up == CallbackFollowUp.reopen

    noticed = _ready_to_close(create_case, people)
    perform("close", noticed, by=people["leader"], opinion="同意")
    done = utcnow() - timedelta(hours=2)
    callback = record_callback(
        Callback(
            case=noticed,
            done_at=done,
            satisfaction=Satisfaction.basically_satisfied,
            problem_remains=True,
            follow_up=CallbackFollowUp.rectification,
            opinion="仍漏水",
        ),
        by=people["office"],
    )
    db.session.commit()
    assert noticed.status == CaseStatus.closed
    order = db.session.scalar(
        sa.select(RectificationOrder).where(RectificationOrder.callback_id == callback.id)
    )
    assert order.notice_due_at == done + timedelta(hours=24)
    assert order.addressee == people["housing"].name and order.content == "仍漏水"
    assert not order.is_overdue
    with pytest.raises(ValidationFailed):
        complete_rectification(order, by=people["office"], result="")
    issue_rectification(order, by=people["office"])
    with pytest.raises(ValidationFailed):
        issue_rectification(order, by=people["office"])
    complete_rectification(order, by=people["office"], result="已更换水管")
    db.session.commit()
    assert order.completed_at is not None and order.result == "已更换水管"


def test_rectification_needs_a_remaining_problem(people, create_case):
    case = _ready_to_close(create_case, people)
    with pytest.raises(ValidationFailed):
        record_callback(
            Callback(
                case=case,
                done_at=utcnow(),
                satisfaction=Satisfaction.satisfied,
                follow_up=CallbackFollowUp.rectification,
            ),
            by=people["office"],
        )


def test_assigning_callbacks(people, create_case):
    case = create_case(by=people["registrar"])
    planned = Callback(case=case, due_on=_today())
    done = Callback(case=case, done_at=utcnow(), satisfaction=Satisfaction.satisfied)
    record_callback(planned, by=people["office"])
    db.session.add(done)
    db.session.flush()
    assert assign_callbacks([planned, done], caller=people["handler"], by=people["office"]) == 1
    assert planned.caller_id == people["handler"].id and done.caller_id is None
    with pytest.raises(NotPermitted):
        assign_callbacks([planned], caller=people["handler"], by=people["registrar"])
    people["handler"].is_active_user = False
    with pytest.raises(ValidationFailed):
        assign_callbacks([planned], caller=people["handler"], by=people["office"])


def test_schedule_is_monthly_in_year_one_and_quarterly_after(people):
    schedule = CallbackSchedule(
        name="滨河小区二期", delivered_on=date(2025, 1, 31), first_year_months=1, later_months=3
    )
    dates = schedule_due_dates(schedule, date(2026, 8, 1))
    assert dates[:3] == [date(2025, 2, 28), date(2025, 3, 31), date(2025, 4, 30)]
    assert dates[11] == date(2026, 1, 31)  # twelve monthly callbacks in year one
    assert dates[12:] == [date(2026, 4, 30), date(2026, 7, 31)]


def test_planning_scheduled_callbacks_is_idempotent(people, client, login_as):
    delivered = _today() - timedelta(days=95)
    schedule = CallbackSchedule(
        name="锦绣花园三期", contact="业委会", delivered_on=delivered, caller=people["handler"]
    )
    db.session.add(schedule)
    db.session.commit()
    created = plan_scheduled_callbacks(_today(), by=people["office"])
    db.session.commit()
    assert len(created) == 1 and created[0].case_id is None
    assert created[0].origin == CallbackOrigin.schedule
    assert plan_scheduled_callbacks(_today(), by=people["office"]) == []
    # The project's callback is on the list of staff who manage callbacks, and can be done.
    login_as(people["office"])
    page = client.get("/admin/callback/").get_data(as_text=True)
    assert "锦绣花园三期" in page
    edit = client.post(
        f"/admin/callback/edit/?id={created[0].id}",
        data={
            "method": "phone",
            "done_at": utcnow().strftime("%Y-%m-%dT%H:%M"),
            "satisfaction": "satisfied",
            "person_reached": "业委会",
            "follow_up": "none",
        },
    )
    assert edit.status_code == 302
    db.session.expire_all()
    assert db.session.get(Callback, created[0].id).is_done


def test_callback_list_filters_and_assign_page(people, create_case, client, login_as):
    case = create_case(by=people["registrar"])
    late = Callback(case=case, due_on=_today() - timedelta(days=3))
    record_callback(late, by=people["office"])
    db.session.commit()
    login_as(people["office"])
    for value in ("pending", "overdue", "week", "mine", "done", "bogus"):
        assert client.get(f"/admin/callback/?flt0_0={value}").status_code == 200
    assert "已逾期" in client.get("/admin/callback/?flt0_0=overdue").get_data(as_text=True)
    page = client.get(f"/admin/callback/assign/?ids={late.id}")
    assert page.status_code == 200 and case.number in page.get_data(as_text=True)
    response = client.post(
        "/admin/callback/assign/", data={"ids": [str(late.id)], "caller": people["handler"].id}
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Callback, late.id).caller_id == people["handler"].id


def test_callback_form_records_charges_and_signature(people, create_case, client, login_as):
    case = create_case(by=people["registrar"])
    login_as(people["office"])
    response = client.post(
        f"/admin/callback/new/?case_id={case.id}",
        data={
            "case": str(case.id),
            "method": "home_visit",
            "person_reached": "张三",
            "done_at": utcnow().strftime("%Y-%m-%dT%H:%M"),
            "satisfaction": "satisfied",
            "charges_checked": "y",
            "signature_obtained": "y",
            "follow_up": "none",
        },
    )
    assert response.status_code == 302
    callback = db.session.scalar(sa.select(Callback).where(Callback.case_id == case.id))
    assert callback.charges_checked and callback.signature_obtained


def test_quotas_compare_role_shares(people, create_case):
    roles = {role.code: role for role in db.session.scalars(sa.select(Role))}
    db.session.add_all(
        [
            CallbackQuota(role=roles["dept_head"], min_percent=10),
            CallbackQuota(role=roles["handler"], min_percent=60),
        ]
    )
    case = create_case(by=people["registrar"])
    for caller in (people["handler"], people["handler"], people["head"], people["office"]):
        db.session.add(
            Callback(
                case=case, caller=caller, done_at=utcnow(), satisfaction=Satisfaction.satisfied
            )
        )
    db.session.commit()
    quotas = callback_quotas(StatsFilter(_today() - timedelta(days=1), _today()))
    assert quotas["total"] == 4
    rows = {row["role"]: row for row in quotas["rows"]}
    assert rows["部门负责人"]["share"] == pytest.approx(25.0) and rows["部门负责人"]["met"]
    assert rows["承办人"]["share"] == pytest.approx(50.0) and not rows["承办人"]["met"]


# --- surveys ---------------------------------------------------------------------------------


@pytest.fixture
def campaign(people):
    template = ensure_owner_survey_template()
    campaign = SurveyCampaign(
        template=template, name="2026年度业主意见调查", starts_on=_today() - timedelta(days=10)
    )
    db.session.add(campaign)
    db.session.commit()
    return campaign


def test_owner_survey_ships_with_eight_items(campaign):
    titles = [item.title for item in campaign.template.items]
    assert titles == [
        "供电管理",
        "供水管理",
        "消防治安管理",
        "卫生管理",
        "绿化管理",
        "公共设施管理",
        "维修服务",
        "服务态度",
    ]


def test_survey_results_by_hand(campaign, people):
    items = {item.title: item.id for item in campaign.template.items}
    s, b, d = Satisfaction.satisfied, Satisfaction.basically_satisfied, Satisfaction.dissatisfied
    forms = [
        ({"供电管理": s, "维修服务": d}, "电梯维修慢"),
        ({"供电管理": b, "维修服务": d}, "电梯维修慢"),
        ({"供电管理": s, "维修服务": s, "服务态度": None}, None),
    ]
    for ratings, opinion in forms:
        record_survey_response(
            campaign,
            by=people["office"],
            opinion=opinion,
            ratings={items[k]: v for k, v in ratings.items()},
        )
    db.session.commit()
    results = campaign_results(campaign)
    assert results["returned"] == 3
    rows = {item["title"]: item for item in results["items"]}
    assert (rows["供电管理"]["answered"], rows["供电管理"]["satisfied"]) == (3, 3)
    assert rows["维修服务"]["rate"] == pytest.approx(100 / 3)
    assert rows["服务态度"]["answered"] == 0 and rows["服务态度"]["rate"] is None
    assert results["overall_rate"] == pytest.approx(400 / 6)
    assert results["weakest"][0]["title"] == "维修服务"
    assert results["opinions"][0] == ("电梯维修慢", 2)


def test_survey_bad_input_changes_nothing(campaign, people):
    with pytest.raises(ValidationFailed):
        record_survey_response(campaign, by=people["office"], ratings={})
    with pytest.raises(ValidationFailed):
        record_survey_response(
            campaign, by=people["office"], ratings={999999: Satisfaction.satisfied}
        )
    with pytest.raises(ValidationFailed):
        record_survey_response(
            campaign,
            by=people["office"],
            opinion="好",
            ratings={},
            returned_on=_today() + timedelta(days=1),
        )
    with pytest.raises(NotPermitted):
        record_survey_response(campaign, by=people["handler"], opinion="好", ratings={})
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(SurveyResponse.id))) == 0


def test_rectification_order_for_a_weak_item(campaign, people):
    item = campaign.template.items[6]
    with pytest.raises(ValidationFailed):
        order_rectification(
            campaign,
            by=people["office"],
            item=item,
            addressee="工程部",
            content="整改",
            due_on=_today() - timedelta(days=1),
        )
    order = order_rectification(
        campaign,
        by=people["office"],
        item=item,
        addressee="工程部",
        content="24小时内上门",
        due_on=_today() + timedelta(days=30),
    )
    db.session.commit()
    assert order.issued_at is not None and order.campaign_id == campaign.id


def test_survey_pages(campaign, people, client, login_as):
    login_as(people["office"])
    items = campaign.template.items
    page = client.get(f"/admin/surveycampaign/entry/{campaign.id}/")
    assert page.status_code == 200 and "维修服务" in page.get_data(as_text=True)
    data = {f"item_{item.id}": "satisfied" for item in items}
    data[f"item_{items[6].id}"] = "dissatisfied"
    data.update({"returned_on": _today().isoformat(), "respondent": "3栋201", "opinion": "好"})
    assert client.post(f"/admin/surveycampaign/entry/{campaign.id}/", data=data).status_code == 302
    empty = client.post(
        f"/admin/surveycampaign/entry/{campaign.id}/", data={"returned_on": _today().isoformat()}
    )
    assert "既没有评价也没有意见" in empty.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(SurveyResponse.id))) == 1
    results = client.get(f"/admin/surveycampaign/results/{campaign.id}/").get_data(as_text=True)
    assert "87.5%" in results and "<svg" in results
    order = client.post(
        f"/admin/surveycampaign/rectify/{campaign.id}/",
        data={
            "item": items[6].id,
            "addressee": "工程部",
            "content": "限期整改",
            "due_on": (_today() + timedelta(days=10)).isoformat(),
        },
    )
    assert order.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count(RectificationOrder.id))) == 1
    assert client.get("/admin/rectificationorder/").status_code == 200
    login_as(people["handler"])
    assert client.get(f"/admin/surveycampaign/entry/{campaign.id}/").status_code == 403


def test_rectification_notice_prints(people, create_case, client, login_as):
    import io

    from pypdf import PdfReader

    case = _ready_to_close(create_case, people)
    perform("close", case, by=people["leader"], opinion="同意")
    callback = record_callback(
        Callback(
            case=case,
            done_at=utcnow(),
            satisfaction=Satisfaction.dissatisfied,
            problem_remains=True,
            follow_up=CallbackFollowUp.rectification,
            opinion="水管仍漏水",
        ),
        by=people["office"],
    )
    db.session.commit()
    order = db.session.scalar(
        sa.select(RectificationOrder).where(RectificationOrder.callback_id == callback.id)
    )
    login_as(people["office"])
    assert client.get(f"/admin/rectificationorder/details/?id={order.id}").status_code == 200
    pdf = client.get(f"/admin/rectificationorder/print/{order.id}/")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "整改通知" in text and "水管仍漏水" in text and case.number in text
    assert client.post(f"/admin/rectificationorder/issue/{order.id}/").status_code == 302
    db.session.expire_all()
    assert db.session.get(RectificationOrder, order.id).issued_at is not None


def test_plan_callbacks_command(people, app):
    db.session.add(
        CallbackSchedule(name="滨河小区二期", delivered_on=_today() - timedelta(days=40))
    )
    db.session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["plan-callbacks", "--user", people["office"].username])
    assert result.exit_code == 0 and "1 个" in result.output
    again = runner.invoke(args=["plan-callbacks", "--user", people["office"].username])
    assert "0 个" in again.output
    refused = runner.invoke(args=["plan-callbacks", "--user", people["registrar"].username])
    assert refused.exit_code != 0
