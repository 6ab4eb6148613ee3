"""Sessions end on the server, and failed logins are throttled per account and address pair.

Logging out replaces the account's session token, so a copy of the old cookie is refused. The
failure counters live in the database when Redis is not configured, so every worker process sees
the same counts.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import g

from admin_views.security import DatabaseCounter, login_throttle
from app import create_app
from models import AuditEntry, Case, LoginFailure, db
from models.audit import AuditAction
from models.base import utcnow
from tests.conftest import TEST_CONFIG

# Opens connections of its own (logins' throttle, backups, probes): never rolled back.
pytestmark = pytest.mark.own_connections

PASSWORD = "right123"


def _log_in(client, username: str, password: str = PASSWORD, address: str = "127.0.0.1"):
    return client.post(
        "/admin/login/",
        data={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def _session_cookie(client) -> str:
    return client.get_cookie("session").value


def _replay(app, cookie: str, path: str = "/admin/case/"):
    """Request ``path`` from a fresh browser that only has ``cookie``."""
    # Requests share the test's app context, where Flask-Login caches the loaded user.
    g.pop("_login_user", None)
    browser = app.test_client()
    browser.set_cookie("session", cookie)
    return browser.get(path)


def _is_login_redirect(response) -> bool:
    return response.status_code == 302 and "/admin/login/" in response.headers["Location"]


# -- logout ends the session on the server ----------------------------------------------------
def test_a_copied_cookie_works_until_logout_and_is_refused_after(app, client, create_user):
    user = create_user("office", password=PASSWORD)
    assert _log_in(client, user.username).status_code == 302
    copied = _session_cookie(client)
    assert _replay(app, copied).status_code == 200  # the copy is a working session before

    g.pop("_login_user", None)
    logout = client.post("/admin/logout/")
    assert _is_login_redirect(logout)

    assert _is_login_redirect(_replay(app, copied))
    assert _is_login_redirect(_replay(app, copied, "/admin/"))
    # A write with the copy is refused too, and changes nothing.
    g.pop("_login_user", None)
    browser = app.test_client()
    browser.set_cookie("session", copied)
    write = browser.post("/admin/case/new/", data={"subject": "冒用会话", "content": "x"})
    assert _is_login_redirect(write)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0
    logouts = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == AuditAction.logout)
    ).all()
    assert [entry.user_id for entry in logouts] == [user.id]
    # The token change is not logged as an edit of the account (the logout row says it all).
    edits = db.session.scalars(
        sa.select(AuditEntry).where(
            AuditEntry.action == AuditAction.update, AuditEntry.target_type == "users"
        )
    ).all()
    assert edits == []


def test_logout_ends_the_accounts_sessions_in_other_browsers_too(app, create_user):
    user = create_user("office", password=PASSWORD)
    office, reception_desk = app.test_client(), app.test_client()
    for browser in (office, reception_desk):
        g.pop("_login_user", None)
        assert _log_in(browser, user.username).status_code == 302
    g.pop("_login_user", None)
    office.post("/admin/logout/", follow_redirects=True)
    g.pop("_login_user", None)
    assert _is_login_redirect(reception_desk.get("/admin/case/"))
    # Logging in again works, and the new session is a normal one.
    g.pop("_login_user", None)
    assert _log_in(reception_desk, user.username).status_code == 302
    g.pop("_login_user", None)
    assert reception_desk.get("/admin/case/").status_code == 200


def test_logout_page_says_where_the_sessions_ended(client, create_user):
    user = create_user("office", password=PASSWORD)
    _log_in(client, user.username)
    g.pop("_login_user", None)
    page = client.post("/admin/logout/", follow_redirects=True).get_data(as_text=True)
    assert "您已安全退出" in page and "其他电脑和浏览器" in page


def test_logout_does_not_count_as_an_edit_of_the_account(app, client, create_user):
    user = create_user("office", password=PASSWORD)
    old_token = user.session_token
    _log_in(client, user.username)
    db.session.refresh(user)
    edited_at = user.updated_at
    g.pop("_login_user", None)
    client.post("/admin/logout/")
    db.session.expire_all()
    user = db.session.get(type(user), user.id)
    assert user.session_token != old_token
    assert user.updated_at == edited_at  # an administrator's open edit form stays valid


def test_password_change_and_deactivation_end_existing_sessions(app, client, create_user):
    user = create_user("office", password=PASSWORD)
    _log_in(client, user.username)
    copied = _session_cookie(client)
    user.set_password("newpass456")
    db.session.commit()
    assert _is_login_redirect(_replay(app, copied))
    g.pop("_login_user", None)
    assert _log_in(app.test_client(), user.username, "newpass456").status_code == 302

    other = create_user("office", password=PASSWORD)
    browser = app.test_client()
    g.pop("_login_user", None)
    _log_in(browser, other.username)
    copied = _session_cookie(browser)
    other.is_active_user = False
    db.session.commit()
    assert _is_login_redirect(_replay(app, copied))


# -- failed-login throttling --------------------------------------------------------------------
def test_without_redis_the_counters_are_in_the_database(app):
    throttle = login_throttle()
    assert isinstance(throttle.counter, DatabaseCounter)
    assert (throttle.max_failures, throttle.window) == (10, 15 * 60)
    assert app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] == throttle.max_failures_per_address == 50


def test_failures_are_shared_by_two_workers_on_one_database(app, client, create_user):
    user = create_user("office", password=PASSWORD)
    second_worker = create_app(
        {
            **TEST_CONFIG,
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "ATTACHMENT_FOLDER": app.config["ATTACHMENT_FOLDER"],
        }
    )
    other_client = second_worker.test_client()
    try:
        for attempt in range(10):
            worker = client if attempt % 2 else other_client
            response = _log_in(worker, user.username, "wrong999")
            assert "用户名或密码错误" in response.get_data(as_text=True)
        # The 11th attempt is refused by either worker, even with the right password.
        for worker in (client, other_client):
            g.pop("_login_user", None)
            refused = _log_in(worker, user.username).get_data(as_text=True)
            assert "登录失败次数过多，请 15 分钟后再试" in refused
    finally:
        with second_worker.app_context():
            db.engine.dispose()
    pair = db.session.scalars(sa.select(LoginFailure).where(LoginFailure.scope == "pair")).one()
    assert pair.failures == 10 and pair.key.endswith(user.username)
    blocked = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.action == AuditAction.login_blocked)
    )
    assert blocked == 2


def test_a_blocked_account_does_not_block_others_at_the_same_address(client, create_user):
    locked = create_user("office", password=PASSWORD)
    colleague = create_user("office", password=PASSWORD)
    shared_address = "10.1.1.1"
    for _attempt in range(10):
        _log_in(client, locked.username, "wrong999", shared_address)
    refused = _log_in(client, locked.username, address=shared_address).get_data(as_text=True)
    assert "登录失败次数过多" in refused and "此网络地址" not in refused
    g.pop("_login_user", None)
    assert _log_in(client, colleague.username, address=shared_address).status_code == 302
    client.post("/admin/logout/")
    # The same account from its owner's own computer is not blocked either.
    g.pop("_login_user", None)
    assert _log_in(client, locked.username, address="10.1.1.2").status_code == 302


def test_an_unknown_account_is_blocked_with_the_same_words(client, create_user):
    real = create_user("office", password=PASSWORD)
    answers = {}
    for name in (real.username, "ghost"):
        for _attempt in range(10):
            _log_in(client, name, "wrong999", "10.3.3.3")
        answers[name] = _log_in(client, name, "wrong999", "10.3.3.3").get_data(as_text=True)
    for text in answers.values():
        assert "登录失败次数过多，请 15 分钟后再试。" in text
        assert "用户名或密码错误" not in text


def test_the_address_ceiling_stops_password_spraying(client, create_user, monkeypatch):
    monkeypatch.setattr(login_throttle(), "max_failures_per_address", 12)
    targets = [create_user("office", password=PASSWORD) for _ in range(3)]
    sprayer = "10.2.2.2"
    names = [user.username for user in targets] + [f"guess{index}" for index in range(9)]
    for name in names:  # one or two guesses per account: no pair comes near its limit
        _log_in(client, name, "Spring2026", sprayer)
    refused = _log_in(client, targets[0].username, address=sprayer).get_data(as_text=True)
    assert "此网络地址登录失败次数过多，请 15 分钟后再试。" in refused
    assert _log_in(client, "guess-new", "x1", sprayer).status_code == 200  # refused, same text
    # The accounts themselves are fine from anywhere else.
    g.pop("_login_user", None)
    assert _log_in(client, targets[0].username, address="10.2.2.3").status_code == 302
    address_row = db.session.scalars(
        sa.select(LoginFailure).where(LoginFailure.scope == "address")
    ).one()
    assert (address_row.key, address_row.failures) == (sprayer, 12)


def test_success_after_failures_resets_the_pair_but_not_the_address(client, create_user):
    user = create_user("office", password=PASSWORD)
    for _round in range(2):
        for _attempt in range(9):
            _log_in(client, user.username, "wrong999", "10.4.4.4")
        g.pop("_login_user", None)
        assert _log_in(client, user.username, address="10.4.4.4").status_code == 302
        client.post("/admin/logout/")
    counts = dict(db.session.execute(sa.select(LoginFailure.scope, LoginFailure.failures)).all())
    assert counts == {"address": 18}  # the pair row is gone; 18 failures would have blocked it


def test_a_correct_login_works_after_a_few_failures(client, create_user):
    user = create_user("office", password=PASSWORD)
    for _attempt in range(3):
        wrong = _log_in(client, user.username, "wrong999")
        assert "用户名或密码错误，或账号已停用。" in wrong.get_data(as_text=True)
    g.pop("_login_user", None)
    response = _log_in(client, user.username)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    g.pop("_login_user", None)
    assert client.get("/admin/case/").status_code == 200
    logins = db.session.scalars(
        sa.select(AuditEntry.action).where(AuditEntry.user_id == user.id)
    ).all()
    assert logins.count(AuditAction.login_failed) == 3 and AuditAction.login in logins


# -- the database counter -----------------------------------------------------------------------
def test_the_window_ends_and_the_count_starts_again(app):
    counter = DatabaseCounter()
    for _attempt in range(3):
        counter.add("pair:10.5.5.5|someone", 900)
    count, seconds = counter.failures("pair:10.5.5.5|someone", 900)
    assert count == 3 and 895 <= seconds <= 900
    db.session.execute(
        sa.update(LoginFailure).values(window_ends_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()
    assert counter.failures("pair:10.5.5.5|someone", 900) == (0, 0)
    counter.add("pair:10.5.5.5|someone", 900)  # the expired row is reused from one
    assert counter.failures("pair:10.5.5.5|someone", 900)[0] == 1
    counter.reset("pair:10.5.5.5|someone")
    assert counter.failures("pair:10.5.5.5|someone", 900) == (0, 0)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginFailure)) == 0


def test_finished_windows_are_pruned(app):
    counter = DatabaseCounter()
    counter.add("address:10.6.6.6", 900)
    db.session.execute(
        sa.update(LoginFailure).values(window_ends_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()
    counter.add("address:10.6.6.7", 900)
    keys = db.session.scalars(sa.select(LoginFailure.key)).all()
    assert keys == ["10.6.6.7"]


@pytest.mark.parametrize("threads", [4])
def test_concurrent_failures_are_all_counted(app, threads):
    counter = DatabaseCounter()
    errors: list[BaseException] = []

    def fail_ten_times():
        try:
            with app.app_context():
                for _attempt in range(10):
                    counter.add("address:10.7.7.7", 900)
        except BaseException as error:  # reported below: a thread's exception is otherwise lost
            errors.append(error)

    workers = [threading.Thread(target=fail_ten_times) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert counter.failures("address:10.7.7.7", 900)[0] == threads * 10
