"""Failures people understand.

- Every request has an id (the caller's ``X-Request-ID`` if it is sane, else a new one). It is
  sent back in the ``X-Request-ID`` header, written in one JSON log line per request
  (``xinfang.requests`` logger) and shown on every error page, so a clerk can read it out and the
  operator can find the request in the log.
- Server errors get a Chinese page built from ``templates/errors/static.html`` with plain string
  substitution: no Jinja context processors, no vocabulary, no database, so it still works when
  the database is what failed.
- While the database is unreachable, pages answer 503 with ``Retry-After`` and that page.
- ``/healthz`` answers while the process runs (load balancers restart a process that does not);
  ``/readyz`` checks the database, Redis (if configured), the stored-file folders and the job
  workers' heartbeat (if any worker has registered one), and answers 503 when one fails.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import sqlite3
import tempfile
import time
import uuid
from contextlib import suppress
from pathlib import Path
from string import Template

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, has_request_context, jsonify, request
from markupsafe import escape

from models import db
from models.texts import lazy_gettext as _l

logger = logging.getLogger(__name__)
request_log = logging.getLogger("xinfang.requests")

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
#: Probes of load balancers: not written to the request log while they answer 200.
_PROBES = ("/healthz", "/readyz")

#: Title and explanation per status of the static error page. Marked for translation; rendered
#: from the plain catalogue, so no database is needed.
STATIC_PAGES = {
    500: (
        _l("系统出错"),
        _l("服务器内部错误，操作未完成，已记录日志。请稍后重试或联系管理员。"),
    ),
    503: (
        _l("系统暂时不可用"),
        _l(
            "暂时无法连接数据库，刚才的操作没有保存。请稍等片刻再试；"
            "如果一直如此，请联系管理员并告知下方的请求编号。"
        ),
    ),
}


# -- request ids and the request log ------------------------------------------------------


_ID_KEY = "xinfang.request_id"
_STARTED_KEY = "xinfang.request_started"


def request_id() -> str:
    """This request's id (created on first use; kept in the WSGI environ, which belongs to this
    request alone, unlike ``g``, which an app context shared by several requests keeps)."""
    if not has_request_context():
        return "-"
    environ = request.environ
    current = environ.get(_ID_KEY)
    if current is None:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        current = given if _SANE_REQUEST_ID.match(given) else uuid.uuid4().hex
        environ[_ID_KEY] = current
    return current


def _start_request() -> None:
    request.environ[_STARTED_KEY] = time.perf_counter()
    request_id()


def _user_id() -> int | None:
    """The signed-in user's id if Flask-Login already loaded them (never a database query)."""
    user = g.get("_login_user")
    if user is None:
        return None
    with suppress(Exception):
        identity = sa.inspect(user).identity
        return identity[0] if identity else None
    return None


def _log_request(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = request_id()
    if request.path in _PROBES and response.status_code == 200:
        return response
    started = request.environ.get(_STARTED_KEY)
    record = {
        "request_id": request_id(),
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
        "user": _user_id(),
        "remote": request.remote_addr,
    }
    request_log.info(json.dumps(record, ensure_ascii=False))
    return response


# -- the page that needs nothing ----------------------------------------------------------


def _plain_text(text) -> str:
    """``text`` (a lazy string) translated from the catalogue alone, or the Chinese msgid."""
    msgid = text._args[0] if hasattr(text, "_args") else str(text)
    try:
        from flask_babel import get_translations

        return get_translations().gettext(msgid)
    except Exception:  # no locale, a broken catalogue: Chinese is always right
        return msgid


def _page_template() -> Template:
    template = current_app.extensions.get("static_error_template")
    if template is None:
        path = Path(current_app.root_path) / "templates" / "errors" / "static.html"
        template = Template(path.read_text("utf-8"))
        current_app.extensions["static_error_template"] = template
    return template


def static_error_response(code: int) -> Response:
    """The error page for ``code`` (500 or 503), rendered without Jinja or the database."""
    title, message = STATIC_PAGES[code]
    english = False
    with suppress(Exception):
        from flask_babel import get_locale

        english = str(get_locale()) == "en"
    html = _page_template().substitute(
        lang="en" if english else "zh-CN",
        code=code,
        app_name=escape(_plain_text(_l("信访通"))),
        title=escape(_plain_text(title)),
        message=escape(_plain_text(message)),
        home=escape(_plain_text(_l("回到首页"))),
        request_id_label=escape(_plain_text(_l("请求编号："))),
        request_id=escape(request_id()),
    )
    response = Response(html, status=code, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    if code == 503:
        response.headers["Retry-After"] = str(current_app.config.get("RETRY_AFTER_SECONDS", 30))
    return response


def is_database_unavailable(error: BaseException | None) -> bool:
    """Whether ``error`` means the database cannot be reached (rather than a bad statement)."""
    if error is None:
        return False
    if isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.TimeoutError):
        return True
    if isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, sqlite3.OperationalError):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a runtime requirement
        return False
    return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)


