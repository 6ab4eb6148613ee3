"""Issue 13 items 3, 4 and 16: rectification orders and reception records are scoped to the
user's unit, a 举报 visitor is masked outside the reporter's circle, and one person per ID
number with the ban checked at every visit registration."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
import sqlalchemy as sa

from models import (
    Appointment,
    AuditEntry,
    Call,
    Category,
    Letter,
    Party,
    ReceptionQueueEntry,
    ReceptionSchedule,
    RectificationOrder,
    Unit,
    Visit,
    VisitIncident,
    VisitorPass,
    db,
)
from models.audit import AuditAction
from models.base import local_zone, to_local, utcnow
from models.enums import CategoryKind, QueueStatus, RectificationSource
from models.operations import NotPermitted
from models.operations.callbacks import issue_rectification
from models.policies import (
    can_view_reception_record,
    can_view_rectification,
    reception_visible_clause,
    rectification_visible_clause,
    visitor_hidden,
    visitor_hidden_clause,
)
from models.reception import (
    AppointmentChannel,
    AppointmentKind,
    AppointmentStatus,
    IncidentKind,
    IncidentMeasure,
)
from models.validation import resident_id_check_char
from tests.conftest import row_counts


def resident_id(first17: str) -> str:
    return first17 + resident_id_check_char(first17)


REPORTER = "钱举报人"
REPORTER_ID = resident_id("11010519800101123")
REPORTER_PHONE = "13911112222"
OTHER_ID = resident_id("52010219750505551")
PAST = (utcnow() - timedelta(hours=3)).astimezone(local_zone()).strftime("%Y-%m-%d %H:%M:%S")


def text_of(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def units(government):
    found = db.session.scalars(
        sa.select(Unit).where(Unit.parent_id.is_not(None)).order_by(Unit.id)
    ).all()
    return found[0], found[1]


def _case(create_case, unit, **fields):
    case = create_case(**fields)
    case.handling_unit_id = unit.id
    db.session.commit()
    return case


def _soon_today():
    """Half an hour from now, but still today in local time: the reception board lists the
    day's appointments, and after 23:30 half an hour on is tomorrow."""
    now = utcnow()
    last_minute = to_local(now).replace(hour=23, minute=59, second=0, microsecond=0)
    return min(now + timedelta(minutes=30), last_minute)


def _appointment(
    name, unit, *, by, case=None, host=None, id_number=None, phone=None, purpose="约见"
):
    appointment = Appointment(
        kind=AppointmentKind.appointment,
        channel=AppointmentChannel.phone,
        status=AppointmentStatus.approved,
        visitor_name=name,
        id_number=id_number,
        phone=phone,
        unit_id=unit.id if unit else None,
        host_id=host.id if host else None,
        expected_at=_soon_today(),
        purpose=purpose,
        case_id=case.id if case else None,
        created_by_id=by.id,
    )
    db.session.add(appointment)
    db.session.commit()
    return appointment


def _pass(number, name, *, by, host=None, appointment=None, case=None, id_number=None):
    visitor_pass = VisitorPass(
        pass_number=number,
        visitor_name=name,
        id_number=id_number or OTHER_ID,
        id_checked=True,
        host_id=host.id if host else None,
        host_name=None if host else "会议室",
        appointment_id=appointment.id if appointment else None,
        case_id=case.id if case else None,
        issued_at=utcnow() - timedelta(minutes=10),
        purpose="办事",
        created_by_id=by.id,
    )
    db.session.add(visitor_pass)
    db.session.commit()
    return visitor_pass


def _incident(visitor_pass, *, by):
    incident = VisitIncident(
        pass_id=visitor_pass.id,
        visitor_name=visitor_pass.visitor_name,
        id_number=visitor_pass.id_number,
        occurred_at=utcnow() - timedelta(minutes=5),
        kind=IncidentKind.disruptive,
        measure=IncidentMeasure.warning,
        description=f"{visitor_pass.pass_number} 大声喧哗",
        created_by_id=by.id,
    )
    db.session.add(incident)
    db.session.commit()
    return incident


