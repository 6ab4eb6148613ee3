"""S20 in headless Chromium: a registrar records 不予受理 and prints the notice, keeps a repeat
letter as 存信; the administrator reads the 存信 register by region and year, destroys last
year's pack for one region, reads the destruction register and the tombstone, and is refused
when a kept letter still has a callback record under retention.

Only what the screens cannot create is set up through the services: the accounts, an earlier
answered matter and two 存信 received last year (one with a recent callback record).  A
full-page screenshot of each step goes to ``tests/screenshots/``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from models import Callback, Case, CaseEvent, db
from models.base import local_zone, utcnow
from models.enums import CaseChannel, CaseStatus, EventKind
from models.operations.cases import register_case
from models.operations.users import create_user
from models.operations.workflow import keep
from models.retention import today
from tests.test_documents import pdf_words
from tests.test_e2e import (  # noqa: F401  (pytest fixtures, used by name)
    CHROMIUM,
    SCREENSHOTS,
    TIMEOUT_MS,
    chromium_page,
    live_server,
    shot,
)
from tests.test_reception_issue15 import REPRESENTATIVES

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Chromium not found at {CHROMIUM}"),
]

PASSWORD = "E2e-secret-2026"
REGISTRAR = ("s20_registrar", "存信登记员")
ADMINISTRATOR = ("s20_admin", "销毁管理员")
REGION = "城关镇"
OTHER_REGION = "河西乡"


def _set_up(app) -> dict:
    """Accounts, and the matters the screens cannot back-date."""
    last_year = today().year - 1
    with app.app_context():
        registrar = create_user(
            username=REGISTRAR[0],
            full_name=REGISTRAR[1],
            password=PASSWORD,
            role_codes=["registrar"],
        )
        create_user(
            username=ADMINISTRATOR[0],
            full_name=ADMINISTRATOR[1],
            password=PASSWORD,
            role_codes=["admin"],
        )
        db.session.flush()

        def letter(subject: str, received) -> Case:
            return register_case(
                Case(
                    channel=CaseChannel.letter,
                    subject=subject,
                    content=f"{subject}：来信内容。",
                    received_at=received,
                ),
                by=registrar,
            )

        answered = letter("老街排水沟堵塞", utcnow() - timedelta(days=35))
        old_kept = letter("去年的重复来信：路灯", utcnow() - timedelta(days=400))
        keep(old_kept, by=registrar, region=REGION, year=last_year)
        called = letter("去年的存信：噪声", utcnow() - timedelta(days=380))
        keep(called, by=registrar, region=OTHER_REGION, year=last_year)
        # A callback made this month: callback records are kept five years.
        db.session.add(Callback(case=called, note="电话回访", created_by_id=registrar.id))
        db.session.commit()
        numbers = {
            "answered": answered.number,
            "old_kept": old_kept.number,
            "called": called.number,
            "last_year": last_year,
        }
        db.session.remove()
    return numbers


def _log_in(browser, base: str, account: tuple[str, str]):
    context = browser.new_context(
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        viewport={"width": 1366, "height": 900},
        accept_downloads=True,
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{base}/admin/login/")
    page.get_by_label("用户名").fill(account[0])
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{base}/admin/")
    return page


def _register_letter(page, base: str, *, name: str, subject: str, content: str) -> str:
    """Fill in 来信登记 for a new writer and a new matter; return the case's number."""
    from playwright.sync_api import expect

    page.goto(f"{base}/admin/letter/new/")
    page.locator("#new_person_name").fill(name)
    page.locator("#new_subject").fill(subject)
    page.locator("#new_content").fill(content)
    page.locator("input[type=submit][value='保存']").click()
    page.wait_for_url(re.compile(r"/admin/case/details/"))  # the new case's page (issue 19)
    expect(page.locator(".alert-danger")).to_have_count(0)
    page.goto(f"{base}/admin/case/?search={subject}")
    row = page.locator("table.model-list tbody tr")
    expect(row).to_have_count(1)
    number = row.first.locator("a", has_text=re.compile(r"^XF")).first.inner_text().strip()
    row.first.get_by_role("link", name=number).click()
    page.wait_for_url(re.compile(r"/admin/case/details/"))
    return number


def _open_step(page, code: str) -> None:
    """Click the step's button on the case page (opening 更多 when it lives there)."""
    link = page.locator(f".workflow-steps a[href*='/workflow/{code}/']")
    if not link.is_visible():
        page.locator(".workflow-steps .dropdown-toggle").click()
    link.click()
    page.wait_for_url(re.compile(rf"/admin/workflow/{code}/"))


