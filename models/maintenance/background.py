"""Background work as one component: jobs and periodic tasks (issue 17).

**Jobs** (registers today; reports and e-mails go the same way) are service-layer functions
named by their dotted path. :func:`submit_job` hands one to RQ when ``REDIS_URL`` is set and
Redis answers, otherwise to a thread of this process. Either way the job's own row (e.g.
``register_jobs``) carries its state and a heartbeat, so a job whose worker died is found by
the recovery task below.

**Periodic tasks** (:data:`TASKS`): deadline warnings every minute, stale-job recovery every
15 seconds, routine callback planning daily, retention reminders monthly (and, daily, forgetting
week-old ``scheduled_runs`` rows); outgoing messages due for a (re)try every minute and the
staff's e-mail digest daily at 08:00 (issue 18, operations/notifications.py). A :class:`Scheduler`
ticks every few seconds and runs each task once per time slot. The same scheduler runs

- in the job worker (``scripts/worker.py``, several machines, RQ on Redis), and
- in a thread of each web process for the one-desk default without Redis
  (:func:`install_background`), so no cron is needed.

Two guards keep a task from running twice:

1. *Leadership* (saves work): only the process holding the leader lock ticks — a Redis key
   with an expiry when ``REDIS_URL`` is set, otherwise a PostgreSQL session advisory lock or,
   on SQLite, an exclusive lock on a file beside the database. A dead leader's lock goes with
   it (expiry, closed connection, closed file) and another process takes over.
2. *The claim* (correctness): a task runs inside one transaction that first inserts its
   ``scheduled_runs`` row ``(task, slot)`` under a unique key. A second scheduler ticking at
   the same moment, leader or not, waits for that transaction and then finds the slot taken.
   A failed run rolls its claim back, so the slot is retried at the next tick.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import Flask, current_app

from .. import db
from ..base import local_zone, utcnow
from ..documents import ScheduledRun
from .jobs import (  # noqa: F401 - re-exported: RQ jobs queued earlier name background.run_job_here
    QUEUE_NAME,
    enqueue_rq,
    local_threads,
    run_job_here,
    runner_id,
    submit_job,
)

logger = logging.getLogger(__name__)

LEADER_KEY = "xinfang:scheduler:leader"
#: pg_try_advisory_lock(class, object): the two-integer key space, apart from the statistics'
#: one-integer locks.
ADVISORY_LOCK = (17, 1)


# -- periodic tasks -----------------------------------------------------------------------


def every_seconds(seconds: int) -> Callable[[datetime], str]:
    def slot(now: datetime) -> str:
        start = int(now.timestamp()) // seconds * seconds
        return datetime.fromtimestamp(start, tz=now.tzinfo).strftime("%Y-%m-%dT%H:%M:%S")

    return slot


def daily(now: datetime) -> str:
    return now.astimezone(local_zone()).date().isoformat()


def monthly(now: datetime) -> str:
    return now.astimezone(local_zone()).strftime("%Y-%m")


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    #: The time slot ``now`` falls in; the task runs once per slot.
    slot: Callable[[datetime], str]
    #: Does the work in ``db.session`` (never commits) and returns how much it did.
    run: Callable[[datetime], int]


def _escalations(now: datetime) -> int:
    from ..operations.deadlines import run_escalations

    return run_escalations(now)


def _job_recovery(now: datetime) -> int:
    from ..operations.registers import recover_stale_jobs

    return recover_stale_jobs(now)


def _callback_planning(now: datetime) -> int:
    from ..operations.callbacks import plan_all_scheduled_callbacks

    return len(plan_all_scheduled_callbacks(now.astimezone(local_zone()).date()))


def _retention_reminders(now: datetime) -> int:
    from ..operations.retention import remind_retention_due

    return remind_retention_due(now.astimezone(local_zone()).date(), at=now)


def _forget_old_runs(now: datetime) -> int:
    """Old ``scheduled_runs`` rows serve nobody (a slot is only ever claimed while current):
    keep ``SCHEDULED_RUNS_KEEP_DAYS`` (7) for the operator, about 7,300 rows a day."""
    keep = int(current_app.config.get("SCHEDULED_RUNS_KEEP_DAYS", 7))
    table = ScheduledRun.__table__
    result = db.session.execute(sa.delete(table).where(table.c.ran_at < now - timedelta(days=keep)))
    return result.rowcount


def daily_at(hour: int) -> Callable[[datetime], str]:
    """Once a day from ``hour`` o'clock local time (before it, the previous day's slot)."""

    def slot(now: datetime) -> str:
        local = now.astimezone(local_zone())
        day = local.date() if local.hour >= hour else local.date() - timedelta(days=1)
        return day.isoformat()

    return slot


def _message_delivery(now: datetime) -> int:
    from ..operations.notifications import schedule_due_messages

    return schedule_due_messages(now)


def _message_digest(now: datetime) -> int:
    from ..operations.notifications import send_digests

    return send_digests(now)


TASKS: tuple[PeriodicTask, ...] = (
    PeriodicTask("escalations", every_seconds(60), _escalations),
    # Messages not sent at once (worker busy, SMTP down): retried with backoff.
    PeriodicTask("message_delivery", every_seconds(60), _message_delivery),
    PeriodicTask("message_digest", daily_at(8), _message_digest),
    PeriodicTask("job_recovery", every_seconds(15), _job_recovery),
    PeriodicTask("callback_planning", daily, _callback_planning),
    PeriodicTask("retention_reminders", monthly, _retention_reminders),
    PeriodicTask("forget_old_runs", daily, _forget_old_runs),
)


def run_task(task: PeriodicTask, now: datetime, slot: str | None = None) -> bool | None:
    """Run ``task`` for ``now``'s slot unless some scheduler already has.

    True: ran (and committed); False: the slot was taken; None: the task failed (rolled back,
    logged; the next tick tries again).
    """
    slot = slot or task.slot(now)
    table = ScheduledRun.__table__
    try:
        # The claim. Core, not the ORM: periodic runs are not staff changes for the audit log.
        run_id = db.session.execute(
            sa.insert(table)
            .values(task=task.name, slot=slot, ran_at=utcnow(), runner=runner_id())
            .returning(table.c.id)
        ).scalar_one()
    except sa.exc.IntegrityError:
        db.session.rollback()
        return False
    except sa.exc.OperationalError:
        # SQLite: another scheduler's run held the write lock past the busy timeout.
        db.session.rollback()
        logger.warning("periodic task %s %s: database busy or unreachable", task.name, slot)
        return None
    try:
        result = task.run(now)
        db.session.execute(sa.update(table).where(table.c.id == run_id).values(result=result))
        db.session.commit()
    except Exception:
        db.session.rollback()
        logger.exception("periodic task %s %s failed", task.name, slot)
        return None
    if result:
        logger.info("periodic task %s %s: %s", task.name, slot, result)
    return True


# -- leadership ---------------------------------------------------------------------------


class RedisLeader:
    """Leader while this process holds ``LEADER_KEY`` (renewed each tick, expiring after
    ``ttl`` seconds). If Redis does not answer, it says yes: the claims still keep tasks single.
    """

    def __init__(self, client, ttl: float = 30, key: str = LEADER_KEY):
        self.client, self.ttl, self.key = client, ttl, key
        self.me = f"{runner_id()}:{id(self)}"

    def acquire(self) -> bool:
        try:
            if self.client.set(self.key, self.me, nx=True, px=int(self.ttl * 1000)):
                return True
            holder = self.client.get(self.key)
            if holder is not None and holder.decode() == self.me:
                self.client.pexpire(self.key, int(self.ttl * 1000))
                return True
            return False
        except Exception as error:
            logger.warning("scheduler leader key unavailable (%s); running anyway", error)
            return True

    def release(self) -> None:
        try:
            if (self.client.get(self.key) or b"").decode() == self.me:
                self.client.delete(self.key)
        except Exception as error:  # expiry releases it anyway
            logger.info("scheduler leader key not released: %s", error)


class FileLeader:
    """Leader while this process holds an exclusive lock on ``path`` (SQLite, one machine)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.handle = None

    def acquire(self) -> bool:
        if self.handle is not None:
            return True
        handle = open(self.path, "a+")  # noqa: SIM115 - held for the process's life
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self.handle = handle
        return True

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()  # closing drops the lock
            self.handle = None


