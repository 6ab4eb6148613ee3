"""满意度调查: templates with rated items, campaigns, entering returned forms, results."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

from flask import Response, abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from wtforms import DateField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import Optional

from models import SurveyCampaign, SurveyItem, SurveyResponse, Unit, db
from models.audit import AuditAction
from models.base import local_zone, utcnow
from models.enums import Satisfaction
from models.operations import WorkflowError
from models.operations.audit_log import record_audit
from models.operations.records import create_record, delete_record, update_record
from models.operations.survey_import import (
    MAX_FILE_BYTES,
    SurveyImportFailed,
    import_survey_forms,
    survey_form_template_xlsx,
    template_columns,
)
from models.operations.surveys import (
    SURVEY_READ_PERMISSIONS,
    campaign_results,
    check_campaign,
    delete_survey_response,
    order_rectification,
    record_survey_response,
    survey_report_pdf,
)
from models.policies import (
    rectification_visible_clause,
    survey_campaign_visible_clause,
    survey_response_visible_clause,
)
from models.rendering import charts as svg
from models.rendering.pdf import RenderError
from models.surveys import RectificationOrder
from models.texts import lazy_gettext as _l

from .base import ProtectedModelView
from .choices import assignable_units
from .input import CheckedForm
from .labels import labels


def _today():
    return utcnow().astimezone(local_zone()).date()


class SurveyTemplateView(ProtectedModelView):
    permission_view = "survey.manage"
    permission_create = "survey.manage"
    permission_edit = "survey.manage"
    permission_delete = "survey.manage"
    column_list = ("name", "is_active", "description")
    column_labels = labels(
        name=_l("问卷名称"), description=_l("说明"), is_active=_l("启用"), items=_l("评价项目")
    )
    form_columns = ("name", "description", "is_active", "items")
    inline_models = [
        (
            SurveyItem,
            {
                "form_columns": ("id", "title", "sort_order"),
                "form_label": _l("评价项目"),
                "column_labels": {"title": _l("项目"), "sort_order": _l("排序")},
            },
        )
    ]

    def on_create(self, form, model):
        create_record(model, by=current_user)

    def on_delete(self, model):
        if db.session.query(SurveyCampaign.id).filter_by(template_id=model.id).first():
            from models.operations import ValidationFailed

            raise ValidationFailed(_("已有调查使用这个问卷，不能删除；可以停用"))
        delete_record(model, by=current_user)


def _manages_surveys() -> bool:
    return current_user.is_authenticated and current_user.has_permission("survey.manage")


def _campaign_links(view, context, model, name):
    link = Markup('<a class="btn btn-sm btn-outline-{}" href="{}">{}</a>')
    links = []
    if _manages_surveys():
        links.append(
            link.format(
                "primary", url_for("surveycampaign.entry_view", campaign_id=model.id), _("录入问卷")
            )
        )
        links.append(
            link.format(
                "primary",
                url_for("surveycampaign.import_view", campaign_id=model.id),
                _("导入问卷"),
            )
        )
    links.append(
        link.format(
            "success", url_for("surveycampaign.results_view", campaign_id=model.id), _("调查结果")
        )
    )
    links.append(
        link.format(
            "dark", url_for("surveycampaign.report_view", campaign_id=model.id), _("调查报告")
        )
    )
    return Markup(" ").join(links)


class SurveyCampaignView(ProtectedModelView):
    #: Leaders and supervisors read the results and the report; entering forms, importing them
    #: and ordering rectification need survey.manage (checked again by each operation).
    permission_any = SURVEY_READ_PERMISSIONS
    permission_create = "survey.manage"
    permission_edit = "survey.manage"
    permission_delete = "survey.manage"
    column_list = ("name", "template", "starts_on", "ends_on", "reported_to_committee_on", "links")
    column_default_sort = ("starts_on", True)
    column_formatters = {"links": _campaign_links}
    column_labels = labels(
        name=_l("调查名称"),
        template=_l("问卷"),
        starts_on=_l("开始日期"),
        ends_on=_l("结束日期"),
        forms_sent=_l("发放份数"),
        unit=_l("组织单位"),
        reported_to_committee_on=_l("报送业主委员会日期"),
        note=_l("备注"),
        links=_l("操作"),
    )
    form_columns = (
        "name",
        "template",
        "starts_on",
        "ends_on",
        "forms_sent",
        "unit",
        "reported_to_committee_on",
        "note",
    )

    form_args = {"unit": {"query_factory": lambda: assignable_units()}}

    def scope(self, query):
        return query.filter(survey_campaign_visible_clause(current_user))

    def on_create(self, form, model):
        check_campaign(model, by=current_user)
        create_record(model, by=current_user)

    def on_update(self, form, model):
        check_campaign(model, by=current_user)
        update_record(model, by=current_user)

    def on_delete(self, model):
        if db.session.query(SurveyResponse.id).filter_by(campaign_id=model.id).first():
            from models.operations import ValidationFailed

            raise ValidationFailed(_("这次调查已录入问卷，不能删除"))
        delete_record(model, by=current_user)

    def _campaign(self, campaign_id):
        # Through the view's scope: the entry form, the results and the rectification orders
        # of another unit's campaign are as closed as its details page.
        campaign = self.get_one(campaign_id)
        if campaign is None:
            flash(_("该调查不存在或您无权查看"), "error")
        return campaign

    def _managed_campaign(self, campaign_id):
        """The campaign for a page that changes it: a reader gets 403, not a form to fill in."""
        if not _manages_surveys():
            abort(403)
        return self._campaign(campaign_id)

    @expose("/entry/<int:campaign_id>/", methods=("GET", "POST"))
    def entry_view(self, campaign_id):
        campaign = self._managed_campaign(campaign_id)
        if campaign is None:
            return redirect(url_for(".index_view"))
        form = entry_form(campaign, request.form if request.method == "POST" else None)
        if request.method == "POST" and form.validate():
            ratings = {
                item.id: (
                    Satisfaction(form[f"item_{item.id}"].data)
                    if form[f"item_{item.id}"].data
                    else None
                )
                for item in campaign.template.items
            }
            try:
                record_survey_response(
                    campaign,
                    by=current_user,
                    ratings=ratings,
                    returned_on=form.returned_on.data,
                    respondent=form.respondent.data,
                    opinion=form.opinion.data,
                    form_number=form.form_number.data,
                )
                db.session.commit()
            except WorkflowError as error:
                db.session.rollback()
                flash(str(error), "error")
            else:
                flash(_("已录入一份问卷"))
                return redirect(url_for(".entry_view", campaign_id=campaign.id))
        returned = db.session.query(SurveyResponse).filter_by(campaign_id=campaign.id).count()
        return self.render(
            "admin/surveys/entry.html",
            campaign=campaign,
            form=form,
            returned=returned,
            rating_choices=RATING_CHOICES,
        )

    @expose("/results/<int:campaign_id>/")
    def results_view(self, campaign_id):
        campaign = self._campaign(campaign_id)
        if campaign is None:
            return redirect(url_for(".index_view"))
        results = campaign_results(campaign)
        chart = svg.hbar(
            [(item["title"], round(item["rate"] or 0, 1), None) for item in results["items"]],
            title=_("分项满意率"),
            width=560,
        )
        orders = (
            db.session.query(RectificationOrder)
            .filter_by(campaign_id=campaign.id)
            .filter(rectification_visible_clause(current_user))
            .order_by(RectificationOrder.id)
            .all()
        )
        form = rectification_form(campaign) if _manages_surveys() else None
        return self.render(
            "admin/surveys/results.html",
            campaign=campaign,
            results=results,
            chart=chart,
            orders=orders,
            form=form,
            can_open_orders=current_user.has_permission("callback.manage"),
        )

    @expose("/report/<int:campaign_id>/")
    def report_view(self, campaign_id):
        """The survey report for the office director, as PDF."""
        campaign = self._campaign(campaign_id)
        if campaign is None:
            return redirect(url_for(".index_view"))
        try:
            body = survey_report_pdf(campaign, by=current_user)
        except (WorkflowError, RenderError) as error:
            db.session.rollback()
            flash(str(error), "error")
            return redirect(url_for(".results_view", campaign_id=campaign.id))
        record_audit(
            AuditAction.print,
            campaign,
            by=current_user,
            summary=f"满意度调查报告（{campaign.name}）",
        )
        db.session.commit()
        return _download(body, "application/pdf", f"{campaign.name}调查报告.pdf")

    @expose("/template/<int:campaign_id>/")
    def template_view(self, campaign_id):
        """The spreadsheet to type the returned forms into, with this survey's items."""
        campaign = self._managed_campaign(campaign_id)
        if campaign is None:
            return redirect(url_for(".index_view"))
        try:
            body = survey_form_template_xlsx(campaign, by=current_user)
        except WorkflowError as error:
            flash(str(error), "error")
            return redirect(url_for(".import_view", campaign_id=campaign.id))
        return _download(body, XLSX, f"{campaign.name}回收问卷导入模板.xlsx")

    @expose("/import/<int:campaign_id>/", methods=("GET", "POST"))
    def import_view(self, campaign_id):
        campaign = self._managed_campaign(campaign_id)
        if campaign is None:
            return redirect(url_for(".index_view"))
        form = ImportForm()
        errors: list[str] = []
        message = None
        if request.method == "POST" and form.validate_on_submit():
            upload = request.files.get("file")
            data = upload.read(MAX_FILE_BYTES + 1) if upload and upload.filename else b""
            try:
                responses = import_survey_forms(campaign, by=current_user, data=data)
                db.session.commit()
            except SurveyImportFailed as error:
                db.session.rollback()
                errors = error.errors
            except WorkflowError as error:
                db.session.rollback()
                message = str(error)
            else:
                flash(_("已导入 %(n)s 份问卷", n=len(responses)))
                return redirect(url_for(".results_view", campaign_id=campaign.id))
        elif request.method == "POST":
            message = _("页面已过期，请重新上传")
        returned = db.session.query(SurveyResponse).filter_by(campaign_id=campaign.id).count()
        return self.render(
            "admin/surveys/import.html",
            campaign=campaign,
            form=form,
            errors=errors,
            message=message,
            returned=returned,
            columns=template_columns(campaign),
        )

    @expose("/rectify/<int:campaign_id>/", methods=("POST",))
    def rectify_view(self, campaign_id):
        campaign = self._managed_campaign(campaign_id)
        if campaign is None:
            return redirect(url_for(".index_view"))
        form = rectification_form(campaign, request.form)
        if form.validate():
            item = db.session.get(SurveyItem, int(form.item.data)) if form.item.data else None
            unit = db.session.get(Unit, int(form.unit.data)) if form.unit.data else None
            try:
                order_rectification(
                    campaign,
                    by=current_user,
                    item=item,
                    unit=unit,
                    addressee=form.addressee.data or (unit.name if unit else None),
                    content=form.content.data,
                    due_on=form.due_on.data,
                )
                db.session.commit()
            except WorkflowError as error:
                db.session.rollback()
                flash(str(error), "error")
            else:
                flash(_("已下达整改单"))
        else:
            flash(_("请检查整改单的填写"), "error")
        return redirect(url_for(".results_view", campaign_id=campaign.id))


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _download(body: bytes, mimetype: str, filename: str) -> Response:
    return Response(
        body,
        mimetype=mimetype,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "private, no-store",
        },
    )


