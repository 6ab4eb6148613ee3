"""Access control, confidentiality and data safety (issue 6): every rule in the URL map, the
permission matrix, another unit's case on every surface, whistleblower masking, the audit log,
sessions, throttling, headers, lost updates and exports."""

from __future__ import annotations

import csv
import io
import re
import time
import zipfile
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import g

from models import AuditEntry, Case, Category, Letter, Party, Unit, db
from models.audit import AuditAction
from models.base import utcnow
from models.enums import CaseChannel, CategoryKind
from models.operations.audit_log import AuditLogIsAppendOnly
from models.permissions import DEFAULT_ROLES, PERMISSIONS
from tests.conftest import build_app

ROLES = list(DEFAULT_ROLES)
#: Path parameters for rules with converters, so every rule can be requested.
SAMPLE_ARGUMENTS = {"integer": 1, "unicode": "x", "path": "x"}


def _url(rule) -> str:
    values = {}
    for name, converter in (rule._converters or {}).items():
        kind = type(converter).__name__.replace("Converter", "").lower()
        values[name] = SAMPLE_ARGUMENTS.get(kind, "x")
        if name == "export_type":
            values[name] = "csv"
    url = rule.rule
    for name, value in values.items():
        url = re.sub(rf"<[^>]*{name}>", str(value), url)
    return url


PUBLIC_ENDPOINTS = {
    "static",
    "admin.static",
    "admin.login_view",
    "switch_language",
    "home",
    # Load-balancer probes (issue 17): no records, no session.
    "healthz",
    "readyz",
}


#: The JSON API (admin_views/api): no session and no CSRF token, a bearer token instead.
API_ENDPOINT_PREFIXES = ("api_v1.", "api-docs.", "api_docs.")


def _is_public(rule) -> bool:
    # The petition blueprint (网上信访) is for the public: tests/test_portal_issue18.py.
    return (
        rule.endpoint in PUBLIC_ENDPOINTS
        or rule.endpoint.endswith(".static")
        or rule.endpoint.startswith("petition.")
        # The JSON API authenticates by token, not session: tests/test_api_issue18.py.
        or rule.endpoint.startswith(API_ENDPOINT_PREFIXES)
    )


# -- every rule in the URL map ----------------------------------------------------------
def test_every_rule_sends_anonymous_users_to_login(client):
    checked = 0
    for rule in client.application.url_map.iter_rules():
        if _is_public(rule):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(_url(rule), method=method)
            assert response.status_code == 302, (rule.rule, method, response.status_code)
            assert "/admin/login/" in response.headers["Location"], rule.rule
            checked += 1
    assert checked > 100


