"""The background job worker: builds the app once and runs RQ jobs inside its context.

Jobs (registers today) are plain service-layer functions that expect an app context; this entry
point provides it, so nothing under models/ needs to import the app factory.

    .venv/bin/python scripts/worker.py            # REDIS_URL, DATABASE_URL, FLASK_SECRET_KEY set
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rq import Queue, SimpleWorker

from app import create_app
from models import db
from models.operations.registers import QUEUE_NAME
from models.redis_client import redis_client


class AppContextWorker(SimpleWorker):
    """Runs each job in the worker's own process, inside the app context, with a fresh session.

    A SimpleWorker does not fork, so the database pool is never shared across a fork; the
    rendering itself still runs in a time- and memory-limited child process.
    """

    def perform_job(self, job, queue):
        try:
            return super().perform_job(job, queue)
        finally:
            db.session.remove()


def main() -> None:
    app = create_app()
    redis_url = app.config.get("REDIS_URL") or os.environ.get("REDIS_URL")
    if not redis_url:
        sys.exit("REDIS_URL 未设置：没有 Redis 时台账在网页进程中生成，无需单独的任务进程。")
    # Short connect timeout; RQ raises the socket timeout itself for its blocking dequeue.
    connection = redis_client(redis_url, app.config)
    with app.app_context():
        AppContextWorker([Queue(QUEUE_NAME, connection=connection)], connection=connection).work()


if __name__ == "__main__":
    main()
