"""Web-layer safeguards: session timeouts, login throttling, CSP nonces and security headers."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import defaultdict, deque

from flask import Flask, current_app, flash, g, has_request_context, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_login import logout_user

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
    app.before_request(_enforce_session_timeouts)
    app.after_request(_security_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.extensions["login_throttle"] = LoginThrottle.from_config(app)


class MemoryCounter:
    """Failures per key in this process (development and single-worker installs)."""

    def __init__(self) -> None:
        self._events: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def count(self, key: str, window: int) -> int:
        with self._lock:
            events = self._events.get(key)
            if not events:
                return 0
            cutoff = time.monotonic() - window
            while events and events[0] < cutoff:
                events.popleft()
            return len(events)

    def add(self, key: str, window: int) -> None:
        with self._lock:
            self._events[key].append(time.monotonic())

    def reset(self, key: str) -> None:
        with self._lock:
            self._events.pop(key, None)


class RedisCounter:
    """Failures per key in Redis, shared by every worker: a sorted set of timestamps per key."""

    prefix = "xft:login-failures:"

    def __init__(self, client) -> None:
        self.client = client

    def count(self, key: str, window: int) -> int:
        name = self.prefix + key
        now = time.time()
        pipe = self.client.pipeline()
        pipe.zremrangebyscore(name, 0, now - window)
        pipe.zcard(name)
        return int(pipe.execute()[1])

    def add(self, key: str, window: int) -> None:
        name = self.prefix + key
        now = time.time()
        pipe = self.client.pipeline()
        pipe.zadd(name, {f"{now:.6f}:{secrets.token_hex(4)}": now})
        pipe.expire(name, window)
        pipe.execute()

    def reset(self, key: str) -> None:
        self.client.delete(self.prefix + key)


class LoginThrottle:
    """At most N failed logins per window, counted per account and per client address.

    Unknown usernames are counted like real ones, so the answer and its timing do not reveal
    which accounts exist.
    """

    def __init__(self, counter, max_failures: int, window: int) -> None:
        self.counter = counter
        self.max_failures = max_failures
        self.window = window

    @classmethod
    def from_config(cls, app: Flask) -> LoginThrottle:
        counter = MemoryCounter()
        url = app.config.get("REDIS_URL")
        if url:
            import redis

            counter = RedisCounter(redis.Redis.from_url(url, socket_timeout=2))
        return cls(counter, app.config["LOGIN_MAX_FAILURES"], app.config["LOGIN_FAILURE_WINDOW"])

    @staticmethod
    def keys(username: str, address: str | None) -> tuple[str, str]:
        return "user:" + username.strip().lower()[:64], "addr:" + (address or "unknown")

    def is_blocked(self, username: str, address: str | None) -> bool:
        try:
            return any(
                self.counter.count(key, self.window) >= self.max_failures
                for key in self.keys(username, address)
            )
        except Exception:
            logger.exception("login throttle unavailable; allowing the attempt")
            return False

    def record_failure(self, username: str, address: str | None) -> None:
        try:
            for key in self.keys(username, address):
                self.counter.add(key, self.window)
        except Exception:
            logger.exception("login throttle unavailable; failure not counted")

    def record_success(self, username: str) -> None:
        try:
            self.counter.reset(self.keys(username, None)[0])
        except Exception:
            logger.exception("login throttle unavailable")


def login_throttle() -> LoginThrottle:
    return current_app.extensions["login_throttle"]
