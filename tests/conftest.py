"""Test fixtures: every test runs on SQLite and, when TEST_DATABASE_URL is set, on PostgreSQL."""

from __future__ import annotations

import functools
import itertools
import os
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import g

from app import create_app, database_url_from_env
from models import Case, Party, db
from models.base import utcnow
from models.maintenance.presets import ensure_roles, ensure_settings, load_preset
from models.users import User

TEST_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "test-secret-key",
    "WTF_CSRF_ENABLED": False,
    "ARGON2_PARAMS": {"time_cost": 1, "memory_cost": 8192, "parallelism": 1},
}


def worker_suffix() -> str:
    """``_gw0``, ``_gw1`` … under pytest-xdist, so each worker has databases of its own."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return f"_{worker}" if worker else ""


def postgres_url() -> str | None:
    url = database_url_from_env("TEST_DATABASE_URL")
    if not url or not worker_suffix():
        return url
    base = sa.engine.make_url(url)
    worker_url = base.set(database=base.database + worker_suffix())
    ensure_postgres_database(base, worker_url.database)
    return worker_url.render_as_string(hide_password=False)


_created_databases: set[str] = set()


def ensure_postgres_database(base_url, name: str) -> None:
    """Create the worker's database next to TEST_DATABASE_URL's once per run."""
    if name in _created_databases:
        return
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.scalar(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        )
        if not exists:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    _created_databases.add(name)


def engine_options_for(backend: str) -> dict:
    """Durability the tests do not need: a crash only loses a throw-away database.

    PostgreSQL skips the WAL flush at commit; neither backend pings a pooled connection first
    (nothing closes them behind the tests' back)."""
    if backend == "postgresql":
        return {"connect_args": {"options": "-c synchronous_commit=off"}}
    return {}


BACKENDS = ["sqlite"] + (["postgresql"] if postgres_url() else [])
_apps: dict = {}


def build_app(backend: str, tmp_path_factory, **extra):
    if backend == "sqlite":
        uri = "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.db")
    else:
        uri = postgres_url()
    config = {
        **TEST_CONFIG,
        "SQLALCHEMY_DATABASE_URI": uri,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options_for(backend),
        "ATTACHMENT_FOLDER": str(tmp_path_factory.mktemp("attachments")),
        **extra,
    }
    # Not StrictUndefined: Flask-Admin's own form templates read optional widget attributes.
    app = create_app(config)
    if backend == "sqlite":
        with app.app_context():
            sa.event.listen(db.engine, "connect", _sqlite_without_fsync)
    return app


def _sqlite_without_fsync(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def shared_app(backend: str, tmp_path_factory):
    """The one app per backend that all tests share (its tables are created once)."""
    if backend not in _apps:
        new_app = build_app(backend, tmp_path_factory)
        with new_app.app_context():
            db.drop_all()
            db.create_all()
        _apps[backend] = new_app
    return _apps[backend]


@contextmanager
def fresh_database(backend: str, tmp_path_factory):
    """An app context on empty tables with the roles and settings; emptied again afterwards.

    The ``app`` fixture uses it per test; a module that builds one population for many tests
    uses it in a module-scoped fixture."""
    app = shared_app(backend, tmp_path_factory)
    # Failed logins are counted in the login_failures table, which wipe_tables empties after
    # each test, so earlier tests never throttle this one.
    with app.app_context():
        forget_process_caches()
        ensure_roles()
        ensure_settings()
        db.session.commit()
        try:
            yield app
        finally:
            db.session.remove()
            wipe_tables()


def forget_process_caches() -> None:
    """Caches a worker process keeps between requests (filter options, the list pages'
    working-day calendar) outlive a test's emptied tables: each test starts without them."""
    from admin_views.filters import CachedOptions
    from models.calendar import forget_work_calendar
    from models.queries.lists import forget_list_calendar

    CachedOptions.clear_all()
    forget_work_calendar()
    forget_list_calendar()


@pytest.fixture
def app(backend, tmp_path_factory):
    with fresh_database(backend, tmp_path_factory) as app:
        yield app


def wipe_tables() -> None:
    tables = list(reversed(db.metadata.sorted_tables))
    # DELETE beats TRUNCATE here: the tables hold a handful of rows, and TRUNCATE of 46 tables
    # rewrites 46 files per test (about 0.3 s on PostgreSQL).
    with db.engine.begin() as connection:
        for table in tables:
            connection.execute(table.delete())


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def government(app):
    load_preset("government")
    db.session.commit()


_sequence = itertools.count(1)


@pytest.fixture
def create_user(app):
    from models.operations.users import create_user as create_user_op

    def _create(role="admin", *, unit=None, username=None, password="secret123"):
        user = create_user_op(
            username=username or f"user{next(_sequence)}",
            full_name=f"测试{role}",
            password=password,
            role_codes=[role],
        )
        user.unit = unit
        db.session.commit()
        return user

    return _create


def sign_in(client, user: User):
    """Make ``client`` send ``user``'s session cookie (no password round trip)."""
    # Requests in a test share the test's app context, where Flask-Login caches the user.
    g.pop("_login_user", None)
    with client.session_transaction() as session:
        session["_user_id"] = user.session_token
        session["_fresh"] = True
    return client


@pytest.fixture
def login_as(client):
    def _login(user: User):
        return sign_in(client, user)

    return _login


@pytest.fixture
def create_party(app):
    def _create(name="张三", **fields):
        party = Party(name=name, **fields)
        db.session.add(party)
        db.session.commit()
        return party

    return _create


@pytest.fixture
def create_case(app, create_user):
    from models.enums import CaseChannel
    from models.operations.cases import register_case

    def _create(*, by=None, petitioners=(), **fields):
        by = by or create_user("registrar")
        values = {
            "channel": CaseChannel.letter,
            "subject": "小区道路破损",
            "content": "小区门口道路破损，雨天积水。",
            "received_at": utcnow() - timedelta(hours=2),
        }
        values.update(fields)
        case = register_case(Case(**values), by=by, petitioners=petitioners)
        db.session.commit()
        return case

    return _create


@pytest.fixture
def count_queries(app):
    """Count the SQL statements run inside the ``with`` block."""

    @contextmanager
    def _count():
        statements: list[str] = []

        def listener(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)

        sa.event.listen(db.engine, "before_cursor_execute", listener)
        try:
            yield statements
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listener)

    return _count


def row_counts() -> dict[str, int]:
    """Rows per table, to prove that a rejected request changed nothing."""
    return dict(db.session.execute(_row_count_statement()).all())


@functools.cache
def _row_count_statement():
    # One statement for all tables, built once: the refused-step matrices count hundreds of times.
    return sa.union_all(
        *(
            sa.select(
                sa.literal(table.name).label("name"), sa.func.count().label("rows")
            ).select_from(table)
            for table in db.metadata.sorted_tables
        )
    )