def test_every_non_get_rule_refuses_a_request_without_csrf_token(
    tmp_path_factory, create_user, backend
):
    if backend != "sqlite":
        pytest.skip("the check happens before any database access")
    app = build_app("sqlite", tmp_path_factory, WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.create_all()
        from models.maintenance.presets import ensure_roles

        ensure_roles()
        from models.operations.users import create_user as create_account

        user = create_account(
            username="csrf", full_name="测试", password="secret123", role_codes=["admin"]
        )
        db.session.commit()
        client = app.test_client()
        with client.session_transaction() as session:
            session["_user_id"] = user.session_token
        posts = 0
        for rule in app.url_map.iter_rules():
            # The JSON API takes no CSRF token: it ignores the session cookie altogether and
            # refuses whatever comes without a bearer token (401; unknown addresses 404).
            refused = (401, 404) if rule.endpoint.startswith(API_ENDPOINT_PREFIXES) else (400,)
            for method in rule.methods - {"GET", "HEAD", "OPTIONS"}:
                response = client.open(_url(rule), method=method, data={"id": "1"})
                assert response.status_code in refused, (rule.rule, method)
                posts += 1
        assert posts > 50
        db.session.remove()


# -- the permission matrix -----------------------------------------------------------------
def _model_views(app):
    return [view for view in app.extensions["admin"][0]._views if hasattr(view, "model")]


def test_permission_matrix_follows_each_views_declared_permissions(
    app, create_user, login_as, government
):
    """Every role x every model view: list, create form and export answer as the role allows."""
    for role in ROLES:
        user = create_user(role)
        client = login_as(user)
        for view in _model_views(app):
            if view.permission_any:
                may_view = any(user.has_permission(name) for name in view.permission_any)
            else:
                may_view = view.permission_view is None or user.has_permission(view.permission_view)
            listing = client.get(f"/admin/{view.endpoint}/")
            assert listing.status_code == (200 if may_view else 403), (role, view.endpoint)
            if not may_view:
                continue
            create_permission = view.permission_create or "user.manage"
            may_create = view.allow_create and user.has_permission(create_permission)
            created = client.get(f"/admin/{view.endpoint}/new/")
            assert created.status_code == (200 if may_create else 302), (role, view.endpoint)
            if hasattr(view, "may_export"):
                exported = client.get(f"/admin/{view.endpoint}/export/csv/")
                expected = 200 if user.has_permission("case.export") else 403
                assert exported.status_code == expected, (role, view.endpoint)


def test_permission_matrix_for_every_workflow_step(app, create_user, create_case, login_as):
    """Every role x every step: the step page is refused (403) exactly without its permission."""
    from models.operations.workflow import STEPS, step_permissions

    unit = Unit(name="测试科", kind="department")
    db.session.add(unit)
    db.session.commit()
    users = {role: create_user(role, unit=unit) for role in ROLES}
    case = create_case(by=users["registrar"], handling_unit=unit)
    for role, user in users.items():
        client = login_as(user)
        for code, step in STEPS.items():
            response = client.get(f"/admin/workflow/{code}/{case.id}/")
            allowed = any(user.has_permission(name) for name in step_permissions(step, case))
            if allowed:
                assert response.status_code in (200, 302), (role, code)
            else:
                assert response.status_code == 403, (role, code)


def test_every_permission_is_granted_to_some_default_role():
    granted = set().union(*(permissions for _name, permissions in DEFAULT_ROLES.values()))
    assert granted == set(PERMISSIONS)


# -- another unit's case on every surface ------------------------------------------------
@pytest.fixture
def two_units(app, government):
    units = db.session.scalars(sa.select(Unit).where(Unit.parent_id.is_not(None))).all()
    return units[0], units[1]


# -- whistleblower protection ------------------------------------------------------------
@pytest.fixture
def report_case(app, create_user, create_case, government, two_units):
    """A 举报 case in unit A registered by a registrar, with a letter, a call and a file."""
    from models import Attachment, Call
    from models.operations.attachments import store_attachment
    from models.operations.contacts import register_contact

    unit, _other = two_units
    category = db.session.scalar(sa.select(Category).where(Category.kind == CategoryKind.report))
    registrar = create_user("registrar")
    reporter = Party(name="王举报", phone="13900001111")
    db.session.add(reporter)
    db.session.commit()
    case = create_case(
        by=registrar,
        petitioners=[reporter],
        category=category,
        handling_unit=unit,
        subject="举报某科室违规收费",
    )
    register_contact(
        Letter(received_at=utcnow() - timedelta(hours=1), writer=reporter), by=registrar, case=case
    )
    register_contact(
        Call(
            called_at=utcnow() - timedelta(hours=1),
            caller=reporter,
            caller_number="13900001111",
            record="电话举报",
        ),
        by=registrar,
        case=case,
    )
    store_attachment(
        Attachment(case=case, kind="scanned_letter", title="举报信原件"),
        filename="original.txt",
        data=b"original",
        by=registrar,
    )
    db.session.commit()
    return case


# Every surface x every role outside the circle: tests/test_masking_matrix.py. Every rule of the
# URL map x another unit's records: tests/test_access_matrix.py.


def test_department_colleague_outside_the_chain_does_not_see_the_reporter(
    report_case, create_user, login_as
):
    colleague = create_user("handler", unit=report_case.handling_unit)
    text = login_as(colleague).get(f"/admin/case/details/?id={report_case.id}")
    assert report_case.number in text.get_data(as_text=True)
    assert "王举报" not in text.get_data(as_text=True)


def test_owner_chain_and_confidential_permission_see_the_reporter_and_are_audited(
    report_case, create_user, login_as
):
    head = create_user("dept_head", unit=report_case.handling_unit)
    leader = create_user("leader")
    for user in (head, leader):
        client = login_as(user)
        page = client.get(f"/admin/case/details/?id={report_case.id}").get_data(as_text=True)
        assert "王举报" in page
        # Lists never show the reporter, whoever looks.
        assert "王举报" not in client.get("/admin/case/").get_data(as_text=True)
        views = db.session.scalars(
            sa.select(AuditEntry).where(
                AuditEntry.action == AuditAction.confidential_view,
                AuditEntry.user_id == user.id,
            )
        ).all()
        assert [(v.target_type, v.target_id) for v in views] == [("cases", str(report_case.id))]


def test_timeline_hides_identity_changes_from_users_outside_the_chain(
    report_case, create_user, login_as
):
    from models.operations.cases import record_case_edit

    office = create_user("office")
    report_case.petitioners = [Party(name="李另一人")]
    record_case_edit(report_case, by=office)
    db.session.commit()
    page = login_as(create_user("supervisor")).get(f"/admin/case/details/?id={report_case.id}")
    text = page.get_data(as_text=True)
    assert "李另一人" not in text and "王举报" not in text


# -- audit log ---------------------------------------------------------------------------
def _audit(action=None, table=None):
    query = sa.select(AuditEntry).order_by(AuditEntry.id)
    if action:
        query = query.where(AuditEntry.action == action)
    if table:
        query = query.where(AuditEntry.target_type == table)
    return db.session.scalars(query).all()


def test_changes_are_audited_with_before_and_after(create_user, create_case, login_as):
    case = create_case(subject="原标题")
    created = _audit(AuditAction.create, "cases")
    assert created[-1].target_id == str(case.id)
    assert created[-1].data["after"]["subject"] == "原标题"
    office = create_user("office")
    client = login_as(office)
    page = client.get(f"/admin/case/edit/?id={case.id}").get_data(as_text=True)
    token = re.search(r'name="expected_version" type="hidden" value="([^"]+)"', page).group(1)
    client.post(
        f"/admin/case/edit/?id={case.id}",
        data={
            "channel": "letter",
            "received_at": (utcnow() - timedelta(hours=3)).strftime("%Y-%m-%d %H:%M"),
            "priority": "normal",
            "subject": "新标题",
            "content": "内容",
            "head_count": "1",
            "expected_version": token,
        },
    )
    update = _audit(AuditAction.update, "cases")[-1]
    assert update.data["before"]["subject"] == "原标题"
    assert update.data["after"]["subject"] == "新标题"
    assert update.user_id == office.id and update.username == office.username
    client.post("/admin/case/delete/", data={"id": case.id})
    assert _audit(AuditAction.delete, "cases")[-1].target_id == str(case.id)


def test_audit_rows_cannot_be_changed_or_deleted(app, create_user):
    create_user("office")
    entry = _audit()[0]
    entry.summary = "改写"
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEntry, entry.id))
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.flush()
    db.session.rollback()


