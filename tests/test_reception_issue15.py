"""Issue 15, reception part: a group's representatives as people (S19 step 1), 当场答复 on the
visit row and the visits register (S6 step 3), queued visits dated on the reception day and the
leaders' reception register as PDF and XLSX (S6 step 2). Everything through the admin."""

from __future__ import annotations

import io
from datetime import date, time, timedelta

import pytest
import sqlalchemy as sa

from models import Case, CaseRepresentative, Category, Party, Unit, Visit, db
from models.base import local_zone, utcnow
from models.enums import CategoryKind
from models.validation import resident_id_check_char
from tests.test_documents import pdf_words

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
