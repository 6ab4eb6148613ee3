"""Issue 17, items 1 and 2: background work as one component, and jobs that cannot get stuck.

- a job worker (a real subprocess) killed with SIGKILL mid-render: its render process dies with
  it, the recovery pass marks the job failed in Chinese, and 重试 produces the register;
- two schedulers ticking at the same moment run each periodic task once;
- the in-process scheduler of the one-desk default runs the periodic tasks without Redis;
- the register time limit follows ``DOCUMENT_RENDER_TIMEOUT``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from models import (
    AuditEntry,
    CallbackSchedule,
    Category,
    Letter,
    Notification,
    RegisterJob,
    ScheduledRun,
    SystemSetting,
    db,
)
from models.base import to_local, utcnow
from models.deadlines import ClockEscalation
from models.enums import LetterForm, LetterOrigin, RegisterJobStatus
from models.maintenance import background
from models.maintenance.background import (
    TASKS,
    AdvisoryLeader,
    FileLeader,
    RedisLeader,
    Scheduler,
    in_process_wanted,
    start_in_process,
    stop_in_process,
)
from models.operations import NotPermitted, ValidationFailed
from models.operations import registers as register_ops
from models.operations.registers import STALE_MESSAGE, print_register, recover_stale_jobs
from models.rendering.registers import RegisterParams
from tests.conftest import worker_redis_url

# Opens connections of its own (backups, threads, worker processes): never rolled back.
pytestmark = pytest.mark.own_connections

REPO = Path(__file__).resolve().parent.parent
# Databases 0, 1-5, 6 and 14 are other modules'.
WORKER_REDIS_DATABASES = (7, 8, 9, 10, 11, 12, 13, 15)
REDIS_URL = os.environ.get("TEST_REDIS_URL_WORKER") or worker_redis_url(WORKER_REDIS_DATABASES)


def redis_or_none():
    try:
        import redis

        connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=1)
        connection.ping()
        return connection
    except Exception:
        return None


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def staff(app, government, create_user):
    return {"office": create_user("office"), "leader": create_user("leader")}


@pytest.fixture
def letters(staff, create_case, create_party):
    """Three letters this month (enough for a register, cheap to render)."""
    category = db.session.scalar(sa.select(Category).where(Category.name == "物业管理"))
    for number in range(3):
        party = create_party(name=f"来信人{number}")
        case = create_case(
            by=staff["office"], subject=f"道路破损第{number}号", petitioners=[party],
            category_id=category.id,
        )  # fmt: skip
        db.session.add(
            Letter(
                case_id=case.id, writer_id=party.id, received_at=case.received_at,
                form=LetterForm.paper, origin=LetterOrigin.direct,
            )
        )  # fmt: skip
    db.session.commit()


def queued_job(user) -> RegisterJob:
    """A register job of ``user`` (the background threshold lowered to one row), committed."""
    db.session.get(SystemSetting, "register_background_rows").value = "1"
    db.session.commit()
    today = to_local(utcnow()).date()
    params = RegisterParams.from_json(
        "letters", {"start": (today - timedelta(days=1)).isoformat(), "end": today.isoformat()}
    )
    pdf, job = print_register(params, by=user)
    assert pdf is None and job is not None
    db.session.commit()
    return job


def fresh(job_id: int) -> RegisterJob:
    db.session.expire_all()
    return db.session.get(RegisterJob, job_id)


# -- a job worker killed mid-job ----------------------------------------------------------

#: The worker subprocess: the real job code, with a render that takes a minute (so the test can
#: kill the worker while it waits for its render process).
WORKER_SCRIPT = """
import sys, time
sys.path.insert(0, {repo!r})
from models.rendering import pdf
original = pdf._write_pdf
def slow(html):
    time.sleep(60)
    return original(html)
pdf._write_pdf = slow
if {rq!r}:
    from scripts.worker import main
    main(["--burst", "--no-scheduler"])
else:
    from app import create_app
    from models.maintenance.background import run_job_here
    app = create_app()
    with app.app_context():
        run_job_here("models.operations.registers.run_job", {job_id}, 1)
"""


def render_processes(pid: int) -> list[int]:
    """Children of ``pid`` forked from it (the same command line: not ldconfig and the like)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and alive(int(entry.name)):
            try:
                if (entry / "cmdline").read_bytes() == command:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def wait_for(condition, seconds: float, step: float = 0.05):
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        value = condition()
        if value:
            return value
        time.sleep(step)
    return condition()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl")
