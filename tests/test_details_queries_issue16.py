"""Issue 16, item 3: a case's details page runs at most eight SQL statements whatever the
case's history, and a long timeline is shown a page at a time (newest first) with the
reporter's identity still masked for readers outside a 举报 case's circle."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import g

from models import (
    Attachment,
    Call,
    Callback,
    Case,
    CaseEvent,
    CaseRepresentative,
    Category,
    IssuedDocument,
    Letter,
    Party,
    Unit,
    Visit,
    db,
)
from models.base import utcnow
from models.custom_fields import CustomField
from models.enums import AttachmentKind, CategoryKind, ContactMethod, EventKind
from models.operations.attachments import store_attachment
from models.operations.callbacks import record_callback
from models.operations.contacts import register_contact
from models.operations.workflow import perform
from models.retention import today

MAX_STATEMENTS = 8
LAST_NOTE = "最新一条催办"
NAME, PHONE, ID_NUMBER = "王举报", "13900001111", "110101199003070011"


@pytest.fixture
def people(app, government, create_user):
    units = {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}
    office = units["县信访局"]
    housing = units["县住房和城乡建设局"]
    return {
        "admin": create_user("admin", unit=office),
        "office": create_user("office", unit=office),
        "leader": create_user("leader", unit=units["县政府领导"]),
        "head": create_user("dept_head", unit=housing),
        "handler": create_user("handler", unit=housing),
        "colleague": create_user("handler", unit=housing),
        "supervisor": create_user("supervisor", unit=office),
        "housing": housing,
    }


def _category(kind: CategoryKind) -> Category:
    return db.session.scalar(
        sa.select(Category).where(Category.kind == kind).order_by(Category.id).limit(1)
    )


def build_case(create_case, people, *, events: int, confidential: bool = False):
    """A case with every kind of related record and at least ``events`` timeline events."""
    office, handler, leader = people["office"], people["handler"], people["leader"]
    if db.session.scalar(sa.select(CustomField).where(CustomField.key == "bed")) is None:
        db.session.add(CustomField(key="bed", label="床号"))
        db.session.flush()
    reporter = Party(name=NAME, phone=PHONE, id_number=ID_NUMBER, is_repeat_petitioner=True)
    representative = Party(name="李代表", phone="13700000000")
    db.session.add_all([reporter, representative])
    db.session.commit()
    fields = {"category": _category(CategoryKind.report)} if confidential else {}
    case = create_case(
        by=office,
        petitioners=[reporter],
        subject="反映某科室违规收费" if confidential else "小区道路破损",
        # 反映内容 is shown to whoever sees the case; the reporter is named elsewhere.
        content="有人反映某科室违规收费。" if confidential else f"{NAME}（电话{PHONE}）反映问题。",
        custom_values={"bed": "12"},
        is_group=True,
        head_count=6,
        **fields,
    )
    db.session.add(CaseRepresentative(case_id=case.id, party_id=representative.id, position=1))
    earlier = utcnow() - timedelta(hours=1)
    register_contact(Letter(received_at=earlier, writer=reporter), by=office, case=case)
    register_contact(
        Visit(visited_at=earlier, visitor=reporter, purpose="来访"), by=office, case=case
    )
    register_contact(
        Call(called_at=earlier, caller=reporter, caller_number=PHONE, record="来电"),
        by=office,
        case=case,
    )
    store_attachment(
        Attachment(case=case, kind=AttachmentKind.document, title="材料"),
        filename=f"{NAME}.txt",
        data="材料".encode(),
        by=office,
    )
    record_callback(Callback(case=case, method="phone", person_reached=NAME), by=office)
    db.session.add(
        IssuedDocument(
            case_id=case.id,
            kind="acceptance_notice",
            title="受理告知书",
            number="县信访告字〔2026〕1号",
            issued_on=today(),
            issued_at=utcnow(),
            pdf=b"%PDF",
            size=4,
            sha256=hashlib.sha256(b"%PDF").hexdigest(),
        )
    )
    db.session.commit()
    perform(
        "instruct",
        case,
        by=leader,
        instruction="请住建局办理",
        handling_unit=people["housing"],
        handler=handler,
    )
    perform("acknowledge", case, by=handler)
    perform("add_assistant", case, by=people["head"], assistant=people["colleague"])
    perform("investigate", case, by=handler, findings=f"约谈{NAME}")
    perform("urge", case, by=office, note="请加快")
    perform("interim_report", case, by=handler, reason="正在核查")
    perform(
        "log_contact",
        case,
        by=handler,
        method=ContactMethod.phone.value,
        person=NAME,
        summary=f"电话联系{NAME}",
    )
    perform("send_reply", case, by=handler, kind="interim", method="phone", text=f"告知{NAME}进展")
    perform("request_extension", case, by=handler, amount=5, reason="情况复杂")
    perform("decide_extension", case, by=leader, approved=True)
    db.session.commit()
    real = db.session.scalars(
        sa.select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
    ).all()
    # Pad with copies of the real events (every kind but the registration, every actor) up
    # to ``events``; the last event is a marked urge.
    real = [event for event in real if event.kind != EventKind.registered]
    start = utcnow() - timedelta(minutes=events)
    copies = [
        CaseEvent(
            case_id=case.id,
            kind=source.kind,
            summary=source.summary,
            data=dict(source.data or {}),
            created_by_id=source.created_by_id,
            created_at=start + timedelta(seconds=index),
        )
        for index, source in zip(range(max(0, events - len(real))), _cycle(real), strict=False)
    ]
    db.session.add_all(copies)
    db.session.commit()
    perform("urge", case, by=office, note=LAST_NOTE)
    db.session.commit()
    return case


def _cycle(items):
    while True:
        yield from items


def _as_a_new_request():
    """Forget what the test's long-lived app context kept, so the user is loaded again."""
    db.session.remove()
    g.pop("_login_user", None)