def _order(unit, *, case=None, content, by):
    order = RectificationOrder(
        source=RectificationSource.callback,
        case_id=case.id if case else None,
        unit_id=unit.id,
        addressee=unit.name,
        content=content,
        notice_due_at=utcnow() + timedelta(hours=24),
        due_on=date.today() + timedelta(days=5),
        created_by_id=by.id,
    )
    db.session.add(order)
    db.session.commit()
    return order


def _not_opened(response, secret: str) -> None:
    """Refused (404/403) or sent back to the list, never showing the record."""
    assert response.status_code in (302, 403, 404), response.status_code
    assert secret not in text_of(response)


# -- rectification orders ---------------------------------------------------------------------


def test_rectification_orders_are_scoped_to_the_unit(
    create_user, create_case, login_as, units, client
):
    unit_a, unit_b = units
    office = create_user("office")
    case_a = _case(create_case, unit_a, subject="甲单位事项")
    case_b = _case(create_case, unit_b, subject="乙单位事项")
    order_a = _order(unit_a, case=case_a, content="甲单位整改要求", by=office)
    order_b = _order(unit_b, case=case_b, content="乙单位整改要求", by=office)
    due_b = order_b.due_on

    for role in ("handler", "dept_head"):
        user = create_user(role, unit=unit_a)
        client = login_as(user)
        listed = text_of(client.get("/admin/rectificationorder/"))
        assert f"整改通知 #{order_a.id}" in listed or unit_a.name in listed
        assert unit_b.name not in listed, role
        assert "乙单位整改要求" not in text_of(client.get("/admin/rectificationorder/?search=乙"))
        for url in (
            f"/admin/rectificationorder/details/?id={order_b.id}",
            f"/admin/rectificationorder/edit/?id={order_b.id}",
            f"/admin/rectificationorder/complete/{order_b.id}/",
        ):
            _not_opened(client.get(url), "乙单位整改要求")
        printed = client.get(f"/admin/rectificationorder/print/{order_b.id}/")
        assert printed.status_code == 302 and printed.mimetype != "application/pdf"
        before = row_counts()
        client.post(
            f"/admin/rectificationorder/edit/?id={order_b.id}",
            data={"addressee": "改了", "content": "改了", "due_on": "2030-01-01"},
        )
        client.post(f"/admin/rectificationorder/issue/{order_b.id}/")
        client.post(f"/admin/rectificationorder/complete/{order_b.id}/", data={"result": "完成"})
        assert row_counts() == before
        db.session.expire_all()
        untouched = db.session.get(RectificationOrder, order_b.id)
        assert (untouched.addressee, untouched.content, untouched.due_on) == (
            unit_b.name,
            "乙单位整改要求",
            due_b,
        )
        assert untouched.issued_at is None and untouched.completed_at is None
        with pytest.raises(NotPermitted):
            issue_rectification(untouched, by=user)
        db.session.rollback()

        # Their own unit's order: details, edit, print page and issue all work.
        assert "甲单位整改要求" in text_of(
            client.get(f"/admin/rectificationorder/details/?id={order_a.id}")
        )
        assert client.get(f"/admin/rectificationorder/edit/?id={order_a.id}").status_code == 200

    # An edit changes what the form shows and keeps what it does not (case, notice deadline).
    client = login_as(create_user("dept_head", unit=unit_a))
    notice_due = db.session.get(RectificationOrder, order_a.id).notice_due_at
    response = client.post(
        f"/admin/rectificationorder/edit/?id={order_a.id}",
        data={
            "addressee": "甲单位维修班",
            "unit": str(unit_a.id),
            "content": "三日内更换水管",
            "due_on": (date.today() + timedelta(days=3)).isoformat(),
        },
    )
    assert response.status_code == 302, text_of(response)
    assert client.post(f"/admin/rectificationorder/issue/{order_a.id}/").status_code == 302
    db.session.expire_all()
    edited = db.session.get(RectificationOrder, order_a.id)
    assert (edited.addressee, edited.content) == ("甲单位维修班", "三日内更换水管")
    assert edited.case_id == case_a.id and edited.notice_due_at == notice_due
    assert edited.issued_at is not None

    # The office sees every unit's orders.
    listed = text_of(login_as(office).get("/admin/rectificationorder/"))
    assert "甲单位维修班" in listed and unit_b.name in listed


