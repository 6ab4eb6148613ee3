"""Statistics: figures against a hand-computed data set, drill-down lists, dashboard and reports."""

from __future__ import annotations

import html
import io
import re
import zipfile
from datetime import date, timedelta
from xml.etree import ElementTree

import pytest
import sqlalchemy as sa

from models import Callback, Case, CaseClock, CaseEvent, Category, Unit, db
from models.base import local_zone, utcnow
from models.enums import CaseChannel, CaseStatus, Clock, EventKind, Satisfaction, TimeUnit
from models.queries.statistics import (
    MEASURES,
    StatsFilter,
    by_channel,
    by_month,
    by_unit,
    case_condition,
    summary,
)


def _today() -> date:
    return utcnow().astimezone(local_zone()).date()


def _clock(case, kind, *, started, due, stopped=None):
    case.clocks.append(
        CaseClock(
            kind=kind,
            started_at=started,
            due_at=due,
            stopped_at=stopped,
            amount=5,
            unit=TimeUnit.calendar_days,
            extension=0,
            extension_count=0,
            paused_amount=0,
        )
    )


@pytest.fixture
def dataset(app, government, create_user, create_case):
    """Seven cases whose figures are worked out by hand in the tests below.

    A letter, closed on time, satisfied. B group visit of 30, closed late, basically satisfied,
    plus one callback task still open and overdue. C call, open and overdue. D transferred out.
    E closed, dissatisfied callback, reopened, closed again, satisfied (counts once). F merged
    into A (not counted). G received before the period (not counted).
    """
    now = utcnow()
    units = {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}
    housing, land = units["县住房和城乡建设局"], units["县自然资源局"]
    category = db.session.scalar(sa.select(Category).where(Category.name == "房屋质量"))
    office = create_user("office")
    received = now - timedelta(days=20)

    def make(subject, **fields):
        values = {"received_at": received, "subject": subject}
        values.update(fields)
        return create_case(by=office, **values)

    a = make("A", handling_unit=housing, category=category)
    b = make("B", channel=CaseChannel.visit, is_group=True, head_count=30, handling_unit=housing)
    c = make("C", channel=CaseChannel.call, handling_unit=land)
    d = make("D")
    e = make("E", handling_unit=land)
    f = make("F", handling_unit=housing)
    g = make("G", received_at=now - timedelta(days=400), handling_unit=housing)
    for case in (a, b, e, g):
        case.status = CaseStatus.closed
        case.closed_at = received + timedelta(days=6)
        case.accepted_at = received + timedelta(hours=2)
    a.instructed_at = received + timedelta(hours=5)
    _clock(
        a,
        Clock.handling,
        started=received,
        due=received + timedelta(days=7),
        stopped=received + timedelta(days=5),
    )
    _clock(
        b,
        Clock.handling,
        started=received,
        due=received + timedelta(days=3),
        stopped=received + timedelta(days=5),
    )
    _clock(c, Clock.handling, started=received, due=now - timedelta(days=1))
    c.status, c.accepted_at = CaseStatus.in_progress, received
    d.status = CaseStatus.transferred
    db.session.add(CaseEvent(case=d, kind=EventKind.transfer, summary="moved", data={}))
    f.status, f.merged_into = CaseStatus.merged, a
    # E was reopened after a dissatisfied callback and closed again: one case, last verdict.
    for offset, verdict in ((7, Satisfaction.dissatisfied), (12, Satisfaction.satisfied)):
        db.session.add(
            Callback(case=e, done_at=received + timedelta(days=offset), satisfaction=verdict)
        )
    db.session.add(
        Callback(case=a, done_at=received + timedelta(days=8), satisfaction=Satisfaction.satisfied)
    )
    db.session.add(
        Callback(
            case=b,
            done_at=received + timedelta(days=8),
            satisfaction=Satisfaction.basically_satisfied,
        )
    )
    db.session.add(Callback(case=b, due_on=_today() - timedelta(days=2)))
    db.session.add(Callback(case=g, done_at=received, satisfaction=Satisfaction.dissatisfied))
    e.repeat_count = 2
    from models.operations.callbacks import refresh_verdict

    for case in (a, b, e, g):
        refresh_verdict(case.id)
    db.session.commit()
    period = StatsFilter(_today() - timedelta(days=60), _today())
    return {
        "a": a,
        "b": b,
        "c": c,
        "d": d,
        "e": e,
        "filter": period,
        "office": office,
        "housing": housing,
        "land": land,
        "category": category,
    }


