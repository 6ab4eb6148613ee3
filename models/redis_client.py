"""The one way the app opens Redis: short timeouts and no silent retries.

redis-py retries a timed-out command three times with back-off by default, so a Redis that
accepts connections but never answers held each login for seconds. Every client here gives up
after ``REDIS_CONNECT_TIMEOUT`` / ``REDIS_SOCKET_TIMEOUT`` seconds (0.5 by default) and says so;
each caller has its own fallback (no throttling, a register rendered in a thread, "not ready").
"""

from __future__ import annotations

from flask import current_app, has_app_context

DEFAULT_CONNECT_TIMEOUT = 0.5
DEFAULT_SOCKET_TIMEOUT = 0.5


def redis_client(url: str, config=None):
    """A ``redis.Redis`` for ``url`` with the app's timeouts (``config`` defaults to the app's)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    if config is None:
        config = current_app.config if has_app_context() else {}
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=float(
            config.get("REDIS_CONNECT_TIMEOUT") or DEFAULT_CONNECT_TIMEOUT
        ),
        socket_timeout=float(config.get("REDIS_SOCKET_TIMEOUT") or DEFAULT_SOCKET_TIMEOUT),
        retry=Retry(NoBackoff(), 0),
    )
