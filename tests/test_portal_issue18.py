"""网上信访 and 进度查询 (issue 18 items 1-2): filing, abuse limits, lookup, satisfaction."""

from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path

import pytest
import sqlalchemy as sa

from admin_views.public.limits import reset_limits
from models import (
    Attachment,
    AuditEntry,
    Callback,
    Case,
    Category,
    OnlinePetition,
    Party,
    Unit,
    User,
    db,
)
from models.enums import CaseChannel, CaseStatus, CategoryKind, ReplyMethod, Satisfaction
from models.operations.documents import issue_document
from models.operations.portal import PORTAL_USERNAME, code_matches
from models.operations.workflow import perform
from tests.conftest import row_counts

PDF = b"%PDF-1.4\n% test\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
NUMBER = re.compile(r'id="case-number">([^<]+)<')
CODE = re.compile(r'id="query-code">([^<]+)<')


@pytest.fixture
def portal(app, government, monkeypatch):
    """The government preset, every portal counter at zero, and generous limits."""
    monkeypatch.setitem(app.config, "PORTAL_FILE_LIMITS", "100 per hour")
    monkeypatch.setitem(app.config, "PORTAL_PHONE_LIMITS", "100 per day")
    monkeypatch.setitem(app.config, "PORTAL_LOOKUP_LIMITS", "100 per hour")
    monkeypatch.setitem(app.config, "PORTAL_NUMBER_LIMITS", "100 per hour")
    reset_limits()
    yield app
    reset_limits()


def category(kind: CategoryKind) -> Category:
    return db.session.scalars(
        sa.select(Category)
        .where(Category.kind == kind, Category.is_active.is_(True))
        .order_by(Category.id)
    ).first()


def question_answer(page: str) -> str:
    """The answer to the arithmetic question a portal page asks."""
    first, second = re.search(r"(\d) 加 (\d) 等于多少", page).groups()
    return str(int(first) + int(second))


def open_form(client, path="/petition/new") -> tuple[str, str]:
    """GET the form; return its page and the answer to its arithmetic question."""
    response = client.get(path)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    return page, question_answer(page)


def petition_data(**overrides) -> dict:
    data = {
        "new_category": str(category(CategoryKind.complaint).id),
        "new_subject": "小区路灯损坏",
        "new_content": "幸福小区3号楼前路灯已坏两周，夜间出行不便。",
        "new_demands": "尽快修复路灯",
        "new_person_name": "李网民",
        "new_person_phone": "13800138000",
        "new_person_id_type": "",
        "new_person_id_number": "",
        "website": "",
    }
    data.update(overrides)
    return data


def file_petition(client, path="/petition/new", files=(), **overrides):
    _page, answer = open_form(client, path)
    data = petition_data(challenge=answer, **overrides)
    if files:
        data["attachments"] = [(BytesIO(content), name) for name, content in files]
    return client.post(path, data=data, content_type="multipart/form-data")


def filed(client, **kwargs) -> tuple[Case, str, str]:
    response = file_petition(client, **kwargs)
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    number, code = NUMBER.search(page).group(1), CODE.search(page).group(1)
    db.session.expire_all()
    case = db.session.scalar(sa.select(Case).where(Case.number == number))
    return case, number, code


# -- filing --------------------------------------------------------------------------------


def test_filing_registers_one_online_case_with_number_code_and_attachments(portal, client):
    case, _number, code = filed(client, files=[("现场照片.png", PNG), ("说明.pdf", PDF)])

    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 1
    assert case.channel == CaseChannel.online
    assert case.status == CaseStatus.registered
    assert case.subject == "小区路灯损坏" and case.demands == "尽快修复路灯"
    assert case.category.kind == CategoryKind.complaint
    assert not case.is_anonymous
    assert [(p.name, p.phone) for p in case.petitioners] == [("李网民", "13800138000")]
    # The registrar is the 网上信访 system account, which no password opens.
    registrar = case.created_by
    assert registrar.username == PORTAL_USERNAME and registrar.full_name == "网上信访"
    assert not registrar.check_password("") and not registrar.check_password("!")
    assert sorted(registrar.permissions) == [
        "attachment.manage",
        "callback.manage",
        "case.register",
    ]
    # The code is 12 characters shown in groups; only a salted hash of it is stored.
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", code)
    petition = db.session.scalar(sa.select(OnlinePetition))
    assert petition.case_id == case.id
    assert code.replace("-", "") not in petition.code_hash
    assert code_matches(code, petition.code_hash)
    assert code_matches(code.lower().replace("-", " "), petition.code_hash)
    assert not code_matches("ABCD-EFGH-JKMN", petition.code_hash)
    # Both files are stored on the case, on disk, with their contents.
    files = db.session.scalars(sa.select(Attachment).order_by(Attachment.id)).all()
    assert [(f.original_name, f.case_id) for f in files] == [
        ("现场照片.png", case.id),
        ("说明.pdf", case.id),
    ]
    root = Path(portal.config["ATTACHMENT_FOLDER"])
    assert (root / files[1].stored_name).read_bytes() == PDF
    # The timeline says it came in online.
    assert case.events[0].data["channel"] == "online"


