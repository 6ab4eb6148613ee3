"""Each rule of models.policies is written twice, as a Python predicate and as SQL: over a small
population of cases (units × handlers × states × confidential or not) and of users (roles ×
units), both halves must pick the same rows."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
import sqlalchemy as sa

from models import Case, Category, Unit, db
from models.base import utcnow
from models.enums import CaseStatus, CategoryKind
from models.maintenance.presets import load_preset
from models.policies import (
    awaiting_me,
    awaiting_me_clause,
    can_view_case,
    handles_case,
    handles_case_clause,
    in_reporter_circle,
    is_open,
    open_clause,
    reporter_circle_clause,
    reporter_visible,
    reporter_visible_clause,
    visible_cases_clause,
    works_on_case,
    works_on_case_clause,
)
from tests.conftest import BACKENDS, fresh_database

ROLES_AND_UNITS = [
    ("admin", None),
    ("office", None),
    ("registrar", None),
    ("leader", None),
    ("supervisor", None),
    ("handler", 0),
    ("handler", 0),
    ("handler", 1),
    ("dept_head", 0),
    ("dept_head", 1),
]
STATES = [
    CaseStatus.registered,
    CaseStatus.assigned,
    CaseStatus.in_progress,
    CaseStatus.result_reported,
    CaseStatus.replied,
    CaseStatus.kept,
]


@pytest.fixture(scope="module", params=BACKENDS)
def population(request, tmp_path_factory):
    """Built once per backend for the tests that only read it."""
    with fresh_database(request.param, tmp_path_factory):
        load_preset("government")
        yield build_population()


def build_population():
    from models.enums import CaseChannel
    from models.operations.cases import register_case
    from models.operations.users import create_user

    units = db.session.scalars(
        sa.select(Unit).where(Unit.parent_id.is_not(None)).order_by(Unit.id)
    ).all()[:2]
    users = []
    for number, (role, unit) in enumerate(ROLES_AND_UNITS):
        user = create_user(
            username=f"population{number}",
            full_name=f"测试{role}",
            password="secret123",
            role_codes=[role],
        )
        user.unit = None if unit is None else units[unit]
        users.append(user)
    kinds = [CategoryKind.report, CategoryKind.complaint]
    categories = [
        db.session.scalar(sa.select(Category).where(Category.kind == kind).limit(1))
        for kind in kinds
    ]
    registrar = users[2]
    # Unit and handler: none; unit A alone, with its handler, with unit B's handler; unit B.
    placements = [
        (None, None),
        (units[0], None),
        (units[0], users[5]),
        (units[0], users[7]),
        (units[1], None),
        (units[1], users[7]),
    ]
    cases = []
    combos = itertools.product(categories, placements, STATES)
    for index, (category, (unit, handler), state) in enumerate(combos):
        case = Case(
            channel=CaseChannel.letter,
            subject=f"事项{index}",
            content="小区门口道路破损，雨天积水。",
            received_at=utcnow() - timedelta(hours=2),
            category=category,
            handling_unit=unit,
            handler=handler,
        )
        case = register_case(case, by=registrar, petitioners=())
        case.status = state
        if index % 3 == 0:
            # Registered by a handler of unit A (a registrar who works in a department).
            case.created_by_id = users[5].id
        case.is_anonymous = index % 4 == 0
        case.result_approved_at = utcnow() if index % 2 else None
        if index % 5 == 0:
            case.assistants.append(users[6])
        cases.append(case)
    db.session.commit()
    return users, cases


def _same(users, cases, predicate, clause):
    for user in users:
        python = {case.id for case in cases if predicate(user, case)}
        sql = set(db.session.scalars(sa.select(Case.id).where(clause(user))))
        assert python == sql, (user.roles[0].code, user.unit_id, python ^ sql)


def test_case_visibility(population):
    _same(*population, can_view_case, visible_cases_clause)


def test_working_on_a_case(population):
    _same(*population, works_on_case, works_on_case_clause)


def test_reporter_circle(population):
    _same(*population, in_reporter_circle, reporter_circle_clause)


def test_reporter_visible(population):
    _same(*population, lambda user, case: reporter_visible(case, user), reporter_visible_clause)


def test_open_states(population):
    _same(*population, lambda user, case: is_open(case), lambda user: open_clause())


def test_awaiting_me(population):
    _same(*population, awaiting_me, awaiting_me_clause)


def test_my_cases(population):
    _same(*population, handles_case, handles_case_clause)