def test_killed_worker_job_fails_in_chinese_and_retry_produces_the_register(
    app, client, login_as, staff, letters, monkeypatch
):
    connection = redis_or_none()
    job = queued_job(staff["office"])
    job_id = job.id
    env = {
        **os.environ,
        "FLASK_SECRET_KEY": "worker-test-secret",
        "FLASK_SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "FLASK_JOB_HEARTBEAT_SECONDS": "0.2",
        "PYTHONPATH": str(REPO),
    }
    env.pop("DATABASE_URL", None)
    if connection is not None:
        # The real job worker (scripts/worker.py) takes the job from RQ.
        from rq import Queue, Worker

        queue = Queue(background.QUEUE_NAME, connection=connection)
        queue.empty()
        monkeypatch.setitem(app.config, "REDIS_URL", REDIS_URL)
        assert register_ops.start_job(job) == "rq"
        monkeypatch.delitem(app.config, "REDIS_URL")
        env["REDIS_URL"] = REDIS_URL
    else:  # no Redis here: a process running the job as a web worker's thread would
        env.pop("REDIS_URL", None)
    script = WORKER_SCRIPT.format(repo=str(REPO), rq=connection is not None, job_id=job_id)
    worker = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, "-c", script], env=env, cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:

        def rendering():
            # Past the data (progress 10) with a forked child that stays (a fork on its way to
            # exec, such as ctypes' ldconfig, has the same command line for a moment).
            job = fresh(job_id)
            if worker.poll() is not None or job.status != RegisterJobStatus.running:
                return []
            if job.progress < 10:
                return []
            first = set(render_processes(worker.pid))
            time.sleep(0.1)
            return sorted(first & set(render_processes(worker.pid)))

        renders = wait_for(rendering, 30)
        assert renders, worker.stderr.read1().decode() if worker.poll() is not None else "no render"
        running = fresh(job_id)
        assert running.status == RegisterJobStatus.running and running.heartbeat_at
        # The heartbeat moves while the render runs; the recovery pass leaves the job alone.
        first = running.heartbeat_at
        assert wait_for(lambda: fresh(job_id).heartbeat_at > first, 5)
        assert recover_stale_jobs() == 0
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        worker.stderr.close()
    # The render process dies with its worker (PR_SET_PDEATHSIG), it is not left running.
    assert wait_for(lambda: not any(alive(pid) for pid in renders), 5), renders
    assert fresh(job_id).status == RegisterJobStatus.running  # nobody has noticed yet

    # The next recovery pass after the heartbeat went stale (30 s) marks it failed.
    assert recover_stale_jobs(utcnow() + timedelta(seconds=31)) == 1
    db.session.commit()
    failed = fresh(job_id)
    assert failed.status == RegisterJobStatus.failed
    assert failed.message == str(STALE_MESSAGE) and "任务进程已停止响应" in failed.message

    login_as(staff["office"])
    page = client.get(f"/admin/registers/job/{job_id}").get_data(as_text=True)
    assert "生成失败" in page and "任务进程已停止响应" in page
    assert f"/admin/registers/job/{job_id}/retry" in page and "重试" in page

    # 重试 queues attempt 2 (audited); without Redis a thread of this process renders it.
    response = client.post(f"/admin/registers/job/{job_id}/retry")
    assert response.status_code == 302
    register_ops.local_threads[job_id].join(60)
    done = fresh(job_id)
    assert done.status == RegisterJobStatus.done, done.message
    assert done.attempt == 2 and done.pdf.startswith(b"%PDF-") and done.message is None
    audit = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "retry")).one()
    assert audit.target_type == "register_jobs" and audit.target_id == str(job_id)
    assert audit.user_id == staff["office"].id
    if connection is not None:
        for stale_worker in Worker.all(connection=connection, queue=queue):
            stale_worker.register_death()
            connection.delete(stale_worker.key)
        queue.empty()


