"""Issue 15 documents: 专报, 信访信息报告 with the leader's sign-off, 公示 and commendations,
客户投诉记录表, the 督办卡 signature line and the month-end supervision-card report, through the
admin with the test client, with their printed text and their access rules."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from models import (
    Callback,
    CaseEvent,
    Category,
    Commendation,
    IssuedDocument,
    Notification,
    Party,
    Unit,
    db,
)
from models.audit import AuditAction, AuditEntry
from models.base import format_chinese_date, local_zone, to_local, utcnow
from models.enums import CategoryKind, DocumentKind, EventKind, Satisfaction
from models.operations import NotPermitted, ValidationFailed
from models.operations.callbacks import record_callback
from models.operations.case_reports import commend_party, draft_report, sign_off_report
from models.operations.documents import DOCUMENT_NUMBER, issue_document
from models.operations.representatives import parse_representatives, set_representatives
from models.operations.supervision_report import (
    DONE,
    IN_PROGRESS,
    OVERDUE,
    parse_report_params,
    report_rows,
)
from models.operations.workflow import perform
from tests.test_documents import pdf_words

REPORTER = "赵举报"


@pytest.fixture
def people(app, government, create_user):
    units = {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}
    office_unit, housing = units["县信访局"], units["县住房和城乡建设局"]
    people = {
        "office": create_user("office", unit=office_unit),
        "registrar": create_user("registrar", unit=office_unit),
        "other_registrar": create_user("registrar", unit=office_unit),
        "leader": create_user("leader", unit=units["县政府领导"]),
        "deputy": create_user("leader", unit=units["县政府领导"]),
        "head": create_user("dept_head", unit=housing),
        "handler": create_user("handler", unit=housing),
        "transport_head": create_user("dept_head", unit=units["县交通运输局"]),
        "supervisor": create_user("supervisor", unit=office_unit),
    }
    people["leader"].full_name = "赵院长"
    people["deputy"].full_name = "钱副院长"
    db.session.commit()
    return {**people, "housing": housing, "office_unit": office_unit}


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _events(case, kind: EventKind) -> list[CaseEvent]:
    return db.session.scalars(
        sa.select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == kind)
    ).all()


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _pdf_of(client, response) -> bytes:
    assert response.status_code == 302, response.get_data(as_text=True)[-1500:]
    pdf = client.get(response.headers["Location"])
    assert pdf.mimetype == "application/pdf"
    return pdf.data


@pytest.fixture
def group_case(people, create_case, create_party):
    party = create_party(name="王堃", phone="13800000001")
    case = create_case(
        by=people["registrar"],
        subject="基站建设扰民",
        content="三十名居民反映小区旁基站施工噪声和辐射担忧。",
        petitioners=[party],
        is_group=True,
        is_major=True,
        head_count=30,
    )
    # Representatives are people linked to the case since the merge, not free text.
    set_representatives(case, parse_representatives("李喆\n赵玥"), by=people["registrar"])
    perform("accept", case, by=people["registrar"])
    db.session.commit()
    return case


# --- 专报 ---------------------------------------------------------------------------------------


def test_special_report_is_drafted_issued_and_reprinted(client, login_as, people, group_case):
    case = group_case
    login_as(people["registrar"])
    page = _page(client, f"/admin/case/details/?id={case.id}")
    assert "起草专报" in page
    form = _page(client, f"/admin/documents/draft/{case.id}/special_report/")
    assert "李喆、赵玥" in form and 'value="30"' in form  # prefilled from the case

    # A missing field: a Chinese message, nothing recorded.
    url = f"/admin/documents/draft/{case.id}/special_report/"
    bad = client.post(
        url, data={"addressee": "领导", "facts": "情况", "head_count": "30", "proposals": "建议"}
    )
    assert bad.status_code == 400 and "请填写已采取的措施" in bad.get_data(as_text=True)
    bad = client.post(
        url,
        data={
            "addressee": "领导",
            "facts": "情况",
            "head_count": "三十",
            "measures": "稳控",
            "proposals": "建议",
        },
    )
    assert bad.status_code == 400 and "来访人数应为1以上的整数" in bad.get_data(as_text=True)
    assert _events(case, EventKind.draft_report) == [] and _count(IssuedDocument) == 0

    data = {
        "addressee": "县委、县政府领导",
        "facts": "上午九时许群众聚集在信访局门口。",
        "head_count": "30",
        "representatives": "李喆、赵玥",
        "measures": "安排代表座谈，现场秩序平稳。",
        "proposals": "建议工信局一周内召开听证会。",
    }
    text = pdf_words(_pdf_of(client, client.post(url, data=data)))
    document = db.session.scalars(sa.select(IssuedDocument)).one()
    assert document.kind == DocumentKind.special_report and DOCUMENT_NUMBER.match(document.number)
    for expected in (
        "关于基站建设扰民的专报",
        "县委、县政府领导：",
        "王堃等30人来访",
        "推选李喆、赵玥为代表",
        "一、基本情况上午九时许群众聚集在信访局门口。",
        "二、已采取的措施安排代表座谈，现场秩序平稳。",
        "三、意见建议建议工信局一周内召开听证会。",
        "以上报告妥否，请批示。",
        document.number,
    ):
        assert expected in text
    assert len(_events(case, EventKind.draft_report)) == 1

    # The case page reprints the same document; issuing again hands out the same one.
    assert "打印专报" in _page(client, f"/admin/case/details/?id={case.id}")
    again = client.post(f"/admin/documents/issue/{case.id}/special_report/")
    assert again.headers["Location"].endswith(f"/admin/documents/{document.id}/pdf")
    assert _count(IssuedDocument) == 1


def test_special_report_is_for_major_matters(client, login_as, people, create_case):
    plain = create_case(by=people["registrar"], subject="路灯不亮")
    login_as(people["registrar"])
    assert "起草专报" not in _page(client, f"/admin/case/details/?id={plain.id}")
    response = client.get(f"/admin/documents/draft/{plain.id}/special_report/")
    assert response.status_code == 302
    with pytest.raises(NotPermitted, match="专报用于重大"):
        draft_report(plain, DocumentKind.special_report, by=people["registrar"], values={})
    db.session.rollback()
    assert _events(plain, EventKind.draft_report) == []


# --- 信访信息报告 and its sign-off --------------------------------------------------------------


def test_information_report_needs_the_leaders_sign_off(client, login_as, people, group_case):
    case = group_case
    login_as(people["registrar"])
    form = _page(client, f"/admin/documents/draft/{case.id}/information_report/")
    assert "<option selected>重大集体访</option>" in form  # the case's flags choose it
    response = client.post(
        f"/admin/documents/draft/{case.id}/information_report/",
        data={"category": "重大集体访", "facts": "三十人集体来访。", "measures": "已稳控。"},
    )
    assert response.status_code == 302
    assert _count(IssuedDocument) == 0  # a draft is not issued
    # It goes up at once: each leader finds it in the work list, marked urgent.
    notes = db.session.scalars(
        sa.select(Notification).where(Notification.case_id == case.id, Notification.level == 3)
    ).all()
    assert {note.user_id for note in notes if "信访信息报告" in note.message} == {
        people["leader"].id,
        people["deputy"].id,
    }
    page = _page(client, f"/admin/case/details/?id={case.id}")
    assert "待领导签发" in page and "出具信访信息报告" not in page

    # Not signed off: it cannot be issued.
    client.post(f"/admin/documents/issue/{case.id}/information_report/")
    assert _count(IssuedDocument) == 0
    with pytest.raises(NotPermitted, match="尚无可写入"):
        issue_document(case, DocumentKind.information_report, by=people["office"])
    db.session.rollback()

    # A clerk may not sign it off: a Chinese message, nothing changed.
    response = client.post(f"/admin/documents/sign-off/{case.id}/", follow_redirects=True)
    assert "只有领导才能签发信访信息报告" in response.get_data(as_text=True)
    assert _events(case, EventKind.sign_off_report) == []
    with pytest.raises(NotPermitted, match="只有领导"):
        sign_off_report(case, by=people["office"])
    db.session.rollback()

    # The leader: a "reported at" before the draft is refused, then a good one is kept.
    login_as(people["leader"])
    page = _page(client, f"/admin/case/details/?id={case.id}")
    assert "sign-off-form" in page
    too_early = to_local(utcnow() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        f"/admin/documents/sign-off/{case.id}/",
        data={"reported_at": too_early},
        follow_redirects=True,
    )
    assert "上报时间不能早于信息报告起草时间" in response.get_data(as_text=True)
    assert _events(case, EventKind.sign_off_report) == []

    reported = to_local(utcnow()).replace(second=0, microsecond=0)
    response = client.post(
        f"/admin/documents/sign-off/{case.id}/",
        data={"reported_at": reported.strftime("%Y-%m-%dT%H:%M")},
    )
    assert response.status_code == 302
    (sign_off,) = _events(case, EventKind.sign_off_report)
    assert sign_off.created_by_id == people["leader"].id
    assert datetime.fromisoformat(sign_off.data["reported_at"]) == reported
    # Signed once only.
    with pytest.raises(NotPermitted, match="已经签发"):
        sign_off_report(case, by=people["deputy"])
    db.session.rollback()

    page = _page(client, f"/admin/case/details/?id={case.id}")
    assert "出具信访信息报告" in page and "上报时间" in page
    text = pdf_words(
        _pdf_of(client, client.post(f"/admin/documents/issue/{case.id}/information_report/"))
    )
    when = reported.strftime("%Y年%m月%d日%H:%M").replace("年0", "年").replace("月0", "月")
    for expected in (
        "签发人：赵院长",
        "信访信息：基站建设扰民",
        "【重大集体访】",
        "三十人集体来访。",
        "已稳控。",
        f"签发：赵院长（{to_local(sign_off.created_at).strftime('%Y年')}",
        f"上报时间：{when}",
    ):
        assert expected in text, expected


# --- commendation and 公示 ----------------------------------------------------------------------


def test_commendation_is_recorded_once_and_feeds_the_public_notice(
    client, login_as, people, create_case, create_party
):
    resident = create_party(name="周龑", phone="13800000002")
    case = create_case(by=people["registrar"], subject="增设自行车停放架", petitioners=[resident])
    perform("accept", case, by=people["registrar"])
    db.session.commit()
    login_as(people["office"])
    url = f"/admin/documents/commend/{case.id}/"
    assert "周龑" in _page(client, url)

    bad = client.post(url, data={"party": str(resident.id), "text": " ", "commended_on": ""})
    assert bad.status_code == 400 and "请填写表扬事由" in bad.get_data(as_text=True)
    future = (to_local(utcnow()).date() + timedelta(days=3)).isoformat()
    bad = client.post(url, data={"party": str(resident.id), "text": "建议", "commended_on": future})
    assert bad.status_code == 400 and "表扬日期不能晚于今天" in bad.get_data(as_text=True)
    stranger = create_party(name="路人")
    bad = client.post(url, data={"party": str(stranger.id), "text": "建议"})
    assert bad.status_code == 400 and "请选择本事项的信访人" in bad.get_data(as_text=True)
    assert _count(Commendation) == 0 and _events(case, EventKind.commend) == []

    today = to_local(utcnow()).date()
    good = {"party": str(resident.id), "text": "提出增设停放架的合理建议", "commended_on": ""}
    good["commended_on"] = today.isoformat()
    assert client.post(url, data=good).status_code == 302
    again = client.post(url, data=good)  # a double submit
    assert again.status_code == 400 and "已记录过相同的表扬" in again.get_data(as_text=True)
    commendation = db.session.scalars(sa.select(Commendation)).one()
    assert commendation.party_id == resident.id and commendation.commended_on == today
    assert commendation.created_by_id == people["office"].id
    (event,) = _events(case, EventKind.commend)
    assert commendation.event_id == event.id

    # Shown on the case page (and its timeline) and on the person's page.
    page = _page(client, f"/admin/case/details/?id={case.id}")
    assert "提出增设停放架的合理建议" in page and "表扬信访人" in page
    person = _page(client, f"/admin/party/details/?id={resident.id}")
    assert "表扬（1）" in person and "提出增设停放架的合理建议" in person and case.number in person

    # The 公示 posts the measure and the commendation.
    notice_url = f"/admin/documents/draft/{case.id}/public_notice/"
    bad = client.post(notice_url, data={"measures": ""})
    assert bad.status_code == 400 and "请填写整改措施" in bad.get_data(as_text=True)
    response = client.post(notice_url, data={"measures": "在3号楼北侧增设停放架40个。"})
    text = pdf_words(_pdf_of(client, response))
    for expected in (
        "关于增设自行车停放架整改措施的公示",
        "在3号楼北侧增设停放架40个。",
        "周龑：提出增设停放架的合理建议",
        "公示期7日",
        "特此公示。",
    ):
        assert expected in text, expected


# --- 客户投诉记录表 -----------------------------------------------------------------------------


def test_complaint_record_grows_with_the_complaint(client, login_as, people, create_case):
    customer = Party(name="孙赟", phone="13900000003")
    db.session.add(customer)
    category = db.session.scalar(sa.select(Category).where(Category.name == "物业管理"))
    case = create_case(
        by=people["registrar"],
        category_id=category.id,
        subject="维修工程师态度恶劣",
        content="上门维修的工程师出言不逊。",
        demands="赔礼道歉",
        petitioners=[customer],
    )
    login_as(people["office"])
    first = pdf_words(
        _pdf_of(client, client.post(f"/admin/documents/issue/{case.id}/complaint_record/"))
    )
    assert "客户投诉记录表" in first and "待判定" in first and "13900000003" in first

    perform("accept", case, by=people["registrar"])
    perform(
        "instruct",
        case,
        by=people["leader"],
        instruction="请核实",
        handling_unit=people["housing"],
        handler=people["handler"],
    )
    perform("acknowledge", case, by=people["handler"])
    perform(
        "report_result",
        case,
        by=people["handler"],
        facts="工程师言语不当属实。",
        decision="已批评教育并道歉。",
    )
    perform("approve_result", case, by=people["head"])
    record_callback(
        Callback(case=case, done_at=utcnow(), satisfaction=Satisfaction.satisfied, opinion="满意"),
        by=people["office"],
    )
    db.session.commit()
    text = pdf_words(
        _pdf_of(client, client.post(f"/admin/documents/issue/{case.id}/complaint_record/"))
    )
    for expected in (
        "客户孙赟",
        "联系方式13900000003",
        "投诉类别物业管理",
        "投诉内容上门维修的工程师出言不逊。",
        "客户诉求赔礼道歉",
        "有效性判定有效（",
        "处理情况工程师言语不当属实。已批评教育并道歉。",
        "满意度：满意；客户意见：满意",
        case.number,
    ):
        assert expected in text, expected
    assert _count(IssuedDocument) == 2  # a new, fuller record for the later step

    # Only for complaints.
    other = create_case(by=people["registrar"], subject="咨询政策")
    with pytest.raises(NotPermitted, match="只有投诉类事项"):
        issue_document(other, DocumentKind.complaint_record, by=people["office"])
    db.session.rollback()


# --- 督办卡 signature line ----------------------------------------------------------------------


def test_supervision_card_has_the_leaders_signature_line(people, create_case):
    case = create_case(by=people["registrar"], subject="执行迟缓")
    perform(
        "instruct",
        case,
        by=people["leader"],
        instruction="请执行局十五日内办结",
        handling_unit=people["housing"],
        supervised=True,
        due_on=date(2099, 1, 5),
    )
    document, _created = issue_document(case, "supervision_card", by=people["leader"])
    text = pdf_words(document.pdf)
    assert f"批示领导（签字）：赵院长{format_chinese_date(case.instructed_at)}" in text
    assert len(PdfReader(io.BytesIO(document.pdf)).pages) == 1


# --- month-end supervision-card report ---------------------------------------------------------


def _supervised(create_case, people, subject, *, by_leader=None, days_ago=5, due_in=10, **kw):
    at = utcnow() - timedelta(days=days_ago)
    case = create_case(
        by=people["registrar"], subject=subject, received_at=at - timedelta(hours=1), **kw
    )
    perform(
        "instruct",
        case,
        by=by_leader or people["leader"],
        instruction="请按期办结",
        handling_unit=people["housing"],
        handler=people["handler"],
        supervised=True,
        due_on=to_local(at).date() + timedelta(days=due_in),
        at=at,
    )
    return case


def test_month_end_report_lists_each_cards_status(client, login_as, people, create_case):
    # Cards filled in a few days ago, all inside the current month or the one before: the
    # month chosen is the current one, which includes every card still open at its start.
    done = _supervised(create_case, people, "已办结事项", days_ago=2)
    perform("acknowledge", done, by=people["handler"])
    perform("report_result", done, by=people["handler"], facts="已执行", decision="执行完毕")
    perform("approve_result", done, by=people["head"])
    perform("reply", done, by=people["office"], method="phone", text="已电话答复")
    perform("close", done, by=people["leader"], opinion="办结")
    running = _supervised(create_case, people, "办理中事项", days_ago=1)
    late = _supervised(create_case, people, "超期事项", days_ago=3, due_in=1)
    deputy_card = _supervised(create_case, people, "副院长督办", by_leader=people["deputy"])
    unsupervised = create_case(by=people["registrar"], subject="未督办事项")
    report_category = db.session.scalar(
        sa.select(Category).where(Category.kind == CategoryKind.report)
    )
    reporter = Party(name=REPORTER)
    db.session.add(reporter)
    secret = _supervised(
        create_case,
        people,
        "举报事项",
        days_ago=1,
        category_id=report_category.id,
        petitioners=[reporter],
    )
    db.session.commit()
    month = to_local(utcnow()).strftime("%Y-%m")

    params = parse_report_params(month, str(people["leader"].id), True, "")
    statuses = {row.number: row.status for row in report_rows(params, people["supervisor"])}
    assert statuses == {
        done.number: DONE,
        running.number: IN_PROGRESS,
        late.number: OVERDUE,
        secret.number: IN_PROGRESS,
    }
    assert deputy_card.number not in statuses and unsupervised.number not in statuses

    login_as(people["supervisor"])  # prints registers, may not see the reporter
    assert "督办卡月末情况报告" in _page(client, "/admin/registers/")
    form = _page(client, "/admin/registers/supervision-report/")
    assert "赵院长" in form and "钱副院长" in form
    bad = client.post(
        "/admin/registers/supervision-report/", data={"month": "2026-13", "leader_id": ""}
    )
    assert bad.status_code == 400 and "请选择有效的月份" in bad.get_data(as_text=True)
    bad = client.post("/admin/registers/supervision-report/", data={"month": month})
    assert bad.status_code == 400 and "请选择接收报告的领导" in bad.get_data(as_text=True)

    response = client.post(
        "/admin/registers/supervision-report/",
        data={"month": month, "leader_id": str(people["leader"].id), "own_cards": "1"},
    )
    assert response.mimetype == "application/pdf"
    text = pdf_words(response.data)
    year, number = month.split("-")
    assert f"{year}年{int(number)}月督办事项办理情况报告" in text
    assert "赵院长：" in text  # 主送
    assert "共4件，其中已办结1件，办理中2件，超期1件" in text
    for case in (done, running, late, secret):
        assert case.number in text
    assert "已办结事项" in text and "超期事项" in text and deputy_card.number not in text
    assert REPORTER not in text and "（保密）" in text
    # 抄送: the other leader and the handling division, by default.
    assert "抄送：钱副院长，县住房和城乡建设局" in text

    audits = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == AuditAction.print)
    ).all()
    assert len(audits) == 1 and audits[0].data["register"] == "supervision_report"
    assert audits[0].data["rows"] == 4 and audits[0].user_id == people["supervisor"].id

    # An explicit copy line, every leader's cards; the office sees the reporter.
    login_as(people["office"])
    response = client.post(
        "/admin/registers/supervision-report/",
        data={"month": month, "leader_id": str(people["leader"].id), "copy_to": "各庭室"},
    )
    text = pdf_words(response.data)
    assert "抄送：各庭室" in text and deputy_card.number in text and REPORTER in text

    # A month before every card: nothing listed.
    early = (to_local(utcnow()).replace(day=1) - timedelta(days=70)).strftime("%Y-%m")
    assert (
        report_rows(
            parse_report_params(early, str(people["leader"].id), True, ""), people["office"]
        )
        == []
    )


# --- access matrix ----------------------------------------------------------------------------

NEW_KINDS = ("special_report", "information_report", "public_notice")


@pytest.fixture
def report_case(people, create_case):
    """An accepted 举报 case registered by ``registrar`` (the chain) with its reporter."""
    category = db.session.scalar(sa.select(Category).where(Category.kind == CategoryKind.report))
    reporter = Party(name=REPORTER, phone="13700001234")
    db.session.add(reporter)
    db.session.commit()
    case = create_case(
        by=people["registrar"],
        petitioners=[reporter],
        category=category,
        subject="举报违规收费",
        is_sensitive=True,
    )
    perform("accept", case, by=people["registrar"])
    db.session.commit()
    return case


def test_access_matrix_for_the_new_documents(client, login_as, people, report_case):
    case = report_case
    drafted = {"facts": "情况", "head_count": "1", "measures": "措施", "proposals": "建议"}
    drafted["addressee"] = "领导"
    drafted["category"] = "一般信访信息"

    # (user, kind) -> may draft. Outside the owner chain nobody without the confidential
    # permission drafts anything; a 公示 is never made of a 举报 matter.
    expected = {
        ("registrar", "special_report"): True,
        ("registrar", "information_report"): True,
        ("registrar", "public_notice"): False,
        ("other_registrar", "special_report"): False,
        ("other_registrar", "information_report"): False,
        ("other_registrar", "public_notice"): False,
        ("office", "special_report"): True,
        ("office", "public_notice"): False,
        ("handler", "special_report"): False,  # no drafting permission, not the unit
        ("supervisor", "special_report"): False,  # reads, never drafts
    }
    for (who, kind), allowed in expected.items():
        user = people[who]
        login_as(user)
        before = len(_events(case, EventKind.draft_report))
        response = client.post(f"/admin/documents/draft/{case.id}/{kind}/", data=drafted)
        after = len(_events(case, EventKind.draft_report))
        if allowed:
            assert after == before + 1, (who, kind)
        else:
            assert response.status_code in (302, 404), (who, kind)
            assert after == before, (who, kind)
            with pytest.raises(NotPermitted):
                draft_report(case, kind, by=user, values=drafted)
            db.session.rollback()

    # The draft buttons follow the same rules.
    login_as(people["other_registrar"])
    page = _page(client, f"/admin/case/details/?id={case.id}")
    assert f"/admin/documents/draft/{case.id}/" not in page
    assert "information-report" not in page and REPORTER not in page
    login_as(people["registrar"])
    page = _page(client, f"/admin/case/details/?id={case.id}")
    assert "起草专报" in page and "起草公示" not in page

    # The 专报 the chain issued is theirs to reprint, not a colleague's.
    document = db.session.scalars(
        sa.select(IssuedDocument).where(IssuedDocument.kind == DocumentKind.special_report)
    ).first()
    assert document is not None
    login_as(people["other_registrar"])
    assert client.get(f"/admin/documents/{document.id}/pdf").status_code == 403

    # Commendation of a hidden reporter: refused outside the chain.
    with pytest.raises(NotPermitted, match="举报人身份保密"):
        commend_party(case, case.petitioners[0], by=people["other_registrar"], text="表扬")
    db.session.rollback()

    # Another unit's head does not find the case at all; signed-out users go to the login.
    login_as(people["transport_head"])
    for url in (
        f"/admin/documents/draft/{case.id}/special_report/",
        f"/admin/documents/commend/{case.id}/",
    ):
        assert client.get(url).status_code == 404
    assert client.post(f"/admin/documents/sign-off/{case.id}/").status_code == 404
    login_as(people["leader"])
    assert (
        client.get("/admin/registers/supervision-report/").status_code == 403
    )  # no register.print
    client.get("/admin/logout/")
    with client.session_transaction() as session:
        session.clear()
    assert client.get(f"/admin/documents/draft/{case.id}/special_report/").status_code == 302
    assert _count(Commendation) == 0


def test_every_new_kind_renders_its_sample(app, backend):
    """The default wording of each new type renders with the preview's sample values."""
    from models.operations.documents import preview_wording
    from models.rendering.catalog import TYPES

    for kind in (
        DocumentKind.special_report,
        DocumentKind.information_report,
        DocumentKind.public_notice,
        DocumentKind.complaint_record,
    ):
        doc_type = TYPES[kind]
        with app.test_request_context():
            pdf = preview_wording(kind, doc_type.default_title, doc_type.default_body)
        assert "（预览）" in pdf_words(pdf)


def test_bad_sign_off_time_is_refused(people, group_case):
    draft_report(
        group_case,
        DocumentKind.information_report,
        by=people["registrar"],
        values={"category": "重大集体访", "facts": "情况", "measures": "措施"},
    )
    db.session.commit()
    later = datetime.now(local_zone()) + timedelta(hours=2)
    with pytest.raises(ValidationFailed, match="上报时间不能晚于现在"):
        sign_off_report(group_case, by=people["leader"], reported_at=later)
    with pytest.raises(ValidationFailed, match="请选择有效的信息类别"):
        draft_report(
            group_case,
            DocumentKind.information_report,
            by=people["registrar"],
            values={"category": "随便", "facts": "情况", "measures": "措施"},
        )
    db.session.rollback()
    assert _events(group_case, EventKind.sign_off_report) == []
