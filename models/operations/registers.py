"""Printing registers (台账): validate the form, render small ones at once, queue large ones.

A register above the ``register_background_rows`` setting becomes a :class:`RegisterJob`. With
``REDIS_URL`` configured the job goes to the RQ queue ``xinfang-registers`` and the job worker
(``scripts/worker.py``) renders it; without Redis (or when Redis does not answer) a local worker
thread of this process renders it, so a newcomer's SQLite set-up still works (see
``models/maintenance/background.py``). Either way the web request returns at once and the job
page shows progress until the PDF can be downloaded.

A running job writes a heartbeat on its row every ``JOB_HEARTBEAT_SECONDS``; the periodic
recovery task marks a job whose heartbeat stopped (its worker died) failed with a Chinese
message, and its owner can retry it (:func:`retry_job`). Each run carries the job's attempt
number, and a run that is no longer the latest writes nothing.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

from models.texts import lazy_gettext as _l

from .. import db
from ..audit import AuditAction
from ..base import utcnow
from ..documents import RegisterJob
from ..enums import RegisterJobStatus, RegisterKind
from ..policies import hidden_reporter_case_ids, visible_cases_clause
from ..rendering.pdf import RenderError, render_pdf, render_pdf_in_parts
from ..rendering.registers import (
    MAX_ROWS,
    RegisterParams,
    count_rows,
    describe,
    register_columns,
    register_footer_html,
    register_parts,
    register_rows,
)
from ..settings import SystemSetting
from ..users import User
from ..vocabulary import substitute
from . import NotPermitted, ValidationFailed
from .audit_log import record_audit

logger = logging.getLogger(__name__)

QUEUE_NAME = "xinfang-registers"
#: Measured: about 8 s per 1,000 rows on two cores; allow three times that on top of the
#: ``DOCUMENT_RENDER_TIMEOUT`` every render gets (``REGISTER_SECONDS_PER_ROW`` overrides it).
SECONDS_PER_ROW = 0.025
#: What the owner reads on a job whose worker stopped answering.
STALE_MESSAGE = _l(
    "生成台账的任务进程已停止响应（可能被重启或终止），本次生成未完成。请点击“重试”重新生成。"
)
#: Local worker threads by job id (tests join them; nothing else needs them).
local_threads: dict[int, threading.Thread] = {}
QUEUE_STALE_MESSAGE = _l("台账排队过久，没有任务进程处理（任务进程可能未启动）。请点击“重试”。")


def user_scope(user):
    """The cases ``user`` may see, as a SQL condition (the admin's row scoping)."""
    return visible_cases_clause(user)


def parse_params(
    kind: str, start: str, end: str, unit_id: str, category_id: str, leader_id: str = ""
):
    """Check the register form; Chinese messages name the field."""
    if kind not in RegisterKind.__members__:
        raise ValidationFailed(_("请选择台账种类"), field="kind")
    try:
        first = date.fromisoformat((start or "").strip())
    except ValueError:
        raise ValidationFailed(_("请填写有效的开始日期（如 2026-03-01）"), field="start") from None
    try:
        last = date.fromisoformat((end or "").strip())
    except ValueError:
        raise ValidationFailed(_("请填写有效的结束日期（如 2026-03-31）"), field="end") from None
    if last < first:
        raise ValidationFailed(_("结束日期不能早于开始日期"), field="end")
    if (last - first).days > 3 * 366:
        raise ValidationFailed(_("日期范围不能超过三年，请分期打印"), field="end")

    def optional_id(value: str, field: str, label: str) -> int | None:
        value = (value or "").strip()
        if not value:
            return None
        if not value.isdigit():
            raise ValidationFailed(_("请选择有效的%(label)s", label=label), field=field)
        return int(value)

    return RegisterParams(
        kind=RegisterKind(kind),
        start=first,
        end=last,
        unit_id=optional_id(unit_id, "unit_id", _l("承办单位")),
        category_id=optional_id(category_id, "category_id", _l("分类")),
        # Only the leaders' reception register lists by leader.
        leader_id=optional_id(leader_id, "leader_id", _l("接待领导"))
        if kind == RegisterKind.leaders_reception.value
        else None,
    )


def background_threshold() -> int:
    try:
        return max(1, int(SystemSetting.get("register_background_rows")))
    except ValueError:
        return 500


def _check_permission(user) -> None:
    if user is None or not user.is_authenticated or not user.has_permission("register.print"):
        raise NotPermitted(_("您没有打印台账的权限"))


def hidden_reporters(user) -> frozenset[int]:
    """Ids of the 举报 cases whose reporter ``user`` may not see (masked in the register)."""
    return frozenset(db.session.scalars(hidden_reporter_case_ids(user)))


def render_register(parts: list[str], **limits) -> bytes:
    """One part renders as is; several render side by side and are joined (see
    :func:`register_parts`)."""
    if len(parts) == 1:
        return render_pdf(parts[0], **limits)
    return render_pdf_in_parts(parts, register_footer_html, **limits)


def _timeout(rows: int) -> int:
    """The register's render limit: ``DOCUMENT_RENDER_TIMEOUT`` plus a share per row."""
    config = current_app.config
    base = int(config.get("DOCUMENT_RENDER_TIMEOUT", 60))
    per_row = float(config.get("REGISTER_SECONDS_PER_ROW", SECONDS_PER_ROW))
    return max(1, base + int(rows * per_row))


def print_register(params: RegisterParams, *, by) -> tuple[bytes | None, RegisterJob | None]:
    """Render a small register now (returns its PDF) or create a job for a large one.

    The caller commits, then calls :func:`start_job` for a returned job.
    """
    _check_permission(by)
    scope = user_scope(by)
    rows = count_rows(params, scope)
    if rows > MAX_ROWS:
        raise ValidationFailed(
            _(
                "该台账有 %(rows)s 条，超过单册 %(limit)s 条的上限，请缩小日期范围或按单位分册打印",
                rows=rows,
                limit=MAX_ROWS,
            )
        )
    if rows <= background_threshold():
        parts = register_parts(params, register_rows(params, scope, hidden_reporters(by)))
        try:
            pdf = render_register(parts, timeout=_timeout(rows))
        except RenderError as error:
            raise ValidationFailed(str(error)) from None
        _audit_print(params, rows, by=by)
        return pdf, None
    job = RegisterJob(
        kind=params.kind,
        params=params.as_json(),
        status=RegisterJobStatus.queued,
        row_count=rows,
        created_by_id=by.id,
        created_at=utcnow(),
    )
    db.session.add(job)
    db.session.flush()
    return None, job


def _audit_print(params: RegisterParams, rows: int, *, by, job: RegisterJob | None = None) -> None:
    record_audit(
        AuditAction.print,
        job,
        by=by,
        target_type=None if job else "register",
        summary=f"打印台账：{describe(params)}",
        data={**params.as_json(), "register": params.kind.value, "rows": rows},
    )


def register_job_pdf(job: RegisterJob, *, by) -> bytes:
    """The finished PDF of ``by``'s own job; handing it out is a print, so it is audited."""
    _check_permission(by)
    if job.created_by_id != by.id or job.status != RegisterJobStatus.done or not job.pdf:
        raise NotPermitted(_("找不到这份台账，或它尚未生成完毕"))
    params = RegisterParams.from_json(job.kind, job.params)
    _audit_print(params, job.row_count or 0, by=by, job=job)
    return job.pdf


def start_job(job: RegisterJob) -> str:
    """Hand a committed job to RQ, or to a local thread without Redis. Returns the runner."""
    from ..maintenance.jobs import enqueue_rq

    attempt = getattr(job, "attempt", None) or 1
    if enqueue_rq(
        "models.operations.registers.run_job",
        job.id,
        attempt,
        name=f"register-job-{job.id}-{attempt}",
        timeout=_timeout(job.row_count or 0) + 120,
    ):
        _set_runner(job, "rq")
        return "rq"
    app = current_app._get_current_object()
    thread = threading.Thread(
        target=_run_in_thread, args=(app, job.id), name=f"register-job-{job.id}", daemon=True
    )
    local_threads[job.id] = thread
    _set_runner(job, "thread")
    thread.start()
    return "thread"


def _set_runner(job: RegisterJob, runner: str) -> None:
    db.session.execute(sa.update(RegisterJob).where(RegisterJob.id == job.id).values(runner=runner))
    db.session.commit()


def _run_in_thread(app, job_id: int) -> None:
    with app.app_context():
        try:
            run_job(job_id)
        finally:
            db.session.remove()


def run_job_in_worker(job_id: int, attempt: int | None = None) -> None:
    """RQ entry point of jobs queued before issue 17; ``scripts/worker.py`` gives the context."""
    try:
        run_job(job_id, attempt)
    finally:
        db.session.remove()


def _update(job_id: int, attempt: int, **values) -> bool:
    """Write this run's state, unless the job was recovered, retried or finished meanwhile."""
    result = db.session.execute(
        sa.update(RegisterJob)
        .where(
            RegisterJob.id == job_id,
            RegisterJob.attempt == attempt,
            RegisterJob.status.in_((RegisterJobStatus.queued, RegisterJobStatus.running)),
        )
        .values(**values)
    )
    db.session.commit()
    return result.rowcount == 1


@contextmanager
def heartbeat(job_id: int, attempt: int, limit: int):
    """Beat on the job's row every ``JOB_HEARTBEAT_SECONDS`` from a thread of its own (the
    job's thread may wait minutes for a render), for at most ``limit`` seconds: a run that
    overstays its limit stops beating and is recovered like a dead one."""
    engine = db.engine
    every = float(current_app.config.get("JOB_HEARTBEAT_SECONDS", 5))
    stop = threading.Event()
    ends = utcnow() + timedelta(seconds=limit)

    def beat() -> None:
        while not stop.wait(every) and utcnow() < ends:
            try:
                with engine.begin() as connection:
                    connection.execute(
                        sa.update(RegisterJob)
                        .where(
                            RegisterJob.id == job_id,
                            RegisterJob.attempt == attempt,
                            RegisterJob.status == RegisterJobStatus.running,
                        )
                        .values(heartbeat_at=utcnow())
                    )
            except Exception:  # a missed beat is not fatal; the next one may get through
                logger.warning("register job %s: heartbeat failed", job_id, exc_info=True)

    thread = threading.Thread(target=beat, name=f"register-job-{job_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(every + 5)


def run_job(job_id: int, attempt: int | None = None) -> None:
    """Render a queued job, reporting progress on its row; never raises for a bad render."""
    job = db.session.get(RegisterJob, job_id)
    if job is None or job.status != RegisterJobStatus.queued:
        return
    attempt = job.attempt if attempt is None else attempt
    user = db.session.get(User, job.created_by_id) if job.created_by_id else None
    now = utcnow()
    if not _update(
        job_id, attempt, status=RegisterJobStatus.running, progress=2, started_at=now,
        heartbeat_at=now,
    ):  # fmt: skip
        return  # retried meanwhile, or taken by another worker
    limit = _timeout(job.row_count or 0)
    try:
        with heartbeat(job_id, attempt, limit + 60):
            if user is None or not user.is_active_user or not user.has_permission("register.print"):
                raise NotPermitted(_("申请打印的用户已停用或已无打印台账的权限"))
            params = RegisterParams.from_json(job.kind, job.params)
            rows = register_rows(params, user_scope(user), hidden_reporters(user))
            _update(job_id, attempt, progress=10, row_count=len(rows))
            parts = register_parts(params, rows)
            # About 28 one-line rows fit on a landscape page; the estimate only drives the bar.
            expected_pages = max(1, len(rows) // 28 + 1)
            last = {"progress": 10, "pages": 0}

            def on_page(pages: int) -> None:
                last["pages"] = pages
                progress = min(95, 10 + int(85 * pages / expected_pages))
                if progress >= last["progress"] + 3:
                    last["progress"] = progress
                    _update(job_id, attempt, progress=progress, page_count=pages)

            pdf = render_register(parts, timeout=_timeout(len(rows)), on_page=on_page)
        _update(
            job_id,
            attempt,
            status=RegisterJobStatus.done,
            progress=100,
            pdf=pdf,
            size=len(pdf),
            page_count=last["pages"] or None,
            finished_at=utcnow(),
            message=None,
        )
    except (RenderError, NotPermitted, ValidationFailed) as error:
        db.session.rollback()
        _update(
            job_id,
            attempt,
            status=RegisterJobStatus.failed,
            message=str(error)[:300],
            finished_at=utcnow(),
        )
    except Exception:
        db.session.rollback()
        logger.exception("register job %s failed", job_id)
        _update(
            job_id,
            attempt,
            status=RegisterJobStatus.failed,
            message=_("台账生成失败，请稍后重试或联系管理员。"),
            finished_at=utcnow(),
        )


def recover_stale_jobs(now: datetime | None = None) -> int:
    """Mark failed every job whose worker is gone; returns how many (a periodic task).

    Gone: running without a heartbeat for ``JOB_STALE_SECONDS`` (30 s; jobs beat every 5 s),
    or queued that long for a local thread (threads start at once, so its process died), or
    queued on RQ for ``JOB_QUEUE_TIMEOUT`` (30 minutes) with no worker taking it. A queued
    job's clock starts when it was created or last retried (``heartbeat_at``).
    """
    now = now or utcnow()
    config = current_app.config
    stale = now - timedelta(seconds=int(config.get("JOB_STALE_SECONDS", 30)))
    queue_stale = now - timedelta(seconds=int(config.get("JOB_QUEUE_TIMEOUT", 1800)))
    running, queued = RegisterJobStatus.running, RegisterJobStatus.queued
    dead_runs = sa.or_(
        sa.and_(
            RegisterJob.status == running,
            sa.func.coalesce(RegisterJob.heartbeat_at, RegisterJob.created_at) < stale,
        ),
        sa.and_(RegisterJob.status == queued, RegisterJob.runner != "rq",
                sa.func.coalesce(RegisterJob.heartbeat_at, RegisterJob.created_at) < stale),
    )  # fmt: skip
    unclaimed = sa.and_(
        RegisterJob.status == queued,
        RegisterJob.runner == "rq",
        sa.func.coalesce(RegisterJob.heartbeat_at, RegisterJob.created_at) < queue_stale,
    )
    recovered = 0
    for condition, message in ((dead_runs, STALE_MESSAGE), (unclaimed, QUEUE_STALE_MESSAGE)):
        result = db.session.execute(
            sa.update(RegisterJob)
            .where(condition)
            .values(status=RegisterJobStatus.failed, message=str(message), finished_at=now)
        )
        recovered += result.rowcount
    if recovered:
        logger.warning("recovered %s register jobs whose worker stopped", recovered)
    return recovered


def retry_job(job: RegisterJob, *, by) -> RegisterJob:
    """Queue a failed job of ``by``'s again, as a new attempt (audited). The caller commits,
    then calls :func:`start_job`."""
    _check_permission(by)
    if job.created_by_id != by.id:
        raise NotPermitted(_("找不到这份台账，或它尚未生成完毕"))
    if job.status != RegisterJobStatus.failed:
        raise ValidationFailed(_("只有生成失败的台账可以重试"))
    attempt, previous = job.attempt + 1, job.message
    db.session.execute(
        sa.update(RegisterJob)
        .where(RegisterJob.id == job.id, RegisterJob.status == RegisterJobStatus.failed)
        .values(
            status=RegisterJobStatus.queued,
            attempt=attempt,
            progress=0,
            page_count=None,
            message=None,
            # Queued since now: the recovery task's clock for a job nobody takes.
            heartbeat_at=utcnow(),
            started_at=None,
            finished_at=None,
        )
    )
    db.session.refresh(job)
    record_audit(
        AuditAction.retry,
        job,
        by=by,
        summary=f"重试生成台账：{job} 第 {attempt} 次",
        data={"attempt": attempt, "previous_message": previous},
    )
    return job


# -- the leaders' reception register as a spreadsheet ------------------------------------------


def leaders_reception_table(params: RegisterParams, *, by) -> tuple[list[str], list[tuple]]:
    """The leaders' reception register as column titles and rows (the spreadsheet twin of the
    PDF): the same rows, row scoping and masking; audited as an export."""
    _check_permission(by)
    if params.kind != RegisterKind.leaders_reception:
        raise ValidationFailed(_("请选择台账种类"), field="kind")
    scope = user_scope(by)
    rows = count_rows(params, scope)
    if rows > MAX_ROWS:
        raise ValidationFailed(
            _("该台账有 %(rows)s 条，超过 %(limit)s 条的上限，请缩小日期范围", rows=rows,
              limit=MAX_ROWS)
        )  # fmt: skip
    table = register_rows(params, scope, hidden_reporters(by))
    record_audit(
        AuditAction.export,
        None,
        by=by,
        target_type="register",
        summary=f"导出台账：{describe(params)}",
        data={**params.as_json(), "register": params.kind.value, "rows": len(table),
              "format": "xlsx"},
    )  # fmt: skip
    titles = [substitute(column.title) for column in register_columns(params.kind)]
    return titles, table
