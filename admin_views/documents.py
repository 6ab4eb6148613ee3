"""Case documents (issue, reprint, download) and the editable document wording."""

from __future__ import annotations

import logging
from datetime import date, datetime
from urllib.parse import quote

import sqlalchemy as sa
from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _
from flask_login import current_user

from models import Case, db
from models.base import local_zone, to_local, utcnow
from models.documents import DocumentTemplate, IssuedDocument
from models.enums import DocumentKind
from models.operations import NotPermitted, ValidationFailed, WorkflowError
from models.operations.case_reports import (
    REPORT_FIELDS,
    commend_party,
    commend_problem,
    commendable_parties,
    draft_problem,
    draft_report,
    report_defaults,
    sign_off_report,
)
from models.operations.documents import (
    CONFIDENTIAL_DOCUMENT,
    document_for_print,
    issue_document,
    preview_wording,
    reset_wording,
    save_wording,
    wording_of,
)
from models.policies import reporter_visible, visible_cases_clause
from models.rendering.catalog import TYPES

from .base import refuse_access

logger = logging.getLogger(__name__)


def pdf_response(data: bytes, filename: str, *, download: bool = False) -> Response:
    disposition = "attachment" if download else "inline"
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f"{disposition}; filename=document.pdf; filename*=UTF-8''{quote(filename)}"
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _visible_case(case_id: int) -> Case | None:
    return db.session.scalar(
        sa.select(Case).where(
            Case.id == case_id, Case.is_deleted.is_(False), visible_cases_clause(current_user)
        )
    )


class _SignedInView(BaseView):
    def is_accessible(self):
        return current_user.is_authenticated

    def inaccessible_callback(self, name, **kwargs):
        return refuse_access()


def _chosen_reply(case):
    """The reply a reply letter prints when issued from a row of the case page's replies."""
    from models.replies import CaseReply

    reply_id = request.form.get("reply_id", "").strip()
    if not reply_id:
        return None
    reply = db.session.get(CaseReply, int(reply_id)) if reply_id.isdigit() else None
    if reply is None or reply.case_id != case.id:
        raise ValidationFailed(_("找不到所选的答复"))
    return reply


class DocumentView(_SignedInView):
    """``/admin/documents/``: issue a case's document, reprint and download issued ones."""

    def is_visible(self):
        return False

    @expose("/")
    def index(self):
        return redirect(url_for("case.index_view"))

    @expose("/issue/<int:case_id>/<kind>/", methods=("POST",))
    def issue_view(self, case_id, kind):
        case = _visible_case(case_id)
        if case is None:
            abort(404)
        if kind not in DocumentKind.__members__:
            abort(404)
        try:
            try:
                document, created = issue_document(
                    case, kind, by=current_user, reply=_chosen_reply(case)
                )
                db.session.commit()
            except sa.exc.IntegrityError:
                # Somebody issued the same document a moment earlier: hand out theirs.
                db.session.rollback()
                document, created = issue_document(
                    case, kind, by=current_user, reply=_chosen_reply(case)
                )
                db.session.commit()
        except WorkflowError as error:
            db.session.rollback()
            flash(str(error), "error")
            return redirect(url_for("case.details_view", id=case_id))
        if created:
            flash(
                _(
                    "已出具%(title)s，文号 %(number)s。",
                    title=document.kind.title,
                    number=document.number,
                ),
                "success",
            )
        return redirect(url_for(".pdf_view", document_id=document.id))

    @expose("/<int:document_id>/pdf")
    def pdf_view(self, document_id):
        document = db.session.get(IssuedDocument, document_id)
        if document is None or _visible_case(document.case_id) is None:
            abort(404)
        try:
            pdf = document_for_print(document, by=current_user)
        except NotPermitted:
            db.session.rollback()
            abort(403)
        db.session.commit()
        return pdf_response(pdf, document.filename, download=request.args.get("download") == "1")

    # --- issue 15: drafted reports, the information report's sign-off, commendations -------

    def _case_or_404(self, case_id: int) -> Case:
        case = _visible_case(case_id)
        if case is None:
            abort(404)
        return case

    @expose("/draft/<int:case_id>/<kind>/", methods=("GET", "POST"))
    def draft_view(self, case_id, kind):
        """Draft a 专报, 信访信息报告 or 公示; the 专报 and 公示 are issued at once, the
        information report waits for the leader's sign-off."""
        case = self._case_or_404(case_id)
        if kind not in DocumentKind.__members__ or DocumentKind(kind) not in REPORT_FIELDS:
            abort(404)
        kind = DocumentKind(kind)
        values = report_defaults(kind, case)
        errors: dict[str, str] = {}
        if request.method == "POST":
            values = {spec.key: request.form.get(spec.key, "") for spec in REPORT_FIELDS[kind]}
            try:
                draft_report(case, kind, by=current_user, values=values)
                if kind == DocumentKind.information_report:
                    db.session.commit()
                    flash(_("信访信息报告已起草，待领导签发后出具。"), "success")
                    return redirect(url_for("case.details_view", id=case.id))
                document, _created = issue_document(case, kind, by=current_user)
                db.session.commit()
            except ValidationFailed as error:
                db.session.rollback()
                errors[error.field or "form"] = str(error)
            except WorkflowError as error:
                db.session.rollback()
                flash(str(error), "error")
                return redirect(url_for("case.details_view", id=case.id))
            else:
                flash(
                    _(
                        "已出具%(title)s，文号 %(number)s。",
                        title=document.kind.title,
                        number=document.number,
                    ),
                    "success",
                )
                return redirect(url_for(".pdf_view", document_id=document.id))
        elif (problem := draft_problem(case, kind, current_user)) is not None:
            flash(problem, "error")
            return redirect(url_for("case.details_view", id=case.id))
        return self.render(
            "admin/documents/draft.html",
            case=case,
            kind=kind,
            fields=REPORT_FIELDS[kind],
            values=values,
            errors=errors,
        ), (400 if errors else 200)

    @expose("/sign-off/<int:case_id>/", methods=("POST",))
    def sign_off_view(self, case_id):
        case = self._case_or_404(case_id)
        try:
            reported_at = _local_datetime(request.form.get("reported_at", ""))
            sign_off_report(case, by=current_user, reported_at=reported_at)
            db.session.commit()
        except WorkflowError as error:
            db.session.rollback()
            flash(str(error), "error")
        else:
            flash(_("信访信息报告已签发，可以出具。"), "success")
        return redirect(url_for("case.details_view", id=case.id))

    @expose("/commend/<int:case_id>/", methods=("GET", "POST"))
    def commend_view(self, case_id):
        case = self._case_or_404(case_id)
        problem = commend_problem(case, current_user)
        if problem is not None:
            flash(problem, "error")
            return redirect(url_for("case.details_view", id=case.id))
        parties = commendable_parties(case)
        values = {
            "party": str(parties[0].id) if parties else "",
            "text": "",
            "commended_on": to_local(utcnow()).date().isoformat(),
        }
        errors: dict[str, str] = {}
        if request.method == "POST":
            values = {key: request.form.get(key, "").strip() for key in values}
            try:
                party = next((p for p in parties if str(p.id) == values["party"]), None)
                try:
                    day = (
                        date.fromisoformat(values["commended_on"])
                        if values["commended_on"]
                        else None
                    )
                except ValueError:
                    raise ValidationFailed(
                        _("请填写有效的表扬日期（如 2026-03-01）"), field="commended_on"
                    ) from None
                commend_party(case, party, by=current_user, text=values["text"], commended_on=day)
                db.session.commit()
            except ValidationFailed as error:
                db.session.rollback()
                errors[error.field or "form"] = str(error)
            except WorkflowError as error:
                db.session.rollback()
                flash(str(error), "error")
                return redirect(url_for("case.details_view", id=case.id))
            else:
                flash(_("已记录表扬。"), "success")
                return redirect(url_for("case.details_view", id=case.id))
        return self.render(
            "admin/documents/commend.html",
            case=case,
            parties=parties,
            values=values,
            errors=errors,
        ), (400 if errors else 200)


