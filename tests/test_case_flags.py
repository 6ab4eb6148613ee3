"""越级访 and 异常访: flags on the forms, the immediate report to leaders, statistics, reports."""

from __future__ import annotations

import html
import io
import re
from datetime import timedelta

import sqlalchemy as sa

from models import Case, CaseEvent, Notification, db
from models.base import local_zone, utcnow
from models.enums import CaseChannel, EventKind
from models.queries.statistics import StatsFilter, case_condition, summary

PAST = (utcnow() - timedelta(hours=3)).astimezone(local_zone()).strftime("%Y-%m-%d %H:%M:%S")


def _notifications(case: Case) -> list[tuple[int, str]]:
    return db.session.execute(
        sa.select(Notification.user_id, Notification.message)
        .where(Notification.case_id == case.id)
        .order_by(Notification.user_id)
    ).all()


def _reports(case: Case) -> list[str]:
    events = db.session.scalars(
        sa.select(CaseEvent)
        .where(CaseEvent.case_id == case.id, CaseEvent.kind == EventKind.reported_up)
        .order_by(CaseEvent.id)
    )
    return [event.data["flag"] for event in events]


def _edit(client, case: Case, **fields):
    data = {
        "channel": case.channel.value,
        "received_at": PAST,
        "priority": "normal",
        "subject": case.subject,
        "content": case.content,
        "head_count": str(case.head_count),
    }
    data.update(fields)
    return client.post(f"/admin/case/edit/?id={case.id}", data=data)


def test_edit_form_flags_are_saved_diffed_and_reported_once(
    government, create_user, create_case, login_as
):
    leader, office = create_user("leader"), create_user("office")
    handler = create_user("handler")
    case = create_case()
    assert _notifications(case) == []
    client = login_as(office)
    form = client.get(f"/admin/case/edit/?id={case.id}").get_data(as_text=True)
    assert 'name="is_beyond_level"' in form and 'name="is_abnormal"' in form

    assert _edit(client, case, is_beyond_level="y").status_code == 302
    case = db.session.get(Case, case.id)
    assert case.is_beyond_level and not case.is_abnormal
    edited = db.session.scalars(
        sa.select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == EventKind.edited)
    ).one()
    assert edited.data["is_beyond_level"] == [False, True]
    assert _reports(case) == ["beyond_level"]
    told = _notifications(case)
    assert [user_id for user_id, _message in told] == [leader.id, office.id]
    assert handler.id not in {user_id for user_id, _m in told}
    assert "越级访" in told[0][1] and case.number in told[0][1]

    # Unticking and ticking again, or any other edit, does not report it a second time.
    _edit(client, case)
    _edit(client, case, is_beyond_level="y", content="补充了情况")
    assert _reports(case) == ["beyond_level"]
    assert len(_notifications(case)) == 2

    # 异常访 is a separate report.
    _edit(client, case, is_beyond_level="y", is_abnormal="y")
    assert _reports(case) == ["beyond_level", "abnormal"]
    assert len(_notifications(case)) == 4

    page = client.get(f"/admin/case/details/?id={case.id}").get_data(as_text=True)
    assert "即时报告领导" in page and "越级访，已通知" in page
    assert page.count('badge badge-danger">异常访') == 1
    listing = login_as(leader).get("/admin/").get_data(as_text=True)
    assert listing  # the leader's navbar badge counts the unread warnings
    assert db.session.get(type(leader), leader.id).unread_notification_count == 2


def test_major_group_visit_is_reported_when_both_flags_meet(
    government, create_user, create_case, login_as
):
    leader = create_user("leader")
    case = create_case(channel=CaseChannel.visit, is_group=True, head_count=40)
    assert _reports(case) == []
    client = login_as(create_user("office"))
    _edit(client, case, is_group="y", is_major="y")
    assert _reports(case) == ["major_group"]
    assert "重大集体访" in _notifications(case)[0][1]
    assert _notifications(case)[0][0] == leader.id


