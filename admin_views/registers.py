"""``统计 → 登记台账``: the register form, background jobs with progress, downloads."""

from __future__ import annotations

import io
from datetime import date
from urllib.parse import quote

import sqlalchemy as sa
import xlsxwriter
from flask import Response, abort, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _
from flask_login import current_user

from models import Category, Unit, db
from models.base import to_local, utcnow
from models.documents import RegisterJob
from models.enums import RegisterJobStatus, RegisterKind
from models.operations import NotPermitted, ValidationFailed
from models.operations.registers import (
    background_threshold,
    leaders_reception_table,
    parse_params,
    print_register,
    register_job_pdf,
    retry_job,
    start_job,
)
from models.operations.supervision_report import (
    leaders,
    parse_report_params,
    print_supervision_report,
)
from models.reception_days import ReceptionLeader
from models.rendering.registers import describe, register_title

from .base import refuse_access
from .documents import pdf_response
from .exports import safe_cell

#: Registers printed by the retention screens (admin_views/retention.py).
RETENTION_REGISTERS = {
    RegisterKind.kept_letters.value: "keptletters.pdf_view",
    RegisterKind.destructions.value: "destructionbatch.print_view",
}


class RegisterView(BaseView):
    def is_accessible(self):
        return current_user.is_authenticated and current_user.has_permission("register.print")

    def inaccessible_callback(self, name, **kwargs):
        return refuse_access()

    def _form_page(self, values: dict, errors: dict, status: int = 200):
        units = db.session.scalars(
            sa.select(Unit).where(Unit.is_active.is_(True)).order_by(Unit.sort_order, Unit.id)
        ).all()
        categories = db.session.scalars(
            sa.select(Category)
            .where(Category.is_active.is_(True))
            .order_by(Category.sort_order, Category.id)
        ).all()
        jobs = db.session.scalars(
            sa.select(RegisterJob)
            .where(RegisterJob.created_by_id == current_user.id)
            .order_by(RegisterJob.id.desc())
            .limit(10)
        ).all()
        return (
            self.render(
                "admin/registers/index.html",
                kinds=list(RegisterKind),
                units=units,
                categories=categories,
                values=values,
                errors=errors,
                jobs=jobs,
                threshold=background_threshold(),
                leaders=_reception_leaders(),
            ),
            status,
        )

    @expose("/", methods=("GET", "POST"))
    def index(self):
        today = to_local(utcnow()).date()
        values = {
            "kind": request.values.get("kind", "letters"),
            "start": request.values.get("start", date(today.year, today.month, 1).isoformat()),
            "end": request.values.get("end", today.isoformat()),
            "unit_id": request.values.get("unit_id", ""),
            "category_id": request.values.get("category_id", ""),
            "leader_id": request.values.get("leader_id", ""),
        }
        if values["kind"] == RegisterKind.supervision_report.value:
            # A report with its own form (month, addressee, copy), not a date-range register.
            return redirect(url_for(".supervision_report_view"))
        if request.method == "GET":
            return self._form_page(values, {})
        if values["kind"] in RETENTION_REGISTERS:
            # Listed by region and year, not by date: they print from their own screens.
            return redirect(url_for(RETENTION_REGISTERS[values["kind"]]))
        try:
            params = parse_params(**values)
            pdf, job = print_register(params, by=current_user)
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            return self._form_page(values, {error.field or "form": str(error)}, 400)
        except NotPermitted as error:
            db.session.rollback()
            return self._form_page(values, {"form": str(error)}, 403)
        if pdf is not None:
            return pdf_response(pdf, f"{params.kind.title}-{params.start}-{params.end}.pdf")
        start_job(job)
        return redirect(url_for(".job_view", job_id=job.id))

    def _own_job(self, job_id: int) -> RegisterJob:
        job = db.session.get(RegisterJob, job_id)
        if job is None or job.created_by_id != current_user.id:
            abort(404)
        return job

    @expose("/job/<int:job_id>")
    def job_view(self, job_id):
        job = self._own_job(job_id)
        running = job.status in (RegisterJobStatus.queued, RegisterJobStatus.running)
        return self.render("admin/registers/job.html", job=job, running=running)

    @expose("/job/<int:job_id>/retry", methods=("POST",))
    def job_retry_view(self, job_id):
        """重试: queue a failed job again (a new attempt; audited)."""
        job = self._own_job(job_id)
        try:
            retry_job(job, by=current_user)
            db.session.commit()
        except (ValidationFailed, NotPermitted) as error:
            db.session.rollback()
            flash(str(error), "error")
            return redirect(url_for(".job_view", job_id=job_id))
        start_job(job)
        flash(_("已重新开始生成台账"), "success")
        return redirect(url_for(".job_view", job_id=job_id))

    @expose("/job/<int:job_id>/pdf")
    def job_pdf_view(self, job_id):
        job = self._own_job(job_id)
        try:
            pdf = register_job_pdf(job, by=current_user)
        except NotPermitted:
            db.session.rollback()
            abort(404)
        db.session.commit()
        return pdf_response(pdf, job.filename, download=request.args.get("download") == "1")

    # --- issue 15: the month-end report on supervision cards (督办卡办理情况月报) -----------

    @expose("/supervision-report/", methods=("GET", "POST"))
    def supervision_report_view(self):
        today = to_local(utcnow()).date()
        values = {
            "month": request.values.get("month", f"{today.year}-{today.month:02d}"),
            "leader_id": request.values.get("leader_id", ""),
            "own_cards": request.values.get("own_cards", "1" if request.method == "GET" else ""),
            "copy_to": request.values.get("copy_to", ""),
        }
        errors: dict[str, str] = {}
        if request.method == "POST":
            try:
                params = parse_report_params(
                    values["month"], values["leader_id"], values["own_cards"] == "1",
                    values["copy_to"],
                )  # fmt: skip
                pdf = print_supervision_report(params, by=current_user)
                db.session.commit()
            except ValidationFailed as error:
                db.session.rollback()
                errors[error.field or "form"] = str(error)
            except NotPermitted as error:
                db.session.rollback()
                errors["form"] = str(error)
            else:
                return pdf_response(
                    pdf, f"{RegisterKind.supervision_report.title}-{values['month']}.pdf"
                )
        return self.render(
            "admin/registers/supervision_report.html",
            values=values,
            errors=errors,
            leaders=leaders(),
        ), (400 if errors else 200)

    # -- the leaders' reception register as a spreadsheet ----------------------------------

    @expose("/leaders-reception.xlsx")
    def leaders_reception_xlsx_view(self):
        """院长、副院长接待上访当事人登记表 as XLSX: the same rows as the PDF."""
        today = to_local(utcnow()).date()
        values = {
            "kind": RegisterKind.leaders_reception.value,
            "start": request.args.get("start", today.isoformat()),
            "end": request.args.get("end", request.args.get("start", today.isoformat())),
            "unit_id": request.args.get("unit_id", ""),
            "category_id": request.args.get("category_id", ""),
            "leader_id": request.args.get("leader_id", ""),
        }
        try:
            params = parse_params(**values)
            titles, rows = leaders_reception_table(params, by=current_user)
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            return self._form_page(values, {error.field or "form": str(error)}, 400)
        except NotPermitted as error:
            db.session.rollback()
            return self._form_page(values, {"form": str(error)}, 403)
        title = register_title(params.kind)
        return xlsx_response(
            f"{title}-{params.start}-{params.end}.xlsx",
            title,
            [f"{title}　{describe(params)}"],
            titles,
            rows,
        )


def _reception_leaders():
    return db.session.scalars(
        sa.select(ReceptionLeader).order_by(
            ReceptionLeader.is_active.desc(), ReceptionLeader.sort_order, ReceptionLeader.id
        )
    ).all()


def xlsx_response(filename: str, sheet_name: str, heading: list[str], titles, rows):
    """A small workbook built in memory: heading lines, bold column titles, then the rows;
    every text cell neutralised against formulas (admin_views.exports.safe_cell)."""
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False})
    sheet = workbook.add_worksheet(sheet_name[:31])
    bold = workbook.add_format({"bold": True})
    for line, text in enumerate(heading):
        sheet.write_string(line, 0, text, bold)
    first = len(heading)
    sheet.write_row(first, 0, titles, bold)
    for index, row in enumerate(rows, start=first + 1):
        for column, value in enumerate(row):
            sheet.write_string(index, column, str(safe_cell(str(value))))
    sheet.set_column(0, len(titles) - 1, 16)
    workbook.close()
    response = Response(
        buffer.getvalue(),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response.headers["Content-Disposition"] = (
        f"attachment; filename=register.xlsx; filename*=UTF-8''{quote(filename)}"
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response
