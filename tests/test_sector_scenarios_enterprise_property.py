"""Acceptance scenarios S8, S9, S10 (企业客服) and S12, S13 (物业管理) of requirements.md §9.

Each office is set up as its administrator would do it: the preset is chosen on the set-up
wizard page, staff accounts are made, and nothing else is configured. Cases are registered on the
registration forms, moved through the workflow pages, answered, called back and archived through
the admin with the test client; each "Shows" line is checked on what a person would see (the case
page, the printed PDF, the lists) and on the rows behind it.
"""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from models import (
    Callback,
    CallbackQuota,
    Case,
    CaseEvent,
    CaseReply,
    Category,
    IssuedDocument,
    OutgoingContact,
    RectificationOrder,
    Unit,
    db,
)
from models.base import local_zone, to_local, utcnow
from models.enums import (
    CaseStatus,
    Clock,
    EventKind,
    ReplyKind,
    ReplyMethod,
    Satisfaction,
    TimeUnit,
)
from models.settings import SystemSetting
from tests.test_documents import pdf_words
from tests.test_scenarios_workflow import details, fresh, step

# --- helpers: what a browser does ---------------------------------------------------------------


def set_up_office(client, create_user, login_as, preset: str, name: str):
    """The administrator's first login: 初始设置, choose the preset, type the name."""
    admin = create_user("admin")
    login_as(admin)
    response = client.post("/admin/setup/", data={"preset": preset, "organisation_name": name})
    assert response.status_code == 302, response.get_data(as_text=True)[-1500:]
    db.session.expire_all()
    assert SystemSetting.get("organisation_name") == name
    return admin


def units() -> dict[str, Unit]:
    return {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}


def category(code: str) -> Category:
    return db.session.scalars(sa.select(Category).where(Category.code == code)).one()


def local_text(moment) -> str:
    return moment.astimezone(local_zone()).strftime("%Y-%m-%d %H:%M:%S")


def register(client, login_as, user, screen: str, **fields) -> Case:
    """Register a letter, visit or call with its new case on the registration form."""
    login_as(user)
    before = db.session.scalar(sa.select(sa.func.max(Case.id))) or 0
    response = client.post(f"/admin/{screen}/new/", data=fields)
    assert response.status_code == 302, response.get_data(as_text=True)[-3000:]
    db.session.expire_all()
    return db.session.scalars(sa.select(Case).where(Case.id > before)).one()


def clock(case, kind: Clock):
    return next(c for c in fresh(case).clocks if c.kind == kind)


def issue(client, login_as, user, case, kind: str, **form) -> IssuedDocument:
    """出具… on the case page's 文书 row; the kept PDF is what was printed."""
    login_as(user)
    response = client.post(f"/admin/documents/issue/{case.id}/{kind}/", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)[-1500:]
    db.session.expire_all()
    return db.session.scalars(
        sa.select(IssuedDocument)
        .where(IssuedDocument.case_id == case.id, IssuedDocument.kind == kind)
        .order_by(IssuedDocument.id.desc())
    ).first()