class AdvisoryLeader:
    """Leader while a connection of this process holds a PostgreSQL session advisory lock."""

    def __init__(self, engine):
        self.engine = engine
        self.connection = None

    def acquire(self) -> bool:
        if self.connection is not None:
            try:
                self.connection.execute(sa.text("SELECT 1"))
                self.connection.commit()  # never idle in a transaction; the lock stays
                return True
            except sa.exc.SQLAlchemyError:  # the database restarted: the lock went with it
                self._drop()
        connection = None
        try:
            connection = self.engine.connect()
            got = connection.scalar(sa.select(sa.func.pg_try_advisory_lock(*ADVISORY_LOCK)))
            connection.commit()
        except sa.exc.SQLAlchemyError:
            if connection is not None:
                connection.close()
            return False
        if got:
            self.connection = connection
            return True
        connection.close()
        return False

    def _drop(self) -> None:
        with suppress(Exception):  # already gone
            self.connection.invalidate()
        self.connection = None

    def release(self) -> None:
        if self.connection is not None:
            try:
                self.connection.execute(sa.select(sa.func.pg_advisory_unlock(*ADVISORY_LOCK)))
                self.connection.close()
            except sa.exc.SQLAlchemyError:
                self._drop()
            self.connection = None


def leader_for(app: Flask):
    """Redis when configured, else the database's own lock."""
    if app.config.get("REDIS_URL"):
        from ..redis_client import redis_client

        return RedisLeader(
            redis_client(app.config["REDIS_URL"], app.config),
            ttl=float(app.config.get("SCHEDULER_LEADER_TTL", 30)),
        )
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "postgresql":
        return AdvisoryLeader(engine)
    database = engine.url.database
    if database and database != ":memory:":
        return FileLeader(f"{database}.scheduler.lock")
    return FileLeader(Path(app.instance_path) / "scheduler.lock")


