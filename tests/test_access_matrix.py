"""The access matrix (issue 13): every rule of ``app.url_map`` x every department role of unit A
x the records of unit B. Each request must be refused (403, 404, a redirect, a Chinese error)
or answer without unit B's record, and no request may change unit B's records.

The rules are enumerated, not listed by hand: a rule that tests/matrix_support.py cannot turn
into requests fails ``test_every_rule_is_in_the_matrix`` with its name, so a new endpoint must
join the matrix before it ships. One population per backend serves the whole module.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
import sqlalchemy as sa
from flask import g
from werkzeug.datastructures import MultiDict

from models import Party, Unit, db
from models.maintenance.presets import load_preset
from models.permissions import DEFAULT_ROLES
from tests.conftest import BACKENDS, fresh_database, sign_in
from tests.matrix_support import (
    Identity,
    Staff,
    answer_text,
    build_world,
    leaks,
    probes_for,
    resident_id,
    url_map_endpoints,
)

#: Department roles confined to their unit: the whole matrix applies to them.
SCOPED_ROLES = [
    code
    for code, (_name, permissions) in DEFAULT_ROLES.items()
    if "case.view" in permissions and "case.view_all" not in permissions
]
#: Roles that see every unit by design (监督 supervises all of them). Reading unit B is their
#: job, so only the changes are checked, and only for a role that may change nothing at all.
#: 领导 (leader) sees all units too and may instruct, sign off and approve visits in any of
#: them, so it is not in this matrix while it holds case.view_all.
READ_ONLY_ROLES = [
    code
    for code, (_name, permissions) in DEFAULT_ROLES.items()
    if "case.view_all" in permissions
    and not permissions
    & {
        "case.edit",
        "case.register",
        "case.delete",
        "callback.manage",
        "attachment.manage",
        "reception.manage",
        "reception.approve",
        "document.print",
        "party.manage",
        "survey.manage",
        "settings.manage",
        "user.manage",
    }
    and not any(p.startswith("workflow.") for p in permissions)
]
ROLES = SCOPED_ROLES + READ_ONLY_ROLES

UNIT_B = Identity(
    token="乙单位QZ7",
    name="乙方甄某某",
    phone="13977770001",
    old_phone="13977770002",
    id_number=resident_id("11010119850307123"),
    email="zhen.qz7@example.cn",
    old_email="old.qz7@example.cn",
    file_name="乙单位QZ7原件.txt",
)


class FormFields(HTMLParser):
    """The values a browser would send for the first form on a page with a submit button."""

    def __init__(self):
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name:
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in attrs:
                    self.fields.append((name, attrs.get("value") or "y"))
            elif kind not in ("submit", "button", "file"):
                self.fields.append((name, attrs.get("value") or ""))
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in attrs:
            self.fields.append((self._select, attrs.get("value") or ""))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, ""

    def handle_data(self, data):
        if self._textarea:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.fields.append((self._textarea, self._text.strip("\n")))
            self._textarea = None


def _form_of(client, url: str) -> list[tuple[str, str]]:
    parser = FormFields()
    parser.feed(client.get(url).get_data(as_text=True))
    return parser.fields


class Matrix:
    """The module's population: unit B's world, unit A's users and their signed-in clients."""

    def __init__(self, app):
        self.app = app
        load_preset("government")
        db.session.commit()
        units = {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}
        office_unit, leaders = units["县信访局"], units["县政府领导"]
        self.unit_a, self.unit_b = units["县住房和城乡建设局"], units["县自然资源局"]
        from models.operations.users import create_user

        def user(role, unit, name):
            account = create_user(
                username=name, full_name=f"{name}", password="secret123", role_codes=[role]
            )
            account.unit = unit
            return account

        self.staff_b = Staff(
            registrar=user("registrar", office_unit, "m_registrar"),
            office=user("office", office_unit, "m_office"),
            leader=user("leader", leaders, "m_leader"),
            handler=user("handler", self.unit_b, "m_b_handler"),
            head=user("dept_head", self.unit_b, "m_b_head"),
        )
        self.admin = user("admin", office_unit, "m_admin")
        self.users = {role: user(role, self.unit_a, f"m_a_{role}") for role in ROLES}
        db.session.commit()
        self.world = build_world(UNIT_B, unit=self.unit_b, staff=self.staff_b)
        # Unit A's own case, so that "omits unit B" is not the same as "shows nothing".
        from models import Case
        from models.enums import CaseChannel
        from models.operations.cases import register_case
        from models.operations.workflow import perform

        own = register_case(
            Case(
                channel=CaseChannel.letter,
                subject="甲单位自己的事项",
                content="甲单位自己的事项内容",
                received_at=self.world.case.received_at,
            ),
            by=self.staff_b.registrar,
        )
        perform("accept", own, by=self.staff_b.registrar)
        handler = self.users.get("handler")
        perform(
            "instruct",
            own,
            by=self.staff_b.leader,
            instruction="请办理",
            handling_unit=self.unit_a,
            handler=handler,
        )
        db.session.commit()
        self.own_case = own
        terms = [UNIT_B.token, UNIT_B.name, UNIT_B.phone, UNIT_B.id_number, self.world.case.number]
        probes, self.unknown = probes_for(app, self.world, search_terms=terms)
        self.probes: dict[str, list] = {}
        for probe in probes:
            self.probes.setdefault(probe.endpoint, []).append(probe)
        self.forbidden = {
            "unit B's text": UNIT_B.token,
            **UNIT_B.secrets,
            **{f"case number {n}": n for n in self.world.numbers},
        }
        self.clients = {}
        self._forms: dict[str, list] = {}
        self.owned = self._owned_rows()

    def client(self, role):
        if role not in self.clients:
            self.clients[role] = sign_in(self.app.test_client(), self.users[role])
        return self.clients[role]

    def admin_form(self, url: str) -> list[tuple[str, str]]:
        """The form as the administrator sees it: the payload that would succeed for them."""
        if url not in self._forms:
            g.pop("_login_user", None)
            admin = sign_in(self.app.test_client(), self.admin)
            self._forms[url] = _form_of(admin, url)
            g.pop("_login_user", None)
        return self._forms[url]

    # -- unit B's rows, to prove that a request changed nothing of theirs ----------------------
    def _owned_rows(self) -> dict[str, set]:
        """Primary keys of unit B's rows: its unit, users, cases, people and everything that
        points at them, followed through foreign keys until nothing new turns up."""
        world, tables = self.world, db.metadata.tables
        owned: dict[str, set] = {
            "units": {self.unit_b.id},
            "cases": {world.case.id, world.open_case.id},
            "parties": {world.records[Party]},
        }
        changed = True
        while changed:
            changed = False
            for table in tables.values():
                if table.name == "audit_log" or len(table.primary_key.columns) != 1:
                    continue
                pk = next(iter(table.primary_key.columns))
                for column in table.columns:
                    for key in column.foreign_keys:
                        target = key.column.table.name
                        if target not in owned:
                            continue
                        ids = set(
                            db.session.scalars(
                                sa.select(pk).where(column.in_(sorted(owned[target])))
                            )
                        )
                        if ids - owned.get(table.name, set()):
                            owned.setdefault(table.name, set()).update(ids)
                            changed = True
        return owned

    _last: dict | None = None

    def remember(self, snapshot) -> None:
        self._last = snapshot

    def snapshot(self) -> dict[str, list]:
        """Unit B's rows now, and any row that has come to point at them (the last one taken
        again when a refused request came in between: refusals change nothing)."""
        if self._last is not None:
            last, self._last = self._last, None
            return last
        db.session.expire_all()
        rows = {}
        for name, query in self._snapshot_queries():
            found = db.session.execute(query).all()
            rows[name] = sorted(map(repr, found))
        return rows

    _queries: list | None = None

    def _snapshot_queries(self) -> list[tuple[str, sa.Select]]:
        """(table, query) of ``snapshot``, built once: unit B's rows are fixed when the matrix is
        built, and the hundreds of snapshots spent more building the queries than running them."""
        if self._queries is None:
            queries = []
            for table in db.metadata.tables.values():
                if table.name == "audit_log":
                    continue
                conditions = []
                if table.name in self.owned and len(table.primary_key.columns) == 1:
                    pk = next(iter(table.primary_key.columns))
                    conditions.append(pk.in_(sorted(self.owned[table.name])))
                for column in table.columns:
                    for key in column.foreign_keys:
                        target = key.column.table.name
                        if target in self.owned:
                            conditions.append(column.in_(sorted(self.owned[target])))
                if conditions:
                    queries.append((table.name, sa.select(table).where(sa.or_(*conditions))))
            self._queries = queries
        return self._queries