def test_anonymous_petition_keeps_no_identity(portal, client):
    case, _number, _code = filed(
        client,
        is_anonymous="y",
        new_person_name="不该保存",
        new_person_phone="not a phone",
        new_person_id_type="resident_id",
        new_person_id_number="110101199003070000",
    )
    assert case.is_anonymous and case.petitioners == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Party)) == 0
    assert "不该保存" not in (case.petitioner_names or "")


def test_report_page_offers_confidential_kinds_and_the_notice(portal, client):
    page, _answer = open_form(client, "/petition/report")
    assert "保密告知" in page and "依法严格保密" in page
    offered = set(re.findall(r'<option value="(\d+)"', page))
    kinds = {db.session.get(Category, int(pk)).kind for pk in offered}
    assert kinds and kinds <= {CategoryKind.report, CategoryKind.accusation}

    report = category(CategoryKind.report)
    response = file_petition(client, "/petition/report", new_category=str(report.id))
    assert response.status_code == 200
    assert "举报人信息将依法严格保密" in response.get_data(as_text=True)
    case = db.session.scalar(sa.select(Case))
    assert case.category_id == report.id and case.is_confidential
    assert case.channel == CaseChannel.online


def test_report_needs_a_category(portal, client):
    before = row_counts()
    response = file_petition(client, "/petition/report", new_category="")
    assert response.status_code == 400
    assert "请选择举报类别" in response.get_data(as_text=True)
    assert row_counts() == before


BAD_INPUTS = [
    ({"new_subject": ""}, "新事项必须填写此项"),
    ({"new_content": "   "}, "新事项必须填写此项"),
    ({"new_person_name": ""}, "请填写姓名"),
    ({"new_person_phone": ""}, "请填写联系电话"),
    ({"new_person_phone": "1380013800x"}, "电话号码格式不正确"),
    (
        {"new_person_id_type": "resident_id", "new_person_id_number": "110101199003070000"},
        "校验",
    ),
    ({"new_person_id_number": "AB12345"}, "填写证件号码时请选择证件类型"),
    ({"new_subject": "长" * 201}, "200"),
    ({"new_content": "长" * 5001}, "内容不能超过 5000 字"),
    ({"new_category": "999999"}, "所选的项不存在或不能选用"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_INPUTS)
def test_bad_input_is_refused_in_chinese_and_changes_nothing(portal, client, overrides, message):
    before = row_counts()
    response = file_petition(client, **overrides)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in page
    assert "提交未成功" in page
    assert row_counts() == before


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([("病毒.exe", b"MZ\x90\x00")], "不允许上传此类型的文件"),
        ([("假图片.png", b"not a png at all")], "文件内容与扩展名不符"),
        ([("空.pdf", b"")], "文件为空"),
        ([(f"{n}.pdf", PDF) for n in range(6)], "最多上传 5 个文件"),
    ],
)
def test_bad_attachments_are_refused(portal, client, files, message):
    before = row_counts()
    stored = set(Path(portal.config["ATTACHMENT_FOLDER"]).rglob("*.*"))
    response = file_petition(client, files=files)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert row_counts() == before
    assert set(Path(portal.config["ATTACHMENT_FOLDER"]).rglob("*.*")) == stored


