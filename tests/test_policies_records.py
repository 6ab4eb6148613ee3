"""The policies' Python and SQL halves agree on records tied to cases (people, callback
schedules, survey campaigns and returned forms): each test adds such rows to a population of
its own, built as in test_policies."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
import sqlalchemy as sa

from models import Call, Letter, Party, db
from models.base import utcnow
from models.operations.contacts import register_contact
from models.policies import (
    can_view_case,
    can_view_party,
    party_visible_clause,
    reporter_visible,
)
from tests.test_policies import build_population


@pytest.fixture
def own_population(app, government):
    return build_population()


def test_parties(own_population):
    users, cases = own_population
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


def test_schedules_campaigns_and_survey_forms(own_population):
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

    users, _cases = own_population
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