def test_figures_match_hand_computed_values(dataset):
    figures = summary(dataset["filter"])
    assert figures["batches"] == 5  # A B C D E; F merged, G outside the period
    assert figures["persons"] == 34  # the group visit is 1 batch and 30 person-visits
    assert (figures["group_batches"], figures["group_persons"]) == (1, 30)
    assert figures["closed"] == 3  # A, B, E (E reopened once but is one case)
    assert figures["open"] == 1 and figures["overdue"] == 1  # C
    assert figures["transferred"] == 1  # D
    assert figures["ontime"] == 2 and figures["late"] == 1  # B's clock stopped after its due
    assert figures["ontime_rate"] == pytest.approx(200 / 3)
    assert figures["average_days"] == pytest.approx(6.0)
    # E's latest verdict counts: A satisfied, B basically satisfied, E satisfied.
    assert (figures["evaluated"], figures["satisfied"], figures["dissatisfied"]) == (3, 3, 0)
    assert figures["satisfaction_rate"] == pytest.approx(100.0)
    # Tasks: A 1, B 2 (one open, overdue), E 2.
    assert (figures["callback_tasks"], figures["callback_done"]) == (5, 4)
    assert figures["callback_overdue"] == 1
    assert figures["callback_rate"] == pytest.approx(80.0)
    assert (figures["repeat_cases"], figures["repeat_contacts"]) == (1, 2)
    # Accepted: A B C E; instructed: A.
    assert (figures["accepted"], figures["instructed"]) == (4, 1)
    assert figures["reading_rate"] == pytest.approx(25.0)


def test_an_empty_period_gives_zero_counts_and_no_rates(dataset):
    empty = StatsFilter(date(2001, 1, 1), date(2001, 1, 31))
    figures = summary(empty)
    assert figures["batches"] == figures["persons"] == figures["closed"] == 0
    for rate in ("ontime_rate", "satisfaction_rate", "callback_rate", "reading_rate"):
        assert figures[rate] is None
    assert figures["average_days"] is None
    assert by_channel(empty) == [] and by_unit(empty) == []
    assert [row["count"] for row in by_month(empty)] == [0]


def test_groupings_and_unit_filter(dataset):
    period = dataset["filter"]
    channels = {row["key"]: (row["count"], row["persons"]) for row in by_channel(period)}
    assert channels == {"letter": (3, 3), "visit": (1, 30), "call": (1, 1)}
    units = {row["label"]: row for row in by_unit(period)}
    assert units["县住房和城乡建设局"]["count"] == 2 and units["县住房和城乡建设局"]["closed"] == 2
    assert units["县自然资源局"]["overdue"] == 1
    assert units["未交办"]["transferred"] == 1
    housing_only = StatsFilter(period.start, period.end, unit_id=dataset["housing"].id)
    assert summary(housing_only)["batches"] == 2
    parent = dataset["category"].parent_id
    by_parent = StatsFilter(period.start, period.end, category_id=parent)
    assert summary(by_parent)["batches"] == 1  # the parent category includes its children
    assert sum(row["count"] for row in by_month(period)) == 5