def test_attachment_over_the_size_setting_is_refused(portal, client):
    from models.settings import SystemSetting

    db.session.get(SystemSetting, "attachment_max_mb").value = "1"
    db.session.commit()
    before = row_counts()
    response = file_petition(client, files=[("大.pdf", PDF + b"0" * (1024 * 1024))])
    assert response.status_code == 400
    assert "文件超过 1 MB 的大小上限" in response.get_data(as_text=True)
    assert row_counts() == before


def test_honeypot_and_wrong_challenge_are_refused(portal, client):
    before = row_counts()
    response = file_petition(client, website="http://spam.example")
    assert response.status_code == 400
    assert "提交未通过验证" in response.get_data(as_text=True)
    assert row_counts() == before

    open_form(client)
    response = client.post("/petition/new", data=petition_data(challenge="99"))
    assert response.status_code == 400
    assert "验证问题回答不正确" in response.get_data(as_text=True)
    # A question answers once: replaying the right answer after a failure does not pass.
    _page, answer = open_form(client)
    refused = client.post("/petition/new", data=petition_data(challenge="x"))
    assert refused.status_code == 400
    # The refusal asks a new random question; its sum may happen to equal the old one, and
    # then the replay would rightly pass. Ask again until the sums differ.
    while question_answer(refused.get_data(as_text=True)) == answer:
        refused = client.post("/petition/new", data=petition_data(challenge="x"))
    response = client.post("/petition/new", data=petition_data(challenge=answer))
    assert response.status_code == 400
    # Posting without having been shown a question fails too.
    fresh = portal.test_client()
    response = fresh.post("/petition/new", data=petition_data(challenge="2"))
    assert response.status_code == 400
    assert row_counts() == before


def test_public_forms_need_the_csrf_token(portal, client, monkeypatch):
    monkeypatch.setitem(portal.config, "WTF_CSRF_ENABLED", True)
    before = row_counts()
    _page, answer = open_form(client)
    response = client.post("/petition/new", data=petition_data(challenge=answer))
    assert response.status_code == 400
    assert "页面已过期或来源无法验证" in response.get_data(as_text=True)
    response = client.post("/petition/lookup", data={"number": "XF2026-000001", "code": "x"})
    assert response.status_code == 400
    assert row_counts() == before


def test_pages_carry_no_inline_script(portal, client):
    for path in ("/petition/", "/petition/new", "/petition/report", "/petition/lookup"):
        response = client.get(path)
        page = response.get_data(as_text=True)
        assert "script-src 'self' 'nonce-" in response.headers["Content-Security-Policy"]
        assert "<script" not in page and " onclick=" not in page
        assert response.headers["Cache-Control"] == "no-store"
        assert 'name="viewport"' in page


# -- rate limits ------------------------------------------------------------------------------


def test_address_limit_answers_429_in_chinese(portal, client, monkeypatch):
    monkeypatch.setitem(portal.config, "PORTAL_FILE_LIMITS", "3 per hour")
    for _ in range(3):
        assert file_petition(client, new_subject="").status_code == 400
    response = file_petition(client)
    assert response.status_code == 429
    assert "提交过于频繁" in response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) > 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0


def test_phone_limit_counts_filings_per_phone(portal, client, monkeypatch):
    monkeypatch.setitem(portal.config, "PORTAL_PHONE_LIMITS", "1 per day")
    filed(client)
    response = file_petition(client, new_subject="第二件事")
    assert response.status_code == 429
    # Another phone is not held back.
    filed(client, new_person_phone="13900139000", new_person_name="王网民")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 2


def test_lookup_limit(portal, client, monkeypatch):
    monkeypatch.setitem(portal.config, "PORTAL_LOOKUP_LIMITS", "2 per hour")
    for _ in range(2):
        response = client.post("/petition/lookup", data={"number": "XF1", "code": "A"})
        assert response.status_code == 400
    response = client.post("/petition/lookup", data={"number": "XF1", "code": "A"})
    assert response.status_code == 429 and "提交过于频繁" in response.get_data(as_text=True)


# -- lookup --------------------------------------------------------------------------------