@pytest.fixture(scope="module", params=BACKENDS)
def matrix(request, tmp_path_factory):
    with fresh_database(request.param, tmp_path_factory) as app:
        yield Matrix(app)


def _refused(response) -> bool:
    # A redirect goes to the login, to the list with "记录不存在", or back with a flash.
    return response.status_code in (400, 401, 403, 404, 405, 301, 302, 303)


def _payload(matrix, probe) -> list[tuple[str, str]]:
    data = list(probe.data)
    marker = dict(data)
    if "__harvest__" in marker:
        form = matrix.admin_form(probe.url)
        changed = []
        for name, value in form:
            if name in ("subject", "summary", "purpose", "record", "note", "opinion", "content"):
                value = f"{value}（被外单位改动）"
            changed.append((name, value))
        return changed
    if "__create__" in marker:
        form = matrix.admin_form(probe.url + f"?case_id={marker['case_id']}")
        rest = [(k, str(v)) for k, v in data if not k.startswith("__")]
        keys = {k for k, _v in rest}
        return [(k, v) for k, v in form if k not in keys] + rest
    return [(k, str(v)) for k, v in data]


def _check(matrix, role, probe) -> str | None:
    """What went wrong with one request, or None."""
    if role in READ_ONLY_ROLES and probe.kind != "write":
        return None  # seeing unit B is their job
    client = matrix.client(role)
    g.pop("_login_user", None)
    before = matrix.snapshot() if probe.kind == "write" else None
    try:
        if probe.method == "GET":
            response = client.get(probe.url)
        else:
            response = client.post(probe.url, data=MultiDict(_payload(matrix, probe)))
    except Exception as error:
        db.session.rollback()
        matrix.remember(None)
        return f"{probe.label} ({probe.method} {probe.url}): 500, {type(error).__name__}"
    finally:
        g.pop("_login_user", None)
    # As at the end of a real request: whatever the view left uncommitted is gone.
    db.session.rollback()
    if response.status_code >= 500:
        return f"{probe.label}: answered {response.status_code}"
    if probe.kind == "write":
        if response.status_code in REFUSED_BEFORE_ANY_CHANGE:
            matrix.remember(before)
            return None
        after = matrix.snapshot()
        if after != before:
            tables = sorted(
                t for t in after.keys() | before.keys() if after.get(t) != before.get(t)
            )
            return f"{probe.label} (POST {probe.url}): changed unit B's rows in {', '.join(tables)}"
        return None
    if _refused(response):
        return None
    found = leaks(answer_text(response), matrix.forbidden, echoed=probe.term)
    if found:
        return f"{probe.label} ({probe.method} {probe.url}): shows {', '.join(found)}"
    return None


