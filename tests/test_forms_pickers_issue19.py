"""Issue 19: after a create the user lands on the new record with its number; the 批示 / 交办 /
转办 unit tree and handler pickers; the disabled 办结 button that says why; case-list sorting."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from flask import g

from models import Case, CaseClock, Category, Unit, User, db
from models.base import utcnow
from models.enums import CaseStatus, Clock, TimeUnit
from models.policies import handlers_clause, may_handle
from tests.conftest import row_counts, sign_in
from tests.test_model_views_save import CREATE, fill, read_form, view_for
from tests.test_model_views_save import world as world

S = CaseStatus
GENERIC = ("创建记录成功", "Record was successfully created")


def _flashes(page: str) -> str:
    return " ".join(re.findall(r'<div class="alert[^"]*"[^>]*>(.*?)</div>', page, re.S))


# -- 1. after a create: the new record, its number in the message ---------------------------


def _created(model, before):
    pk = sa.inspect(model).primary_key[0]
    db.session.expire_all()
    (key,) = set(db.session.scalars(sa.select(pk)).all()) - before
    return db.session.get(model, key)


@pytest.mark.parametrize("endpoint", sorted(CREATE))
def test_a_create_lands_on_the_new_record(app, world, endpoint):
    view = view_for(app, endpoint)
    client = world["client"]
    pk = sa.inspect(view.model).primary_key[0]
    before = set(db.session.scalars(sa.select(pk)).all())
    form = read_form(client, f"/admin/{endpoint}/new/")
    response = client.post(
        f"/admin/{endpoint}/new/",
        data=fill(form, CREATE[endpoint](world)),
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, endpoint
    record = _created(view.model, before)
    location = urlsplit(response.headers["Location"])
    if endpoint in ("letter", "visit", "call"):
        # A letter, visit or call: the case's page, where its number and history are.
        assert location.path == "/admin/case/details/", endpoint
        assert parse_qs(location.query)["id"] == [str(record.case_id)]
    elif view.can_view_details:
        assert location.path == f"/admin/{endpoint}/details/", endpoint
        assert parse_qs(location.query)["id"] == [str(view.get_pk_value(record))]
    landing = client.get(response.headers["Location"])
    assert landing.status_code == 200, endpoint
    page = html.unescape(landing.get_data(as_text=True))
    flashes = _flashes(page)
    assert not any(text in page for text in GENERIC), endpoint
    number = view.created_number(record)
    if number:
        assert f"已登记，编号 {number}" in flashes, (endpoint, flashes)
    else:
        assert "已保存：" in flashes, (endpoint, flashes)


def test_registering_a_letter_lands_on_its_new_case(world):
    client = world["client"]
    form = read_form(client, "/admin/letter/new/")
    data = fill(
        form,
        {
            "case": "",
            "received_at": (utcnow() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "new_subject": "路灯不亮",
            "new_content": "小区路灯坏了一个月。",
            "new_person_name": "李四",
        },
    )
    response = client.post("/admin/letter/new/", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    case = db.session.scalar(sa.select(Case).where(Case.subject == "路灯不亮"))
    assert response.headers["Location"].endswith(f"/admin/case/details/?id={case.id}")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"已登记，编号 {case.number}" in page and "路灯不亮" in page


def test_save_and_add_another_still_opens_a_blank_form(world):
    client = world["client"]
    form = read_form(client, "/admin/party/new/")
    data = fill(form, {**CREATE["party"](world), "_add_another": "1"})
    response = client.post("/admin/party/new/", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/admin/party/new/"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "已保存：孙六" in page and not any(text in page for text in GENERIC)


# -- 2. the unit tree and the handler picker ------------------------------------------------


@pytest.fixture
def picker_world(app, government, create_user, create_case):
    units = db.session.scalars(
        sa.select(Unit).where(Unit.parent_id.is_not(None)).order_by(Unit.id)
    ).all()
    unit_a, unit_b, unit_c = units[:3]
    office_unit = db.session.scalar(sa.select(Unit).where(Unit.name == "县信访局"))
    people = {
        "office": create_user("office", unit=office_unit),
        "handler_a": create_user("handler", unit=unit_a),
        "head_a": create_user("dept_head", unit=unit_a),
        "handler_b": create_user("handler", unit=unit_b),
        # Members of unit C who may not handle: C counts as a unit without handlers.
        "supervisor_c": create_user("supervisor", unit=unit_c),
        "registrar_c": create_user("registrar", unit=unit_c),
    }
    case = create_case(by=people["office"])
    case.status = S.accepted
    case.accepted_at = utcnow() - timedelta(hours=1)
    case.instructed_at = case.accepted_at  # a leader read it: it may be assigned now
    db.session.commit()
    groups = db.session.scalars(
        sa.select(Unit).where(Unit.id.in_(sa.select(Unit.parent_id).where(Unit.parent_id > 0)))
    ).all()
    return {
        "units": (unit_a, unit_b, unit_c),
        "office_unit": office_unit,
        "groups": groups,
        "people": people,
        "case": case,
        "client": sign_in(app.test_client(), people["office"]),
    }


def _options(page: str, name: str) -> list[tuple[str, str, str]]:
    """``(value, attributes, label)`` of the options of select ``name``."""
    select = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert select, name
    options = []
    for attrs, label in re.findall(r"<option([^>]*)>(.*?)</option>", select.group(1), re.S):
        value = re.search(r'value="([^"]*)"', attrs).group(1)
        options.append((value, attrs, html.unescape(label).strip(" \n\t")))
    return options


def test_the_assign_form_offers_a_tree_and_eligible_handlers(picker_world):
    w = picker_world
    page = w["client"].get(f"/admin/workflow/assign/{w['case'].id}/").get_data(as_text=True)
    units = _options(page, "handling_unit")
    # Nothing preselected: the office itself is not offered as the default.
    assert units[0][0] == "__None" and "selected" in units[0][1]
    assert not any("selected" in attrs for _value, attrs, _label in units[1:])
    by_id = {value: (attrs, label) for value, attrs, label in units}
    for group in w["groups"]:
        assert "disabled" in by_id[str(group.id)][0], group.name
    unit_a, unit_b, unit_c = w["units"]
    # Children are indented under their group; a unit with nobody who may handle is marked.
    assert by_id[str(unit_a.id)][1].startswith("\u3000")
    assert "disabled" not in by_id[str(unit_a.id)][0]
    assert by_id[str(unit_c.id)][1].endswith("（无承办人员）")
    assert not by_id[str(unit_a.id)][1].endswith("（无承办人员）")
    assert 'data-role="select2"' in page and "unit_pickers.js" in page
    handlers = _options(page, "handler")
    offered = {value: attrs for value, attrs, _label in handlers if value != "__None"}
    people = w["people"]
    assert set(offered) == {
        str(people[name].id) for name in ("handler_a", "head_a", "handler_b")
    } | {str(u.id) for u in db.session.scalars(sa.select(User).where(handlers_clause()))}
    for name in ("office", "supervisor_c", "registrar_c"):
        assert str(people[name].id) not in offered, name
    assert f'data-unit="{unit_a.id}"' in offered[str(people["handler_a"].id)]
    assert f'data-unit="{unit_b.id}"' in offered[str(people["handler_b"].id)]


def test_the_rule_and_its_sql_twin_agree(picker_world):
    everyone = db.session.scalars(sa.select(User)).all()
    in_sql = set(db.session.scalars(sa.select(User.id).where(handlers_clause())))
    assert in_sql == {user.id for user in everyone if may_handle(user)}
    people = picker_world["people"]
    assert may_handle(people["handler_a"]) and may_handle(people["head_a"])
    assert not may_handle(people["supervisor_c"]) and not may_handle(people["registrar_c"])


def _post_assign(w, **values):
    client, case = w["client"], w["case"]
    url = f"/admin/workflow/assign/{case.id}/"
    form = read_form(client, url)
    before = row_counts()
    response = client.post(url, data=fill(form, values))
    db.session.expire_all()
    return response, before


@pytest.mark.parametrize(
    ("choice", "message"),
    [
        ("group", "是分组，不能选作承办单位"),
        ("staffless", "没有可以承办事项的人员（无承办人员）"),
        ("mismatch", "请选择该单位的承办人"),
        ("ineligible", "的角色不能承办事项"),
    ],
)
def test_refused_choices_change_nothing(picker_world, choice, message):
    w = picker_world
    unit_a, _unit_b, unit_c = w["units"]
    values = {
        "group": {"handling_unit": w["groups"][0].id, "handler": "__None"},
        "staffless": {"handling_unit": unit_c.id, "handler": "__None"},
        "mismatch": {"handling_unit": unit_a.id, "handler": w["people"]["handler_b"].id},
        "ineligible": {"handling_unit": unit_c.id, "handler": w["people"]["supervisor_c"].id},
    }[choice]
    response, before = _post_assign(w, **values)
    assert response.status_code == 200
    assert message in html.unescape(response.get_data(as_text=True))
    assert row_counts() == before
    case = db.session.get(Case, w["case"].id)
    assert case.status == S.accepted and case.handling_unit_id is None


def test_a_matching_handler_is_assigned(picker_world):
    w = picker_world
    unit_a = w["units"][0]
    handler = w["people"]["handler_a"]
    response, _before = _post_assign(w, handling_unit=unit_a.id, handler=handler.id)
    assert response.status_code == 302
    case = db.session.get(Case, w["case"].id)
    assert case.handling_unit_id == unit_a.id and case.handler_id == handler.id


def test_the_service_refuses_a_handler_who_may_not_handle(picker_world):
    from models.operations import ValidationFailed
    from models.operations.workflow import perform

    w = picker_world
    with pytest.raises(ValidationFailed, match="不能承办"):
        perform(
            "assign",
            w["case"],
            by=w["people"]["office"],
            handling_unit=w["units"][2],
            handler=w["people"]["supervisor_c"],
        )
    db.session.rollback()


def test_the_transfer_form_has_the_tree_without_the_staff_rule(picker_world):
    w = picker_world
    case = w["case"]
    response = w["client"].get(f"/admin/workflow/transfer/{case.id}/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    units = _options(page, "target_unit")
    by_id = {value: (attrs, label) for value, attrs, label in units}
    assert "disabled" in by_id[str(w["groups"][0].id)][0]
    assert "（无承办人员）" not in page


# -- 3. the 办结 button stays, disabled, and says why --------------------------------------


def test_the_close_button_is_disabled_with_its_reason(picker_world):
    from models import SystemSetting

    w = picker_world
    db.session.get(SystemSetting, "close_requires_sign_off").value = "0"
    case = w["case"]
    case.status = S.result_reported
    case.handling_unit = w["units"][0]
    case.result_reported_at = utcnow()
    case.result_approved_at = utcnow()
    db.session.commit()
    page = w["client"].get(f"/admin/case/details/?id={case.id}").get_data(as_text=True)
    button = re.search(r'<span[^>]*class="[^"]*blocked-step[^"]*"[^>]*>\s*<button[^>]*>', page)
    assert button, "no disabled 办结 button"
    assert 'title="请先答复信访人再办结"' in button.group(0)
    assert "disabled" in button.group(0) and 'aria-describedby="blocked-close"' in button.group(0)
    assert re.search(r"<button[^>]*disabled[^>]*>办结</button>", page)
    assert '<li id="blocked-close">暂不能办结：请先答复信访人再办结</li>' in page


# -- 4. the case list sorts by subject, category, unit, handler and 期限 ---------------------


@pytest.fixture
def sorted_world(app, government, create_user, create_case):
    office = create_user("office")
    units = db.session.scalars(
        sa.select(Unit).where(Unit.parent_id.is_not(None)).order_by(Unit.sort_order, Unit.id)
    ).all()[:3]
    categories = db.session.scalars(
        sa.select(Category).order_by(Category.sort_order, Category.id)
    ).all()[:3]
    handlers = []
    for index, unit in enumerate(units):
        person = create_user("handler", unit=unit)
        person.full_name = f"H{index}"
        handlers.append(person)
    now = utcnow()
    cases = []
    # Reversed so that neither the id nor the received time happens to give the order.
    for index in reversed(range(3)):
        case = create_case(
            by=office,
            subject=f"S{index} subject",
            category=categories[index],
            received_at=now - timedelta(hours=1 + index),
        )
        case.handling_unit = units[index]
        case.handler = handlers[index]
        for clock in case.clocks:
            clock.stopped_at = now  # only the clock below runs: 期限 follows it
        db.session.add(
            CaseClock(
                case=case,
                kind=Clock.closing,
                started_at=now - timedelta(days=1),
                amount=60,
                unit=TimeUnit.calendar_days,
                due_at=now + timedelta(days=10 + index),
            )
        )
        cases.append(case)
    db.session.commit()
    return {"client": sign_in(app.test_client(), office), "subjects": ["S0", "S1", "S2"]}


@pytest.mark.parametrize("column", ["subject", "category", "handling_unit", "handler", "deadline"])
def test_the_case_list_sorts_by(app, sorted_world, column, count_queries):
    view = view_for(app, "case")
    index = [name for name, _label in view._list_columns].index(column)
    assert column in view._sortable_columns
    client = sorted_world["client"]
    for desc, expected in ((0, ["S0", "S1", "S2"]), (1, ["S2", "S1", "S0"])):
        url = f"/admin/case/?sort={index}" + ("&desc=1" if desc else "")
        page = client.get(url).get_data(as_text=True)
        found = re.findall(r"\b(S[012]) subject", page)
        assert found == expected, (column, desc, found)
        # A sorted list costs no more statements than the default one (tests/test_list_queries).
        db.session.remove()
        g.pop("_login_user", None)
        with count_queries() as statements:
            assert client.get(url).status_code == 200
        assert 2 <= len(statements) <= 3, (column, statements)


def test_the_bulk_assignment_uses_the_same_pickers(picker_world):
    w = picker_world
    case, client = w["case"], w["client"]
    page = client.get(f"/admin/workflow/bulk/?ids={case.id}").get_data(as_text=True)
    assert 'data-handler-field="handler"' in page and "unit_pickers.js" in page
    assert "（无承办人员）" in page
    before = row_counts()
    refused = client.post(
        "/admin/workflow/bulk/",
        data={"ids": str(case.id), "handling_unit": str(w["units"][2].id), "handler": "__None"},
    )
    assert refused.status_code == 200
    assert "无承办人员" in html.unescape(refused.get_data(as_text=True))
    assert row_counts() == before
