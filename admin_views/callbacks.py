"""回访: callback tasks and records, schedules, quotas and rectification notices."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla import filters
from flask_babel import gettext as _
from flask_babel import lazy_pgettext
from flask_login import current_user
from markupsafe import Markup
from wtforms import SelectField, TextAreaField
from wtforms.validators import DataRequired

from models import Callback, CallbackSchedule, Case, RectificationOrder, User, db
from models.base import local_zone, utcnow
from models.enums import (
    CallbackMethod,
    CallbackOrigin,
    RectificationSource,
    Satisfaction,
)
from models.operations import NotPermitted, ValidationFailed, WorkflowError
from models.operations.callbacks import (
    assign_callbacks,
    complete_rectification,
    delete_callback,
    issue_rectification,
    plan_scheduled_callbacks,
    record_callback,
    record_callback_edit,
)
from models.operations.guards import ensure_unit_assignable
from models.operations.records import create_record, update_record
from models.policies import (
    callback_schedule_visible_clause,
    can_see_live_case,
    on_visible_case,
    rectification_visible_clause,
    reporter_text,
)
from models.retention import callback_retain_until
from models.texts import lazy_gettext as _l
from models.users import staff_condition

from .base import ProtectedModelView
from .cases import CaseChildView
from .choices import assignable_units
from .confidential import list_value, log_confidential_view, reporter_hidden
from .exports import ExportMixin
from .filters import ChoiceEqualFilter, date_filters
from .input import CheckedForm
from .labels import labels
from .lookups import case_lookup, user_lookup
from .search import CaseRecordSearchMixin


def _today():
    return utcnow().astimezone(local_zone()).date()


def _subject_link(view, context, model, name):
    if model.case is not None:
        url = url_for("case.details_view", id=model.case.id)
        return Markup('<a href="{}">{}</a>').format(url, model.case.number)
    if model.schedule is not None:
        return Markup("{} <span class='text-muted small'>{}</span>").format(
            model.schedule.name, _("定期回访")
        )
    return ""


def _due_badge(view, context, model, name):
    if model.due_on is None:
        return ""
    if model.is_overdue:
        return Markup('<span class="badge badge-danger">{} {}</span>').format(
            model.due_on.isoformat(), _("已逾期")
        )
    return model.due_on.isoformat()


#: A callback's fields that name the petitioner or carry their words.
_PETITIONERS_WORDS = ("person_reached", "opinion", "note")


def _petitioners_words(view, context, model, name):
    """The person reached, the opinion and the notes are hidden with a 举报 case's reporter."""
    return reporter_text(model.case, current_user, getattr(model, name) or "")


class CallbackStateFilter(filters.BaseSQLAFilter):
    """Open tasks, overdue tasks, due within a week, or my tasks."""

    def __init__(self, column, name):
        super().__init__(
            column,
            name,
            options=[
                ("pending", _l("待回访")),
                ("overdue", _l("已逾期")),
                ("week", _l("7日内到期")),
                ("mine", _l("分派给我的待回访")),
                ("done", _l("已完成")),
            ],
        )

    def apply(self, query, value, alias=None):
        today = _today()
        pending = Callback.done_at.is_(None)
        condition = {
            "pending": pending,
            "overdue": sa.and_(pending, Callback.due_on < today),
            "week": sa.and_(
                pending, Callback.due_on >= today, Callback.due_on <= today + timedelta(days=7)
            ),
            "mine": sa.and_(pending, Callback.caller_id == current_user.id),
            "done": Callback.done_at.is_not(None),
        }[value]
        return query.filter(condition)

    def validate(self, value) -> bool:
        return value in ("pending", "overdue", "week", "mine", "done")

    def operation(self):
        return _l("为")


def _retain_until(view, context, model, name) -> str:
    """Callback records are kept five years (models.retention)."""
    until = callback_retain_until(model)
    return until.isoformat() if until else ""


