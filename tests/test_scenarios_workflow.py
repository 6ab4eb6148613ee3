"""Acceptance scenarios S1, S2, S4, S5, S6, S18 and S20 (requirements.md §9) through the admin,
with the test client, each "Shows" line checked on the pages a person would open."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from models import Callback, Case, CaseClock, CaseEvent, Notification, Unit, db
from models.base import utcnow
from models.enums import CasePriority, CaseStatus, Clock, EventKind, OutOfScopePolicy, Satisfaction
from models.operations.deadlines import run_escalations


@pytest.fixture
def people(app, government, create_user):
    units = {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}
    office_unit = units["县信访局"]
    housing = units["县住房和城乡建设局"]
    return {
        "office": create_user("office", unit=office_unit),
        "registrar": create_user("registrar", unit=office_unit),
        "leader": create_user("leader", unit=units["县政府领导"]),
        "head": create_user("dept_head", unit=housing),
        "handler": create_user("handler", unit=housing),
        "housing": housing,
        "court": units["县人民法院"],
        "city": units["市信访局"],
    }


def step(client, login_as, user, code, case, expect_ok=True, **form):
    login_as(user)
    page = client.get(f"/admin/workflow/{code}/{case.id}/")
    # 403: the user lacks the step's permission; 302: the case is not in a state for it.
    assert page.status_code in (200, 302, 403)
    data = {
        key: ("y" if value is True else value) for key, value in form.items() if value is not False
    }
    if page.status_code == 200:
        token = page.get_data(as_text=True).split('name="expected_version" type="hidden" value="')
        if len(token) > 1:
            data.setdefault("expected_version", token[1].split('"')[0])
    response = client.post(f"/admin/workflow/{code}/{case.id}/", data=data)
    if expect_ok:
        assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
        db.session.expire_all()
        last = db.session.scalars(
            sa.select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id.desc())
        ).first()
        assert last.kind == EventKind(code)
    return response


def details(client, case) -> str:
    response = client.get(f"/admin/case/details/?id={case.id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def fresh(case) -> Case:
    db.session.expire_all()
    return db.session.get(Case, case.id)


def test_s1_urgent_letter_instruction_reply_close_callback(
    app, client, login_as, people, create_case
):
    # 1-2. Registered, marked urgent, sent for reading: the leader's due date is the 3rd
    # working day after receipt.
    received = utcnow() - timedelta(hours=1)
    case = create_case(by=people["registrar"], priority=CasePriority.urgent, received_at=received)
    step(
        client, login_as, people["registrar"], "send_for_reading", case, leader=people["leader"].id
    )
    case = fresh(case)
    assert case.status == CaseStatus.awaiting_instruction
    page = details(client, case)
    assert "待阅批" in page and "领导批示时限" in page
    # The button row offers the registrar no leader instruction.
    assert "/admin/workflow/instruct/" not in page
    # 3. The leader instructs and designates the handling section and handler.
    step(
        client,
        login_as,
        people["leader"],
        "instruct",
        case,
        instruction="请住建局3日内办理并答复",
        handling_unit=people["housing"].id,
        handler=people["handler"].id,
    )
    case = fresh(case)
    assert case.status == CaseStatus.assigned
    handling = next(c for c in case.clocks if c.kind == Clock.handling)
    assert handling.amount == 3  # urgent: 3 working days from the leader's review
    page = details(client, case)
    assert "请住建局3日内办理并答复" in page and "已交办" in page
    # 4. The handler signs, investigates and reports; the department head approves.
    step(client, login_as, people["handler"], "acknowledge", case)
    step(client, login_as, people["handler"], "investigate", case, findings="现场核实属实")
    step(
        client,
        login_as,
        people["handler"],
        "report_result",
        case,
        facts="道路破损属实",
        decision="已安排维修",
    )
    step(client, login_as, people["head"], "approve_result", case, note="同意")
    assert fresh(case).result_approved_by_id == people["head"].id
    # 5. The office replies by letter.
    step(client, login_as, people["office"], "reply", case, method="letter", text="已维修")
    case = fresh(case)
    assert case.status == CaseStatus.replied and case.replied_at is not None
    # 6. The principal leader signs the closing opinion (the office may not).
    step(client, login_as, people["office"], "close", case, expect_ok=False, opinion="办结")
    assert fresh(case).status == CaseStatus.replied
    step(client, login_as, people["leader"], "close", case, opinion="同意办结")
    case = fresh(case)
    assert case.status == CaseStatus.closed
    # 7. A callback clock of one week runs; the satisfied callback stops it.
    callback_clock = next(c for c in case.clocks if c.kind == Clock.callback)
    assert callback_clock.stopped_at is None
    login_as(people["office"])
    response = client.post(
        f"/admin/callback/new/?case_id={case.id}",
        data={
            "case": str(case.id),
            "method": "phone",
            "done_at": utcnow().strftime("%Y-%m-%dT%H:%M"),
            "satisfaction": "satisfied",
            "person_reached": "张三",
        },
    )
    assert response.status_code == 302
    case = fresh(case)
    assert case.status == CaseStatus.closed
    assert next(c for c in case.clocks if c.kind == Clock.callback).stopped_at is not None


def test_s2_late_letter_urging_interim_report_and_overdue(
    app, client, login_as, people, create_case
):
    start = utcnow() - timedelta(days=12)
    case = create_case(by=people["registrar"], received_at=start)
    case.instructed_at = start
    db.session.commit()
    step(
        client,
        login_as,
        people["office"],
        "assign",
        case,
        handling_unit=people["housing"].id,
        handler=people["handler"].id,
    )
    case = fresh(case)
    handling = next(c for c in case.clocks if c.kind == Clock.handling)
    assert handling.amount == 5  # general item: 5 working days
    page = details(client, case)
    assert "剩余" in page and "承办时限" in page
    # Day 4: the office urges; the urging history is on the case and the handler is told.
    step(client, login_as, people["office"], "urge", case, note="请于明日前报结")
    assert "请于明日前报结" in details(client, case)
    assert (
        db.session.scalar(
            sa.select(sa.func.count(Notification.id)).where(
                Notification.user_id == people["handler"].id
            )
        )
        >= 2
    )
    # The handler files an interim report and asks for more time; the leader decides.
    step(client, login_as, people["handler"], "interim_report", case, reason="等待现场勘验")
    step(
        client,
        login_as,
        people["handler"],
        "request_extension",
        case,
        clock="handling",
        amount="3",
        reason="等待勘验结果",
    )
    step(client, login_as, people["leader"], "decide_extension", case, approved="1")
    case = fresh(case)
    handling = next(c for c in case.clocks if c.kind == Clock.handling)
    assert handling.extension == 3
    # Beyond the cap (5 working days in the government preset) is refused with its reason.
    response = step(
        client,
        login_as,
        people["handler"],
        "request_extension",
        case,
        expect_ok=False,
        clock="handling",
        amount="3",
        reason="还需时间",
    )
    assert "延期不得超过5" in response.get_data(as_text=True)
    # Without the work being done the clock runs out: the case appears in the overdue list,
    # the filter and the unit summary, and escalation warns upwards.
    handling.started_at = utcnow() - timedelta(days=30)
    from models.operations.deadlines import refresh_due

    refresh_due(handling)
    db.session.commit()
    login_as(people["office"])
    overdue_page = client.get("/admin/worklist/?tab=overdue").get_data(as_text=True)
    assert case.number in overdue_page
    listing = client.get("/admin/case/?flt0_0=overdue").get_data(as_text=True)
    assert "办理时限" in listing
    units_page = client.get("/admin/worklist/?tab=units").get_data(as_text=True)
    assert "县住房和城乡建设局" in units_page
    assert run_escalations() >= 1
    db.session.commit()
    login_as(people["leader"])
    page = client.get("/admin/worklist/?tab=notifications").get_data(as_text=True)
    assert case.number in page
    assert "超期预警" in details(client, case)


def test_s4_out_of_scope_letter_returned_or_transferred(app, client, login_as, people, create_case):
    # The construction-quality station: return within 15 days, never forward.
    people["registrar"].unit.out_of_scope_policy = OutOfScopePolicy.return_only
    db.session.commit()
    case = create_case(by=people["registrar"])
    page = details(client, login_as(people["registrar"]) and case)
    assert "/admin/workflow/return_to_sender/" in page
    assert "/admin/workflow/transfer/" not in page
    response = step(
        client,
        login_as,
        people["registrar"],
        "transfer",
        case,
        expect_ok=False,
        target_unit=people["court"].id,
        reason="不属本站职责",
    )
    assert fresh(case).status == CaseStatus.registered
    handover = next(c for c in fresh(case).clocks if c.kind == Clock.handover)
    assert handover.amount == 15
    step(
        client,
        login_as,
        people["registrar"],
        "return_to_sender",
        case,
        returned_to="市信访局",
        reason="该事项属法院职责，不属本站受理范围",
    )
    assert fresh(case).status == CaseStatus.returned
    # The office configuration: transfer to the competent body and tell the petitioner.
    people["registrar"].unit.out_of_scope_policy = OutOfScopePolicy.transfer
    db.session.commit()
    other = create_case(by=people["registrar"])
    step(
        client,
        login_as,
        people["registrar"],
        "transfer",
        other,
        target_unit=people["court"].id,
        reason="属法院职责",
        petitioner_informed=True,
        informed_how="电话告知",
    )
    other = fresh(other)
    assert other.status == CaseStatus.transferred
    assert "电话告知" in details(client, other)
    assert response.status_code == 302


def test_s5_anonymous_letter_is_handled_but_not_replied(app, client, login_as, people, create_case):
    case = create_case(by=people["registrar"], is_anonymous=True, subject="举报违法建设")
    assert not fresh(case).petitioners
    step(
        client,
        login_as,
        people["leader"],
        "instruct",
        case,
        instruction="请核查",
        handling_unit=people["housing"].id,
        handler=people["handler"].id,
    )
    assert not any(c.kind == Clock.reply for c in fresh(case).clocks)
    step(client, login_as, people["handler"], "acknowledge", case)
    step(
        client, login_as, people["handler"], "report_result", case, facts="属实", decision="已拆除"
    )
    step(client, login_as, people["head"], "approve_result", case)
    page = details(client, login_as(people["office"]) and case)
    assert "/admin/workflow/reply/" not in page
    assert "匿名事项：照常办理，不予答复" in page
    response = step(
        client,
        login_as,
        people["office"],
        "reply",
        case,
        expect_ok=False,
        method="letter",
        text="x",
    )
    assert fresh(case).status == CaseStatus.result_reported
    assert response.status_code == 302
    step(client, login_as, people["leader"], "close", case, opinion="办结")
    assert fresh(case).status == CaseStatus.closed


def test_s6_reception_day_supervision_card(app, client, login_as, people, create_case):
    # Visitor A: a legal-procedure question answered on the spot.
    visitor_a = create_case(by=people["registrar"], subject="咨询诉讼程序")
    step(client, login_as, people["registrar"], "answer_on_spot", visitor_a, answer="已解答")
    assert fresh(visitor_a).status == CaseStatus.closed
    assert "当场答复" in details(client, visitor_a)
    # Visitor B: the president fills in the supervision card with a 15-day deadline.
    visitor_b = create_case(by=people["registrar"], subject="判决执行迟缓")
    due = date.today() + timedelta(days=15)
    step(
        client,
        login_as,
        people["leader"],
        "instruct",
        visitor_b,
        instruction="请执行局15日内办结并报告",
        handling_unit=people["housing"].id,
        due_on=due.isoformat(),
        supervised=True,
    )
    visitor_b = fresh(visitor_b)
    assert visitor_b.status == CaseStatus.assigned and visitor_b.is_supervised
    handling = next(c for c in visitor_b.clocks if c.kind == Clock.handling)
    assert handling.fixed_due_on == due
    page = details(client, visitor_b)
    assert "督办" in page and "批示期限" in page
    # Per-unit figures for the month-end status report.
    login_as(people["office"])
    assert "县住房和城乡建设局" in client.get("/admin/worklist/?tab=units").get_data(as_text=True)


def test_s18_sixty_days_extension_send_back_reply_review(
    app, client, login_as, people, create_case
):
    case = create_case(by=people["registrar"], subject="土地补偿")
    step(client, login_as, people["registrar"], "accept", case)
    case = fresh(case)
    closing = next(c for c in case.clocks if c.kind == Clock.closing)
    assert closing.amount == 60 and closing.max_extension == 30
    step(
        client,
        login_as,
        people["leader"],
        "instruct",
        case,
        instruction="请自然资源局办理",
        handling_unit=people["housing"].id,
        handler=people["handler"].id,
    )
    step(client, login_as, people["handler"], "acknowledge", case)
    # More than 30 days is refused; exactly 30 is granted.
    response = step(
        client,
        login_as,
        people["handler"],
        "request_extension",
        case,
        expect_ok=False,
        clock="closing",
        amount="31",
        reason="情况复杂",
    )
    assert "延期不得超过30" in response.get_data(as_text=True)
    step(
        client,
        login_as,
        people["handler"],
        "request_extension",
        case,
        clock="closing",
        amount="30",
        reason="情况复杂，需评估",
    )
    step(client, login_as, people["leader"], "decide_extension", case, approved="1")
    closing = next(c for c in fresh(case).clocks if c.kind == Clock.closing)
    assert closing.extension == 30
    # The leader sends the result back once, then it is registered as closed.
    step(
        client, login_as, people["handler"], "report_result", case, facts="初查", decision="拟补偿"
    )
    step(client, login_as, people["office"], "send_back", case, reason="补偿标准依据不足")
    assert fresh(case).status == CaseStatus.in_progress
    step(
        client,
        login_as,
        people["handler"],
        "report_result",
        case,
        facts="复查",
        decision="按标准补偿",
    )
    step(client, login_as, people["head"], "approve_result", case)
    step(client, login_as, people["office"], "reply", case, method="letter", text="书面答复")
    step(client, login_as, people["leader"], "close", case, opinion="结案")
    page = details(client, case)
    assert "退回重办" in page and "已办结" in page
    # Review, then re-review (final); a later review request is refused.
    step(client, login_as, people["office"], "request_review", case, reason="不服")
    assert next(c for c in fresh(case).clocks if c.kind == Clock.review).amount == 30
    step(client, login_as, people["office"], "answer_review", case, opinion="维持", upheld=True)
    step(client, login_as, people["office"], "request_re_review", case, reason="仍不服")
    step(client, login_as, people["office"], "answer_re_review", case, opinion="维持，复核终结")
    case = fresh(case)
    assert case.status == CaseStatus.closed and case.review_level == 2
    login_as(people["office"])
    response = client.get(f"/admin/workflow/request_review/{case.id}/", follow_redirects=True)
    assert "已复核终结，不再受理" in response.get_data(as_text=True)
    later = create_case(by=people["registrar"], subject="土地补偿（再次）")
    step(client, login_as, people["registrar"], "no_longer_accept", later, reason="已复核终结")
    assert fresh(later).status == CaseStatus.no_longer_accepted


def test_s20_not_accepted_kept_and_destroyed(app, client, login_as, people, create_case):
    case = create_case(by=people["registrar"], subject="已起诉的纠纷")
    step(
        client,
        login_as,
        people["registrar"],
        "not_accept",
        case,
        reason="已进入诉讼程序",
        legal_route="诉讼、仲裁、行政复议等法定途径",
    )
    assert fresh(case).status == CaseStatus.not_accepted
    assert "诉讼、仲裁、行政复议等法定途径" in details(client, case)
    earlier = create_case(by=people["registrar"], subject="道路维修")
    repeat = create_case(by=people["registrar"], subject="道路维修（重复来信）")
    step(
        client,
        login_as,
        people["registrar"],
        "keep",
        repeat,
        region="城关镇",
        year="2025",
        related_number=earlier.number,
    )
    repeat = fresh(repeat)
    assert (repeat.status, repeat.kept_region, repeat.kept_year) == (
        CaseStatus.kept,
        "城关镇",
        2025,
    )
    # A kept letter with a recent callback record cannot be destroyed early.
    db.session.add(Callback(case_id=repeat.id, note="x", created_by_id=people["office"].id))
    db.session.commit()
    step(client, login_as, people["office"], "destroy", repeat, expect_ok=False, batch="2025-1")
    assert fresh(repeat).status == CaseStatus.kept
    db.session.execute(sa.delete(Callback))
    db.session.commit()
    step(client, login_as, people["office"], "destroy", repeat, batch="2025年第一批")
    assert fresh(repeat).status == CaseStatus.destroyed
    events = details(client, repeat)
    assert "销毁存信" in events and "2025年第一批" in events


def test_buttons_follow_permissions_and_endpoints_enforce_them(
    app, client, login_as, people, create_case
):
    case = create_case(by=people["registrar"])
    login_as(people["handler"])
    assert client.get(f"/admin/workflow/accept/{case.id}/").status_code == 404  # not visible
    login_as(people["leader"])
    page = details(client, case)
    assert "/admin/workflow/accept/" not in page
    response = client.post(f"/admin/workflow/accept/{case.id}/", data={})
    assert response.status_code == 403
    assert fresh(case).status == CaseStatus.registered
    assert client.get("/admin/workflow/nonsense/1/").status_code == 404


def test_dissatisfied_callback_reopens_the_case(app, people, create_case):
    from models.operations.callbacks import record_callback

    case = create_case(by=people["registrar"])
    case.status = CaseStatus.closed
    case.handling_unit = people["housing"]
    db.session.commit()
    record_callback(
        Callback(case=case, done_at=utcnow(), satisfaction=Satisfaction.dissatisfied),
        by=people["office"],
    )
    db.session.commit()
    assert fresh(case).status == CaseStatus.in_progress
    assert (
        db.session.scalar(
            sa.select(sa.func.count(CaseClock.id)).where(
                CaseClock.case_id == case.id, CaseClock.kind == Clock.handling
            )
        )
        >= 1
    )


def test_registration_suggests_open_cases_of_the_same_person(
    app, client, login_as, people, create_case, create_party
):
    person = create_party("李四", phone="13800138000", id_number="11010519491231002X")
    case = create_case(by=people["registrar"], petitioners=[person], subject="小区噪声扰民")
    login_as(people["registrar"])
    by_phone = client.get("/admin/workflow/similar/?phone=13800138000").get_json()
    assert [row["number"] for row in by_phone] == [case.number]
    by_name = client.get("/admin/workflow/similar/?name=李四&subject=噪声扰民严重").get_json()
    assert [row["number"] for row in by_name] == [case.number]
    assert client.get("/admin/workflow/similar/?name=李四&subject=道路维修").get_json() == []
    page = client.get("/admin/letter/new/").get_data(as_text=True)
    assert "/admin/workflow/similar/" in page


def test_merge_keeps_both_numbers_leading_to_the_survivor(
    app, client, login_as, people, create_case
):
    survivor = create_case(by=people["registrar"], subject="道路积水")
    duplicate = create_case(by=people["registrar"], subject="道路积水（重复）")
    step(
        client,
        login_as,
        people["office"],
        "merge",
        duplicate,
        into_number=survivor.number,
        reason="同一事项",
    )
    assert fresh(duplicate).status == CaseStatus.merged
    assert fresh(survivor).repeat_count >= 1
    listing = client.get(f"/admin/case/?search={duplicate.number}").get_data(as_text=True)
    assert duplicate.number in listing
    response = client.get(f"/admin/case/details/?id={duplicate.id}")
    assert response.status_code == 302
    assert f"id={survivor.id}" in response.headers["Location"]
    assert duplicate.number in details(client, survivor)


def test_split_children_block_the_parent_from_closing(app, client, login_as, people, create_case):
    parent = create_case(by=people["registrar"], subject="多部门事项")
    step(client, login_as, people["registrar"], "accept", parent)
    step(
        client,
        login_as,
        people["office"],
        "split",
        parent,
        units=[str(people["housing"].id), str(people["city"].id)],
    )
    children = db.session.scalars(sa.select(Case).where(Case.parent_id == parent.id)).all()
    assert len(children) == 2 and all(c.status == CaseStatus.assigned for c in children)
    parent = fresh(parent)
    parent.status = CaseStatus.replied
    parent.result_approved_at = utcnow()
    db.session.commit()
    response = client.get(f"/admin/workflow/close/{parent.id}/", follow_redirects=True)
    login_as(people["leader"])
    response = client.get(f"/admin/workflow/close/{parent.id}/", follow_redirects=True)
    assert "拆分出的子事项尚未办结" in response.get_data(as_text=True)
    assert fresh(parent).status == CaseStatus.replied
