"""Issue 16, lists: the total beside the pager (exact when small, estimated when large), the
deep-page notice, and the 期限 column loaded with the list's own query."""

import random
import re
from datetime import date, timedelta

import pytest
from flask import g

from admin_views.base import ProtectedModelView
from admin_views.cases import CaseView
from models import Unit, db
from models.base import to_local, utcnow
from models.calendar import WorkCalendar
from models.deadlines import CaseClock
from models.enums import Clock, TimeUnit, UnitKind
from models.queries import lists


def _as_a_new_request():
    db.session.remove()
    g.pop("_login_user", None)


def _case_view(app):
    return next(view for view in app.extensions["admin"][0]._views if isinstance(view, CaseView))


@pytest.fixture
def small_pages(app, monkeypatch):
    """Two rows a page, three pages that may be opened."""
    monkeypatch.setattr(_case_view(app), "page_size", 2)
    monkeypatch.setitem(app.config, "LIST_PAGE_LIMIT", 3)


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def _list_pages_linked(page: str) -> list[int]:
    """The page numbers (0-based) the page links to on the case list itself."""
    return [int(n) for n in re.findall(r'href="/admin/case/\?[^"]*\bpage=(\d+)', page)]


def test_a_short_list_shows_its_exact_total(create_case, create_user, login_as):
    for _ in range(3):
        create_case()
    page = _text(login_as(create_user("admin")).get("/admin/case/"))
    assert "共 3 条" in page
    assert "第 1 / 1 页" in page
    assert "deep-page-limit" not in page


def test_a_full_page_counts_the_rest_exactly(create_case, create_user, login_as, small_pages):
    for _ in range(5):
        create_case()
    client = login_as(create_user("admin"))
    page = _text(client.get("/admin/case/"))
    assert "共 5 条" in page
    assert "第 1 / 3 页" in page
    assert "?page=1" in page


def test_thousands_are_separated(app):
    assert lists.ListTotal(1234567, "estimate").text() == "约 1,234,567 条"
    assert lists.ListTotal(12345).text() == "共 12,345 条"
    assert lists.ListTotal(10000, "at_least").text() == "超过 10,000 条"


def test_a_long_list_is_estimated_on_postgresql_and_capped_on_sqlite(
    backend, create_case, create_user, login_as, small_pages, monkeypatch, count_queries
):
    for _ in range(5):
        create_case()
    monkeypatch.setattr(lists, "EXACT_COUNT_LIMIT", {"postgresql": 3})
    monkeypatch.setattr(lists, "COUNT_CAP", 3)
    client = login_as(create_user("admin"))
    page = _text(client.get("/admin/case/"))
    if backend == "postgresql":
        match = re.search(r"约 ([\d,]+) 条", page)
        assert match, page[-3000:]
        # Never fewer than were just counted (four rows past the limit of three).
        assert int(match.group(1).replace(",", "")) >= 4
    else:
        assert "超过 3 条" in page
    # A list that may hold more than its pages show says how far it can be turned.
    assert "可翻阅前 3 页" in page


def test_a_long_lists_total_is_reused_for_a_minute_and_a_short_ones_never(
    backend, create_case, create_user, login_as, small_pages, monkeypatch, count_queries
):
    """Paging or reloading a long list reuses its approximate total (no capped count, no
    estimate); after a minute, or for another filter or user, it is counted again. A list
    short enough to be counted exactly is counted on every view."""
    for _ in range(5):
        create_case(subject="小区道路破损")
    for _ in range(3):
        create_case(subject="噪音扰民")
    monkeypatch.setattr(lists, "EXACT_COUNT_LIMIT", {"postgresql": 3})
    monkeypatch.setattr(lists, "COUNT_CAP", 3)
    client = login_as(create_user("admin"))

    def counts(url):
        """The total's statements on the page: the capped count, and on PostgreSQL the
        planner's estimate when the count passes the limit."""
        with count_queries() as statements:
            assert client.get(url).status_code == 200
        return sum(
            statement.lower().startswith(("select count(*)", "explain")) for statement in statements
        )

    long_list = 2 if backend == "postgresql" else 1
    assert counts("/admin/case/") == long_list
    assert counts("/admin/case/") == 0
    assert counts("/admin/case/?page=1") == 0
    assert counts("/admin/case/?search=小区") == long_list  # another list
    later = lists.time.monotonic() + lists.LONG_TOTAL_TTL_SECONDS + 1
    monkeypatch.setattr(lists.time, "monotonic", lambda: later)
    assert counts("/admin/case/") == long_list
    # Three rows fill more than a page and fit under the exact limit: counted on every
    # view, never remembered.
    assert counts("/admin/case/?search=噪音") == 1
    assert counts("/admin/case/?search=噪音") == 1