def test_retry_refuses_what_it_should(app, client, login_as, staff, create_user):
    job = RegisterJob(
        kind="letters", params={"start": "2026-01-01", "end": "2026-01-31"},
        status=RegisterJobStatus.done, created_by_id=staff["office"].id, created_at=utcnow(),
    )  # fmt: skip
    db.session.add(job)
    db.session.commit()
    with pytest.raises(ValidationFailed, match="只有生成失败的台账可以重试"):
        register_ops.retry_job(job, by=staff["office"])
    db.session.rollback()
    other = create_user("office")
    with pytest.raises(NotPermitted):
        register_ops.retry_job(job, by=other)
    db.session.rollback()
    login_as(staff["office"])
    response = client.post(f"/admin/registers/job/{job.id}/retry", follow_redirects=True)
    assert "只有生成失败的台账可以重试" in response.get_data(as_text=True)
    assert fresh(job.id).status == RegisterJobStatus.done and fresh(job.id).attempt == 1
    login_as(other)
    assert client.post(f"/admin/registers/job/{job.id}/retry").status_code == 404


def test_recovery_leaves_live_and_finished_jobs_alone(app, staff):
    now = utcnow()

    def job(status, runner="thread", **values):
        row = RegisterJob(
            kind="letters", params={}, status=status, runner=runner,
            created_by_id=staff["office"].id, created_at=values.pop("created_at", now), **values,
        )  # fmt: skip
        db.session.add(row)
        return row

    live = job(RegisterJobStatus.running, heartbeat_at=now - timedelta(seconds=5))
    dead = job(RegisterJobStatus.running, heartbeat_at=now - timedelta(seconds=40))
    finished = job(RegisterJobStatus.done, heartbeat_at=now - timedelta(hours=1))
    orphan = job(RegisterJobStatus.queued, created_at=now - timedelta(minutes=2))
    waiting = job(RegisterJobStatus.queued, runner="rq", created_at=now - timedelta(minutes=2))
    forgotten = job(RegisterJobStatus.queued, runner="rq", created_at=now - timedelta(hours=1))
    db.session.commit()
    assert recover_stale_jobs(now) == 3
    db.session.commit()
    states = {row.id: fresh(row.id).status for row in (live, dead, finished, orphan, waiting)}
    assert states == {
        live.id: RegisterJobStatus.running,
        dead.id: RegisterJobStatus.failed,
        finished.id: RegisterJobStatus.done,
        orphan.id: RegisterJobStatus.failed,
        waiting.id: RegisterJobStatus.queued,
    }
    assert "排队过久" in fresh(forgotten.id).message


# -- time limits --------------------------------------------------------------------------


def test_register_time_limit_follows_the_render_timeout_setting(app, staff, letters, monkeypatch):
    monkeypatch.setitem(app.config, "DOCUMENT_RENDER_TIMEOUT", 200)
    monkeypatch.setitem(app.config, "REGISTER_SECONDS_PER_ROW", 0.5)
    assert register_ops._timeout(100) == 250

    # A render that would take 20 s is stopped after the configured second.
    from models.rendering import pdf

    original = pdf._write_pdf

    def slow(html):
        time.sleep(20)
        return original(html)

    monkeypatch.setattr(pdf, "_write_pdf", slow)
    monkeypatch.setitem(app.config, "DOCUMENT_RENDER_TIMEOUT", 1)
    monkeypatch.setitem(app.config, "REGISTER_SECONDS_PER_ROW", 0)
    job = queued_job(staff["office"])
    started = time.monotonic()
    register_ops.run_job(job.id)
    assert time.monotonic() - started < 8
    failed = fresh(job.id)
    assert failed.status == RegisterJobStatus.failed
    assert "超过 1 秒" in failed.message


# -- periodic tasks -----------------------------------------------------------------------


@pytest.fixture
def due_work(app, staff, create_case):
    """A case whose clocks are long past due (escalations) and a routine callback schedule."""
    create_case(by=staff["office"], received_at=utcnow() - timedelta(days=120))
    db.session.add(
        CallbackSchedule(name="滨河小区二期", delivered_on=date.today() - timedelta(days=25))
    )
    db.session.commit()


