"""The JSON API (issue 18 item 3): tokens, scoping, masking, idempotent registration,
validation, the changes cursor, rate limits, the audit trail, and a contract test generated
from the OpenAPI description (schemathesis, against the app through WSGI)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from admin_views.public.limits import reset_limits
from models import (
    ApiCaseLink,
    ApiToken,
    AuditEntry,
    Call,
    Case,
    Category,
    Party,
    Unit,
    User,
    db,
)
from models.enums import CaseChannel, CategoryKind
from models.operations.api import (
    ApiPrincipal,
    api_actor,
    create_token,
    hash_token,
    may_read_case,
    readable_cases_clause,
)
from models.policies import MASK, api_token_cases_clause, api_token_sees_case

SECRET = re.compile(r'id="api-token-secret"[^>]*>([^<]+)<')


@pytest.fixture
def api(app, government, monkeypatch):
    """The government preset, generous limits and every counter at zero."""
    monkeypatch.setitem(app.config, "API_RATE_LIMITS", "1000 per minute")
    monkeypatch.setitem(app.config, "API_AUTH_FAILURE_LIMITS", "1000 per minute")
    reset_limits()
    yield app
    reset_limits()


@pytest.fixture
def units(api):
    by_name = {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}
    return by_name["县住房和城乡建设局"], by_name["县自然资源局"]


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def category(kind: CategoryKind) -> Category:
    return db.session.scalars(
        sa.select(Category).where(Category.kind == kind).order_by(Category.id)
    ).first()


def new_token(user=None, permissions=("case.view", "case.register"), units=(), *, by):
    token, secret = create_token(
        name="12345热线",
        integration="hotline-12345",
        user=user,
        permissions=permissions,
        units=units,
        by=by,
    )
    db.session.commit()
    return token, secret


def auth(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def case_body(**overrides) -> dict:
    body = {
        "external_id": "12345-20261201-0001",
        "channel": "call",
        "subject": "小区路灯损坏",
        "content": "幸福小区3号楼前路灯已坏两周。",
        "demands": "尽快修复",
        "petitioner": {"name": "李热线", "phone": "13800138000"},
        "line_number": "12345",
        "caller_number": "13800138000",
    }
    body.update(overrides)
    return body


def in_unit(case: Case, unit: Unit) -> Case:
    case.handling_unit_id = unit.id
    db.session.commit()
    return case


# -- tokens -----------------------------------------------------------------------------------


def test_token_lifecycle_through_settings_screen(api, client, create_user, login_as):
    admin = create_user("admin")
    login_as(admin)
    form = client.get("/admin/apitoken/new")
    assert form.status_code == 200 and "代表的账号" in form.get_data(as_text=True)
    response = client.post(
        "/admin/apitoken/new",
        data={
            "name": "12345热线",
            "integration": "hotline-12345",
            "account": "system",
            "permissions": ["case.view", "case.register"],
        },
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    secret = SECRET.search(response.get_data(as_text=True)).group(1).strip()
    token = db.session.scalars(sa.select(ApiToken)).one()
    # Only the hash is kept, nowhere the secret, not in the audit log either.
    assert token.token_hash == hash_token(secret) and secret not in token.token_hash
    assert token.user.username == "api-integration" and token.last_used_at is None
    logged = " ".join(str(row.data) for row in db.session.scalars(sa.select(AuditEntry)))
    assert secret not in logged and token.token_hash not in logged
    # The list shows the token's start, never the secret.
    listing = client.get("/admin/apitoken/").get_data(as_text=True)
    assert token.prefix in listing and secret not in listing

    # Another system: no cookie of the admin's session.
    used = api.test_client().get("/api/v1/changes", headers=auth(secret))
    assert used.status_code == 200
    # No session: an API answer sets no cookie and may not be cached.
    assert "Set-Cookie" not in used.headers and used.headers["Cache-Control"] == "no-store"
    db.session.expire_all()
    assert db.session.get(ApiToken, token.id).last_used_at is not None

    login_as(admin)
    assert client.post(f"/admin/apitoken/{token.id}/revoke").status_code == 302
    refused = client.get("/api/v1/changes", headers=auth(secret))
    assert refused.status_code == 401
    assert refused.is_json and "令牌" in refused.get_json()["message"]
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")


def test_settings_screen_refuses_bad_input_and_other_roles(api, client, create_user, login_as):
    handler = create_user("handler")
    login_as(handler)
    assert client.get("/admin/apitoken/").status_code == 403
    assert client.post("/admin/apitoken/new", data={"name": "x"}).status_code == 403
    login_as(create_user("admin"))
    page = client.post(
        "/admin/apitoken/new",
        data={
            "name": "坏令牌",
            "integration": "热线 12345",
            "account": "system",
            "permissions": ["case.view"],
        },
    )
    assert page.status_code == 200 and "对接系统代码只能由" in page.get_data(as_text=True)
    # A handler cannot be given 查看全部单位 through a token.
    page = client.post(
        "/admin/apitoken/new",
        data={
            "name": "越权",
            "integration": "oa",
            "account": str(handler.id),
            "permissions": ["case.view_all"],
        },
    )
    assert "本身没有此权限" in page.get_data(as_text=True)
    assert count(ApiToken) == 0


def test_missing_or_wrong_token_is_401_in_json(api, client):
    for headers in ({}, {"Authorization": "Bearer xft_nope"}, {"Authorization": "Basic abc"}):
        response = client.get("/api/v1/changes", headers=headers)
        assert response.status_code == 401 and response.is_json
        assert response.get_json()["code"] == 401
    refused = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "api_refused")
    ).all()
    assert len(refused) == 3


def test_docs_and_openapi_need_no_token(api, client):
    spec = client.get("/api/v1/openapi.json")
    assert spec.status_code == 200
    paths = spec.get_json()["paths"]
    assert {"/api/v1/cases", "/api/v1/cases/{number}", "/api/v1/changes"} <= set(paths)
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and "登记事项" in page.get_data(as_text=True)
    unknown = client.get("/api/v1/nothing-here")
    assert unknown.status_code == 404 and unknown.is_json


# -- registering ---------------------------------------------------------------------------------


def test_idempotent_registration_makes_exactly_one_case(api, client, create_user):
    _token, secret = new_token(by=create_user("admin"))
    first = client.post("/api/v1/cases", json=case_body(), headers=auth(secret))
    assert first.status_code == 201, first.get_json()
    again = client.post("/api/v1/cases", json=case_body(), headers=auth(secret))
    assert again.status_code == 200
    assert again.get_json()["number"] == first.get_json()["number"]
    assert first.get_json()["external_id"] == "12345-20261201-0001"
    assert count(Case) == 1 and count(ApiCaseLink) == 1 and count(Call) == 1
    case = db.session.scalars(sa.select(Case)).one()
    assert case.channel == CaseChannel.call and case.created_by.username == "api-integration"
    call = db.session.scalars(sa.select(Call)).one()
    assert call.line_number == "12345" and call.caller.name == "李热线"
    # The same id with other content is the caller's mistake: 409, nothing new.
    clash = client.post("/api/v1/cases", json=case_body(subject="另一件事"), headers=auth(secret))
    assert clash.status_code == 409 and "外部编号" in clash.get_json()["message"]
    assert count(Case) == 1
    # Another channel from the allowed list goes through register_case.
    online = client.post(
        "/api/v1/cases",
        json=case_body(external_id="oa-7", channel="online", anonymous=True, petitioner=None),
        headers=auth(secret),
    )
    assert online.status_code == 201
    assert online.get_json()["channel"] == "online" and online.get_json()["petitioners"] == []
    assert count(Case) == 2 and count(Call) == 1


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (case_body(subject=""), "subject", "必填"),
        (case_body(subject="题" * 201), "subject", "不能超过"),
        (case_body(channel="visit"), "channel", "取值应为"),
        (case_body(content="内容\x00"), "content", "控制字符"),
        (case_body(received_at="昨天"), "received_at", "日期时间格式"),
        (case_body(received_at="2999-01-01T00:00:00+08:00"), "received_at", "1900"),
        (case_body(category_id=2**40), "category_id", "之间"),
        (case_body(category_id="1"), "category_id", "整数"),
        (case_body(anonymous="yes"), "anonymous", "true"),
        (case_body(colour="red"), "colour", "不认识"),
        (case_body(petitioner={"name": "张三", "phone": "12"}), "phone", "电话"),
        (case_body(petitioner=None), "petitioner", "匿名"),
        (case_body(category_id=999999), "category_id", "分类"),
        (case_body(received_at="2030-01-01T00:00:00+08:00"), "received_at", "不能晚于"),
    ],
)
def test_validation_errors_are_400_in_chinese_and_change_nothing(
    api, client, create_user, body, field, words
):
    _token, secret = new_token(by=create_user("admin"))
    before = (count(Case), count(Party), count(ApiCaseLink), count(Call))
    response = client.post("/api/v1/cases", json=body, headers=auth(secret))
    assert response.status_code == 400, response.get_json()
    payload = response.get_json()
    assert payload["message"]
    found = str(payload["errors"])
    assert field in found and words in found, payload
    assert (count(Case), count(Party), count(ApiCaseLink), count(Call)) == before


def test_body_that_is_no_json_object_is_400(api, client, create_user):
    _token, secret = new_token(by=create_user("admin"))
    for data in ("{", "[1, 2]", '"text"'):
        response = client.post(
            "/api/v1/cases", data=data, content_type="application/json", headers=auth(secret)
        )
        assert response.status_code == 400 and response.is_json, data
    assert count(Case) == 0


def test_token_without_register_permission_gets_403(api, client, create_user):
    _token, secret = new_token(permissions=("case.view",), by=create_user("admin"))
    response = client.post("/api/v1/cases", json=case_body(), headers=auth(secret))
    assert response.status_code == 403 and "权限" in response.get_json()["message"]
    assert count(Case) == 0


# -- scoping ------------------------------------------------------------------------------------


def test_unit_scoping_and_idor_matrix(api, client, create_user, create_case, units):
    unit_a, unit_b = units
    admin = create_user("admin")
    office = create_user("office")
    handler_a = create_user("handler", unit=unit_a)
    registrar = create_user("registrar")
    case_a = in_unit(create_case(subject="甲单位事项", by=registrar), unit_a)
    case_b = in_unit(create_case(subject="乙单位事项", by=registrar), unit_b)

    _t, scoped = new_token(office, ("case.view", "case.view_all"), [unit_a], by=admin)
    _t, unscoped = new_token(office, ("case.view", "case.view_all"), by=admin)
    _t, own_unit = new_token(handler_a, ("case.view",), by=admin)
    _t, narrowed = new_token(office, ("case.view",), by=admin)  # office without 查看全部单位
    _t, blind = new_token(office, ("case.register",), by=admin)
    _t, elsewhere = new_token(handler_a, ("case.view",), [unit_b], by=admin)  # A's handler, B only

    def status(secret, case, suffix=""):
        return client.get(f"/api/v1/cases/{case.number}{suffix}", headers=auth(secret)).status_code

    matrix = {
        scoped: (200, 404),
        unscoped: (200, 200),
        own_unit: (200, 404),
        narrowed: (404, 404),
        blind: (404, 404),
        elsewhere: (404, 404),
    }
    for secret, (a, b) in matrix.items():
        for suffix in ("", "/timeline"):
            assert (status(secret, case_a, suffix), status(secret, case_b, suffix)) == (a, b)
    # Nothing on another unit's case, and no hint that it exists.
    missing = client.get("/api/v1/cases/XF1900-999999", headers=auth(scoped)).get_json()
    foreign = client.get(f"/api/v1/cases/{case_b.number}", headers=auth(scoped)).get_json()
    assert missing == foreign
    posted = client.post(
        f"/api/v1/cases/{case_b.number}/calls", json={"record": "再次来电"}, headers=auth(scoped)
    )
    assert posted.status_code == 404 and count(Call) == 0
    # The changes feed holds the same cases as reading does.
    numbers = {
        item["case_number"]
        for item in client.get("/api/v1/changes", headers=auth(scoped)).get_json()["items"]
    }
    assert numbers == {case_a.number}
    everything = client.get("/api/v1/changes", headers=auth(unscoped)).get_json()["items"]
    assert {item["case_number"] for item in everything} == {case_a.number, case_b.number}
    assert client.get("/api/v1/changes", headers=auth(blind)).status_code == 403


def test_scoped_token_reads_what_its_system_registered(api, client, create_user, units):
    unit_a, _unit_b = units
    _t, secret = new_token(
        permissions=("case.view", "case.view_all", "case.register"),
        units=[unit_a],
        by=create_user("admin"),
    )
    number = client.post("/api/v1/cases", json=case_body(), headers=auth(secret)).get_json()[
        "number"
    ]
    # Not yet handed to any unit, but its own system registered it.
    assert client.get(f"/api/v1/cases/{number}", headers=auth(secret)).status_code == 200


def test_token_scope_rule_and_its_sql_twin_agree(api, client, create_user, create_case, units):
    unit_a, unit_b = units
    admin, registrar = create_user("admin"), create_user("registrar")
    handler_b = create_user("handler", unit=unit_b)
    cases = [
        in_unit(create_case(subject="甲", by=registrar), unit_a),
        in_unit(create_case(subject="乙", by=registrar), unit_b),
        create_case(subject="无单位", by=registrar),
    ]
    tokens = [
        new_token(registrar, ("case.view", "case.view_all"), [unit_a], by=admin)[0],
        new_token(registrar, ("case.view", "case.view_all"), by=admin)[0],
        new_token(handler_b, ("case.view",), [unit_a, unit_b], by=admin)[0],
        new_token(registrar, ("case.register",), by=admin)[0],
    ]
    # A case the first token's system registered, in no unit yet.
    scoped_secret = new_token(
        None, ("case.view", "case.view_all", "case.register"), [unit_a], by=admin
    )[1]
    number = client.post("/api/v1/cases", json=case_body(), headers=auth(scoped_secret))
    cases.append(
        db.session.scalar(sa.select(Case).where(Case.number == number.get_json()["number"]))
    )
    tokens.append(db.session.scalars(sa.select(ApiToken).order_by(ApiToken.id.desc())).first())
    for token in tokens:
        principal = ApiPrincipal(token)
        in_python = {case.id for case in cases if api_token_sees_case(token, case)}
        in_sql = set(db.session.scalars(sa.select(Case.id).where(api_token_cases_clause(token))))
        assert in_python == in_sql, token.name
        readable = {case.id for case in cases if may_read_case(principal, case)}
        selected = set(
            db.session.scalars(sa.select(Case.id).where(readable_cases_clause(principal)))
        )
        assert readable == selected, token.name


# -- masking -------------------------------------------------------------------------------------


def test_reporter_of_a_report_is_masked_like_in_the_admin(
    api, client, create_user, create_case, create_party, units
):
    unit_a, _unit_b = units
    admin, office = create_user("admin"), create_user("office")
    handler = create_user("handler", unit=unit_a)
    reporter = create_party("王举报", phone="13900139000")
    case = create_case(
        subject="举报某单位",
        category=category(CategoryKind.report),
        petitioners=[reporter],
        by=office,
    )
    in_unit(case, unit_a)
    _t, plain = new_token(handler, ("case.view",), by=admin)
    _t, cleared = new_token(office, ("case.view", "case.view_all", "confidential.view"), by=admin)
    _t, uncleared = new_token(office, ("case.view", "case.view_all"), by=admin)

    hidden = client.get(f"/api/v1/cases/{case.number}", headers=auth(plain)).get_json()
    assert hidden["confidential"] is True and hidden["petitioners"] == [str(MASK)]
    timeline = client.get(f"/api/v1/cases/{case.number}/timeline", headers=auth(plain))
    assert "王举报" not in timeline.get_data(as_text=True)
    assert "13900139000" not in timeline.get_data(as_text=True)
    # The office registered this case: its account is in the reporter's circle, as in the
    # admin, whatever the token's permissions (the next test has a registrar's case).
    circle = client.get(f"/api/v1/cases/{case.number}", headers=auth(uncleared)).get_json()
    assert circle["petitioners"] == ["王举报"]
    shown = client.get(f"/api/v1/cases/{case.number}", headers=auth(cleared)).get_json()
    assert shown["petitioners"] == ["王举报"]
    views = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "confidential_view")
    ).all()
    assert any(row.data.get("surface") == "api" for row in views)


def test_report_registered_by_others_is_masked_for_a_token_without_clearance(
    api, client, create_user, create_case, create_party, units
):
    unit_a, _unit_b = units
    admin, registrar = create_user("admin"), create_user("registrar")
    office = create_user("office")
    case = create_case(
        subject="举报",
        category=category(CategoryKind.report),
        petitioners=[create_party("赵举报")],
        by=registrar,
    )
    in_unit(case, unit_a)
    _t, uncleared = new_token(office, ("case.view", "case.view_all"), by=admin)
    body = client.get(f"/api/v1/cases/{case.number}", headers=auth(uncleared)).get_json()
    assert body["petitioners"] == [str(MASK)]


# -- contacts, changes, limits, audit ------------------------------------------------------------


def test_add_call_counts_a_repeat(api, client, create_user):
    _t, secret = new_token(by=create_user("admin"))
    number = client.post("/api/v1/cases", json=case_body(), headers=auth(secret)).get_json()[
        "number"
    ]
    response = client.post(
        f"/api/v1/cases/{number}/calls",
        json={"record": "再次来电催问进度", "caller_name": "李热线", "caller_phone": "13800138000"},
        headers=auth(secret),
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["repeat_count"] == 1
    assert count(Call) == 2
    bad = client.post(f"/api/v1/cases/{number}/calls", json={"record": ""}, headers=auth(secret))
    assert bad.status_code == 400 and count(Call) == 2
    kinds = [
        event["kind"]
        for event in client.get(
            f"/api/v1/cases/{number}/timeline", headers=auth(secret)
        ).get_json()["events"]
    ]
    assert kinds.count("call_added") == 2


def test_changes_cursor_pages_without_gaps_or_repeats(api, client, create_user):
    _t, secret = new_token(by=create_user("admin"))
    for index in range(3):
        body = case_body(external_id=f"c{index}", subject=f"事项{index}")
        assert client.post("/api/v1/cases", json=body, headers=auth(secret)).status_code == 201
    seen, cursor, pages = [], 0, 0
    while True:
        page = client.get(f"/api/v1/changes?cursor={cursor}&limit=2", headers=auth(secret))
        payload = page.get_json()
        seen += [item["cursor"] for item in payload["items"]]
        cursor, pages = payload["next_cursor"], pages + 1
        if not payload["has_more"]:
            break
    assert pages >= 2 and seen == sorted(set(seen))
    total = db.session.scalar(sa.text("select count(*) from case_events"))
    assert len(seen) == total
    # At the end: nothing new, the same cursor back; a new event appears after it.
    tail = client.get(f"/api/v1/changes?cursor={cursor}", headers=auth(secret)).get_json()
    assert tail == {"items": [], "next_cursor": cursor, "has_more": False}
    client.post("/api/v1/cases", json=case_body(external_id="c9"), headers=auth(secret))
    fresh = client.get(f"/api/v1/changes?cursor={cursor}", headers=auth(secret)).get_json()
    assert fresh["items"] and all(item["cursor"] > cursor for item in fresh["items"])
    for bad in ("cursor=-1", "cursor=abc", "limit=0", "limit=500", "cursor=99999999999999"):
        response = client.get(f"/api/v1/changes?{bad}", headers=auth(secret))
        assert response.status_code == 400 and response.is_json, bad


def test_rate_limit_per_token(api, client, create_user, monkeypatch):
    monkeypatch.setitem(api.config, "API_RATE_LIMITS", "2 per minute")
    admin = create_user("admin")
    _t, first = new_token(by=admin)
    _t, second = new_token(by=admin)
    for _ in range(2):
        assert client.get("/api/v1/changes", headers=auth(first)).status_code == 200
    limited = client.get("/api/v1/changes", headers=auth(first))
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert "频繁" in limited.get_json()["message"]
    # Another token is counted on its own.
    assert client.get("/api/v1/changes", headers=auth(second)).status_code == 200


def test_every_api_call_is_audited(api, client, create_user):
    token, secret = new_token(by=create_user("admin"))
    number = client.post("/api/v1/cases", json=case_body(), headers=auth(secret)).get_json()[
        "number"
    ]
    client.get(f"/api/v1/cases/{number}", headers=auth(secret))
    client.post("/api/v1/cases", json={"subject": ""}, headers=auth(secret))
    rows = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "api_call").order_by(AuditEntry.id)
    ).all()
    assert [row.data["status"] for row in rows] == [201, 200, 400]
    assert all(row.data["token"] == token.id for row in rows)
    assert rows[0].target_type == "cases" and rows[0].username == "api-integration"
    # The case's own change rows name the system account too.
    created = db.session.scalars(
        sa.select(AuditEntry).where(
            AuditEntry.action == "create", AuditEntry.target_type == "cases"
        )
    ).one()
    assert created.username == "api-integration"


def test_system_account_is_not_staff(api):
    from models.users import is_staff

    assert not is_staff(api_actor())
    assert db.session.scalar(sa.select(User).where(User.username == "api-integration"))


# -- the contract, from the OpenAPI description -----------------------------------------------


def test_contract_generated_from_openapi(api, create_user, create_case):
    """Every documented operation, with generated valid and invalid input: no 500, and every
    answer (status, content type, body) as the description says. Bounded: few examples."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    admin = create_user("admin")
    create_case(subject="已有事项", by=admin)
    _t, secret = new_token(permissions=("case.view", "case.view_all", "case.register"), by=admin)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", api)
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 5
    answers: list[int] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=5,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case):
                response = case.call_and_validate(headers=auth(secret), checks=checks)
                answers.append(response.status_code)

            check()
    # Requests were really made, and both accepted and refused ones were among them.
    assert len(answers) >= 20
    assert any(code < 300 for code in answers) and any(code == 400 for code in answers)
    assert not any(code >= 500 for code in answers)


