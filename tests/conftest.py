"""Test fixtures: every test runs on SQLite and, when TEST_DATABASE_URL is set, on PostgreSQL."""

from __future__ import annotations

import functools
import gc
import itertools
import os
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import current_app, g
from flask.testing import FlaskClient
from flask_sqlalchemy.session import Session as FlaskSession
from werkzeug.test import run_wsgi_app as werkzeug_run_wsgi_app
from werkzeug.wsgi import get_current_url

from app import create_app, database_url_from_env
from models import Case, Party, db
from models.base import utcnow
from models.maintenance.presets import ensure_roles, ensure_settings, load_preset
from models.users import User
from tests import percent_coding

percent_coding.install()  # same results as urllib's, without a Python loop per byte

TEST_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "test-secret-key",
    "WTF_CSRF_ENABLED": False,
    # Still Argon2id, at the smallest cost it accepts: at 8 MiB a hash or a check took 5-13 ms,
    # and thousands of tests create users or sign in with a password.
    "ARGON2_PARAMS": {"time_cost": 1, "memory_cost": 64, "parallelism": 1},
}


# --- scheduling under pytest-xdist --------------------------------------------------------------
#
# ``--dist loadscope`` keeps a module on one worker and, by default, hands modules out in order of
# their number of tests. Test counts say little about time here: the fuzz module's 46 tests take
# longer than most 500-test matrices, and the browser and migration modules (a handful of tests,
# 30 s each) were handed out last, so one worker ran them alone while the other sat idle. Two
# changes, neither of which changes which tests run or how:
#
# * a module's SQLite and PostgreSQL tests are separate work units (their module-scoped
#   populations are built per backend anyway), so no unit is longer than half a big module;
# * units go out longest first, by the times measured on a whole run below (seconds of test
#   time per module and backend, rounded, from a run on an otherwise idle machine; a unit not
#   listed counts as 0.1 s a test), so the units left at the end are the short ones.
#
# The figures only order the queue: stale ones cost a little balance, never a test.
UNIT_SECONDS = {
    "test_fuzz_input": {"postgresql": 49, "sqlite": 35},
    "test_stats_rollup_issue16": {"postgresql": 35, "sqlite": 22},
    "test_masking_matrix": {"postgresql": 30, "sqlite": 25},
    "test_workflow_states": {"postgresql": 29, "sqlite": 22},
    "test_access_matrix": {"postgresql": 26, "sqlite": 24},
    "test_e2e_scenarios": {"": 26},
    "test_accessibility_issue19": {"": 23},
    "test_registers": {"postgresql": 22, "sqlite": 18},
    "test_retention": {"postgresql": 22, "sqlite": 9},
    "test_sector_scenarios_enterprise_property": {"postgresql": 15, "sqlite": 9},
    "test_admin_access": {"postgresql": 15, "sqlite": 13},
    "test_forms_pickers_issue19": {"postgresql": 14, "sqlite": 9},
    "test_migrations": {"sqlite": 14},
    "test_statistics": {"postgresql": 14, "sqlite": 8},
    "test_backup_issue17": {"postgresql": 14},
    "test_api_issue18": {"postgresql": 13, "sqlite": 9},
    "test_model_views_save": {"postgresql": 11, "sqlite": 8},
    "test_bad_input": {"postgresql": 11},
    "test_documents_issue15": {"postgresql": 11, "sqlite": 8},
    "test_scenarios_issue15": {"postgresql": 10, "sqlite": 9},
    "test_list_queries": {"postgresql": 10},
    "test_details_queries_issue16": {"postgresql": 10},
    "test_workflow_issue15": {"postgresql": 10},
    "test_settings_deadends": {"postgresql": 9},
    "test_masking": {"postgresql": 9},
    "test_e2e": {"": 9},
    "test_document_geometry_issue19": {"postgresql": 8, "sqlite": 7},
    "test_documents": {"sqlite": 8},
    "test_worker_issue17": {"postgresql": 8},
    "test_access_control": {"postgresql": 8},
    "test_routing": {"postgresql": 7},
    "test_scenarios_workflow": {"postgresql": 7},
}
_BACKEND_IDS = {"sqlite", "postgresql"}


def work_unit(nodeid: str) -> str:
    """``path::`` plus the backend the test runs on, if it has one in its parameters."""
    path, _, name = nodeid.partition("::")
    params = name.partition("[")[2].rstrip("]").split("-") if "[" in name else []
    backend = next((part for part in params if part in _BACKEND_IDS), "")
    return f"{path}::{backend}"


