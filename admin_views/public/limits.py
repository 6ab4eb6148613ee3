"""Rate limits of the public pages, kept by Flask-Limiter in Redis (``REDIS_URL``) or memory.

Memory storage is per process: behind several workers without Redis each worker counts on its
own, so a deployment with more than one worker should set ``REDIS_URL``.
"""

from __future__ import annotations

import hashlib
import math
import time

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse

#: Redis keys of the portal start with this, apart from the login counters and RQ.
KEY_PREFIX = "xinfang-portal"


def install_limiter(app: Flask) -> Limiter:
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    app.config.setdefault("RATELIMIT_KEY_PREFIX", KEY_PREFIX)
    if app.config["RATELIMIT_STORAGE_URI"].startswith(("redis://", "rediss://")):
        # Every key (and a reset) stays under the portal's own prefix in a shared Redis.
        app.config.setdefault(
            "RATELIMIT_STORAGE_OPTIONS", {"key_prefix": app.config["RATELIMIT_KEY_PREFIX"]}
        )
    limiter = Limiter(get_remote_address, app=app, key_prefix=app.config["RATELIMIT_KEY_PREFIX"])
    app.extensions["portal_limiter"] = limiter
    return limiter


def client_address() -> str:
    return get_remote_address() or "unknown"


def _digest(value: str) -> str:
    # Phones and numbers are personal data: the storage sees only their hash.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def hit(config_key: str, scope: str, value: str) -> int | None:
    """Count one attempt of ``scope`` by ``value`` against the limit named in the config.

    Returns ``None`` while within the limit, else the seconds until the next attempt is
    allowed. Every limit of the ``;``-separated list counts, so the longest wait wins.
    """
    limiter: Limiter = current_app.extensions["portal_limiter"]
    wait = None
    for text in current_app.config[config_key].split(";"):
        item = parse(text.strip())
        if not limiter.limiter.hit(item, scope, _digest(value)):
            stats = limiter.limiter.get_window_stats(item, scope, _digest(value))
            seconds = max(1, math.ceil(stats.reset_time - time.time()))
            wait = max(wait or 0, seconds)
    return wait


def reset_limits() -> None:
    """Forget every count (tests; an administrator after a false alarm)."""
    current_app.extensions["portal_limiter"].reset()