def details_statements(client, case_id, count_queries, query=""):
    url = f"/admin/case/details/?id={case_id}{query}"
    client.get(url)  # per-process caches (labels, option lists)
    _as_a_new_request()
    with count_queries() as statements:
        response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[-2000:]
    return statements, response.get_data(as_text=True)


@pytest.mark.own_connections
@pytest.mark.parametrize("confidential", [False, True])
@pytest.mark.parametrize("who", ["admin", "handler", "leader"])
def test_details_page_runs_at_most_eight_statements(
    people, create_case, login_as, count_queries, who, confidential
):
    case_id = build_case(create_case, people, events=200, confidential=confidential).id
    client = login_as(people[who])
    statements, page = details_statements(client, case_id, count_queries)
    assert len(statements) <= MAX_STATEMENTS, (who, len(statements), statements)
    # The page shows what it loaded: records of every kind and the newest events.
    for text in ("来信（1）", "来访（1）", "来电（1）", "回访（1）", "受理告知书", LAST_NOTE):
        assert text in page, (who, text)
    assert "李代表" in page and "床号" in page


def test_statement_count_does_not_grow_with_the_history(
    people, create_case, login_as, count_queries
):
    short = build_case(create_case, people, events=10).id
    long = build_case(create_case, people, events=200).id
    client = login_as(people["handler"])
    few, _page = details_statements(client, short, count_queries)
    many, _page = details_statements(client, long, count_queries)
    assert len(few) == len(many) <= MAX_STATEMENTS


def _timeline(page: str) -> str:
    return page.split('id="timeline"')[1]


def test_long_timeline_pages_newest_first(people, create_case, login_as, count_queries):
    case_id = build_case(create_case, people, events=200).id
    total = db.session.scalar(
        sa.select(sa.func.count(CaseEvent.id)).where(CaseEvent.case_id == case_id)
    )
    client = login_as(people["admin"])
    _statements, first = details_statements(client, case_id, count_queries)
    timeline = _timeline(first)
    assert timeline.count("<tr>") == 50 + 1  # the header row and the newest 50 events
    assert LAST_NOTE in timeline and "登记为" not in timeline
    assert f"共 {total} 条，第 1 / 5 页" in timeline and "更早的记录" in timeline
    assert "较新的记录" not in timeline
    statements, last = details_statements(client, case_id, count_queries, "&timeline_page=4")
    assert len(statements) <= MAX_STATEMENTS
    timeline = _timeline(last)
    assert "登记为" in timeline and LAST_NOTE not in timeline
    assert "较新的记录" in timeline and "更早的记录" not in timeline
    # A page past the end shows the oldest page; nonsense is the first page.
    assert "登记为" in _timeline(
        client.get(f"/admin/case/details/?id={case_id}&timeline_page=99").get_data(as_text=True)
    )
    page = client.get(f"/admin/case/details/?id={case_id}&timeline_page=x")
    assert page.status_code == 200 and LAST_NOTE in _timeline(page.get_data(as_text=True))


def test_reporter_stays_masked_on_every_timeline_page(people, create_case, login_as, count_queries):
    case_id = build_case(create_case, people, events=200, confidential=True).id
    outsider = login_as(people["supervisor"])
    for page in range(5):
        statements, text = details_statements(
            outsider, case_id, count_queries, f"&timeline_page={page}"
        )
        assert len(statements) <= MAX_STATEMENTS
        for secret in (NAME, PHONE, ID_NUMBER):
            assert secret not in text, (page, secret)
        if page < 4:  # the last page holds the two oldest events, which name nobody
            assert "（保密）" in _timeline(text), page
    # The circle reads the reporter's name on the timeline's pages.
    inside = login_as(people["handler"])
    pages = "".join(
        details_statements(inside, case_id, count_queries, f"&timeline_page={page}")[1]
        for page in range(5)
    )
    assert f"约谈{NAME}" in pages