class Scheduler:
    """Runs :data:`TASKS` on ticks; one instance per process."""

    def __init__(self, app: Flask, *, leader=None, tasks=TASKS):
        self.app = app
        self.leader = leader
        self.tasks = tasks
        #: The slot each task last ran or found taken (saves a claim attempt per tick).
        self.handled: dict[str, str] = {}
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def tick(self, now: datetime | None = None) -> dict[str, bool | None]:
        """Run what is due; returns ``{task: outcome}`` for the tasks it tried (empty when
        another process leads)."""
        if self.leader is not None and not self.leader.acquire():
            return {}
        now = now or utcnow()
        outcomes = {}
        with self.app.app_context():
            try:
                for task in self.tasks:
                    slot = task.slot(now)
                    if self.handled.get(task.name) == slot:
                        continue
                    outcome = run_task(task, now, slot)
                    if outcome is not None:
                        self.handled[task.name] = slot
                    outcomes[task.name] = outcome
            finally:
                db.session.remove()
        return outcomes

    def run_forever(self, interval: float | None = None) -> None:
        interval = interval or float(self.app.config.get("SCHEDULER_TICK_SECONDS", 5))
        while not self.stopped.is_set():
            try:
                self.tick()
            except Exception:  # a tick must never end the loop (database restart …)
                logger.exception("scheduler tick failed")
            self.stopped.wait(interval)
        if self.leader is not None:
            self.leader.release()

    def start(self, interval: float | None = None) -> threading.Thread:
        self.thread = threading.Thread(
            target=self.run_forever, args=(interval,), name="xinfang-scheduler", daemon=True
        )
        self.thread.start()
        return self.thread

    def stop(self, timeout: float = 10) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout)


# -- the one-desk default: the scheduler in the web process -------------------------------

_in_process: dict[int, Scheduler] = {}
_in_process_lock = threading.Lock()


def in_process_wanted(app: Flask) -> bool:
    """``BACKGROUND_SCHEDULER``: ``auto`` (in the web process unless Redis is configured, where
    ``scripts/worker.py`` runs it), ``in-process`` or ``off``. Never under ``TESTING``."""
    mode = str(app.config.get("BACKGROUND_SCHEDULER", "auto")).lower()
    if app.testing or mode == "off":
        return False
    return mode == "in-process" or (mode == "auto" and not app.config.get("REDIS_URL"))


def start_in_process(app: Flask) -> Scheduler:
    """Start this process's scheduler thread once (after a fork, again in the child)."""
    pid = os.getpid()
    with _in_process_lock:
        scheduler = _in_process.get(pid)
        if scheduler is None:
            scheduler = Scheduler(app, leader=leader_for(app))
            scheduler.start()
            _in_process[pid] = scheduler
            logger.info("in-process scheduler started in process %s", pid)
        return scheduler


def stop_in_process() -> None:
    with _in_process_lock:
        scheduler = _in_process.pop(os.getpid(), None)
    if scheduler is not None:
        scheduler.stop()


def install_background(app: Flask) -> None:
    """Start the in-process scheduler with the first request a web process serves (CLI
    commands such as ``flask db upgrade`` build the app too, and must not start it)."""
    if not in_process_wanted(app):
        return

    def start_scheduler() -> None:
        if os.getpid() not in _in_process:
            start_in_process(current_app._get_current_object())

    app.before_request(start_scheduler)


def stale_cutoff(now: datetime) -> datetime:
    return now - timedelta(seconds=int(current_app.config.get("JOB_STALE_SECONDS", 30)))
