"""Web-layer safeguards: session timeouts, login throttling, CSP nonces and security headers."""

from __future__ import annotations

import logging
import math
import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask, current_app, flash, g, has_request_context, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_login import logout_user

from models import LoginFailure, db
from models.base import utcnow

logger = logging.getLogger(__name__)

#: Session keys holding when the user logged in and when they were last seen (epoch seconds).
LOGIN_AT = "login_at"
LAST_SEEN = "last_seen"


class SessionInterface(SecureCookieSessionInterface):
    """Signed-cookie sessions whose cookie is ``Secure`` whenever the request came over HTTPS."""

    def get_cookie_secure(self, app) -> bool:
        if app.config["SESSION_COOKIE_SECURE"]:
            return True
        return has_request_context() and request.is_secure


def csp_nonce() -> str:
    """The nonce for this response's inline and external ``<script>`` tags."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return g.csp_nonce


def content_security_policy(nonce: str) -> str:
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            # Flask-Admin's widgets and Select2 set style attributes from script.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'self'",
        )
    )


def start_session_clock() -> None:
    """Call right after ``login_user``: the idle and absolute timeouts count from now."""
    now = int(time.time())
    session[LOGIN_AT] = now
    session[LAST_SEEN] = now


def _enforce_session_timeouts() -> None:
    if "_user_id" not in session:
        return
    now = int(time.time())
    login_at = session.get(LOGIN_AT)
    last_seen = session.get(LAST_SEEN)
    if login_at is None or last_seen is None:
        # A session from before timeouts existed: start its clock now.
        start_session_clock()
        return
    idle_limit = current_app.config["SESSION_IDLE_TIMEOUT"]
    absolute_limit = current_app.config["SESSION_ABSOLUTE_TIMEOUT"]
    if now - last_seen > idle_limit:
        message = _("您已超过 %(minutes)s 分钟未操作，请重新登录。", minutes=idle_limit // 60)
    elif now - login_at > absolute_limit:
        message = _("登录已超过 %(hours)s 小时，请重新登录。", hours=absolute_limit // 3600)
    else:
        # Static files do not count as activity, but they need no refresh either.
        if request.endpoint != "static":
            session[LAST_SEEN] = now
        return
    logout_user()
    for key in (LOGIN_AT, LAST_SEEN):
        session.pop(key, None)
    g.pop("_login_user", None)
    flash(message, "warning")


def _security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", content_security_policy(csp_nonce()))
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    is_static = (request.endpoint or "").endswith("static")
    if "_user_id" in session and not is_static:
        # Pages with personal data must not stay in shared caches or the browser's history cache.
        headers.setdefault("Cache-Control", "no-store")
    headers.add_header("Vary", "Cookie")
    return response


def install_security(app: Flask) -> None:
    app.config.setdefault("SESSION_IDLE_TIMEOUT", 30 * 60)
    app.config.setdefault("SESSION_ABSOLUTE_TIMEOUT", 12 * 3600)
    app.config.setdefault("LOGIN_MAX_FAILURES", 10)
    app.config.setdefault("LOGIN_FAILURE_WINDOW", 15 * 60)
    app.config.setdefault("LOGIN_MAX_FAILURES_PER_ADDRESS", 50)
    app.before_request(_enforce_session_timeouts)
    app.after_request(_security_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.extensions["login_throttle"] = LoginThrottle.from_config(app)


class DatabaseCounter:
    """Failures per key in the ``login_failures`` table, shared by every worker without Redis.

    A count opens a window of ``window`` seconds at its first failure and starts again from zero
    once the window is over. Each call uses its own short transaction on a pooled connection: a
    failure counts even when the request later rolls back, and adding one is a single atomic
    upsert, so concurrent workers never lose or double an increment.
    """

    @staticmethod
    def _split(key: str) -> tuple[str, str]:
        scope, _colon, name = key.partition(":")
        return scope, name[:160]

    def failures(self, key: str, window: int) -> tuple[int, int]:
        """How many failures count now, and in how many seconds the count drops back to zero."""
        scope, name = self._split(key)
        table = LoginFailure.__table__
        now = utcnow()
        with db.engine.connect() as connection:
            row = connection.execute(
                sa.select(table.c.failures, table.c.window_ends_at).where(
                    table.c.scope == scope, table.c.key == name, table.c.window_ends_at > now
                )
            ).first()
        if row is None:
            return 0, 0
        return row.failures, math.ceil((row.window_ends_at - now).total_seconds())

    def add(self, key: str, window: int) -> None:
        scope, name = self._split(key)
        table = LoginFailure.__table__
        now = utcnow()
        dialect = db.engine.dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:  # pragma: no cover - the app runs on these two databases only
            raise RuntimeError(f"login failures are counted on SQLite or PostgreSQL, not {dialect}")
        statement = insert(table).values(
            scope=scope, key=name, failures=1, window_ends_at=now + timedelta(seconds=window)
        )
        window_over = table.c.window_ends_at <= now
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.scope, table.c.key],
            set_={
                "failures": sa.case((window_over, 1), else_=table.c.failures + 1),
                "window_ends_at": sa.case(
                    (window_over, statement.excluded.window_ends_at), else_=table.c.window_ends_at
                ),
            },
        )
        with db.engine.begin() as connection:
            connection.execute(statement)
        # Forget finished windows, so addresses that failed once do not pile up. Separate from
        # the upsert: a clash between two workers pruning at once must not lose the failure.
        try:
            with db.engine.begin() as connection:
                connection.execute(sa.delete(table).where(table.c.window_ends_at <= now))
        except sa.exc.DBAPIError:
            logger.info("pruning old login failures failed; the next failure will retry")

    def reset(self, key: str) -> None:
        scope, name = self._split(key)
        table = LoginFailure.__table__
        with db.engine.begin() as connection:
            connection.execute(sa.delete(table).where(table.c.scope == scope, table.c.key == name))


class RedisUnavailable(Exception):
    """Redis did not answer a moment ago; the counter is skipped for a while."""


class RedisCounter:
    """Failures per key in Redis, shared by every worker: a sorted set of timestamps per key.

    A Redis that does not answer costs one client timeout (0.5 s by default), not one per
    call: after a connection failure or timeout the counter is skipped for ``pause`` seconds,
    and logins go ahead unthrottled meanwhile (the log says so) rather than wait or be refused.
    """

    prefix = "xft:login-failures:"

    def __init__(self, client, pause: float = 30.0) -> None:
        self.client = client
        self.pause = pause
        self.skip_until = 0.0

    @contextmanager
    def _guard(self):
        import redis

        if time.monotonic() < self.skip_until:
            raise RedisUnavailable("Redis did not answer recently; counter skipped")
        try:
            yield
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            self.skip_until = time.monotonic() + self.pause
            raise

    def failures(self, key: str, window: int) -> tuple[int, int]:
        """How many failures count now, and in how many seconds the oldest of them expires."""
        name = self.prefix + key
        now = time.time()
        with self._guard():
            pipe = self.client.pipeline()
            pipe.zremrangebyscore(name, 0, now - window)
            pipe.zcard(name)
            pipe.zrange(name, 0, 0, withscores=True)
            _removed, count, oldest = pipe.execute()
        seconds = math.ceil(oldest[0][1] + window - now) if oldest else 0
        return int(count), max(seconds, 0)

    def add(self, key: str, window: int) -> None:
        name = self.prefix + key
        now = time.time()
        with self._guard():
            pipe = self.client.pipeline()
            pipe.zadd(name, {f"{now:.6f}:{secrets.token_hex(4)}": now})
            pipe.expire(name, window)
            pipe.execute()

    def reset(self, key: str) -> None:
        with self._guard():
            self.client.delete(self.prefix + key)


@dataclass(frozen=True)
class LoginBlock:
    """Why a login attempt is refused before its password is checked, and for how long."""

    per_address: bool
    seconds: int

    @property
    def message(self) -> str:
        minutes = max(1, math.ceil(self.seconds / 60))
        if self.per_address:
            return _("此网络地址登录失败次数过多，请 %(minutes)s 分钟后再试。", minutes=minutes)
        return _("登录失败次数过多，请 %(minutes)s 分钟后再试。", minutes=minutes)


class LoginThrottle:
    """Failed logins counted per account and address pair, with a higher ceiling per address.

    The pair limit stops guessing one account's password without letting anybody lock a
    colleague out from another computer; the address ceiling stops one computer from trying a
    few passwords on many accounts. Unknown usernames are counted like real ones, so neither the
    answer nor its timing reveals which accounts exist.
    """

    def __init__(
        self, counter, max_failures: int, window: int, max_failures_per_address: int
    ) -> None:
        self.counter = counter
        self.max_failures = max_failures
        self.window = window
        self.max_failures_per_address = max_failures_per_address

    @classmethod
    def from_config(cls, app: Flask) -> LoginThrottle:
        url = app.config.get("REDIS_URL")
        if url:
            from models.redis_client import redis_client

            counter = RedisCounter(
                redis_client(url, app.config), pause=app.config.get("REDIS_RETRY_AFTER", 30)
            )
        else:
            counter = DatabaseCounter()
        return cls(
            counter,
            max_failures=app.config["LOGIN_MAX_FAILURES"],
            window=app.config["LOGIN_FAILURE_WINDOW"],
            max_failures_per_address=app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"],
        )

    @staticmethod
    def keys(username: str, address: str | None) -> tuple[str, str]:
        """The counter keys of the account and address pair, and of the address alone."""
        account = username.strip().lower()[:64]
        address = (address or "unknown")[:45]
        return f"pair:{address}|{account}", f"address:{address}"

    def block(self, username: str, address: str | None) -> LoginBlock | None:
        """The block that applies to this attempt, or ``None`` when it may go ahead."""
        pair_key, address_key = self.keys(username, address)
        try:
            blocks = []
            count, seconds = self.counter.failures(pair_key, self.window)
            if count >= self.max_failures:
                blocks.append(LoginBlock(per_address=False, seconds=seconds))
            count, seconds = self.counter.failures(address_key, self.window)
            if count >= self.max_failures_per_address:
                blocks.append(LoginBlock(per_address=True, seconds=seconds))
        except RedisUnavailable:
            logger.warning("login throttle paused (Redis did not answer); allowing the attempt")
            return None
        except Exception:
            logger.exception("login throttle unavailable; allowing the attempt")
            return None
        # Both may apply: name the one that lasts longer, so the wait given is long enough.
        return max(blocks, key=lambda block: block.seconds, default=None)

    def is_blocked(self, username: str, address: str | None) -> bool:
        return self.block(username, address) is not None

    def record_failure(self, username: str, address: str | None) -> None:
        try:
            for key in self.keys(username, address):
                self.counter.add(key, self.window)
        except RedisUnavailable:
            logger.warning("login throttle paused (Redis did not answer); failure not counted")
        except Exception:
            logger.exception("login throttle unavailable; failure not counted")

    def record_success(self, username: str, address: str | None) -> None:
        """Forget the pair's failures; the address keeps its count, or one account known to an
        attacker would clear the way for spraying the others."""
        try:
            self.counter.reset(self.keys(username, address)[0])
        except RedisUnavailable:
            pass
        except Exception:
            logger.exception("login throttle unavailable")


def login_throttle() -> LoginThrottle:
    return current_app.extensions["login_throttle"]
