"""The masking matrix (issue 13): a 举报 case whose reporter wrote, visited, called, was called
back, booked a visit and got a pass, whose contacts, callback and 反映内容 were edited, with the
original letter, a reply letter and a rectification order -- and every readable surface of the
URL map (lists, details, edit forms, exports CSV/XLSX, PDFs, pickers, the audit log, the
reception desk, stats drill-downs, registers) x every role outside the reporter's circle
without 查看保密信息: the reporter's name, phone, ID number, e-mail and the original's file name
never appear. The circle and 查看保密信息 holders do see the reporter on the details page.

Surfaces come from the same enumeration as the access matrix (tests/matrix_support.py), so a
new page is masked-checked as soon as it exists.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import g

from models import Category, Unit, db
from models.enums import CategoryKind
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
    stats_drill_urls,
    url_map_endpoints,
)

REPORTER = Identity(
    token="举报MK9",
    name="柯举报人",
    phone="13655550001",
    old_phone="13655550002",
    id_number=resident_id("32010219790815462"),
    email="ke.whistle@example.cn",
    old_email="ke.old@example.cn",
    file_name="柯氏举报原件MK9.txt",
)


def _lacks_confidential(role: str) -> bool:
    return "confidential.view" not in DEFAULT_ROLES[role][1]


#: Who is outside the circle, and where they sit. The head of the handling unit is in the
#: circle, so the 部门负责人 here heads another unit.
OUTSIDERS = {
    "handler-colleague": ("handler", "handling unit"),
    "dept_head-other-unit": ("dept_head", "other unit"),
    "registrar-not-registering": ("registrar", "office"),
    "supervisor": ("supervisor", "office"),
    # 领导 holds 查看保密信息 by default; should a role table take it away, it is an outsider.
    **({"leader": ("leader", "leaders")} if _lacks_confidential("leader") else {}),
}
OUTSIDERS = {label: spec for label, spec in OUTSIDERS.items() if _lacks_confidential(spec[0])}


class Masking:
    def __init__(self, app):
        self.app = app
        load_preset("government")
        db.session.commit()
        units = {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}
        places = {
            "office": units["县信访局"],
            "leaders": units["县政府领导"],
            "handling unit": units["县住房和城乡建设局"],
            "other unit": units["县自然资源局"],
        }
        from models.operations.users import create_user

        def user(role, place, name):
            account = create_user(
                username=name, full_name=name, password="secret123", role_codes=[role]
            )
            account.unit = places[place]
            return account

        self.staff = Staff(
            registrar=user("registrar", "office", "k_registrar"),
            office=user("office", "office", "k_office"),
            leader=user("leader", "leaders", "k_leader"),
            handler=user("handler", "handling unit", "k_handler"),
            head=user("dept_head", "handling unit", "k_head"),
        )
        self.admin = user("admin", "office", "k_admin")
        self.outsiders = {
            label: user(role, place, f"k_out_{index}")
            for index, (label, (role, place)) in enumerate(OUTSIDERS.items())
        }
        db.session.commit()
        category = db.session.scalar(
            sa.select(Category).where(Category.kind == CategoryKind.report)
        )
        self.world = build_world(
            REPORTER,
            unit=places["handling unit"],
            staff=self.staff,
            category=category,
        )
        assert self.world.case.is_confidential
        terms = [REPORTER.name, REPORTER.phone, REPORTER.id_number, REPORTER.email]
        probes, self.unknown = probes_for(app, self.world, search_terms=terms)
        self.probes: dict[str, list] = {}
        for probe in probes:
            if probe.kind != "write":
                self.probes.setdefault(probe.endpoint, []).append(probe)
        self.drills = stats_drill_urls(app, [places["handling unit"].id])
        self.clients = {}

    def client(self, label):
        if label not in self.clients:
            self.clients[label] = sign_in(self.app.test_client(), self.outsiders[label])
        return self.clients[label]


@pytest.fixture(scope="module", params=BACKENDS)
def masking(request, tmp_path_factory):
    with fresh_database(request.param, tmp_path_factory) as app:
        yield Masking(app)


def _read(client, probe):
    g.pop("_login_user", None)
    if probe.method == "GET":
        response = client.get(probe.url)
    else:
        response = client.post(probe.url, data=dict(probe.data))
    g.pop("_login_user", None)
    db.session.rollback()
    return response


def _problems(masking, label, probes) -> list[str]:
    case_number = masking.world.case.number
    problems = []
    for probe in probes:
        try:
            response = _read(masking.client(label), probe)
        except Exception as error:
            db.session.rollback()
            g.pop("_login_user", None)
            problems.append(f"{probe.label} ({probe.url}): 500, {type(error).__name__}")
            continue
        if response.status_code >= 500:
            problems.append(f"{probe.label}: answered {response.status_code}")
            continue
        text = answer_text(response)
        found = leaks(text, REPORTER.secrets, echoed=probe.term)
        if probe.term in REPORTER.secrets.values() and case_number in text:
            # A search by the reporter's name or number must not find their case.
            found.append(f"the case {case_number} found by the reporter's {probe.term}")
        if found:
            problems.append(f"{probe.label} ({probe.method} {probe.url}): shows {', '.join(found)}")
    return problems


def test_every_rule_is_a_surface(masking):
    assert masking.unknown == [], "rules the masking matrix does not cover:\n" + "\n".join(
        masking.unknown
    )


@pytest.mark.parametrize(
    ("endpoint", "role"),
    [(e, r) for e in url_map_endpoints() for r in OUTSIDERS],
    ids=lambda value: value,
)
def test_reporter_never_shows_outside_the_circle(masking, endpoint, role):
    problems = _problems(masking, role, masking.probes.get(endpoint, []))
    assert not problems, f"{role} on {endpoint}:\n" + "\n".join(problems)


@pytest.mark.parametrize("role", list(OUTSIDERS))
def test_stats_drill_downs_hide_the_reporter(masking, role):
    from tests.matrix_support import Probe

    probes = [Probe("stats", f"drill {url}", "GET", url, "read") for url in masking.drills]
    problems = _problems(masking, role, probes)
    assert not problems, f"{role} on the stats drill-downs:\n" + "\n".join(problems)


def test_outsiders_do_see_the_case_itself(masking):
    """Masking hides the reporter, not the matter: the supervisor reads the case (and the
    mask), so the matrix above is not passing because every page was refused."""
    label = next((k for k in OUTSIDERS if k.startswith("supervisor")), None)
    if label is None:
        pytest.skip("no 监督 role")
    client = masking.client(label)
    g.pop("_login_user", None)
    page = client.get(f"/admin/case/details/?id={masking.world.case.id}").get_data(as_text=True)
    assert masking.world.case.number in page and "（保密）" in page
    assert REPORTER.token in page  # the subject is not secret


@pytest.mark.parametrize(
    "who",
    ["registrar who registered it", "named handler", "head of the handling unit"]
    + [role for role, (_n, perms) in DEFAULT_ROLES.items() if "confidential.view" in perms],
)
def test_the_circle_and_confidential_holders_see_the_reporter(masking, who):
    staff = masking.staff
    circle = {
        "registrar who registered it": staff.registrar,
        "named handler": staff.handler,
        "head of the handling unit": staff.head,
        "office": staff.office,
        "leader": staff.leader,
        "admin": masking.admin,
    }
    user = circle.get(who)
    if user is None:
        from models.operations.users import create_user

        user = create_user(
            username=f"k_{who}", full_name=who, password="x1234567", role_codes=[who]
        )
        db.session.commit()
    client = sign_in(masking.app.test_client(), user)
    page = client.get(f"/admin/case/details/?id={masking.world.case.id}").get_data(as_text=True)
    g.pop("_login_user", None)
    assert REPORTER.name in page, who