@pytest.mark.own_connections
def test_audit_log_screen_is_read_only_with_filters(create_user, login_as, client):
    admin = create_user("admin", password="right123")
    client.post("/admin/login/", data={"username": admin.username, "password": "wrong999"})
    client.post("/admin/login/", data={"username": admin.username, "password": "right123"})
    page = client.get("/admin/auditlog/?flt0_0=login_failed").get_data(as_text=True)
    assert "登录失败" in page and admin.username in page
    rows = len(_audit())
    assert client.get("/admin/auditlog/new/").status_code == 302
    entry = _audit()[0]
    assert client.get(f"/admin/auditlog/edit/?id={entry.id}").status_code == 302
    client.post("/admin/auditlog/delete/", data={"id": entry.id})
    client.post("/admin/auditlog/action/", data={"action": "delete", "rowid": [entry.id]})
    db.session.expire_all()
    assert db.session.get(AuditEntry, entry.id) is not None
    assert len(_audit()) >= rows
    handler = login_as(create_user("handler"))
    assert handler.get("/admin/auditlog/").status_code == 403


@pytest.mark.own_connections
def test_logins_exports_and_refusals_are_audited(client, create_user, create_case, login_as):
    user = create_user("office", password="right123")
    client.post("/admin/login/", data={"username": "nobody", "password": "x"})
    client.post("/admin/login/", data={"username": user.username, "password": "right123"})
    failed = _audit(AuditAction.login_failed)
    assert failed[-1].data["username"] == "nobody" and failed[-1].user_id is None
    assert _audit(AuditAction.login)[-1].user_id == user.id
    client.get("/admin/case/export/csv/?search=abc").get_data()
    export = _audit(AuditAction.export)[-1]
    assert export.user_id == user.id and export.data["query"] == {"search": ["abc"]}
    login_as(create_user("handler")).get("/admin/user/")
    assert _audit(AuditAction.denied)[-1].summary == "GET /admin/user/"


