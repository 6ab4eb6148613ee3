"""Issue 15, surveys (S17): spreadsheet import, the director's PDF report, grouped opinions, one
highlighting rule, leader access; and the analysis reports of S12 step 7 and S13 step 4."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import g

from models import SurveyCampaign, SurveyResponse, Unit, db
from models.base import local_zone, utcnow
from models.enums import Satisfaction
from models.operations.survey_import import RATING_WORDS, template_columns
from models.operations.surveys import (
    campaign_results,
    ensure_owner_survey_template,
    group_opinions,
    order_rectification,
    record_survey_response,
    weakest_items,
)
from models.spreadsheets import read_first_sheet
from models.surveys import SurveyAnswer
from tests.test_documents import pdf_words

WORDS = {rating: word for word, rating in RATING_WORDS.items()}
S, B, D = Satisfaction.satisfied, Satisfaction.basically_satisfied, Satisfaction.dissatisfied


def _today() -> date:
    return utcnow().astimezone(local_zone()).date()


@pytest.fixture
def people(app, government, create_user):
    units = {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}
    return {
        "office": create_user("office", unit=units["县信访局"]),
        "leader": create_user("leader", unit=units["县政府领导"]),
        "supervisor": create_user("supervisor", unit=units["县信访局"]),
        "registrar": create_user("registrar", unit=units["县信访局"]),
        "handler": create_user("handler", unit=units["县住房和城乡建设局"]),
    }


@pytest.fixture
def campaign(people):
    campaign = SurveyCampaign(
        template=ensure_owner_survey_template(),
        name="2026年度业主意见调查",
        starts_on=_today() - timedelta(days=30),
        forms_sent=200,
    )
    db.session.add(campaign)
    db.session.commit()
    return campaign


def workbook(header: list, rows: list[list]) -> bytes:
    """A filled-in import file, as a spreadsheet program would save it."""
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("回收问卷")
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, header)
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            if isinstance(value, date):
                sheet.write_datetime(r, c, datetime(value.year, value.month, value.day), day)
            elif value is not None:
                sheet.write(r, c, value)
    book.close()
    return buffer.getvalue()


def upload(client, campaign, data: bytes):
    return client.post(
        f"/admin/surveycampaign/import/{campaign.id}/",
        data={"file": (io.BytesIO(data), "回收问卷.xlsx")},
        content_type="multipart/form-data",
    )


def responses_in(campaign) -> int:
    return db.session.scalar(
        sa.select(sa.func.count(SurveyResponse.id)).where(SurveyResponse.campaign_id == campaign.id)
    )


def test_template_download_has_the_surveys_items(campaign, people, client, login_as):
    login_as(people["office"])
    response = client.get(f"/admin/surveycampaign/template/{campaign.id}/")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    ((number, header),) = read_first_sheet(response.data, max_rows=10)
    titles = [item.title for item in campaign.template.items]
    assert number == 1
    assert header == ["问卷编号", "回收日期", "填表人/房号", *titles, "意见和建议"]
    assert "维修服务" in header and "服务态度" in header
    page = client.get(f"/admin/surveycampaign/import/{campaign.id}/").get_data(as_text=True)
    assert "下载模板" in page and "维修服务" in page


def test_importing_180_forms_saves_180_and_the_rates_are_right(campaign, people, client, login_as):
    items = campaign.template.items
    cycle = [S, S, B, D, S, B, S, D, B]
    rows, expected = [], {item.title: [0, 0] for item in items}  # title -> [answered, satisfied]
    for n in range(180):
        ratings = []
        for k, item in enumerate(items):
            if (n + k) % 10 == 0:  # this item left blank on the paper
                ratings.append(None)
                continue
            rating = cycle[(n * (k + 1)) % len(cycle)]
            ratings.append(WORDS[rating])
            expected[item.title][0] += 1
            expected[item.title][1] += rating in (S, B)
        returned = _today() - timedelta(days=n % 20)
        opinion = ["电梯维修太慢。", "电梯维修太慢", "绿化要加强；电梯维修太慢", None][n % 4]
        # Form numbers as numbers (a spreadsheet keeps typed digits as numbers) and dates
        # both as real dates and as text, as people type them.
        rows.append(
            [
                1000 + n,
                returned if n % 2 else returned.isoformat(),
                f"{n % 12 + 1}栋{n % 30 + 101}",
                *ratings,
                opinion,
            ]
        )
    data = workbook(template_columns(campaign), rows)
    login_as(people["office"])
    response = upload(client, campaign, data)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert responses_in(campaign) == 180
    assert db.session.scalar(sa.select(sa.func.count(SurveyAnswer.id))) == sum(
        answered for answered, _s in expected.values()
    )
    stored = db.session.scalars(
        sa.select(SurveyResponse.form_number).where(SurveyResponse.campaign_id == campaign.id)
    ).all()
    assert sorted(stored) == sorted(str(1000 + n) for n in range(180))

    results = campaign_results(campaign)
    assert results["returned"] == 180
    for item in results["items"]:
        answered, satisfied = expected[item["title"]]
        assert (item["answered"], item["satisfied"]) == (answered, satisfied)
        assert item["rate"] == pytest.approx(satisfied / answered * 100)
    total_answered = sum(a for a, _s in expected.values())
    total_satisfied = sum(s for _a, s in expected.values())
    assert results["overall_rate"] == pytest.approx(total_satisfied / total_answered * 100)
    # "电梯维修太慢" with or without the full stop is one opinion, on 135 forms.
    assert results["opinions"][:2] == [("电梯维修太慢", 135), ("绿化要加强", 45)]

    # The same file again: every form number is already there, nothing is added.
    again = upload(client, campaign, data).get_data(as_text=True)
    assert "问卷编号“1000”已经录入过" in again
    assert responses_in(campaign) == 180
    # Typing a form that was imported already is refused the same way.
    typed = client.post(
        f"/admin/surveycampaign/entry/{campaign.id}/",
        data={"form_number": "1001", "returned_on": _today().isoformat(), "opinion": "好"},
    )
    assert "问卷编号“1001”已经录入过" in typed.get_data(as_text=True)
    assert responses_in(campaign) == 180
    listing = client.get("/admin/surveyresponse/?search=1179").get_data(as_text=True)
    assert "1179" in listing


def test_bad_rows_are_each_reported_in_chinese_and_nothing_is_saved(
    campaign, people, client, login_as
):
    titles = [item.title for item in campaign.template.items]
    today = _today()

    def row(number, *, ratings=None, returned=today, opinion="好"):
        ratings = ratings or ["满意"] * len(titles)
        return [number, returned, "1栋101", *ratings, opinion]

    rows = [
        row("A1"),  # row 2: fine
        row("A2", ratings=["很好"] + ["满意"] * (len(titles) - 1)),  # row 3
        row(None),  # row 4
        row("A1"),  # row 5: duplicates row 2
        row("A5", returned=today + timedelta(days=3)),  # row 6
        row("A6", ratings=[None] * len(titles), opinion=None),  # row 7
        row("A7", returned="明天"),  # row 8
        row("A8"),  # row 9: fine
    ]
    login_as(people["office"])
    page = upload(client, campaign, workbook(template_columns(campaign), rows))
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "没有导入任何问卷" in text
    assert "第 3 行：“供电管理”填的“很好”不是有效评价" in text
    assert "第 4 行：缺少问卷编号" in text
    assert "第 5 行：问卷编号“A1”与第 2 行重复" in text
    assert "第 6 行：回收日期不能晚于今天" in text
    assert "第 7 行：这份问卷既没有评价也没有意见" in text
    assert "第 8 行：回收日期“明天”不是有效日期" in text
    assert "第 2 行" not in text.replace("与第 2 行重复", "") and "第 9 行" not in text
    assert responses_in(campaign) == 0

    # A column the survey does not have, and a missing one, are refused before any row.
    header = template_columns(campaign)
    header[header.index("绿化管理")] = "停车管理"
    text = upload(client, campaign, workbook(header, [row("B1")])).get_data(as_text=True)
    assert "第 1 行：未知的列“停车管理”" in text and "缺少列“绿化管理”" in text
    # Not a spreadsheet at all.
    text = upload(client, campaign, b"name,phone\n").get_data(as_text=True)
    assert "不是 Excel 工作簿" in text
    # A workbook whose sheet declares entities (an expansion bomb) is refused unread.
    text = upload(client, campaign, with_entity_bomb(workbook(header, [row("B1")])))
    assert "文件内容损坏" in text.get_data(as_text=True)
    assert responses_in(campaign) == 0


def with_entity_bomb(data: bytes) -> bytes:
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            part = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                bomb = b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
                part = part.replace(b"?>", b"?>" + bomb, 1)
            target.writestr(info, part)
    return buffer.getvalue()


def test_weakest_items_take_ties_at_the_cut_and_compare_exact_rates():
    def item(i, satisfied, answered):
        return {"id": i, "title": f"项{i}", "satisfied": satisfied, "answered": answered}

    items = [
        item(1, 2, 3),  # 2/3
        item(2, 1, 4),  # 1/4: lowest
        item(3, 4, 6),  # 4/6 = 2/3, tied with item 1
        item(4, 3, 4),
        item(5, 1, 2),  # 1/2: second lowest
        item(6, 5, 5),  # 100%: never highlighted
        item(7, 0, 0),  # nobody rated it
    ]
    assert [i["id"] for i in weakest_items(items)] == [2, 5, 1, 3]
    assert weakest_items([item(1, 3, 3), item(2, 0, 0)]) == []
    assert [i["id"] for i in weakest_items([item(1, 1, 2), item(2, 1, 2)])] == [1, 2]


def test_opinions_group_by_normalised_clause_and_count_forms():
    grouped = group_opinions(
        [
            "电梯维修慢。绿化差",
            "电梯维修慢！",
            " 电梯 维修慢 ",
            "ＷｉＦｉ信号差；电梯维修慢。电梯维修慢",  # full-width letters; twice on one form
            "wifi信号差",
        ]
    )
    assert grouped == [("电梯维修慢", 4), ("WiFi信号差", 2), ("绿化差", 1)]


def _forms(campaign, people, forms):
    items = {item.title: item.id for item in campaign.template.items}
    for ratings, opinion in forms:
        record_survey_response(
            campaign,
            by=people["office"],
            opinion=opinion,
            ratings={items[title]: rating for title, rating in ratings.items()},
        )


def test_report_pdf_for_the_director(campaign, people, client, login_as):
    # 4 forms. Rates: 绿化 and 维修 25 %, 供水 and 消防 50 % (tied at the third place),
    # 卫生 and 公共设施 75 %, 供电 and 服务态度 100 %.
    plan = {
        "供电管理": [S, S, S, B],
        "供水管理": [S, B, D, D],
        "消防治安管理": [D, S, S, D],
        "卫生管理": [S, S, S, D],
        "绿化管理": [D, D, D, S],
        "公共设施管理": [B, B, D, B],
        "维修服务": [D, S, D, D],
        "服务态度": [S, S, S, S],
    }
    opinions = ["电梯维修慢。", "电梯维修慢", "绿化差；电梯维修慢", "门禁常坏"]
    _forms(
        campaign,
        people,
        [({title: plan[title][n] for title in plan}, opinions[n]) for n in range(4)],
    )
    db.session.flush()
    order_rectification(
        campaign,
        by=people["office"],
        item=campaign.template.items[4],
        addressee="绿化部",
        content="一个月内补种草皮",
        due_on=_today() + timedelta(days=30),
    )
    campaign.reported_to_committee_on = _today()
    db.session.commit()

    results = campaign_results(campaign)
    weak = [item["title"] for item in results["weakest"]]
    assert weak == ["绿化管理", "维修服务", "供水管理", "消防治安管理"]
    screen_marks = {item["title"] for item in results["items"] if item["weak"]}
    assert screen_marks == set(weak)

    login_as(people["office"])
    page = client.get(f"/admin/surveycampaign/results/{campaign.id}/").get_data(as_text=True)
    assert page.count("较弱") == 4 and "与第 3 低的满意率相同" in page
    response = client.get(f"/admin/surveycampaign/report/{campaign.id}/")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = pdf_words(response.data)
    assert "2026年度业主意见调查报告" in text and "调查调查" not in text
    assert "回收问卷4份" in text and "发放问卷200份" in text
    assert "满意和基本满意20项次，总满意率62.5%" in text  # 20 of 32 ratings
    for title, rate in [("供电管理", "100.0%"), ("卫生管理", "75.0%"), ("供水管理", "50.0%")]:
        assert title in text and rate in text
    for title in weak:
        assert f"{title}（较弱）" in text
    for title in ("卫生管理", "公共设施管理", "供电管理", "服务态度"):
        assert f"{title}（较弱）" not in text
    assert "与第3低的满意率相同（并列）的项目一并标色" in text
    assert "电梯维修慢3份" in text  # grouped: with and without the full stop, and in a list
    assert "绿化差" in text and "门禁常坏" in text
    assert "绿化部" in text and "一个月内补种草皮" in text
    due = _today() + timedelta(days=30)
    assert f"{due.year}年{due.month}月{due.day}日" in text
    assert f"已于{_today().year}年{_today().month}月{_today().day}日报送业主委员会" in text


def test_leader_reads_results_and_report_but_changes_nothing(campaign, people, client, login_as):
    _forms(campaign, people, [({"供电管理": S, "维修服务": D}, "电梯维修慢")])
    db.session.commit()
    for reader in ("leader", "supervisor"):
        login_as(people[reader])
        assert client.get("/admin/surveycampaign/").status_code == 200
        results = client.get(f"/admin/surveycampaign/results/{campaign.id}/")
        assert results.status_code == 200 and "维修服务" in results.get_data(as_text=True)
        assert "rectify" not in results.get_data(as_text=True)  # no order form for a reader
        report = client.get(f"/admin/surveycampaign/report/{campaign.id}/")
        assert report.status_code == 200 and "调查报告" in pdf_words(report.data)
        for page in ("entry", "import", "template"):
            assert client.get(f"/admin/surveycampaign/{page}/{campaign.id}/").status_code == 403
        assert upload(client, campaign, b"x").status_code == 403
        rectify = client.post(
            f"/admin/surveycampaign/rectify/{campaign.id}/",
            data={"item": campaign.template.items[0].id, "addressee": "甲", "content": "乙"},
        )
        assert rectify.status_code == 403
        assert client.get("/admin/surveycampaign/new/").status_code == 302
    assert responses_in(campaign) == 1
    for outsider in ("registrar", "handler"):
        login_as(people[outsider])
        for page in ("results", "report", "import", "template"):
            assert client.get(f"/admin/surveycampaign/{page}/{campaign.id}/").status_code == 403
    g.pop("_login_user", None)  # the test's app context caches the last signed-in user
    anonymous = client.application.test_client().get(f"/admin/surveycampaign/report/{campaign.id}/")
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous.headers["Location"]


# --- S12 step 7 and S13 step 4: the analysis reports -----------------------------------------


@pytest.fixture
def property_office(app, client, create_user, login_as):
    from tests.test_sector_scenarios_enterprise_property import set_up_office, units

    set_up_office(client, create_user, login_as, "property", "锦绣花园管理处")
    unit = units()
    return {
        "office": create_user("office", unit=unit["管理处"]),
        "repair_lead": create_user("dept_head", unit=unit["维修班"]),
        "repairer": create_user("handler", unit=unit["维修班"]),
    }


def _report(client, kind: str, fmt: str = "pdf", *, start=None):
    import os

    today = _today()
    start = start or today.replace(day=1)
    response = client.get(
        f"/admin/stats/report/?kind={kind}&format={fmt}&start={start}&end={today}"
    )
    assert response.status_code == 200
    if os.environ.get("REPORT_OUT"):  # to look at the printed page while developing
        with open(f"{os.environ['REPORT_OUT']}-{kind}.{fmt}", "wb") as handle:
            handle.write(response.data)
    return response


def test_s12_half_year_analysis_groups_by_problem_type_and_marks_recurring(
    property_office, create_case, client, login_as
):
    from tests.test_sector_scenarios_enterprise_property import category

    # Four leaks and one cleaning complaint: the leaks dominate a quiet half-year, and are
    # recurring although no type reaches twice the average of all types (4 < 2 × 2.5).
    for flat in ("3栋201", "3栋301", "5栋102", "7栋502"):
        create_case(subject=f"{flat}楼上漏水", category=category("WX02"))
    create_case(subject="保洁员态度差", category=category("FW02"))
    login_as(property_office["office"])
    text = pdf_words(_report(client, "half_year").data)
    assert "半年投诉分析报告" in text and "五、按问题类型分析（反复出现的问题）" in text
    assert "本期反复出现的问题：管道漏水（4件）" in text
    assert "管道漏水（反复出现）4" in text
    assert "保洁卫生1" in text and "保洁卫生（反复出现）" not in text
    assert "或有3件以上事项被重复信访" in text  # the rule, printed from the one definition
    # The same grouping and marks on the dashboard.
    page = client.get(f"/admin/stats/?start={_today().replace(day=1)}&end={_today()}")
    html = page.get_data(as_text=True)
    assert "按问题类型（反复出现的问题）" in html
    assert '管道漏水 <span class="badge badge-warning">反复出现</span>' in html
    assert "保洁卫生 <span" not in html


def test_s13_monthly_callback_kpis_against_targets(property_office, create_case, client, login_as):
    from models import Callback, Role

    roles = {role.code: role.name for role in db.session.scalars(sa.select(Role))}
    case = create_case(subject="消防门闭门器维修")
    callers = [property_office["office"]] + [property_office["repair_lead"]] * 2
    callers += [property_office["repairer"]] * 7
    for caller in callers:
        db.session.add(
            Callback(
                case=case,
                caller=caller,
                due_on=_today(),
                done_at=utcnow(),
                satisfaction=Satisfaction.satisfied,
            )
        )
    yesterday = _today() - timedelta(days=1)
    db.session.add(Callback(case=case, due_on=yesterday))  # fell due, not made: missed
    db.session.add(Callback(case=case, due_on=_today() + timedelta(days=2)))  # not due yet
    db.session.commit()

    login_as(property_office["office"])
    start = _today() - timedelta(days=10)
    text = pdf_words(_report(client, "monthly", start=start).data)
    assert "月度信访投诉情况报告" in text and "六、回访考核指标" in text
    assert (
        "期间完成回访10次；应回访11次（期间完成或期间到期），已回访10次，回访处理率90.9%（目标100%）"
        in text
    )
    assert f"{roles['office']}回访占比≥10%1次10.0%达标" in text
    assert f"{roles['dept_head']}回访占比≥30%2次20.0%未达标" in text
    assert f"{roles['handler']}回访占比≥60%7次70.0%达标" in text
    assert "回访处理率100%10/1190.9%未达标" in text
    page = client.get(f"/admin/stats/?start={start}&end={_today()}")
    assert "回访处理率（到期回访已完成 10/11）" in page.get_data(as_text=True)
    assert _report(client, "monthly", "xlsx", start=start).data[:2] == b"PK"


def test_annual_summary_lists_only_the_survey_rounds_the_reader_may_see(people, create_user):
    from models.queries.statistics import StatsFilter
    from models.rendering.reports import report_data

    units = {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}
    template = ensure_owner_survey_template()
    for name, unit in (("住建局调查", "县住房和城乡建设局"), ("信访局调查", "县信访局")):
        db.session.add(
            SurveyCampaign(template=template, name=name, starts_on=_today(), unit=units[unit])
        )
    db.session.commit()
    head = create_user("dept_head", unit=units["县住房和城乡建设局"])
    period = StatsFilter(_today().replace(month=1, day=1), _today())

    def rounds(user):
        data = report_data("annual_summary", period, user=user)
        return sorted(entry["campaign"].name for entry in data["surveys"])

    assert rounds(head) == ["住建局调查"]
    assert rounds(people["leader"]) == ["住建局调查", "信访局调查"]
