"""Issue 18 item 4: e-mail to staff and messages to petitioners, through a local SMTP server
(aiosmtpd, started here; no outside network) and the logging SMS gateway."""

from __future__ import annotations

import email
import socket
import time
from datetime import timedelta
from email import policy

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from models import (
    AuditEntry,
    Case,
    MessageTemplate,
    Notification,
    OutgoingMessage,
    Party,
    Unit,
    db,
)
from models.base import utcnow
from models.maintenance import background
from models.messaging import LoggingSmsGateway, MessageChannel, MessageKind, MessageStatus
from models.operations.notifications import deliver_messages, send_digests
from models.operations.workflow import perform

pytestmark = pytest.mark.own_connections  # the delivery job runs in a thread of its own


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        parsed = email.message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpServer:
    """A local SMTP server that the test can stop and start again on the same port."""

    def __init__(self):
        self.port = free_port()
        self.inbox = Inbox()
        self.controller = None

    def start(self):
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture(scope="module")
def smtp():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mail(app, smtp):
    """The app sends through the local server; deliveries start after each commit."""
    saved = dict(app.config)
    app.config.update(
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=smtp.port,
        MAIL_SENDER="xinfang@example.cn",
        MAIL_TIMEOUT=2,
        MESSAGES_SEND_AFTER_COMMIT=True,
        SITE_URL="https://xf.example.cn",
    )
    smtp.inbox.messages.clear()
    LoggingSmsGateway.sent.clear()
    yield smtp
    wait_for_jobs()
    app.config.clear()
    app.config.update(saved)
    if smtp.controller is None:
        smtp.start()


def wait_for_jobs():
    for name, thread in list(background.local_threads.items()):
        if name.startswith("messages-"):
            thread.join(10)
            background.local_threads.pop(name, None)


@pytest.fixture
def people(app, government, create_user):
    units = {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}
    office_unit = units["县信访局"]
    housing = units["县住房和城乡建设局"]
    handler = create_user("handler", unit=housing)
    handler.full_name = "李承办"
    handler.email = "handler@example.cn"
    db.session.commit()
    return {
        "registrar": create_user("registrar", unit=office_unit),
        "leader": create_user("leader", unit=units["县政府领导"]),
        "handler": handler,
        "housing": housing,
    }


def assign(case, people):
    perform("accept", case, by=people["registrar"])
    perform(
        "instruct",
        case,
        by=people["leader"],
        instruction="请住建局办理，内部意见：先核实",
        handling_unit=people["housing"],
        handler=people["handler"],
    )
    db.session.commit()
    wait_for_jobs()


def messages(**where):
    query = sa.select(OutgoingMessage).order_by(OutgoingMessage.id)
    for key, value in where.items():
        query = query.where(getattr(OutgoingMessage, key) == value)
    db.session.expire_all()
    return db.session.scalars(query).all()


# -- staff e-mail ---------------------------------------------------------------------------------


def test_an_assignment_sends_one_email_to_the_handler(people, create_case, mail):
    case = create_case(subject="小区道路破损")
    assign(case, people)

    assert len(mail.inbox.messages) == 1
    recipients, message = mail.inbox.messages[0]
    assert recipients == ["handler@example.cn"]
    assert case.number in message["Subject"] and "交办" in message["Subject"]
    body = message.get_content()
    assert f"{case.number} 已交您办理：请住建局办理" in body
    assert f"https://xf.example.cn/admin/case/details/?id={case.id}" in body
    assert "xinfang@example.cn" in message["From"]
    # One event, one list of who is told: the in-app notification and the e-mail agree.
    notes = db.session.scalars(sa.select(Notification).where(Notification.case_id == case.id)).all()
    assert [n.user_id for n in notes if "已交您办理" in n.message] == [people["handler"].id]
    assert notes[-1].message in body
    (row,) = messages(channel=MessageChannel.email)
    assert (row.kind, row.status, row.attempts) == (MessageKind.assignment, MessageStatus.sent, 1)
    assert row.recipient_user_id == people["handler"].id and row.sent_at is not None