def test_workflow_steps_are_audited(create_user, create_case):
    from models.operations.workflow import perform

    case = create_case()
    perform("accept", case, by=create_user("office"))
    db.session.commit()
    rows = _audit(AuditAction.update, "cases")
    assert rows[-1].data["after"]["status"] == "accepted"
    assert _audit(AuditAction.create, "case_events")[-1].data["after"]["kind"] == "accept"


# -- sessions and login ------------------------------------------------------------------
@pytest.mark.own_connections
def test_login_throttle_per_account_with_the_same_answer_for_unknown_users(client, create_user):
    user = create_user("office", password="right123")
    for _attempt in range(10):
        client.post("/admin/login/", data={"username": user.username, "password": "wrong999"})
    blocked = client.post("/admin/login/", data={"username": user.username, "password": "right123"})
    assert "登录失败次数过多" in blocked.get_data(as_text=True)
    assert "_user_id" not in _session(client)
    for _attempt in range(11):
        unknown = client.post("/admin/login/", data={"username": "ghost", "password": "x1"})
    assert "登录失败次数过多" in unknown.get_data(as_text=True)


def test_login_throttle_in_redis(app):
    redis = pytest.importorskip("redis")
    from admin_views.security import LoginThrottle, RedisCounter

    client = redis.Redis.from_url("redis://127.0.0.1:6379/6", socket_timeout=1)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis server")
    throttle = LoginThrottle(
        RedisCounter(client), max_failures=3, window=60, max_failures_per_address=5
    )
    name = f"redis-test-{time.time_ns()}"
    other = name + "-other"
    for _attempt in range(3):
        assert not throttle.is_blocked(name, "10.0.0.1")
        throttle.record_failure(name, "10.0.0.1")
    block = throttle.block(name, "10.0.0.1")
    assert block is not None and not block.per_address and 0 < block.seconds <= 60
    assert not throttle.is_blocked(name, "10.0.0.2")  # the same account from another address
    assert not throttle.is_blocked(other, "10.0.0.1")  # another account from the same address
    throttle.record_failure(other, "10.0.0.1")
    throttle.record_failure(other, "10.0.0.1")
    assert throttle.block(other, "10.0.0.1").per_address  # 5 failures: the address ceiling
    throttle.record_success(name, "10.0.0.1")
    assert throttle.block(name, "10.0.0.1").per_address  # success clears only the pair
    keys = {*throttle.keys(name, "10.0.0.1"), *throttle.keys(other, "10.0.0.1")}
    client.delete(*[RedisCounter.prefix + key for key in keys])


