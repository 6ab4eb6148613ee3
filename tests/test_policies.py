"""Each rule of models.policies is written twice, as a Python predicate and as SQL: over a small
population of cases (units × handlers × states × confidential or not) and of users (roles ×
units), both halves must pick the same rows."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
import sqlalchemy as sa

from models import Call, Case, Category, Letter, Party, Unit, db
from models.base import utcnow
from models.enums import CaseStatus, CategoryKind
from models.operations.contacts import register_contact
from models.policies import (
    awaiting_me,
    awaiting_me_clause,
    can_view_case,
    can_view_party,
    handles_case,
    handles_case_clause,
    in_reporter_circle,
    is_open,
    open_clause,
    party_visible_clause,
    reporter_circle_clause,
    reporter_visible,
    reporter_visible_clause,
    visible_cases_clause,
    works_on_case,
    works_on_case_clause,
)

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


@pytest.fixture
def population(app, government, create_user, create_case):
    units = db.session.scalars(
        sa.select(Unit).where(Unit.parent_id.is_not(None)).order_by(Unit.id)
    ).all()[:2]
    users = [
        create_user(role, unit=None if unit is None else units[unit])
        for role, unit in ROLES_AND_UNITS
    ]
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
        case = create_case(
            by=registrar,
            category=category,
            handling_unit=unit,
            handler=handler,
            subject=f"事项{index}",
        )
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


def test_parties(population, create_user):
    users, cases = population
    parties = []
    earlier = utcnow() - timedelta(hours=1)
    # People tied to cases in every way: petitioner, agent, writer, caller; and one on no case.
    for index, case in enumerate(cases[::7]):
        party = Party(name=f"人员{index}", phone=f"1380000{index:04d}")
        db.session.add(party)
        way = index % 4
        if way == 0:
            case.petitioners.append(party)
        elif way == 1:
            case.agent = party
        elif way == 2:
            register_contact(Letter(received_at=earlier, writer=party), by=users[1], case=case)
        else:
            call = Call(called_at=earlier, caller=party, record="来电")
            register_contact(call, by=users[1], case=case)
        parties.append(party)
    loner = Party(name="未关联")
    db.session.add(loner)
    parties.append(loner)
    db.session.commit()
    for user in users:
        python = {party.id for party in parties if can_view_party(user, party)}
        sql = set(db.session.scalars(sa.select(Party.id).where(party_visible_clause(user))))
        assert python == sql, (user.roles[0].code, python ^ sql)
    # The rule itself: a handler sees only people of their cases; a registrar everyone but a
    # hidden reporter; the office everyone.
    handler, registrar, office = users[7], users[2], users[1]
    visible = set(db.session.scalars(sa.select(Party.id).where(party_visible_clause(handler))))
    assert loner.id not in visible
    for party in parties[:-1]:
        linked = [case for case in cases if party in case.petitioners or case.agent == party]
        for case in linked:
            if can_view_case(handler, case) and reporter_visible(case, handler):
                assert party.id in visible
    registrar_sees = set(
        db.session.scalars(sa.select(Party.id).where(party_visible_clause(registrar)))
    )
    assert loner.id in registrar_sees
    office_sees = set(db.session.scalars(sa.select(Party.id).where(party_visible_clause(office))))
    assert office_sees == {party.id for party in parties}
    assert not can_view_party(None, loner)


def test_schedules_campaigns_and_survey_forms(population):
    """Unit-owned records: unit A's, unit B's and unit-less ones, set up and called for by
    different people; each rule's Python and SQL halves pick the same rows."""
    from datetime import date

    from models import CallbackSchedule, SurveyCampaign, SurveyResponse, SurveyTemplate
    from models.policies import (
        callback_schedule_visible_clause,
        can_view_callback_schedule,
        can_view_survey_campaign,
        can_view_survey_response,
        survey_campaign_visible_clause,
        survey_response_visible_clause,
    )

    users, _cases = population
    unit_ids = [None, users[5].unit_id, users[7].unit_id]
    people = [None, users[5], users[7], users[8]]
    template = SurveyTemplate(name="测试问卷")
    schedules, campaigns, responses = [], [], []
    for index, (unit_id, author, caller) in enumerate(
        itertools.product(unit_ids, people, people[:3])
    ):
        schedules.append(
            CallbackSchedule(
                name=f"项目{index}",
                delivered_on=date.today(),
                unit_id=unit_id,
                created_by_id=author and author.id,
                caller_id=caller and caller.id,
            )
        )
        campaign = SurveyCampaign(
            template=template,
            name=f"调查{index}",
            starts_on=date.today(),
            unit_id=unit_id,
            created_by_id=author and author.id,
        )
        campaigns.append(campaign)
        responses.append(
            SurveyResponse(campaign=campaign, returned_on=date.today(), created_by_id=None)
        )
    db.session.add_all([template, *schedules, *campaigns, *responses])
    db.session.commit()

    rules = [
        (CallbackSchedule, schedules, can_view_callback_schedule, callback_schedule_visible_clause),
        (SurveyCampaign, campaigns, can_view_survey_campaign, survey_campaign_visible_clause),
        (SurveyResponse, responses, can_view_survey_response, survey_response_visible_clause),
    ]
    for model, rows, predicate, clause in rules:
        for user in users:
            python = {row.id for row in rows if predicate(user, row)}
            sql = set(db.session.scalars(sa.select(model.id).where(clause(user))))
            assert python == sql, (model.__name__, user.roles[0].code, python ^ sql)
            if user.has_permission("case.view_all"):
                assert python == {row.id for row in rows}
    # A department user sees their unit's rows, not the other unit's (unless they are named).
    head_a = users[8]
    seen = {s.id for s in schedules if can_view_callback_schedule(head_a, s)}
    assert any(s.unit_id == head_a.unit_id for s in schedules if s.id in seen)
    assert all(
        s.unit_id == head_a.unit_id or head_a.id in (s.created_by_id, s.caller_id)
        for s in schedules
        if s.id in seen
    )
    assert not any(
        can_view_survey_campaign(head_a, c)
        for c in campaigns
        if c.unit_id is None and c.created_by_id is None
    )