@pytest.mark.parametrize("how", ["off", "kind_unticked", "no_address"])
def test_preferences_off_send_nothing(people, create_case, mail, how):
    handler = people["handler"]
    if how == "off":
        handler.email_delivery = "off"
    elif how == "kind_unticked":
        handler.email_kinds = "overdue,escalation"
    else:
        handler.email = None
    db.session.commit()
    assign(create_case(), people)
    assert mail.inbox.messages == []
    assert messages(channel=MessageChannel.email) == []


def test_the_daily_digest_collects_several_into_one(people, create_case, mail):
    people["handler"].email_delivery = "digest"
    db.session.commit()
    first, second = create_case(subject="路灯不亮"), create_case(subject="噪音扰民")
    assign(first, people)
    assign(second, people)
    assert mail.inbox.messages == []
    assert [m.status for m in messages()] == [MessageStatus.held, MessageStatus.held]

    digest_task = next(t for t in background.TASKS if t.name == "message_digest")
    assert background.run_task(digest_task, utcnow()) is True
    wait_for_jobs()

    assert len(mail.inbox.messages) == 1
    recipients, message = mail.inbox.messages[0]
    assert recipients == ["handler@example.cn"]
    assert "每日提醒汇总（2 条）" in message["Subject"]
    body = message.get_content()
    assert first.number in body and second.number in body
    rows = messages()
    digest = next(m for m in rows if m.kind == MessageKind.digest)
    assert digest.status == MessageStatus.sent
    assert {m.status for m in rows if m.kind != MessageKind.digest} == {MessageStatus.bundled}
    assert all(m.digest_id == digest.id for m in rows if m.kind != MessageKind.digest)
    # The next day's run finds nothing held: no empty digest.
    assert send_digests(utcnow()) == 0


def test_smtp_down_fails_then_the_retry_sends_it(people, create_case, mail, app):
    mail.stop()
    assign(create_case(), people)
    (row,) = messages()
    assert row.status == MessageStatus.failed and row.attempts == 1
    assert row.last_error and row.next_attempt_at is not None
    assert row.next_attempt_at > utcnow() + timedelta(seconds=30)  # backoff, not at once

    # Not yet due: the periodic task leaves it alone.
    task = next(t for t in background.TASKS if t.name == "message_delivery")
    assert background.run_task(task, utcnow(), slot="early") is True
    wait_for_jobs()
    assert messages()[0].attempts == 1

    mail.start()
    later = row.next_attempt_at + timedelta(seconds=1)
    assert background.run_task(task, later, slot="later") is True
    wait_for_jobs()
    (row,) = messages()
    assert (row.status, row.attempts) == (MessageStatus.sent, 2)
    assert len(mail.inbox.messages) == 1


def test_a_failed_message_is_retried_by_the_button_and_audited(
    people, create_case, mail, client, login_as, app
):
    mail.stop()
    assign(create_case(), people)
    (row,) = messages()
    assert row.status == MessageStatus.failed
    mail.start()

    office = people["registrar"]
    login_as(office)
    page = client.get("/admin/outgoingmessage/?flt0_0=failed")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "发送失败" in text and "重新发送" in text and "handler@example.cn" in text
    response = client.post(f"/admin/outgoingmessage/retry/{row.id}")
    assert response.status_code == 302
    wait_for_jobs()
    (row,) = messages()
    assert (row.status, row.attempts) == (MessageStatus.sent, 2)
    audit = db.session.scalars(
        sa.select(AuditEntry).where(
            AuditEntry.action == "retry", AuditEntry.target_type == "outgoing_messages"
        )
    ).all()
    assert [(a.target_id, a.user_id) for a in audit] == [(str(row.id), office.id)]


def test_a_handler_sees_only_their_own_messages(people, create_case, mail, client, login_as):
    assign(create_case(), people)
    login_as(people["handler"])
    page = client.get("/admin/outgoingmessage/").get_data(as_text=True)
    assert "handler@example.cn" in page and "重新发送" not in page
    (row,) = messages()
    assert client.post(f"/admin/outgoingmessage/retry/{row.id}").status_code in (403, 404)


