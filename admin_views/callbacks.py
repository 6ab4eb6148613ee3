"""Callbacks (回访)."""

from __future__ import annotations

from flask import request
from flask_admin.contrib.sqla import filters
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from models import Callback, Case, db
from models.enums import CallbackMethod, Satisfaction
from models.operations.callbacks import delete_callback, record_callback, record_callback_edit

from .cases import CaseChildView, _case_link
from .confidential import list_value, log_confidential_view, masked, reporter_hidden
from .exports import ExportMixin
from .filters import ChoiceEqualFilter, date_filters
from .labels import labels
from .lookups import case_lookup, user_lookup


class CallbackView(ExportMixin, CaseChildView):
    export_identity_columns = frozenset({"person_reached"})

    permission_create = "callback.manage"
    permission_edit = "callback.manage"
    permission_delete = "callback.manage"
    simple_list_pager = True
    column_list = (
        "case",
        "due_on",
        "method",
        "caller",
        "person_reached",
        "done_at",
        "satisfaction",
        "problem_remains",
    )
    column_default_sort = [("id", True)]
    column_sortable_list = ("due_on", "done_at")
    column_filters = (
        ChoiceEqualFilter(Callback.satisfaction, _l("满意度"), options=Satisfaction.choices),
        ChoiceEqualFilter(Callback.method, _l("回访方式"), options=CallbackMethod.choices),
        filters.FilterEmpty(Callback.done_at, _l("尚未完成")),
        filters.BooleanEqualFilter(Callback.problem_remains, _l("问题仍存在")),
        *date_filters(Callback.done_at, _l("回访日期")),
    )
    column_formatters = {
        "case": _case_link,
        "person_reached": lambda view, context, model, name: list_value(
            model.case, model.person_reached or ""
        ),
    }
    column_formatters_detail = {
        "person_reached": lambda view, context, model, name: (
            masked() if reporter_hidden(model.case) else (model.person_reached or "")
        ),
    }
    column_labels = labels(
        due_on=_l("应回访日期"),
        method=_l("回访方式"),
        caller=_l("回访人"),
        person_reached=_l("被回访人"),
        done_at=_l("回访时间"),
        satisfaction=_l("满意度"),
        opinion=_l("回访意见"),
        problem_remains=_l("问题仍存在"),
        note=_l("备注"),
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
        "note",
    )
    form_ajax_refs = {"case": case_lookup(), "caller": user_lookup("caller")}
    form_args = {
        "satisfaction": {"blank_text": _l("（回访完成后填写）")},
        "done_at": {"description": _l("计划中的回访留空；回访完成后填写时间和满意度")},
    }
    form_widget_args = {"opinion": {"rows": 4}}

    def create_form(self, obj=None):
        form = super().create_form(obj)
        case_id = request.args.get("case_id", type=int)
        if case_id and request.method == "GET" and not form.case.data:
            case = db.session.get(Case, case_id)
            if case is not None and case.can_view(current_user) and not case.is_deleted:
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
            del form["person_reached"]
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