@pytest.fixture
def staff(portal, create_user):
    units = {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}
    return {
        "office": create_user("office", unit=units["县信访局"]),
        "leader": create_user("leader", unit=units["县政府领导"]),
        "head": create_user("dept_head", unit=units["县住房和城乡建设局"]),
        "handler": create_user("handler", unit=units["县住房和城乡建设局"]),
        "housing": units["县住房和城乡建设局"],
        "other": units["县自然资源局"],
    }


def look_up(client, number, code):
    return client.post("/petition/lookup", data={"number": number, "code": code})


def answered(case, staff):
    """Accepted, handed to the housing bureau with an extension, replied, letter issued."""
    for user in ("office", "leader", "head", "handler"):
        db.session.get(User, staff[user].id).full_name = f"员工{user}"
    perform("accept", case, by=staff["office"])
    perform(
        "instruct",
        case,
        by=staff["leader"],
        instruction="内部批示请住建局核查",
        handling_unit=staff["housing"],
        handler=staff["handler"],
    )
    perform("acknowledge", case, by=staff["handler"])
    perform(
        "request_extension",
        case,
        by=staff["handler"],
        clock="closing",
        amount=10,
        reason="内部理由",
    )
    perform("decide_extension", case, by=staff["leader"], approved=True)
    perform("report_result", case, by=staff["handler"], facts="内部查明情况", decision="已处理")
    perform("approve_result", case, by=staff["head"])
    perform("reply", case, by=staff["office"], method=ReplyMethod.letter, text="路灯已修复")
    issue_document(case, "reply_letter", by=staff["office"])
    db.session.commit()


def test_lookup_shows_plain_progress_and_nothing_internal(portal, client, staff, create_case):
    case, number, code = filed(client)
    other = create_case(subject="别人的事项", content="别人的内容", by=staff["office"])
    answered(case, staff)

    response = look_up(client, number.lower(), code.replace("-", "").lower())
    assert response.status_code == 302
    page = client.get("/petition/progress").get_data(as_text=True)
    assert "已作出答复" in page
    for label in ("受理时间", "延期时间", "答复时间", "办理单位"):
        assert label in page
    assert "县住房和城乡建设局" in page
    assert "答复意见书" in page
    # No staff, no internal notes, no reporter details, nothing of other cases.
    for secret in (
        "员工office",
        "员工leader",
        "员工handler",
        "员工head",
        "内部批示请住建局核查",
        "内部理由",
        "内部查明情况",
        "13800138000",
        "李网民",
        other.number,
        "别人的事项",
    ):
        assert secret not in page, secret
    # The reply letter is there to download; another case's document is not.
    document_id = int(re.search(r"/petition/progress/document/(\d+)", page).group(1))
    download = client.get(f"/petition/progress/document/{document_id}")
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    assert client.get(f"/petition/progress/document/{document_id + 1000}").status_code == 404
    # Another case's notice is not this petitioner's to download.
    perform("accept", other, by=staff["office"])
    foreign, _created = issue_document(other, "acceptance_notice", by=staff["office"])
    db.session.commit()
    assert client.get(f"/petition/progress/document/{foreign.id}").status_code == 404
    # Each lookup and download is in the audit log.
    actions = db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert "portal_lookup" in actions and "portal_download" in actions


def test_transfer_date_and_body_shown(portal, client, staff):
    case, number, code = filed(client)
    perform("transfer", case, by=staff["office"], target_unit=staff["other"], reason="内部转送说明")
    db.session.commit()
    look_up(client, number, code)
    page = client.get("/petition/progress").get_data(as_text=True)
    assert "已转送有权处理的机关办理" in page and "转送时间" in page
    assert "县自然资源局" in page and "内部转送说明" not in page


def test_wrong_number_or_code_gives_the_same_answer(portal, client, staff, create_case):
    _case, number, code = filed(client)
    _other, other_number, other_code = filed(client, new_person_phone="13900139000")
    staff_case = create_case(by=staff["office"])
    wrong_pairs = [
        (number, "AAAA-AAAA-AAAA"),
        (number, other_code),
        (other_number, code),
        ("XF2099-999999", code),
        (staff_case.number, code),
        ("", ""),
    ]
    pages = []
    for typed_number, typed_code in wrong_pairs:
        response = look_up(client, typed_number, typed_code)
        assert response.status_code == 400
        pages.append(re.sub(r'value="[^"]*"', "", response.get_data(as_text=True)))
        assert "事项编号或查询码不正确" in pages[-1]
    assert len(set(pages)) == 1
    assert client.get("/petition/progress").status_code == 302
    failed = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "portal_lookup_failed")
    ).all()
    assert len(failed) == len(wrong_pairs)


