"""Issue 19 item 5: both languages clean, in words.

A crawl of the main screens through the test client, for a few roles, in each language: the
Chinese UI shows no English words (a short allow-list aside, data excepted) and the English UI
no Chinese UI strings (every text stored in the database is data and is taken out first). Then
the timeline's and the audit log's before → after values: labels, booleans, local dates, enum
titles and foreign keys by name, in both languages.
"""

from __future__ import annotations

import html as html_lib
import re
from datetime import UTC, datetime

import flask_babel
import pytest
import sqlalchemy as sa
from flask_login import login_user

from models import AuditEntry, CaseEvent, Category, Unit, db
from models.audit import AuditAction
from models.enums import EventKind
from tests.conftest import locale_chosen_per_request
from tests.test_e2e import (  # the browser test reuses the end-to-end server
    CHROMIUM,
    PASSWORD,
    USERNAME,
    chromium_page,  # noqa: F401
    live_server,  # noqa: F401
    shot,
)

#: English that belongs in the Chinese UI: names of formats, the switch to English, numbers.
ALLOWED_ENGLISH = {"English", "PDF", "Excel", "CSV", "XLSX", "ID", "XF", "Word", "API"}
#: The switch back to Chinese is written in Chinese in every language.
ALLOWED_CHINESE = {"中文"}
DUMP = False

PAGES = (
    "/admin/",
    "/admin/case/",
    "/admin/case/details/?id={case}",
    "/admin/letter/",
    "/admin/visit/",
    "/admin/call/",
    "/admin/callback/",
    "/admin/caseevent/",
    "/admin/auditlog/",
    "/admin/worklist/",
    "/admin/party/",
    "/admin/user/",
    "/admin/unit/",
    "/admin/category/",
    "/admin/setting/",
    "/admin/letter/new/",
    "/admin/deadlinerule/",
    "/admin/keptletters/",
    "/admin/reception/",
    "/admin/stats/",
    "/admin/rectificationorder/",
)


@pytest.fixture(autouse=True)
def locale_per_request(request):
    """Choose the language afresh for every request (the test's app context is shared). The
    browser test runs its own server once, not per database backend."""
    if "e2e" in request.keywords:
        yield
        return
    app = request.getfixturevalue("app")

    with locale_chosen_per_request(app):
        yield


def screen_text(html: str) -> str:
    """What a person reads: text, placeholders and titles; no scripts, styles, hidden JSON."""
    html = re.sub(r"<script.*?</script>|<style.*?</style>", " ", html, flags=re.S)
    html = re.sub(r'<div id="[a-z-]*-data"[^>]*>.*?</div>', " ", html, flags=re.S)
    attributes = re.findall(r'(?:placeholder|title)="([^"]*)"', html)
    text = re.sub(r"<[^>]+>", " ", html) + " " + " ".join(attributes)
    return html_lib.unescape(text)


def data_strings() -> list[str]:
    """Every short text stored in the database (names, subjects, preset wording …): data."""
    found = set()
    for table in db.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, sa.String | sa.Text)]
        if not columns or table.name in ("audit_log",):
            continue
        for row in db.session.execute(sa.select(*columns).limit(500)):
            found.update(v.strip() for v in row if isinstance(v, str) and 1 < len(v) < 400)
    return sorted(found, key=len, reverse=True)


def without_data(text: str, data: list[str]) -> str:
    for value in data:
        if value in text:
            text = text.replace(value, " ")
    return text


@pytest.fixture
def demo(government, create_user, create_case, create_party):
    """A few cases with a history (an edit of old-style raw values among it)."""
    unit = db.session.scalar(sa.select(Unit).where(Unit.parent_id.is_not(None)).limit(1))
    office = create_user("office")
    handler = create_user("handler", unit=unit)
    cases = [
        create_case(subject="道路积水", petitioners=[create_party("高瑞")]),
        create_case(subject="噪声扰民", petitioners=[create_party("林小梅")]),
    ]
    category = db.session.scalar(sa.select(Category).order_by(Category.id).limit(1))
    db.session.add(
        CaseEvent(
            case=cases[0],
            kind=EventKind.edited,
            summary="Case edited",
            data={
                "is_group": [False, True],
                "received_at": ["2026-11-29T01:00:00+00:00", "2026-11-30T09:50:00+00:00"],
                "priority": ["normal", "urgent"],
                "category_id": [None, category.id],
            },
            created_at=datetime(2026, 11, 30, 9, 50, tzinfo=UTC),
        )
    )
    db.session.commit()
    return {"users": [create_user("admin"), office, handler], "case": cases[0]}


def crawl(client, login_as, user, language: str, case_id: int) -> dict[str, str]:
    login_as(user)
    with client.session_transaction() as session:
        session["locale"] = language
    pages = {}
    for url in PAGES:
        url = url.format(case=case_id)
        response = client.get(url)
        if response.status_code in (302, 403):
            continue  # a screen this role may not open
        assert response.status_code == 200, url
        pages[url] = screen_text(response.get_data(as_text=True))
    return pages