def _local_datetime(text: str):
    """A ``datetime-local`` form value in the unit's time zone (empty: ``None``)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(
            _("请填写有效的上报时间（如 2026-03-01 10:30）"), field="reported_at"
        ) from None
    return value.replace(tzinfo=local_zone()) if value.tzinfo is None else value


class DocumentTemplateView(_SignedInView):
    """``设置 → 文书模板``: edit each document type's wording, preview it, save it."""

    def is_accessible(self):
        return current_user.is_authenticated and current_user.has_permission("settings.manage")

    @expose("/")
    def index(self):
        stored = {row.kind: row for row in db.session.scalars(sa.select(DocumentTemplate))}
        return self.render(
            "admin/documents/template_list.html", types=list(TYPES.values()), stored=stored
        )

    def _kind(self, kind: str) -> DocumentKind:
        if kind not in DocumentKind.__members__:
            abort(404)
        return DocumentKind(kind)

    @expose("/<kind>/", methods=("GET", "POST"))
    def edit_view(self, kind):
        kind = self._kind(kind)
        doc_type = TYPES[kind]
        title, body = wording_of(kind)
        errors: dict[str, str] = {}
        if request.method == "POST":
            title = request.form.get("title", "")
            body = request.form.get("body", "")
            try:
                if request.form.get("action") == "reset":
                    reset_wording(kind, by=current_user)
                    db.session.commit()
                    flash(_("已恢复默认模板。"), "success")
                    return redirect(url_for(".edit_view", kind=kind.value))
                save_wording(kind, title, body, by=current_user)
                db.session.commit()
                flash(_("模板已保存。"), "success")
                return redirect(url_for(".edit_view", kind=kind.value))
            except ValidationFailed as error:
                db.session.rollback()
                errors[error.field or "body"] = str(error)
            except NotPermitted as error:
                db.session.rollback()
                flash(str(error), "error")
        stored = db.session.get(DocumentTemplate, kind)
        return self.render(
            "admin/documents/template_edit.html",
            doc_type=doc_type,
            title_text=title,
            body_text=body,
            errors=errors,
            stored=stored,
            case_number=request.values.get("case_number", ""),
        )

    @expose("/<kind>/preview", methods=("POST",))
    def preview_view(self, kind):
        kind = self._kind(kind)
        case = None
        number = (request.form.get("case_number") or "").strip()
        if number:
            case = db.session.scalar(
                sa.select(Case).where(
                    Case.number == number,
                    Case.is_deleted.is_(False),
                    visible_cases_clause(current_user),
                )
            )
            if case is None:
                return self._preview_error(_("找不到登记编号为“%(number)s”的事项。", number=number))
            if not reporter_visible(case, current_user):
                return self._preview_error(CONFIDENTIAL_DOCUMENT)
        try:
            data = preview_wording(
                kind,
                request.form.get("title", ""),
                request.form.get("body", ""),
                case=case,
                by=current_user,
            )
        except ValidationFailed as error:
            return self._preview_error(str(error))
        finally:
            db.session.rollback()
        return pdf_response(data, f"{kind.title}-预览.pdf")

    def _preview_error(self, message: str):
        return render_template("admin/documents/preview_error.html", message=message), 400