def unit_seconds(unit: str, tests: int) -> float:
    path, _, backend = unit.partition("::")
    module = path.rsplit("/", 1)[-1].removesuffix(".py")
    return UNIT_SECONDS.get(module, {}).get(backend, 0.1 * tests)


@pytest.hookimpl(optionalhook=True)  # also without xdist (-p no:xdist)
def pytest_xdist_make_scheduler(config, log):
    if config.getoption("dist") != "loadscope":
        return None  # the other --dist modes as xdist has them
    from xdist.scheduler import LoadScopeScheduling

    class LongestFirst(LoadScopeScheduling):
        _sorted = False

        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

        def _assign_work_unit(self, node) -> None:
            # The queue is complete when the first unit is handed out: sort it then, once.
            if not self._sorted:
                units = sorted(
                    self.workqueue.items(), key=lambda item: -unit_seconds(item[0], len(item[1]))
                )
                self.workqueue.clear()
                self.workqueue.update(units)
                self._sorted = True
            super()._assign_work_unit(node)

    return LongestFirst(config, log)


# --- garbage collection ---------------------------------------------------------------------------
#
# A worker's heap is large and long-lived (every collected test item, the apps with their admin
# views and compiled templates, SQLAlchemy's statement caches), and CPython's full collections
# walk all of it: on one worker they took 10-14 % of the run (0.3-0.6 s each, dozens of them).
# Objects that live for the whole session are moved out of the collector's sight once they
# exist (gc.freeze: after collection, and after each shared app is built), and full
# collections run a tenth as often. The youngest generation is collected after 10,000 net
# allocations instead of 700: a request allocates tens of thousands of short-lived objects
# (SQLAlchemy rows and statements, Jinja output), and the collections of the two younger
# generations took about 2 % of a worker's time (1.5 s of GC in an 80 s two-module run; 0.8 s
# with this threshold, and 2.6 s instead of 4.3 s of GC in all). Garbage is still collected,
# only later; no test relies on when that happens. While the tests are collected (imports,
# thousands of items, nothing to free yet) the collector is off.
GC_THRESHOLD_YOUNG = 10_000  # CPython's default is 700
GC_THRESHOLD_FULL = 100  # CPython's default is 10 young-generation collections per full one


def freeze_long_lived() -> None:
    """Collect what is garbage now, then exempt everything left from later collections."""
    gc.collect()
    gc.freeze()


def pytest_configure(config):
    _young, middle, _full = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD_YOUNG, middle, GC_THRESHOLD_FULL)
    gc.disable()


def pytest_collection_finish(session):
    freeze_long_lived()
    gc.enable()