def test_s20_not_accepted_kept_register_and_batch_destruction(live_server, chromium_page):  # noqa: F811
    from playwright.sync_api import expect

    app, base = live_server
    numbers = _set_up(app)
    last_year = numbers["last_year"]
    browser = chromium_page.context.browser
    errors: list[str] = []

    # == The registrar ====================================================================
    page = _log_in(browser, base, REGISTRAR)
    page.on("pageerror", lambda error: errors.append(str(error)))

    # -- 1. A visitor's dispute is already before a court: 不予受理 with the legal route ---
    refused = _register_letter(
        page,
        base,
        name="赵诉讼",
        subject="邻里宅基地纠纷（已起诉）",
        content="与邻居宅基地界址纠纷，已向县人民法院起诉，仍要求信访部门处理。",
    )
    _open_step(page, "not_accept")
    page.locator("#reason").fill("该纠纷已由人民法院受理，属于诉讼程序处理的事项。")
    page.locator("#legal_route").fill("诉讼、仲裁、行政复议等法定途径")
    shot(page, "s20_01_not_accept_form")
    page.get_by_role("button", name=re.compile("^确定：")).click()
    page.wait_for_url(re.compile(r"/admin/case/details/"))
    expect(page.locator(".badge").first).to_contain_text("不予受理")
    expect(page.locator("body")).to_contain_text("诉讼、仲裁、行政复议等法定途径")

    # Issue the notice (it opens in a new tab), then download it from the documents table.
    issue = page.locator(".case-documents form[action*='non_acceptance_notice'] button")
    with page.expect_popup() as popup:
        issue.click()
    popup.value.close()
    page.reload()
    documents = page.locator("table.issued-documents")
    expect(documents).to_contain_text("不予受理告知书")
    shot(page, "s20_02_not_accepted_case")
    with page.expect_download() as download:
        documents.get_by_role("link", name="下载").first.click()
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF"), pdf[:20]
    assert download.value.suggested_filename.endswith(".pdf")
    assert "诉讼、仲裁、行政复议等法定途径" in pdf_words(pdf)
    download.value.save_as(SCREENSHOTS / "s20_02_non_acceptance_notice.pdf")

    # -- 2. A repeat letter: linked to the answered matter and kept as 存信 ---------------
    repeat = _register_letter(
        page,
        base,
        name="钱重复",
        subject="老街排水沟又堵了（重复来信）",
        content="上月已反映老街排水沟堵塞并已答复，现再次来信反映同一问题。",
    )
    _open_step(page, "keep")
    page.locator("#region").fill(REGION)
    page.locator("#year").fill(str(last_year))
    page.locator("#related_number").fill(numbers["answered"])
    shot(page, "s20_03_keep_form")
    page.get_by_role("button", name=re.compile("^确定：")).click()
    page.wait_for_url(re.compile(r"/admin/case/details/"))
    expect(page.locator(".badge").first).to_contain_text("存信")
    expect(page.locator("body")).to_contain_text(numbers["answered"])
    shot(page, "s20_04_kept_case")
    page.context.close()

    # == The administrator ================================================================
    page = _log_in(browser, base, ADMINISTRATOR)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: dialog.accept())

    # -- 3. The 存信 register grouped by year and region, then filtered ------------------
    page.goto(f"{base}/admin/keptletters/")
    groups = page.locator("table.kept-groups tbody tr")
    expect(groups).to_have_count(2)
    here = groups.filter(has_text=REGION)
    expect(here.locator("td").nth(0)).to_have_text(str(last_year))
    expect(here.locator("td").nth(2)).to_have_text("2")
    expect(groups.filter(has_text=OTHER_REGION).locator("td").nth(2)).to_have_text("1")
    shot(page, "s20_05_kept_register")

    page.locator("#year").select_option(str(last_year))
    page.locator("#region").select_option(REGION)
    page.locator("form.kept-filter button").click()
    page.wait_for_url(re.compile(r"region="))
    listed = page.locator("table.kept-cases tbody tr")
    expect(listed).to_have_count(2)
    expect(page.locator("table.kept-cases")).to_contain_text(repeat)
    expect(page.locator("table.kept-cases")).to_contain_text(numbers["old_kept"])
    expect(page.locator("table.kept-cases")).not_to_contain_text(numbers["called"])

    # -- 4. Year-end batch destruction for last year and this region ---------------------
    page.locator("input[name=note]").fill(f"{last_year}年{REGION}存信")
    shot(page, "s20_06_kept_filtered")
    page.get_by_role("button", name="销毁本年份本地区的全部存信").click()
    page.wait_for_load_state()
    expect(page.locator(".alert-success, .alert-info").first).to_be_visible()
    shot(page, "s20_07_after_destruction")

    # -- 5. The destruction register: who, when, which items ------------------------------
    page.goto(f"{base}/admin/destructionbatch/")
    batches = page.locator("table.model-list tbody tr")
    expect(batches).to_have_count(1)
    expect(batches.first).to_contain_text(ADMINISTRATOR[1])
    expect(batches.first).to_contain_text(str(last_year))
    expect(batches.first).to_contain_text(REGION)
    shot(page, "s20_08_destruction_register")
    page.goto(f"{base}/admin/destructionbatch/details/?id=1")
    items = page.locator("table.batch-items")
    expect(items.locator("tbody tr")).to_have_count(2)
    expect(items).to_contain_text(repeat)
    expect(items).to_contain_text(numbers["old_kept"])
    shot(page, "s20_09_destruction_batch")

    # -- 6. A destroyed case shows only its tombstone -------------------------------------
    page.goto(f"{base}/admin/case/?search={repeat}")
    page.locator("table.model-list tbody tr").first.get_by_role("link", name=repeat).click()
    page.wait_for_url(re.compile(r"/admin/case/details/"))
    expect(page.locator(".tombstone")).to_be_visible()
    body = page.locator("body")
    expect(body).to_contain_text(repeat)
    for gone in ("老街排水沟又堵了", "再次来信反映", "钱重复"):
        expect(body).not_to_contain_text(gone)
    shot(page, "s20_10_tombstone")

    # -- 7. A kept letter with a recent callback record cannot be destroyed early ---------
    page.goto(f"{base}/admin/keptletters/?year={last_year}&region={OTHER_REGION}")
    page.locator("table.kept-cases input[name=case_id]").check()
    page.get_by_role("button", name="销毁所选存信").click()
    error = page.locator(".retention-error")
    expect(error).to_contain_text("本批未销毁任何事项")
    expect(error).to_contain_text(numbers["called"])
    expect(error).to_contain_text("回访记录")
    # The refusal leaves the administrator on the register as it was filtered.
    expect(page.locator("#region")).to_have_value(OTHER_REGION)
    expect(page.locator("table.kept-cases")).to_contain_text(numbers["called"])
    shot(page, "s20_11_refused_under_retention")
    page.context.close()

    with app.app_context():
        statuses = dict(db.session.execute(sa.select(Case.number, Case.status)).all())
        db.session.remove()
    assert statuses[refused] == CaseStatus.not_accepted
    assert statuses[repeat] == statuses[numbers["old_kept"]] == CaseStatus.destroyed
    assert statuses[numbers["called"]] == CaseStatus.kept
    assert errors == [], f"JavaScript errors on the pages: {errors}"


