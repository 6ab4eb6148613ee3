"""The background worker: RQ jobs (registers, reports, e-mails) and the periodic tasks.

Builds the app once and runs jobs inside its context, so nothing under models/ needs to import
the app factory. By default one process does both: it works the job queue and, in a thread,
runs the scheduler of the periodic tasks (deadline warnings every minute, stale-job recovery,
callback planning daily, retention reminders monthly). Start as many as you like on as many
machines: only the holder of the Redis leader key schedules, and each task's run is claimed in
the database, so no task ever runs twice (see models/maintenance/background.py).

    .venv/bin/python scripts/worker.py                 # jobs + scheduler (REDIS_URL etc. set)
    .venv/bin/python scripts/worker.py --no-scheduler  # jobs only
    .venv/bin/python scripts/worker.py --scheduler-only
    .venv/bin/python scripts/worker.py --burst         # run queued jobs, then exit (tests)
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rq import Queue, SimpleWorker

from app import create_app
from models import db
from models.maintenance.background import QUEUE_NAME, Scheduler, leader_for
from models.redis_client import redis_client


class AppContextWorker(SimpleWorker):
    """Runs each job in the worker's own process, inside the app context, with a fresh session.

    A SimpleWorker does not fork, so the database pool is never shared across a fork; the
    rendering itself still runs in a time- and memory-limited child process that dies with
    this one.
    """

    def perform_job(self, job, queue):
        try:
            return super().perform_job(job, queue)
        finally:
            db.session.remove()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="信访通后台任务进程")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--no-scheduler", action="store_true", help="只处理任务队列")
    group.add_argument("--scheduler-only", action="store_true", help="只运行定时任务")
    parser.add_argument("--burst", action="store_true", help="处理完队列中的任务后退出")
    args = parser.parse_args(argv)

    app = create_app()
    redis_url = app.config.get("REDIS_URL") or os.environ.get("REDIS_URL")
    if not redis_url:
        sys.exit(
            "REDIS_URL 未设置：没有 Redis 时台账和定时任务都在网页进程中运行，无需单独的任务进程。"
        )
    app.config["REDIS_URL"] = redis_url
    scheduler = None
    if not args.no_scheduler:
        scheduler = Scheduler(app, leader=leader_for(app))
    if args.scheduler_only:
        signal.signal(signal.SIGTERM, lambda *_: scheduler.stopped.set())
        try:
            scheduler.run_forever()
        except KeyboardInterrupt:
            scheduler.stopped.set()
        return
    if scheduler is not None:
        scheduler.start()
    # Short connect timeout; RQ raises the socket timeout itself for its blocking dequeue.
    connection = redis_client(redis_url, app.config)
    queue = Queue(QUEUE_NAME, connection=connection)
    try:
        with app.app_context():
            AppContextWorker([queue], connection=connection).work(burst=args.burst)
    finally:
        if scheduler is not None:
            scheduler.stop()


if __name__ == "__main__":
    main()
