"""Registers show progress and keep the form (issue 19 item 7).

A register of up to ``register_background_rows`` rows (50 unless an office changes it) renders
in the request, about a second; the form posts in the page and offers the PDF under itself. A
larger one becomes a job whose page shows the pages laid out so far.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from models import Case, Letter, SystemSetting, db
from models.base import utcnow
from models.enums import CaseChannel, LetterForm, LetterOrigin
from models.maintenance.presets import load_preset
from models.operations.cases import register_case
from models.operations.registers import background_threshold
from models.operations.users import create_user
from tests.test_e2e import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, shot

OFFICE = "progress_office"
PASSWORD = "Progress-2026"


def test_the_default_threshold_is_about_a_second_of_rendering(app):
    assert db.session.get(SystemSetting, "register_background_rows").value == "50"
    assert background_threshold() == 50


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    import logging
    import threading

    from werkzeug.serving import make_server

    from tests.conftest import build_app

    app = build_app("sqlite", tmp_path_factory, WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.create_all()
        load_preset("government")
        office = create_user(
            username=OFFICE, full_name="台账信访办", password=PASSWORD, role_codes=["office"]
        )
        for number in range(3):
            case = register_case(
                Case(
                    subject=f"台账进度测试{number}",
                    content="路灯损坏，夜间出行不便。",
                    channel=CaseChannel.letter,
                    received_at=utcnow() - timedelta(hours=number + 1),
                ),
                by=office,
            )
            db.session.add(
                Letter(
                    case_id=case.id,
                    received_at=case.received_at,
                    form=LetterForm.paper,
                    origin=LetterOrigin.direct,
                )
            )
        db.session.commit()
        db.session.remove()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.mark.e2e
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Chromium not found at {CHROMIUM}")
def test_a_small_register_is_offered_under_the_form_and_a_refusal_keeps_it(live_server):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai").new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{live_server}/admin/login/")
            page.get_by_label("用户名").fill(OFFICE)
            page.get_by_label("密码").fill(PASSWORD)
            page.get_by_role("button", name="登录").click()
            page.wait_for_url(f"{live_server}/admin/**")

            page.goto(f"{live_server}/admin/registers/")
            page.locator("#kind").select_option("letters")
            page.get_by_role("button", name="生成台账").click()
            download = page.locator("a.register-download")
            expect(download).to_be_visible()
            assert download.get_attribute("download").endswith(".pdf")
            assert download.get_attribute("href").startswith("blob:")
            # The form is still there, as filled in, with the result under it.
            assert page.url == f"{live_server}/admin/registers/"
            expect(page.locator("#kind")).to_have_value("letters")
            expect(page.locator("#register-status")).to_contain_text("台账已生成")
            shot(page, "issue19_register_small")

            page.locator("#start").fill("2026-12-31")
            page.locator("#end").fill("2026-01-01")
            page.get_by_role("button", name="生成台账").click()
            expect(page.locator(".invalid-feedback")).to_contain_text("结束日期不能早于开始日期")
            assert errors == []
        finally:
            browser.close()
