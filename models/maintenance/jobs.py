"""Background jobs: run a function by its dotted path on RQ when Redis answers, else in a thread.

The lowest layer of background work: the service layer hands jobs over here (registers,
e-mails); the scheduler in ``background.py`` sits above the service layer and runs its periodic
tasks.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
from collections.abc import Callable

from flask import Flask, current_app

from .. import db

logger = logging.getLogger(__name__)

#: The RQ queue of every job (registers, reports, e-mails).
QUEUE_NAME = "xinfang-registers"


def runner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:80]


# -- jobs ---------------------------------------------------------------------------------

#: Local job threads by name (tests join them; nothing else needs them).
local_threads: dict[str, threading.Thread] = {}


def _resolve(path: str) -> Callable:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def run_job_here(path: str, *args) -> None:
    """Run a job in this process (the RQ entry point and the local thread's body); the caller
    provides the app context."""
    try:
        _resolve(path)(*args)
    finally:
        db.session.remove()


def _run_in_thread(app: Flask, path: str, args: tuple) -> None:
    with app.app_context():
        try:
            run_job_here(path, *args)
        except Exception:
            logger.exception("local job %s%s failed", path, args)


def enqueue_rq(path: str, *args, name: str, timeout: int) -> bool:
    """Queue ``path(*args)`` on RQ if ``REDIS_URL`` is set and Redis answers; False otherwise
    (the caller runs it in a thread). ``name`` is the RQ job id, ``timeout`` RQ's hard limit for
    the whole job in seconds. The job's own row must already be committed."""
    redis_url = current_app.config.get("REDIS_URL")
    if not redis_url:
        return False
    try:
        from rq import Queue

        from ..redis_client import redis_client

        Queue(QUEUE_NAME, connection=redis_client(redis_url)).enqueue(
            "models.maintenance.jobs.run_job_here",
            path,
            *args,
            job_id=name,
            job_timeout=timeout,
            result_ttl=3600,
            failure_ttl=86400,
        )
        return True
    except Exception:  # Redis down or misconfigured: the thread still gets it done
        logger.exception("job %s: Redis unavailable, using a local thread", name)
        return False


def submit_job(path: str, *args, name: str, timeout: int) -> str:
    """Run ``path(*args)`` in the background (reports, e-mails): on RQ (``"rq"``) or in a
    thread of this process (``"thread"``)."""
    if enqueue_rq(path, *args, name=name, timeout=timeout):
        return "rq"
    app = current_app._get_current_object()
    thread = threading.Thread(target=_run_in_thread, args=(app, path, args), name=name, daemon=True)
    local_threads[name] = thread
    thread.start()
    return "thread"