def test_rectification_rule_and_its_sql_twin_agree(create_user, create_case, units):
    unit_a, unit_b = units
    office = create_user("office")
    head_a = create_user("dept_head", unit=unit_a)
    case_b_handled_by_a = _case(create_case, unit_b)
    case_b_handled_by_a.handler_id = head_a.id
    db.session.commit()
    orders = [
        _order(unit_a, content="甲", by=office),
        _order(unit_b, content="乙", by=office),
        _order(unit_b, case=case_b_handled_by_a, content="乙但甲经办", by=office),
        _order(unit_b, content="甲下达给乙", by=head_a),
    ]
    for user in (office, head_a, create_user("handler", unit=unit_b), create_user("registrar")):
        by_rule = {order.id for order in orders if can_view_rectification(user, order)}
        by_sql = set(
            db.session.scalars(
                sa.select(RectificationOrder.id).where(rectification_visible_clause(user))
            )
        )
        assert by_rule == by_sql, user.username
    assert {o.content for o in orders if can_view_rectification(head_a, o)} == {
        "甲",
        "乙但甲经办",
        "甲下达给乙",
    }


# -- reception records: scope -----------------------------------------------------------------


def test_department_users_see_their_own_units_visits(create_user, login_as, units):
    unit_a, unit_b = units
    office = create_user("office")
    head_a = create_user("dept_head", unit=unit_a)
    colleague_a = create_user("handler", unit=unit_a)
    colleague_b = create_user("handler", unit=unit_b)
    own = _appointment("甲访客", unit_a, by=office, phone="13800000001", purpose="甲事由")
    other = _appointment("乙访客", unit_b, by=office, phone="13800000002", purpose="乙事由")
    own_pass = _pass("A01", "甲持证人", by=office, host=colleague_a)
    other_pass = _pass("B01", "乙持证人", by=office, host=colleague_b)
    own_incident = _incident(own_pass, by=office)
    other_incident = _incident(other_pass, by=office)

    client = login_as(head_a)
    lists = {
        "/admin/appointment/": ("甲访客", "乙访客"),
        "/admin/visitorpass/": ("甲持证人", "乙持证人"),
        "/admin/visitincident/": ("A01 大声喧哗", "B01 大声喧哗"),
        "/admin/reception/": ("甲访客", "乙访客"),
    }
    for url, (mine, theirs) in lists.items():
        html = text_of(client.get(url))
        assert mine in html and theirs not in html, url
    assert "乙持证人" not in text_of(client.get("/admin/reception/"))
    assert "乙事由" not in text_of(client.get("/admin/appointment/?search=乙访客"))
    assert "甲事由" in text_of(client.get("/admin/appointment/?search=甲访客"))
    for url, secret in (
        (f"/admin/appointment/details/?id={other.id}", "13800000002"),
        (f"/admin/visitorpass/details/?id={other_pass.id}", "乙持证人"),
        (f"/admin/visitincident/details/?id={other_incident.id}", "B01 大声喧哗"),
    ):
        _not_opened(client.get(url), secret)
    # Actions on another unit's record find nothing.
    assert client.post(f"/admin/appointment/reject/?id={other.id}").status_code == 404
    # Their own unit's records open, with the visitor's details.
    assert "13800000001" in text_of(client.get(f"/admin/appointment/details/?id={own.id}"))
    assert "甲持证人" in text_of(client.get(f"/admin/visitorpass/details/?id={own_pass.id}"))
    assert "A01 大声喧哗" in text_of(
        client.get(f"/admin/visitincident/details/?id={own_incident.id}")
    )

    # The office's reception staff see everything.
    for user in (office, create_user("registrar"), create_user("leader")):
        client = login_as(user)
        html = text_of(client.get("/admin/appointment/"))
        assert "甲访客" in html and "乙访客" in html
        html = text_of(client.get("/admin/visitincident/"))
        assert "A01 大声喧哗" in html and "B01 大声喧哗" in html

    # The rule and its SQL twin agree for every record and user.
    records = (own, other, own_pass, other_pass, own_incident, other_incident)
    for user in (office, head_a, create_user("dept_head", unit=unit_b)):
        for model in (Appointment, VisitorPass, VisitIncident):
            by_rule = {
                r.id for r in records if isinstance(r, model) and can_view_reception_record(user, r)
            }
            by_sql = set(
                db.session.scalars(sa.select(model.id).where(reception_visible_clause(user, model)))
            )
            assert by_rule == by_sql, (user.username, model.__name__)