def _database_unavailable(error):
    logger.error(
        "database unavailable (request %s): %s: %s",
        request_id(),
        type(error).__name__,
        str(getattr(error, "orig", error))[:300],
    )
    with suppress(Exception):
        db.session.rollback()
    return static_error_response(503)


def _server_error(error):
    original = getattr(error, "original_exception", None)
    if is_database_unavailable(original):
        return _database_unavailable(original)
    logger.error("server error (request %s): %r", request_id(), original or error)
    with suppress(Exception):
        db.session.rollback()
    return static_error_response(500)


# -- probes -------------------------------------------------------------------------------


def _check(function) -> dict:
    started = time.perf_counter()
    try:
        result = function() or {}
    except Exception as error:  # each probe reports its own failure, never raises
        return {
            "ok": False,
            "error": type(error).__name__,
            "ms": round((time.perf_counter() - started) * 1000, 1),
        }
    return {"ms": round((time.perf_counter() - started) * 1000, 1), "ok": True, **result}


def _check_database() -> None:
    with db.engine.connect() as connection:
        connection.execute(sa.text("SELECT 1"))


def _redis():
    from models.redis_client import redis_client

    client = current_app.extensions.get("readyz_redis")
    if client is None:
        client = redis_client(current_app.config["REDIS_URL"])
        current_app.extensions["readyz_redis"] = client
    return client


def _check_redis() -> None:
    _redis().ping()


def _check_folders() -> dict:
    from models.maintenance.backup import FILE_FOLDER_KEYS

    free = {}
    for key in FILE_FOLDER_KEYS:
        folder = current_app.config.get(key)
        if not folder:
            continue
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".readyz-", suffix=".partial") as f:
            f.write(b"ok")
            f.flush()
        free_bytes = shutil.disk_usage(folder).free
        free[key] = free_bytes // (1024 * 1024)
        if free_bytes < current_app.config.get("MAX_CONTENT_LENGTH", 0):
            raise OSError(f"{key}: less free space than one upload")
    return {"free_mb": free}


def _check_workers() -> dict:
    """Heartbeats of the RQ job workers serving the register queue, if any registered one."""
    from rq import Queue, Worker

    from models.operations.registers import QUEUE_NAME

    client = _redis()
    workers = Worker.all(connection=client, queue=Queue(QUEUE_NAME, connection=client))
    if not workers:
        return {"workers": 0}
    now = time.time()
    ages = [now - worker.last_heartbeat.timestamp() for worker in workers if worker.last_heartbeat]
    newest = min(ages) if ages else None
    limit = current_app.config.get("WORKER_HEARTBEAT_MAX_AGE", 600)
    if newest is None or newest > limit:
        raise TimeoutError("no job worker heartbeat within the limit")
    return {"workers": len(workers), "heartbeat_age": round(newest, 1)}


def healthz():
    return _probe_response({"status": "ok"}, 200)


def readyz():
    checks = {"database": _check(_check_database), "disk": _check(_check_folders)}
    if current_app.config.get("REDIS_URL"):
        checks["redis"] = _check(_check_redis)
        if checks["redis"]["ok"]:
            checks["worker"] = _check(_check_workers)
    ok = all(check["ok"] for check in checks.values())
    return _probe_response({"status": "ok" if ok else "fail", "checks": checks}, 200 if ok else 503)


def _probe_response(body: dict, status: int) -> Response:
    response = jsonify({**body, "request_id": request_id()})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def install_failure_handling(app: Flask) -> None:
    app.config.setdefault("RETRY_AFTER_SECONDS", 30)
    app.config.setdefault("WORKER_HEARTBEAT_MAX_AGE", 600)
    # First of all before-request functions, so a refusal by a later one still has its id.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)
    app.after_request(_log_request)
    app.jinja_env.globals["request_id"] = request_id
    app.register_error_handler(500, _server_error)
    for error_class in (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError):
        app.register_error_handler(error_class, _database_unavailable)
    app.add_url_rule("/healthz", "healthz", healthz)
    app.add_url_rule("/readyz", "readyz", readyz)
    if not request_log.handlers and not logging.getLogger().handlers:
        # One JSON object per line on stderr (gunicorn passes it on), unless logging is set up.
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        request_log.addHandler(handler)
    if request_log.level == logging.NOTSET:
        request_log.setLevel(logging.INFO)