def _session(client) -> dict:
    with client.session_transaction() as session:
        return dict(session)


@pytest.mark.own_connections
def test_idle_and_absolute_timeouts(client, create_user):
    user = create_user("office", password="right123")
    client.post("/admin/login/", data={"username": user.username, "password": "right123"})
    assert client.get("/admin/case/").status_code == 200
    with client.session_transaction() as session:
        session["last_seen"] -= 31 * 60
    g.pop("_login_user", None)
    idle = client.get("/admin/case/")
    assert idle.status_code == 302 and "/admin/login/" in idle.headers["Location"]
    assert "_user_id" not in _session(client)

    client.post("/admin/login/", data={"username": user.username, "password": "right123"})
    with client.session_transaction() as session:
        session["login_at"] -= 12 * 3600 + 1
    g.pop("_login_user", None)
    assert client.get("/admin/case/").status_code == 302


def test_password_change_ends_other_sessions(app, create_user, login_as):
    user = create_user("office", password="right123")
    client = login_as(user)
    assert client.get("/admin/case/").status_code == 200
    user.set_password("another456")
    db.session.commit()
    g.pop("_login_user", None)
    assert client.get("/admin/case/").status_code == 302


@pytest.mark.own_connections
def test_session_cookie_flags_and_security_headers(client, create_user):
    user = create_user("office", password="right123")
    response = client.post(
        "/admin/login/",
        data={"username": user.username, "password": "right123"},
        base_url="https://xf.example",
    )
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    page = client.get("/admin/case/", base_url="https://xf.example")
    policy = page.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'self'" in policy
    scripts = re.findall(r"<script[^>]*>", page.get_data(as_text=True))
    assert scripts and all(f'nonce="{nonce}"' in tag for tag in scripts)
    assert not re.search(r"\son(click|change|submit)=", page.get_data(as_text=True))
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"]
    plain = client.get("/admin/login/")
    assert "Strict-Transport-Security" not in plain.headers