class CallbackView(ExportMixin, CaseRecordSearchMixin, CaseChildView):
    # A callback's opinion and notes are the petitioner's words: hidden with the reporter.
    export_identity_columns = frozenset({"person_reached", "opinion", "note"})

    permission_create = "callback.manage"
    permission_edit = "callback.manage"
    permission_delete = "callback.manage"
    simple_list_pager = True
    column_list = (
        "case",
        "origin",
        "due_on",
        "method",
        "caller",
        "done_at",
        "satisfaction",
        "problem_remains",
        "follow_up",
        "retain_until",
    )
    column_default_sort = [("id", True)]
    column_sortable_list = ("due_on", "done_at")
    column_searchable_list = ("person_reached", "opinion")
    column_filters = (
        CallbackStateFilter(Callback.id, _l("回访任务")),
        ChoiceEqualFilter(Callback.satisfaction, _l("满意度"), options=Satisfaction.choices),
        ChoiceEqualFilter(Callback.method, _l("回访方式"), options=CallbackMethod.choices),
        ChoiceEqualFilter(Callback.origin, _l("来源"), options=CallbackOrigin.choices),
        filters.FilterEmpty(Callback.done_at, _l("尚未完成")),
        filters.BooleanEqualFilter(Callback.problem_remains, _l("问题仍存在")),
        *date_filters(Callback.done_at, _l("回访日期")),
    )
    column_formatters = {
        "retain_until": _retain_until,
        "case": _subject_link,
        "due_on": _due_badge,
        "person_reached": lambda view, context, model, name: list_value(
            model.case, model.person_reached or ""
        ),
    }
    column_labels = labels(
        case=_l("事项/回访对象"),
        origin=_l("来源"),
        due_on=_l("应回访日期"),
        method=_l("回访方式"),
        caller=_l("回访人"),
        person_reached=_l("被回访人"),
        done_at=_l("回访时间"),
        satisfaction=_l("满意度"),
        opinion=_l("回访意见"),
        problem_remains=_l("问题仍存在"),
        charges_checked=_l("已核对收费"),
        signature_obtained=_l("被回访人已签名"),
        follow_up=_l("问题跟进"),
        note=_l("备注"),
        schedule=_l("回访计划"),
        retain_until=_l("保存期至"),
    )
    form_columns = (
        "case",
        "due_on",
        "method",
        "caller",
        "person_reached",
        "done_at",
        "satisfaction",
        "opinion",
        "problem_remains",
        "charges_checked",
        "signature_obtained",
        "follow_up",
        "note",
    )
    column_details_list = (
        "case",
        "schedule",
        "origin",
        "due_on",
        "method",
        "caller",
        "person_reached",
        "done_at",
        "satisfaction",
        "opinion",
        "problem_remains",
        "charges_checked",
        "signature_obtained",
        "follow_up",
        "note",
        "created_at",
        "created_by",
        "retain_until",
    )
    column_formatters_detail = {
        "retain_until": _retain_until,
        "case": _subject_link,
        "person_reached": _petitioners_words,
        "opinion": _petitioners_words,
        "note": _petitioners_words,
    }
    form_ajax_refs = {"case": case_lookup(), "caller": user_lookup("caller")}
    form_args = {
        # The column allows no case for schedule callbacks; one entered by hand needs its case.
        "case": {"validators": [DataRequired()]},
        "satisfaction": {"blank_text": _l("（回访完成后填写）")},
        "done_at": {"description": _l("计划中的回访留空；回访完成后填写时间和满意度")},
        "follow_up": {
            "description": _l(
                "问题仍存在时：重新办理（默认）退回承办单位；书面通知整改则生成整改通知，"
                "须在24小时内下达"
            )
        },
    }
    form_widget_args = {"opinion": {"rows": 4}}

    def get_query(self):
        # A project callback names its schedule: load it with the row, not one query per row.
        return super().get_query().options(sa.orm.joinedload(Callback.schedule))

    def scope(self, query):
        visible = on_visible_case(current_user, Callback.case_id)
        query = query.filter(Callback.is_deleted.is_(False))
        if current_user.has_permission("callback.manage"):
            # A routine callback has no case: it follows its schedule's unit.
            schedules = sa.select(CallbackSchedule.id).where(
                callback_schedule_visible_clause(current_user)
            )
            routine = sa.and_(Callback.case_id.is_(None), Callback.schedule_id.in_(schedules))
            return query.filter(sa.or_(visible, routine))
        return query.filter(visible)

    def create_form(self, obj=None):
        form = super().create_form(obj)
        case_id = request.args.get("case_id", type=int)
        if case_id and request.method == "GET" and not form.case.data:
            case = db.session.get(Case, case_id)
            if can_see_live_case(current_user, case):
                form.case.data = case
                if not reporter_hidden(case):
                    form.person_reached.data = case.petitioner_names
        if request.method == "GET" and not form.caller.data:
            form.caller.data = current_user._get_current_object()
        return form

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        del form["case"]
        if obj is not None and reporter_hidden(obj.case):
            # Not shown, so not posted, so kept as they are.
            for name in _PETITIONERS_WORDS:
                del form[name]
        return form

    def render(self, template, **kwargs):
        if template == self.details_template and "model" in kwargs:
            log_confidential_view(kwargs["model"].case, "callback_details")
        return super().render(template, **kwargs)

    def on_create(self, form, model):
        record_callback(model, by=current_user)

    def on_update(self, form, model):
        record_callback_edit(model, by=current_user)

    def on_delete(self, model):
        delete_callback(model, by=current_user)

    @action("assign", _l("分派回访人"))
    def action_assign(self, ids):
        return redirect(url_for(".assign_view", ids=list(ids)))

    def is_action_allowed(self, name):
        if name == "assign":
            return current_user.has_permission("callback.manage")
        return super().is_action_allowed(name)

    @expose("/assign/", methods=("GET", "POST"))
    def assign_view(self):
        if not current_user.has_permission("callback.manage"):
            return self.inaccessible_callback("assign")
        ids = [int(i) for i in request.values.getlist("ids") if str(i).isdigit()][:500]
        callbacks = (
            self.get_query().filter(Callback.id.in_(ids)).order_by(Callback.id).all() if ids else []
        )
        staff = db.session.scalars(
            sa.select(User).where(staff_condition()).order_by(User.full_name)
        ).all()
        form = AssignForm(request.form if request.method == "POST" else None)
        form.caller.choices = [(str(user.id), user.full_name) for user in staff]
        if request.method == "POST" and form.validate():
            caller = db.session.get(User, int(form.caller.data))
            try:
                count = assign_callbacks(callbacks, caller=caller, by=current_user)
                db.session.commit()
            except WorkflowError as error:
                db.session.rollback()
                flash(str(error), "error")
            else:
                flash(_("已将 %(n)s 个回访任务分派给 %(name)s", n=count, name=caller.full_name))
                return redirect(url_for(".index_view"))
        return self.render("admin/callbacks/assign.html", form=form, callbacks=callbacks, ids=ids)


