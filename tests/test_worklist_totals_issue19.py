"""A full work-list tab says how many there are in all (issue 19: no list stops silently).

The 我的待办, 即将到期 and 已超期 tabs list at most ``WORKLIST_LIMIT`` rows; when a tab is full,
its badge counts every row and a note under the table says how many are listed of how many."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from models import CaseClock, db
from models.base import utcnow
from models.queries import worklists


@pytest.fixture
def office_with_cases(app, government, create_user, create_case):
    office = create_user("office")
    cases = [create_case(by=office, subject=f"待办事项{number}") for number in range(3)]
    # Every case's clocks ran out yesterday: each one is on the 已超期 tab too.
    db.session.execute(
        sa.update(CaseClock)
        .where(CaseClock.case_id.in_([case.id for case in cases]))
        .values(due_at=utcnow() - timedelta(days=1))
    )
    db.session.commit()
    return office, cases


def _badge(page: str, tab: str) -> int:
    found = re.search(rf'href="\?tab={tab}">[^<]*<span class="badge[^"]*">(\d+)</span>', page)
    return int(found.group(1))


@pytest.mark.parametrize("tab", ["awaiting", "overdue"])
def test_a_full_tab_counts_every_row_and_says_so(office_with_cases, login_as, monkeypatch, tab):
    office, cases = office_with_cases
    client = login_as(office)
    whole = client.get(f"/admin/worklist/?tab={tab}").get_data(as_text=True)
    total = _badge(whole, tab)
    assert total >= len(cases) if tab == "overdue" else total == len(cases)
    assert "worklist-more" not in whole

    monkeypatch.setattr(worklists, "WORKLIST_LIMIT", 2)
    page = client.get(f"/admin/worklist/?tab={tab}").get_data(as_text=True)
    assert _badge(page, tab) == total
    listed = len(re.findall(r'<a href="/admin/case/details/\?id=\d+">', page))
    assert listed == 2
    note = re.search(r'class="text-muted small worklist-more">([^<]*)<', page).group(1)
    assert "2" in note and str(total) in note


def test_only_people_who_may_handle_can_assist(government, create_user, create_case):
    """协办人 follows the 承办人 rule (``policies.may_handle``), in any unit: a 监督 or a
    登记员 is neither offered nor accepted, and nothing changes."""
    from admin_views.workflow_forms import _eligible_handlers
    from models.enums import CaseStatus
    from models.operations import ValidationFailed
    from models.operations.workflow import perform
    from tests.conftest import row_counts

    office = create_user("office")
    handler = create_user("handler")
    supervisor = create_user("supervisor")
    case = create_case(by=office)
    # Straight to 办理中, where 协办 is a step (the path there is tested elsewhere).
    case.status = CaseStatus.in_progress
    db.session.commit()
    offered = set(_eligible_handlers())
    assert handler in offered and supervisor not in offered
    before = row_counts()
    with pytest.raises(ValidationFailed) as refused:
        perform("add_assistant", case, by=office, assistant=supervisor)
    assert "不能承办事项" in str(refused.value)
    db.session.rollback()
    assert row_counts() == before


@pytest.mark.parametrize("tab", ["awaiting", "overdue"])
def test_a_tab_past_the_count_limit_says_more_than(office_with_cases, login_as, monkeypatch, tab):
    """Past the lists' exact-count limit a tab's badge says "超过 N" (never the planner's
    guess: this is one person's work)."""
    from models.queries import lists

    office, _cases = office_with_cases
    monkeypatch.setattr(worklists, "WORKLIST_LIMIT", 2)
    monkeypatch.setattr(lists, "EXACT_COUNT_LIMIT", {"postgresql": 2})
    monkeypatch.setattr(lists, "COUNT_CAP", 2)
    page = login_as(office).get(f"/admin/worklist/?tab={tab}").get_data(as_text=True)
    badge = re.search(rf'href="\?tab={tab}">[^<]*<span class="badge[^"]*">([^<]*)</span>', page)
    assert badge.group(1) == "超过 2"
    note = re.search(r'class="text-muted small worklist-more">([^<]*)<', page).group(1)
    assert "超过 2" in note


def test_the_units_tab_is_offered_to_the_office_and_read_only_when_open(
    office_with_cases, login_as, monkeypatch
):
    office, _cases = office_with_cases
    asked = []
    real = worklists.unit_summary

    def counting(now):
        asked.append(now)
        return real(now)

    import admin_views.workflow as workflow_views

    monkeypatch.setattr(workflow_views, "unit_summary", counting)
    client = login_as(office)
    page = client.get("/admin/worklist/?tab=awaiting").get_data(as_text=True)
    assert 'href="?tab=units"' in page and not asked
    page = client.get("/admin/worklist/?tab=units").get_data(as_text=True)
    assert len(asked) == 1