def test_no_stack_trace_reaches_the_user(app, create_user, login_as, monkeypatch):
    from admin_views.cases import CaseView

    def broken(self, *args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(CaseView, "get_list", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        response = login_as(create_user("office")).get("/admin/case/")
    finally:
        app.config["PROPAGATE_EXCEPTIONS"] = None
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "secret internals" not in text and "Traceback" not in text


# -- no lost updates ---------------------------------------------------------------------
def test_two_clients_editing_the_same_letter(app, create_user, create_case):
    from models.operations.contacts import register_contact

    office = create_user("office")
    case = create_case(by=office)
    letter = register_contact(
        Letter(received_at=utcnow() - timedelta(hours=1), summary="原摘要"), by=office, case=case
    )
    db.session.commit()
    first, second = app.test_client(), app.test_client()
    tokens = []
    for client in (first, second):
        with client.session_transaction() as session:
            session["_user_id"] = office.session_token
        g.pop("_login_user", None)
        page = client.get(f"/admin/letter/edit/?id={letter.id}").get_data(as_text=True)
        tokens.append(re.search(r'name="expected_version" type="hidden" value="([^"]+)"', page)[1])
    form = {
        "received_at": (utcnow() - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M"),
        "form": "paper",
        "origin": "direct",
        "envelope_intact": "y",
        "stamp_intact": "y",
    }
    time.sleep(0.01)
    saved = first.post(
        f"/admin/letter/edit/?id={letter.id}",
        data={**form, "summary": "第一人的摘要", "expected_version": tokens[0]},
    )
    assert saved.status_code == 302
    refused = second.post(
        f"/admin/letter/edit/?id={letter.id}",
        data={**form, "summary": "第二人的摘要", "expected_version": tokens[1]},
        follow_redirects=True,
    )
    text = refused.get_data(as_text=True)
    assert "已被他人修改" in text and "第一人的摘要" in text and office.username in text
    db.session.expire_all()
    assert db.session.get(Letter, letter.id).summary == "第一人的摘要"


# -- exports -----------------------------------------------------------------------------
@pytest.mark.own_connections
def test_exports_escape_formulas_and_respect_scope(
    app, create_user, create_case, login_as, two_units
):
    ours, theirs = two_units
    office = create_user("office")
    dangerous = create_case(by=office, subject="=HYPERLINK(1)", handling_unit=ours)
    create_case(by=office, subject="+SUM(A1)", handling_unit=ours)
    create_case(by=office, subject="@cmd", handling_unit=ours)
    hidden = create_case(by=office, subject="别的单位", handling_unit=theirs)
    client = login_as(create_user("dept_head", unit=ours))
    response = client.get("/admin/case/export/csv/")
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    subjects = {row[1] for row in rows[1:]}
    assert subjects == {"'=HYPERLINK(1)", "'+SUM(A1)", "'@cmd"}
    assert hidden.number not in response.get_data(as_text=True)
    filtered = client.get(f"/admin/case/export/csv/?search={dangerous.number}")
    assert len(list(csv.reader(io.StringIO(filtered.get_data(as_text=True))))) == 2

    workbook = client.get("/admin/case/export/xlsx/")
    assert workbook.status_code == 200
    with zipfile.ZipFile(io.BytesIO(workbook.get_data())) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "&apos;=HYPERLINK(1)" in sheet or "'=HYPERLINK(1)" in sheet
    assert "<f>" not in sheet and hidden.number not in sheet


@pytest.mark.own_connections
def test_case_channel_filter_applies_to_export(create_user, create_case, login_as):
    office = create_user("office")
    create_case(by=office, channel=CaseChannel.visit, subject="来访事项")
    create_case(by=office, channel=CaseChannel.letter, subject="来信事项")
    client = login_as(office)
    listing = client.get("/admin/case/?flt0_1=visit").get_data(as_text=True)
    assert "来访事项" in listing and "来信事项" not in listing
    export = client.get("/admin/case/export/csv/?flt0_1=visit").get_data(as_text=True)
    assert "来访事项" in export and "来信事项" not in export


def test_name_search_still_finds_ordinary_cases(create_user, create_case, login_as, create_party):
    case = create_case(petitioners=[create_party("赵普通")], subject="普通投诉")
    page = login_as(create_user("supervisor")).get("/admin/case/?search=赵普通")
    assert case.number in page.get_data(as_text=True)


def test_csv_export_streams_after_the_request_context_is_gone(tmp_path_factory, backend):
    """As in production: the rows are written after the view returned and its session ended."""
    if backend != "sqlite":
        pytest.skip("one backend is enough for the streaming mechanics")
    from models.maintenance.presets import ensure_roles, ensure_settings
    from models.operations.cases import register_case
    from models.operations.users import create_user as create_account

    app = build_app("sqlite", tmp_path_factory)
    with app.app_context():
        db.create_all()
        ensure_roles()
        ensure_settings()
        user = create_account(
            username="exporter", full_name="导出", password="secret123", role_codes=["office"]
        )
        for index in range(3):
            case = Case(
                channel=CaseChannel.letter,
                subject=f"=流式{index}",
                content="内容",
                received_at=utcnow() - timedelta(hours=1),
            )
            register_case(case, by=user)
        db.session.commit()
        token = user.session_token
        db.session.remove()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = token
    response = client.get("/admin/case/export/csv/", buffered=False)
    body = b"".join(response.response).decode("utf-8-sig")
    response.close()
    assert body.count("'=流式") == 3
