"""Issue 15, reception part: a group's representatives as people (S19 step 1), 当场答复 on the
visit row and the visits register (S6 step 3), queued visits dated on the reception day and the
leaders' reception register as PDF and XLSX (S6 step 2). Everything through the admin."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import timedelta
from xml.etree import ElementTree

import pytest
import sqlalchemy as sa

from models import (
    Case,
    CaseRepresentative,
    Category,
    Party,
    ReceptionLeader,
    ReceptionQueueEntry,
    Role,
    Unit,
    Visit,
    db,
)
from models.base import local_zone, to_local, utcnow
from models.enums import CaseStatus, CategoryKind
from models.operations.reception import local_today
from models.reception_days import reception_days
from models.validation import resident_id_check_char
from tests.test_documents import pdf_words
from tests.test_reception import _set_up_court, text_of
from tests.test_scenarios_workflow import fresh, step

PAST = (utcnow() - timedelta(hours=3)).astimezone(local_zone()).strftime("%Y-%m-%d %H:%M:%S")


def resident_id(serial: int, born: str = "19800101") -> str:
    """A valid 18-digit resident ID number (Beijing Dongcheng, the given birth date)."""
    first17 = f"110101{born}{serial:03d}"
    return first17 + resident_id_check_char(first17)


REPRESENTATIVES = [
    ("周一", resident_id(11), "13800000001"),
    ("吴二", resident_id(12), None),
    ("郑三", resident_id(13), "13800000003"),
    ("王四", resident_id(14), None),
    ("冯五", resident_id(15), "13800000005"),
]


def _lines(people) -> str:
    return "\n".join(" ".join(part for part in person if part) for person in people)


def _group_visit_form(**extra) -> dict:
    return {
        "new_person_name": "周一",
        "new_subject": "反对小区旁建设通信基站",
        "new_content": "三十名居民集体来访，反对在小区旁建设通信基站。",
        "new_priority": "normal",
        "visited_at": PAST,
        "kind": "group",
        "head_count": "30",
        "purpose": "反对建设通信基站",
        "representative_lines": _lines(REPRESENTATIVES),
        **extra,
    }


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# -- 1. representatives as people --------------------------------------------------------------


def test_group_visit_links_five_representatives_reusing_a_known_person(
    create_user, create_party, login_as, government
):
    known = create_party("吴二", id_number=REPRESENTATIVES[1][1], phone="13900000002")
    client = login_as(create_user("registrar"))
    response = client.post("/admin/visit/new/", data=_group_visit_form())
    assert response.status_code == 302, response.get_data(as_text=True)
    case = db.session.scalars(sa.select(Case)).one()
    assert case.is_group and case.head_count == 30
    links = db.session.scalars(
        sa.select(CaseRepresentative).order_by(CaseRepresentative.position)
    ).all()
    assert len(links) == 5
    assert [link.party.name for link in links] == [name for name, _id, _phone in REPRESENTATIVES]
    assert [link.position for link in links] == [1, 2, 3, 4, 5]
    # The known person is the same row, not a second 吴二.
    assert links[1].party_id == known.id
    assert db.session.scalar(sa.select(sa.func.count()).where(Party.name == "吴二")) == 1
    assert links[2].party.id_number == REPRESENTATIVES[2][1]
    assert links[2].party.phone == "13800000003"

    page = client.get(f"/admin/case/details/?id={case.id}").get_data(as_text=True)
    assert "代表人" in page
    for name, _id, _phone in REPRESENTATIVES:
        assert name in page
    # The ID number shows shortened, as in the register of people.
    assert REPRESENTATIVES[0][1][:6] + "********" + REPRESENTATIVES[0][1][-4:] in page
    # Found by a representative's name, like a petitioner.
    assert case.number in client.get("/admin/case/?search=郑三").get_data(as_text=True)


def test_bad_representative_id_number_saves_nothing(create_user, login_as, government):
    client = login_as(create_user("registrar"))
    bad = REPRESENTATIVES[3][1][:-1] + ("0" if REPRESENTATIVES[3][1][-1] != "0" else "1")
    people = [*REPRESENTATIVES[:3], ("王四", bad, None)]
    before = {model: _count(model) for model in (Case, Visit, Party, CaseRepresentative)}
    response = client.post(
        "/admin/visit/new/", data=_group_visit_form(representative_lines=_lines(people))
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "代表人第4行（王四）" in html and "校验位不正确" in html
    db.session.rollback()
    assert {model: _count(model) for model in before} == before


def test_case_form_keeps_and_edits_representatives(create_user, login_as, government):
    registrar = create_user("registrar")
    client = login_as(registrar)
    assert client.post("/admin/visit/new/", data=_group_visit_form()).status_code == 302
    case = db.session.scalars(sa.select(Case)).one()
    office = create_user("office")
    client = login_as(office)
    form_page = client.get(f"/admin/case/edit/?id={case.id}").get_data(as_text=True)
    assert REPRESENTATIVES[4][1] in form_page  # prefilled, one person per line
    from models.operations.representatives import representative_lines

    lines = representative_lines(case)
    form = {
        "channel": "visit",
        "received_at": PAST,
        "priority": "normal",
        "subject": "反对小区旁建设通信基站（补充）",
        "content": case.content,
        "head_count": "30",
        "is_group": "y",
        "representative_lines": lines,
        "expected_version": f"{case.version}@x",
    }
    parties_before = _count(Party)
    response = client.post(f"/admin/case/edit/?id={case.id}", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert case.subject.endswith("（补充）")
    assert [p.name for p in case.representatives] == [n for n, _i, _p in REPRESENTATIVES]
    assert _count(Party) == parties_before
    # A name-only representative added, one removed: the rest stay the same people.
    form.update(
        subject=case.subject,
        representative_lines="\n".join([*lines.splitlines()[1:], "褚六 13800000006"]),
        expected_version=f"{case.version}@x",
    )
    assert client.post(f"/admin/case/edit/?id={case.id}", data=form).status_code == 302
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert [p.name for p in case.representatives] == ["吴二", "郑三", "王四", "冯五", "褚六"]
    assert _count(Party) == parties_before + 1
    # Saved again unchanged: the name-only 褚六 is the same person, not a new one.
    form.update(
        representative_lines=representative_lines(case), expected_version=f"{case.version}@x"
    )
    assert client.post(f"/admin/case/edit/?id={case.id}", data=form).status_code == 302
    assert _count(Party) == parties_before + 1


def test_case_form_registers_a_joint_letter_with_representatives(create_user, login_as, government):
    client = login_as(create_user("registrar"))
    response = client.post(
        "/admin/case/new/",
        data={
            "channel": "letter",
            "received_at": PAST,
            "priority": "normal",
            "subject": "联名反映小区停车难",
            "content": "四十户居民联名来信。",
            "is_group": "y",
            "head_count": "40",
            "representative_lines": _lines(REPRESENTATIVES[2:4]),
        },
    )
    assert response.status_code == 302, text_of(response)
    case = db.session.scalars(sa.select(Case)).one()
    assert [p.name for p in case.representatives] == ["郑三", "王四"]
    # Registering the next contact, the desk is told of the representative's open matter.
    found = client.get(f"/admin/workflow/similar/?id_number={REPRESENTATIVES[2][1]}").get_json()
    assert case.number in str(found)


@pytest.fixture
def report_case(create_user, create_case, government):
    """A 举报 case handled by unit A, with two representatives."""
    from models.operations.representatives import parse_representatives, set_representatives

    unit = db.session.scalars(
        sa.select(Unit).where(Unit.parent_id.is_not(None)).order_by(Unit.id)
    ).first()
    office = create_user("office")
    category = db.session.scalar(
        sa.select(Category).where(Category.kind == CategoryKind.report).limit(1)
    )
    case = create_case(by=office, category=category, handling_unit=unit, is_group=True,
                       head_count=8)  # fmt: skip
    set_representatives(case, parse_representatives(_lines(REPRESENTATIVES[:2])), by=office)
    db.session.commit()
    return case, unit, office


def test_representatives_masked_like_petitioners_on_a_report(create_user, login_as, report_case):
    case, unit, office = report_case
    colleague = create_user("handler", unit=unit)
    page = login_as(colleague).get(f"/admin/case/details/?id={case.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "（保密）" in html
    for name, number, _phone in REPRESENTATIVES[:2]:
        assert name not in html and number[-4:] + "）" not in html
    # The edit form offers no representatives to overwrite, and a search by name finds nothing.
    assert "representative_lines" not in login_as(colleague).get(
        f"/admin/case/edit/?id={case.id}"
    ).get_data(as_text=True)
    assert case.number not in login_as(colleague).get("/admin/case/?search=周一").get_data(
        as_text=True
    )
    # The office (confidential.view) sees them.
    html = login_as(office).get(f"/admin/case/details/?id={case.id}").get_data(as_text=True)
    assert "周一" in html and "吴二" in html


def test_group_visit_counts_one_batch_thirty_person_visits(create_user, login_as, government):
    client = login_as(create_user("registrar"))
    assert client.post("/admin/visit/new/", data=_group_visit_form()).status_code == 302
    html = login_as(create_user("leader")).get("/admin/stats/").get_data(as_text=True)
    assert "1 / 30" in html


# -- 2-4. the reception day: queue dates, 当场答复, the leaders' register ----------------------


def xlsx_cells(data: bytes) -> list[list[str]]:
    """The first sheet of an XLSX file as rows of texts (shared strings resolved)."""
    namespace = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        strings = [
            "".join(t.text or "" for t in item.iter(f"{{{namespace['m']}}}t"))
            for item in ElementTree.fromstring(book.read("xl/sharedStrings.xml")).findall(  # noqa: S314
                "m:si", namespace
            )
        ]
        sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))  # noqa: S314
    rows = []
    for row in sheet.iter(f"{{{namespace['m']}}}row"):
        cells = []
        for cell in row.findall("m:c", namespace):
            value = cell.find("m:v", namespace)
            text = "" if value is None else value.text
            cells.append(strings[int(text)] if cell.get("t") == "s" else text)
        rows.append(cells)
    return rows


VISITOR_A_ID = resident_id(21, "19700505")


@pytest.fixture
def reception_day(create_user, login_as, create_party, government):
    """The court's schedule, and two visitors queued for the next reception day through the
    admin: A asks about legal procedure, B complains about a delayed execution."""
    office = create_user("office")
    client = login_as(office)
    _set_up_court(client)
    today = local_today()
    upcoming = next(o for o in reception_days(today + timedelta(days=1), today + timedelta(40)))
    visitor_a = create_party("甲某", id_number=VISITOR_A_ID, phone="13700000001")
    visitor_b = create_party("乙某", phone="13700000002")
    for person, purpose in ((visitor_a, "咨询诉讼程序"), (visitor_b, "反映判决执行迟延")):
        response = client.post(
            "/admin/receptionqueue/new/",
            data={
                "day": upcoming.day.isoformat(),
                "schedule": str(upcoming.schedule.id),
                "party": str(person.id),
                "purpose": purpose,
                "new_subject": purpose,
                "new_content": f"{person.name}{purpose}",
            },
        )
        assert response.status_code == 302, text_of(response)
    entries = db.session.scalars(
        sa.select(ReceptionQueueEntry).order_by(ReceptionQueueEntry.queue_number)
    ).all()
    return client, office, upcoming, entries


def test_queued_visits_carry_the_reception_day(reception_day):
    client, _office, upcoming, entries = reception_day
    assert len(entries) == 2
    for entry in entries:
        assert entry.day == upcoming.day
        visited = to_local(entry.visit.visited_at)
        # The reception day at the start of its slot, not the moment of queueing (today).
        assert visited.date() == upcoming.day
        assert visited.time() == upcoming.schedule.start_time
        # The matter itself was received at the desk today.
        assert to_local(entry.case.received_at).date() == local_today()
    listing = text_of(client.get("/admin/visit/"))
    assert upcoming.day.isoformat() in listing


def test_answer_on_spot_and_supervision_card_on_visits_and_leaders_register(
    reception_day, create_user, login_as, client, tmp_path
):
    _client, office, upcoming, (entry_a, entry_b) = reception_day
    housing = db.session.scalar(sa.select(Unit).where(Unit.name == "县住房和城乡建设局"))
    create_user("handler", unit=housing)  # a unit where nobody may handle is refused (issue 19)
    step(client, login_as, office, "answer_on_spot", entry_a.case,
         answer="上诉期限为判决书送达之日起十五日内")  # fmt: skip
    assert fresh(entry_a.case).status == CaseStatus.closed
    due = upcoming.day + timedelta(days=15)
    # The president fills in the supervision card: instruction, division, deadline.
    president = create_user("leader")
    step(client, login_as, president, "instruct", entry_b.case, instruction="请依法督促执行",
         handling_unit=str(housing.id), due_on=due.isoformat(), supervised=True)  # fmt: skip
    db.session.expire_all()
    visit_a = db.session.get(Visit, entry_a.visit_id)
    assert visit_a.answered_on_spot and visit_a.answer.startswith("上诉期限")
    assert not db.session.get(Visit, entry_b.visit_id).answered_on_spot

    login_as(office)
    # The visit row and its details say 是.
    row = re.search(r"<tr[^>]*>(?:(?!</tr>).)*咨询诉讼程序(?:(?!</tr>).)*</tr>",
                    text_of(client.get("/admin/visit/")), re.S).group(0)  # fmt: skip
    assert "<td" in row and "是" in re.sub(r"<[^>]+>", " ", row).split()
    details = text_of(client.get(f"/admin/visit/details/?id={entry_a.visit_id}"))
    assert "当场答复" in details and "是" in details

    day = upcoming.day.isoformat()
    visits = client.post("/admin/registers/", data={"kind": "visits", "start": day, "end": day})
    assert visits.status_code == 200 and visits.mimetype == "application/pdf"
    words = pdf_words(visits.data)
    assert "咨询诉讼程序" in words and "当场答复" in words
    # The two rows end 是 (A, answered) and 否 (B, assigned).
    assert re.search(r"咨询诉讼程序.*?是", words) and re.search(r"反映判决执行迟延.*?否", words)

    # A court names the register its own way (设置 → 系统设置).
    from models.maintenance.configuration import set_setting

    set_setting("leaders_register_title", "院长、副院长接待上访当事人登记表")
    db.session.commit()
    leader = db.session.scalar(
        sa.select(ReceptionLeader).where(ReceptionLeader.id == entry_a.leader_id)
    )
    form = {"kind": "leaders_reception", "start": day, "end": day, "leader_id": str(leader.id)}
    pdf = client.post("/admin/registers/", data=form)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    words = pdf_words(pdf.data)
    # Kept for a look at the page (pdftoppm -r 60 -png leaders_reception.pdf out).
    (tmp_path / "leaders_reception.pdf").write_bytes(pdf.data)
    print("leaders' reception register:", tmp_path / "leaders_reception.pdf")
    card = f"督办卡：交县住房和城乡建设局办理，限{due.isoformat()}前办结"
    for text in ("院长、副院长接待上访当事人登记表", "顺序号", "来访人签名",
                 f"接待领导：{leader}", "甲某", VISITOR_A_ID, "13700000001", "咨询诉讼程序",
                 "当场答复", "乙某", card):  # fmt: skip
        assert text.replace(" ", "") in words, text

    xlsx = client.get(
        f"/admin/registers/leaders-reception.xlsx?start={day}&end={day}&leader_id={leader.id}"
    )
    assert xlsx.status_code == 200 and xlsx.mimetype.endswith("spreadsheetml.sheet")
    cells = xlsx_cells(xlsx.data)
    assert cells[0][0].startswith("院长、副院长接待上访当事人登记表")
    assert cells[1][:9] == ["顺序号", "接待日期", "来访人", "身份证号码", "联系电话", "反映事项",
                            "接待领导", "处理结果", "来访人签名"]  # fmt: skip
    first, second = cells[2], cells[3]
    assert first[:7] == ["1", day, "甲某", VISITOR_A_ID, "13700000001", "咨询诉讼程序",
                         leader.name]  # fmt: skip
    assert first[7].startswith("当场答复")
    assert second[0] == "2" and second[2] == "乙某"
    assert second[7] == f"督办卡：交县住房和城乡建设局办理，限{due.isoformat()}前办结"

    # Reachable from the reception day page.
    desk = text_of(client.get(f"/admin/reception/?day={day}"))
    assert "打印领导接待登记表" in desk and "leaders-reception.xlsx" in desk


def test_leaders_register_masks_a_reporter_and_keeps_to_the_users_cases(
    reception_day, create_user, login_as, client
):
    _client, office, upcoming, (entry_a, _entry_b) = reception_day
    units = db.session.scalars(
        sa.select(Unit).where(Unit.parent_id.is_not(None)).order_by(Unit.id)
    ).all()
    unit = units[0]
    report = db.session.scalar(
        sa.select(Category).where(Category.kind == CategoryKind.report).limit(1)
    )
    # A's matter turns out to be a 举报, handled by the unit; B's stays with the office.
    entry_a.case.category = report
    entry_a.case.handling_unit = unit
    db.session.commit()
    # The unit's users print registers here (an administrator granted it to their roles).
    for code in ("dept_head", "handler"):
        role = db.session.scalar(sa.select(Role).where(Role.code == code))
        role.permissions = sorted({*role.permissions, "register.print"})
    db.session.commit()
    head = create_user("dept_head", unit=unit)
    colleague = create_user("handler", unit=unit)
    day = upcoming.day.isoformat()
    url = f"/admin/registers/leaders-reception.xlsx?start={day}&end={day}"
    login_as(office)
    assert "甲某" in str(xlsx_cells(client.get(url).data))
    for user in (head, colleague):
        login_as(user)
        cells = xlsx_cells(client.get(url).data)
        body = [row for row in cells[2:] if row]
        # Only the unit's case; B's matter is not in the unit's scope.
        assert len(body) == 1 and "乙某" not in str(cells)
        hidden = user is colleague
        assert (body[0][2] == "（保密）") is hidden
        assert (VISITOR_A_ID in str(cells)) is not hidden
    login_as(colleague)
    pdf = client.post("/admin/registers/", data={"kind": "leaders_reception", "start": day,
                                                 "end": day})  # fmt: skip
    assert pdf.mimetype == "application/pdf"
    words = pdf_words(pdf.data)
    assert "甲某" not in words and VISITOR_A_ID not in words and "（保密）" in words


# -- the migration: old free text becomes people ------------------------------------------------


def test_migration_moves_free_text_representatives_into_people(tmp_path):
    """g5d0c0000023 on a database holding a group case with representatives as free text."""
    from flask_migrate import downgrade, upgrade

    from app import create_app
    from tests.conftest import TEST_CONFIG

    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/m.db"})
    with app.app_context():
        upgrade(revision="g0d0c0000018")
        now = utcnow().replace(tzinfo=None)
        values = {
            "number": "XF2026-000001", "register": "case", "register_year": 2026,
            "register_seq": 1, "channel": "visit", "priority": "normal",
            "status": "registered", "subject": "集体来访", "content": "三十人", "received_at": now,
            "created_at": now, "updated_at": now, "version": 1, "head_count": 30,
            "representatives": "周一、吴二，郑三, 王四  冯五、周一",
        }  # fmt: skip
        columns = sa.inspect(db.engine).get_columns("cases")
        with db.engine.begin() as connection:
            for column in columns:
                if column["name"] in values or column["nullable"] or column["name"] == "id":
                    continue
                # Flags and counters: false / 0; the custom values an empty object.
                values[column["name"]] = (
                    "{}" if column["name"] == "custom_values" else 0
                )  # fmt: skip
            connection.execute(sa.table("cases", *map(sa.column, values)).insert(), values)
        upgrade()
        with db.engine.connect() as connection:
            names = connection.execute(
                sa.text(
                    "SELECT p.name, l.position FROM case_representatives l "
                    "JOIN parties p ON p.id = l.party_id ORDER BY l.position"
                )
            ).all()
            assert "representatives" not in {
                c["name"] for c in sa.inspect(connection).get_columns("cases")
            }
        assert names == [("周一", 1), ("吴二", 2), ("郑三", 3), ("王四", 4), ("冯五", 5)]
        downgrade(revision="g0d0c0000018")
        with db.engine.connect() as connection:
            text = connection.execute(sa.text("SELECT representatives FROM cases")).scalar()
        assert text == "周一、吴二、郑三、王四、冯五"
        db.engine.dispose()
