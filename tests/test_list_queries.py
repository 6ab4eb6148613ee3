"""Every list page runs at most three SQL statements, whatever its page size."""

import pytest
from flask import g

from models import db
from models.maintenance.demo import seed_demo
from tests.conftest import BACKENDS, fresh_database

LIST_ENDPOINTS = [
    "letter",
    "visit",
    "call",
    "party",
    "case",
    "attachment",
    "caseevent",
    "callback",
    "callbackschedule",
    "rectificationorder",
    "callbackquota",
    "surveycampaign",
    "surveyresponse",
    "surveytemplate",
    "unit",
    "category",
    "user",
    "role",
    "setting",
]


def _as_a_new_request():
    """Forget what the test's long-lived app context kept, so the user is loaded again."""
    db.session.remove()
    g.pop("_login_user", None)


@pytest.fixture(scope="module", params=BACKENDS)
def demo_app(request, tmp_path_factory):
    """One demo population per backend, shared by the read-only tests of this module."""
    from admin_views.filters import CachedOptions

    with fresh_database(request.param, tmp_path_factory) as app:
        # Option lists expire after a minute and are then read again once (by design). On a slow
        # machine the minute can run out between the warm-up and the counted request; the count
        # is about the steady state, so nothing expires during these tests.
        saved = CachedOptions.ttl_seconds
        CachedOptions.ttl_seconds = 3600
        seed_demo(case_count=60, password="demo12345")
        db.session.commit()
        try:
            yield app
        finally:
            CachedOptions.ttl_seconds = saved


@pytest.fixture
def app(demo_app):
    """The conftest fixtures (client, login_as, count_queries) run on the shared population."""
    return demo_app


@pytest.mark.parametrize("page_size", [20, 100])
def test_list_pages_stay_within_three_queries(page_size, login_as, count_queries):
    from models import User

    admin = db.session.query(User).filter_by(username="admin").one()
    client = login_as(admin)
    for endpoint in LIST_ENDPOINTS:
        url = f"/admin/{endpoint}/?page_size={page_size}"
        # The first request may fill per-process caches (filter option lists).
        assert client.get(url).status_code == 200
        _as_a_new_request()
        with count_queries() as statements:
            response = client.get(url)
        assert response.status_code == 200
        assert 2 <= len(statements) <= 3, (endpoint, statements)


def test_filtered_and_searched_case_lists_stay_within_three_queries(login_as, count_queries):
    from models import Case, User

    admin = db.session.query(User).filter_by(username="admin").one()
    number = db.session.query(Case.number).order_by(Case.id).first()[0]
    client = login_as(admin)
    for url in (
        f"/admin/case/?search={number}",
        "/admin/case/?search=小区",
        "/admin/case/?flt0_0=registered&page_size=100",
    ):
        client.get(url)
        _as_a_new_request()
        with count_queries() as statements:
            response = client.get(url)
        assert response.status_code == 200
        assert len(statements) <= 3, (url, statements)