def test_chinese_screens_have_no_english(client, login_as, demo):
    data = [value for value in data_strings() if re.search(r"[A-Za-z]", value)]
    problems = {}
    for user in demo["users"]:
        for url, text in crawl(client, login_as, user, "zh_Hans_CN", demo["case"].id).items():
            text = without_data(text, data)
            words = set(re.findall(r"[A-Za-z][A-Za-z_.]+", text)) - ALLOWED_ENGLISH
            words = {w for w in words if not re.fullmatch(r"XF\d*", w)}
            if words:
                problems[f"{user.username} {url}"] = sorted(words)
    assert not problems, repr(problems)


def test_english_screens_have_no_chinese_ui_strings(client, login_as, demo):
    data = [value for value in data_strings() if re.search(r"[\u4e00-\u9fff]", value)]
    problems = {}
    for user in demo["users"]:
        for url, text in crawl(client, login_as, user, "en", demo["case"].id).items():
            text = without_data(text, data)
            # U+3000 (the ideographic space) indents; it is white space, not a word.
            runs = set(re.findall(r"[\u3001-\u303f\u4e00-\u9fff\uff00-\uffef]+", text))
            runs -= ALLOWED_CHINESE
            if runs:
                if DUMP:
                    for run in runs:
                        i = text.index(run)
                        print(url, repr(text[max(0, i - 80) : i + 40]))
                problems[f"{user.username} {url}"] = sorted(runs)
    assert not problems, repr(problems)


def test_search_hints_name_columns_in_words(app):
    from flask import current_app

    with app.test_request_context():
        for view in current_app.extensions["admin"][0]._views:
            if not hasattr(view, "search_placeholder") or not view.column_searchable_list:
                continue
            hint = view.search_placeholder() or ""
            assert not re.search(r"[A-Za-z_]{3,}", hint), (view.endpoint, hint)


def test_page_size_menu_is_chinese(client, login_as, create_user, government):
    login_as(create_user("admin"))
    html = client.get("/admin/unit/").get_data(as_text=True)
    assert "20 条/页" in html and "每页 50 条" in html
    assert "items" not in screen_text(html)
    client.get("/lang/en")
    assert "50 per page" in client.get("/admin/unit/").get_data(as_text=True)


# --- the timeline and the audit log in words -----------------------------------------------


def timeline_lines(case, language: str) -> list[tuple[str, str]]:
    from admin_views.cases import timeline_entry, timeline_labels

    event = db.session.scalars(
        sa.select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == EventKind.edited)
    ).first()
    with flask_babel.force_locale(language):
        return dict(timeline_entry(event, timeline_labels())[1])


def test_timeline_values_in_words_chinese(app, demo):
    with app.test_request_context():
        lines = timeline_lines(demo["case"], "zh_Hans_CN")
    category = db.session.scalar(sa.select(Category).order_by(Category.id).limit(1))
    assert lines["集体访/联名"] == "否 → 是"
    # UTC 09:50 is 17:50 in the office's zone.
    assert lines["收到时间"] == "2026年11月29日 09:00 → 2026年11月30日 17:50"
    assert lines["紧急程度"] == "一般 → 急件"
    assert lines["分类"] == f"— → {category.name}"


def test_timeline_values_in_words_english(app, demo):
    with app.test_request_context():
        lines = timeline_lines(demo["case"], "en")
    text = " ".join(f"{k} {v}" for k, v in lines.items())
    assert not re.search(r"[\u4e00-\u9fff]", text.replace(_category_name(), "")), text
    assert "No → Yes" in text
    assert "30 Nov 2026 17:50" in text
    assert "T09:50" not in text and "False" not in text


def _category_name() -> str:
    return db.session.scalar(sa.select(Category.name).order_by(Category.id).limit(1))


def audit_row(table: str, before: dict, after: dict) -> AuditEntry:
    return AuditEntry(
        at=datetime(2026, 11, 30, 9, 50, tzinfo=UTC),
        action=AuditAction.update,
        target_type=table,
        target_id="1",
        summary=f"{table} #1",
        data={"before": before, "after": after},
    )


def test_audit_log_changes_in_words(app, demo):
    from admin_views.audit import _changes, _summary, _table

    category = db.session.scalar(sa.select(Category).order_by(Category.id).limit(1))
    row = audit_row(
        "callbacks",
        {"done_at": None, "signature_obtained": False, "satisfaction": None},
        {
            "done_at": "2026-11-30T09:50:00+00:00",
            "signature_obtained": True,
            "satisfaction": "satisfied",
        },
    )
    cases_row = audit_row(
        "cases", {"category_id": None, "priority": "normal"}, {"category_id": category.id}
    )
    admin = demo["users"][0]
    with app.test_request_context():
        login_user(admin)
        with flask_babel.force_locale("zh_Hans_CN"):
            chinese = str(_changes(None, None, row, "changes"))
            chinese_cases = str(_changes(None, None, cases_row, "changes"))
            assert _table(None, None, row, "target_type") == "回访"
            assert _summary(None, None, row, "summary") == "回访 #1"
        with flask_babel.force_locale("en"):
            english = str(_changes(None, None, row, "changes"))
            assert not re.search(r"[\u4e00-\u9fff]", _table(None, None, row, "target_type"))
    assert "2026年11月30日 17:50" in chinese and "满意" in chinese
    assert "否 → 是" in chinese
    assert not re.search(r"done_at|satisfied|True|False|T09:50", chinese), chinese
    assert category.name in chinese_cases and "category_id" not in chinese_cases
    assert "30 Nov 2026 17:50" in english and "No → Yes" in english
    assert not re.search(r"[\u4e00-\u9fff]", english), english