def test_a_staff_session_opens_no_api_endpoint(api, client, create_user, login_as):
    """The API answers bearer tokens only: a signed-in admin's cookie is not enough."""
    login_as(create_user("admin"))
    for method, url in (
        ("GET", "/api/v1/changes"),
        ("GET", "/api/v1/cases/XF2026-000001"),
        ("GET", "/api/v1/cases/XF2026-000001/timeline"),
        ("POST", "/api/v1/cases"),
        ("POST", "/api/v1/cases/XF2026-000001/calls"),
    ):
        response = client.open(url, method=method, json={})
        assert response.status_code == 401 and response.is_json, (method, url)
    assert count(Case) == 0


def test_guessing_tokens_is_throttled_per_address(api, client, monkeypatch):
    monkeypatch.setitem(api.config, "API_AUTH_FAILURE_LIMITS", "3 per minute")
    answers = [
        client.get("/api/v1/changes", headers=auth(f"xft_guess{n}")).status_code for n in range(4)
    ]
    assert answers == [401, 401, 401, 429]


def test_token_screen_keeps_the_admin_input_checks(api, client, create_user, login_as):
    """The API's own input handling does not switch off the admin's for the tokens screen."""
    login_as(create_user("admin"))
    page = client.post(
        "/admin/apitoken/new",
        data={
            "name": "热线\x1b",
            "integration": "hotline",
            "account": "system",
            "permissions": ["case.view"],
        },
    )
    assert page.status_code == 200 and count(ApiToken) == 0


