"""Issue 15, the steps that stopped short (requirements.md §9 S1, S2, S4, S5, S18): the interim
report reaches the office and the leader, an anonymous case gets no callback it could never
have, approvers see what they approve, recorded values stand on the case page, the leader in
charge signs the result, and "out of scope" is a decision with its own clock."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from models import Callback, CaseClock, CaseEvent, Notification, Unit, db
from models.base import to_local, utcnow
from models.contacts import Call, Letter
from models.deadlines import DeadlineRule
from models.enums import (
    CallLine,
    CaseChannel,
    CaseStatus,
    Clock,
    EventKind,
    LetterOrigin,
    OutOfScopePolicy,
    TimeUnit,
)
from models.queries.statistics import StatsFilter, by_channel, summary
from models.rendering.catalog import TYPES, common_values
from tests.test_scenarios_workflow import details, fresh, step
from tests.test_sector_scenarios_gov_hospital import edit_in_browser


@pytest.fixture
def staff(app, government, create_user):
    units = {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}
    office_unit = units["县信访局"]
    housing = units["县住房和城乡建设局"]
    return {
        "office": create_user("office", unit=office_unit),
        "registrar": create_user("registrar", unit=office_unit),
        "leader": create_user("leader", unit=units["县政府领导"]),
        "deputy": create_user("leader", unit=units["县政府领导"]),
        "head": create_user("dept_head", unit=housing),
        "handler": create_user("handler", unit=housing),
        "housing": housing,
        "office_unit": office_unit,
        "court": units["县人民法院"],
        "city": units["市信访局"],
    }


def messages_of(user) -> list[str]:
    return db.session.scalars(
        sa.select(Notification.message).where(Notification.user_id == user.id)
    ).all()


def event_count(case) -> int:
    return db.session.scalar(
        sa.select(sa.func.count(CaseEvent.id)).where(CaseEvent.case_id == case.id)
    )


def clock(case, kind: Clock) -> CaseClock | None:
    return next((c for c in fresh(case).clocks if c.kind == kind), None)


def section(page: str, css_class: str) -> str:
    """The HTML of the table carrying ``css_class`` (what a person reads in that box)."""
    start = page.index(f'class="table table-sm table-bordered {css_class}"')
    return page[start : page.index("</table>", start)]


def handled_case(client, login_as, staff, create_case, **fields):
    """A letter instructed by the leader to the housing bureau and signed for."""
    case = create_case(by=staff["registrar"], **fields)
    step(
        client,
        login_as,
        staff["leader"],
        "instruct",
        case,
        instruction="请住建局核查处理",
        handling_unit=staff["housing"].id,
        handler=staff["handler"].id,
    )
    step(client, login_as, staff["handler"], "acknowledge", case)
    return fresh(case)


# --- S2: the interim report -------------------------------------------------------------------


def test_s2_interim_report_tells_office_and_leader_who_decides_the_new_deadline(
    app, client, login_as, staff, create_case
):
    case = handled_case(client, login_as, staff, create_case)
    before = event_count(case)
    # Bad input: no reason, or more time than the rule allows; nothing is recorded or sent.
    response = step(
        client, login_as, staff["handler"], "interim_report", case, expect_ok=False, reason=""
    )
    assert "此项必填" in response.get_data(as_text=True)
    response = step(
        client,
        login_as,
        staff["handler"],
        "interim_report",
        case,
        expect_ok=False,
        reason="等待现场勘验",
        amount="9",
    )
    assert "延期不得超过5" in response.get_data(as_text=True)
    assert event_count(case) == before
    assert not messages_of(staff["office"]) and not messages_of(staff["leader"])
    assert clock(case, Clock.handling).pending_extension is None

    # S2 step 3: the report with its reason, and a new deadline asked of the leader.
    step(
        client,
        login_as,
        staff["handler"],
        "interim_report",
        case,
        reason="等待现场勘验",
        difficulties="需规划部门配合测量",
        amount="2",
    )
    office_messages = [m for m in messages_of(staff["office"]) if "中途报告" in m]
    leader_messages = [m for m in messages_of(staff["leader"]) if "中途报告" in m]
    assert len(office_messages) == 1 and len(leader_messages) == 1
    assert case.number in office_messages[0] and "等待现场勘验" in office_messages[0]
    assert "申请延期2工作日" in leader_messages[0]
    # The leader who instructed the case hears of it; another leader does not, nor the desk.
    assert not [m for m in messages_of(staff["deputy"]) if "中途报告" in m]
    assert not [m for m in messages_of(staff["registrar"]) if "中途报告" in m]
    handling = clock(case, Clock.handling)
    assert handling.pending_extension == 2 and handling.pending_reason == "等待现场勘验"
    # The office's work list shows it.
    login_as(staff["office"])
    worklist = client.get("/admin/worklist/?tab=notifications").get_data(as_text=True)
    assert "中途报告" in worklist and case.number in worklist

    # The leader's decision form shows what is asked: amount, reason, both deadlines.
    login_as(staff["leader"])
    form = client.get(f"/admin/workflow/decide_extension/{case.id}/").get_data(as_text=True)
    facts = section(form, "approval-facts")
    for text in ("申请延长", "2工作日", "等待现场勘验", "当前期限", "批准后的期限"):
        assert text in facts, text
    assert "需规划部门配合测量" in facts
    old_due = handling.due_at
    step(client, login_as, staff["leader"], "decide_extension", case, approved="1", note="同意")
    handling = clock(case, Clock.handling)
    assert handling.extension == 2 and handling.due_at > old_due
    assert handling.pending_extension is None
    records = section(details(client, case), "recorded-steps")
    assert "中途报告" in records and "等待现场勘验" in records and "批准延期" in records


def test_interim_report_without_an_instructing_leader_tells_every_leader(
    app, client, login_as, staff, create_case
):
    case = create_case(by=staff["registrar"])
    case.instructed_at = utcnow()  # read earlier on paper; the office assigns
    db.session.commit()
    step(
        client,
        login_as,
        staff["office"],
        "assign",
        case,
        handling_unit=staff["housing"].id,
        handler=staff["handler"].id,
    )
    step(client, login_as, staff["handler"], "acknowledge", case)
    step(client, login_as, staff["handler"], "interim_report", case, reason="材料不全")
    for person in ("leader", "deputy", "office"):
        assert [m for m in messages_of(staff[person]) if "中途报告" in m], person
    # No new deadline asked: nothing waits for a decision.
    assert clock(case, Clock.handling).pending_extension is None


# --- S5: anonymous, no callback ---------------------------------------------------------------


def _close_anonymous(client, login_as, staff, case):
    step(client, login_as, staff["handler"], "report_result", case, facts="属实", decision="已拆除")
    step(client, login_as, staff["head"], "approve_result", case)
    step(client, login_as, staff["leader"], "close", case, opinion="办结")


def test_s5_anonymous_case_closes_without_a_callback_task_and_still_counts(
    app, client, login_as, staff, create_case
):
    case = handled_case(
        client, login_as, staff, create_case, is_anonymous=True, subject="举报违法建设"
    )
    _close_anonymous(client, login_as, staff, case)
    case = fresh(case)
    assert case.status == CaseStatus.closed
    assert not db.session.scalars(sa.select(Callback).where(Callback.case_id == case.id)).all()
    assert clock(case, Clock.callback) is None and clock(case, Clock.reply) is None
    page = details(client, login_as(staff["office"]) and case)
    assert "匿名且未留联系方式，不安排回访" in page
    assert "超期" not in section(page, "recorded-steps")
    # A week later nothing is overdue about it: no callback, no reply.
    login_as(staff["office"])
    later = client.get("/admin/worklist/?tab=overdue").get_data(as_text=True)
    assert case.number not in later
    # Statistics still count it: a letter, closed, with no callback task to chase.
    today = to_local(utcnow()).date()
    flt = StatsFilter(start=today - timedelta(days=1), end=today + timedelta(days=1))
    figures = summary(flt, now=utcnow() + timedelta(days=30))
    assert figures["closed"] == 1
    assert figures["callback_tasks"] == 0 and figures["callback_overdue"] == 0
    letters = [row for row in by_channel(flt) if row["key"] == CaseChannel.letter.value]
    assert letters and letters[0]["count"] == 1
    anonymous = db.session.scalar(
        sa.select(sa.func.count()).select_from(type(case)).where(type(case).is_anonymous.is_(True))
    )
    assert anonymous == 1


def test_anonymous_case_with_a_recorded_phone_still_gets_its_callback(
    app, client, login_as, staff, create_case
):
    case = handled_case(
        client, login_as, staff, create_case, is_anonymous=True, channel=CaseChannel.call
    )
    db.session.add(
        Call(
            case_id=case.id,
            line=CallLine.office_line,
            caller_number="13800001111",
            called_at=utcnow() - timedelta(hours=3),
            record="不愿留名，可回电",
        )
    )
    db.session.commit()
    _close_anonymous(client, login_as, staff, case)
    tasks = db.session.scalars(sa.select(Callback).where(Callback.case_id == case.id)).all()
    assert len(tasks) == 1 and tasks[0].done_at is None
    assert clock(case, Clock.callback) is not None


# --- S1 step 4 and approvers: the signed result -----------------------------------------------


def test_s1_leader_in_charge_signs_the_result_and_the_approver_sees_it(
    app, client, login_as, staff, create_case
):
    case = handled_case(client, login_as, staff, create_case)
    login_as(staff["handler"])
    form = client.get(f"/admin/workflow/report_result/{case.id}/").get_data(as_text=True)
    # The picker offers the unit's head and the leaders, not the handler or the desk.
    picker = form[form.index('name="signed_by"') : form.index("</select>", form.index("signed_by"))]
    assert f'value="{staff["head"].id}"' in picker and f'value="{staff["leader"].id}"' in picker
    assert f'value="{staff["handler"].id}"' not in picker
    assert f'value="{staff["registrar"].id}"' not in picker

    before = event_count(case)
    good = {"facts": "道路破损属实", "decision": "已安排维修"}
    for bad, message in (
        ({"signed_by": str(staff["registrar"].id)}, "所选的项不存在"),
        ({"reported_to_office_on": str(date.today() + timedelta(days=3))}, "不能晚于今天"),
        ({"reported_to_office_on": "2000-01-01"}, "不能早于收到"),
    ):
        response = step(
            client, login_as, staff["handler"], "report_result", case, expect_ok=False,
            **good, **bad,
        )  # fmt: skip
        assert message in response.get_data(as_text=True), message
    assert event_count(case) == before
    assert fresh(case).status == CaseStatus.in_progress

    reported_on = to_local(utcnow()).date()
    step(
        client,
        login_as,
        staff["handler"],
        "report_result",
        case,
        **good,
        signed_by=str(staff["head"].id),
        reported_to_office_on=str(reported_on),
    )
    case = fresh(case)
    assert case.result_signed_by_id == staff["head"].id
    assert case.result_signer_name == staff["head"].full_name
    assert case.result_reported_to_office_on == reported_on
    shown_date = f"{reported_on.year}年{reported_on.month}月{reported_on.day}日"
    facts = section(details(client, case), "case-facts")
    assert "签字的分管领导" in facts and staff["head"].full_name in facts and shown_date in facts

    # 报结审核: the head reads the facts, decision, handler and signature before approving.
    login_as(staff["head"])
    form = client.get(f"/admin/workflow/approve_result/{case.id}/").get_data(as_text=True)
    approval = section(form, "approval-facts")
    for text in ("道路破损属实", "已安排维修", staff["handler"].full_name, "签字的分管领导"):
        assert text in approval, text
    assert shown_date in approval
    # Document templates can print the signature.
    assert "分管领导签字" in TYPES[next(iter(TYPES))].variables
    values = common_values(case, unit_name="县信访局", issued_on=reported_on, number="")
    assert values["分管领导签字"] == staff["head"].full_name
    assert values["报送办公室日期"] == shown_date


def test_a_leader_without_an_account_signs_by_name(app, client, login_as, staff, create_case):
    case = handled_case(client, login_as, staff, create_case)
    response = step(
        client, login_as, staff["handler"], "report_result", case, expect_ok=False,
        facts="属实", decision="已处理", signer_name="钱" * 51,
    )  # fmt: skip
    assert "50" in response.get_data(as_text=True)
    assert fresh(case).result_signer_name is None
    step(
        client, login_as, staff["handler"], "report_result", case,
        facts="属实", decision="已处理", signer_name="钱副局长",
    )  # fmt: skip
    case = fresh(case)
    assert case.result_signer_name == "钱副局长" and case.result_signed_by_id is None
    assert case.result_reported_to_office_on == to_local(utcnow()).date()


# --- S18 step 4: the reply on the case page, and the closing leader's form ---------------------


def test_s18_reply_date_and_method_stand_on_the_case_page(
    app, client, login_as, staff, create_case
):
    case = handled_case(client, login_as, staff, create_case)
    step(client, login_as, staff["handler"], "report_result", case, facts="属实", decision="补偿")
    step(client, login_as, staff["head"], "approve_result", case)
    replied = to_local(utcnow() - timedelta(minutes=30))
    step(
        client,
        login_as,
        staff["office"],
        "reply",
        case,
        method="email",
        replied_at=replied.strftime("%Y-%m-%dT%H:%M"),
        text="经核查，已按标准补偿。",
    )
    case = fresh(case)
    assert to_local(case.replied_at).strftime("%Y-%m-%d %H:%M") == replied.strftime(
        "%Y-%m-%d %H:%M"
    )
    facts = section(details(client, case), "case-facts")
    assert "答复时间" in facts and replied.strftime("%Y-%m-%d %H:%M") in facts
    assert "答复方式" in facts and "电子邮件" in facts
    # Instruction, signature-free report and approval are all on the page too.
    page = details(client, case)
    records = section(page, "recorded-steps")
    for text in ("请住建局核查处理", "补偿", "报结审核"):
        assert text in records or text in page, text
    # The leader signing the closing opinion sees the result and the reply.
    login_as(staff["leader"])
    form = client.get(f"/admin/workflow/close/{case.id}/").get_data(as_text=True)
    approval = section(form, "approval-facts")
    assert "补偿" in approval and "电子邮件" in approval and "（未签字）" in approval


# --- S4: out of scope -------------------------------------------------------------------------


def _set_unit_policy(client, login_as, create_user, unit, policy: str):
    login_as(create_user("admin"))
    edit_in_browser(client, f"/admin/unit/edit/?id={unit.id}", out_of_scope_policy=policy)


def _forwarded(create_case, staff, subject):
    case = create_case(by=staff["registrar"], subject=subject, channel=CaseChannel.letter)
    db.session.add(
        Letter(
            case_id=case.id,
            received_at=case.received_at,
            origin=LetterOrigin.forwarded,
            forwarding_unit_id=staff["city"].id,
            forwarding_reference="市信转〔2026〕88号",
        )
    )
    db.session.commit()
    return case


def test_unit_form_edits_the_out_of_scope_policy_and_keeps_the_rest(
    app, client, login_as, staff, create_user
):
    unit = staff["office_unit"]
    unit.short_name, unit.doc_code, unit.contact_phone = "信访局", "县信复", "0851-1234567"
    db.session.commit()
    _set_unit_policy(client, login_as, create_user, unit, "via_office")
    unit = db.session.get(Unit, unit.id)
    assert unit.out_of_scope_policy == OutOfScopePolicy.via_office
    assert (unit.name, unit.short_name, unit.doc_code, unit.contact_phone) == (
        "县信访局",
        "信访局",
        "县信复",
        "0851-1234567",
    )
    form = client.get(f"/admin/unit/edit/?id={unit.id}").get_data(as_text=True)
    assert "不属本单位职责的事项" in form and "3日内送办公室转交" in form
    # A value that is not a policy is refused; nothing changes.
    response = client.post(
        f"/admin/unit/edit/?id={unit.id}",
        data={"name": "县信访局", "kind": unit.kind.value, "out_of_scope_policy": "forward_all"},
    )
    assert response.status_code == 200
    assert db.session.get(Unit, unit.id).out_of_scope_policy == OutOfScopePolicy.via_office


def test_s4_station_returns_within_15_days_of_receipt_and_may_not_transfer(
    app, client, login_as, staff, create_user, create_case
):
    # The station's configuration: return with reasons, never forward; its rule is 15 days.
    _set_unit_policy(client, login_as, create_user, staff["office_unit"], "return_only")
    rule = db.session.scalars(
        sa.select(DeadlineRule).where(DeadlineRule.clock == Clock.out_of_scope)
    ).one()
    edit_in_browser(
        client, f"/admin/deadlinerule/edit/?id={rule.id}", name="职责外退回（15日）", amount="15"
    )
    received = utcnow() - timedelta(days=2)
    case = _forwarded(create_case, staff, "判决执行问题")
    case.received_at = received
    db.session.commit()

    # Bad input: no reason; nothing decided, no clock.
    before = event_count(case)
    response = step(
        client, login_as, staff["registrar"], "out_of_scope", case, expect_ok=False, reason=""
    )
    assert "此项必填" in response.get_data(as_text=True)
    assert event_count(case) == before and fresh(case).out_of_scope_at is None
    assert clock(case, Clock.out_of_scope) is None

    # S4 step 1: the decision, with the forwarding unit taken from the letter.
    login_as(staff["registrar"])
    form = client.get(f"/admin/workflow/out_of_scope/{case.id}/").get_data(as_text=True)
    assert f'selected value="{staff["city"].id}"' in form or (
        f'value="{staff["city"].id}" selected' in form
    )
    step(
        client,
        login_as,
        staff["registrar"],
        "out_of_scope",
        case,
        reason="属人民法院执行职责，不属本站受理范围",
        forwarding_unit=str(staff["city"].id),
    )
    case = fresh(case)
    assert case.out_of_scope_reason == "属人民法院执行职责，不属本站受理范围"
    assert case.out_of_scope_forwarding_unit_id == staff["city"].id
    countdown = clock(case, Clock.out_of_scope)
    # 15 days of receipt, not of the decision.
    assert (countdown.amount, countdown.unit) == (15, TimeUnit.calendar_days)
    assert countdown.started_at == case.received_at
    page = details(client, case)
    assert "不属职责事项转送/退回时限" in page and "剩余" in page
    facts = section(page, "case-facts")
    assert "市信访局" in facts and "不属本站受理范围" in facts
    # Twice is refused.
    step(client, login_as, staff["registrar"], "out_of_scope", case, expect_ok=False, reason="x")
    assert "已界定为不属本单位职责范围" in details(client, case)

    # S4 step 2: transfer is blocked with the station's rule; the return letter.
    step(
        client,
        login_as,
        staff["registrar"],
        "transfer",
        case,
        expect_ok=False,
        target_unit=str(staff["court"].id),
        reason="属法院职责",
    )
    page = details(client, case)
    assert "不得自行转送其他单位" in page
    assert fresh(case).status == CaseStatus.registered
    step(
        client,
        login_as,
        staff["registrar"],
        "return_to_sender",
        case,
        returned_to="市信访局",
        reason="该事项属人民法院执行职责，不属本站受理范围",
    )
    case = fresh(case)
    assert case.status == CaseStatus.returned
    countdown = clock(case, Clock.out_of_scope)
    assert countdown.stopped_at is not None and countdown.stopped_at <= countdown.due_at
    returned = db.session.scalars(
        sa.select(CaseEvent).where(
            CaseEvent.case_id == case.id, CaseEvent.kind == EventKind.return_to_sender
        )
    ).one()
    assert returned.data["within_limit"] is True
    login_as(staff["registrar"])
    issued = client.post(f"/admin/documents/issue/{case.id}/return_letter/")
    assert issued.status_code == 302 and "/pdf" in issued.headers["Location"]


@pytest.mark.parametrize("policy", ["transfer", "via_office"])
def test_s4_office_transfers_within_3_days_and_tells_the_petitioner(
    app, client, login_as, staff, create_user, create_case, policy
):
    _set_unit_policy(client, login_as, create_user, staff["office_unit"], policy)
    case = _forwarded(create_case, staff, "判决执行问题（我办）")
    step(client, login_as, staff["office"], "out_of_scope", case, reason="属法院执行职责")
    case = fresh(case)
    countdown = clock(case, Clock.out_of_scope)
    # The government preset: 3 days from the decision (我办 四.3).
    assert (countdown.amount, countdown.unit) == (3, TimeUnit.calendar_days)
    assert countdown.started_at == case.out_of_scope_at
    assert case.out_of_scope_forwarding_unit_id is None  # left empty on the form
    # Bad input: informed without saying how; nothing changes.
    step(
        client, login_as, staff["office"], "transfer", case, expect_ok=False,
        target_unit=str(staff["court"].id), reason="属法院职责", petitioner_informed=True,
    )  # fmt: skip
    assert fresh(case).status == CaseStatus.registered
    step(
        client,
        login_as,
        staff["office"],
        "transfer",
        case,
        target_unit=str(staff["court"].id),
        reason="属人民法院执行职责，依首问负责转送",
        petitioner_informed=True,
        informed_how="电话告知来信人",
    )
    case = fresh(case)
    assert case.status == CaseStatus.transferred
    countdown = clock(case, Clock.out_of_scope)
    assert countdown.stopped_at is not None and countdown.stopped_at <= countdown.due_at
    # S4 step 3: the transfer record with target unit, date and "petitioner informed".
    records = section(details(client, case), "recorded-steps")
    transfer_row = records[records.index("转办") :]
    today = to_local(case.closed_at).strftime("%Y-%m-%d")
    for text in ("县人民法院", "已告知信访人", "是", "电话告知来信人", today, "在期限内"):
        assert text in transfer_row, text
    transferred = db.session.scalars(
        sa.select(CaseEvent).where(
            CaseEvent.case_id == case.id, CaseEvent.kind == EventKind.transfer
        )
    ).one()
    assert transferred.data["within_limit"] is True
