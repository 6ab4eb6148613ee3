"""End to end: a registrar logs in and registers a first letter in headless Chromium.

The real application runs in a background thread on its own SQLite database, with CSRF
protection switched on, and the browser goes through the same screens an office worker does:
login → 来信登记 → 信访事项 search → the case's details page.  A full-page screenshot of each
step is written to ``tests/screenshots/``.
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from models import Case, Letter, db
from models.base import local_zone
from models.maintenance.presets import load_preset
from models.operations.users import create_user
from tests.conftest import build_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"
USERNAME = "e2e_registrar"
FULL_NAME = "端到端登记员"
PASSWORD = "E2e-secret-2026"
TIMEOUT_MS = 15_000

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Chromium not found at {CHROMIUM}"),
]


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """The real app on 127.0.0.1 and a random free port, with its own SQLite database."""
    app = build_app("sqlite", tmp_path_factory, WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.create_all()
        load_preset("government")
        create_user(
            username=USERNAME, full_name=FULL_NAME, password=PASSWORD, role_codes=["registrar"]
        )
        db.session.commit()
        db.session.remove()
    # One log line per static file would bury a failure's output: keep warnings and errors.
    werkzeug_logger = logging.getLogger("werkzeug")
    old_level = werkzeug_logger.level
    werkzeug_logger.setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-server", daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        werkzeug_logger.setLevel(old_level)


@pytest.fixture
def chromium_page():
    """A fresh page in headless Chromium, set up like a browser in a Chinese office."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1366, "height": 900}
            )
            context.set_default_timeout(TIMEOUT_MS)
            yield context.new_page()
            context.close()
        finally:
            browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_register_letter_search_and_view_case(live_server, chromium_page):
    from playwright.sync_api import expect

    app, base = live_server
    page = chromium_page
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # The Content-Security-Policy allows scripts only with the page's nonce; a violation would
    # mean a template still carries an inline script or event handler.
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )

    # -- 1. Log in through the Chinese login page ---------------------------------------
    page.goto(f"{base}/admin/login/")
    expect(page.locator("h4.card-title")).to_have_text("信访通 · 登录")
    expect(page.get_by_label("用户名")).to_be_visible()
    shot(page, "01_login")
    page.get_by_label("用户名").fill(USERNAME)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{base}/admin/")
    expect(page.locator(".navbar")).to_contain_text(FULL_NAME)

    # -- 2. 登记 → 来信登记 → create -------------------------------------------------------
    page.locator(".navbar").get_by_text("登记", exact=True).click()
    page.locator(".navbar").get_by_role("link", name="来信登记").click()
    page.wait_for_url(re.compile(r"/admin/letter/"))
    page.locator(".nav-tabs a[href*='/admin/letter/new/']").click()
    page.wait_for_url(re.compile(r"/admin/letter/new/"))
    expect(page.locator("#received_at")).to_be_visible()
    expect(page.locator("form.admin-form")).to_contain_text("一、归属事项")
    shot(page, "02_letter_form_empty")

    # -- 3. Fill in a first letter: new writer, new case, received an hour ago ----------
    received = datetime.now(local_zone()).replace(second=0, microsecond=0) - timedelta(hours=1)
    received_text = received.strftime("%Y-%m-%dT%H:%M")
    subject = "端到端测试：小区路灯长期不亮"
    content = "幸福小区东门至三号楼之间的路灯已坏两个月，夜间行人摔倒多次，请求尽快维修。"
    page.locator("#new_person_name").fill("王端到")
    page.locator("#new_person_phone").fill("13812345678")
    page.locator("#new_subject").fill(subject)
    page.locator("#new_content").fill(content)
    received_input = page.locator("#received_at")
    # The browser's own date-time input: the form opens with "now", staff correct it.
    expect(received_input).to_have_attribute("type", "datetime-local")
    received_input.fill(received_text)
    expect(received_input).to_have_value(received_text)
    shot(page, "03_letter_form_filled")

    # -- 4. Save ------------------------------------------------------------------------
    page.locator("input[type=submit][value='保存']").click()
    # Saving opens the new case's page, its number in the message (issue 19).
    page.wait_for_url(re.compile(r"/admin/case/details/"))
    expect(page.locator(".alert-danger")).to_have_count(0)

    with app.app_context():
        case = db.session.scalar(sa.select(Case).where(Case.subject == subject))
        assert case is not None, "the letter form did not create the case"
        number = case.number
        letters = db.session.scalars(sa.select(Letter).where(Letter.case_id == case.id)).all()
        assert len(letters) == 1
        assert letters[0].writer.name == "王端到"
        assert letters[0].writer.phone == "13812345678"
        assert letters[0].received_at.astimezone(local_zone()) == received
        db.session.remove()
    assert re.fullmatch(r"XF\d{4}-\d{6}", number), number
    expect(page.locator(".alert-success")).to_contain_text(f"已登记，编号 {number}")

    # -- 5. The case list: the new case is listed, then found by its number -------------
    page.goto(f"{base}/admin/case/")
    expect(page.locator("table.model-list")).to_contain_text(number)
    search = page.locator("input[name=search]")
    search.fill(number)
    search.press("Enter")
    page.wait_for_url(re.compile(r"/admin/case/\?.*search="))
    rows = page.locator("table.model-list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(number)
    expect(rows.first).to_contain_text(subject)
    expect(rows.first).to_contain_text("王端到")
    shot(page, "04_case_list_search")

    # -- 6. The case's details page: the letter and the registration on the timeline ----
    rows.first.get_by_role("link", name=number).click()
    page.wait_for_url(re.compile(r"/admin/case/details/"))
    expect(page.locator("body")).to_contain_text(number)
    expect(page.locator("body")).to_contain_text(content)
    letter_title = page.locator("h5.section-title", has_text="来信")
    expect(letter_title).to_have_text("来信（1）")
    letter_table = letter_title.locator("xpath=following-sibling::table[1]")
    expect(letter_table).to_contain_text("王端到")
    expect(letter_table).to_contain_text(received.strftime("%Y-%m-%d %H:%M"))
    expect(letter_table).to_contain_text("首次")
    timeline = page.locator("table.timeline")
    registered = timeline.locator("tr").filter(
        has=page.locator("td", has_text=re.compile(r"^\s*登记\s*$"))
    )
    expect(registered).to_have_count(1)
    expect(registered).to_contain_text(FULL_NAME)
    shot(page, "05_case_details")

    assert errors == [], f"JavaScript errors on the pages: {errors}"
    assert violations == [], f"Content-Security-Policy violations: {violations}"
