"""Accessibility and small screens in headless Chromium (issue 19 items 3 and 8).

axe-core (through axe-playwright-python) checks the main screens against WCAG 2.1 A/AA and
its best practices: no serious or critical violation may remain. Each screen is also saved
at 1280 px and at 390 px into ``tests/screenshots/``; at 390 px the case list, the case page
and the work list must not scroll the whole page sideways, and no table cell may shrink to a
character per line. The skip link brings the keyboard to the first field of 来信登记.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from werkzeug.serving import make_server

from models import Case, Notification, Party, db
from models.base import utcnow
from models.enums import CaseChannel
from models.maintenance.presets import load_preset
from models.operations.cases import register_case
from models.operations.users import create_user
from tests.conftest import build_app
from tests.test_e2e import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, TIMEOUT_MS

USERNAME = "a11y_admin"
PASSWORD = "A11y-secret-2026"
SERIOUS = {"serious", "critical"}

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Chromium not found at {CHROMIUM}"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The real app on a free port (SQLite, CSRF on): the government preset, an
    administrator who also registers, one case with a long subject, and notifications."""
    pytest.importorskip("axe_playwright_python")
    app = build_app("sqlite", tmp_path_factory, WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.create_all()
        load_preset("government")
        user = create_user(
            username=USERNAME,
            full_name="无障碍检查员",
            password=PASSWORD,
            role_codes=["admin", "registrar", "leader"],
        )
        db.session.flush()
        petitioner = Party(name="李晓明", phone="13800138000")
        cases = [
            register_case(
                Case(
                    channel=CaseChannel.letter,
                    subject=subject,
                    content="幸福小区东门至三号楼之间的路灯已坏两个月，夜间行人摔倒多次。",
                    received_at=utcnow() - timedelta(days=days),
                ),
                by=user,
                petitioners=[petitioner],
            )
            for subject, days in (
                ("幸福小区东门至三号楼之间的路灯长期不亮，夜间出行困难，请求尽快维修", 20),
                ("建设路与人民路交叉口井盖缺失", 2),
            )
        ]
        db.session.flush()
        now = utcnow()
        db.session.add_all(
            Notification(
                user_id=user.id,
                case_id=cases[i % 2].id if i % 5 else None,
                level=1 + i % 3,
                message=f"{cases[i % 2].number} 提醒第 {i + 1} 条",
                created_at=now - timedelta(minutes=60 - i),
            )
            for i in range(60)
        )
        db.session.commit()
        case_id = cases[0].id
        db.session.remove()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="a11y-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", case_id
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screens(case_id: int) -> list[tuple[str, str]]:
    return [
        ("home", "/admin/"),
        ("case_list", "/admin/case/"),
        ("case_page", f"/admin/case/details/?id={case_id}"),
        ("letter_form", "/admin/letter/new/"),
        ("worklist", "/admin/worklist/?tab=awaiting"),
        ("worklist_overdue", "/admin/worklist/?tab=overdue"),
        ("notifications", "/admin/worklist/?tab=notifications"),
    ]


def serious_violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(
        page,
        options={
            "resultTypes": ["violations"],
            "runOnly": {
                "type": "tag",
                "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"],
            },
        },
    )
    found = []
    for violation in results.response["violations"]:
        if violation["impact"] in SERIOUS:
            targets = [
                ", ".join(node["target"]) + contrast_of(node) for node in violation["nodes"][:5]
            ]
            found.append(f"{violation['id']} ({violation['impact']}): {targets}")
    return found


def contrast_of(node) -> str:
    """The colours of a colour-contrast finding, " (#fg on #bg 2.77)", for the message."""
    for check in node.get("any", []):
        data = check.get("data") or {}
        if isinstance(data, dict) and "fgColor" in data:
            return f" ({data['fgColor']} on {data['bgColor']} {data.get('contrastRatio')})"
    return ""