def test_the_same_id_arriving_twice_at_once_still_makes_one_case(
    api, client, create_user, monkeypatch
):
    """Two requests with one external id pass the look-up together: the second one's link
    hits the unique index, is rolled back whole and answers with the first one's case."""
    import models.operations.api as service

    _t, secret = new_token(by=create_user("admin"))
    first = client.post("/api/v1/cases", json=case_body(), headers=auth(secret)).get_json()
    real = service.external_link
    calls = []

    def late(principal, external_id):
        calls.append(external_id)
        # The first look-up happens before the other request's commit.
        return None if len(calls) == 1 else real(principal, external_id)

    monkeypatch.setattr(service, "external_link", late)
    second = client.post("/api/v1/cases", json=case_body(), headers=auth(secret))
    assert second.status_code == 200 and second.get_json()["number"] == first["number"]
    assert len(calls) == 2
    assert count(Case) == 1 and count(ApiCaseLink) == 1 and count(Call) == 1


def test_token_of_a_deactivated_account_or_a_dropped_permission_stops(api, client, create_user):
    admin = create_user("admin")
    registrar = create_user("registrar")
    _t, secret = new_token(registrar, ("case.view", "case.register"), by=admin)
    assert client.get("/api/v1/changes", headers=auth(secret)).status_code == 200
    # The account's role no longer registers: neither does its token.
    role = registrar.roles[0]
    role.permissions = [p for p in role.permissions if p != "case.register"]
    db.session.commit()
    refused = client.post("/api/v1/cases", json=case_body(), headers=auth(secret))
    assert refused.status_code == 403 and count(Case) == 0
    registrar.is_active_user = False
    db.session.commit()
    assert client.get("/api/v1/changes", headers=auth(secret)).status_code == 401