@pytest.mark.own_connections
def test_settings_are_read_once_and_forgotten_when_one_is_saved(app, count_queries):
    from models import SystemSetting
    from models.maintenance.configuration import set_setting

    db.session.commit()
    with count_queries() as statements:
        first = SystemSetting.get("reply_by")
        SystemSetting.get("close_requires_sign_off")
        SystemSetting.get("organisation_name")
    assert len(statements) == 1
    other = "department" if first != "department" else "office"
    set_setting("reply_by", other)
    assert SystemSetting.get("reply_by") == other
    # A row changed through the ORM (the settings screen) is read again after its flush.
    row = db.session.get(SystemSetting, "reply_by")
    row.value = first
    db.session.flush()
    assert SystemSetting.get("reply_by") == first
    row.value = other
    db.session.flush()
    db.session.rollback()
    assert SystemSetting.get("reply_by") == first
    db.session.commit()
    assert "system_settings" not in db.session.info


def test_case_page_statement_is_planned_serially_in_written_order(
    backend, people, create_case, login_as
):
    """On PostgreSQL the page's wide statement runs with no parallel workers, its joins in
    the order written and its plan kept across views (set by the user's statement, no round
    trip of its own); other pages keep the server's defaults and plan for their values."""
    if backend != "postgresql":
        pytest.skip("planner settings exist only on PostgreSQL")
    case_id = build_case(create_case, people, events=10).id
    client = login_as(people["handler"])
    seen = {"case page": set(), "list": set()}
    page = "case page"

    def look(conn, cursor, statement, parameters, context, executemany):
        if "page_rows" in statement or page == "list":
            rows = cursor.connection.execute(
                "SELECT current_setting('max_parallel_workers_per_gather'), "
                "current_setting('join_collapse_limit'), current_setting('plan_cache_mode')"
            )
            seen[page].add(rows.fetchone())

    sa.event.listen(db.engine, "after_cursor_execute", look)
    try:
        _as_a_new_request()
        assert client.get(f"/admin/case/details/?id={case_id}").status_code == 200
        page = "list"
        _as_a_new_request()
        assert client.get("/admin/case/").status_code == 200
    finally:
        sa.event.remove(db.engine, "after_cursor_execute", look)
    assert seen["case page"] == {("0", "1", "auto")}
    # Elsewhere every run of a kept statement is planned for its values.
    assert seen["list"] and {setting[:2] for setting in seen["list"]} & {("0", "1")} == set()
    assert {setting[2] for setting in seen["list"]} == {"force_custom_plan"}


@pytest.mark.own_connections
def test_the_case_page_statement_stays_prepared_across_requests(
    backend, people, create_case, login_as
):
    """The case page's wide statement is planned once per connection, not once per view."""
    if backend != "postgresql":
        pytest.skip("prepared statements are psycopg's, on PostgreSQL")
    case_id = build_case(create_case, people, events=3).id
    client = login_as(people["handler"])
    prepared_when_run = []

    def look(conn, cursor, statement, parameters, context, executemany):
        if "page_rows" in statement:
            rows = cursor.connection.execute(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
                ("%page_rows%",),
            )
            prepared_when_run.append(rows.fetchone()[0])

    sa.event.listen(db.engine, "after_cursor_execute", look)
    try:
        for _ in range(10):
            _as_a_new_request()
            assert client.get(f"/admin/case/details/?id={case_id}").status_code == 200
    finally:
        sa.event.remove(db.engine, "after_cursor_execute", look)
    assert len(prepared_when_run) == 10
    # Prepared after psycopg's threshold of runs, and still prepared on the following views.
    assert prepared_when_run[-1] == 1


@pytest.mark.own_connections
def test_split_and_merged_cases_show_their_relatives_within_the_same_statements(
    people, create_case, login_as, count_queries
):
    """The split-off children, the parent and the merged cases are read with the page's own
    statements (a few of their columns), and named on the page."""
    office = people["office"]
    parent = create_case(by=office, subject="分拆的事项")
    perform("accept", parent, by=office)
    units = [people["housing"], office.unit]
    perform("split", parent, by=office, units=units)
    merged = create_case(by=office, subject="并入的事项")
    survivor = create_case(by=office, subject="保留的事项")
    perform("merge", merged, by=office, into=survivor, reason="同一诉求")
    db.session.commit()
    children = db.session.scalars(
        sa.select(Case).where(Case.parent_id == parent.id).order_by(Case.id)
    ).all()
    assert len(children) == 2
    numbers = {
        "parent": parent.number,
        "children": [child.number for child in children],
        "merged": merged.number,
    }
    ids = {"parent": parent.id, "child": children[0].id, "survivor": survivor.id}
    client = login_as(people["admin"])

    statements, page = details_statements(client, ids["parent"], count_queries)
    assert len(statements) <= MAX_STATEMENTS, statements
    assert all(number in page for number in numbers["children"])

    statements, page = details_statements(client, ids["child"], count_queries)
    assert len(statements) <= MAX_STATEMENTS, statements
    assert f">{numbers['parent']}</a>" in page

    statements, page = details_statements(client, ids["survivor"], count_queries)
    assert len(statements) <= MAX_STATEMENTS, statements
    assert numbers["merged"] in page