class ImportForm(CheckedForm):
    """Only the CSRF token: the file itself is read from ``request.files``."""


RATING_CHOICES = [("", _l("未评价")), *Satisfaction.choices()]


def entry_form(campaign: SurveyCampaign, formdata=None):
    fields = {
        "form_number": StringField(_l("问卷编号"), validators=[Optional()]),
        "returned_on": DateField(_l("回收日期"), default=_today, validators=[Optional()]),
        "respondent": StringField(_l("填表人/房号"), validators=[Optional()]),
    }
    for item in campaign.template.items:
        fields[f"item_{item.id}"] = RadioField(
            item.title, choices=RATING_CHOICES, default="", validators=[Optional()]
        )
    fields["opinion"] = TextAreaField(_l("意见和建议"), validators=[Optional()])
    form_class = type("SurveyEntryForm", (CheckedForm,), fields)
    return form_class(formdata=formdata)


def rectification_form(campaign: SurveyCampaign, formdata=None):
    results_items = [(str(item.id), item.title) for item in campaign.template.items]
    units = [("", _l("（不指定）"))] + [
        (str(unit.id), unit.name)
        for unit in db.session.query(Unit).filter_by(is_active=True).order_by(Unit.sort_order)
    ]
    fields = {
        "item": SelectField(_l("评价项目"), choices=results_items),
        "unit": SelectField(_l("责任单位"), choices=units, validators=[Optional()]),
        "addressee": StringField(_l("整改责任部门或人员"), validators=[Optional()]),
        "content": TextAreaField(_l("整改要求"), validators=[Optional()]),
        "due_on": DateField(
            _l("整改期限"), default=lambda: _today() + timedelta(days=30), validators=[Optional()]
        ),
    }
    form_class = type("SurveyRectificationForm", (CheckedForm,), fields)
    return form_class(formdata=formdata)


class SurveyResponseView(ProtectedModelView):
    permission_view = "survey.manage"
    permission_delete = "survey.manage"
    allow_create = False
    allow_edit = False
    column_list = ("campaign", "form_number", "returned_on", "respondent", "opinion", "created_by")
    column_default_sort = ("id", True)
    column_searchable_list = ("form_number",)
    column_labels = labels(
        campaign=_l("调查"),
        form_number=_l("问卷编号"),
        returned_on=_l("回收日期"),
        respondent=_l("填表人/房号"),
        opinion=_l("意见和建议"),
        created_by=_l("录入人"),
    )

    def scope(self, query):
        return query.filter(survey_response_visible_clause(current_user))

    def on_delete(self, model):
        delete_survey_response(model, by=current_user)
