"""Login, logout, CSRF, the secret-key guard and the CLI commands."""

import pytest
import sqlalchemy as sa

from app import create_app
from models import Case, User, db
from tests.conftest import TEST_CONFIG, build_app


def test_login_page_is_in_chinese(client):
    html = client.get("/admin/login/").get_data(as_text=True)
    assert "用户名" in html and "密码" in html and "登录" in html


@pytest.mark.own_connections
def test_wrong_password_and_unknown_user_get_the_same_message(client, create_user):
    create_user("registrar", username="wang", password="right123")
    for username, password in (("wang", "wrong123"), ("nobody", "whatever1")):
        response = client.post("/admin/login/", data={"username": username, "password": password})
        assert response.status_code == 200
        assert "用户名或密码错误" in response.get_data(as_text=True)


@pytest.mark.own_connections
def test_login_redirects_only_to_local_paths(client, create_user):
    create_user("registrar", username="li", password="right123")
    ok = client.post(
        "/admin/login/?next=/admin/case/", data={"username": "li", "password": "right123"}
    )
    assert ok.headers["Location"] == "/admin/case/"
    client.post("/admin/logout/")
    for target in (
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
    ):
        response = client.post(
            f"/admin/login/?next={target}", data={"username": "li", "password": "right123"}
        )
        assert response.headers["Location"] == "/admin/", target
        client.post("/admin/logout/")


@pytest.mark.own_connections
def test_logout_ends_the_session(client, create_user):
    create_user("office", username="chen", password="right123")
    client.post("/admin/login/", data={"username": "chen", "password": "right123"})
    assert client.get("/admin/case/").status_code == 200
    client.post("/admin/logout/")
    assert client.get("/admin/case/").status_code == 302


@pytest.mark.own_connections
def test_inactive_user_cannot_log_in(client, create_user):
    user = create_user("office", username="zhou", password="right123")
    user.is_active_user = False
    db.session.commit()
    response = client.post("/admin/login/", data={"username": "zhou", "password": "right123"})
    assert "用户名或密码错误" in response.get_data(as_text=True)


def test_password_is_hashed_with_argon2id(create_user):
    user = create_user("office", password="right123")
    assert user.password_hash.startswith("$argon2id$")


def test_posts_without_csrf_token_are_rejected(tmp_path_factory):
    app = build_app("sqlite", tmp_path_factory, WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.create_all()
        client = app.test_client()
        response = client.post("/admin/login/", data={"username": "a", "password": "b"})
        assert response.status_code == 400
        assert "页面已过期" in response.get_data(as_text=True)


def test_default_secret_key_is_refused_outside_debug(tmp_path):
    uri = f"sqlite:///{tmp_path}/x.db"
    with pytest.raises(RuntimeError, match="FLASK_SECRET_KEY"):
        create_app({"SQLALCHEMY_DATABASE_URI": uri})
    assert create_app({"SQLALCHEMY_DATABASE_URI": uri, "TESTING": True}).testing


def test_database_url_uses_psycopg3(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db.example:5432/xf")
    app = create_app({**TEST_CONFIG})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db.example:5432/xf"


def test_create_user_command(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["create-user", "--username", "ops", "--full-name", "运维", "--role", "office"],
        input="Passw0rd1\nPassw0rd1\n",
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalars(sa.select(User).where(User.username == "ops")).one()
    assert user.role_names == "信访办/办公室"
    again = runner.invoke(
        args=["create-user", "--username", "ops", "--full-name", "x"],
        input="Passw0rd1\nPassw0rd1\n",
    )
    assert again.exit_code != 0
    assert "已存在" in again.output


def test_seed_demo_command_is_idempotent(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo", "--cases", "40"])
    assert first.exit_code == 0, first.output
    assert "admin" in first.output and "demo12345" in first.output
    count = db.session.scalar(sa.select(sa.func.count(Case.id)))
    assert count == 40
    second = runner.invoke(args=["seed-demo", "--cases", "40"])
    assert second.exit_code == 0
    assert db.session.scalar(sa.select(sa.func.count(Case.id))) == count
