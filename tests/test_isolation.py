"""Nothing a test writes reaches the next test: not on the rolled-back path, not
on the wiped path (``own_connections``), whether written through the session, a request or the
connection. The tests of this module run in order on one worker (``--dist loadscope``)."""

import pytest
import sqlalchemy as sa

from models import Party, Role, SystemSetting, db
from tests import conftest
from tests.conftest import row_counts


def leftovers() -> dict[str, int]:
    """Rows beyond the roles, the settings and their audit entries that every test starts on."""
    base = conftest._base_counts[db.engine.dialect.name]
    return {name: rows for name, rows in row_counts().items() if rows != base.get(name, 0)}


def write_everywhere(client, create_user, login_as):
    """Commit rows through the session, through a request, and change a base row."""
    db.session.add(Party(name="留下的人"))
    db.session.commit()
    admin = create_user("admin")
    login_as(admin)
    response = client.post("/admin/party/new/", data={"name": "请求里的人"}, follow_redirects=False)
    assert response.status_code in (200, 302)
    db.session.get(SystemSetting, "organisation_name").value = "改过的名字"
    db.session.delete(db.session.scalars(sa.select(Role).where(Role.code == "registrar")).one())
    db.session.commit()
    assert leftovers()


def assert_clean_start():
    assert leftovers() == {}
    assert db.session.get(SystemSetting, "organisation_name").value != "改过的名字"
    assert db.session.scalars(sa.select(Role).where(Role.code == "registrar")).one()


@pytest.mark.rolled_back
def test_rolled_back_writes(client, create_user, login_as):
    write_everywhere(client, create_user, login_as)


@pytest.mark.rolled_back
def test_after_rolled_back_writes(app):
    assert_clean_start()


@pytest.mark.own_connections
def test_wiped_writes(client, create_user, login_as):
    write_everywhere(client, create_user, login_as)


@pytest.mark.rolled_back
def test_after_wiped_writes(app):
    assert_clean_start()


@pytest.mark.own_connections
def test_wiped_start_after_rolled_back(app):
    assert_clean_start()


@pytest.mark.rolled_back
def test_rolled_back_test_may_not_open_a_second_connection(app):
    with pytest.raises(conftest.SecondConnectionError), db.engine.connect():
        pass  # pragma: no cover - the guard refuses the connection
    # Let the test pass: the guard's record would fail it at teardown.
    conftest._rollback.second_connections.clear()