class AssignForm(CheckedForm):
    caller = SelectField(_l("回访人"), validators=[DataRequired()])


class CallbackScheduleView(ProtectedModelView):
    """Delivered projects called back routinely (monthly in year one, quarterly after)."""

    permission_view = "callback.manage"
    permission_create = "callback.manage"
    permission_edit = "callback.manage"
    permission_delete = "callback.manage"
    list_template = "admin/callbacks/schedule_list.html"
    column_list = (
        "name",
        "delivered_on",
        "first_year_months",
        "later_months",
        "unit",
        "caller",
        "is_active",
    )
    column_labels = labels(
        name=_l("项目/回访对象"),
        contact=_l("联系人及电话"),
        delivered_on=_l("交付日期"),
        first_year_months=_l("第一年每隔几个月"),
        later_months=_l("一年后每隔几个月"),
        unit=_l("负责单位"),
        caller=_l("回访人"),
        method=_l("回访方式"),
        is_active=_l("启用"),
        note=_l("备注"),
    )
    form_columns = (
        "name",
        "contact",
        "delivered_on",
        "first_year_months",
        "later_months",
        "method",
        "unit",
        "caller",
        "is_active",
        "note",
    )
    form_ajax_refs = {"caller": user_lookup("caller")}

    def scope(self, query):
        return query.filter(callback_schedule_visible_clause(current_user))

    form_args = {"unit": {"query_factory": lambda: assignable_units()}}

    def on_create(self, form, model):
        ensure_unit_assignable(model.unit, current_user)
        create_record(model, by=current_user)

    def on_update(self, form, model):
        ensure_unit_assignable(model.unit, current_user)
        update_record(model, by=current_user)

    @expose("/plan/", methods=("POST",))
    def plan_view(self):
        if not current_user.has_permission("callback.manage"):
            return self.inaccessible_callback("plan")
        try:
            created = plan_scheduled_callbacks(_today(), by=current_user)
            db.session.commit()
        except WorkflowError as error:
            db.session.rollback()
            flash(str(error), "error")
        else:
            flash(_("已生成 %(n)s 个定期回访任务", n=len(created)))
        return redirect(url_for("callback.index_view"))


