"""Printing registers (台账): validate the form, render small ones at once, queue large ones.

A register above the ``register_background_rows`` setting becomes a :class:`RegisterJob`. With
``REDIS_URL`` configured the job goes to the RQ queue ``xinfang-registers`` and an ``rq worker``
renders it; without Redis (or when Redis does not answer) a local worker thread of this process
renders it, so a newcomer's SQLite set-up still works. Either way the web request returns at
once and the job page shows progress until the PDF can be downloaded.
"""

from __future__ import annotations

import logging
import threading
from datetime import date

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

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
#: Measured: about 8 s per 1,000 rows on two cores; allow three times that, at least a minute.
SECONDS_PER_ROW = 0.025

#: Local worker threads by job id (tests join them; nothing else needs them).
local_threads: dict[int, threading.Thread] = {}


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
    return max(60, int(rows * SECONDS_PER_ROW) + 30)


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
    redis_url = current_app.config.get("REDIS_URL")
    if redis_url:
        try:
            from rq import Queue

            from ..redis_client import redis_client

            queue = Queue(QUEUE_NAME, connection=redis_client(redis_url))
            queue.enqueue(
                "models.operations.registers.run_job_in_worker",
                job.id,
                job_timeout=_timeout(job.row_count or 0) + 60,
                result_ttl=3600,
                failure_ttl=86400,
            )
            _set_runner(job, "rq")
            return "rq"
        except Exception:  # Redis down or misconfigured: the thread still gets it done
            logger.exception("register job %s: Redis unavailable, using a local thread", job.id)
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


def run_job_in_worker(job_id: int) -> None:
    """RQ entry point; ``scripts/worker.py`` runs it inside the app's context."""
    try:
        run_job(job_id)
    finally:
        db.session.remove()


def _update(job_id: int, **values) -> None:
    db.session.execute(sa.update(RegisterJob).where(RegisterJob.id == job_id).values(**values))
    db.session.commit()


def run_job(job_id: int) -> None:
    """Render a queued job, reporting progress on its row; never raises for a bad render."""
    job = db.session.get(RegisterJob, job_id)
    if job is None or job.status not in (RegisterJobStatus.queued, RegisterJobStatus.running):
        return
    user = db.session.get(User, job.created_by_id) if job.created_by_id else None
    _update(job_id, status=RegisterJobStatus.running, progress=2)
    try:
        if user is None or not user.is_active_user or not user.has_permission("register.print"):
            raise NotPermitted(_("申请打印的用户已停用或已无打印台账的权限"))
        params = RegisterParams.from_json(job.kind, job.params)
        rows = register_rows(params, user_scope(user), hidden_reporters(user))
        _update(job_id, progress=10, row_count=len(rows))
        parts = register_parts(params, rows)
        # About 28 one-line rows fit on a landscape page; the estimate only drives the bar.
        expected_pages = max(1, len(rows) // 28 + 1)
        last = {"progress": 10, "pages": 0}

        def on_page(pages: int) -> None:
            last["pages"] = pages
            progress = min(95, 10 + int(85 * pages / expected_pages))
            if progress >= last["progress"] + 3:
                last["progress"] = progress
                _update(job_id, progress=progress, page_count=pages)

        pdf = render_register(parts, timeout=_timeout(len(rows)), on_page=on_page)
        _update(
            job_id,
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
            status=RegisterJobStatus.failed,
            message=str(error)[:300],
            finished_at=utcnow(),
        )
    except Exception:
        db.session.rollback()
        logger.exception("register job %s failed", job_id)
        _update(
            job_id,
            status=RegisterJobStatus.failed,
            message="台账生成失败，请稍后重试或联系管理员。",
            finished_at=utcnow(),
        )


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