def worker_suffix() -> str:
    """``_gw0``, ``_gw1`` … under pytest-xdist, so each worker has databases of its own."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return f"_{worker}" if worker else ""


def worker_redis_url(databases: tuple[int, ...]) -> str:
    """``redis://127.0.0.1:6379/<n>`` with ``n`` taken from ``databases`` by xdist worker, so
    that two workers never share a queue: a module's SQLite and PostgreSQL halves are separate
    work units and may run at the same time, and one half's worker could take the other's
    job. ``databases``: Redis databases no other module uses."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    index = int(worker) if worker.isdigit() else 0
    return f"redis://127.0.0.1:6379/{databases[index % len(databases)]}"


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

    PostgreSQL skips the WAL flush at commit, and starts no parallel workers: the tests'
    tables hold a handful of rows, yet once the emptied tables' dead rows raise a statement's
    estimated cost (the 46-table row count above all), starting two workers took 20 ms where
    the work took one. Neither backend pings a pooled connection first (nothing closes them
    behind the tests' back)."""
    if backend == "postgresql":
        options = "-c synchronous_commit=off -c max_parallel_workers_per_gather=0"
        return {"connect_args": {"options": options}}
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
    app.test_client_class = CookiesByPathClient
    if backend == "sqlite":
        with app.app_context():
            sa.event.listen(db.engine, "connect", _sqlite_without_fsync)
    return app


class CookiesByPathClient(FlaskClient):
    """Flask's test client, but it matches and stores cookies by host and path without first
    decoding the whole URL: Werkzeug's does, twice per request, and for the fuzz tests' query
    strings of 100 000 characters that cost more than the request itself.

    The same steps as ``werkzeug.test.Client``'s (3.x); only the query string is left out."""

    def _add_cookies_to_wsgi(self, environ) -> None:
        if self._cookies is None:
            return
        url = urlsplit(get_current_url(environ, strip_querystring=True))
        server_name = url.hostname or "localhost"
        value = "; ".join(
            c._to_request_header()
            for c in self._cookies.values()
            if c._matches_request(server_name, url.path)
        )
        if value:
            environ["HTTP_COOKIE"] = value
        else:
            environ.pop("HTTP_COOKIE", None)

    def run_wsgi_app(self, environ, buffered: bool = False):
        self._add_cookies_to_wsgi(environ)
        rv = werkzeug_run_wsgi_app(self.application, environ, buffered=buffered)
        url = urlsplit(get_current_url(environ, strip_querystring=True))
        self._update_cookies_from_response(
            url.hostname or "localhost", url.path, rv[2].getlist("Set-Cookie")
        )
        return rv


def _sqlite_without_fsync(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


@functools.cache
def collection_app():
    """An app without a database, for reading its URL map and admin views while tests are
    collected: one per process, shared by the modules that parametrise over them (building
    an app takes about 2 s, and each xdist worker collects every module)."""
    return create_app(
        {
            **TEST_CONFIG,
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "ATTACHMENT_FOLDER": tempfile.mkdtemp(),
        }
    )


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
            sa.event.listen(db.engine, "checkout", _second_connection_guard)
        _apps[backend] = new_app
        freeze_long_lived()
    return _apps[backend]


# --- isolation -----------------------------------------------------------------------------------
#
# Between two tests the tables hold exactly the roles and the settings (``_base_rows``). A test
# gets there back in one of two ways:
#
# * wiped (the default, ``@pytest.mark.own_connections``, and module populations through
#   ``fresh_database``): the test commits for real and every table is emptied afterwards.
#   Needed by tests whose code opens connections of its own (threads, ``db.engine.begin()`` in
#   the login-failure counter, the exports' own session, backups, migrations), which would not
#   see a rolled-back test's transaction.
# * rolled back (``@pytest.mark.rolled_back``; with XFT_TEST_ROLLBACK=1 every test not marked
#   ``own_connections``): the test's session works on one connection inside a transaction that
#   is rolled back at the end. The app's commits release a savepoint of that transaction
#   (``join_transaction_mode="create_savepoint"``), so everything the app does -- commits,
#   rollbacks, savepoints, after_commit hooks -- happens as usual, and nothing of it stays.
#   NOT yet the default: a first SQLite-only run of the whole suite with XFT_TEST_ROLLBACK=1
#   had about 20 failures/errors, not yet sorted into ``own_connections`` or fixed.
#
# A rolled-back test that opens a second connection fails with a message saying so
# (``_second_connection_guard``), so no test runs silently on the wrong footing.


@dataclass
class _Rollback:
    app: object
    connection: sa.Connection
    thread: int
    second_connections: list


_rollback: _Rollback | None = None
_base_table_rows: dict = {}  # app -> table_rows() of the roles and settings
_base_rows: dict[str, bool] = {}  # backend -> the roles and settings are committed
_base_counts: dict[str, dict[str, int]] = {}  # backend -> rows per table between tests


class _TestSession(FlaskSession):
    """The app's session class, but on the rolled-back test's connection while one runs."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        state = _rollback
        if (
            bind is None
            and state is not None
            and state.thread == threading.get_ident()
            and current_app._get_current_object() is state.app
        ):
            return state.connection
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)


db.session.session_factory.class_ = _TestSession
# Only matters for a session on a connection (the rolled-back test's): the app's commits and
# rollbacks release and roll back a savepoint of the test's transaction.
db.session.session_factory.configure(join_transaction_mode="create_savepoint")


class SecondConnectionError(RuntimeError):
    pass


def _second_connection_guard(_dbapi_connection, _record, _proxy):
    state = _rollback
    if state is not None:
        message = (
            "a rolled-back test opened a second database connection, which cannot see its "
            "transaction: mark the test with @pytest.mark.own_connections"
        )
        state.second_connections.append(message)
        raise SecondConnectionError(message)


def _commit_base_rows(backend: str) -> None:
    if not _base_rows.get(backend):
        ensure_roles()
        ensure_settings()
        db.session.commit()
        _base_counts[backend] = row_counts()
        db.session.remove()
        _base_rows[backend] = True


@contextmanager
def rolled_back_database(backend: str, tmp_path_factory):
    """An app context on the roles and settings whose changes are rolled back afterwards."""
    global _rollback
    app = shared_app(backend, tmp_path_factory)
    with app.app_context():
        forget_process_caches()
        _commit_base_rows(backend)
        connection = db.engine.connect()
        transaction = connection.begin()
        if backend == "sqlite":
            # pysqlite begins a transaction only before a write, and a SAVEPOINT outside one
            # would be the transaction itself (its release would commit): begin explicitly.
            connection.exec_driver_sql("BEGIN")
        db.session.remove()
        state = _Rollback(app, connection, threading.get_ident(), [])
        _rollback = state
        _at_base_rows.add(app)
        try:
            yield app
        finally:
            try:
                db.session.remove()
            finally:
                _rollback = None
                transaction.rollback()
                connection.close()
        if state.second_connections:
            pytest.fail(state.second_connections[0], pytrace=False)
        if os.environ.get("XFT_TEST_CHECK_ISOLATION"):
            assert_rows_left(_base_counts[backend])


@contextmanager
def fresh_database(backend: str, tmp_path_factory):
    """An app context on the roles and settings, with every table emptied afterwards.

    The ``app`` fixture uses it unless the test is rolled back; a module that builds one
    population for many tests uses it in a module-scoped fixture."""
    app = shared_app(backend, tmp_path_factory)
    # Failed logins are counted in the login_failures table, which wipe_tables empties after
    # each test, so earlier tests never throttle this one.
    with app.app_context():
        forget_process_caches()
        if not _base_rows.get(backend) and app in _base_table_rows:
            # The same rows as the first test's ensure_roles/ensure_settings, copied in: a
            # few bulk INSERTs instead of reading both tables and adding 22 objects (5-10 ms).
            copy_rows(_base_table_rows[app])
        else:
            ensure_roles()
            ensure_settings()
            db.session.commit()
            if app not in _base_table_rows:
                _base_table_rows[app] = table_rows()
        _base_rows[backend] = True
        _at_base_rows.add(app)
        try:
            yield app
        finally:
            db.session.remove()
            _base_rows[backend] = False
            wipe_tables()
        if os.environ.get("XFT_TEST_CHECK_ISOLATION"):
            assert_rows_left({})


def assert_rows_left(expected: dict[str, int]) -> None:
    """What a test leaves behind (``XFT_TEST_CHECK_ISOLATION=1``): the roles and settings and
    their audit entries after a rolled-back test, nothing after a wiped one."""
    counts = {name: rows for name, rows in row_counts().items() if rows}
    db.session.remove()
    expected = {name: rows for name, rows in expected.items() if rows}
    assert counts == expected, f"rows left behind: {counts}, expected {expected}"


def forget_process_caches() -> None:
    """Caches a worker process keeps between requests (filter options, the list pages'
    working-day calendar, long lists' totals) outlive a test's emptied tables: each test
    starts without them."""
    from admin_views.filters import CachedOptions
    from models.calendar import forget_work_calendar
    from models.queries.lists import forget_list_calendar, forget_long_totals

    CachedOptions.clear_all()
    forget_work_calendar()
    forget_list_calendar()
    forget_long_totals()


@pytest.fixture
def app(request, backend, tmp_path_factory):
    marker = request.node.get_closest_marker
    if marker("rolled_back") or (
        os.environ.get("XFT_TEST_ROLLBACK") and not marker("own_connections")
    ):
        isolation = rolled_back_database
    else:
        isolation = fresh_database
    with isolation(backend, tmp_path_factory) as app:
        yield app


def wipe_tables() -> None:
    """Empty every table: on the rolled-back test's connection while one runs."""
    tables = list(reversed(db.metadata.sorted_tables))
    # DELETE beats TRUNCATE here: the tables hold a handful of rows, and TRUNCATE of 46 tables
    # rewrites 46 files per test (about 0.3 s on PostgreSQL).
    if _rollback is not None and _rollback.thread == threading.get_ident():
        for table in tables:
            _rollback.connection.execute(table.delete())
        return
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # All the DELETEs in one round trip (psycopg sends a statement without parameters
            # as one simple query): one execute per table cost 15-20 ms a test on the client.
            # Without the foreign-key triggers when the role may switch them off: every table is
            # emptied in this one transaction, so no reference can dangle, and the triggers'
            # per-row look-ups into each referencing table were most of the wipe (9 of 13 ms
            # after the government preset and three users).
            script = _delete_all_script(connection.dialect)
            if _may_skip_triggers(connection):
                script = "SET LOCAL session_replication_role = replica; " + script
            connection.exec_driver_sql(script)
        else:
            for table in tables:
                connection.execute(table.delete())
    _vacuum_now_and_then()


_superuser: dict[str, bool] = {}


def _may_skip_triggers(connection) -> bool:
    """Only a superuser may set session_replication_role (CI connects as postgres)."""
    url = str(connection.engine.url)
    if url not in _superuser:
        _superuser[url] = connection.exec_driver_sql("SHOW is_superuser").scalar() == "on"
    return _superuser[url]


@functools.cache
def _delete_all_script(dialect) -> str:
    return "; ".join(
        str(table.delete().compile(dialect=dialect))
        for table in reversed(db.metadata.sorted_tables)
    )


#: Tables emptied since the last VACUUM, in this process.
_wipes_since_vacuum = 0
WIPES_PER_VACUUM = 50


def _vacuum_now_and_then() -> None:
    """Reclaim what the DELETEs above leave behind on PostgreSQL every few dozen tests.

    A server with autovacuum off (as on the test machine) otherwise keeps every deleted row:
    by the end of a run the small tables the tests scan hold tens of thousands of dead rows,
    and every statement that reads them, row counts and rollup recomputes above all, slows
    down as the run goes on."""
    global _wipes_since_vacuum
    if db.engine.dialect.name != "postgresql":
        return
    _wipes_since_vacuum += 1
    if _wipes_since_vacuum < WIPES_PER_VACUUM:
        return
    _wipes_since_vacuum = 0
    names = ", ".join(
        db.engine.dialect.identifier_preparer.quote(t.name) for t in db.metadata.sorted_tables
    )
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(f"VACUUM {names}")


@pytest.fixture
def client(app):
    return app.test_client()


# --- the government preset ------------------------------------------------------------------------
#
# Some 1,100 tests per backend start from the government preset, and loading it through the ORM
# (about 250 rows and their audit entries, each checked for first) took 40-60 ms a test. On the
# shared apps it is loaded that way once per backend and the rows are then copied back in a few
# bulk statements: the same rows, ids and audit entries, and the session is committed as after a
# load. Only when the tables hold exactly the roles and settings (no statement has changed a row
# since, ``_at_base_rows``); otherwise, as in a module with a population, it is loaded as usual.

#: Shared apps whose tables hold only the roles and settings: no data-changing statement ran since.
_at_base_rows: set = set()
_READS = ("SELECT", "SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "PRAGMA", "SHOW", "COMMIT")
_preset_rows: dict = {}  # app -> [(table, rows)] after load_preset("government")


@sa.event.listens_for(sa.engine.Engine, "before_cursor_execute")
def _note_write(_conn, _cursor, statement, _parameters, _context, _executemany):
    # Every engine in the process, not only the shared apps': a test's own app on the same
    # PostgreSQL database writes to the same tables.
    if _at_base_rows and not statement.lstrip()[:9].upper().startswith(_READS):
        _at_base_rows.clear()


@pytest.fixture
def government(app):
    if app not in _at_base_rows:
        load_preset("government")
        db.session.commit()
        return
    if app not in _preset_rows:
        load_preset("government")
        db.session.commit()
        _preset_rows[app] = table_rows()
        return
    copy_rows(_preset_rows[app], replace=True)


def table_rows() -> list:
    """(table, rows) of every table with rows, in dependency order; the session is committed."""
    tables = [
        (table, [dict(row) for row in db.session.execute(sa.select(table)).mappings()])
        for table in db.metadata.sorted_tables
    ]
    db.session.commit()
    return [(table, rows) for table, rows in tables if rows]


def copy_rows(tables: list, *, replace: bool = False) -> None:
    """Insert ``table_rows()``'s rows, with ``replace`` in place of what the tables hold."""
    for table, _rows in reversed(tables) if replace else ():
        db.session.execute(table.delete())
    for table, rows in tables:
        db.session.execute(table.insert(), rows)
    db.session.commit()
    # As after a load: nothing the process cached before the copy is left over.
    forget_process_caches()


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
    tables = db.metadata.sorted_tables
    counts = db.session.execute(_row_count_statement()).one()
    return {table.name: rows for table, rows in zip(tables, counts, strict=True)}


@functools.cache
def _row_count_statement():
    # One statement for all tables, built once: the refused-step matrices count hundreds of
    # times. A row of scalar subqueries, without a bound parameter: PostgreSQL then keeps its
    # plan once the statement is prepared, where the 66 table names as bound literals of a
    # UNION ALL had it planned again on every run (about 2 ms; the app plans each run anew).
    return sa.select(
        *(
            sa.select(sa.func.count()).select_from(t).scalar_subquery()
            for t in db.metadata.sorted_tables
        )
    )


@contextmanager
def locale_chosen_per_request(app):
    """Choose the language afresh for every request, as in production.

    A test keeps one app context open and the test client's requests reuse it, so Flask-Babel
    would otherwise keep the first request's locale in ``g``."""
    import flask_babel
    from flask import request_finished, request_started

    def forget(*_args, **_kwargs):
        flask_babel.refresh()

    request_started.connect(forget, app)
    request_finished.connect(forget, app)
    try:
        yield
    finally:
        request_started.disconnect(forget, app)
        request_finished.disconnect(forget, app)