def test_filtered_and_searched_long_lists_are_estimated_too(
    backend, create_case, create_user, login_as, small_pages, monkeypatch
):
    """The estimate explains the list's own filtered query, JSON filter values included
    (a custom-field filter once made the estimate fail with a 500 at a million cases)."""
    from models.custom_fields import CustomField
    from models.enums import CustomFieldType

    db.session.add(
        CustomField(
            key="group",
            label="涉及群体",
            field_type=CustomFieldType.choice,
            choices=["退役军人", "其他"],
            filterable=True,
        )
    )
    db.session.commit()
    for _ in range(5):
        create_case(subject="小区道路破损", custom_values={"group": "退役军人"})
    create_case(subject="噪音扰民", custom_values={"group": "其他"})
    monkeypatch.setattr(lists, "EXACT_COUNT_LIMIT", {"postgresql": 3})
    monkeypatch.setattr(lists, "COUNT_CAP", 3)
    client = login_as(create_user("admin"))
    for url in ("/admin/case/?flt0_cf_group_eq=退役军人", "/admin/case/?search=小区"):
        response = client.get(url)
        assert response.status_code == 200, url
        page = _text(response)
        if backend == "postgresql":
            assert re.search(r"约 [\d,]+ 条", page), url
        else:
            assert "超过 3 条" in page, url


@pytest.fixture
def two_units(create_case):
    """城建科 handles three cases, 教育科 four; returns 城建科."""
    ours = Unit(name="城建科", kind=UnitKind.department)
    theirs = Unit(name="教育科", kind=UnitKind.department)
    db.session.add_all([ours, theirs])
    db.session.commit()
    for unit, count in ((ours, 3), (theirs, 4)):
        for _ in range(count):
            create_case(handling_unit_id=unit.id)
    return ours


def test_the_total_counts_only_what_the_user_may_see(two_units, create_user, login_as, small_pages):
    ours = two_units
    client = login_as(create_user("dept_head", unit=ours))
    page = _text(client.get("/admin/case/"))
    assert "共 3 条" in page
    assert "第 1 / 2 页" in page
    _as_a_new_request()
    admin = login_as(create_user("admin"))
    assert "共 7 条" in _text(admin.get("/admin/case/"))


def test_the_deepest_page_says_so_and_links_no_further(
    create_case, create_user, login_as, small_pages
):
    for _ in range(8):  # four pages of two; three may be opened
        create_case()
    client = login_as(create_user("admin"))
    page = _text(client.get("/admin/case/?page=2"))
    assert "第 3 / 3 页" in page
    assert "列表只显示前 3 页；请用筛选或搜索缩小范围" in page
    assert max(_list_pages_linked(page)) == 2
    # The first two pages do not carry the notice.
    _as_a_new_request()
    assert "deep-page-limit" not in _text(client.get("/admin/case/?page=1"))


def test_a_page_beyond_the_limit_shows_the_last_page_with_the_notice(
    create_case, create_user, login_as, small_pages
):
    for _ in range(8):
        create_case()
    client = login_as(create_user("admin"))
    response = client.get("/admin/case/?page=40")
    assert response.status_code == 200
    page = _text(response)
    assert "没有第 41 页可显示，下面是第 3 页。" in page
    assert "列表只显示前 3 页" in page
    assert "第 3 / 3 页" in page
    assert page.count("XF") >= 2  # rows, not an empty page
    assert _list_pages_linked(page) and max(_list_pages_linked(page)) == 2