def test_progress_needs_a_lookup_first(portal, client):
    response = client.get("/petition/progress")
    assert response.status_code == 302 and "/petition/lookup" in response.headers["Location"]
    assert client.get("/petition/progress/document/1").status_code == 404


# -- satisfaction ---------------------------------------------------------------------------


def test_satisfaction_after_reply_is_a_callback(portal, client, staff):
    case, number, code = filed(client)
    answered(case, staff)
    look_up(client, number, code)
    assert "满意度评价" in client.get("/petition/progress").get_data(as_text=True)

    response = client.post(
        "/petition/progress", data={"satisfaction": "satisfied", "opinion": "修得很快"}
    )
    assert response.status_code == 302
    callback = db.session.scalar(sa.select(Callback))
    assert callback.case_id == case.id
    assert callback.satisfaction == Satisfaction.satisfied and callback.done_at is not None
    assert callback.opinion == "修得很快"
    assert callback.created_by.username == PORTAL_USERNAME
    db.session.expire_all()
    assert db.session.get(Case, case.id).last_satisfaction == Satisfaction.satisfied
    page = client.get("/petition/progress").get_data(as_text=True)
    assert "您的评价：满意" in page
    # Only once.
    before = row_counts()
    response = client.post("/petition/progress", data={"satisfaction": "dissatisfied"})
    assert response.status_code == 400 and "您已评价过此事项" in response.get_data(as_text=True)
    assert row_counts() == before


def test_satisfaction_before_reply_is_refused(portal, client):
    _case, number, code = filed(client)
    look_up(client, number, code)
    page = client.get("/petition/progress").get_data(as_text=True)
    assert "满意度评价" not in page
    before = row_counts()
    response = client.post("/petition/progress", data={"satisfaction": "satisfied"})
    assert response.status_code == 400
    assert "事项答复后才能评价" in response.get_data(as_text=True)
    response = client.post("/petition/progress", data={"satisfaction": "bogus"})
    assert response.status_code == 400
    assert row_counts() == before


# -- in the browser ---------------------------------------------------------------------------