def test_role_names_follow_the_language(app, demo):
    admin = demo["users"][0]
    with app.test_request_context():
        with flask_babel.force_locale("en"):
            assert admin.role_names == "Administrator"
        with flask_babel.force_locale("zh_Hans_CN"):
            assert admin.role_names == "系统管理员"


# --- the date picker: Chinese (or English), weeks from Monday, working days marked ----------


def test_every_page_loads_the_picker_in_the_page_language(client, login_as, create_user):
    login_as(create_user("admin"))
    chinese = client.get("/admin/letter/new/").get_data(as_text=True)
    assert re.search(r'src="/static/js/date_picker\.js[^"]*" data-locale="zh_Hans_CN"', chinese)
    client.get("/lang/en")
    english = client.get("/admin/letter/new/").get_data(as_text=True)
    assert 'data-locale="en"' in english
    script = client.get("/static/js/date_picker.js").get_data(as_text=True)
    assert "dow: 1" in script and "firstDay: 1" in script and "/admin/working-days/" in script


def test_working_days_of_a_year(client, login_as, create_user):
    anonymous = client.get("/admin/working-days/2026")
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous.headers["Location"]
    login_as(create_user("handler"))
    data = client.get("/admin/working-days/2026").get_json()
    assert data["known"] is True
    # 国庆: 1–7 October off (the weekdays among them listed), Saturday 10 October worked.
    assert "2026-10-01" in data["rest"] and "2026-10-03" not in data["rest"]
    assert "2026-10-10" in data["work"]
    assert "2026-10-12" not in data["rest"]
    assert client.get("/admin/working-days/1900").status_code == 400


def test_working_days_follow_the_office_overrides(client, login_as, create_user):
    from models.calendar import CalendarOverride, forget_work_calendar

    db.session.add(CalendarOverride(day=datetime(2026, 10, 12).date(), is_working=False))
    db.session.commit()
    forget_work_calendar()
    login_as(create_user("handler"))
    assert "2026-10-12" in client.get("/admin/working-days/2026").get_json()["rest"]


@pytest.mark.e2e
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Chromium not found at {CHROMIUM}")
def test_date_picker_in_chinese_from_monday_with_working_days(live_server, chromium_page):  # noqa: F811
    from playwright.sync_api import expect

    _app, base = live_server
    page = chromium_page
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{base}/admin/login/")
    page.get_by_label("用户名").fill(USERNAME)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{base}/admin/")
    page.goto(f"{base}/admin/letter/new/")
    received = page.locator("#received_at")
    # The native input stays (its format is what the server and typing use); the picker is ours.
    expect(received).to_have_attribute("type", "datetime-local")
    page.locator("#received_at + .date-picker-button").click()
    picker = page.locator(".daterangepicker:visible")
    expect(picker.locator("thead tr").last).to_have_text(re.compile(r"^\s*一\s*二.*日\s*$"))
    expect(picker.locator(".applyBtn")).to_have_text("确定")
    calendar = picker.locator(".calendar:visible").first
    calendar.locator("select.yearselect").select_option("2026")
    calendar.locator("select.monthselect").select_option("9")  # October
    calendar = picker.locator(".calendar:visible").first
    expect(calendar.locator("td.rest-day:not(.off)", has_text=re.compile(r"^1$"))).to_have_count(1)
    expect(calendar.locator("td.work-weekend")).to_have_text(["10"])
    shot(page, "issue19_date_picker")
    calendar.locator("td.available:not(.off)", has_text=re.compile(r"^8$")).click()
    picker.locator(".applyBtn").click()
    expect(received).to_have_value(re.compile(r"^2026-10-08T\d\d:\d\d$"))
    assert not errors, errors


def test_screen_dates_follow_the_language(app):
    from datetime import date

    from admin_views.wording import person_text, ui_date
    from models.parties import Party

    when = datetime(2026, 2, 28, 17, 0, tzinfo=UTC)  # 1 March in the office's zone
    with app.test_request_context():
        with flask_babel.force_locale("zh_Hans_CN"):
            assert ui_date(date(2026, 3, 1)) == "2026年3月1日" == ui_date(when)
            assert person_text(Party(name="高瑞", phone="13812345678")) == "高瑞（13812345678）"
        with flask_babel.force_locale("en"):
            assert ui_date(date(2026, 3, 1)) == "1 Mar 2026" == ui_date(when)
            assert person_text(Party(name="高瑞", phone="13812345678")) == "高瑞 (13812345678)"
        assert ui_date(None) == ""