class CallbackQuotaView(ProtectedModelView):
    """Minimum share of callbacks per role; the dashboard compares them with the actuals.

    The quotas are a setting of the office: callback staff may read them, only settings.manage
    may change them (otherwise the people measured could lower their own targets).
    """

    permission_any = ("callback.manage", "settings.manage")
    permission_create = "settings.manage"
    permission_edit = "settings.manage"
    permission_delete = "settings.manage"
    can_view_details = False
    column_list = ("role", "min_percent")
    column_labels = labels(role=_l("角色"), min_percent=_l("最低比例（%）"))
    form_columns = ("role", "min_percent")
    form_args = {"min_percent": {"description": _l("0–100，例如 经理 10、主管 30、维修组长 60")}}

    def _check(self, model):
        if model.min_percent is None or not 0 <= model.min_percent <= 100:
            raise ValidationFailed(_("最低比例须在 0 到 100 之间"), field="min_percent")

    def on_create(self, form, model):
        self._check(model)
        create_record(model, by=current_user)

    def on_update(self, form, model):
        self._check(model)
        update_record(model, by=current_user)


def _order_state(view, context, model, name):
    if model.completed_at is not None:
        return Markup('<span class="badge badge-success">{}</span>').format(_("已整改"))
    label = _("已下达") if model.issued_at else _("待下达")
    css = "badge-danger" if model.is_overdue else "badge-secondary"
    suffix = _("（逾期）") if model.is_overdue else ""
    return Markup('<span class="badge {}">{}{}</span>').format(css, label, suffix)


def _order_texts(order) -> dict:
    """An order's requirement and result as the signed-in user may read them: an order from a
    callback copies the petitioner's opinion, so on a 举报 case they are hidden with the
    reporter."""
    return {
        name: reporter_text(order.case, current_user, getattr(order, name) or "")
        for name in ("content", "result")
    }


def _order_text(view, context, model, name):
    return _order_texts(model)[name]