def callback_form(client, login_as, user, callback, **fields):
    """The callback task's form (回访 → 回访任务与记录 → 编辑)."""
    login_as(user)
    data = {
        "method": "phone",
        "done_at": to_local(utcnow()).strftime("%Y-%m-%dT%H:%M"),
        "satisfaction": "satisfied",
        "follow_up": "none",
        # 回访人: the person recording the callback picks themselves.
        "caller": str(user.id),
    }
    data.update({key: ("y" if value is True else value) for key, value in fields.items()})
    data = {key: value for key, value in data.items() if value is not False}
    response = client.post(f"/admin/callback/edit/?id={callback.id}", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    db.session.expire_all()
    return db.session.get(Callback, callback.id)


class _FormFields(HTMLParser):
    """The values a browser would submit from the page's form (what is filled in)."""

    def __init__(self):
        super().__init__()
        self.values: list[tuple[str, str]] = []
        self._select = None
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "button", "file"):
            if attrs.get("type") in ("checkbox", "radio") and "checked" not in attrs:
                return
            self.values.append((name, attrs.get("value") or ""))
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in attrs:
            self.values.append((self._select, attrs.get("value") or ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self.values.append((name, ""))

    def handle_data(self, data):
        if self._textarea:
            name, text = self.values[-1]
            self.values[-1] = (name, text + data)

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def edit_in_browser(client, url: str, **changes):
    """Open an edit form, change some fields and save it, sending everything else as shown."""
    parser = _FormFields()
    parser.feed(client.get(url).get_data(as_text=True))
    data: dict[str, list[str]] = {}
    for name, value in parser.values:
        if name not in changes:
            # A textarea's first line break belongs to the markup, not to the value.
            data.setdefault(name, []).append(value[1:] if value.startswith("\n") else value)
    data.update({name: [value] for name, value in changes.items()})
    return client.post(url, data=data)


def callback_task(case) -> Callback:
    return db.session.scalars(
        sa.select(Callback).where(Callback.case_id == case.id, Callback.is_deleted.is_(False))
    ).one()


# --- 物业管理 ----------------------------------------------------------------------------------


@pytest.fixture
def property_office(app, client, create_user, login_as):
    set_up_office(client, create_user, login_as, "property", "锦绣花园管理处")
    unit = units()
    return {
        "reception": create_user("registrar", unit=unit["管理处"]),
        "office": create_user("office", unit=unit["管理处"]),
        "director": create_user("leader", unit=unit["公司领导"]),
        "repair_lead": create_user("dept_head", unit=unit["维修班"]),
        "repairer": create_user("handler", unit=unit["维修班"]),
        "cleaning_head": create_user("dept_head", unit=unit["保洁部"]),
        "units": unit,
    }


def handle_to_reply(client, login_as, people, case, *, handler, head, facts, decision):
    step(client, login_as, handler, "acknowledge", case)
    step(client, login_as, handler, "investigate", case, findings=facts)
    step(client, login_as, handler, "report_result", case, facts=facts, decision=decision)
    step(client, login_as, head, "approve_result", case, note="同意")


def test_s12_walk_in_complaint_same_day_check_remedial_reply_callback(
    client, login_as, property_office
):
    people = property_office
    year = to_local(utcnow()).year
    arrived = utcnow() - timedelta(minutes=20)
    # 1. The resident walks in; the receptionist fills in the visit reception record. The leak
    # goes into the complaint register with the preset's number pattern.
    leak = register(
        client,
        login_as,
        people["reception"],
        "visit",
        new_person_name="周业主",
        new_person_phone="13812345678",
        new_person_address="锦绣花园3栋502",
        visited_at=local_text(arrived),
        kind="individual",
        head_count="1",
        purpose="投诉楼上漏水",
        new_subject="楼上渗漏水至卫生间顶棚",
        new_content="楼上卫生间漏水，渗到我家顶棚，已经一周。",
        new_demands="尽快维修，赔偿损失",
        new_category=str(category("WX02").id),
        new_priority="normal",
        cf_room_number="3-502",
    )
    assert leak.number == f"TS-{year}-001"
    # The cleaner: a service complaint, for which the receptionist apologised first.
    cleaner = register(
        client,
        login_as,
        people["reception"],
        "visit",
        case="",
        new_person_name="周业主",
        new_person_phone="13812345678",
        visited_at=local_text(arrived),
        kind="individual",
        head_count="1",
        purpose="投诉保洁员态度",
        new_subject="保洁员态度恶劣",
        new_content="保洁员在电梯里对我出言不逊。",
        new_category=str(category("FW02").id),
        new_priority="normal",
        cf_apology_given="y",
    )
    assert cleaner.number == f"TS-{year}-002"
    assert cleaner.custom_values["apology_given"] is True
    page = details(client, cleaner)
    assert "已先行致歉" in page and "业主" in page
    # The register entry (投诉台账 lists the complaint with its number).
    login_as(people["office"])
    listing = client.get(f"/admin/case/?search={leak.number}").get_data(as_text=True)
    assert "楼上渗漏水至卫生间顶棚" in listing
    # The case list shows the apology flag as a column (a listed field).
    listing = client.get("/admin/case/").get_data(as_text=True)
    assert "已先行致歉" in listing
    # The visit reception record on the case page.
    page = details(client, leak)
    assert "来访（1）" in page and "投诉楼上漏水" in page
    # The complaint register (客户投诉登记表) prints both entries with their numbers.
    today = to_local(utcnow()).date()
    register_pdf = client.post(
        "/admin/registers/",
        data={
            "kind": "complaints",
            "start": (today - timedelta(days=1)).isoformat(),
            "end": today.isoformat(),
            "unit_id": "",
            "category_id": "",
        },
    )
    assert register_pdf.status_code == 200 and register_pdf.mimetype == "application/pdf"
    text = pdf_words(register_pdf.data)
    assert leak.number in text and cleaner.number in text and "周业主" in text

    # 2. The same day: accepted, the director decides the handling (repair team for the leak,
    # the cleaning supervisor for the cleaner); the routing rules suggested those units.
    assert fresh(leak).routed_unit_id == people["units"]["维修班"].id
    assert fresh(cleaner).routed_unit_id == people["units"]["保洁部"].id
    step(client, login_as, people["office"], "accept", leak)
    step(
        client,
        login_as,
        people["office"],
        "assign",
        leak,
        handling_unit=people["units"]["维修班"].id,
        handler=people["repairer"].id,
        note="主任意见：维修班当天上门核实，查明漏水点",
    )
    page = details(client, leak)
    assert "主任意见：维修班当天上门核实" in page and "维修班" in page
    handling = clock(leak, Clock.handling)
    assert (handling.amount, handling.unit) == (24, TimeUnit.hours)  # same-day verification
    step(client, login_as, people["repairer"], "acknowledge", leak)
    step(
        client,
        login_as,
        people["repairer"],
        "investigate",
        leak,
        findings="当天上门核实：楼上卫生间防水层破损",
    )
    verified = db.session.scalars(
        sa.select(CaseEvent).where(
            CaseEvent.case_id == leak.id, CaseEvent.kind == EventKind.investigate
        )
    ).one()
    # Verified within the 24-hour handling clock (a calendar-day check breaks at midnight).
    assert verified.created_at - arrived < timedelta(hours=24)
    assert verified.created_at <= clock(leak, Clock.handling).due_at
    assert "当天上门核实" in details(client, leak)

    # 3. The 客户投诉处理通知单, with the register's number, goes to the repair team.
    notice = issue(client, login_as, people["office"], leak, "complaint_notice")
    text = pdf_words(notice.pdf)
    assert "客户投诉处理通知单" in text and leak.number in text
    assert "业主" in text and "信访人" not in text
    assert notice.number == leak.number or leak.number in (notice.number or "")

    # 4. Within 3 days the repair team tells the resident the remedial measures, and records
    # the corrective action with its planned time.
    remedial = clock(leak, Clock.remedial_plan)
    assert (remedial.amount, remedial.unit) == (3, TimeUnit.calendar_days)
    assert "告知补救措施时限" in details(client, leak)
    step(
        client,
        login_as,
        people["repairer"],
        "send_reply",
        leak,
        kind="remedial_plan",
        method="on_site",
        text="明日重做楼上卫生间防水层，修复顶棚",
    )
    remedial = clock(leak, Clock.remedial_plan)
    assert remedial.stopped_at is not None and remedial.stopped_at <= remedial.due_at
    planned = (to_local(utcnow()).date() + timedelta(days=2)).isoformat()
    login_as(people["repairer"])
    edit_page = client.get(f"/admin/case/edit/?id={leak.id}").get_data(as_text=True)
    assert "补救措施" in edit_page and "纠正措施" in edit_page
    response = edit_in_browser(
        client,
        f"/admin/case/edit/?id={leak.id}",
        cf_remedial_measure="重做防水层、修复顶棚",
        cf_corrective_action="楼上卫生间防水层返修并闭水试验",
        cf_corrective_planned_on=planned,
    )
    assert response.status_code == 302
    values = fresh(leak).custom_values
    assert values["corrective_planned_on"] == planned
    assert values["remedial_measure"] == "重做防水层、修复顶棚"
    page = details(client, leak)
    assert "楼上卫生间防水层返修并闭水试验" in page and "补救措施告知" in page

    # 5. The cleaner issue is reported to the cleaner's direct superior (保洁部 supervisor).
    step(client, login_as, people["office"], "accept", cleaner)
    step(
        client,
        login_as,
        people["office"],
        "assign",
        cleaner,
        handling_unit=people["units"]["保洁部"].id,
        handler=people["cleaning_head"].id,
        note="服务投诉报保洁员直接上级处理",
    )
    assigned = fresh(cleaner)
    assert assigned.handler_id == people["cleaning_head"].id
    assert "服务投诉报保洁员直接上级处理" in details(client, cleaner)

    # 6. The result goes to the resident and the director; the case closes and a callback
    # task falls due within 7 days (管道漏水: 3 days, by the preset's rule per category).
    step(
        client,
        login_as,
        people["repairer"],
        "report_result",
        leak,
        facts="已重做防水层",
        decision="维修完毕，顶棚已修复",
    )
    step(client, login_as, people["repair_lead"], "approve_result", leak, note="同意")
    step(
        client,
        login_as,
        people["repairer"],
        "reply",
        leak,
        method="on_site",
        text="漏水已修复，顶棚已重新粉刷",
    )
    step(
        client,
        login_as,
        people["repairer"],
        "send_reply",
        leak,
        kind="superior",
        method="letter",
        recipient="管理处主任",
        text="漏水投诉已处理完毕",
    )
    replies = db.session.scalars(
        sa.select(CaseReply).where(CaseReply.case_id == leak.id).order_by(CaseReply.id)
    ).all()
    assert [(r.kind, r.recipient) for r in replies] == [
        (ReplyKind.remedial_plan, "周业主"),
        (ReplyKind.formal, "周业主"),
        (ReplyKind.superior, "管理处主任"),
    ]
    assert "答复（3）" in details(client, leak)
    step(client, login_as, people["office"], "close", leak, opinion="处理完毕")
    task = callback_task(leak)
    today = to_local(utcnow()).date()
    assert task.due_on is not None and today < task.due_on <= today + timedelta(days=7)
    login_as(people["office"])
    assert leak.number in client.get("/admin/callback/?flt0_0=week").get_data(as_text=True)
    done = callback_form(
        client,
        login_as,
        people["repairer"],
        task,
        method="home_visit",
        person_reached="周业主",
        opinion="维修及时，满意",
        signature_obtained=True,
    )
    assert done.is_done and done.signature_obtained and done.satisfaction == Satisfaction.satisfied
    page = details(client, leak)
    assert "维修及时，满意" in page
    step(client, login_as, people["office"], "archive", leak, volume="2026-TS-01")
    assert fresh(leak).status == CaseStatus.archived

    # 7. The half-year analysis report exists (grouping and recurring items: issue 15).
    login_as(people["office"])
    report = client.get(
        f"/admin/stats/report/?kind=half_year&format=pdf&start={today.replace(day=1)}&end={today}"
    )
    assert report.status_code == 200 and report.mimetype == "application/pdf"
    assert "半年投诉分析报告" in pdf_words(report.data)


def repair_reported_and_closed(client, login_as, people, case, *, done: str):
    """The repair team's ordinary path: accepted, handed to 维修班, repaired, answered, closed."""
    step(client, login_as, people["office"], "accept", case)
    step(
        client,
        login_as,
        people["office"],
        "assign",
        case,
        handling_unit=people["units"]["维修班"].id,
        handler=people["repairer"].id,
    )
    step(client, login_as, people["repairer"], "acknowledge", case)
    step(client, login_as, people["repairer"], "investigate", case, findings="上门查看")
    step(client, login_as, people["repairer"], "report_result", case, facts=done, decision=done)
    step(client, login_as, people["repair_lead"], "approve_result", case, note="同意")
    step(client, login_as, people["repairer"], "reply", case, method="on_site", text=done)
    step(client, login_as, people["office"], "close", case, opinion="维修完毕")


def test_s13_maintenance_callbacks_deadlines_charge_check_rectification_quotas(
    client, login_as, property_office
):
    people = property_office
    # The preset brought the callback quotas of 回访工作制度 (nothing typed by hand).
    quotas = {
        quota.role.code: quota.min_percent for quota in db.session.scalars(sa.select(CallbackQuota))
    }
    assert quotas == {"office": 10, "dept_head": 30, "handler": 60}
    login_as(people["office"])
    page = client.get("/admin/callbackquota/").get_data(as_text=True)
    assert "管理处客服" in page and "主管" in page and "维修及服务人员" in page

    # 1. Three repairs reported by phone and completed.
    repairs = {}
    for code, subject in (
        ("WX01", "消防通道防火门闭门器损坏"),
        ("WX02", "厨房水管漏水"),
        ("WX09", "楼道灯具不亮"),
    ):
        repairs[code] = register(
            client,
            login_as,
            people["reception"],
            "call",
            called_at=local_text(utcnow() - timedelta(minutes=30)),
            line="hotline",
            line_number="88886666",
            caller_number="13812345678",
            record=f"业主来电报修：{subject}",
            new_person_name="吴业主",
            new_person_phone="13812345678",
            new_subject=subject,
            new_content=subject,
            new_category=str(category(code).id),
            new_priority="normal",
        )
        repair_reported_and_closed(client, login_as, people, repairs[code], done="已修复")
    # Callback deadlines: 2 days (safety facility), 3 days (leak), 1 week (others).
    amounts = {code: clock(case, Clock.callback) for code, case in repairs.items()}
    assert {code: (c.amount, c.unit) for code, c in amounts.items()} == {
        "WX01": (2, TimeUnit.calendar_days),
        "WX02": (3, TimeUnit.calendar_days),
        "WX09": (7, TimeUnit.calendar_days),
    }
    tasks = {code: callback_task(case) for code, case in repairs.items()}
    assert tasks["WX01"].due_on <= tasks["WX02"].due_on <= tasks["WX09"].due_on
    assert tasks["WX01"].due_on < tasks["WX09"].due_on
    for code, task in tasks.items():
        assert task.due_on == to_local(amounts[code].due_at).date()
    page = details(client, repairs["WX01"])
    assert "安全设施维修回访（2日）" in page and "回访时限" in page
    login_as(people["office"])
    listing = client.get("/admin/callback/?flt0_0=pending").get_data(as_text=True)
    for case in repairs.values():
        assert case.number in listing

    # 2. The callbacks: on-site check, the repair staff's service, suggestions, the charge
    # verified and the resident's signature.
    login_as(people["office"])
    form = client.get(f"/admin/callback/edit/?id={tasks['WX01'].id}").get_data(as_text=True)
    for label in ("已核对收费", "被回访人已签名", "问题仍存在", "满意度"):
        assert label in form
    door = callback_form(
        client,
        login_as,
        people["office"],
        tasks["WX01"],
        method="home_visit",
        person_reached="吴业主",
        opinion="闭门器已更换，维修人员态度好；建议定期检查",
        charges_checked=True,
        signature_obtained=True,
    )
    assert door.is_done and door.charges_checked and door.signature_obtained
    record = issue(client, login_as, people["office"], repairs["WX01"], "callback_record")
    text = pdf_words(record.pdf)
    assert "闭门器已更换" in text and repairs["WX01"].number in text
    assert "是否核对收费是" in text and "被回访人是否签名是" in text
    light = callback_form(
        client,
        login_as,
        people["repairer"],
        tasks["WX09"],
        method="home_visit",
        person_reached="吴业主",
        charges_checked=True,
        signature_obtained=True,
    )
    assert light.is_done

    # 3. The pipe still leaks: a written rectification notice to the repair staff, 24 h.
    pipe = callback_form(
        client,
        login_as,
        people["repair_lead"],
        tasks["WX02"],
        method="home_visit",
        person_reached="吴业主",
        satisfaction="dissatisfied",
        opinion="水管接口仍在渗水",
        problem_remains=True,
        follow_up="rectification",
        signature_obtained=True,
    )
    assert pipe.problem_remains
    order = db.session.scalars(
        sa.select(RectificationOrder).where(RectificationOrder.callback_id == pipe.id)
    ).one()
    assert order.notice_due_at is not None
    assert timedelta(hours=23) < order.notice_due_at - order.created_at <= timedelta(hours=24)
    login_as(people["office"])
    printed = client.get(f"/admin/rectificationorder/print/{order.id}/")
    assert printed.status_code == 200 and printed.mimetype == "application/pdf"
    text = pdf_words(printed.data)
    assert "整改通知" in text and "水管接口仍在渗水" in text and repairs["WX02"].number in text
    assert client.post(f"/admin/rectificationorder/issue/{order.id}/").status_code == 302
    db.session.expire_all()
    order = db.session.get(RectificationOrder, order.id)
    assert order.issued_at is not None and order.issued_at <= order.notice_due_at

    # 4. The dashboard: callback share by role against the quotas, the ones below marked.
    today = to_local(utcnow()).date()
    page = client.get(f"/admin/stats/?start={today - timedelta(days=7)}&end={today}").get_data(
        as_text=True
    )
    # The callback handling rate: all three tasks done (target 100 %).
    rate = page.split("回访完成率</div>")[1].split("</div>")[0]
    assert "100" in rate and "未完成 0 个" in page
    table = page.split("回访分工（按回访人角色）")[1].split("</table>")[0]
    rows = {re.search(r"<td>([^<]*)</td>", row).group(1): row for row in table.split("<tr")[2:]}
    assert set(rows) == {"管理处客服", "主管", "维修及服务人员"}
    assert "10%" in rows["管理处客服"] and "table-danger" not in rows["管理处客服"]
    assert "30%" in rows["主管"] and "table-danger" not in rows["主管"]
    assert "60%" in rows["维修及服务人员"] and "table-danger" in rows["维修及服务人员"]


# --- 企业客服 ----------------------------------------------------------------------------------


@pytest.fixture
def enterprise_office(app, client, create_user, login_as):
    set_up_office(client, create_user, login_as, "enterprise", "示范供电服务有限公司")
    unit = units()
    return {
        "reception": create_user("registrar", unit=unit["客服中心"]),
        "service": create_user("office", unit=unit["客服中心"]),
        "gm": create_user("leader", unit=unit["总经理室"]),
        "power_head": create_user("dept_head", unit=unit["供电服务部"]),
        "power_handler": create_user("handler", unit=unit["供电服务部"]),
        "qa_head": create_user("dept_head", unit=unit["质保部"]),
        "qa_handler": create_user("handler", unit=unit["质保部"]),
        "sales_head": create_user("dept_head", unit=unit["销售部"]),
        "sales_handler": create_user("handler", unit=unit["销售部"]),
        "hr_manager": create_user("office", unit=unit["人力行政部"]),
        "tech_head": create_user("dept_head", unit=unit["技术中心"]),
        "units": unit,
    }


def accept_and_assign(client, login_as, intake, assigner, case, unit, handler, note=""):
    step(client, login_as, intake, "accept", case)
    step(
        client,
        login_as,
        assigner,
        "assign",
        case,
        handling_unit=unit.id,
        handler=handler.id,
        note=note,
    )
    step(client, login_as, handler, "acknowledge", case)


def test_s8_power_supply_hotline_first_contact_two_replies_extension_closed_loop(
    client, login_as, enterprise_office
):
    people = enterprise_office
    # 1. A 95598 complaint about repeated power cuts: a complaint with a 3-working-day limit;
    # the first contact with the customer is due at once (2 hours) and is logged first.
    case = register(
        client,
        login_as,
        people["reception"],
        "call",
        called_at=local_text(utcnow() - timedelta(minutes=10)),
        line="hotline",
        line_number="95598",
        caller_number="13698765432",
        record="客户来电：本月小区已停电四次",
        new_person_name="郑客户",
        new_person_phone="13698765432",
        new_subject="小区反复停电",
        new_content="本月小区已停电四次，影响生活。",
        new_demands="查明原因，保证供电",
        new_category=str(category("GD01").id),
        new_priority="normal",
    )
    assert case.number.startswith(f"KF{to_local(utcnow()).year}-")
    first = clock(case, Clock.first_contact)
    assert (first.amount, first.unit) == (2, TimeUnit.hours) and first.stopped_at is None
    page = details(client, case)
    assert "首次联系时限" in page and "客户" in page
    assert fresh(case).routed_unit_id == people["units"]["供电服务部"].id
    accept_and_assign(
        client,
        login_as,
        people["reception"],
        people["service"],
        case,
        people["units"]["供电服务部"],
        people["power_handler"],
    )
    for kind in (Clock.closing, Clock.reply, Clock.superior_reply):
        limit = clock(case, kind)
        assert (limit.amount, limit.unit) == (3, TimeUnit.working_days), kind
    step(
        client,
        login_as,
        people["power_handler"],
        "log_contact",
        case,
        method="phone",
        summary="第一时间联系客户，说明抢修安排",
        result="客户表示理解",
    )
    first = clock(case, Clock.first_contact)
    assert first.stopped_at is not None and first.stopped_at <= first.due_at
    contact = db.session.scalars(
        sa.select(OutgoingContact).where(OutgoingContact.case_id == case.id)
    ).one()
    assert contact.created_by_id == people["power_handler"].id and contact.person == "郑客户"
    page = details(client, case)
    assert "联系记录（1）" in page and "第一时间联系客户，说明抢修安排" in page

    # 3. Complex: the closing deadline is extended with the general manager's approval.
    closing = clock(case, Clock.closing)
    old_due = closing.due_at
    step(
        client,
        login_as,
        people["power_handler"],
        "request_extension",
        case,
        clock="closing",
        amount="2",
        reason="需更换线路，涉及多户",
    )
    step(client, login_as, people["gm"], "decide_extension", case, approved="1", note="同意延期")
    closing = clock(case, Clock.closing)
    assert closing.extension == 2 and closing.due_at > old_due
    decision = db.session.scalars(
        sa.select(CaseEvent).where(
            CaseEvent.case_id == case.id, CaseEvent.kind == EventKind.decide_extension
        )
    ).one()
    assert decision.created_by_id == people["gm"].id
    page = details(client, case)
    assert "同意延期" in page and people["gm"].full_name in page
    assert to_local(closing.due_at).strftime("%Y-%m-%d") in page

    # 2. Investigated and answered: to the customer and to the superior.
    step(client, login_as, people["power_handler"], "investigate", case, findings="线路老化")
    step(
        client,
        login_as,
        people["power_handler"],
        "report_result",
        case,
        facts="线路老化导致跳闸",
        decision="已更换线路",
    )
    step(client, login_as, people["power_head"], "approve_result", case, note="同意")
    step(
        client,
        login_as,
        people["power_handler"],
        "reply",
        case,
        method="phone",
        text="线路已更换，供电恢复正常",
    )
    step(
        client,
        login_as,
        people["power_handler"],
        "send_reply",
        case,
        kind="superior",
        method="letter",
        recipient="省电力公司客户服务中心",
        text="已按期处理并答复客户",
    )
    replies = db.session.scalars(
        sa.select(CaseReply).where(CaseReply.case_id == case.id).order_by(CaseReply.id)
    ).all()
    assert [(r.kind, r.recipient) for r in replies] == [
        (ReplyKind.formal, "郑客户"),
        (ReplyKind.superior, "省电力公司客户服务中心"),
    ]
    assert clock(case, Clock.superior_reply).stopped_at is not None
    page = details(client, case)
    assert "答复（2）" in page and "回复上级" in page and "省电力公司客户服务中心" in page

    # 4. The callback closes the loop: 受理 → 处理 → 回访.
    step(client, login_as, people["service"], "close", case, opinion="处理完毕")
    task = callback_task(case)
    callback_form(
        client,
        login_as,
        people["service"],
        task,
        person_reached="郑客户",
        opinion="供电已正常，满意",
    )
    assert clock(case, Clock.callback).stopped_at is not None
    page = details(client, case)
    assert "供电已正常，满意" in page and "已办结" in page
    step(client, login_as, people["service"], "archive", case)
    assert fresh(case).status == CaseStatus.archived
    # The monthly report (issue 15 completes the good-service meeting's report).
    login_as(people["service"])
    today = to_local(utcnow()).date()
    report = client.get(
        f"/admin/stats/report/?kind=monthly&format=pdf&start={today.replace(day=1)}&end={today}"
    )
    assert report.status_code == 200 and report.mimetype == "application/pdf"


def write_in(client, login_as, user, *, writer, work_unit, subject, content, code, **extra):
    """A user's letter registered on 来信登记 with its new case."""
    return register(
        client,
        login_as,
        user,
        "letter",
        new_person_name=writer,
        new_person_work_unit=work_unit,
        received_at=local_text(utcnow() - timedelta(hours=1)),
        form="paper",
        origin="direct",
        new_subject=subject,
        new_content=content,
        new_category=str(category(code).id),
        new_priority="normal",
        **extra,
    )


def test_s9_product_quality_routing_interim_and_formal_reply_reference_standard_approval(
    client, login_as, enterprise_office
):
    people = enterprise_office
    # 1. A hospital pharmacy reports discoloured tablets: product quality, routed to 质保部.
    tablets = write_in(
        client,
        login_as,
        people["reception"],
        writer="市一医院药剂科",
        work_unit="市第一人民医院",
        subject="某批次片剂变色",
        content="批号20260412的片剂出现变色。",
        code="ZL01",
        cf_batch_number="20260412",
    )
    assert tablets.custom_values["batch_number"] == "20260412"
    assert fresh(tablets).routed_unit_id == people["units"]["质保部"].id
    page = details(client, tablets)
    assert "产品缺陷" in page and "产品质量投诉→质保部" in page and "质保部" in page
    login_as(people["service"])
    form = client.get(f"/admin/workflow/assign/{tablets.id}/").get_data(as_text=True)
    selected = re.search(r'<option selected value="(\d+)"|<option value="(\d+)" selected', form)
    assert selected and people["units"]["质保部"].id in {
        int(value) for value in selected.groups() if value
    }
    accept_and_assign(
        client,
        login_as,
        people["reception"],
        people["service"],
        tablets,
        people["units"]["质保部"],
        people["qa_handler"],
    )
    # A visit can be organised at once: logged as an outgoing contact.
    step(
        client,
        login_as,
        people["qa_handler"],
        "log_contact",
        tablets,
        method="visit",
        summary="质保部上门查看留样并封存",
    )
    # 2. Two deadlines: the interim answer in 5 days, the formal reply in 8.
    interim, formal = clock(tablets, Clock.interim_reply), clock(tablets, Clock.reply)
    assert (interim.amount, interim.unit) == (5, TimeUnit.calendar_days)
    assert (formal.amount, formal.unit) == (8, TimeUnit.calendar_days)
    assert interim.due_at < formal.due_at
    page = details(client, tablets)
    assert "阶段性答复时限" in page and "质量投诉正式答复（8日）" in page
    step(
        client,
        login_as,
        people["qa_handler"],
        "send_reply",
        tablets,
        kind="interim",
        method="letter",
        text="样品已封存，正在进行内部质量检验",
    )
    assert clock(tablets, Clock.interim_reply).stopped_at is not None
    assert clock(tablets, Clock.reply).stopped_at is None
    step(client, login_as, people["qa_handler"], "investigate", tablets, findings="检验中")
    step(
        client,
        login_as,
        people["qa_handler"],
        "report_result",
        tablets,
        facts="包装受潮导致变色",
        decision="同批次召回更换",
    )
    step(client, login_as, people["qa_head"], "approve_result", tablets, note="同意")
    step(
        client,
        login_as,
        people["qa_handler"],
        "reply",
        tablets,
        method="letter",
        text="经检验为包装受潮所致，同批次产品予以更换",
    )
    formal = clock(tablets, Clock.reply)
    assert formal.stopped_at is not None and formal.stopped_at <= formal.due_at
    kinds = db.session.scalars(
        sa.select(CaseReply.kind).where(CaseReply.case_id == tablets.id).order_by(CaseReply.id)
    ).all()
    assert kinds == [ReplyKind.interim, ReplyKind.formal]
    page = details(client, tablets)
    assert "答复（2）" in page and "阶段性答复" in page and "正式答复" in page

    # 3. A usage question goes to sales, who answer promptly.
    usage = write_in(
        client,
        login_as,
        people["reception"],
        writer="县医院药房",
        work_unit="县人民医院",
        subject="咨询注射剂配伍方法",
        content="请告知该注射剂可否与葡萄糖注射液配伍。",
        code="ZX",
    )
    assert fresh(usage).routed_unit_id == people["units"]["销售部"].id
    assert "使用咨询→销售部" in details(client, usage)
    accept_and_assign(
        client,
        login_as,
        people["reception"],
        people["service"],
        usage,
        people["units"]["销售部"],
        people["sales_handler"],
    )
    step(
        client,
        login_as,
        people["sales_handler"],
        "report_result",
        usage,
        facts="查阅说明书",
        decision="可以配伍",
    )
    step(client, login_as, people["sales_head"], "approve_result", usage)
    step(client, login_as, people["sales_handler"], "reply", usage, method="phone", text="可配伍")
    assert fresh(usage).status == CaseStatus.replied

    # 4. A reference standard: no reply before the QA head approves (报结审核).
    standard = write_in(
        client,
        login_as,
        people["reception"],
        writer="省药检所",
        work_unit="省药品检验所",
        subject="申请对照品",
        content="申请提供某原料药对照品一支。",
        code="DZ",
    )
    assert fresh(standard).routed_unit_id == people["units"]["质保部"].id
    accept_and_assign(
        client,
        login_as,
        people["reception"],
        people["service"],
        standard,
        people["units"]["质保部"],
        people["qa_handler"],
    )
    step(
        client,
        login_as,
        people["qa_handler"],
        "report_result",
        standard,
        facts="库存充足",
        decision="拟提供对照品一支",
    )
    refused = step(
        client,
        login_as,
        people["qa_handler"],
        "reply",
        standard,
        expect_ok=False,
        method="letter",
        text="同意提供",
    )
    assert refused.status_code in (302, 403)
    assert fresh(standard).status == CaseStatus.result_reported
    page = details(client, standard)
    assert "报结尚未经部门负责人审核，不能答复" in page
    # The handler cannot approve their own result; the QA head does.
    step(client, login_as, people["qa_handler"], "approve_result", standard, expect_ok=False)
    assert fresh(standard).result_approved_at is None
    step(client, login_as, people["qa_head"], "approve_result", standard, note="同意提供")
    assert fresh(standard).result_approved_by_id == people["qa_head"].id
    step(client, login_as, people["qa_handler"], "reply", standard, method="letter", text="同意")
    assert fresh(standard).status == CaseStatus.replied

    # 5. All three in the letters register: date, the user's unit, form, content, result.
    # (The 5-year retention date belongs to issue 15.)
    login_as(people["service"])
    today = to_local(utcnow()).date()
    register_pdf = client.post(
        "/admin/registers/",
        data={
            "kind": "letters",
            "start": (today - timedelta(days=1)).isoformat(),
            "end": today.isoformat(),
            "unit_id": "",
            "category_id": "",
        },
    )
    assert register_pdf.status_code == 200 and register_pdf.mimetype == "application/pdf"
    text = pdf_words(register_pdf.data)
    for case in (tablets, usage, standard):
        assert case.number in text
    assert "市第一人民医院" in text or "市一医院药剂科" in text
    assert "纸质信函" in text and "已答复" in text


def test_s10_email_complaint_validity_two_timers_callback_summary_and_scoped_lists(
    client, login_as, enterprise_office
):
    people = enterprise_office
    manager = people["hr_manager"]

    def e_mailed(subject, content, valid):
        return register(
            client,
            login_as,
            manager,
            "letter",
            new_person_name="孙客户",
            new_person_phone="13511112222",
            received_at=local_text(utcnow() - timedelta(hours=1)),
            form="email",
            origin="direct",
            new_subject=subject,
            new_content=content,
            new_demands="工程师道歉并改进服务",
            new_category=str(category("FW01").id),
            new_priority="normal",
            cf_complaint_valid=valid,
        )

    # 1. The complaint record form: content, demand, category 服务态度.
    rude = e_mailed("上门工程师态度粗暴", "工程师上门安装时态度粗暴，出言不逊。", "有效")
    page = details(client, rude)
    for text in ("上门工程师态度粗暴", "工程师道歉并改进服务", "服务态度", "电子邮件"):
        assert text in page
    # 2. The validity decision, on the case page and as a list column.
    assert rude.custom_values["complaint_valid"] == "有效"
    assert "投诉是否有效" in page and "有效" in page
    # An invalid complaint: a tactful reply, and closed.
    invalid = e_mailed("对价格不满", "认为公司产品价格偏高。", "无效")
    step(
        client,
        login_as,
        manager,
        "answer_on_spot",
        invalid,
        method="email",
        answer="感谢您的反馈，产品价格按公示标准执行，欢迎继续提出宝贵意见。",
    )
    assert fresh(invalid).status == CaseStatus.closed
    reply = db.session.scalars(sa.select(CaseReply).where(CaseReply.case_id == invalid.id)).one()
    assert reply.kind == ReplyKind.formal and "感谢您的反馈" in reply.text
    assert reply.method == ReplyMethod.email and reply.recipient == "孙客户"
    assert "感谢您的反馈" in details(client, invalid)
    login_as(manager)
    listing = client.get("/admin/case/").get_data(as_text=True)
    assert "投诉是否有效" in listing and "无效" in listing

    # Valid: sent to the supervisor of the department complained about (技术中心).
    accept_and_assign(
        client,
        login_as,
        manager,
        manager,
        rude,
        people["units"]["技术中心"],
        people["tech_head"],
        note="投诉有效，请技术中心主管调查处理",
    )
    assert fresh(rude).handling_unit_id == people["units"]["技术中心"].id
    # 3. Two timers: start the investigation in 1 working day, the satisfactory reply
    # within 2 more (3 working days from acceptance).
    handling, reply_clock = clock(rude, Clock.handling), clock(rude, Clock.reply)
    assert (handling.amount, handling.unit) == (1, TimeUnit.working_days)
    assert (reply_clock.amount, reply_clock.unit) == (3, TimeUnit.working_days)
    assert handling.due_at < reply_clock.due_at
    page = details(client, rude)
    assert "投诉调查（1个工作日）" in page and "投诉答复（3个工作日）" in page
    step(
        client,
        login_as,
        people["tech_head"],
        "investigate",
        rude,
        findings="经查，责任人为安装工程师李某",
        responsible_unit="技术中心",
    )
    step(
        client,
        login_as,
        people["tech_head"],
        "log_contact",
        rude,
        method="phone",
        summary="向客户致歉并说明处理方案",
    )
    step(
        client,
        login_as,
        people["tech_head"],
        "report_result",
        rude,
        facts="工程师李某服务用语不当属实",
        decision="李某书面检讨，扣减当月服务考核分，由主管上门致歉",
    )
    step(client, login_as, people["tech_head"], "approve_result", rude, note="同意")
    step(
        client,
        login_as,
        people["tech_head"],
        "reply",
        rude,
        method="phone",
        text="已对工程师作出处理，并由主管上门致歉",
    )
    assert clock(rude, Clock.reply).stopped_at <= clock(rude, Clock.reply).due_at
    assert "李某书面检讨" in details(client, rude)  # the solution text

    # 4. The manager calls back, records the final opinion, and writes the summary.
    step(
        client,
        login_as,
        manager,
        "close",
        rude,
        opinion="总结评价：处理及时，客户接受道歉；加强工程师服务用语培训",
    )
    callback_form(
        client,
        login_as,
        manager,
        callback_task(rude),
        person_reached="孙客户",
        opinion="接受道歉，对处理结果满意",
    )
    page = details(client, rude)
    assert "接受道歉，对处理结果满意" in page and "总结评价：处理及时" in page
    step(client, login_as, manager, "archive", rude)
    step(client, login_as, manager, "archive", invalid)

    # 5. Department supervisors see only their department's complaints; the GM sees all.
    def listed(user) -> str:
        login_as(user)
        response = client.get("/admin/case/")
        assert response.status_code == 200
        return response.get_data(as_text=True)

    assert rude.number in listed(people["tech_head"])
    assert invalid.number not in listed(people["tech_head"])
    sales = listed(people["sales_head"])
    assert rude.number not in sales and invalid.number not in sales
    login_as(people["sales_head"])
    assert client.get(f"/admin/case/details/?id={rude.id}").status_code in (302, 403, 404)
    everything = listed(people["gm"])
    assert rude.number in everything and invalid.number in everything


def test_answer_on_spot_refuses_an_unknown_reply_method(client, login_as, enterprise_office):
    people = enterprise_office
    case = write_in(
        client,
        login_as,
        people["reception"],
        writer="孙客户",
        work_unit="",
        subject="无效投诉",
        content="无",
        code="FW01",
    )
    before = fresh(case).version
    response = step(
        client,
        login_as,
        people["service"],
        "answer_on_spot",
        case,
        expect_ok=False,
        method="carrier_pigeon",
        answer="感谢来信",
    )
    assert response.status_code == 200 and "不是有效的选择" in response.get_data(as_text=True)
    from models.operations import ValidationFailed
    from models.operations.workflow import perform

    with pytest.raises(ValidationFailed, match="请选择答复方式"):
        perform("answer_on_spot", fresh(case), by=people["service"], method="x", answer="好")
    db.session.rollback()
    case = fresh(case)
    assert case.status == CaseStatus.registered and case.version == before
    assert not db.session.scalars(sa.select(CaseReply)).all()


@pytest.mark.parametrize(
    ("quotas", "message"),
    [
        ([{"role": "nobody", "min_percent": 10}], "没有代码为“nobody”的角色"),
        ([{"role": "handler", "min_percent": 160}], "最低比例须为0至100的整数"),
        ([{"role": "handler", "min_percent": -1}], "最低比例须为不小于0的整数"),
        ([{"role": "handler", "min_percent": 5}] * 2, "重复出现"),
    ],
)
def test_callback_quotas_in_a_configuration_file_are_checked(app, quotas, message):
    from models.maintenance.configuration import apply_configuration, export_configuration
    from models.maintenance.presets import load_preset
    from models.operations import ValidationFailed

    load_preset("property")
    db.session.commit()
    data = export_configuration()
    assert {item["role"]: item["min_percent"] for item in data["sections"]["callback_quotas"]} == {
        "office": 10,
        "dept_head": 30,
        "handler": 60,
    }
    data["sections"]["callback_quotas"] = quotas
    with pytest.raises(ValidationFailed, match=message):
        apply_configuration(data)
    db.session.rollback()
    assert len(db.session.scalars(sa.select(CallbackQuota)).all()) == 3
    # A good file replaces the quotas.
    data["sections"]["callback_quotas"] = [{"role": "handler", "min_percent": 50}]
    apply_configuration(data)
    db.session.commit()
    assert [(q.role.code, q.min_percent) for q in db.session.scalars(sa.select(CallbackQuota))] == [
        ("handler", 50)
    ]
