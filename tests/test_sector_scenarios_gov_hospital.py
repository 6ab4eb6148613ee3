"""Acceptance scenarios S3, S4 (government preset), S14 (hospital preset) and S15 (a city
hotline built on the government preset by configuration only), requirements.md §9.

Each office is set up the way its administrator would in the browser: the preset is chosen on
the set-up wizard page, staff accounts are created, and anything beyond the preset is entered on
the settings screens or imported on 配置导出/导入. Cases are registered on the registration
forms, moved through the workflow pages, and each "Shows" line is checked on the page, the
printed PDF or the list a person would open, and on the rows behind it."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from html.parser import HTMLParser

import sqlalchemy as sa

from models import Call, Case, CaseClock, CaseEvent, Category, Letter, Notification, Unit, db
from models.base import local_zone, utcnow
from models.enums import CaseChannel, CaseStatus, Clock, EventKind, TimeUnit
from models.operations.deadlines import refresh_due, run_escalations
from models.users import Role, User
from tests.test_documents import pdf_text, squeezed
from tests.test_scenarios_workflow import details, fresh, step


def local(moment) -> str:
    """A time as a person types it into a form (Beijing time)."""
    return moment.astimezone(local_zone()).strftime("%Y-%m-%d %H:%M:%S")


class _FormReader(HTMLParser):
    """The values a browser would send for the first form with a submit button."""

    def __init__(self):
        super().__init__()
        self.values: dict[str, str] = {}
        self._select = None
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name:
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in attrs:
                    self.values[name] = attrs.get("value") or "y"
            elif kind not in ("submit", "file", "button"):
                self.values[name] = attrs.get("value") or ""
        elif tag == "select" and name:
            self._select = name
            self.values.setdefault(name, "")
        elif tag == "option" and self._select and "selected" in attrs:
            self.values[self._select] = attrs.get("value") or ""
        elif tag == "textarea" and name:
            self._textarea = name
            self.values[name] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += (
                data.lstrip("\n") if not self.values[self._textarea] else data
            )


def edit_in_browser(client, url: str, **changes):
    """Open an edit page, change some fields and save it, as a person would."""
    page = client.get(url)
    assert page.status_code == 200
    reader = _FormReader()
    reader.feed(page.get_data(as_text=True))
    data = {key: value for key, value in reader.values.items() if key != "csrf_token"}
    for key, value in changes.items():
        if value is False:
            data.pop(key, None)
        else:
            data[key] = "y" if value is True else value
    response = client.post(url, data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[-3000:]
    db.session.expire_all()
    return response


def set_up_office(client, login_as, create_user, preset: str, organisation: str):
    """The administrator's first visit: the wizard page with the preset chosen."""
    admin = create_user("admin")
    login_as(admin)
    done = client.post("/admin/setup/", data={"preset": preset, "organisation_name": organisation})
    assert done.status_code == 302 and done.headers["Location"] == "/admin/"
    db.session.expire_all()
    units = {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}
    categories = {c.name: c for c in db.session.scalars(sa.select(Category))}
    return admin, units, categories


