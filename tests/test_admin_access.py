"""Who may open which screen: anonymous users, each default role, and records out of scope."""

import pytest
import sqlalchemy as sa

from models import Case, Unit, db

ROLES = ["admin", "registrar", "handler", "dept_head", "office", "leader", "supervisor"]
ALL = set(ROLES)
#: Roles holding any reception permission, and those that work the reception desk.
RECEPTION = {"admin", "registrar", "office", "dept_head", "leader"}
RECEPTION_DESK = {"admin", "registrar", "office"}

CALLBACKS = {"admin", "handler", "dept_head", "office"}
SURVEYS = {"admin", "dept_head", "office"}
#: Survey results and reports are read by the leader and the supervisor too (issue 15, S17).
SURVEY_READERS = SURVEYS | {"leader", "supervisor"}

#: endpoint -> (roles that may open the list, roles that may open the create form)
MATRIX = {
    "letter": (ALL, {"admin", "registrar", "office"}),
    "visit": (ALL, {"admin", "registrar", "office"}),
    "call": (ALL, {"admin", "registrar", "office"}),
    "case": (ALL, {"admin", "registrar", "office"}),
    "party": ({"admin", "registrar", "office"}, {"admin", "registrar", "office"}),
    "attachment": (ALL, {"admin", "registrar", "handler", "dept_head", "office"}),
    "caseevent": (ALL, set()),
    "callback": (ALL, {"admin", "handler", "dept_head", "office"}),
    "unit": ({"admin"}, {"admin"}),
    "category": ({"admin"}, {"admin"}),
    "customfield": ({"admin"}, {"admin"}),
    "user": ({"admin"}, {"admin"}),
    "role": ({"admin"}, {"admin"}),
    "setting": ({"admin"}, set()),
    "deadlinerule": ({"admin"}, {"admin"}),
    "escalationrule": ({"admin"}, {"admin"}),
    "routingrule": ({"admin"}, {"admin"}),
    "retentionrule": ({"admin"}, {"admin"}),
    "destructionbatch": ({"admin", "registrar", "office", "supervisor"}, set()),
    "calendar": ({"admin"}, {"admin"}),
    "appointment": (RECEPTION, RECEPTION_DESK),
    "visitorpass": (RECEPTION, RECEPTION_DESK),
    "visitincident": (RECEPTION, RECEPTION_DESK),
    "receptionqueue": (RECEPTION, RECEPTION_DESK),
    "opinionbox": (RECEPTION, RECEPTION_DESK),
    "opinionboxopening": (RECEPTION, RECEPTION_DESK),
    "receptionschedule": (RECEPTION, {"admin", "office"}),
    "receptionleader": (RECEPTION, {"admin", "office"}),
    "leaderabsence": (RECEPTION, {"admin", "office"}),
    "auditlog": ({"admin", "supervisor"}, set()),
    # Everybody sees their own e-mails; the office the messages of the cases it sees.
    "outgoingmessage": (ALL, set()),
    "callbackschedule": (CALLBACKS, CALLBACKS),
    "callbackquota": (CALLBACKS, {"admin"}),
    "rectificationorder": (CALLBACKS, set()),
    "surveycampaign": (SURVEY_READERS, SURVEYS),
    "surveyresponse": (SURVEYS, set()),
    "surveytemplate": (SURVEYS, SURVEYS),
}
STATS = {"admin", "dept_head", "office", "leader", "supervisor"}


def test_every_admin_page_requires_login(client):
    rules = [r for r in client.application.url_map.iter_rules() if r.rule.startswith("/admin")]
    assert len(rules) > 50
    for rule in rules:
        if rule.endpoint in ("admin.login_view", "admin.static") or "<" in rule.rule:
            continue
        method = "GET" if "GET" in rule.methods else "POST"
        response = client.open(rule.rule, method=method)
        assert response.status_code == 302, rule.rule
        assert "/admin/login/" in response.headers["Location"], rule.rule