# -- reception records: the 举报 visitor ------------------------------------------------------


@pytest.fixture
def whistleblower(create_user, create_case, units):
    """A 举报 case of unit A, its reporter booked in to see a unit-B head, a pass and an
    incident for the visit, and a queue entry."""
    unit_a, unit_b = units
    taker = create_user("registrar")
    host = create_user("dept_head", unit=unit_b)
    category = db.session.scalar(sa.select(Category).where(Category.kind == CategoryKind.report))
    case = _case(create_case, unit_a, by=taker, subject="举报违规发包", category=category)
    appointment = _appointment(
        REPORTER,
        unit_a,
        by=taker,
        case=case,
        host=host,
        id_number=REPORTER_ID,
        phone=REPORTER_PHONE,
        purpose="约谈举报事宜",
    )
    visitor_pass = _pass(
        "R07", REPORTER, by=taker, host=host, appointment=appointment, id_number=REPORTER_ID
    )
    incident = _incident(visitor_pass, by=taker)
    reporter = Party(name=REPORTER, id_number=REPORTER_ID, phone=REPORTER_PHONE)
    schedule = ReceptionSchedule(
        name="局长接待日",
        weekday=0,
        start_time=time(9),
        end_time=time(12),
        place="接待室",
        starts_on=date.today(),
    )
    db.session.add_all([reporter, schedule])
    db.session.flush()
    entry = ReceptionQueueEntry(
        day=date.today(),
        schedule_id=schedule.id,
        queue_number=1,
        party_id=reporter.id,
        case_id=case.id,
        purpose="当面举报",
        status=QueueStatus.waiting,
        created_by_id=taker.id,
    )
    db.session.add(entry)
    db.session.commit()
    return {
        "taker": taker,
        "host": host,
        "case": case,
        "appointment": appointment,
        "pass": visitor_pass,
        "incident": incident,
        "entry": entry,
    }


def _surfaces(w) -> dict[str, str]:
    return {
        "appointment list": "/admin/appointment/",
        "appointment details": f"/admin/appointment/details/?id={w['appointment'].id}",
        "pass list": "/admin/visitorpass/",
        "pass details": f"/admin/visitorpass/details/?id={w['pass'].id}",
        "pass return": "/admin/visitorpass/return/?pass_number=R07",
        "incident list": "/admin/visitincident/",
        "incident details": f"/admin/visitincident/details/?id={w['incident'].id}",
        "queue list": "/admin/receptionqueue/",
        "queue details": f"/admin/receptionqueue/details/?id={w['entry'].id}",
        "desk": "/admin/reception/",
    }