class RectificationOrderView(ProtectedModelView):
    """整改通知: from callbacks (24-hour notice) and from survey results (with deadlines)."""

    permission_view = "callback.manage"
    permission_edit = "callback.manage"
    allow_create = False
    allow_delete = False
    details_template = "admin/callbacks/rectification_details.html"
    column_list = (
        "id",
        "source",
        "state",
        "addressee",
        "item",
        "notice_due_at",
        "due_on",
        "issued_at",
        "completed_at",
    )
    column_default_sort = ("id", True)
    column_filters = (
        ChoiceEqualFilter(
            RectificationOrder.source, _l("来源"), options=RectificationSource.choices
        ),
        filters.FilterEmpty(RectificationOrder.completed_at, _l("尚未整改")),
    )
    column_formatters = {
        "state": _order_state,
        "content": _order_text,
        "result": _order_text,
    }
    column_labels = labels(
        id=_l("编号"),
        source=_l("来源"),
        state=_l("状态"),
        addressee=_l("整改责任部门/人员"),
        item=_l("调查项目"),
        content=_l("整改要求"),
        notice_due_at=_l("通知下达期限"),
        issued_at=_l("下达时间"),
        due_on=_l("整改期限"),
        completed_at=_l("整改完成时间"),
        result=_l("整改结果"),
        case=lazy_pgettext("field", "信访事项"),
        callback=_l("回访"),
        campaign=_l("满意度调查"),
        unit=_l("责任单位"),
    )
    column_details_list = (
        "state",
        "source",
        "case",
        "callback",
        "campaign",
        "item",
        "unit",
        "addressee",
        "content",
        "notice_due_at",
        "issued_at",
        "due_on",
        "completed_at",
        "result",
        "created_by",
        "created_at",
    )
    column_formatters_detail = {
        "state": _order_state,
        "content": _order_text,
        "result": _order_text,
    }
    form_columns = ("addressee", "unit", "content", "due_on")

    def is_accessible(self) -> bool:
        return current_user.is_authenticated and (
            current_user.has_permission("callback.manage")
            or current_user.has_permission("survey.manage")
        )

    def scope(self, query):
        allowed = []
        if current_user.has_permission("callback.manage"):
            allowed.append(RectificationOrder.source == RectificationSource.callback)
        if current_user.has_permission("survey.manage"):
            allowed.append(RectificationOrder.source == RectificationSource.survey)
        return query.filter(
            sa.or_(sa.false(), *allowed), rectification_visible_clause(current_user)
        )

    @property
    def can_edit(self) -> bool:
        return self.is_accessible()

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        if obj is not None and reporter_hidden(obj.case):
            # Not shown, so not posted, so kept as it is rather than overwritten by the mask.
            del form["content"]
        return form

    def on_update(self, form, model):
        if model.completed_at is not None:
            raise ValidationFailed(_("整改已完成，不能再修改"))
        if model.callback is not None and not current_user.has_permission("callback.manage"):
            raise NotPermitted(_("您没有执行此操作的权限"))
        update_record(model, by=current_user)

    @expose("/issue/<int:order_id>/", methods=("POST",))
    def issue_view(self, order_id):
        order = self.get_one(order_id)
        if order is None:
            flash(_("整改通知不存在或您无权查看"), "error")
            return redirect(url_for(".index_view"))
        try:
            issue_rectification(order, by=current_user)
            db.session.commit()
            flash(_("整改通知已下达"))
        except WorkflowError as error:
            db.session.rollback()
            flash(str(error), "error")
        return redirect(url_for(".details_view", id=order.id))

    @expose("/complete/<int:order_id>/", methods=("GET", "POST"))
    def complete_view(self, order_id):
        order = self.get_one(order_id)
        if order is None:
            flash(_("整改通知不存在或您无权查看"), "error")
            return redirect(url_for(".index_view"))
        form = CompleteForm(request.form if request.method == "POST" else None)
        if request.method == "POST" and form.validate():
            try:
                complete_rectification(order, by=current_user, result=form.result.data)
                db.session.commit()
            except WorkflowError as error:
                db.session.rollback()
                flash(str(error), "error")
            else:
                flash(_("已登记整改结果"))
                return redirect(url_for(".details_view", id=order.id))
        return self.render(
            "admin/callbacks/rectification_complete.html",
            form=form,
            order=order,
            texts=_order_texts(order),
        )

    @expose("/print/<int:order_id>/")
    def print_view(self, order_id):
        from flask import Response, render_template

        from models.rendering.pdf import RenderError, render_pdf

        order = self.get_one(order_id)
        if order is None:
            flash(_("整改通知不存在或您无权查看"), "error")
            return redirect(url_for(".index_view"))
        from models import SystemSetting

        html = render_template(
            "documents/rectification_notice.html",
            order=order,
            texts=_order_texts(order),
            organisation=SystemSetting.get("organisation_name"),
        )
        try:
            body = render_pdf(html)
        except RenderError as error:
            flash(str(error), "error")
            return redirect(url_for(".details_view", id=order.id))
        return Response(body, mimetype="application/pdf")


class CompleteForm(CheckedForm):
    result = TextAreaField(_l("整改结果"), validators=[DataRequired()])