def test_matrix_covers_every_model_view(app):
    endpoints = {
        view.endpoint for view in app.extensions["admin"][0]._views if hasattr(view, "model")
    }
    assert endpoints == set(MATRIX)


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(role, create_user, login_as, government):
    client = login_as(create_user(role))
    for endpoint, (may_list, may_create) in MATRIX.items():
        response = client.get(f"/admin/{endpoint}/")
        expected = 200 if role in may_list else 403
        assert response.status_code == expected, (endpoint, role)
        if role in may_list:
            created = client.get(f"/admin/{endpoint}/new/")
            # Flask-Admin sends a user without the create right back to the list.
            assert created.status_code == (200 if role in may_create else 302), (endpoint, role)
    assert client.get("/admin/stats/").status_code == (200 if role in STATS else 403)
    for page in ("/admin/reception/", "/admin/reception/schedule/"):
        assert client.get(page).status_code == (200 if role in RECEPTION else 403), (page, role)


def test_department_users_see_only_their_units_cases(
    create_user, create_case, login_as, government
):
    units = db.session.scalars(sa.select(Unit).where(Unit.parent_id.is_not(None))).all()
    ours = create_case(subject="本部门事项", handling_unit=units[0])
    theirs = create_case(subject="其他部门事项", handling_unit=units[1])
    client = login_as(create_user("handler", unit=units[0]))

    listing = client.get("/admin/case/").get_data(as_text=True)
    assert ours.number in listing
    assert theirs.number not in listing

    # Changing the id in the URL must not reveal or change another unit's case.
    details = client.get(f"/admin/case/details/?id={theirs.id}")
    assert theirs.number not in details.get_data(as_text=True)
    client.post(f"/admin/case/edit/?id={theirs.id}", data={"subject": "被改了"})
    db.session.expire_all()
    assert db.session.get(Case, theirs.id).subject == "其他部门事项"
    assert client.get(f"/admin/case/details/?id={ours.id}").status_code == 200

    search = client.get(f"/admin/case/?search={theirs.number}").get_data(as_text=True)
    assert "其他部门事项" not in search


def test_office_sees_all_cases(create_user, create_case, login_as, government):
    units = db.session.scalars(sa.select(Unit).where(Unit.parent_id.is_not(None))).all()
    cases = [create_case(handling_unit=unit) for unit in units[:3]]
    listing = login_as(create_user("office")).get("/admin/case/").get_data(as_text=True)
    assert all(case.number in listing for case in cases)


def test_deactivated_user_is_logged_out_on_next_request(create_user, login_as):
    user = create_user("office")
    client = login_as(user)
    assert client.get("/admin/case/").status_code == 200
    user.is_active_user = False
    db.session.commit()
    assert client.get("/admin/case/").status_code == 302


def test_case_picker_offers_only_visible_cases(create_user, create_case, login_as, government):
    units = db.session.scalars(sa.select(Unit).where(Unit.parent_id.is_not(None))).all()
    ours = create_case(subject="本部门路灯", handling_unit=units[0])
    theirs = create_case(subject="外部门路灯", handling_unit=units[1])
    handler = login_as(create_user("handler", unit=units[0]))

    def lookup(client, query):
        response = client.get(
            "/admin/callback/ajax/lookup/", query_string={"name": "case", "query": query}
        )
        assert response.status_code == 200
        return [row[0] for row in response.get_json()]

    assert lookup(handler, "路灯") == [ours.id]
    assert lookup(handler, theirs.number) == []
    office = login_as(create_user("office"))
    assert set(lookup(office, "路灯")) == {ours.id, theirs.id}
    assert lookup(office, theirs.number) == [theirs.id]


@pytest.mark.parametrize("role", ["admin", "handler"])
def test_no_admin_page_fails_for_a_signed_in_user(role, create_user, create_case, login_as):
    client = login_as(create_user(role))
    create_case()
    rules = [r for r in client.application.url_map.iter_rules() if r.rule.startswith("/admin")]
    for rule in rules:
        if "GET" not in rule.methods or "<" in rule.rule or rule.endpoint.endswith("logout_view"):
            continue
        for query in ("", "?id=1", "?id=x&url=//evil.example"):
            response = client.get(rule.rule + query)
            assert response.status_code < 500, (rule.rule, query)