#: Cells narrower than this (px) holding more than two characters wrap a character a line.
NARROW_CELLS = """() => {
  const bad = [];
  for (const cell of document.querySelectorAll('main td, main th')) {
    const text = cell.innerText.trim();
    if (!cell.offsetParent || text.length < 3) continue;
    const width = cell.getBoundingClientRect().width;
    if (width < 36) bad.push(text.slice(0, 20) + ' @' + Math.round(width) + 'px');
  }
  return bad;
}"""
#: How far the page itself scrolls sideways (a table may scroll inside its own box).
PAGE_OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
#: The elements that stick out past the right edge (for a failure's message).
WIDE_ELEMENTS = """() => [...document.querySelectorAll('body *')].filter(el => {
  const box = el.getBoundingClientRect();
  const edge = document.documentElement.clientWidth + 1;
  const parent = el.parentElement.getBoundingClientRect();
  return box.right > edge && box.width > 0 && parent.right <= edge;
}).slice(0, 5).map(el => el.tagName + '.' + el.className + ' '
  + Math.round(el.getBoundingClientRect().right))"""


def log_in(context, base: str):
    page = context.new_page()
    page.goto(f"{base}/admin/login/")
    page.get_by_label("用户名").fill(USERNAME)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{base}/admin/")
    return page


def test_main_screens_have_no_serious_violations(site, browser):
    base, case_id = site
    problems: dict[str, list[str]] = {}
    context = browser.new_context(
        locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        for name, path in (
            ("login", "/admin/login/"),
            ("public_petition", "/petition/new"),
            ("not_found", "/no-such-page"),
        ):
            page = context.new_page()
            page.goto(base + path)
            assert page.locator("html").get_attribute("lang") == "zh-CN", name
            problems[name] = serious_violations(page)
            page.screenshot(path=str(SCREENSHOTS / f"a11y_{name}_1280.png"), full_page=True)
            page.close()
        page = log_in(context, base)
        for name, path in screens(case_id):
            page.goto(base + path)
            assert page.locator("html").get_attribute("lang") == "zh-CN", name
            problems[name] = serious_violations(page)
            page.screenshot(path=str(SCREENSHOTS / f"a11y_{name}_1280.png"), full_page=True)
        # The English interface says so too.
        page.goto(f"{base}/lang/en")
        page.goto(base + "/admin/worklist/?tab=notifications")
        assert page.locator("html").get_attribute("lang") == "en"
        problems["notifications_en"] = serious_violations(page)
        page.goto(f"{base}/lang/zh_Hans_CN")
    finally:
        context.close()
    assert {name: found for name, found in problems.items() if found} == {}


def test_skip_link_reaches_the_first_field_of_letter_registration(site, browser):
    base, _case_id = site
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = log_in(context, base)
        page.goto(f"{base}/admin/letter/new/")
        page.keyboard.press("Tab")
        focused = page.evaluate("() => document.activeElement.className")
        assert "skip-link" in focused
        assert page.locator(".skip-link").is_visible()
        page.keyboard.press("Enter")
        first_field = page.evaluate(
            """() => [...document.querySelectorAll(
                'form.admin-form input, form.admin-form select, form.admin-form textarea'
            )].find(el => el.type !== 'hidden' && el.offsetParent).id"""
        )
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.id") == first_field
    finally:
        context.close()


def test_phone_width_layout(site, browser):
    base, case_id = site
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 390, "height": 844}, device_scale_factor=1
    )
    context.set_default_timeout(TIMEOUT_MS)
    narrow: dict[str, list[str]] = {}
    overflow: dict[str, list[str]] = {}
    try:
        page = context.new_page()
        page.goto(f"{base}/petition/new")
        page.screenshot(path=str(SCREENSHOTS / "a11y_public_petition_390.png"), full_page=True)
        page.goto(f"{base}/admin/login/")
        page.screenshot(path=str(SCREENSHOTS / "a11y_login_390.png"), full_page=True)
        page.close()
        page = log_in(context, base)
        for name, path in screens(case_id):
            page.goto(base + path)
            page.screenshot(path=str(SCREENSHOTS / f"a11y_{name}_390.png"), full_page=True)
            narrow[name] = page.evaluate(NARROW_CELLS)
            if page.evaluate(PAGE_OVERFLOW) > 0:
                overflow[name] = page.evaluate(WIDE_ELEMENTS)
        # The case list keeps the number and the whole subject in view on a phone.
        page.goto(f"{base}/admin/case/")
        subject = page.get_by_text("幸福小区东门至三号楼之间的路灯长期不亮", exact=False).first
        box = subject.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    finally:
        context.close()
    assert {name: cells for name, cells in narrow.items() if cells} == {}
    assert overflow == {}