def test_a_whistleblowing_visitor_is_masked_outside_the_circle(
    create_user, login_as, whistleblower
):
    w = whistleblower
    outsider_desk = create_user("registrar")  # reception staff, outside the circle
    for user in (outsider_desk, w["host"]):
        client = login_as(user)
        for surface, url in _surfaces(w).items():
            response = client.get(url)
            html = text_of(response)
            for secret in (REPORTER, REPORTER_ID, REPORTER_PHONE):
                assert secret not in html, (user.username, surface, secret)
        assert "R07" in text_of(client.get("/admin/visitorpass/"))
        # A search by the reporter's name or number does not find the visit.
        found = text_of(client.get(f"/admin/appointment/?search={REPORTER_ID}"))
        assert "约谈举报事宜" not in found
        assert "R07" not in text_of(client.get(f"/admin/visitorpass/?search={REPORTER}"))
    # The host still sees the visit itself, with the mask in place of the name.
    details = text_of(
        login_as(w["host"]).get(f"/admin/appointment/details/?id={w['appointment'].id}")
    )
    assert "（保密）" in details and "约谈举报事宜" in details

    # Inside the circle (the registrar who took the report) and with 查看保密信息 (the office).
    for user in (w["taker"], create_user("office")):
        client = login_as(user)
        assert REPORTER_PHONE in text_of(client.get(_surfaces(w)["appointment details"]))
        assert REPORTER_ID in text_of(client.get(_surfaces(w)["pass details"]))
        assert REPORTER in text_of(client.get(_surfaces(w)["desk"]))
        found = text_of(client.get(f"/admin/appointment/?search={REPORTER_ID}"))
        assert "约谈举报事宜" in found
        # Seeing the reporter on a reception record is noted in the audit log.
        surfaces = db.session.scalars(
            sa.select(AuditEntry.data).where(
                AuditEntry.action == AuditAction.confidential_view, AuditEntry.user_id == user.id
            )
        ).all()
        assert {"appointment_details", "visitorpass_details"} <= {d["surface"] for d in surfaces}
    # Nobody outside the circle is noted as having seen the reporter.
    assert not db.session.scalar(
        sa.select(AuditEntry.id).where(
            AuditEntry.action == AuditAction.confidential_view,
            AuditEntry.user_id.in_([outsider_desk.id, w["host"].id]),
        )
    )

    # The masking rule and its SQL twin agree.
    for user in (outsider_desk, w["host"], w["taker"]):
        for record in (w["appointment"], w["pass"], w["incident"], w["entry"]):
            model = type(record)
            hidden_rows = set(
                db.session.scalars(sa.select(model.id).where(visitor_hidden_clause(user, model)))
            )
            assert (record.id in hidden_rows) == visitor_hidden(user, record)


def test_editing_a_masked_appointment_keeps_the_hidden_identity(
    create_user, login_as, whistleblower
):
    w = whistleblower
    appointment = w["appointment"]
    client = login_as(create_user("registrar"))
    form = text_of(client.get(f"/admin/appointment/edit/?id={appointment.id}"))
    assert REPORTER not in form and REPORTER_ID not in form and REPORTER_PHONE not in form
    response = client.post(
        f"/admin/appointment/edit/?id={appointment.id}",
        data={
            "channel": "email",
            "head_count": "2",
            "expected_at": (utcnow() + timedelta(hours=2))
            .astimezone(local_zone())
            .strftime("%Y-%m-%dT%H:%M"),
            "purpose": "改期来访",
            "host": str(w["host"].id),
            "unit": str(appointment.unit_id),
            "case": str(w["case"].id),
        },
    )
    assert response.status_code == 302, text_of(response)
    db.session.expire_all()
    saved = db.session.get(Appointment, appointment.id)
    assert (saved.purpose, saved.head_count, saved.channel.value) == ("改期来访", 2, "email")
    assert (saved.visitor_name, saved.id_number, saved.phone) == (
        REPORTER,
        REPORTER_ID,
        REPORTER_PHONE,
    )


# -- one person per ID number, and the ban at every visit --------------------------------------


def _visit_data(**extra):
    return {
        "visited_at": PAST,
        "kind": "individual",
        "head_count": "1",
        "purpose": "反映噪声",
        "new_subject": "夜间施工噪声",
        "new_content": "工地夜间施工。",
        "new_priority": "normal",
        **extra,
    }


def test_a_banned_id_at_visit_registration_warns_like_at_the_desk(
    create_user, login_as, government
):
    banned = Party(name="吴闹事", id_number=OTHER_ID, is_banned=True, note="扰乱秩序")
    db.session.add(banned)
    db.session.commit()
    client = login_as(create_user("registrar"))

    # A new person typed in with the banned number (spaced, lower case), or the banned
    # person picked from the register: warned, nothing saved.
    before = row_counts()
    typed = " ".join([OTHER_ID[:6], OTHER_ID[6:].lower()])
    for data in (
        _visit_data(new_person_name="吴某", new_person_id_number=typed),
        _visit_data(visitor=str(banned.id)),
    ):
        html = text_of(client.post("/admin/visit/new/", data=data))
        assert "已被列入禁止来访名单" in html and "已知悉禁访警告" in html
        assert row_counts() == before

    # Acknowledged on purpose, the visit is registered on the banned person, not a new one.
    response = client.post(
        "/admin/visit/new/",
        data=_visit_data(new_person_name="吴某", new_person_id_number=typed, ban_acknowledged="y"),
    )
    assert response.status_code == 302, text_of(response)
    visit = db.session.scalars(sa.select(Visit)).one()
    assert visit.visitor_id == banned.id
    assert db.session.scalar(sa.select(sa.func.count(Party.id))) == 1

    # The ban is on visiting: a letter from the same person is registered as usual.
    response = client.post(
        "/admin/letter/new/",
        data={
            "writer": str(banned.id),
            "received_at": PAST,
            "form": "paper",
            "origin": "direct",
            "new_subject": "来信反映噪声",
            "new_content": "同上。",
            "new_priority": "normal",
        },
    )
    assert response.status_code == 302, text_of(response)


