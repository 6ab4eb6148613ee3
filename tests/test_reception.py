"""Reception through the admin UI: S6 (reception day and queue), S11 (application and pass),
S16 (opinion box), the not-returned list, the ban warning and refused bad input."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from models import (
    Appointment,
    CalendarOverride,
    Case,
    CaseEvent,
    OpinionBox,
    OpinionBoxOpening,
    Party,
    ReceptionLeader,
    ReceptionQueueEntry,
    ReceptionSchedule,
    Unit,
    Visit,
    VisitorPass,
    db,
)
from models.base import local_zone, utcnow
from models.calendar import forget_work_calendar
from models.enums import AppointmentStatus, CaseChannel, EventKind
from models.operations.reception import local_today
from models.reception_days import reception_days
from models.validation import resident_id_check_char
from tests.conftest import row_counts


def resident_id(first17: str) -> str:
    return first17 + resident_id_check_char(first17)


VISITOR_ID = resident_id("11010519800101123")
TROUBLEMAKER_ID = resident_id("52010219750505551")


def local_text(delta: timedelta) -> str:
    return (utcnow() + delta).astimezone(local_zone()).strftime("%Y-%m-%dT%H:%M")


def text_of(response) -> str:
    return response.get_data(as_text=True)


# -- S6: the court president's reception day ----------------------------------------------


def _set_up_court(client):
    for name, post, portfolio in (
        ("王院长", "院长", "全面工作"),
        ("李副院长", "副院长", "执行工作"),
        ("张副院长", "副院长", "审判管理"),
    ):
        response = client.post(
            "/admin/receptionleader/new/",
            data={
                "name": name,
                "post": post,
                "portfolio": portfolio,
                "contact": "0851-22334455",
                "sort_order": "0",
                "is_active": "y",
            },
        )
        assert response.status_code == 302, text_of(response)
    leaders = {leader.name: leader for leader in db.session.scalars(sa.select(ReceptionLeader))}
    start = local_today().replace(day=1).isoformat()
    response = client.post(
        "/admin/receptionschedule/new/",
        data={
            "name": "院长接待日",
            "recurrence": "monthly_weekday",
            "weekday": "0",
            "week_of_month": "1",
            "start_time": "09:00",
            "end_time": "12:00",
            "place": "立案庭接待室",
            "leader": str(leaders["王院长"].id),
            "priority": "10",
            "starts_on": start,
            "is_active": "y",
        },
    )
    assert response.status_code == 302, text_of(response)
    response = client.post(
        "/admin/receptionschedule/new/",
        data={
            "name": "院领导轮流接待",
            "recurrence": "weekly",
            "weekday": "0",
            "week_of_month": "",
            "start_time": "09:00",
            "end_time": "12:00",
            "place": "立案庭接待室",
            "leader": "__None",
            "priority": "0",
            "starts_on": start,
            "is_active": "y",
            "rota-0-position": "1",
            "rota-0-leader": str(leaders["李副院长"].id),
            "rota-1-position": "2",
            "rota-1-leader": str(leaders["张副院长"].id),
        },
    )
    assert response.status_code == 302, text_of(response)
    return leaders


def test_s6_schedule_queue_and_visits_linked_to_cases(
    create_user, login_as, create_party, create_case, government
):
    office = create_user("office")
    client = login_as(office)
    leaders = _set_up_court(client)
    rota = db.session.scalar(sa.select(ReceptionSchedule).where(ReceptionSchedule.priority == 0))
    assert [member.leader.name for member in rota.rota] == ["李副院长", "张副院长"]

    # The published schedule: the president on first Mondays, the rota on the other Mondays.
    today = local_today()
    html = text_of(client.get(f"/admin/reception/schedule/?start={today.replace(day=1)}&months=3"))
    assert "领导接待日安排表" in html
    occurrences = reception_days(today.replace(day=1), today + timedelta(days=70))
    assert occurrences
    for occurrence in occurrences:
        expected = "王院长" if occurrence.day.day <= 7 else ("李副院长", "张副院长")
        assert occurrence.leader.name in expected
    assert (
        "王院长" in html and "李副院长" in html and "全面工作" in html and "0851-22334455" in html
    )

    # The case-filing division queues two visitors for the next reception day.
    upcoming = next(o for o in reception_days(today, today + timedelta(days=40)))
    visitor_a = create_party("甲某", id_number=VISITOR_ID)
    visitor_b = create_party("乙某")
    existing = create_case(subject="判决执行迟延", petitioners=[visitor_b])
    response = client.post(
        "/admin/receptionqueue/new/",
        data={
            "day": upcoming.day.isoformat(),
            "schedule": str(upcoming.schedule.id),
            "party": str(visitor_a.id),
            "purpose": "咨询诉讼程序",
            "new_subject": "咨询诉讼程序",
            "new_content": "询问上诉期限和程序",
        },
    )
    assert response.status_code == 302, text_of(response)
    response = client.post(
        "/admin/receptionqueue/new/",
        data={
            "day": upcoming.day.isoformat(),
            "schedule": str(upcoming.schedule.id),
            "party": str(visitor_b.id),
            "purpose": "反映判决执行迟延",
            "case": str(existing.id),
        },
    )
    assert response.status_code == 302, text_of(response)

    entries = db.session.scalars(
        sa.select(ReceptionQueueEntry).order_by(ReceptionQueueEntry.queue_number)
    ).all()
    assert [e.queue_number for e in entries] == [1, 2]
    first, second = entries
    assert first.leader.name == upcoming.leader.name
    assert first.case.channel == CaseChannel.visit and visitor_a in first.case.petitioners
    assert second.case_id == existing.id
    for entry in entries:
        assert entry.visit is not None and entry.visit.case_id == entry.case_id
        assert db.session.scalar(
            sa.select(CaseEvent.id).where(
                CaseEvent.case_id == entry.case_id,
                CaseEvent.kind == EventKind.visit_added,
                CaseEvent.visit_id == entry.visit_id,
            )
        )

    # The desk's day view shows the leader's queue, each visit linked to its case.
    desk = text_of(client.get(f"/admin/reception/?day={upcoming.day.isoformat()}"))
    assert upcoming.leader.name in desk
    assert f"/admin/case/details/?id={first.case_id}" in desk and first.case.number in desk
    assert f"/admin/case/details/?id={existing.id}" in desk
    queue_list = text_of(client.get("/admin/receptionqueue/"))
    assert existing.number in queue_list

    # The leader (who holds reception.approve) marks the first visitor received.
    leader_user = create_user("leader")
    response = login_as(leader_user).post(
        f"/admin/receptionqueue/status/?id={first.id}", data={"status": "received"}
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(ReceptionQueueEntry, first.id).received_at is not None
    assert leaders


def test_queue_on_a_holiday_or_off_day_is_refused(create_user, login_as, create_party, government):
    client = login_as(create_user("office"))
    _set_up_court(client)
    today = local_today()
    upcoming = next(o for o in reception_days(today, today + timedelta(days=40)))
    db.session.add(CalendarOverride(day=upcoming.day, is_working=False, note="临时调休"))
    db.session.commit()
    forget_work_calendar()
    party = create_party("丙某")
    before = row_counts()
    data = {
        "day": upcoming.day.isoformat(),
        "schedule": str(upcoming.schedule.id),
        "party": str(party.id),
        "purpose": "反映问题",
        "new_subject": "反映问题",
        "new_content": "内容",
    }
    html = text_of(client.post("/admin/receptionqueue/new/", data=data))
    assert "节假日不接待" in html
    tuesday = upcoming.day + timedelta(days=1)
    html = text_of(client.post("/admin/receptionqueue/new/", data={**data, "day": str(tuesday)}))
    assert "不是“" in html and "的接待日" in html
    assert row_counts() == before


# -- S11: advance application, temporary pass, incident and ban ------------------------------


def test_s11_application_pass_return_and_ban(create_user, login_as, government):
    units = db.session.scalars(sa.select(Unit).where(Unit.parent_id.is_not(None))).all()
    registrar = create_user("registrar")
    client = login_as(registrar)
    response = client.post(
        "/admin/appointment/new/",
        data={
            "kind": "application",
            "channel": "in_person",
            "visitor_name": "孙来访",
            "gender": "male",
            "id_type": "resident_id",
            "id_number": VISITOR_ID,
            "head_count": "1",
            "unit": str(units[0].id),
            "expected_at": local_text(timedelta(hours=1)),
            "purpose": "洽谈工程验收",
            "signature_confirmed": "y",
        },
    )
    assert response.status_code == 302, text_of(response)
    application = db.session.scalar(sa.select(Appointment))
    assert application.status == AppointmentStatus.pending and not application.is_valid
    details = text_of(client.get(f"/admin/appointment/details/?id={application.id}"))
    assert "未经批准前无效" in details

    # Not valid until approved: no pass can be issued against it.
    before = row_counts()
    pass_data = {
        "appointment": str(application.id),
        "id_checked": "y",
        "pass_number": "023",
        "host_name": "工程部刘工",
        "host_confirmed": "y",
    }
    html = text_of(client.post("/admin/visitorpass/new/", data=pass_data))
    assert "未经批准不能凭此发证" in html
    assert row_counts() == before

    # Someone without the right, or a department head of another unit, cannot approve.
    refused = client.post(f"/admin/appointment/approve/?id={application.id}", follow_redirects=True)
    assert "您没有审批来访申请的权限" in text_of(refused)
    # Another unit's head does not even see the application (models.policies).
    other_head = create_user("dept_head", unit=units[1])
    refused = login_as(other_head).post(
        f"/admin/appointment/approve/?id={application.id}", follow_redirects=True
    )
    assert refused.status_code == 404
    db.session.expire_all()
    assert db.session.get(Appointment, application.id).status == AppointmentStatus.pending

    head = create_user("dept_head", unit=units[0])
    response = login_as(head).post(
        f"/admin/appointment/approve/?id={application.id}", data={"note": "同意"}
    )
    assert response.status_code == 302
    db.session.expire_all()
    application = db.session.get(Appointment, application.id)
    assert application.status == AppointmentStatus.approved and application.decided_by_id == head.id

    # On arrival: ID checked, pass no. 023 issued, host recorded.
    client = login_as(registrar)
    response = client.post("/admin/visitorpass/new/", data=pass_data)
    assert response.status_code == 302, text_of(response)
    issued = db.session.scalar(sa.select(VisitorPass))
    assert issued.pass_number == "023" and issued.visitor_name == "孙来访"
    assert issued.host_display == "工程部刘工" and issued.issued_at is not None

    # Pass 023 is out: handing it out again is refused, nothing saved.
    before = row_counts()
    html = text_of(
        client.post(
            "/admin/visitorpass/new/",
            data={
                "visitor_name": "周某",
                "id_number": resident_id("11010519900202222"),
                "id_checked": "y",
                "pass_number": "023",
                "host_name": "办公室",
            },
        )
    )
    assert "023 号通行证尚未归还" in html
    assert row_counts() == before

    # The not-returned list shows it until it comes back.
    outstanding = text_of(client.get("/admin/visitorpass/?flt0_0=1"))
    assert "孙来访" in outstanding
    assert "孙来访" in text_of(client.get("/admin/reception/"))

    response = client.post(
        "/admin/visitorpass/return/",
        data={
            "pass_number": "023",
            "host_confirmed": "y",
            "feedback_rating": "satisfied",
            "feedback_comment": "接待热情",
        },
    )
    assert response.status_code == 302, text_of(response)
    db.session.expire_all()
    returned = db.session.get(VisitorPass, issued.id)
    assert returned.returned_at is not None and returned.returned_to_id == registrar.id
    assert "孙来访" not in text_of(client.get("/admin/visitorpass/?flt0_0=1"))
    desk = text_of(client.get("/admin/reception/"))
    assert "未归还的通行证（0）" in desk and "满意率" in desk

    # A return without an issue is refused.
    before = row_counts()
    html = text_of(client.post("/admin/visitorpass/return/", data={"pass_number": "023"}))
    assert "没有发出未还的 023 号通行证" in html
    html = text_of(client.post("/admin/visitorpass/return/", data={"pass_number": "999"}))
    assert "没有发出未还的 999 号通行证" in html
    assert row_counts() == before

    # Another visitor enters a restricted area and refuses inspection: incident and ban.
    response = client.post(
        "/admin/visitincident/new/",
        data={
            "visitor_name": "吴闹事",
            "id_number": TROUBLEMAKER_ID,
            "occurred_at": local_text(timedelta(minutes=-10)),
            "kind": "restricted_area",
            "measure": "banned",
            "description": "擅自进入档案室，拒绝保安检查，由保安带离。",
        },
    )
    assert response.status_code == 302, text_of(response)
    banned = db.session.scalar(sa.select(Party).where(Party.id_number == TROUBLEMAKER_ID))
    assert banned is not None and banned.is_banned
    assert "吴闹事" in text_of(client.get("/admin/visitincident/"))

    # The next registration with the same ID number warns before anything is saved.
    before = row_counts()
    walk_in = {
        "visitor_name": "吴闹事",
        "id_type": "resident_id",
        "id_number": TROUBLEMAKER_ID,
        "id_checked": "y",
        "pass_number": "031",
        "host_name": "信访办",
    }
    html = text_of(client.post("/admin/visitorpass/new/", data=walk_in))
    assert "已被列入禁止来访名单" in html and "吴闹事" in html
    appointment = {
        "kind": "appointment",
        "channel": "phone",
        "visitor_name": "吴闹事",
        "id_type": "resident_id",
        "id_number": TROUBLEMAKER_ID,
        "head_count": "1",
        "expected_at": local_text(timedelta(days=1)),
        "purpose": "再次来访",
    }
    html = text_of(client.post("/admin/appointment/new/", data=appointment))
    assert "已被列入禁止来访名单" in html
    assert row_counts() == before
    # Acknowledged on purpose (a leader agreed), the registration goes through.
    response = client.post("/admin/visitorpass/new/", data={**walk_in, "ban_acknowledged": "y"})
    assert response.status_code == 302


def test_pass_needs_checked_identity_and_a_host(create_user, login_as, government):
    client = login_as(create_user("registrar"))
    before = row_counts()
    data = {"visitor_name": "郑某", "id_number": VISITOR_ID, "pass_number": "040"}
    assert "请先核验来访人身份证件" in text_of(client.post("/admin/visitorpass/new/", data=data))
    data["id_checked"] = "y"
    assert "请填写被访人" in text_of(client.post("/admin/visitorpass/new/", data=data))
    assert row_counts() == before


def test_appointment_may_be_booked_ahead_and_shows_on_its_day(create_user, login_as, government):
    client = login_as(create_user("registrar"))
    response = client.post(
        "/admin/appointment/new/",
        data={
            "kind": "appointment",
            "channel": "email",
            "visitor_name": "冯预约",
            "head_count": "2",
            "expected_at": local_text(timedelta(days=1)),
            "purpose": "约见局领导",
        },
    )
    assert response.status_code == 302, text_of(response)
    appointment = db.session.scalar(sa.select(Appointment))
    assert appointment.is_valid
    day = (utcnow() + timedelta(days=1)).astimezone(local_zone()).date()
    assert "冯预约" in text_of(client.get(f"/admin/reception/?day={day.isoformat()}"))
    assert "冯预约" not in text_of(client.get("/admin/reception/?day=2020-01-01"))


# -- S16: the opinion box -------------------------------------------------------------------


def test_s16_opinion_box_reminder_opening_and_slips(create_user, login_as, government):
    office = create_user("office")
    client = login_as(office)
    response = client.post(
        "/admin/opinionbox/new/",
        data={
            "name": "大厅意见箱",
            "location": "一楼大厅",
            "opener": str(office.id),
            "interval_days": "5",
            "is_active": "y",
        },
    )
    assert response.status_code == 302, text_of(response)
    box = db.session.scalar(sa.select(OpinionBox))
    today = local_today()
    assert box.next_due_on == today + timedelta(days=5)
    # The list of boxes due today (the page's flash still names the box just saved).
    due = client.get("/admin/opinionbox/?flt0_0=due")
    assert "大厅意见箱" not in text_of(due).replace("已保存：大厅意见箱", "")

    # Skipped openings: twelve days late means three missed five-day openings.
    box.next_due_on = today - timedelta(days=12)
    db.session.commit()
    assert box.missed_openings(today) == 3
    overdue = text_of(client.get("/admin/opinionbox/?flt0_0=overdue"))
    assert "大厅意见箱" in overdue and "逾期 12 天，漏开 3 次" in overdue
    assert "意见箱开启提醒" in text_of(client.get("/admin/reception/"))

    # A count that does not match the slips entered is refused, nothing saved.
    slips = "建议增设自行车停放架。\n\n大厅饮水机经常没水。\n\n窗口工作人员态度很好，提出表扬。"
    before = row_counts()
    html = text_of(
        client.post(
            "/admin/opinionboxopening/new/",
            data={
                "box": str(box.id),
                "opened_on": today.isoformat(),
                "opener": str(office.id),
                "slip_count": "2",
                "slips": slips,
            },
        )
    )
    assert "意见条数量填写为 2，但录入了 3 条内容" in html
    assert row_counts() == before

    response = client.post(
        "/admin/opinionboxopening/new/",
        data={
            "box": str(box.id),
            "opened_on": today.isoformat(),
            "opener": str(office.id),
            "slip_count": "3",
            "slips": slips,
        },
    )
    assert response.status_code == 302, text_of(response)
    opening = db.session.scalar(sa.select(OpinionBoxOpening))
    assert opening.slip_count == 3 and opening.opener_id == office.id
    cases = opening.cases
    assert len(cases) == 3
    assert all(case.channel == CaseChannel.opinion_box for case in cases)
    assert cases[0].subject == "建议增设自行车停放架"  # the full stop stays in the content
    assert cases[0].content == "建议增设自行车停放架。"
    db.session.refresh(box)
    assert box.next_due_on == today + timedelta(days=5)
    log = text_of(client.get("/admin/opinionboxopening/"))
    assert "大厅意见箱" in log and cases[0].number in log
    assert "意见箱开启提醒" not in text_of(client.get("/admin/reception/"))
    assert db.session.scalar(sa.select(sa.func.count(Case.id))) == 3
    assert db.session.scalar(sa.select(sa.func.count(Visit.id))) == 0


def test_reception_pages_follow_permissions(create_user, login_as, government):
    supervisor = login_as(create_user("supervisor"))
    assert supervisor.get("/admin/reception/").status_code == 403
    assert supervisor.get("/admin/appointment/").status_code == 403
    handler = login_as(create_user("handler"))
    assert handler.get("/admin/reception/schedule/").status_code == 403
    leader = login_as(create_user("leader"))
    assert leader.get("/admin/reception/").status_code == 200
    assert leader.get("/admin/reception/schedule/").status_code == 200
    # A leader may look, not set up schedules or hand out passes.
    assert leader.get("/admin/receptionschedule/new/").status_code == 302
    assert leader.get("/admin/visitorpass/new/").status_code == 302


def test_reception_enums_show_their_chinese_titles(create_user, login_as, government):
    client = login_as(create_user("registrar"))
    client.post(
        "/admin/appointment/new/",
        data={
            "kind": "application",
            "channel": "in_person",
            "visitor_name": "韩某",
            "id_type": "resident_id",
            "id_number": VISITOR_ID,
            "head_count": "1",
            "expected_at": local_text(timedelta(hours=3)),
            "purpose": "办事",
        },
    )
    appointment = db.session.scalar(sa.select(Appointment))
    details = text_of(client.get(f"/admin/appointment/details/?id={appointment.id}"))
    assert "来访申请" in details and "现场/书面" in details
    assert "in_person" not in details
    assert "现场/书面" in text_of(client.get("/admin/appointment/"))


def test_queue_hides_a_whistleblower_outside_the_cases_circle(
    create_user, login_as, create_party, create_case, government
):
    from models import Category
    from models.enums import CategoryKind

    office = create_user("office")
    client = login_as(office)
    _set_up_court(client)
    registrar = create_user("registrar")
    reporter = create_party("钱举报")
    category = db.session.scalar(sa.select(Category).where(Category.kind == CategoryKind.report))
    report = create_case(
        by=registrar, subject="举报违规发包", category=category, petitioners=[reporter]
    )
    upcoming = next(o for o in reception_days(local_today(), local_today() + timedelta(days=40)))
    response = client.post(
        "/admin/receptionqueue/new/",
        data={
            "day": upcoming.day.isoformat(),
            "schedule": str(upcoming.schedule.id),
            "party": str(reporter.id),
            "purpose": "当面举报",
            "case": str(report.id),
        },
    )
    assert response.status_code == 302, text_of(response)
    entry = db.session.scalars(sa.select(ReceptionQueueEntry)).one()
    pages = {
        "queue list": "/admin/receptionqueue/",
        "queue details": f"/admin/receptionqueue/details/?id={entry.id}",
        "desk": f"/admin/reception/?day={upcoming.day.isoformat()}",
    }

    # A registrar who did not take the report works the desk but may not see who reported.
    client = login_as(create_user("registrar"))
    for surface, url in pages.items():
        html = text_of(client.get(url))
        assert "当面举报" in html or surface == "queue details", surface
        assert "钱举报" not in html, surface
    # The registrar who took it, and the office (confidential permission), see the name.
    for user in (registrar, office):
        client = login_as(user)
        assert "钱举报" in text_of(client.get(pages["desk"]))
