"""Issue 17: failures people understand — a Chinese 503 while the database is unreachable, request
ids on error pages and in the log, /healthz and /readyz, disk failures on upload, and a Redis that
never answers."""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import socket
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from admin_views.security import LoginThrottle
from models import Attachment, db

from .conftest import TEST_CONFIG, build_app, sign_in

# Opens connections of its own (logins' throttle, backups, probes): never rolled back.
pytestmark = pytest.mark.own_connections

REDIS_DB_URL = os.environ.get("TEST_REDIS_URL_ISSUE17", "redis://127.0.0.1:6379/14")


# -- helpers ------------------------------------------------------------------------------


class HangingServer:
    """A TCP server that accepts connections and never answers (a wedged Redis)."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _address = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.held.append(connection)

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(2)
        for connection in self.held:
            connection.close()
        self.listener.close()


@pytest.fixture
def hanging_redis():
    server = HangingServer()
    yield server
    server.close()


def unreachable_uri(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/no-such-folder/nowhere.db"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens on this port now
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/xinfang"


@pytest.fixture
def unreachable_app(backend, tmp_path):
    from app import create_app

    return create_app(
        {
            **TEST_CONFIG,
            "SQLALCHEMY_DATABASE_URI": unreachable_uri(backend, tmp_path),
            "ATTACHMENT_FOLDER": str(tmp_path / "attachments"),
        }
    )


def assert_chinese_503(response) -> str:
    html = response.get_data(as_text=True)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert "暂时无法连接数据库" in html
    assert "Internal Server Error" not in html
    assert response.headers["X-Request-ID"] in html
    return html


def upload(client, case, data=b"%PDF-1.4 letter"):
    return client.post(
        f"/admin/attachment/new/?case_id={case.id}",
        data={
            "case": str(case.id),
            "kind": "scanned_letter",
            "title": "来信原件",
            "file": (io.BytesIO(data), "来信.pdf"),
        },
        content_type="multipart/form-data",
    )


def stored_files(app) -> list[Path]:
    folder = Path(app.config["ATTACHMENT_FOLDER"])
    return [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []


# -- the database is unreachable ----------------------------------------------------------


def test_unreachable_database_gives_a_chinese_503(unreachable_app):
    client = unreachable_app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = "some-session-token"
    response = client.get("/admin/case/", headers={"X-Request-ID": "desk-7-0042"})
    html = assert_chinese_503(response)
    assert response.headers["X-Request-ID"] == "desk-7-0042"
    assert "desk-7-0042" in html

    # The login form itself needs no database; signing in does.
    anonymous = unreachable_app.test_client()
    assert anonymous.get("/admin/login/").status_code == 200
    attempt = anonymous.post("/admin/login/", data={"username": "li", "password": "secret123"})
    assert_chinese_503(attempt)


def test_probes_when_the_database_is_unreachable(unreachable_app):
    client = unreachable_app.test_client()
    alive = client.get("/healthz")
    assert alive.status_code == 200
    assert alive.get_json()["status"] == "ok"

    ready = client.get("/readyz")
    assert ready.status_code == 503
    body = ready.get_json()
    assert body["status"] == "fail"
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["disk"]["ok"] is True
    assert body["request_id"] == ready.headers["X-Request-ID"]


def test_connection_lost_during_an_upload_gives_503_and_leaves_nothing(
    app, create_user, create_case, login_as
):
    case = create_case()
    client = login_as(create_user("registrar"))
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Attachment))
    # The worker's attachment folder outlives each test: compare with what was there before.
    files_before = set(stored_files(app))
    killer = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool)

    def drop_connection(connection, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith("INSERT INTO ATTACHMENTS"):
            return
        if connection.dialect.name == "postgresql":
            pid = connection.connection.dbapi_connection.info.backend_pid
            with killer.connect() as other:
                other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        else:
            raise sa.exc.OperationalError(statement, parameters, Exception("disk I/O error"))

    sa.event.listen(db.engine, "before_cursor_execute", drop_connection)
    try:
        response = upload(client, case)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", drop_connection)
        killer.dispose()
    assert_chinese_503(response)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == before
    assert set(stored_files(app)) == files_before


# -- request ids, logs and the static page ------------------------------------------------


def test_request_id_is_echoed_shown_and_logged(client, caplog):
    with caplog.at_level(logging.INFO, logger="xinfang.requests"):
        response = client.get("/admin/no-such-page/", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == "abc-123"
    html = response.get_data(as_text=True)
    assert "请求编号" in html and "abc-123" in html
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "xinfang.requests"]
    assert {
        "request_id": "abc-123",
        "method": "GET",
        "path": "/admin/no-such-page/",
        "status": 404,
    }.items() <= lines[-1].items()
    assert lines[-1]["ms"] >= 0


def test_a_doubtful_request_id_is_replaced(client):
    response = client.get("/healthz", headers={"X-Request-ID": "<script>x</script>"})
    generated = response.headers["X-Request-ID"]
    assert generated != "<script>x</script>"
    assert len(generated) == 32 and int(generated, 16) >= 0
    other = client.get("/healthz").headers["X-Request-ID"]
    assert other != generated


def test_server_error_page_is_static_chinese_with_request_id(backend, tmp_path_factory, caplog):
    broken = build_app(backend, tmp_path_factory, PROPAGATE_EXCEPTIONS=False)

    @broken.route("/boom")
    def boom():
        raise RuntimeError("a bug")

    with caplog.at_level(logging.INFO):
        response = broken.test_client().get("/boom", headers={"X-Request-ID": "r-500"})
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "服务器内部错误" in html and "r-500" in html
    assert "Internal Server Error" not in html
    assert "Retry-After" not in response.headers
    assert any("r-500" in record.getMessage() for record in caplog.records)


def test_static_page_in_english_for_english_sessions(unreachable_app):
    client = unreachable_app.test_client()
    with client.session_transaction() as session:
        session["locale"] = "en"
        session["_user_id"] = "x"
    response = client.get("/admin/case/")
    html = response.get_data(as_text=True)
    assert response.status_code == 503
    assert 'lang="en"' in html
    assert "database" in html.lower()


# -- probes -------------------------------------------------------------------------------


def test_readyz_reports_each_check(app, client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    checks = response.get_json()["checks"]
    assert checks["database"]["ok"] and checks["disk"]["ok"]
    assert "ATTACHMENT_FOLDER" in checks["disk"]["free_mb"]
    assert "redis" not in checks  # not configured
    # The probe's test file is gone again.
    assert not [p for p in stored_files(app) if p.name.startswith(".readyz-")]


def test_readyz_fails_when_the_attachment_folder_is_unwritable(app, client, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setitem(app.config, "ATTACHMENT_FOLDER", str(blocker / "attachments"))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["disk"]["ok"] is False


def test_readyz_with_redis_and_a_worker_heartbeat(app, client, monkeypatch):
    redis = pytest.importorskip("redis")
    from rq import Queue, Worker
    from rq.utils import utcformat

    from models.operations.registers import QUEUE_NAME

    connection = redis.Redis.from_url(REDIS_DB_URL, socket_timeout=1)
    try:
        connection.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis server")
    monkeypatch.setitem(app.config, "REDIS_URL", REDIS_DB_URL)
    monkeypatch.delitem(app.extensions, "readyz_redis", raising=False)
    worker = Worker(
        [Queue(QUEUE_NAME, connection=connection)],
        connection=connection,
        name=f"issue17-{time.time_ns()}",
    )
    worker.register_birth()
    try:
        worker.heartbeat()
        response = client.get("/readyz")
        assert response.status_code == 200, response.get_json()
        checks = response.get_json()["checks"]
        assert checks["redis"]["ok"] is True
        assert checks["worker"]["workers"] >= 1

        # Every registered worker's heartbeat is an hour old: not ready.
        for key in connection.smembers(f"rq:workers:{QUEUE_NAME}"):
            connection.hset(key, "last_heartbeat", utcformat(worker.birth_date.replace(year=2000)))
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.get_json()["checks"]["worker"]["ok"] is False
    finally:
        worker.register_death()
        connection.delete(worker.key)
        app.extensions.pop("readyz_redis", None)


def test_readyz_with_a_hanging_redis_answers_quickly(app, client, hanging_redis, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", hanging_redis.url)
    monkeypatch.delitem(app.extensions, "readyz_redis", raising=False)
    started = time.monotonic()
    response = client.get("/readyz")
    assert time.monotonic() - started < 2
    app.extensions.pop("readyz_redis", None)
    assert response.status_code == 503
    assert response.get_json()["checks"]["redis"]["ok"] is False


# -- disks that refuse --------------------------------------------------------------------


def test_unwritable_attachment_folder_gives_a_chinese_message(
    app, create_user, create_case, login_as, tmp_path, monkeypatch
):
    case = create_case()
    client = login_as(create_user("registrar"))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setitem(app.config, "ATTACHMENT_FOLDER", str(blocker / "attachments"))
    response = upload(client, case)
    assert response.status_code == 200
    assert "文件存储目录不可写" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 0
    assert blocker.read_text() == "not a folder"


def test_full_disk_gives_a_chinese_message_and_removes_the_partial_file(
    app, create_user, create_case, login_as, monkeypatch
):
    case = create_case()
    client = login_as(create_user("registrar"))
    folder = Path(app.config["ATTACHMENT_FOLDER"]).resolve()
    real_write = os.write
    partial_seen = []
    files_before = set(stored_files(app))

    def write_half_then_fail(descriptor, data):
        target = os.readlink(f"/proc/self/fd/{descriptor}")
        if not target.startswith(str(folder)):
            return real_write(descriptor, data)
        real_write(descriptor, bytes(data[: len(data) // 2]))
        partial_seen.extend(p for p in folder.rglob("*") if p.is_file() and p not in files_before)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", write_half_then_fail)
    response = upload(client, case, data=b"%PDF-1.4 " + b"x" * 4096)
    monkeypatch.undo()
    assert response.status_code == 200
    assert "服务器磁盘空间已满" in response.get_data(as_text=True)
    assert partial_seen, "the fault was injected while a partial file existed"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 0
    assert set(stored_files(app)) == files_before

    # With space again the same upload works and the whole file is stored.
    response = upload(client, case, data=b"%PDF-1.4 " + b"x" * 4096)
    assert response.status_code == 302
    (stored,) = set(stored_files(app)) - files_before
    assert stored.read_bytes() == b"%PDF-1.4 " + b"x" * 4096


# -- a Redis that never answers -----------------------------------------------------------


def test_login_with_a_hanging_redis_completes_quickly(app, create_user, hanging_redis, monkeypatch):
    user = create_user("registrar", password="right123")
    monkeypatch.setitem(app.config, "REDIS_URL", hanging_redis.url)
    monkeypatch.setitem(app.extensions, "login_throttle", LoginThrottle.from_config(app))
    for attempt, password in enumerate(("wrong-one", "right123")):
        client = app.test_client()
        started = time.monotonic()
        response = client.post(
            "/admin/login/", data={"username": user.username, "password": password}
        )
        elapsed = time.monotonic() - started
        assert elapsed < 2, f"login {attempt} took {elapsed:.2f} s"
        if password == "right123":
            assert response.status_code == 302
        else:
            assert response.status_code == 200
    assert hanging_redis.held, "the login really talked to the hanging server"


def test_every_redis_client_gives_up_within_a_second(hanging_redis):
    redis = pytest.importorskip("redis")
    from models.redis_client import redis_client

    client = redis_client(hanging_redis.url, {})
    started = time.monotonic()
    with pytest.raises(redis.exceptions.RedisError):
        client.ping()
    assert time.monotonic() - started < 1.5


def test_register_job_falls_back_to_a_thread_quickly(app, hanging_redis, monkeypatch):
    from models.operations import registers

    monkeypatch.setitem(app.config, "REDIS_URL", hanging_redis.url)

    class Job:
        id = 0
        row_count = 10

    calls = []
    monkeypatch.setattr(registers, "_set_runner", lambda job, runner: calls.append(runner))
    monkeypatch.setattr(registers, "_run_in_thread", lambda app, job_id: None)
    monkeypatch.setattr(registers, "local_threads", {})
    started = time.monotonic()
    assert registers.start_job(Job()) == "thread"
    assert time.monotonic() - started < 1.5
    assert calls == ["thread"]


def test_signed_in_pages_still_work_with_request_ids(app, create_user, client):
    user = create_user("registrar")
    sign_in(client, user)
    response = client.get("/admin/case/")
    assert response.status_code == 200
    assert len(response.headers["X-Request-ID"]) == 32