def test_the_same_id_number_through_every_channel_is_one_person(create_user, login_as, government):
    client = login_as(create_user("office"))
    common = {"new_priority": "normal", "new_content": "内容"}
    response = client.post(
        "/admin/letter/new/",
        data={
            **common,
            "new_person_name": "赵一人",
            "new_person_id_type": "resident_id",
            "new_person_id_number": REPORTER_ID,
            "received_at": PAST,
            "form": "paper",
            "origin": "direct",
            "new_subject": "来信",
        },
    )
    assert response.status_code == 302, text_of(response)
    person = db.session.scalars(sa.select(Party)).one()
    assert person.id_number == REPORTER_ID

    # The same number, written with spaces, on a call and a visit.
    spaced = f"{REPORTER_ID[:6]} {REPORTER_ID[6:14]} {REPORTER_ID[14:]}"
    response = client.post(
        "/admin/call/new/",
        data={
            **common,
            "new_person_name": "赵一人",
            "new_person_id_number": spaced,
            "called_at": PAST,
            "line": "hotline",
            "record": "来电",
            "new_subject": "来电",
        },
    )
    assert response.status_code == 302, text_of(response)
    response = client.post(
        "/admin/visit/new/",
        data=_visit_data(new_person_name="赵一人", new_person_id_number=spaced),
    )
    assert response.status_code == 302, text_of(response)

    # An appointment and a pass under that number are tied to the same person.
    response = client.post(
        "/admin/appointment/new/",
        data={
            "kind": "appointment",
            "channel": "phone",
            "visitor_name": "赵一人",
            "id_type": "resident_id",
            "id_number": spaced,
            "head_count": "1",
            "expected_at": (utcnow() + timedelta(hours=1))
            .astimezone(local_zone())
            .strftime("%Y-%m-%dT%H:%M"),
            "purpose": "约谈",
        },
    )
    assert response.status_code == 302, text_of(response)
    response = client.post(
        "/admin/visitorpass/new/",
        data={
            "visitor_name": "赵一人",
            "id_number": REPORTER_ID,
            "id_checked": "y",
            "pass_number": "088",
            "host_name": "信访办",
        },
    )
    assert response.status_code == 302, text_of(response)
    # A ban recorded at an incident marks that person, it does not create another.
    response = client.post(
        "/admin/visitincident/new/",
        data={
            "visitor_name": "赵一人",
            "id_number": spaced,
            "occurred_at": PAST[:16].replace(" ", "T"),
            "kind": "disruptive",
            "measure": "banned",
            "description": "扰乱秩序",
        },
    )
    assert response.status_code == 302, text_of(response)
    assert db.session.scalar(sa.select(sa.func.count(Party.id))) == 1
    db.session.expire_all()
    person = db.session.get(Party, person.id)
    assert person.is_banned
    assert db.session.scalars(sa.select(Letter)).one().writer_id == person.id
    assert db.session.scalars(sa.select(Call)).one().caller_id == person.id
    assert db.session.scalars(sa.select(Visit)).one().visitor_id == person.id
    assert db.session.scalars(sa.select(Appointment)).one().party_id == person.id
    assert db.session.scalars(sa.select(VisitorPass)).one().party_id == person.id

    # Entering the person again in the register is refused with the name on file.
    before = row_counts()
    html = text_of(
        client.post(
            "/admin/party/new/",
            data={"name": "赵二人", "id_type": "resident_id", "id_number": spaced},
        )
    )
    assert "已登记为“赵一人”" in html
    assert row_counts() == before