def test_two_schedulers_on_the_same_tick_run_each_task_once(app, due_work):
    now = utcnow()
    barrier = threading.Barrier(2)
    outcomes = []

    def tick():
        scheduler = Scheduler(app)  # no leader: the claims alone must keep tasks single
        barrier.wait(5)
        outcomes.append(scheduler.tick(now))

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == 2
    for task in TASKS:
        assert sorted([outcomes[0][task.name], outcomes[1][task.name]]) == [False, True], (
            task.name,
            outcomes,
        )
    db.session.expire_all()
    runs = db.session.execute(
        sa.select(ScheduledRun.task, sa.func.count()).group_by(ScheduledRun.task)
    )
    assert dict(runs.all()) == {task.name: 1 for task in TASKS}
    fired = db.session.scalar(sa.select(sa.func.count(ClockEscalation.id)))
    assert fired >= 1
    planned = db.session.scalar(sa.select(sa.func.count()).select_from(sa.table("callbacks")))
    assert planned == 1
    # The same slot again does nothing; the next minute finds nothing new to fire.
    assert set(Scheduler(app).tick(now).values()) == {False}
    Scheduler(app).tick(now + timedelta(seconds=60))
    assert db.session.scalar(sa.select(sa.func.count(ClockEscalation.id))) == fired
    assert db.session.scalar(sa.select(sa.func.count()).select_from(sa.table("callbacks"))) == 1


def test_only_one_leader_at_a_time(app, tmp_path):
    first, second = FileLeader(tmp_path / "x.lock"), FileLeader(tmp_path / "x.lock")
    assert first.acquire() and first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()
    if db.engine.dialect.name == "postgresql":
        one, two = AdvisoryLeader(db.engine), AdvisoryLeader(db.engine)
        try:
            assert one.acquire() and not two.acquire()
            one.release()
            assert two.acquire()
        finally:
            one.release()
            two.release()
    connection = redis_or_none()
    if connection is not None:
        key = f"xinfang:test-leader:{os.getpid()}"
        one, two = (RedisLeader(connection, ttl=0.3, key=key) for _ in range(2))
        try:
            assert one.acquire() and one.acquire() and not two.acquire()
            time.sleep(0.4)  # the leader died without letting go: its key expires
            assert two.acquire() and not one.acquire()
        finally:
            connection.delete(key)


def test_periodic_tasks_run_in_the_web_process_without_redis(app, staff, due_work, monkeypatch):
    monkeypatch.delitem(app.config, "REDIS_URL", raising=False)
    monkeypatch.setitem(app.config, "SCHEDULER_TICK_SECONDS", 0.1)
    stuck = RegisterJob(
        kind="letters", params={}, status=RegisterJobStatus.running, runner="thread",
        created_by_id=staff["office"].id, created_at=utcnow() - timedelta(minutes=5),
        heartbeat_at=utcnow() - timedelta(minutes=5),
    )  # fmt: skip
    db.session.add(stuck)
    db.session.commit()
    scheduler = start_in_process(app)
    try:
        assert start_in_process(app) is scheduler  # once per process
        assert isinstance(scheduler.leader, FileLeader | AdvisoryLeader)

        def all_ran():
            db.session.expire_all()
            return db.session.scalar(sa.select(sa.func.count(ScheduledRun.id))) == len(TASKS)

        assert wait_for(all_ran, 15)
    finally:
        stop_in_process()
    assert fresh(stuck.id).status == RegisterJobStatus.failed
    assert db.session.scalar(sa.select(sa.func.count(ClockEscalation.id))) >= 1
    assert db.session.scalar(sa.select(sa.func.count(Notification.id))) >= 1


class _App:
    def __init__(self, testing=False, **config):
        self.testing, self.config = testing, config


def test_where_the_scheduler_runs():
    assert in_process_wanted(_App())  # the one-desk default: no Redis, no cron
    assert not in_process_wanted(_App(REDIS_URL="redis://x"))  # scripts/worker.py runs it
    assert in_process_wanted(_App(REDIS_URL="redis://x", BACKGROUND_SCHEDULER="in-process"))
    assert not in_process_wanted(_App(BACKGROUND_SCHEDULER="off"))
    assert not in_process_wanted(_App(testing=True))


def test_retention_reminder_tells_who_may_destroy(app, create_user, create_case):
    from models.enums import CaseStatus
    from models.operations.retention import remind_retention_due

    admin = create_user("admin")
    create_user("registrar")  # may not destroy: no reminder
    case = create_case()
    case.status, case.retain_until = CaseStatus.kept, date.today() - timedelta(days=1)
    db.session.commit()
    assert remind_retention_due(date.today()) == 1
    db.session.commit()
    (reminder,) = db.session.scalars(sa.select(Notification)).all()
    assert reminder.user_id == admin.id and "有 1 件存信已过保存期限" in reminder.message
