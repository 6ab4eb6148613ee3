"""Acceptance scenarios S6, S16, S19 and S20 (requirements.md §9) walked to their last "Shows"
through the admin with the test client, each step by the role an office would give it: the pages,
the registers and the printed documents' text. The per-feature tests of issue 15 check each piece
and its bad input; these walks check that the pieces join up the way an office uses them."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import openpyxl
import sqlalchemy as sa

from models import (
    Callback,
    Case,
    CaseRepresentative,
    Commendation,
    DestructionBatch,
    IssuedDocument,
    OpinionBox,
    OpinionBoxOpening,
    Party,
    SurveyCampaign,
    SurveyResponse,
    db,
)
from models.base import to_local, utcnow
from models.enums import CaseChannel, CaseStatus, DocumentKind
from models.operations.reception import local_today
from models.operations.surveys import ensure_owner_survey_template
from models.surveys import RectificationOrder
from tests.test_documents import pdf_words
from tests.test_documents_issue15 import _pdf_of, _supervised
from tests.test_reception import text_of
from tests.test_reception_issue15 import (
    REPRESENTATIVES,
    _group_visit_form,
    reception_day,
    xlsx_cells,
)
from tests.test_scenarios_workflow import details, fresh, people, step

__all__ = ["people", "reception_day"]  # fixtures reused from the feature tests


def issue_pdf(client, case, kind: str) -> str:
    """Issue (or reprint) a document from the case page; the words of its PDF."""
    return pdf_words(_pdf_of(client, client.post(f"/admin/documents/issue/{case.id}/{kind}/")))


# -- S20 -----------------------------------------------------------------------------------------


def test_s20_not_accepted_notice_kept_letters_and_year_end_destruction(
    app, client, login_as, people, create_case, create_user, create_party
):
    registrar, office = people["registrar"], people["office"]
    admin = create_user("admin", unit=office.unit)

    # 1. A demand already before a court: not accepted, litigation route, a printed notice.
    visitor = create_party(name="孙某", phone="13900000009")
    litigated = create_case(by=registrar, subject="合同纠纷", petitioners=[visitor])
    # Typed as the form's hint asks: what the visitor should do.
    route = "通过诉讼、仲裁、行政复议等法定途径解决"
    step(
        client,
        login_as,
        registrar,
        "not_accept",
        litigated,
        reason="该事项已进入诉讼程序",
        legal_route=route,
    )
    assert fresh(litigated).status == CaseStatus.not_accepted
    page = details(client, litigated)
    assert "不予受理" in page and route in page
    notice = issue_pdf(client, litigated, "non_acceptance_notice")
    for expected in (
        "不予受理告知书",
        "孙某：",
        "经审查，本机关决定不予受理。理由如下：该事项已进入诉讼程序",
        f"您反映的事项，请{route}。",
        litigated.number,
    ):
        assert expected in notice, expected

    # 2. A letter repeating a matter answered last month: linked to it and kept (存信), with
    # region and year; the kept-letters list groups it by region and year.
    last_year = to_local(utcnow()).year - 1
    earlier = create_case(by=registrar, subject="道路维修", received_at=utcnow() - timedelta(35))
    repeats = []
    for region, subject in (
        ("城关镇", "道路维修（重复来信）"),
        ("城关镇", "路灯（重复来信）"),
        ("河西乡", "河道（重复来信）"),
    ):
        repeat = create_case(by=registrar, subject=subject)
        step(
            client,
            login_as,
            registrar,
            "keep",
            repeat,
            region=region,
            year=str(last_year),
            related_number=earlier.number,
        )
        repeats.append(fresh(repeat))
    first, second, elsewhere = repeats
    assert (first.status, first.kept_region, first.kept_year) == (
        CaseStatus.kept,
        "城关镇",
        last_year,
    )
    assert earlier.number in details(client, first)

    login_as(office)
    page = text_of(client.get("/admin/keptletters/"))
    groups = page.split("kept-groups")[1].split("</table>")[0]
    assert "城关镇" in groups and "河西乡" in groups and str(last_year) in groups
    listed = text_of(client.get(f"/admin/keptletters/?year={last_year}&region=城关镇"))
    listed = listed.split("kept-cases")[1]
    assert first.number in listed and second.number in listed
    assert elsewhere.number not in listed and litigated.number not in listed
    register = client.get(f"/admin/keptletters/pdf/?year={last_year}&region=城关镇")
    assert register.mimetype == "application/pdf"
    words = pdf_words(register.data)
    assert "存信登记簿" in words and first.number in words and elsewhere.number not in words

    # 3. Year end: a callback record (5-year retention) on one of them refuses the batch,
    # and nothing is destroyed.
    callback = Callback(case_id=second.id, note="电话回访", created_by_id=office.id)
    db.session.add(callback)
    db.session.commit()
    login_as(admin)
    batch_form = {
        "mode": "criteria",
        "year": str(last_year),
        "region": "城关镇",
        "note": f"{last_year}年城关镇存信",
    }
    refused = client.post("/admin/keptletters/destroy/", data=batch_form)
    assert refused.status_code == 400
    assert "本批未销毁任何事项" in text_of(refused) and second.number in text_of(refused)
    assert "回访记录" in text_of(refused)
    assert fresh(first).status == fresh(second).status == CaseStatus.kept
    assert db.session.scalar(sa.select(sa.func.count(DestructionBatch.id))) == 0

    # Without that record the batch destroys the previous year's 存信 of the region only.
    db.session.delete(db.session.get(Callback, callback.id))
    db.session.commit()
    done = client.post("/admin/keptletters/destroy/", data=batch_form)
    assert done.status_code == 302, text_of(done)[-1500:]
    batch = db.session.scalars(sa.select(DestructionBatch)).one()
    assert (batch.kept_year, batch.kept_region, batch.case_count) == (last_year, "城关镇", 2)
    for case in (first, second):
        case = fresh(case)
        assert case.status == CaseStatus.destroyed and case.destruction_batch_id == batch.id
        assert "重复来信" not in (case.subject or "")
    assert fresh(elsewhere).status == CaseStatus.kept
    assert fresh(earlier).status != CaseStatus.destroyed

    # The destruction log: who, when, which items.
    log = client.get(f"/admin/destructionbatch/print/?id={batch.id}")
    assert log.status_code == 200 and log.mimetype == "application/pdf"
    words = pdf_words(log.data)
    when = to_local(batch.created_at)
    for expected in (
        "存信销毁登记簿",
        batch.number,
        first.number,
        second.number,
        "城关镇",
        admin.full_name,
        f"{when.year}",
    ):
        assert expected in words, expected
    assert elsewhere.number not in words


# -- S19 -----------------------------------------------------------------------------------------


def test_s19_group_visit_reports_supervision_callback_and_annual_statistics(
    app, client, login_as, people, create_case
):
    registrar, office, leader = people["registrar"], people["office"], people["leader"]
    handler, head, housing = people["handler"], people["head"], people["housing"]
    leader.full_name = "赵县长"
    db.session.commit()

    # 1. Thirty residents, five representatives with their ID numbers: the group flag, 30
    # persons, the representatives as people; 1 batch and 30 person-visits.
    login_as(registrar)
    response = client.post("/admin/visit/new/", data=_group_visit_form())
    assert response.status_code == 302, text_of(response)[-1500:]
    case = db.session.scalars(sa.select(Case)).one()
    assert case.is_group and case.head_count == 30 and case.channel == CaseChannel.visit
    links = db.session.scalars(
        sa.select(CaseRepresentative)
        .where(CaseRepresentative.case_id == case.id)
        .order_by(CaseRepresentative.position)
    ).all()
    assert [(link.party.name, link.party.id_number) for link in links] == [
        (name, id_number) for name, id_number, _phone in REPRESENTATIVES
    ]
    page = details(client, case)
    assert "集体访" in page and "代表人" in page
    assert all(name in page for name, _id, _phone in REPRESENTATIVES)
    login_as(leader)
    assert "1 / 30" in text_of(client.get("/admin/stats/"))

    # 2. The special report for the leader, drafted at once.
    login_as(registrar)
    case = fresh(case)
    step(client, login_as, registrar, "accept", case)
    response = client.post(
        f"/admin/documents/draft/{case.id}/special_report/",
        data={
            "addressee": "县委、县政府领导",
            "facts": "三十名居民聚集反映基站建设问题。",
            "head_count": "30",
            "representatives": "周一、吴二、郑三、王四、冯五",
            "measures": "已安排代表座谈，现场秩序平稳。",
            "proposals": "建议暂停施工并组织听证。",
        },
    )
    special = pdf_words(_pdf_of(client, response))
    for expected in (
        "专报",
        "县委、县政府领导：",
        "30人",
        "周一、吴二、郑三、王四、冯五",
        "已安排代表座谈，现场秩序平稳。",
        "以上报告妥否，请批示。",
    ):
        assert expected in special, expected

    # The information report goes up at once and waits for the leader in charge's sign-off.
    response = client.post(
        f"/admin/documents/draft/{case.id}/information_report/",
        data={"category": "重大集体访", "facts": "三十人集体来访。", "measures": "已稳控。"},
    )
    assert response.status_code == 302, text_of(response)[-1500:]
    assert "待领导签发" in details(client, case)
    client.post(f"/admin/documents/issue/{case.id}/information_report/")
    assert not db.session.scalar(
        sa.select(sa.func.count(IssuedDocument.id)).where(
            IssuedDocument.kind == DocumentKind.information_report
        )
    )
    login_as(leader)
    reported = to_local(utcnow()).replace(second=0, microsecond=0)
    response = client.post(
        f"/admin/documents/sign-off/{case.id}/",
        data={"reported_at": reported.strftime("%Y-%m-%dT%H:%M")},
    )
    assert response.status_code == 302
    login_as(office)
    information = issue_pdf(client, case, "information_report")
    when = reported.strftime("%Y年%m月%d日%H:%M").replace("年0", "年").replace("月0", "月")
    for expected in (
        "签发人：赵县长",
        "【重大集体访】",
        "三十人集体来访。",
        "签发：赵县长",
        f"上报时间：{when}",
    ):
        assert expected in information, expected

    # 3. The leader instructs and supervises; the office prints the card and urges.
    due = to_local(utcnow()).date() + timedelta(days=15)
    step(
        client,
        login_as,
        leader,
        "instruct",
        case,
        instruction="请住建局牵头核查整改",
        handling_unit=housing.id,
        handler=handler.id,
        due_on=due.isoformat(),
        supervised=True,
    )
    assert fresh(case).is_supervised
    login_as(office)
    card = issue_pdf(client, case, "supervision_card")
    for expected in (
        "督办",
        "请住建局牵头核查整改",
        "县住房和城乡建设局",
        "批示领导（签字）：赵县长",
    ):
        assert expected in card, expected
    step(client, login_as, office, "urge", case, note="请于本周内报送整改情况")
    step(client, login_as, office, "urge", case, note="请明日前报结")
    page = details(client, case)
    assert "请于本周内报送整改情况" in page and "请明日前报结" in page

    # 4. Rectified, replied; closing is refused until the mandatory callback exists.
    step(client, login_as, handler, "acknowledge", case)
    step(
        client,
        login_as,
        handler,
        "report_result",
        case,
        facts="基站选址已调整",
        decision="暂停建设并另行选址",
    )
    step(client, login_as, head, "approve_result", case, note="同意")
    step(client, login_as, office, "reply", case, method="on_site", text="已暂停建设并调整选址")
    step(client, login_as, leader, "close", case, expect_ok=False, opinion="同意办结")
    case = fresh(case)
    assert case.status == CaseStatus.replied
    login_as(leader)
    assert "回访" in text_of(client.get(f"/admin/workflow/close/{case.id}/", follow_redirects=True))
    login_as(office)
    response = client.post(
        f"/admin/callback/new/?case_id={case.id}",
        data={
            "case": str(case.id),
            "method": "home_visit",
            "done_at": to_local(utcnow()).strftime("%Y-%m-%dT%H:%M"),
            "satisfaction": "satisfied",
            "person_reached": "周一",
        },
    )
    assert response.status_code == 302, text_of(response)[-1500:]
    step(client, login_as, leader, "close", case, opinion="同意办结")
    assert fresh(case).status == CaseStatus.closed

    # 5. The annual statistics: batches, person-visits, satisfaction, escalations (zero).
    login_as(office)
    today = to_local(utcnow()).date()
    query = f"start={today.replace(month=1, day=1).isoformat()}&end={today.isoformat()}"
    report = client.get(f"/admin/stats/report/?kind=annual_summary&format=pdf&{query}")
    assert report.status_code == 200 and report.mimetype == "application/pdf"
    text = pdf_words(report.data)
    for expected in ("共收到信访事项1批、30人次", "集体访1批、30人次", "满意率100.0%", "越级访0批"):
        assert expected in text, expected


# -- S16 -----------------------------------------------------------------------------------------


def test_s16_opinion_box_slips_suggestion_commendation_and_public_notice(
    app, client, login_as, people, create_user
):
    office, leader = people["office"], people["leader"]
    login_as(office)
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
    assert response.status_code == 302, text_of(response)[-1500:]
    box = db.session.scalar(sa.select(OpinionBox))
    today = local_today()
    # 1. Skipped: overdue on the box list and reminded at the desk.
    box.next_due_on = today - timedelta(days=6)
    db.session.commit()
    assert "大厅意见箱" in text_of(client.get("/admin/opinionbox/?flt0_0=overdue"))
    assert "意见箱开启提醒" in text_of(client.get("/admin/reception/"))

    # Opened: the log has date, opener and 3 items; the next due date moves 5 days on.
    slips = "建议在3号楼北侧增设自行车停放架。\n\n大厅饮水机经常没水。\n\n窗口工作人员态度很好。"
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
    assert response.status_code == 302, text_of(response)[-1500:]
    opening = db.session.scalars(sa.select(OpinionBoxOpening)).one()
    assert (opening.slip_count, opening.opener_id, opening.opened_on) == (3, office.id, today)
    db.session.refresh(box)
    assert box.next_due_on == today + timedelta(days=5)
    log = text_of(client.get("/admin/opinionboxopening/"))
    assert "大厅意见箱" in log and today.isoformat() in log
    assert "意见箱开启提醒" not in text_of(client.get("/admin/reception/"))

    # 2. Three new matters, channel opinion box.
    cases = opening.cases
    assert len(cases) == 3 and db.session.scalar(sa.select(sa.func.count(Case.id))) == 3
    assert {case.channel for case in cases} == {CaseChannel.opinion_box}
    suggestion = next(case for case in cases if "停放架" in case.subject)
    # The slip's sentence is the subject, a title without its full stop; the content keeps it.
    assert suggestion.subject == "建议在3号楼北侧增设自行车停放架"
    assert suggestion.content == "建议在3号楼北侧增设自行车停放架。"
    assert all(case.number in log for case in cases)

    # 3. The resident who wrote it is identified and recorded on the matter, the director
    # decides on the rectification, and the resident is commended.
    response = client.post("/admin/party/new/", data={"name": "周龑", "phone": "13800000002"})
    assert response.status_code == 302, text_of(response)[-1500:]
    resident = db.session.scalar(sa.select(Party).where(Party.name == "周龑"))
    suggestion = fresh(suggestion)
    response = client.post(
        f"/admin/case/edit/?id={suggestion.id}",
        data={
            "channel": "opinion_box",
            "received_at": to_local(suggestion.received_at).strftime("%Y-%m-%d %H:%M:%S"),
            "priority": "normal",
            "subject": suggestion.subject,
            "content": suggestion.content,
            "head_count": "1",
            "petitioners": str(resident.id),
            "expected_version": f"{suggestion.version}@x",
        },
    )
    assert response.status_code == 302, text_of(response)[-1500:]
    suggestion = fresh(suggestion)
    assert [p.id for p in suggestion.petitioners] == [resident.id]
    step(client, login_as, office, "accept", suggestion)
    step(
        client,
        login_as,
        leader,
        "instruct",
        suggestion,
        instruction="同意增设停放架，物业一周内完成",
        handling_unit=people["housing"].id,
    )
    login_as(office)
    response = client.post(
        f"/admin/documents/commend/{suggestion.id}/",
        data={
            "party": str(resident.id),
            "text": "提出增设停放架的合理建议",
            "commended_on": today.isoformat(),
        },
    )
    assert response.status_code == 302, text_of(response)[-1500:]
    commendation = db.session.scalars(sa.select(Commendation)).one()
    assert commendation.party_id == resident.id
    person = text_of(client.get(f"/admin/party/details/?id={resident.id}"))
    assert "表扬（1）" in person and "提出增设停放架的合理建议" in person
    assert suggestion.number in person

    # The public notice posts the measure and the commended resident.
    response = client.post(
        f"/admin/documents/draft/{suggestion.id}/public_notice/",
        data={"measures": "在3号楼北侧增设自行车停放架40个。"},
    )
    notice = pdf_words(_pdf_of(client, response))
    for expected in (
        "关于建议在3号楼北侧增设自行车停放架整改措施的公示",
        "在3号楼北侧增设自行车停放架40个。",
        "周龑：提出增设停放架的合理建议",
        "特此公示。",
    ):
        assert expected in notice, expected
    notices = db.session.scalars(
        sa.select(IssuedDocument).where(IssuedDocument.kind == DocumentKind.public_notice)
    ).all()
    assert [document.case_id for document in notices] == [suggestion.id]


# -- S6 ------------------------------------------------------------------------------------------


def unit_row(page: str, unit: str) -> list[str]:
    """The cells of a unit's row in the statistics page's per-unit table, as texts."""
    table = page.split("各承办单位：办理中、已办结、超期")[1].split("</table>")[0]
    row = next(r for r in table.split("<tr>") if f"<td>{unit}</td>" in r)
    return [
        re.sub(r"<[^>]+>", "", cell).strip()
        for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    ]


def test_s6_reception_day_register_answer_card_month_end_report_and_unit_figures(
    reception_day, client, login_as, people, create_case, create_user
):
    _client, _desk_officer, upcoming, (entry_a, entry_b) = reception_day
    office, handler, head = people["office"], people["handler"], people["head"]
    housing = people["housing"]
    president = people["leader"]
    president.full_name = "王院长"
    deputy = create_user("leader", unit=president.unit)
    deputy.full_name = "李副院长"
    db.session.commit()
    day = upcoming.day.isoformat()

    # 1. The calendar: the president on first Mondays, the rota leaders on the others.
    login_as(office)
    start = local_today().replace(day=1)
    calendar = text_of(client.get(f"/admin/reception/schedule/?start={start}&months=2"))
    assert "领导接待日安排表" in calendar and upcoming.leader.name in calendar
    assert "王院长" in calendar and "李副院长" in calendar and "张副院长" in calendar

    # 2. The day's queue, in order, in the leaders' reception register (PDF and XLSX).
    assert [entry.queue_number for entry in (entry_a, entry_b)] == [1, 2]
    assert {entry.visit.visited_at.date() for entry in (entry_a, entry_b)} <= {
        upcoming.day,
        upcoming.day - timedelta(days=1),  # the slot's start in UTC
    }
    register_form = {"kind": "leaders_reception", "start": day, "end": day}
    words = pdf_words(client.post("/admin/registers/", data=register_form).data)
    assert re.search(r"1.*甲某.*咨询诉讼程序.*2.*乙某.*反映判决执行迟延", words)
    xlsx = client.get(f"/admin/registers/leaders-reception.xlsx?start={day}&end={day}")
    assert xlsx.status_code == 200
    rows = xlsx_cells(xlsx.data)[2:]
    assert [(row[0], row[1], row[2], row[5]) for row in rows] == [
        ("1", day, "甲某", "咨询诉讼程序"),
        ("2", day, "乙某", "反映判决执行迟延"),
    ]
    assert {row[6] for row in rows} == {upcoming.leader.name}

    # 3. Visitor A answered on the spot: closed, 是 on the visit row and in the register.
    step(
        client,
        login_as,
        office,
        "answer_on_spot",
        entry_a.case,
        answer="上诉期限为判决书送达之日起十五日内",
    )
    assert fresh(entry_a.case).status == CaseStatus.closed
    assert "当场答复" in details(client, entry_a.case)
    visits = pdf_words(
        client.post("/admin/registers/", data={"kind": "visits", "start": day, "end": day}).data
    )
    assert re.search(r"咨询诉讼程序.*?是", visits)

    # 4. Visitor B: the president's supervision card, signed, assigned with 15 days.
    due = upcoming.day + timedelta(days=15)
    step(
        client,
        login_as,
        president,
        "instruct",
        entry_b.case,
        instruction="请执行局依法督促执行",
        handling_unit=str(housing.id),
        handler=str(handler.id),
        due_on=due.isoformat(),
        supervised=True,
    )
    card_case = fresh(entry_b.case)
    assert card_case.status == CaseStatus.assigned and card_case.is_supervised
    assert card_case.handling_unit_id == housing.id
    login_as(office)
    card = issue_pdf(client, card_case, "supervision_card")
    for expected in (
        "督办卡",
        "请执行局依法督促执行",
        "县住房和城乡建设局",
        due.strftime("%Y"),
        "批示领导（签字）：王院长",
    ):
        assert expected in card, expected
    leaders_register = pdf_words(client.post("/admin/registers/", data=register_form).data)
    assert f"督办卡：交县住房和城乡建设局办理，限{due.isoformat()}前办结" in leaders_register

    # 5. The division reports back and the card is done; two other cards of the president
    # this month are still running, one of them past its deadline.
    step(client, login_as, handler, "acknowledge", card_case)
    step(
        client,
        login_as,
        handler,
        "report_result",
        card_case,
        facts="已督促执行到位",
        decision="执行完毕",
    )
    step(client, login_as, head, "approve_result", card_case, note="同意")
    step(client, login_as, office, "reply", card_case, method="phone", text="已电话告知执行结果")
    step(client, login_as, president, "close", card_case, opinion="同意办结")
    assert fresh(card_case).status == CaseStatus.closed
    running = _supervised(create_case, people, "财产保全进展", days_ago=1)
    late = _supervised(create_case, people, "执行款未到位", days_ago=3, due_in=1)
    db.session.commit()

    month = to_local(utcnow()).strftime("%Y-%m")
    login_as(office)
    response = client.post(
        "/admin/registers/supervision-report/",
        data={"month": month, "leader_id": str(president.id), "own_cards": "1"},
    )
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    report = pdf_words(response.data)
    year, number = month.split("-")
    assert f"{year}年{int(number)}月督办事项办理情况报告" in report
    assert "王院长：" in report  # 主送
    assert "共3件，其中已办结1件，办理中1件，超期1件" in report
    assert re.search(rf"{card_case.number}.*办结", report)
    assert re.search(rf"{running.number}.*办理中", report)
    assert re.search(rf"{late.number}.*超期", report)
    assert "抄送：李副院长，县住房和城乡建设局" in report

    # 6. The division's figures: completed and overdue.
    since = (local_today() - timedelta(days=60)).isoformat()
    figures = text_of(client.get(f"/admin/stats/?start={since}&end={local_today().isoformat()}"))
    cells = unit_row(figures, "县住房和城乡建设局")
    # 承办单位, 批次, 人次, 办理中, 已办结, 超期, 转出, 按期办结率
    assert cells[:6] == ["县住房和城乡建设局", "3", "3", "2", "1", "1"], cells


# -- S17 -----------------------------------------------------------------------------------------


#: Forms on which each of the 8 items was rated 不满意 (the rest alternate 满意 / 基本满意).
UNHAPPY = [10, 20, 30, 40, 90, 60, 70, 80]


def test_s17_survey_forms_imported_from_the_template_rectification_and_report(
    app, client, login_as, people
):
    office, director = people["office"], people["leader"]
    form_template = ensure_owner_survey_template()
    db.session.commit()
    today = local_today()

    # 1. The office opens the year's survey on the 8-item form.
    login_as(office)
    response = client.post(
        "/admin/surveycampaign/new/",
        data={
            "name": f"{today.year}年度业主满意度调查",
            "template": str(form_template.id),
            "starts_on": (today - timedelta(days=30)).isoformat(),
            "forms_sent": "200",
        },
    )
    assert response.status_code == 302, text_of(response)[-1500:]
    campaign = db.session.scalars(sa.select(SurveyCampaign)).one()
    titles = [item.title for item in form_template.items]
    assert len(titles) == 8 and "维修服务" in titles and "服务态度" in titles

    # 2. 180 returned forms typed into the downloaded template and imported at once.
    download = client.get(f"/admin/surveycampaign/template/{campaign.id}/")
    assert download.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(download.data))
    sheet = book.worksheets[0]
    header = [cell.value for cell in sheet[1]]
    assert header[3:11] == titles
    words = ("满意", "基本满意", "不满意")
    for n in range(180):
        # Item k is 不满意 on the first 10·(k+1) forms; 绿化管理 (k = 4) on 90 of them.
        ratings = [words[2] if n < UNHAPPY[k] else words[n % 2] for k in range(8)]
        opinion = "电梯维修太慢" if n % 3 == 0 else None
        sheet.append([2000 + n, today.isoformat(), f"{n % 12 + 1}栋", *ratings, opinion])
    filled = io.BytesIO()
    book.save(filled)
    response = client.post(
        f"/admin/surveycampaign/import/{campaign.id}/",
        data={"file": (io.BytesIO(filled.getvalue()), "回收问卷.xlsx")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, text_of(response)[-2000:]
    assert db.session.scalar(sa.select(sa.func.count(SurveyResponse.id))) == 180
    results = text_of(client.get(f"/admin/surveycampaign/results/{campaign.id}/"))
    assert "180" in results and "电梯维修太慢" in results

    # 3. The director's rectification order with a deadline; reported to the owners' committee.
    weakest = form_template.items[4]
    due = today + timedelta(days=30)
    response = client.post(
        f"/admin/surveycampaign/rectify/{campaign.id}/",
        data={
            "item": str(weakest.id),
            "addressee": "绿化部",
            "content": "一个月内补种草皮",
            "due_on": due.isoformat(),
        },
    )
    assert response.status_code == 302
    order = db.session.scalars(sa.select(RectificationOrder)).one()
    assert order.due_on == due
    edit = client.post(
        f"/admin/surveycampaign/edit/?id={campaign.id}",
        data={
            "name": campaign.name,
            "template": str(form_template.id),
            "starts_on": campaign.starts_on.isoformat(),
            "forms_sent": "200",
            "reported_to_committee_on": today.isoformat(),
        },
    )
    assert edit.status_code == 302, text_of(edit)[-1500:]
    db.session.expire_all()
    assert db.session.get(SurveyCampaign, campaign.id).reported_to_committee_on == today

    # The director reads the PDF report: rates overall and per item, opinions, the orders.
    login_as(director)
    report = client.get(f"/admin/surveycampaign/report/{campaign.id}/")
    assert report.status_code == 200 and report.mimetype == "application/pdf"
    text = pdf_words(report.data)
    answers = 180 * 8
    overall = f"{(answers - sum(UNHAPPY)) / answers * 100:.1f}%"
    for expected in (
        "调查报告",
        "回收问卷180份",
        "发放问卷200份",
        f"总满意率{overall}",
        "绿化管理（较弱）",  # 50.0 %, then 服务态度 55.6 % and 维修服务 61.1 %
        "服务态度（较弱）",
        "维修服务（较弱）",
        "50.0%",
        "55.6%",
        "电梯维修太慢60份",
        "绿化部",
        "一个月内补种草皮",
        f"{due.year}年{due.month}月{due.day}日",
        f"已于{today.year}年{today.month}月{today.day}日报送业主委员会",
    ):
        assert expected in text, expected
    for strong in ("供电管理", "供水管理", "卫生管理"):
        assert f"{strong}（较弱）" not in text