def test_every_measure_drills_down_to_as_many_cases_as_it_counts(dataset):
    period = dataset["filter"]
    figures = summary(period)
    expected = {
        "all": figures["batches"],
        "group": figures["group_batches"],
        "beyond_level": figures["beyond_level"],
        "abnormal": figures["abnormal"],
        "open": figures["open"],
        "closed": figures["closed"],
        "transferred": figures["transferred"],
        "overdue": figures["overdue"],
        "ontime": figures["ontime"],
        "late": figures["late"],
        "repeat": figures["repeat_cases"],
        "accepted": figures["accepted"],
        "instructed": figures["instructed"],
        "evaluated": figures["evaluated"],
        "satisfied": figures["satisfied"],
        "dissatisfied": figures["dissatisfied"],
        "callback_pending": 1,
    }
    for measure in MEASURES:
        counted = db.session.scalar(
            sa.select(sa.func.count(Case.id)).where(case_condition(period, measure))
        )
        if measure in expected:
            assert counted == expected[measure], measure


def _case_numbers(page: str) -> set[str]:
    return set(re.findall(r">(XF\d{4}-\d{6})<", page))


def test_dashboard_links_open_the_filtered_case_list(dataset, client, login_as):
    login_as(dataset["office"])
    page = client.get("/admin/stats/").get_data(as_text=True)
    assert "统计看板" in page and "<svg" in page
    overdue = re.search(r'href="([^"]*m%3Doverdue[^"]*)"', page).group(1)
    listing = client.get(html.unescape(overdue))
    assert listing.status_code == 200
    assert _case_numbers(listing.get_data(as_text=True)) == {dataset["c"].number}
    assert "统计看板中的事项" in listing.get_data(as_text=True)
    closed = re.search(r'href="([^"]*m%3Dclosed)"', page).group(1)
    numbers = _case_numbers(client.get(html.unescape(closed)).get_data(as_text=True))
    assert numbers == {dataset["a"].number, dataset["b"].number, dataset["e"].number}
    # A forged drill-down value is ignored, not a server error.
    assert client.get("/admin/case/?flt0_17=s%3Dnonsense").status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?start=2001-01-01&end=2001-01-31",
        "?start=2026-05-01&end=2026-01-01",
        "?start=garbage&end=&unit=abc&category=999999",
        "?start=1900-01-01&end=2100-01-01",
    ],
)
def test_dashboard_renders_for_every_filter(dataset, client, login_as, query):
    login_as(dataset["office"])
    response = client.get("/admin/stats/" + query)
    assert response.status_code == 200
    assert "统计看板" in response.get_data(as_text=True)


def test_dashboard_renders_for_unit_and_category(dataset, client, login_as):
    login_as(dataset["office"])
    for query in (
        f"?unit={dataset['housing'].id}",
        f"?category={dataset['category'].parent_id}",
        f"?unit={dataset['land'].id}&category={dataset['category'].id}",
    ):
        assert client.get("/admin/stats/" + query).status_code == 200


def test_dashboard_needs_stats_permission(dataset, client, login_as, create_user):
    login_as(create_user("handler"))
    assert client.get("/admin/stats/").status_code == 403


def read_xlsx(data: bytes) -> dict[str, list[list]]:
    """Sheets as rows of values (enough of the format for XlsxWriter's output).

    The XML is the app's own freshly written workbook, hence plain ElementTree.
    """
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    book = zipfile.ZipFile(io.BytesIO(data))
    strings = []
    if "xl/sharedStrings.xml" in book.namelist():
        root = ElementTree.fromstring(book.read("xl/sharedStrings.xml"))  # noqa: S314
        strings = ["".join(t.text or "" for t in si.iter(f"{{{ns['m']}}}t")) for si in root]
    workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))  # noqa: S314
    names = [sheet.get("name") for sheet in workbook.find("m:sheets", ns)]
    sheets = {}
    for index, name in enumerate(names, start=1):
        sheet = book.read(f"xl/worksheets/sheet{index}.xml")
        root = ElementTree.fromstring(sheet)  # noqa: S314
        rows = []
        for row in root.iter(f"{{{ns['m']}}}row"):
            values = []
            for cell in row.iter(f"{{{ns['m']}}}c"):
                value = cell.find("m:v", ns)
                text = value.text if value is not None else None
                if cell.get("t") == "s":
                    text = strings[int(text)]
                elif text is not None:
                    text = float(text)
                values.append(text)
            rows.append(values)
        sheets[name] = rows
    return sheets