# -- S19 steps 1-2 ----------------------------------------------------------------------------

RECEPTIONIST = ("s19_registrar", "集体访接待员")
LEADER = ("s19_leader", "孙分管领导")


def test_s19_group_visit_special_and_information_reports(live_server, chromium_page):  # noqa: F811
    from playwright.sync_api import expect

    app, base = live_server
    with app.app_context():
        create_user(
            username=RECEPTIONIST[0],
            full_name=RECEPTIONIST[1],
            password=PASSWORD,
            role_codes=["registrar"],
        )
        create_user(
            username=LEADER[0], full_name=LEADER[1], password=PASSWORD, role_codes=["leader"]
        )
        db.session.commit()
        db.session.remove()
    browser = chromium_page.context.browser
    errors: list[str] = []

    # -- 1. The receptionist registers the group visit with its five representatives ------
    page = _log_in(browser, base, RECEPTIONIST)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{base}/admin/visit/new/")
    page.locator("#new_person_name").fill("周一")
    page.locator("#new_subject").fill("反对小区旁建设通信基站")
    page.locator("#new_content").fill("三十名居民集体来访，反对在小区旁建设通信基站。")
    # Flask-Admin dresses the select in Select2: choose like a person does.
    page.locator("#s2id_kind").click()
    page.locator(".select2-result-label", has_text="集体来访").click()
    expect(page.locator("#kind")).to_have_value("group")
    page.locator("#head_count").fill("30")
    page.locator("#purpose").fill("反对建设通信基站")
    page.locator("#representative_lines").fill(
        "\n".join(" ".join(part for part in person if part) for person in REPRESENTATIVES)
    )
    shot(page, "s19_01_group_visit_form")
    page.locator("input[type=submit][value='保存']").click()
    page.wait_for_url(re.compile(r"/admin/case/details/"))  # the new case's page (issue 19)
    expect(page.locator(".alert-danger")).to_have_count(0)
    page.goto(f"{base}/admin/case/?search=通信基站")
    page.locator("table.model-list tbody tr").first.locator("a", has_text="XF").first.click()
    page.wait_for_url(re.compile(r"/admin/case/details/"))
    body = page.locator("body")
    expect(body).to_contain_text("集体")
    for name, id_number, _phone in REPRESENTATIVES:
        expect(body).to_contain_text(name)
        # ID numbers show shortened, as in the register of people.
        expect(body).to_contain_text(f"{id_number[:6]}********{id_number[-4:]}")
    expect(page.locator("table").first).to_contain_text("30")
    case_url = page.url
    # A major group visit: the receptionist marks the matter 重大 on the case form.
    page.locator(".nav-tabs a", has_text="编辑").click()
    page.wait_for_url(re.compile(r"/admin/case/edit/"))
    page.locator("#is_major").check()
    page.locator("input[type=submit][value='保存']").click()
    page.goto(case_url)
    expect(page.locator("td .badge", has_text="重大")).to_be_visible()
    # The less common steps wait behind 更多: it opens.
    page.locator(".workflow-steps .dropdown-toggle").click()
    expect(page.locator(".workflow-steps .dropdown-menu a").first).to_be_visible()
    page.locator(".workflow-steps .dropdown-toggle").click()
    expect(page.locator(".workflow-steps .dropdown-menu")).to_be_hidden()
    shot(page, "s19_02_group_case")

    # -- 2a. The 专报 for the leader, drafted and issued at once ---------------------------
    page.locator(".case-reports a", has_text="起草专报").click()
    page.wait_for_url(re.compile(r"/documents/draft/\d+/special_report/"))
    expect(page.locator("#head_count")).to_have_value("30")
    page.locator("#addressee").fill("县委、县政府领导")
    page.locator("#facts").fill("上午九时许三十名居民聚集在信访局门口，情绪激动。")
    page.locator("#measures").fill("安排五名代表座谈，现场秩序已平稳。")
    page.locator("#proposals").fill("建议工信局一周内召开听证会。")
    shot(page, "s19_03_special_report_form")
    # Saving issues it and opens the PDF in the browser.
    with page.expect_response(re.compile(r"/admin/documents/\d+/pdf")) as opened:
        page.locator("form.report-draft button[type=submit]").click()
    assert opened.value.headers["content-type"] == "application/pdf"
    # Chromium hands the navigation to its PDF viewer; fetch the same URL with the session.
    pdf = page.context.request.get(opened.value.url).body()
    (SCREENSHOTS / "s19_03_special_report.pdf").write_bytes(pdf)
    special = pdf_words(pdf)
    for expected in (
        "专报",
        "县委、县政府领导：",
        "周一等30人来访",
        "推选周一、吴二、郑三、王四、冯五为代表",
        "以上报告妥否，请批示。",
    ):
        assert expected in special, expected

    # -- 2b. The information report goes up at once: drafted, waiting for the leader ------
    page.goto(case_url)
    page.locator(".case-reports a", has_text="起草信访信息报告").click()
    page.wait_for_url(re.compile(r"/documents/draft/\d+/information_report/"))
    expect(page.locator("#category")).to_have_value("重大集体访")
    page.locator("#facts").fill("三十名居民集体来访，反对建设通信基站。")
    page.locator("#measures").fill("已安排代表座谈，现场稳控。")
    shot(page, "s19_04_information_report_form")
    page.locator("form.report-draft button[type=submit]").click()
    page.wait_for_url(re.compile(r"/admin/case/details/"))
    expect(page.locator(".information-report")).to_contain_text("待领导签发")
    shot(page, "s19_05_waiting_for_sign_off")
    page.context.close()

    # -- 2c. The leader in charge signs it off with the time it was reported ---------------
    page = _log_in(browser, base, LEADER)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(case_url)
    reported = page.locator(".sign-off-form #reported_at")
    reported_text = (
        datetime.now(local_zone()).replace(second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M")
    )
    reported.fill(reported_text)
    page.locator(".sign-off-form button[type=submit]").click()
    report = page.locator(".information-report")
    expect(report).to_contain_text(f"{LEADER[1]}于")
    expect(report).to_contain_text(f"上报时间 {reported_text.replace('T', ' ')}")
    shot(page, "s19_06_signed_off")
    page.context.close()
    assert errors == [], f"JavaScript errors on the pages: {errors}"

    with app.app_context():
        case = db.session.scalar(sa.select(Case).where(Case.subject == "反对小区旁建设通信基站"))
        assert (case.is_group, case.is_major, case.head_count) == (True, True, 30)
        assert [person.name for person in case.representatives] == [
            name for name, _id, _phone in REPRESENTATIVES
        ]
        signed = db.session.scalars(
            sa.select(CaseEvent).where(
                CaseEvent.case_id == case.id, CaseEvent.kind == EventKind.sign_off_report
            )
        ).one()
        assert signed.created_by.full_name == LEADER[1]
        db.session.remove()
