"""Clocks in minutes and on events, several replies per case, and the outgoing contact log
(issue 14 items 4-6; requirements.md §9 S8, S9 step 2, S12 step 4, S15 step 1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from models import (
    CaseReply,
    DeadlineRule,
    EscalationRule,
    IssuedDocument,
    Notification,
    OutgoingContact,
    Unit,
    db,
)
from models.base import utcnow
from models.calendar import WorkCalendar
from models.deadlines import (
    CLOCK_EVENTS,
    CaseClock,
    ClockEscalation,
    compute_due,
    paused_span,
    time_left,
)
from models.enums import (
    CaseChannel,
    Clock,
    ContactMethod,
    EscalationTrigger,
    ReplyKind,
    ReplyMethod,
    TimeUnit,
)
from models.operations import NotPermitted, ValidationFailed, WorkflowError
from models.operations.deadlines import check_extension, extend, open_clock, run_escalations
from models.operations.documents import issue_document
from models.operations.workflow import perform
from tests.conftest import row_counts
from tests.test_documents import pdf_words

MINUTE = timedelta(minutes=1)


@pytest.fixture
def people(app, government, create_user):
    # Only the rules each test sets up.
    db.session.execute(sa.delete(EscalationRule))
    db.session.execute(sa.delete(DeadlineRule))
    db.session.commit()
    units = {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}
    office_unit = units["县信访局"]
    housing = units["县住房和城乡建设局"]
    other = units["县自然资源局"]
    return {
        "office": create_user("office", unit=office_unit),
        "registrar": create_user("registrar", unit=office_unit),
        "leader": create_user("leader", unit=units["县政府领导"]),
        "head": create_user("dept_head", unit=housing),
        "handler": create_user("handler", unit=housing),
        "stranger": create_user("handler", unit=other),
        "housing": housing,
        "other": other,
    }


def rule(clock, amount, unit, **fields):
    row = DeadlineRule(name=f"{clock.title}{amount}", clock=clock, amount=amount, unit=unit)
    for key, value in fields.items():
        setattr(row, key, value)
    db.session.add(row)
    db.session.commit()
    return row


def running(case, kind):
    return open_clock(case, kind)


def stopped(case, kind):
    clocks = [c for c in case.clocks if c.kind == kind]
    assert clocks, f"no {kind.value} clock"
    return clocks[-1].stopped_at is not None


def handed_over(case, people):
    perform("accept", case, by=people["registrar"])
    perform(
        "instruct",
        case,
        by=people["leader"],
        instruction="请住建局办理",
        handling_unit=people["housing"],
        handler=people["handler"],
    )
    perform("acknowledge", case, by=people["handler"])
    db.session.commit()


def reported(case, people):
    perform("report_result", case, by=people["handler"], facts="已查明", decision="已处理")
    perform("approve_result", case, by=people["head"])
    db.session.commit()


# --- minute arithmetic -------------------------------------------------------------------


def minute_clock(start, amount=3, **fields):
    return CaseClock(
        kind=Clock.dispatch,
        started_at=start,
        amount=amount,
        unit=TimeUnit.minutes,
        extension=fields.get("extension", 0),
        extension_count=0,
        paused_amount=fields.get("paused", 0),
        fixed_due_on=None,
    )


def test_minute_arithmetic(app):
    start = datetime(2026, 10, 3, 21, 5, tzinfo=UTC)  # a holiday: minutes ignore the calendar
    calendar = WorkCalendar({})
    clock = minute_clock(start)
    assert compute_due(clock, calendar, roll_to_working_day=True) == start + 3 * MINUTE
    extended = minute_clock(start, extension=2, paused=4)
    assert compute_due(extended, calendar, roll_to_working_day=True) == start + 9 * MINUTE

    clock.due_at = start + 3 * MINUTE
    assert time_left(clock, calendar, now=start + 30 * timedelta(seconds=1)) == "剩余 2 分钟"
    assert time_left(clock, calendar, now=start + 3 * MINUTE) == "剩余 0 分钟"
    assert time_left(clock, calendar, now=start + 3 * MINUTE + timedelta(seconds=10)) == (
        "已超期 1 分钟"
    )
    assert time_left(clock, calendar, now=start + 7 * MINUTE) == "已超期 4 分钟"

    clock.paused_at = start + MINUTE
    assert paused_span(clock, start + 6 * MINUTE + timedelta(seconds=59), calendar) == 5


def test_three_minute_dispatch_warning_fires_within_the_minute(people, create_case):
    """S15 step 1: a 96310 call at 21:05 must be dispatched by 21:08; warned when late."""
    rule(Clock.dispatch, 3, TimeUnit.minutes)
    for name, trigger, threshold in (
        ("派单过半", EscalationTrigger.percent_elapsed, 50),
        ("派单超时", EscalationTrigger.past_due, 0),
    ):
        db.session.add(
            EscalationRule(
                name=name,
                clock=Clock.dispatch,
                trigger=trigger,
                threshold=threshold,
                recipient_role="office",
            )
        )
    db.session.commit()
    received = utcnow().replace(microsecond=0) - timedelta(seconds=5)
    case = create_case(by=people["registrar"], channel=CaseChannel.call, received_at=received)
    clock = running(case, Clock.dispatch)
    assert clock.due_at == received + 3 * MINUTE

    assert run_escalations(received + MINUTE) == 0
    assert run_escalations(received + 90 * timedelta(seconds=1)) == 1  # 50 % of 3 minutes
    assert run_escalations(received + 3 * MINUTE) == 0  # due, not yet past
    # Run within the minute after the deadline: the past-due warning fires once.
    assert run_escalations(received + 3 * MINUTE + timedelta(seconds=59)) == 1
    assert run_escalations(received + 4 * MINUTE) == 0
    db.session.commit()
    messages = db.session.scalars(
        sa.select(Notification.message).where(Notification.user_id == people["office"].id)
    ).all()
    assert any("派单时限已到期" in message for message in messages)
    assert any("派单时限已用时限50%" in message for message in messages)


def test_a_backlog_of_late_clocks_is_warned_a_batch_per_run_oldest_first(people, create_case):
    """An office that brings in years of open cases is warned over a few runs, not in one
    long transaction; no clock is warned twice and none is skipped."""
    rule(Clock.dispatch, 3, TimeUnit.minutes)
    db.session.add(
        EscalationRule(
            name="派单超时",
            clock=Clock.dispatch,
            trigger=EscalationTrigger.past_due,
            threshold=0,
            recipient_role="office",
        )
    )
    db.session.commit()
    start = utcnow().replace(microsecond=0) - timedelta(hours=1)
    clocks = []
    for minutes in (5, 0, 3, 1, 4):  # registered out of deadline order
        case = create_case(
            by=people["registrar"],
            channel=CaseChannel.call,
            received_at=start + minutes * MINUTE,
        )
        clocks.append((running(case, Clock.dispatch).due_at, running(case, Clock.dispatch).id))
    now = utcnow()
    assert run_escalations(now, batch=2) == 2
    db.session.commit()
    warned = db.session.scalars(
        sa.select(ClockEscalation.clock_id).order_by(ClockEscalation.id)
    ).all()
    assert warned == [clock_id for _due, clock_id in sorted(clocks)[:2]]
    assert run_escalations(now, batch=2) == 2
    assert run_escalations(now, batch=2) == 1
    assert run_escalations(now, batch=2) == 0
    db.session.commit()
    warned = db.session.scalars(sa.select(ClockEscalation.clock_id)).all()
    assert sorted(warned) == sorted(clock_id for _due, clock_id in clocks)


def test_minute_rule_on_the_settings_form(client, login_as, people, create_user):
    login_as(create_user("admin"))
    page = client.get("/admin/deadlinerule/new/").get_data(as_text=True)
    assert 'value="minutes"' in page and "分钟" in page
    assert "各时限何时开始、何时停止" in page and "首次联系信访人" in page
    response = client.post(
        "/admin/deadlinerule/new/",
        data={"name": "96310派单", "clock": "dispatch", "amount": "3", "unit": "minutes"},
    )
    assert response.status_code == 302
    saved = db.session.scalar(sa.select(DeadlineRule).where(DeadlineRule.name == "96310派单"))
    assert saved.unit == TimeUnit.minutes and saved.amount == 3
    before = row_counts()
    page = client.post(
        "/admin/deadlinerule/new/",
        data={"name": "太长", "clock": "dispatch", "amount": str(60 * 24 * 31), "unit": "minutes"},
    ).get_data(as_text=True)
    assert "以分钟计的时限不能超过30天" in page
    assert row_counts() == before


# --- each event stops the right clock ------------------------------------------------------


def test_every_clock_has_its_events_written_once():
    assert set(CLOCK_EVENTS) == set(Clock)


def test_each_event_stops_its_own_clock(people, create_case, create_party):
    for kind in (
        Clock.dispatch,
        Clock.first_contact,
        Clock.interim_reply,
        Clock.remedial_plan,
        Clock.superior_reply,
        Clock.reply,
    ):
        rule(kind, 3, TimeUnit.working_days)
    case = create_case(by=people["registrar"], petitioners=[create_party()])
    assert {c.kind for c in case.clocks} == {Clock.dispatch, Clock.first_contact}

    perform("accept", case, by=people["registrar"])
    started = {c.kind for c in case.clocks if c.stopped_at is None}
    assert started == {
        Clock.dispatch,
        Clock.first_contact,
        Clock.interim_reply,
        Clock.remedial_plan,
        Clock.superior_reply,
        Clock.reply,
    }
    perform(
        "instruct",
        case,
        by=people["leader"],
        instruction="请办理",
        handling_unit=people["housing"],
    )
    assert stopped(case, Clock.dispatch) and not stopped(case, Clock.first_contact)

    perform("log_contact", case, by=people["handler"], method="phone", summary="告知已受理")
    assert stopped(case, Clock.first_contact)
    first_stop = next(c for c in case.clocks if c.kind == Clock.first_contact).stopped_at
    perform("log_contact", case, by=people["handler"], method="sms", summary="再次告知")
    assert next(c for c in case.clocks if c.kind == Clock.first_contact).stopped_at == first_stop

    expected_running = {Clock.interim_reply, Clock.remedial_plan, Clock.superior_reply}
    for kind, clock in (
        (ReplyKind.interim, Clock.interim_reply),
        (ReplyKind.remedial_plan, Clock.remedial_plan),
        (ReplyKind.superior, Clock.superior_reply),
    ):
        status = case.status
        perform(
            "send_reply",
            case,
            by=people["handler"],
            kind=kind.value,
            method=ReplyMethod.phone,
            text=f"{kind.title}内容",
        )
        expected_running.discard(clock)
        assert stopped(case, clock), kind
        assert case.status == status  # no state change
        assert {c.kind for c in case.clocks if c.stopped_at is None} >= expected_running
        assert running(case, Clock.reply) is not None
    db.session.commit()
    replies = db.session.scalars(sa.select(CaseReply).where(CaseReply.case_id == case.id)).all()
    assert [r.kind for r in replies] == [
        ReplyKind.interim,
        ReplyKind.remedial_plan,
        ReplyKind.superior,
    ]
    assert replies[0].recipient == "张三" and replies[2].recipient == "上级单位"
    assert all(r.event_id is not None for r in replies)


def test_anonymous_case_has_no_petitioner_clocks_and_no_contact(people, create_case):
    for kind in (Clock.first_contact, Clock.interim_reply, Clock.superior_reply):
        rule(kind, 1, TimeUnit.hours)
    case = create_case(by=people["registrar"], is_anonymous=True)
    perform("accept", case, by=people["registrar"])
    assert {c.kind for c in case.clocks} == {Clock.superior_reply}
    db.session.commit()
    before = row_counts()
    with pytest.raises(WorkflowError, match="匿名事项没有可联系的信访人"):
        perform("log_contact", case, by=people["office"], method="phone", summary="x")
    with pytest.raises(ValidationFailed, match="匿名事项不予答复"):
        perform("send_reply", case, by=people["office"], kind="interim", method="phone", text="x")
    db.session.rollback()
    assert row_counts() == before
    # The answer to the superior is still possible.
    perform("send_reply", case, by=people["office"], kind="superior", method="letter", text="已办")
    assert stopped(case, Clock.superior_reply)


# --- scenarios -------------------------------------------------------------------------------


def test_s8_power_supply_first_contact_two_replies_and_extension(people, create_case, create_party):
    """S8: 95598 complaint, 3 working days; first contact logged; customer and superior
    answered (two reply records); the deadline extended with approval."""
    rule(Clock.first_contact, 2, TimeUnit.hours)
    rule(Clock.reply, 3, TimeUnit.working_days, max_extension=2)
    rule(Clock.superior_reply, 3, TimeUnit.working_days)
    customer = create_party(name="李客户", phone="13900000000")
    case = create_case(
        by=people["registrar"],
        channel=CaseChannel.call,
        subject="反复停电",
        received_at=utcnow() - timedelta(minutes=30),
        petitioners=[customer],
    )
    assert running(case, Clock.first_contact) is not None
    handed_over(case, people)
    perform(
        "log_contact",
        case,
        by=people["handler"],
        method=ContactMethod.phone.value,
        person="李客户",
        summary="第一时间联系客户，说明抢修安排",
        result="客户表示理解",
    )
    first = next(c for c in case.clocks if c.kind == Clock.first_contact)
    assert first.stopped_at is not None and first.stopped_at <= first.due_at

    reply_clock = running(case, Clock.reply)
    old_due = reply_clock.due_at
    perform("request_extension", case, by=people["handler"], clock="reply", amount=2, reason="复杂")
    perform("decide_extension", case, by=people["leader"], approved=True)
    assert reply_clock.extension == 2 and reply_clock.due_at > old_due

    reported(case, people)
    perform("reply", case, by=people["office"], method=ReplyMethod.phone, text="已修复线路")
    perform(
        "send_reply",
        case,
        by=people["office"],
        kind="superior",
        method=ReplyMethod.letter,
        recipient="省电力公司客户服务中心",
        text="已按期处理并答复客户",
    )
    db.session.commit()
    replies = db.session.scalars(
        sa.select(CaseReply).where(CaseReply.case_id == case.id).order_by(CaseReply.id)
    ).all()
    assert [(r.kind, r.recipient) for r in replies] == [
        (ReplyKind.formal, "李客户"),
        (ReplyKind.superior, "省电力公司客户服务中心"),
    ]
    assert case.status.value == "replied" and case.reply_method == ReplyMethod.phone
    assert stopped(case, Clock.reply) and stopped(case, Clock.superior_reply)
    contact = db.session.scalars(sa.select(OutgoingContact)).one()
    assert contact.created_by_id == people["handler"].id and contact.result == "客户表示理解"


def test_s9_interim_in_5_days_and_formal_in_8(people, create_case, create_party):
    rule(Clock.interim_reply, 5, TimeUnit.calendar_days)
    rule(Clock.reply, 8, TimeUnit.calendar_days)
    case = create_case(by=people["registrar"], petitioners=[create_party(name="医院药剂科")])
    handed_over(case, people)
    interim, formal = running(case, Clock.interim_reply), running(case, Clock.reply)
    assert (interim.amount, formal.amount) == (5, 8) and interim.due_at < formal.due_at
    perform(
        "send_reply",
        case,
        by=people["handler"],
        kind="interim",
        method=ReplyMethod.letter,
        text="已封存样品，正在内部检测",
    )
    assert interim.stopped_at is not None and interim.stopped_at <= interim.due_at
    assert formal.stopped_at is None
    reported(case, people)
    perform("reply", case, by=people["office"], method=ReplyMethod.letter, text="检测结论：合格")
    assert formal.stopped_at is not None and formal.stopped_at <= formal.due_at
    db.session.commit()
    kinds = db.session.scalars(
        sa.select(CaseReply.kind).where(CaseReply.case_id == case.id).order_by(CaseReply.id)
    ).all()
    assert kinds == [ReplyKind.interim, ReplyKind.formal]


def test_s12_remedial_plan_within_3_days(people, create_case, create_party, client, login_as):
    rule(Clock.remedial_plan, 3, TimeUnit.calendar_days)
    case = create_case(by=people["registrar"], petitioners=[create_party(name="王业主")])
    handed_over(case, people)
    clock = running(case, Clock.remedial_plan)
    login_as(people["handler"])
    page = client.get(f"/admin/workflow/send_reply/{case.id}/").get_data(as_text=True)
    assert "补救措施告知" in page and "答复类型" in page
    response = client.post(
        f"/admin/workflow/send_reply/{case.id}/",
        data={
            "kind": "remedial_plan",
            "method": "on_site",
            "text": "维修班明日更换楼上防水层，预计3日内完工",
            "expected_version": str(case.version),
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert clock.stopped_at is not None and clock.stopped_at <= clock.due_at
    page = client.get(f"/admin/case/details/?id={case.id}").get_data(as_text=True)
    assert "答复（1）" in page and "补救措施告知" in page and "维修班明日更换" in page


# --- permissions and bad input -------------------------------------------------------------


def test_who_may_reply_and_log_contact(people, create_case, create_party, client, login_as):
    case = create_case(by=people["registrar"], petitioners=[create_party()])
    handed_over(case, people)
    before = row_counts()
    # A department user of another unit: refused, nothing saved.
    with pytest.raises(NotPermitted):
        perform("log_contact", case, by=people["stranger"], method="phone", summary="x")
    with pytest.raises(NotPermitted):
        perform("send_reply", case, by=people["stranger"], kind="interim", method="phone", text="x")
    db.session.rollback()
    login_as(people["stranger"])
    for step in ("log_contact", "send_reply"):
        response = client.post(
            f"/admin/workflow/{step}/{case.id}/",
            data={"method": "phone", "summary": "x", "kind": "interim", "text": "x"},
        )
        assert response.status_code in (403, 404), step
    assert row_counts() == before

    # The handler, the office: allowed; on the case page the handler sees the button.
    login_as(people["handler"])
    page = client.get(f"/admin/case/details/?id={case.id}").get_data(as_text=True)
    assert "联系信访人" in page
    response = client.post(
        f"/admin/workflow/log_contact/{case.id}/",
        data={"method": "visit", "summary": "上门说明处理方案", "expected_version": case.version},
    )
    assert response.status_code == 302
    contact = db.session.scalars(sa.select(OutgoingContact)).one()
    assert contact.person == "张三" and contact.method == ContactMethod.visit
    page = client.get(f"/admin/case/details/?id={case.id}").get_data(as_text=True)
    assert "联系记录（1）" in page
    assert page.count("上门说明处理方案") == 2  # the contact log and the timeline
    perform("log_contact", case, by=people["office"], method="phone", summary="电话回复")
    db.session.commit()


def test_bad_input_is_refused_in_chinese_and_saves_nothing(
    people, create_case, create_party, client, login_as
):
    case = create_case(by=people["registrar"], petitioners=[create_party()])
    handed_over(case, people)
    before = row_counts()
    login_as(people["handler"])
    response = client.post(
        f"/admin/workflow/log_contact/{case.id}/",
        data={"method": "phone", "summary": "", "expected_version": case.version},
    )
    assert response.status_code == 200  # the form again, with the reason on the field
    assert "此项必填" in response.get_data(as_text=True)
    assert row_counts() == before
    cases = [
        ("send_reply", {"kind": "", "method": "phone", "text": "x"}, "请选择答复类型"),
        ("send_reply", {"kind": "formal", "method": "phone", "text": "x"}, "正式答复请"),
        ("send_reply", {"kind": "interim", "method": "", "text": "x"}, "请选择答复方式"),
        ("send_reply", {"kind": "interim", "method": "phone", "text": " "}, "请填写答复内容"),
        (
            "send_reply",
            {
                "kind": "interim",
                "method": "phone",
                "text": "x",
                "replied_at": case.received_at - timedelta(days=2),
            },
            "答复时间不能早于收到事项的时间",
        ),
        ("log_contact", {"method": "fax", "summary": "x"}, "请选择联系方式"),
        (
            "log_contact",
            {"method": "phone", "summary": "x", "contacted_at": utcnow() + timedelta(days=1)},
            "联系时间不能晚于当前时间",
        ),
        ("log_contact", {"method": "phone", "summary": "x", "person": "长" * 101}, "100个字"),
    ]
    for step, inputs, message in cases:
        with pytest.raises(ValidationFailed, match=message):
            perform(step, case, by=people["handler"], **inputs)
        db.session.rollback()
    assert row_counts() == before


def test_minute_clock_extension_and_answer_on_spot(people, create_case, create_party):
    rule(Clock.dispatch, 3, TimeUnit.minutes, max_extension=5, max_extension_count=1)
    case = create_case(by=people["registrar"], petitioners=[create_party(name="孙某")])
    clock = running(case, Clock.dispatch)
    due = clock.due_at
    with pytest.raises(ValidationFailed, match="延期不得超过5分钟"):
        check_extension(clock, 6)
    extend(clock, 2)
    assert clock.due_at == due + 2 * MINUTE
    with pytest.raises(ValidationFailed, match="已延期1次"):
        extend(clock, 1)
    db.session.rollback()

    # An answer on the spot is the case's formal reply.
    other = create_case(by=people["registrar"], petitioners=[create_party(name="周某")])
    perform("answer_on_spot", other, by=people["registrar"], answer="当场解释了政策")
    db.session.commit()
    reply = db.session.scalars(sa.select(CaseReply).where(CaseReply.case_id == other.id)).one()
    assert (reply.kind, reply.method, reply.text, reply.recipient) == (
        ReplyKind.formal,
        ReplyMethod.on_site,
        "当场解释了政策",
        "周某",
    )
    assert reply.event_id is not None


def test_contacts_and_replies_hide_a_protected_reporter(
    people, create_case, create_party, create_user, client, login_as
):
    """On a 举报 case, a reader outside the reporter's circle sees neither whom was contacted
    nor what was said."""
    from models import Category
    from models.enums import CategoryKind

    report = db.session.scalar(sa.select(Category).where(Category.kind == CategoryKind.report))
    case = create_case(
        by=people["registrar"], category_id=report.id, petitioners=[create_party(name="吴举报")]
    )
    handed_over(case, people)
    perform("log_contact", case, by=people["handler"], method="phone", summary="核实线索细节")
    perform(
        "send_reply", case, by=people["handler"], kind="interim", method="phone", text="正在核查"
    )
    db.session.commit()
    # Another member of the handling unit: outside the reporter's circle.
    login_as(create_user("handler", unit=people["housing"]))
    page = client.get(f"/admin/case/details/?id={case.id}").get_data(as_text=True)
    assert "联系记录（1）" in page and "答复（1）" in page
    for secret in ("吴举报", "核实线索细节", "正在核查"):
        assert secret not in page, secret
    login_as(people["handler"])
    page = client.get(f"/admin/case/details/?id={case.id}").get_data(as_text=True)
    assert "核实线索细节" in page and "正在核查" in page


# --- reply letters -------------------------------------------------------------------------


def test_reply_letter_prints_the_chosen_reply(people, create_case, create_party, client, login_as):
    case = create_case(by=people["registrar"], petitioners=[create_party(name="赵业主")])
    handed_over(case, people)
    perform(
        "send_reply",
        case,
        by=people["handler"],
        kind="interim",
        method=ReplyMethod.letter,
        text="样品已送检，预计五日内出结果",
    )
    perform(
        "send_reply",
        case,
        by=people["handler"],
        kind="superior",
        method=ReplyMethod.letter,
        text="给上级的情况说明",
    )
    db.session.commit()
    interim, superior = db.session.scalars(sa.select(CaseReply).order_by(CaseReply.id)).all()

    login_as(people["office"])
    page = client.get(f"/admin/case/details/?id={case.id}").get_data(as_text=True)
    assert page.count('name="reply_id"') == 1  # the interim answer, not the one to the superior
    response = client.post(
        f"/admin/documents/issue/{case.id}/reply_letter/", data={"reply_id": interim.id}
    )
    assert response.status_code == 302
    document = db.session.scalars(sa.select(IssuedDocument)).one()
    assert document.source_event_id == interim.event_id
    assert document.title == "赵业主信访事项阶段性答复书"
    text = pdf_words(document.pdf)
    assert "样品已送检，预计五日内出结果" in text and "阶段性答复" in text
    assert "给上级的情况说明" not in text and "救济途径" not in text
    # Issued again from the same row: the same document (a reprint).
    client.post(f"/admin/documents/issue/{case.id}/reply_letter/", data={"reply_id": interim.id})
    assert db.session.scalar(sa.select(sa.func.count(IssuedDocument.id))) == 1
    # The answer to the superior is no letter to the petitioner.
    with pytest.raises(NotPermitted, match="回复上级"):
        issue_document(case, "reply_letter", by=people["office"], reply=superior)
    db.session.rollback()

    # The default reply letter prints the formal reply.
    reported(case, people)
    perform("reply", case, by=people["office"], method=ReplyMethod.letter, text="正式答复的内容")
    db.session.commit()
    formal_letter, created = issue_document(case, "reply_letter", by=people["office"])
    db.session.commit()
    assert created and formal_letter.title == "赵业主信访事项答复意见书"
    text = pdf_words(formal_letter.pdf)
    assert "正式答复的内容" in text and "救济途径" in text and "样品已送检" not in text


# --- existing data -------------------------------------------------------------------------


def test_migration_gives_answered_cases_their_formal_reply(tmp_path):
    """Cases answered before f1d0c0000015 get one formal reply with their reply event's text."""
    from flask_migrate import downgrade, upgrade

    from app import create_app
    from models import Case
    from models.enums import EventKind
    from models.maintenance.presets import ensure_roles, ensure_settings
    from models.operations.audit import log_event
    from models.operations.cases import register_case
    from models.operations.users import create_user
    from tests.conftest import TEST_CONFIG

    url = f"sqlite:///{tmp_path}/replies.db"
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        ensure_roles()
        ensure_settings()
        user = create_user(
            username="old", full_name="老用户", password="secret123", role_codes=["admin"]
        )
        answered = register_case(
            Case(
                channel=CaseChannel.letter,
                subject="旧事项",
                content="内容",
                received_at=utcnow() - timedelta(days=3),
            ),
            by=user,
        )
        open_case = register_case(
            Case(
                channel=CaseChannel.letter, subject="未答复", content="内容", received_at=utcnow()
            ),
            by=user,
        )
        answered.petitioner_names = "钱某"
        answered.replied_at = utcnow() - timedelta(days=1)
        answered.reply_method = ReplyMethod.phone
        event = log_event(answered, EventKind.reply, "reply", by=user, data={"text": "旧的答复"})
        db.session.commit()
        answered_id, open_id, event_id = answered.id, open_case.id, event.id
        db.session.execute(sa.delete(CaseReply))
        db.session.commit()
        downgrade(revision="f0d0c0000014")
        upgrade()
        rows = db.session.execute(sa.text("SELECT * FROM case_replies")).mappings().all()
        db.engine.dispose()
    assert len(rows) == 1
    row = rows[0]
    assert (row["case_id"], row["kind"], row["method"], row["text"]) == (
        answered_id,
        "formal",
        "phone",
        "旧的答复",
    )
    assert row["event_id"] == event_id and row["recipient"] == "钱某"
    assert open_id != answered_id