def test_preferences_page_saves_own_settings(people, client, login_as, app):
    handler = people["handler"]
    login_as(handler)
    assert client.get("/admin/notificationsettings/").status_code == 200
    response = client.post(
        "/admin/notificationsettings/",
        data={"email": "li@example.cn", "delivery": "digest", "kinds": ["overdue", "due_soon"]},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert (handler.email, handler.email_delivery, handler.email_kinds) == (
        "li@example.cn",
        "digest",
        "due_soon,overdue",
    )
    bad = client.post(
        "/admin/notificationsettings/", data={"email": "not an address", "delivery": "immediate"}
    )
    assert bad.status_code == 400 and "邮箱地址格式不正确" in bad.get_data(as_text=True)
    # Another user's page: only for 用户管理.
    other = people["registrar"]
    assert client.get(f"/admin/notificationsettings/?user={other.id}").status_code == 403


# -- petitioners ----------------------------------------------------------------------------------


def test_acceptance_is_told_by_sms_and_by_email(people, create_case, mail):
    by_phone = Party(name="王小明", phone="13800138000")
    by_mail = Party(name="赵小红", email="zhao@example.cn")
    db.session.add_all([by_phone, by_mail])
    db.session.commit()
    sms_case = create_case(petitioners=[by_phone])
    mail_case = create_case(petitioners=[by_mail])
    for case in (sms_case, mail_case):
        perform("accept", case, by=people["registrar"])
    db.session.commit()
    wait_for_jobs()

    ((phone, text),) = LoggingSmsGateway.sent
    assert phone == "13800138000"
    assert sms_case.number in text and "王小明" in text and "受理" in text
    ((recipients, message),) = mail.inbox.messages
    assert recipients == ["zhao@example.cn"]
    assert mail_case.number in message.get_content() and "受理告知" in message["Subject"]
    rows = messages()
    assert {(m.channel, m.kind, m.status) for m in rows} == {
        (MessageChannel.sms, MessageKind.acceptance, MessageStatus.sent),
        (MessageChannel.email, MessageKind.acceptance, MessageStatus.sent),
    }
    # Nothing of the staff: no registrar's name, no handler's.
    for row in rows:
        assert str(people["registrar"]) not in row.body and "测试" not in row.body


def test_the_reply_and_an_internal_note_stay_apart(people, create_case, mail):
    party = Party(name="王小明", phone="13800138000")
    db.session.add(party)
    db.session.commit()
    case = create_case(petitioners=[party])
    assign(case, people)
    bodies = " ".join(m.body for m in messages(channel=MessageChannel.sms))
    assert "内部意见" not in bodies and "李承办" not in bodies


def test_an_anonymous_case_sends_nothing(people, create_case, mail):
    party = Party(name="王小明", phone="13800138000")
    db.session.add(party)
    db.session.commit()
    case = create_case(petitioners=[party], is_anonymous=True)
    perform("accept", case, by=people["registrar"])
    db.session.commit()
    wait_for_jobs()
    assert messages() == [] and LoggingSmsGateway.sent == []


# -- templates ------------------------------------------------------------------------------------


def test_a_template_with_an_unknown_placeholder_is_refused(people, create_user, client, login_as):
    login_as(create_user("admin"))
    form = {"subject": "受理告知", "body": "您的事项 {number} 由 {handler} 办理", "is_active": "1"}
    response = client.post("/admin/messagetemplate/acceptance", data={**form, "action": "save"})
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "未知的占位符" in text and "{handler}" in text
    assert db.session.scalar(sa.select(sa.func.count(MessageTemplate.id))) == 0
    # Preview refuses it the same way; a good one previews and saves.
    preview = client.post("/admin/messagetemplate/acceptance", data={**form, "action": "preview"})
    assert preview.status_code == 400
    good = {**form, "body": "{petitioner}：事项 {number} 已受理，期限 {deadline}。"}
    shown = client.post("/admin/messagetemplate/acceptance", data={**good, "action": "preview"})
    assert shown.status_code == 200 and "张三：事项 XF2026-000123 已受理" in shown.get_data(
        as_text=True
    )
    assert db.session.scalar(sa.select(sa.func.count(MessageTemplate.id))) == 0
    saved = client.post("/admin/messagetemplate/acceptance", data={**good, "action": "save"})
    assert saved.status_code == 302
    row = db.session.scalar(sa.select(MessageTemplate))
    assert (row.kind, row.body) == (MessageKind.acceptance, good["body"])


def test_an_office_template_is_used(people, create_case, mail):
    db.session.add(
        MessageTemplate(
            kind=MessageKind.acceptance, subject="受理", body="【{office}】{number}已受理。"
        )
    )
    party = Party(name="王小明", phone="13800138000")
    db.session.add(party)
    db.session.commit()
    case = create_case(petitioners=[party])
    perform("accept", case, by=people["registrar"])
    db.session.commit()
    wait_for_jobs()
    expected = f"【示范县人民政府信访局】{case.number}已受理。"
    assert LoggingSmsGateway.sent == [("13800138000", expected)]


def test_delivery_is_claimed_once(people, create_case, mail, app):
    """Two workers on the same message: one sends it, the other finds it taken."""
    app.config["MESSAGES_SEND_AFTER_COMMIT"] = False
    assign(create_case(), people)
    (row,) = messages()
    assert row.status == MessageStatus.queued
    started = time.monotonic()
    assert deliver_messages([row.id]) == {row.id: MessageStatus.sent}
    assert deliver_messages([row.id]) == {row.id: None}
    assert len(mail.inbox.messages) == 1 and time.monotonic() - started < 5
    assert db.session.scalar(sa.select(sa.func.count(Case.id))) == 1


# -- warnings: due soon, overdue, escalation, callback due ---------------------------------------


def test_warnings_are_emailed_with_their_kind(people, create_case, mail, app):
    from models.deadlines import EscalationRule
    from models.enums import Clock, EscalationTrigger
    from models.operations.deadlines import run_escalations

    db.session.execute(sa.delete(EscalationRule))
    rules = [
        EscalationRule(name="过半", trigger=EscalationTrigger.percent_elapsed, threshold=50),
        EscalationRule(name="到期", trigger=EscalationTrigger.past_due, threshold=0),
        EscalationRule(name="超3日", trigger=EscalationTrigger.past_due, threshold=3),
    ]
    for rule in rules:
        rule.recipient_role, rule.same_unit_only = "handler", True
        rule.clock = Clock.closing
    db.session.add_all(rules)
    db.session.commit()
    app.config["MESSAGES_SEND_AFTER_COMMIT"] = False
    case = create_case()
    assign(case, people)
    db.session.execute(sa.delete(OutgoingMessage.__table__))
    db.session.commit()

    assert run_escalations(utcnow() + timedelta(days=400)) == 3
    db.session.commit()
    kinds = sorted(m.kind.value for m in messages())
    assert kinds == ["due_soon", "escalation", "overdue"]
    assert {m.recipient_user_id for m in messages()} == {people["handler"].id}
    # The in-app warnings are the same three.
    warned = db.session.scalar(
        sa.select(sa.func.count(Notification.id)).where(
            Notification.case_id == case.id, Notification.message.contains("办结时限")
        )
    )
    assert warned == 3


def test_a_reporters_message_is_masked_outside_the_circle(
    people, create_case, mail, create_user, client, login_as
):
    from models import Category
    from models.enums import CategoryKind

    category = db.session.scalar(sa.select(Category).where(Category.kind == CategoryKind.report))
    if category is None:
        category = Category(name="举报", kind=CategoryKind.report)
        db.session.add(category)
    reporter = Party(name="钱举报", phone="13900139000")
    db.session.add(reporter)
    db.session.commit()
    case = create_case(by=people["registrar"], petitioners=[reporter], category=category)
    perform("accept", case, by=people["registrar"])
    db.session.commit()
    wait_for_jobs()
    (row,) = messages(channel=MessageChannel.sms)
    assert row.address == "13900139000"

    # The registrar registered it (in the circle); another registrar is not.
    outsider = create_user("registrar", unit=people["registrar"].unit)
    login_as(outsider)
    page = client.get("/admin/outgoingmessage/").get_data(as_text=True)
    assert case.number in page and "（保密）" in page
    assert "13900139000" not in page and "钱举报" not in page
    login_as(people["registrar"])
    page = client.get("/admin/outgoingmessage/").get_data(as_text=True)
    assert "13900139000" in page


def test_an_administrator_edits_anothers_preferences(people, create_user, client, login_as):
    handler = people["handler"]
    login_as(create_user("admin"))
    url = f"/admin/notificationsettings/?user={handler.id}"
    assert handler.username in client.get("/admin/user/").get_data(as_text=True)
    page = client.get(url)
    assert page.status_code == 200 and "handler@example.cn" in page.get_data(as_text=True)
    bogus = client.post(url, data={"email": "", "delivery": "weekly", "kinds": ["assignment"]})
    assert bogus.status_code == 400 and "请选择发送方式" in bogus.get_data(as_text=True)
    unknown = client.post(url, data={"delivery": "immediate", "kinds": ["assignment", "spam"]})
    assert unknown.status_code == 400 and "没有这种提醒" in unknown.get_data(as_text=True)
    db.session.expire_all()
    assert (handler.email_delivery, handler.email) == ("immediate", "handler@example.cn")
    saved = client.post(url, data={"email": "", "delivery": "off", "kinds": []})
    assert saved.status_code == 302
    db.session.expire_all()
    assert (handler.email, handler.email_delivery, handler.email_kinds) == (None, "off", "")
    assert client.get("/admin/messagetemplate/digest").status_code == 404
    assert client.get("/admin/messagetemplate/nothing").status_code == 404


def test_transfer_and_reply_are_told_without_internal_text(people, create_case, create_user, mail):
    from models.enums import ReplyMethod

    party = Party(name="王小明", phone="13800138000")
    db.session.add(party)
    db.session.commit()
    moved = create_case(petitioners=[party])
    perform("accept", moved, by=people["registrar"])
    perform(
        "transfer",
        moved,
        by=people["registrar"],
        target_unit=people["housing"],
        reason="内部：不属本局",
    )
    answered = create_case(petitioners=[party])
    assign(answered, people)
    perform("acknowledge", answered, by=people["handler"])
    perform("report_result", answered, by=people["handler"], facts="内部事实", decision="已处理")
    head = create_user("dept_head", unit=people["housing"])
    perform("approve_result", answered, by=head)
    office = create_user("office", unit=people["registrar"].unit)
    perform("reply", answered, by=office, method=ReplyMethod.phone, text="内部答复全文")
    db.session.commit()
    wait_for_jobs()

    told = {
        (m.case_id, m.kind): m.body
        for m in messages(status=MessageStatus.sent)
        if m.recipient_party_id == party.id
    }
    transfer = told[moved.id, MessageKind.transfer]
    assert "县住房和城乡建设局" in transfer and moved.number in transfer
    assert answered.number in told[answered.id, MessageKind.reply_ready]
    everything = " ".join(told.values())
    for internal in ("内部", "李承办", str(office), str(head)):
        assert internal not in everything


def test_the_list_costs_a_few_queries_whatever_its_length(
    people, create_case, mail, client, login_as, count_queries, app
):
    app.config["MESSAGES_SEND_AFTER_COMMIT"] = False
    for _ in range(6):
        party = Party(name="王小明", phone="13800138000")
        db.session.add(party)
        db.session.commit()
        case = create_case(by=people["registrar"], petitioners=[party])
        perform("accept", case, by=people["registrar"])
        db.session.commit()
    login_as(people["registrar"])
    client.get("/admin/outgoingmessage/")
    with count_queries() as statements:
        page = client.get("/admin/outgoingmessage/?flt0_0=queued")
    assert page.status_code == 200 and page.get_data(as_text=True).count("重新发送") == 6
    assert len(statements) < 15, statements


class RefusingGateway:
    """A gateway plugged in by SMS_GATEWAY that the provider refuses."""

    def __init__(self, config):
        self.config = config

    def send(self, phone, text):
        raise RuntimeError(f"网关拒绝：{self.config['SMS_GATEWAY_ACCOUNT']}")


def test_an_sms_gateway_is_plugged_by_configuration(people, create_case, mail, app):
    app.config.update(
        SMS_GATEWAY="tests.test_notifications_issue18.RefusingGateway", SMS_GATEWAY_ACCOUNT="xf01"
    )
    party = Party(name="王小明", phone="13800138000")
    db.session.add(party)
    db.session.commit()
    perform("accept", create_case(petitioners=[party]), by=people["registrar"])
    db.session.commit()
    wait_for_jobs()
    (row,) = messages()
    assert (row.channel, row.status, row.last_error) == (
        MessageChannel.sms,
        MessageStatus.failed,
        "网关拒绝：xf01",
    )
    assert LoggingSmsGateway.sent == []