def test_other_big_lists_show_their_total(create_case, create_user, login_as):
    create_case()
    client = login_as(create_user("admin"))
    for url in ("/admin/letter/", "/admin/auditlog/", "/admin/party/", "/admin/callback/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "list-total" in _text(response), url


def _clock(case, due_in: timedelta, *, unit=TimeUnit.calendar_days, paused=False):
    now = utcnow()
    row = CaseClock(
        case_id=case.id,
        kind=Clock.handling,
        started_at=now - timedelta(days=10),
        amount=15,
        unit=unit,
        due_at=now + due_in,
        paused_at=now if paused else None,
    )
    db.session.add(row)
    db.session.commit()
    return row


def _local_noon_in(days: int) -> timedelta:
    """From now to local noon ``days`` days from today: a whole number of local days away
    whatever the hour (now + 5 days 1 hour is six local days away after 23:00)."""
    now = utcnow()
    noon = to_local(now).replace(hour=12, minute=0, second=0, microsecond=0)
    return noon + timedelta(days=days) - now


def _row_of(page: str, number: str) -> str:
    start = page.index(number)
    return page[start : page.index("</tr>", start)]


def test_the_deadline_column_shows_time_left_and_overdue(create_case, create_user, login_as):
    early = create_case(subject="还有时间")
    late = create_case(subject="已经超期")
    none = create_case(subject="没有时限")
    paused = create_case(subject="暂停计时")
    _clock(early, _local_noon_in(5))
    _clock(late, _local_noon_in(-2))
    # A stopped clock does not count; the running one does.
    stopped = _clock(late, timedelta(days=30))
    stopped.stopped_at = utcnow()
    _clock(paused, timedelta(days=3), paused=True)
    db.session.commit()
    page = _text(login_as(create_user("admin")).get("/admin/case/"))
    assert "期限" in page
    early_row = _row_of(page, early.number)
    assert "剩余 5 天" in early_row and "deadline-running" in early_row
    late_row = _row_of(page, late.number)
    assert "已超期 2 天" in late_row
    assert "deadline-overdue" in late_row and "badge-danger" in late_row
    assert "已暂停计时" in _row_of(page, paused.number)
    assert "deadline-" not in _row_of(page, none.number)


def test_due_soon_is_marked(create_case, create_user, login_as):
    case = create_case()
    _clock(case, timedelta(hours=3), unit=TimeUnit.hours)
    page = _text(login_as(create_user("admin")).get("/admin/case/"))
    row = _row_of(page, case.number)
    assert ("deadline-soon" in row and "剩余 3.0 小时" in row) or "剩余 2.9 小时" in row


def test_the_deadline_column_costs_no_statement(
    app, create_case, create_user, login_as, count_queries, monkeypatch
):
    for index in range(4):
        case = create_case(received_at=utcnow() - timedelta(hours=(index * 7) % 5 + 1))
        _clock(case, timedelta(days=index - 1))
    client = login_as(create_user("admin"))
    url = "/admin/case/?page_size=20"
    client.get(url)  # warm the per-process caches (filter options, holiday calendar)
    _as_a_new_request()
    with count_queries() as with_column:
        response = client.get(url)
    assert response.status_code == 200
    assert "已超期 1 天" in _text(response)
    order_with_column = re.findall(r"XF\d{4}-\d+", _text(response))
    monkeypatch.setattr(CaseView, "list_columns", ProtectedModelView.list_columns)
    monkeypatch.setattr(CaseView, "list_rows", ProtectedModelView.list_rows)
    _as_a_new_request()
    with count_queries() as without_column:
        response = client.get(url)
    assert response.status_code == 200
    # Picking the page's ids first keeps the list's order.
    assert re.findall(r"XF\d{4}-\d+", _text(response)) == order_with_column
    assert len(with_column) == len(without_column), (with_column, without_column)
    assert len(with_column) <= 3


def test_awaiting_work_list_shows_the_deadline(create_case, create_user, login_as):
    from models.operations.workflow import STEPS  # noqa: F401  (workflow steps registered)

    admin = create_user("admin")
    case = create_case(by=admin)
    _clock(case, _local_noon_in(-3))
    page = _text(login_as(admin).get("/admin/worklist/?tab=awaiting"))
    if case.number not in page:
        pytest.skip("the registered case does not wait for the admin in this configuration")
    assert "已超期 3 天" in _row_of(page, case.number)


def test_the_list_calendar_follows_a_changed_override(app):
    from datetime import date

    from models.calendar import CalendarOverride

    day = date(2031, 3, 4)  # a Tuesday in a year the holiday package does not know
    assert lists.list_calendar().is_working_day(day)
    db.session.add(CalendarOverride(day=day, is_working=False, note="测试"))
    db.session.commit()
    assert not lists.list_calendar().is_working_day(day)
    lists.forget_list_calendar()


def test_list_calendar_counts_working_days_as_the_plain_calendar_does():
    """The list pages' calendar keeps running totals instead of walking every day; for any
    two days, in either order and across holidays and 调休 working days, it answers as the
    plain calendar does."""
    overrides = {date(2026, 10, 10): True, date(2026, 10, 1): False, date(2025, 2, 8): True}
    plain, remembering = WorkCalendar(overrides), lists._RememberingCalendar(overrides)
    pick = random.Random(16)
    origin = date(2026, 1, 1)
    for _ in range(2000):
        start = origin + timedelta(days=pick.randint(-900, 900))
        end = origin + timedelta(days=pick.randint(-900, 900))
        assert remembering.working_days_between(start, end) == plain.working_days_between(
            start, end
        ), (start, end)


def _home_figures(page: str) -> dict[str, str]:
    """The home page's cards: label -> the figure shown."""
    return dict(
        re.findall(
            r'<div class="text-muted small">([^<]+)</div> <div class="h3 mb-0">'
            r'<a href="[^"]*">([^<]+)</a>',
            page,
        )
    )


def test_the_home_page_counts_only_what_the_user_may_see(two_units, create_user, login_as):
    ours = two_units
    figures = _home_figures(_text(login_as(create_user("dept_head", unit=ours)).get("/admin/")))
    assert figures["办理中的事项"] == "3"
    assert figures["待受理（已登记）"] == "3"
    assert figures["待完成的回访"] == "0"
    _as_a_new_request()
    figures = _home_figures(_text(login_as(create_user("admin")).get("/admin/")))
    assert figures["办理中的事项"] == "7"
    assert figures["待受理（已登记）"] == "7"


def test_the_home_page_estimates_large_counts(
    backend, create_case, create_user, login_as, monkeypatch
):
    for _ in range(5):
        create_case()
    monkeypatch.setattr(lists, "EXACT_COUNT_LIMIT", {"postgresql": 3})
    monkeypatch.setattr(lists, "COUNT_CAP", 3)
    figures = _home_figures(_text(login_as(create_user("admin")).get("/admin/")))
    if backend == "postgresql":
        assert re.fullmatch(r"约 [\d,]+", figures["办理中的事项"]), figures
    else:
        assert figures["办理中的事项"] == "超过 3", figures
    assert figures["待完成的回访"] == "0"