def test_report_counts_equal_the_dashboard_on_demo_data(app, client, login_as):
    from models.maintenance.demo import seed_demo
    from models.users import User

    seed_demo(case_count=40)
    db.session.commit()
    admin = db.session.scalar(sa.select(User).where(User.username == "admin"))
    login_as(admin)
    start, end = _today() - timedelta(days=365), _today()
    query = f"start={start.isoformat()}&end={end.isoformat()}"
    page = client.get(f"/admin/stats/?{query}").get_data(as_text=True)
    figures = summary(StatsFilter(start, end))
    assert figures["batches"] == 40 and figures["evaluated"] > 0
    assert f"{figures['batches']} / {figures['persons']}" in page
    # The demo flags a few cases, so 越级访 and 异常访 are compared on real figures.
    assert figures["beyond_level"] > 0 and figures["abnormal"] > 0
    tiles = dict(
        re.findall(r'small text-muted">(\w+)</div>\s*<div class="h4 mb-0 text-dark">(\d+)<', page)
    )
    assert (tiles["越级访"], tiles["异常访"]) == (
        str(figures["beyond_level"]),
        str(figures["abnormal"]),
    )
    for kind in ("monthly", "half_year", "annual_analysis", "annual_summary"):
        response = client.get(f"/admin/stats/report/?kind={kind}&format=xlsx&{query}")
        assert response.status_code == 200
        sheets = read_xlsx(response.data)
        overview = {row[0]: row[1] for row in sheets["概况"] if len(row) > 1}
        assert overview["收到信访事项（批次）"] == figures["batches"]
        assert overview["人次"] == figures["persons"]
        assert overview["已办结"] == figures["closed"]
        assert overview["超期未办结"] == figures["overdue"]
        assert overview["已评价（回访）"] == figures["evaluated"]
        assert overview["越级访（批次）"] == figures["beyond_level"]
        assert overview["异常访（批次）"] == figures["abnormal"]
        assert overview["满意率（满意+基本满意）"] == pytest.approx(
            figures["satisfaction_rate"] / 100
        )
        by_unit_sheet = sheets["按承办单位"][1:]
        assert sum(row[1] for row in by_unit_sheet) == figures["batches"]
        # The dashboard's per-unit table shows the same counts.
        for row in by_unit_sheet[:3]:
            assert row[0] in page
    surveys = read_xlsx(
        client.get(f"/admin/stats/report/?kind=annual_summary&format=xlsx&{query}").data
    )["满意度调查"]
    assert surveys[1][1] == "回收 180 份"


def test_report_pdf_has_the_same_figures(dataset, client, login_as):
    from pypdf import PdfReader

    login_as(dataset["office"])
    period = dataset["filter"]
    query = f"start={period.start.isoformat()}&end={period.end.isoformat()}"
    response = client.get(f"/admin/stats/report/?kind=monthly&format=pdf&{query}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)
    compact = re.sub(r"\s+", "", text)
    assert "月度信访投诉情况报告" in compact
    assert "共收到信访事项5批、34人次" in compact
    assert "集体访1批、30人次" in compact
    assert client.get("/admin/stats/report/?kind=nonsense").status_code == 302
    client.get(f"/admin/stats/report/?kind=monthly&format=xlsx&{query}")
    # The PDF is a print and the spreadsheet an export; each leaves one audit row.
    from models.audit import AuditEntry

    audits = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.target_type == "report").order_by(AuditEntry.id)
    ).all()
    assert [(a.action, a.data["format"]) for a in audits] == [("print", "pdf"), ("export", "xlsx")]
    assert all(a.user_id == dataset["office"].id for a in audits)