def hire(client, login_as, admin, role: str, unit: Unit, full_name: str) -> User:
    """An administrator creates a staff account on 设置 → 用户."""
    login_as(admin)
    role_id = db.session.scalar(sa.select(Role.id).where(Role.code == role))
    username = f"staff{db.session.scalar(sa.select(sa.func.count(User.id))) + 1}"
    response = client.post(
        "/admin/user/new/",
        data={
            "username": username,
            "full_name": full_name,
            "unit": str(unit.id),
            "roles": str(role_id),
            "is_active_user": "y",
            "new_password": "Staff2026pass",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    db.session.expire_all()
    return db.session.scalars(sa.select(User).where(User.username == username)).one()


def only_case() -> Case:
    db.session.expire_all()
    return db.session.scalars(sa.select(Case).order_by(Case.id.desc())).first()


def clock_of(case, kind: Clock) -> CaseClock:
    return next(c for c in fresh(case).clocks if c.kind == kind)


def clock_row(page: str, title: str) -> str:
    """The row of the case page's 办理时限 table for the clock called ``title``."""
    start = page.index(f"<td>{title}</td>")
    return page[start : page.index("</tr>", start)]


def events(case, kind: EventKind) -> list[CaseEvent]:
    return db.session.scalars(
        sa.select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == kind)
    ).all()


def upload(client, case, title: str, name: str) -> None:
    response = client.post(
        f"/admin/attachment/new/?case_id={case.id}",
        data={
            "case": str(case.id),
            "kind": "document",
            "title": title,
            "file": (io.BytesIO(b"%PDF-1.4 " + title.encode()), name),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]


def record_callback(client, case, **extra) -> None:
    response = client.post(
        f"/admin/callback/new/?case_id={case.id}",
        data={
            "case": str(case.id),
            "method": "phone",
            "done_at": utcnow().astimezone(local_zone()).strftime("%Y-%m-%dT%H:%M"),
            "satisfaction": "satisfied",
            "person_reached": "陈建国",
            **extra,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]


def printed(client, case, kind: str) -> str:
    issued = client.post(f"/admin/documents/issue/{case.id}/{kind}/")
    assert issued.status_code == 302, issued.headers.get("Location")
    assert "/pdf" in issued.headers["Location"], issued.headers["Location"]
    pdf = client.get(issued.headers["Location"])
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    return squeezed(pdf_text(pdf.data))


def notifications_of(user) -> list[str]:
    return db.session.scalars(
        sa.select(Notification.message).where(Notification.user_id == user.id)
    ).all()


# --- S3 ---------------------------------------------------------------------------------------


def test_s3_phone_complaint_handover_investigation_rectification_callback(
    app, client, login_as, create_user
):
    admin, units, categories = set_up_office(
        client, login_as, create_user, "government", "示范县建设工程质量安全监督站"
    )
    # The station's own rule (工程质量站 制度): a phone call goes to its handler within 24 h.
    # The preset's 15-day hand-over is the Regulation's; the station adds its rule on the screen.
    response = client.post(
        "/admin/deadlinerule/new/",
        data={
            "name": "来电材料移交承办人（24小时）",
            "clock": "handover",
            "channel": "call",
            "amount": "24",
            "unit": "hours",
            "is_active": "y",
        },
    )
    assert response.status_code == 302
    office_unit, housing = units["县信访局"], units["县住房和城乡建设局"]
    registrar = hire(client, login_as, admin, "registrar", office_unit, "综合管理科登记员")
    office = hire(client, login_as, admin, "office", office_unit, "信访办公室")
    chief = hire(client, login_as, admin, "leader", units["县政府领导"], "站长")
    head = hire(client, login_as, admin, "dept_head", housing, "质量安全科科长")
    handler = hire(client, login_as, admin, "handler", housing, "质量安全科承办人")
    assistant = hire(client, login_as, admin, "handler", housing, "质量安全科协办人")

    # 1. 综合管理科 registers the call in the ledger.
    received = utcnow().replace(microsecond=0) - timedelta(hours=2)
    login_as(registrar)
    response = client.post(
        "/admin/call/new/",
        data={
            "called_at": local(received),
            "line": "hotline",
            "line_number": "0578-2123456",
            "caller_number": "13905781234",
            "record": "新建住宅楼墙体出现多处裂缝，要求检测",
            "new_person_name": "陈建国",
            "new_person_phone": "13905781234",
            "new_subject": "新建住宅楼墙体开裂",
            "new_content": "城南花园3幢新交付住宅墙体多处开裂。",
            "new_category": str(categories["房屋质量"].id),
            "new_priority": "normal",
        },
    )
    assert response.status_code == 302
    case = only_case()
    assert case.channel == CaseChannel.call
    handover = clock_of(case, Clock.handover)
    assert (handover.amount, handover.unit) == (24, TimeUnit.hours)
    assert handover.due_at == received + timedelta(hours=24)
    page = details(client, case)
    assert "来电" in page and "来电材料移交承办人（24小时）" in page and "交转办时限" in page

    # 2. Within 24 hours the materials reach the quality-and-safety handler.
    step(client, login_as, registrar, "send_for_reading", case, leader=chief.id)
    step(
        client,
        login_as,
        chief,
        "instruct",
        case,
        instruction="请质量安全科调查处理",
        handling_unit=housing.id,
        handler=handler.id,
    )
    handover = clock_of(case, Clock.handover)
    assert handover.stopped_at is not None and handover.stopped_at <= handover.due_at
    row = clock_row(details(client, case), "交转办时限")
    assert "按期完成" in row and local(received)[:16] in row
    # A call left lying for 30 hours is flagged overdue on the office's work list.
    login_as(registrar)
    late = client.post(
        "/admin/call/new/",
        data={
            "called_at": local(utcnow() - timedelta(hours=30)),
            "line": "hotline",
            "record": "楼板渗水",
            "new_subject": "楼板渗水",
            "new_content": "顶楼楼板渗水。",
            "new_category": str(categories["房屋质量"].id),
            "new_priority": "normal",
        },
    )
    assert late.status_code == 302
    late_case = only_case()
    assert clock_of(late_case, Clock.handover).due_at < utcnow()
    assert "已超期" in clock_row(details(client, late_case), "交转办时限")
    login_as(office)
    assert late_case.number in client.get("/admin/worklist/?tab=overdue").get_data(as_text=True)
    assert case.number not in client.get("/admin/worklist/?tab=overdue").get_data(as_text=True)

    # 3. The handler asks for an assistant; the station chief in charge (科室负责人) approves.
    step(client, login_as, handler, "acknowledge", case)
    step(client, login_as, handler, "add_assistant", case, expect_ok=False, assistant=assistant.id)
    assert assistant not in fresh(case).assistants
    step(
        client,
        login_as,
        head,
        "add_assistant",
        case,
        assistant=assistant.id,
        note="同意增派协办人",
    )
    case = fresh(case)
    assert assistant in case.assistants
    (added,) = events(case, EventKind.add_assistant)
    assert added.data["approved_by"] == str(head) and added.created_by_id == head.id
    page = details(client, case)
    assert assistant.full_name in page and "同意增派协办人" in page

    # 4. Investigation materials signed by the person investigated; the responsible unit; the
    # handling principle approved by the station leaders. The handler owns the report.
    login_as(handler)
    upload(client, case, "调查笔录（被调查人签字）", "调查笔录.pdf")
    # 5. The responsible unit must send a written rectification plan within 2 weeks.
    step(
        client,
        login_as,
        handler,
        "investigate",
        case,
        findings="墙体裂缝系施工质量问题，被调查人已在笔录上签字",
        responsible_unit="某建筑工程有限公司",
        needs_rectification=True,
    )
    (investigation,) = events(case, EventKind.investigate)
    assert investigation.created_by_id == handler.id
    assert investigation.data["responsible_unit"] == "某建筑工程有限公司"
    rectification = clock_of(case, Clock.rectification)
    assert (rectification.amount, rectification.unit) == (14, TimeUnit.calendar_days)
    page = details(client, case)
    for text in (
        "调查笔录（被调查人签字）",
        "某建筑工程有限公司",
        "整改方案时限",
        "整改方案（2周）",
    ):
        assert text in page
    login_as(handler)
    upload(client, case, "整改方案（责任单位书面报送）", "整改方案.pdf")
    assert "整改方案（责任单位书面报送）" in details(client, case)

    # 6. The handler tells the caller about the plan: a contact log entry.
    step(
        client,
        login_as,
        handler,
        "log_contact",
        case,
        method="phone",
        summary="已电话告知整改方案及完成时间",
        result="来电人表示认可",
    )
    page = details(client, case)
    assert "已电话告知整改方案及完成时间" in page and "来电人表示认可" in page

    # 7. An upper-level 查处 item: the office marks it on the case form; it cannot close until
    # the re-inspection (callback) after rectification is recorded.
    login_as(office)
    edit_in_browser(client, f"/admin/case/edit/?id={case.id}", is_investigation_order=True)
    assert fresh(case).is_investigation_order
    assert "上级交办查处件" in details(client, case)
    step(
        client,
        login_as,
        handler,
        "report_result",
        case,
        facts="责任单位已按整改方案完成加固",
        decision="督促责任单位整改到位",
    )
    assert clock_of(case, Clock.rectification).stopped_at is not None
    step(client, login_as, head, "approve_result", case, note="站领导同意，已签字")
    assert fresh(case).result_approved_by_id == head.id
    step(client, login_as, office, "reply", case, method="phone", text="已整改到位")
    response = step(client, login_as, chief, "close", case, expect_ok=False, opinion="办结")
    assert fresh(case).status == CaseStatus.replied
    page = client.get(f"/admin/workflow/close/{case.id}/", follow_redirects=True)
    assert "须先完成回访（复查）才能办结" in page.get_data(as_text=True)
    login_as(office)
    record_callback(client, case, note="复查：裂缝已加固修复")
    step(client, login_as, chief, "close", case, opinion="同意办结")
    step(client, login_as, office, "archive", case, volume="2026-质监-001")
    case = fresh(case)
    assert case.status == CaseStatus.archived
    assert "已归档" in details(client, case)


# --- S4 ---------------------------------------------------------------------------------------


def _forwarded_letter(client, units, categories, subject: str) -> Case:
    response = client.post(
        "/admin/letter/new/",
        data={
            "received_at": local(utcnow() - timedelta(hours=1)),
            "form": "paper",
            "origin": "forwarded",
            "forwarding_unit": str(units["市信访局"].id),
            "forwarding_reference": "市信转〔2026〕88号",
            "new_person_name": "刘明",
            "new_subject": subject,
            "new_content": "反映邻里宅基地纠纷法院判决未执行。",
            "new_category": str(categories["宅基地"].id),
            "new_priority": "normal",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    return only_case()


def test_s4_out_of_scope_letter_returned_by_the_station_or_transferred_by_the_office(
    app, client, login_as, create_user
):
    admin, units, categories = set_up_office(
        client, login_as, create_user, "government", "示范县建设工程质量安全监督站"
    )
    office_unit = units["县信访局"]
    # The station's policy on its unit's settings page: return, never forward.
    edit_in_browser(
        client, f"/admin/unit/edit/?id={office_unit.id}", out_of_scope_policy="return_only"
    )
    registrar = hire(client, login_as, admin, "registrar", office_unit, "登记员刘")

    # 1. A letter forwarded by a higher unit, outside the station's remit.
    login_as(registrar)
    case = _forwarded_letter(client, units, categories, "判决执行问题")
    assert case.channel == CaseChannel.higher_assignment
    page = details(client, case)
    assert "上级批转/交办（市信访局）" in page
    letter_id = db.session.scalar(sa.select(Letter.id).where(Letter.case_id == case.id))
    letter_page = client.get(f"/admin/letter/details/?id={letter_id}").get_data(as_text=True)
    assert "原批转单位" in letter_page and "市信转〔2026〕88号" in letter_page
    # 2. A 15-day countdown; 转办 is not offered and refused if posted; the return letter.
    handover = clock_of(case, Clock.handover)
    assert (handover.amount, handover.unit) == (15, TimeUnit.calendar_days)
    assert "转送、交办（15日）" in page and "剩余" in page
    assert "/admin/workflow/return_to_sender/" in page
    assert "/admin/workflow/transfer/" not in page
    step(
        client,
        login_as,
        registrar,
        "transfer",
        case,
        expect_ok=False,
        target_unit=units["县人民法院"].id,
        reason="属法院职责",
    )
    assert fresh(case).status == CaseStatus.registered
    step(
        client,
        login_as,
        registrar,
        "return_to_sender",
        case,
        returned_to="市信访局",
        reason="该事项属人民法院执行职责，不属本站受理范围",
    )
    case = fresh(case)
    assert case.status == CaseStatus.returned
    (returned,) = events(case, EventKind.return_to_sender)
    assert returned.data["within_limit"] is True
    assert "已退回" in details(client, case)
    letter = printed(client, case, "return_letter")
    assert "市信访局" in letter and "不属本站受理范围" in letter and case.number in letter
    step(
        client,
        login_as,
        hire(client, login_as, admin, "office", office_unit, "信访办张"),
        "archive",
        case,
    )
    assert fresh(case).status == CaseStatus.archived

    # 3. The office (我办) configuration: transfer to the competent unit within 3 days and tell
    # the petitioner. The administrator changes the unit's policy and the hand-over rule.
    login_as(admin)
    edit_in_browser(
        client, f"/admin/unit/edit/?id={office_unit.id}", out_of_scope_policy="transfer"
    )
    rule_id = db.session.scalar(
        sa.select(sa.text("id"))
        .select_from(sa.text("deadline_rules"))
        .where(sa.text("name = '转送、交办（15日）'"))
    )
    edit_in_browser(
        client, f"/admin/deadlinerule/edit/?id={rule_id}", name="转送、交办（3日）", amount="3"
    )
    login_as(registrar)
    other = _forwarded_letter(client, units, categories, "判决执行问题（我办）")
    assert clock_of(other, Clock.handover).amount == 3
    page = details(client, other)
    assert "/admin/workflow/transfer/" in page
    step(
        client,
        login_as,
        registrar,
        "transfer",
        other,
        target_unit=units["县人民法院"].id,
        reason="属人民法院执行职责，依首问负责转送",
        petitioner_informed=True,
        informed_how="电话告知来信人",
    )
    other = fresh(other)
    assert other.status == CaseStatus.transferred
    handover = clock_of(other, Clock.handover)
    assert handover.stopped_at <= handover.due_at
    page = details(client, other)
    for text in ("县人民法院", "电话告知来信人", "已转办"):
        assert text in page


# --- S14 --------------------------------------------------------------------------------------


def test_s14_hospital_inpatient_complaint_notice_day_7_warning_and_day_14_overdue(
    app, client, login_as, create_user
):
    admin, units, categories = set_up_office(
        client, login_as, create_user, "hospital", "示范市人民医院"
    )
    conduct_office = units["院行风办"]
    medical = units["医务科"]
    receptionist = hire(client, login_as, admin, "registrar", conduct_office, "接待员王")
    office = hire(client, login_as, admin, "office", conduct_office, "院行风办李")
    leader = hire(client, login_as, admin, "leader", units["院领导"], "院长")
    head = hire(client, login_as, admin, "dept_head", medical, "医务科主任")
    handler = hire(client, login_as, admin, "handler", medical, "医务科经办人")

    # 1. The family of an inpatient complains at the desk; first-complaint rule: registered and
    # routed to 医务科 by the patient-type field.
    login_as(receptionist)
    form = client.get("/admin/visit/new/").get_data(as_text=True)
    assert "患者类型" in form and "患者及家属" in form
    response = client.post(
        "/admin/visit/new/",
        data={
            "visited_at": local(utcnow() - timedelta(hours=1)),
            "kind": "individual",
            "head_count": "1",
            "purpose": "投诉护士态度",
            "new_person_name": "赵丽",
            "new_person_phone": "13812345678",
            "new_subject": "住院患者家属投诉护士服务态度",
            "new_content": "夜间呼叫护士多次无人应答，护士态度生硬。",
            "new_category": str(categories["护理服务"].id),
            "new_priority": "normal",
            "cf_patient_type": "住院",
            "cf_ward": "外科3病区12床",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    case = only_case()
    assert case.custom_values["patient_type"] == "住院"
    assert case.number.startswith("YY")
    page = details(client, case)
    assert "住院患者投诉→医务科" in page and "医务科" in page
    login_as(office)
    assign_form = client.get(f"/admin/workflow/assign/{case.id}/").get_data(as_text=True)
    assert f'<option selected value="{medical.id}"' in assign_form or (
        f'value="{medical.id}" selected' in assign_form
    )
    step(client, login_as, receptionist, "accept", case)
    step(client, login_as, office, "assign", case, handling_unit=medical.id, handler=handler.id)
    case = fresh(case)
    assert case.handling_unit_id == medical.id and case.status == CaseStatus.assigned

    # 2. 院行风办 issues the 信访投诉处理通知单 to the department.
    login_as(office)
    notice = printed(client, case, "complaint_notice")
    assert "信访投诉处理通知单" in notice and "医务科" in notice and "两周内" in notice
    assert "患者及家属赵丽" in notice and "信访人" not in notice

    # 3. The department investigates, records its opinion and the nurse's written statement.
    step(client, login_as, handler, "acknowledge", case)
    login_as(handler)
    upload(client, case, "护士书面说明", "护士书面说明.pdf")
    upload(client, case, "科室调查记录及意见", "科室意见.pdf")
    step(
        client,
        login_as,
        handler,
        "investigate",
        case,
        findings="夜班护士未及时应答属实，已谈话",
    )
    page = details(client, case)
    assert "护士书面说明" in page and "科室调查记录及意见" in page

    # 4. Day 7 passes without closure: a warning to 院行风办 and an interim report; at day 14
    # the case is overdue and the hospital leaders are told.
    closing = clock_of(case, Clock.closing)
    assert (closing.amount, closing.unit) == (14, TimeUnit.calendar_days)
    handling = clock_of(case, Clock.handling)
    assert (handling.amount, handling.unit) == (7, TimeUnit.calendar_days)
    minute = timedelta(minutes=1)
    assert run_escalations(now=handling.due_at - minute) == 0
    assert run_escalations(now=handling.due_at + minute) == 1
    db.session.commit()
    assert any(case.number in message for message in notifications_of(office))
    login_as(office)
    warnings = client.get("/admin/worklist/?tab=notifications").get_data(as_text=True)
    assert case.number in warnings
    assert not any(case.number in message for message in notifications_of(leader))
    step(
        client,
        login_as,
        handler,
        "interim_report",
        case,
        reason="需等待护理部共同约谈当事护士",
    )
    assert "需等待护理部共同约谈当事护士" in details(client, case)
    assert run_escalations(now=closing.due_at - minute) == 0
    assert run_escalations(now=closing.due_at + minute) == 1
    db.session.commit()
    assert any(case.number in message for message in notifications_of(leader))
    # Time moves on: the clock started 15 days ago; the case is flagged overdue.
    closing = clock_of(case, Clock.closing)
    closing.started_at -= timedelta(days=15)
    refresh_due(closing)
    db.session.commit()
    login_as(office)
    assert case.number in client.get("/admin/worklist/?tab=overdue").get_data(as_text=True)
    assert "已超期" in details(client, case)

    # Closed and archived late, with the overdue on record.
    step(
        client,
        login_as,
        handler,
        "report_result",
        case,
        facts="护士态度问题属实",
        decision="当事护士书面检讨，扣发当月绩效",
    )
    step(client, login_as, head, "approve_result", case)
    step(client, login_as, office, "reply", case, method="on_site", text="已当面答复")
    step(client, login_as, office, "close", case, opinion="办结")
    step(client, login_as, office, "archive", case)
    assert fresh(case).status == CaseStatus.archived


# --- S15 --------------------------------------------------------------------------------------


def _hotline_call(client, when, *, case=None, **new_case):
    data = {
        "called_at": local(when),
        "line": "hotline",
        "line_number": "96310",
        "caller_number": "13957812345",
        "new_priority": "normal",
    }
    if case is not None:
        data |= {"case": str(case.id), "record": "占道摊点仍未清除，再次投诉"}
    else:
        data |= {
            "record": "某路口夜市摊点占用消防通道，车辆无法通行",
            "new_person_name": "吴先生",
            "new_person_phone": "13957812345",
            **new_case,
        }
    before = db.session.scalar(sa.select(sa.func.max(Call.id))) or 0
    response = client.post("/admin/call/new/", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    db.session.expire_all()
    call = db.session.scalars(sa.select(Call).order_by(Call.id.desc())).first()
    assert call is not None and call.id > before
    return db.session.get(Case, call.case_id)


def test_s15_city_hotline_three_minute_dispatch_repeat_call_review_and_return(
    app, client, login_as, create_user
):
    admin, units, categories = set_up_office(
        client, login_as, create_user, "government", "丽水市城市管理局"
    )
    # The hotline's configuration, imported on 配置导出/导入: a 3-minute dispatch clock for
    # calls with a warning to the operators once it passes, leaders read only important items,
    # and out-of-remit calls go back to the dispatcher above.
    data = json.loads(client.get("/admin/configuration/download").get_data(as_text=True))
    sections = data["sections"]
    sections["deadline_rules"].append(
        {"name": "96310派遣（3分钟）", "clock": "dispatch", "amount": 3, "unit": "minutes"}
        | {"channel": "call", "max_extension": None, "category": None}
    )
    sections["escalation_rules"].append(
        {
            "name": "派遣超过3分钟提醒值班长",
            "level": 1,
            "clock": "dispatch",
            "trigger": "past_due",
            "threshold": 0,
            "recipient_role": "office",
            "same_unit_only": False,
        }
    )
    for setting in sections["settings"]:
        if setting["key"] == "leader_reading":
            setting["value"] = "important"
    for unit in sections["units"]:
        if unit["name"] == "县信访局":
            unit["out_of_scope_policy"] = "return_only"
    body = json.dumps(data, ensure_ascii=False).encode()
    page = client.post(
        "/admin/configuration/upload",
        data={"file": (io.BytesIO(body), "96310.json")},
        content_type="multipart/form-data",
    ).get_data(as_text=True)
    assert "96310派遣（3分钟）" in page
    digest = page.split('name="digest" value="')[1].split('"')[0]
    assert client.post("/admin/configuration/apply", data={"digest": digest}).status_code == 302

    office_unit, squad = units["县信访局"], units["县城市管理局"]
    operator = hire(client, login_as, admin, "registrar", office_unit, "96310话务员")
    duty_chief = hire(client, login_as, admin, "office", office_unit, "值班长")
    squad_handler = hire(client, login_as, admin, "handler", squad, "执法中队队员")

    # 1. The call is recorded with the caller's details and dispatched to the on-duty squad
    # within 3 minutes: acceptance and dispatch timestamps, no warning.
    login_as(operator)
    accepted_at = utcnow().replace(microsecond=0) - timedelta(minutes=1)
    case = _hotline_call(
        client,
        accepted_at,
        new_subject="夜市摊点占用消防通道",
        new_content="某路口夜市摊点占用消防通道，车辆无法通行。",
        new_category=str(categories["市政设施"].id),
    )
    dispatch = clock_of(case, Clock.dispatch)
    assert (dispatch.amount, dispatch.unit) == (3, TimeUnit.minutes)
    assert dispatch.started_at == accepted_at
    assert dispatch.due_at == accepted_at + timedelta(minutes=3)
    step(
        client,
        login_as,
        duty_chief,
        "assign",
        case,
        handling_unit=squad.id,
        handler=squad_handler.id,
    )
    dispatch = clock_of(case, Clock.dispatch)
    assert dispatch.stopped_at is not None and dispatch.stopped_at <= dispatch.due_at
    page = details(client, case)
    row = clock_row(page, "派单时限")
    assert "96310派遣（3分钟）" in row and local(accepted_at)[:16] in row and "按期完成" in row
    (dispatched,) = events(case, EventKind.assign)
    assert local(dispatched.created_at)[:16] in page
    # A call at 21:05 nobody dispatched: past 21:08 the operators are warned.
    login_as(operator)
    evening = (utcnow() - timedelta(days=1)).astimezone(local_zone())
    evening = evening.replace(hour=21, minute=5, second=0, microsecond=0)
    stale = _hotline_call(
        client,
        evening,
        new_subject="施工噪音扰民",
        new_content="夜间施工噪音。",
        new_category=str(categories["噪声污染"].id),
    )
    stale_dispatch = clock_of(stale, Clock.dispatch)
    assert local(stale_dispatch.due_at)[11:16] == "21:08"

    def warned() -> bool:
        return any(
            stale.number in message and "派单时限已到期" in message
            for message in notifications_of(duty_chief)
        )

    run_escalations(now=stale_dispatch.due_at - timedelta(seconds=30))
    db.session.commit()
    assert not warned()
    run_escalations(now=stale_dispatch.due_at + timedelta(seconds=30))
    db.session.commit()
    assert warned()
    page = details(client, stale)
    assert "已超期" in clock_row(page, "派单时限") and "超期预警" in page
    assert case.number not in " ".join(notifications_of(duty_chief))

    # 2. Later (21:40 in the story) the caller rings again: the call joins the existing case,
    # the repeat counter goes up, and the squad's handler is told to contact the caller.
    login_as(operator)
    # (The test's clock is real: the repeat call comes in now, a minute or so after the first.)
    again = _hotline_call(client, utcnow(), case=case)
    assert again.id == case.id
    case = fresh(case)
    assert case.repeat_count == 1
    assert db.session.scalar(sa.select(sa.func.count(Call.id)).where(Call.case_id == case.id)) == 2
    page = details(client, case)
    assert "来电（2）" in page and "占道摊点仍未清除，再次投诉" in page
    assert "重复信访次数" in page
    told = notifications_of(squad_handler)
    assert any(case.number in m and "重复1次" in m and "联系信访人" in m for m in told)
    step(client, login_as, squad_handler, "acknowledge", case)
    step(
        client,
        login_as,
        squad_handler,
        "log_contact",
        case,
        method="phone",
        summary="已回电告知执法队员正在现场清理",
    )

    # 3. Next morning: repeat and unresolved cases of the last 3 days.
    login_as(operator)
    old = _hotline_call(
        client,
        utcnow() - timedelta(days=5),
        new_subject="五天前的来电",
        new_content="已过复核期。",
        new_category=str(categories["市政设施"].id),
    )
    login_as(operator)
    client.get("/admin/")  # shows the registration's message, which names the old case's number
    from admin_views.filters import DailyReviewFilter

    view = next(v for v in app.extensions["admin"][0]._views if v.endpoint == "case")
    index = next(i for i, f in enumerate(view._filters) if isinstance(f, DailyReviewFilter))
    listing = client.get(f"/admin/case/?flt0_{index}=3").get_data(as_text=True)
    assert case.number in listing and stale.number in listing
    assert old.number not in listing
    # The filter is offered by name on the list (the filter bar's data is JSON).
    assert json.dumps("近3日重复或未办结")[1:-1] in listing or "近3日重复或未办结" in listing

    # 4. An administrative-efficiency complaint of another agency goes back to the dispatcher
    # above with the reason and a suggested destination.
    efficiency = _hotline_call(
        client,
        utcnow() - timedelta(minutes=2),
        new_subject="效能投诉：审批窗口推诿",
        new_content="反映某审批窗口工作人员推诿。",
        new_category=str(categories["其他"].id),
    )
    page = details(client, efficiency)
    assert "/admin/workflow/transfer/" not in page
    step(
        client,
        login_as,
        operator,
        "return_to_sender",
        efficiency,
        returned_to="市12345派单中心",
        reason="属效能信访投诉，不属城管职责",
        suggested_destination="市效能投诉中心",
    )
    efficiency = fresh(efficiency)
    assert efficiency.status == CaseStatus.returned
    page = details(client, efficiency)
    assert "市12345派单中心" in page and "属效能信访投诉，不属城管职责" in page
    assert "建议转往" in page and "市效能投诉中心" in page
    letter = printed(client, efficiency, "return_letter")
    assert "建议转市效能投诉中心处理" in letter