@pytest.mark.e2e
def test_file_and_look_up_in_chromium(tmp_path_factory):
    """File a petition on a phone-sized screen, then look it up on a desktop-sized one."""
    pytest.importorskip("playwright")
    from tests.test_e2e import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, TIMEOUT_MS

    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    import logging
    import threading

    from playwright.sync_api import expect, sync_playwright
    from werkzeug.serving import make_server

    from models.maintenance.presets import load_preset
    from tests.conftest import build_app

    app = build_app("sqlite", tmp_path_factory, WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.create_all()
        load_preset("government")
        db.session.commit()
        complaint_id = category(CategoryKind.complaint).id
        db.session.remove()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    SCREENSHOTS.mkdir(exist_ok=True)
    problems: list[str] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            expect.set_options(timeout=TIMEOUT_MS)
            phone = browser.new_context(
                locale="zh-CN", viewport={"width": 390, "height": 844}, device_scale_factor=1
            )
            page = phone.new_page()
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on(
                "console",
                lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
            )
            page.goto(f"{base}/petition/new")
            # Sent empty first: the reasons show in Chinese next to each input.
            page.get_by_role("button", name="提交").click()
            expect(page.locator(".alert-danger")).to_contain_text("提交未成功")
            subject_error = page.locator("#new_subject ~ .invalid-feedback")
            expect(subject_error).to_have_text("新事项必须填写此项")
            page.screenshot(path=str(SCREENSHOTS / "portal_errors_390.png"), full_page=True)
            page.select_option("#new_category", str(complaint_id))
            page.fill("#new_subject", "路灯损坏")
            page.fill("#new_content", "幸福小区3号楼前路灯已坏两周。")
            page.fill("#new_person_name", "李网民")
            page.fill("#new_person_phone", "13800138000")
            page.set_input_files(
                "#attachments",
                files=[{"name": "照片.png", "mimeType": "image/png", "buffer": PNG}],
            )
            question = page.locator("#challenge ~ small").inner_text()
            first, second = re.search(r"(\d) 加 (\d)", question).groups()
            page.fill("#challenge", str(int(first) + int(second)))
            page.screenshot(path=str(SCREENSHOTS / "portal_form_390.png"), full_page=True)
            page.get_by_role("button", name="提交").click()
            expect(page.locator("h1")).to_have_text("提交成功")
            number = page.locator("#case-number").inner_text()
            code = page.locator("#query-code").inner_text()
            page.screenshot(path=str(SCREENSHOTS / "portal_done_390.png"), full_page=True)
            phone.close()

            desktop = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
            page = desktop.new_page()
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.goto(f"{base}/petition/lookup")
            page.fill("#number", number)
            page.fill("#code", code)
            page.get_by_role("button", name="查询").click()
            expect(page.locator("#plain-status")).to_have_text(
                "已收到您的信访事项，正在审查是否受理"
            )
            expect(page.locator("body")).to_contain_text(number)
            page.screenshot(path=str(SCREENSHOTS / "portal_progress_1280.png"), full_page=True)
            page.goto(f"{base}/petition/report")
            page.screenshot(path=str(SCREENSHOTS / "portal_report_1280.png"), full_page=True)
            desktop.close()
            browser.close()
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
    assert problems == []
    with app.app_context():
        case = db.session.scalar(sa.select(Case).where(Case.number == number))
        assert case.channel == CaseChannel.online
        files = db.session.scalars(sa.select(Attachment).where(Attachment.case_id == case.id))
        assert [f.original_name for f in files] == ["照片.png"]
        db.session.remove()


def test_oversized_request_is_refused_before_reading(portal, client, monkeypatch):
    from models.settings import SystemSetting

    monkeypatch.setitem(portal.config, "PORTAL_MAX_FILES", 1)
    db.session.get(SystemSetting, "attachment_max_mb").value = "1"
    db.session.commit()
    before = row_counts()
    big = PDF + b"0" * (3 * 1024 * 1024)
    response = file_petition(client, files=[("大.pdf", big)])
    assert response.status_code == 413
    assert "提交的材料合计超过 2 MB" in response.get_data(as_text=True)
    assert row_counts() == before


def test_limits_are_kept_in_redis_when_configured(tmp_path_factory):
    """With REDIS_URL the counts live in Redis (shared by every worker), under a prefix."""
    import uuid

    import redis
    from limits.storage import RedisStorage

    from admin_views.public.limits import hit
    from tests.conftest import build_app

    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    prefix = f"xinfang-portal-test18-{uuid.uuid4().hex[:8]}"
    app = build_app(
        "sqlite",
        tmp_path_factory,
        REDIS_URL=url,
        RATELIMIT_KEY_PREFIX=prefix,
        PORTAL_LOOKUP_LIMITS="2 per hour",
    )
    client = redis.Redis.from_url(url)
    try:
        limiter = app.extensions["portal_limiter"]
        with app.test_request_context("/petition/lookup", method="POST"):
            assert isinstance(limiter.storage, RedisStorage)
            assert [hit("PORTAL_LOOKUP_LIMITS", "lookup", "10.0.0.1") for _ in range(2)] == [
                None,
                None,
            ]
            wait = hit("PORTAL_LOOKUP_LIMITS", "lookup", "10.0.0.1")
            assert wait is not None and 0 < wait <= 3600
            # Another address has its own count.
            assert hit("PORTAL_LOOKUP_LIMITS", "lookup", "10.0.0.2") is None
        keys = list(client.scan_iter(match=f"{prefix}*"))
        assert keys
        # Addresses are stored only as hashes.
        assert not any(b"10.0.0.1" in key for key in keys)
        # A reset forgets the portal's counts and nothing else in the shared Redis.
        client.set("xinfang-other-test18", "1", ex=60)
        with app.app_context():
            reset_limits()
        assert list(client.scan_iter(match=f"{prefix}*")) == []
        assert client.get("xinfang-other-test18") == b"1"
    finally:
        client.delete("xinfang-other-test18")
        for key in client.scan_iter(match=f"*{prefix}*"):
            client.delete(key)