#: Answers that mean the view stopped before saving anything (the session is rolled back
#: after each request, as at the end of a real one), so unit B's rows need no second look.
REFUSED_BEFORE_ANY_CHANGE = {400, 403, 404, 405}


def test_every_rule_is_in_the_matrix(matrix):
    assert matrix.unknown == [], "rules the access matrix does not cover:\n" + "\n".join(
        matrix.unknown
    )


def _destructive_last(endpoint: str) -> tuple[bool, str]:
    # While a hole is open, a delete that gets through removes the record that later probes
    # look for; run deletes and bulk actions last so that every other probe still finds it.
    return (endpoint.endswith(("delete_view", "action_view")), endpoint)


@pytest.mark.parametrize(
    ("endpoint", "role"),
    [(e, r) for e in sorted(url_map_endpoints(), key=_destructive_last) for r in ROLES],
    ids=lambda value: value,
)
def test_unit_a_role_cannot_reach_unit_b(matrix, endpoint, role):
    probes = matrix.probes.get(endpoint, [])
    problems = [problem for probe in probes if (problem := _check(matrix, role, probe))]
    assert not problems, f"{role} of unit A on {endpoint}:\n" + "\n".join(problems)


def test_the_matrix_is_not_vacuous(matrix):
    """Unit A's handler does see unit A's case where unit B's is refused or left out, and the
    payloads the matrix posts would change unit B's case for someone allowed to."""
    if "handler" not in matrix.users:
        pytest.skip("no 承办人 role")
    client = matrix.client("handler")
    own = matrix.own_case
    g.pop("_login_user", None)
    for url in ("/admin/case/", f"/admin/case/details/?id={own.id}", "/admin/worklist/"):
        assert own.number in client.get(url).get_data(as_text=True), url
    assert matrix.world.case.number not in client.get("/admin/case/").get_data(as_text=True)
    probes = {p.label: p for p in matrix.probes["case.edit_view"]}
    payload = _payload(matrix, probes["edit"])
    assert any(value.endswith("（被外单位改动）") for _name, value in payload)
    assert ("expected_version" in dict(payload)) or payload
    counts = {endpoint: len(probes) for endpoint, probes in matrix.probes.items()}
    assert sum(counts.values()) > 400, counts