def test_registration_forms_save_the_flags_and_report(government, create_user, login_as):
    leader = create_user("leader")
    client = login_as(create_user("registrar"))
    response = client.post(
        "/admin/visit/new/",
        data={
            "new_person_name": "王某",
            "new_subject": "征地补偿",
            "new_content": "到省信访局反映征地补偿问题后被接回",
            "new_priority": "normal",
            "new_is_beyond_level": "y",
            "visited_at": PAST,
            "kind": "individual",
            "head_count": "1",
            "purpose": "反映问题",
        },
    )
    assert response.status_code == 302
    case = db.session.scalars(sa.select(Case)).one()
    assert case.is_beyond_level and not case.is_abnormal
    assert _reports(case) == ["beyond_level"]
    assert [user_id for user_id, _m in _notifications(case)] == [leader.id]

    # A repeat call on the same case adds 异常访 to it, recorded and reported.
    response = client.post(
        "/admin/call/new/",
        data={
            "case": str(case.id),
            "called_at": PAST,
            "line": "hotline",
            "line_number": "12345",
            "record": "扬言到政府门口堵门",
            "new_priority": "normal",
            "new_is_abnormal": "y",
        },
    )
    assert response.status_code == 302
    case = db.session.get(Case, case.id)
    assert case.is_abnormal and case.is_beyond_level
    assert _reports(case) == ["beyond_level", "abnormal"]
    flagged = db.session.scalars(
        sa.select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == EventKind.edited)
    ).one()
    assert flagged.data == {"is_abnormal": [False, True]}

    # The letter form carries the same fields.
    form = client.get("/admin/letter/new/").get_data(as_text=True)
    assert 'name="new_is_beyond_level"' in form and 'name="new_is_abnormal"' in form


def test_counts_drill_downs_list_filter_and_annual_summary(
    government, create_user, create_case, login_as
):
    from pypdf import PdfReader

    office = create_user("office")
    received = utcnow() - timedelta(days=10)
    beyond = create_case(by=office, subject="越级件", received_at=received, is_beyond_level=True)
    abnormal = create_case(by=office, subject="异常件", received_at=received, is_abnormal=True)
    both = create_case(
        by=office, subject="两者", received_at=received, is_beyond_level=True, is_abnormal=True
    )
    create_case(by=office, subject="普通件", received_at=received)
    today = utcnow().astimezone(local_zone()).date()
    period = StatsFilter(today - timedelta(days=30), today)
    figures = summary(period)
    assert (figures["batches"], figures["beyond_level"], figures["abnormal"]) == (4, 2, 2)
    for measure, expected in (("beyond_level", {beyond, both}), ("abnormal", {abnormal, both})):
        ids = set(db.session.scalars(sa.select(Case.id).where(case_condition(period, measure))))
        assert ids == {case.id for case in expected}

    client = login_as(office)
    query = f"start={period.start.isoformat()}&end={period.end.isoformat()}"
    page = client.get(f"/admin/stats/?{query}").get_data(as_text=True)
    link = re.search(r'href="([^"]*m%3Dbeyond_level)"', page).group(1)
    listing = client.get(html.unescape(link)).get_data(as_text=True)
    assert set(re.findall(r">(XF\d{4}-\d{6})<", listing)) == {beyond.number, both.number}
    assert f"{period.end.isoformat()}，越级访" in listing
    assert 'badge badge-danger">越级访' in listing

    # The case list filters on each flag (Flask-Admin numbers the filters in declared order).
    view = next(v for v in client.application.extensions["admin"][0]._views if v.endpoint == "case")
    index = next(i for i, f in enumerate(view._filters) if f.column.key == "is_abnormal")
    listing = client.get(f"/admin/case/?flt0_{index}=1").get_data(as_text=True)
    assert set(re.findall(r">(XF\d{4}-\d{6})<", listing)) == {abnormal.number, both.number}

    response = client.get(f"/admin/stats/report/?kind=annual_summary&format=pdf&{query}")
    assert response.status_code == 200
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
    compact = re.sub(r"\s+", "", text)
    assert "越级访2批，异常访2批" in compact
    assert "未实现越级访为零的目标" in compact
    assert "尚未单独登记" not in compact
