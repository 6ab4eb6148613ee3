"""Issue 16, search: two-character names, partial numbers, phones and ID numbers find cases
(from indexes on PostgreSQL), and never a 举报 case's reporter for someone outside its circle."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from admin_views.search import case_search_condition
from models import Case, Category, Party, db
from models.enums import CategoryKind
from models.text_search import term_bigrams


@pytest.fixture
def office(create_user):
    return create_user("office")


def _search(client, term: str, page: str = "/admin/case/") -> str:
    response = client.get(page, query_string={"search": term})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _found(page: str, *cases) -> list[bool]:
    return [f">{case.number}</a>" in page for case in cases]


def _person(name, **fields):
    party = Party(name=name, **fields)
    db.session.add(party)
    db.session.commit()
    return party


def test_a_two_character_name_finds_its_cases_and_no_others(create_case, office, login_as):
    exact = create_case(by=office, petitioners=[_person("高瑞")], subject="噪音扰民")
    longer = create_case(by=office, petitioners=[_person("高瑞明")], subject="道路破损")
    in_subject = create_case(by=office, subject="反映高瑞小区供暖不热")
    reversed_ = create_case(by=office, petitioners=[_person("瑞高")], subject="物业收费")
    apart = create_case(by=office, petitioners=[_person("高明瑞")], subject="停车难")
    page = _search(login_as(office), "高瑞")
    assert _found(page, exact, longer, in_subject, reversed_, apart) == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_a_part_of_the_registration_number_finds_the_case(create_case, office, login_as):
    cases = [create_case(by=office, subject=f"事项{i}") for i in range(3)]
    target = cases[1]
    client = login_as(office)
    sequence = target.number.rsplit("-", 1)[-1]  # e.g. 000002
    assert _found(_search(client, sequence), *cases) == [False, True, False]
    # Letters in any case; the year and part of the sequence.
    lowered = target.number.lower()[:-1]
    page = _search(client, lowered)
    assert _found(page, target)[0]
    assert _found(_search(client, target.number), *cases) == [False, True, False]


def test_a_phone_number_whole_or_in_part_finds_the_case(create_case, office, login_as):
    mine = create_case(by=office, petitioners=[_person("张三", phone="13812345678")])
    other = create_case(by=office, petitioners=[_person("李四", phone="13900001111")])
    agent = _person("王代理", phone="0571-88886666")
    by_agent = create_case(by=office, petitioners=[_person("赵五")], agent=agent)
    client = login_as(office)
    for term in ("13812345678", "12345678", "5678"):
        assert _found(_search(client, term), mine, other, by_agent) == [True, False, False]
    assert _found(_search(client, "88886666"), mine, other, by_agent) == [False, False, True]
    assert _found(_search(client, "0571-8888"), mine, other, by_agent) == [False, False, True]


def test_an_id_number_whole_or_in_part_finds_the_case(create_case, office, login_as):
    mine = create_case(by=office, petitioners=[_person("张三", id_number="11010119900307001X")])
    other = create_case(by=office, petitioners=[_person("李四", id_number="110101198501010022")])
    client = login_as(office)
    for term in ("11010119900307001X", "11010119900307001x", "07001X", "19900307"):
        assert _found(_search(client, term), mine, other) == [True, False], term
    assert _found(_search(client, "1101011"), mine, other) == [True, True]


def test_every_term_must_match(create_case, office, login_as):
    both = create_case(by=office, petitioners=[_person("高瑞")], subject="道路破损")
    name_only = create_case(by=office, petitioners=[_person("高瑞")], subject="噪音扰民")
    road_only = create_case(by=office, petitioners=[_person("李四")], subject="道路积水")
    page = _search(login_as(office), "高瑞 道路")
    assert _found(page, both, name_only, road_only) == [True, False, False]


def test_like_wildcards_are_literal(create_case, office, login_as):
    percent = create_case(by=office, subject="物业费上涨50%")
    underscore = create_case(by=office, subject="门牌号A_1错误")
    plain = create_case(by=office, petitioners=[_person("高瑞")], subject="门牌号A11错误")
    client = login_as(office)
    assert _found(_search(client, "0%"), percent, underscore, plain) == [True, False, False]
    assert _found(_search(client, "A_"), percent, underscore, plain) == [False, True, False]
    assert _found(_search(client, "高%"), percent, underscore, plain) == [False, False, False]
    assert _found(_search(client, "%"), percent, underscore, plain) == [True, False, False]


def test_a_reporter_is_found_only_inside_the_circle(create_case, create_user, login_as, government):
    registrar = create_user("registrar")
    report = db.session.scalar(
        sa.select(Category).where(Category.kind == CategoryKind.report).limit(1)
    )
    reporter = _person("李举", phone="13911112222", id_number="110101199001011234")
    case = create_case(by=registrar, petitioners=[reporter], category=report, subject="举报乱收费")
    ordinary = create_case(
        by=registrar, petitioners=[_person("李举", phone="13911112222")], subject="噪音"
    )
    terms = ("李举", "13911112222", "11112222", "110101199001011234", "01011234")
    outsider = login_as(create_user("supervisor"))
    for term in terms:
        assert _found(_search(outsider, term), case, ordinary)[0] is False, term
    # The subject is no secret; the ordinary case is found by the same name and phone.
    assert _found(_search(outsider, "乱收费"), case)[0]
    assert _found(_search(outsider, "李举"), ordinary)[0]
    assert _found(_search(outsider, "13911112222"), ordinary)[0]
    for insider in (registrar, create_user("office")):
        client = login_as(insider)
        for term in terms:
            assert _found(_search(client, term), case)[0], (insider.username, term)


def test_the_placeholder_names_what_can_be_searched(office, login_as):
    page = _search(login_as(office), "")
    assert "事项编号、事项标题、信访人、代表人、电话或身份证号" in page


def _plan_without_seqscans(statement) -> str:
    """PostgreSQL's plan for ``statement`` with sequential scans discouraged: a tiny test
    table would be read whole; what matters is that the index can answer."""
    compiled = statement.compile(db.engine, compile_kwargs={"render_postcompile": True})
    with db.engine.connect() as connection:
        connection.execute(sa.text("SET enable_seqscan = off"))
        rows = connection.exec_driver_sql(f"EXPLAIN {compiled.string}", compiled.params)
        return "\n".join(row[0] for row in rows)


def test_term_bigrams_match_the_sql_function(app, backend):
    assert term_bigrams("高瑞") == ["高瑞"]
    assert term_bigrams("高瑞明") == ["瑞明", "高瑞"]
    assert term_bigrams("Ab") == ["ab"]
    assert term_bigrams("高") is None
    assert term_bigrams("Éa") is None  # PostgreSQL may lower-case É differently
    if backend != "postgresql":
        return
    found = db.session.scalar(sa.text("SELECT cjk_bigrams('高瑞明高瑞AB')"))
    assert sorted(found) == ["ab", "明高", "瑞a", "瑞明", "高瑞"]
    assert db.session.scalar(sa.text("SELECT cjk_bigrams('高')")) == []


@pytest.mark.parametrize(
    ("term", "index"),
    [
        ("高瑞", "ix_cases_petitioner_names_bigrams"),
        ("高瑞", "ix_cases_subject_bigrams"),
        ("高瑞明", "ix_cases_petitioner_names_trgm"),
        ("000123", "ix_cases_number_trgm"),
        ("12345678", "ix_parties_phone_trgm"),
        ("07001X", "ix_parties_id_number_trgm"),
    ],
)
def test_postgresql_answers_the_search_from_indexes(app, backend, office, term, index):
    if backend != "postgresql":
        pytest.skip("the indexes exist on PostgreSQL only")
    plan = _plan_without_seqscans(sa.select(Case.id).where(case_search_condition(term, office)))
    assert index in plan, plan
    assert "Seq Scan on cases" not in plan, plan


def test_a_representative_is_found_by_name_phone_and_id_number(create_case, office, login_as):
    from models.operations.representatives import RepresentativeEntry, set_representatives

    group = create_case(by=office, subject="集体反映拖欠工资", is_group=True, head_count=12)
    entry = RepresentativeEntry(name="欧阳", id_number="110101198001011232", phone="13712345678")
    set_representatives(group, [entry], by=office)
    db.session.commit()
    other = create_case(by=office, petitioners=[_person("李四")], subject="噪音")
    client = login_as(office)
    for term in ("欧阳", "13712345678", "2345678", "110101198001011232", "1011232"):
        assert _found(_search(client, term), group, other) == [True, False], term


# --- the 信访人 list's search box --------------------------------------------------------------


def _search_people(client, term: str) -> str:
    return _search(client, term, "/admin/party/")


def _listed(page: str, *people) -> list[bool]:
    return [f"/admin/party/details/?id={person.id}&" in page for person in people]


def test_the_people_list_finds_a_person_by_name_phone_or_id_number(create_case, office, login_as):
    gao = _person("高瑞", phone="13812345678", id_number="11010119900307001X")
    longer = _person("高瑞明", phone="13900001111", id_number="110101198501010022")
    reversed_ = _person("瑞高", phone="0571-88886666")
    for person in (gao, longer, reversed_):
        create_case(by=office, petitioners=[person])
    client = login_as(office)
    assert _listed(_search_people(client, "高瑞"), gao, longer, reversed_) == [True, True, False]
    assert _listed(_search_people(client, "高"), gao, longer, reversed_) == [True, True, True]
    for term in ("13812345678", "12345678", "5678", "07001X", "07001x", "11010119900307001X"):
        assert _listed(_search_people(client, term), gao, longer, reversed_) == [
            True,
            False,
            False,
        ], term
    assert _listed(_search_people(client, "0571-8888"), gao, longer, reversed_) == [
        False,
        False,
        True,
    ]
    assert _listed(_search_people(client, "1101011"), gao, longer, reversed_) == [
        True,
        True,
        False,
    ]
    # Every term must match; LIKE wildcards are literal.
    assert _listed(_search_people(client, "高瑞 0000"), gao, longer, reversed_) == [
        False,
        True,
        False,
    ]
    assert _listed(_search_people(client, "高%"), gao, longer, reversed_) == [False] * 3


def test_the_people_list_never_finds_a_hidden_reporter(
    create_case, create_user, login_as, government
):
    registrar = create_user("registrar")
    report = db.session.scalar(
        sa.select(Category).where(Category.kind == CategoryKind.report).limit(1)
    )
    reporter = _person("李举报", phone="13911112222", id_number="110101199001011234")
    create_case(by=registrar, petitioners=[reporter], category=report, subject="举报乱收费")
    other_registrar = login_as(create_user("registrar"))
    for term in ("李举", "李举报", "13911112222", "11112222", "01011234"):
        assert _listed(_search_people(other_registrar, term), reporter) == [False], term
    insider = login_as(registrar)
    for term in ("李举", "李举报", "13911112222", "01011234"):
        assert _listed(_search_people(insider, term), reporter) == [True], term


@pytest.mark.parametrize(
    ("term", "index"),
    [
        ("高瑞", "ix_parties_name_bigrams"),
        ("高瑞明", "ix_parties_name_trgm"),
        ("12345678", "ix_parties_phone_trgm"),
        ("07001X", "ix_parties_id_number_trgm"),
    ],
)
def test_postgresql_answers_the_people_search_from_indexes(app, backend, term, index):
    if backend != "postgresql":
        pytest.skip("the indexes exist on PostgreSQL only")
    from admin_views.search import party_search_condition

    plan = _plan_without_seqscans(sa.select(Party.id).where(party_search_condition(term)))
    assert index in plan, plan
    assert "Seq Scan on parties" not in plan, plan
