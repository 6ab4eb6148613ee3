"""接待: appointments and applications, passes, incidents, the leader queue, the desk's day view."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_admin.contrib.sqla import filters
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from jinja2 import pass_context
from markupsafe import Markup
from sqlalchemy.orm import selectinload
from wtforms import BooleanField, DateField, StringField, TextAreaField, widgets
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from models import (
    Appointment,
    Case,
    OpinionBox,
    ReceptionQueueEntry,
    ReceptionSchedule,
    VisitIncident,
    VisitorPass,
    db,
)
from models.base import local_zone, to_local, utcnow
from models.enums import CasePriority, QueueStatus, Recurrence, Satisfaction
from models.operations import WorkflowError
from models.operations.reception import (
    approve_application,
    cancel_appointment,
    enqueue_visitor,
    issue_pass,
    local_today,
    record_appointment,
    record_appointment_edit,
    record_incident,
    reject_application,
    return_pass_by_number,
    set_queue_status,
)
from models.policies import (
    VISITOR_IDENTITY_FIELDS,
    reception_case_of,
    reception_visible_clause,
    visitor_hidden,
    visitor_hidden_clause,
    visitor_value,
)
from models.reception import (
    AppointmentChannel,
    AppointmentKind,
    AppointmentStatus,
    IncidentKind,
    IncidentMeasure,
)
from models.reception_days import reception_days
from models.texts import lazy_gettext as _l

from .auth import safe_next_url
from .base import ProtectedModelView, _all_titled_enums, refuse_access, type_formatters
from .choices import ModelSelectField as QuerySelectField
from .confidential import log_confidential_view, masked
from .fields import LocalDateTimeField
from .filters import ChoiceEqualFilter, _local_midnight_utc, date_filters
from .labels import labels
from .lookups import case_lookup, party_lookup, user_lookup

RECEPTION_PERMISSIONS = ("reception.manage", "reception.approve", "reception.schedule")
#: When the reception room closes; visitors still holding a pass after it are listed.
DEFAULT_CLOSING_TIME = "17:30"


def may_use_reception(user) -> bool:
    return user.is_authenticated and any(user.has_permission(p) for p in RECEPTION_PERMISSIONS)


def closing_time() -> time:
    text = str(current_app.config.get("RECEPTION_CLOSING_TIME", DEFAULT_CLOSING_TIME))
    try:
        return time.fromisoformat(text)
    except ValueError:
        return time(17, 30)


def workflow_links_available() -> bool:
    """The workflow step pages arrive with the case workflow; link to them only once they exist."""
    return "workflow.step_view" in current_app.view_functions


class FutureDateTimeField(LocalDateTimeField):
    """Local date and time that may lie ahead (an appointment), unlike registration times."""

    widget = widgets.DateTimeLocalInput()


class ReceptionModelView(ProtectedModelView):
    """Reception screens: open to anyone holding one of the reception permissions."""

    permission_create = "reception.manage"
    permission_edit = "reception.manage"
    permission_delete = "reception.manage"
    allow_delete = False
    simple_list_pager = True
    #: The shared formatters know the enums of models.enums; add the reception ones.
    _enums = [
        *_all_titled_enums(),
        AppointmentKind,
        AppointmentChannel,
        AppointmentStatus,
        IncidentKind,
        IncidentMeasure,
        Recurrence,
        QueueStatus,
    ]
    column_type_formatters = type_formatters(_enums)
    column_type_formatters_detail = type_formatters(_enums)

    permission_any = RECEPTION_PERMISSIONS

    def _ban_acknowledged(self, form) -> bool:
        return bool("ban_acknowledged" in form and form.ban_acknowledged.data)

    def _post_action(self, action, success: str):
        """Run one state change from a button, commit once, and go back."""
        back = safe_next_url(request.form.get("next")) or url_for(".index_view")
        try:
            action()
            db.session.commit()
        except WorkflowError as error:
            db.session.rollback()
            flash(str(error), "error")
        else:
            flash(success, "success")
        return redirect(back)


class VisitorRecordView(ReceptionModelView):
    """Appointments, passes, incidents and the queue: records about one visitor each.

    Rows are those ``models.policies.can_view_reception_record`` allows; the visitor's
    identity is masked wherever the record is tied to a 举报 case whose reporter the user may
    not see, and a search by name or number does not find such a record for them.
    """

    #: Columns that name the visitor besides ``VISITOR_IDENTITY_FIELDS`` (labels of linked
    #: records that carry the visitor's name).
    visitor_columns: frozenset[str] = frozenset()

    def _identity_column(self, name: str) -> bool:
        return name in VISITOR_IDENTITY_FIELDS or name in self.visitor_columns

    def scope(self, query):
        return super().scope(query).filter(reception_visible_clause(current_user, self.model))

    #: Relationships that lead from a row to its case, loaded for a whole page at once so
    #: that masking a page of rows does not query once per row.
    case_paths: tuple = ()

    def get_query(self):
        query = super().get_query()
        return query.options(*self.case_paths) if self.case_paths else query

    def render(self, template, **kwargs):
        if template == self.details_template and "model" in kwargs:
            # Seeing a 举报 reporter's identity is noted in the audit log, as on the case.
            case = reception_case_of(kwargs["model"])
            log_confidential_view(case, f"{self.endpoint}_details")
        return super().render(template, **kwargs)

    def hides_visitor(self, model) -> bool:
        return visitor_hidden(current_user, model)

    def visitor(self, model, name: str = "visitor_name") -> str:
        """For templates: a field naming the visitor, or the mask text."""
        if self.hides_visitor(model):
            return masked()
        value = getattr(model, name, None)
        return "" if value is None else str(value)

    @pass_context
    def get_list_value(self, context, model, name):
        if self._identity_column(name) and self.hides_visitor(model):
            return masked()
        return super().get_list_value(context, model, name)

    @pass_context
    def get_detail_value(self, context, model, name):
        if self._identity_column(name) and self.hides_visitor(model):
            return masked()
        return super().get_detail_value(context, model, name)

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        if obj is not None and self.hides_visitor(obj):
            # Not shown, so not posted, so kept as they are.
            for name in (*VISITOR_IDENTITY_FIELDS, *self.visitor_columns):
                if name in form:
                    del form[name]
        return form

    def _apply_search(self, query, count_query, joins, count_joins, search):
        query, count_query, joins, count_joins = super()._apply_search(
            query, count_query, joins, count_joins, search
        )
        if search and search.strip():
            # Finding a record by a name or number must not tie a person to a 举报 case.
            shown = ~visitor_hidden_clause(current_user, self.model)
            query = query.filter(shown)
            if count_query is not None:
                count_query = count_query.filter(shown)
        return query, count_query, joins, count_joins


def _csrf_input() -> Markup:
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(generate_csrf())


def _button_form(url: str, label: str, css: str = "outline-primary", extra: Markup = "") -> Markup:
    return Markup(
        '<form method="post" action="{}" class="d-inline">{}{}'
        '<button class="btn btn-sm btn-{} ml-1" type="submit">{}</button></form>'
    ).format(url, _csrf_input(), extra, css, label)


def _case_number(view, context, model, name):
    case = model.case
    if case is None:
        return ""
    return Markup('<a href="{}">{}</a>').format(
        url_for("case.details_view", id=case.id), case.number
    )


BAN_ACK_FIELD = BooleanField(
    _l("已知悉禁访警告"),
    description=_l("仅在系统提示该人员已被禁止来访、且经领导同意仍须登记时勾选"),
)


# -- appointments and applications ----------------------------------------------------------


def _appointment_status(view, context, model, name):
    css = {
        AppointmentStatus.pending: "warning",
        AppointmentStatus.approved: "success",
        AppointmentStatus.rejected: "danger",
        AppointmentStatus.cancelled: "secondary",
    }[model.status]
    badge = Markup('<span class="badge badge-{}">{}</span>').format(css, model.status.title)
    if model.kind == AppointmentKind.application and model.status == AppointmentStatus.pending:
        badge += Markup(' <small class="text-danger">{}</small>').format(_("未批准前无效"))
    return badge


def _appointment_actions(view, context, model, name):
    buttons = Markup("")
    if model.is_valid and current_user.has_permission("reception.manage"):
        url = url_for("visitorpass.create_view", appointment_id=model.id)
        buttons += Markup('<a class="btn btn-sm btn-outline-success" href="{}">{}</a>').format(
            url, _("到访发证")
        )
    if (
        model.kind == AppointmentKind.application
        and model.status == AppointmentStatus.pending
        and current_user.has_permission("reception.approve")
    ):
        buttons += _button_form(
            url_for("appointment.approve_view", id=model.id), _("批准"), "outline-primary"
        )
    return buttons


class AppointmentView(VisitorRecordView):
    case_paths = (selectinload(Appointment.case),)
    details_template = "admin/reception/appointment_details.html"
    column_list = (
        "kind",
        "status",
        "visitor_name",
        "expected_at",
        "purpose",
        "host",
        "unit",
        "channel",
        "signature_confirmed",
        "actions",
    )
    column_default_sort = [("expected_at", False), ("id", False)]
    column_sortable_list = ("expected_at",)
    column_searchable_list = ("visitor_name", "id_number", "purpose")
    column_filters = (
        ChoiceEqualFilter(Appointment.kind, _l("类型"), options=AppointmentKind.choices),
        ChoiceEqualFilter(Appointment.status, _l("状态"), options=AppointmentStatus.choices),
        ChoiceEqualFilter(Appointment.channel, _l("预约方式"), options=AppointmentChannel.choices),
        *date_filters(Appointment.expected_at, _l("来访日期")),
    )
    column_formatters = {
        "status": _appointment_status,
        "actions": _appointment_actions,
        "case": _case_number,
    }
    column_labels = labels(
        kind=_l("类型"),
        channel=_l("预约方式"),
        status=_l("状态"),
        party=_l("已登记人员"),
        visitor_name=_l("来访人"),
        gender=_l("性别"),
        id_type=_l("证件类型"),
        id_number=_l("证件号码"),
        phone=_l("联系电话"),
        work_unit=_l("工作单位"),
        head_count=_l("人数"),
        host=_l("被访人"),
        unit=_l("被访部门"),
        expected_at=_l("预计来访时间"),
        confirmed_at=_l("确认来访时间"),
        purpose=_l("来访事由"),
        signature_confirmed=_l("本人已签字确认"),
        decided_by=_l("审批人"),
        decided_at=_l("审批时间"),
        decision_note=_l("审批意见"),
        actions=_l("操作"),
        ban_acknowledged=_l("已知悉禁访警告"),
    )
    column_details_list = (
        "kind",
        "status",
        "channel",
        "visitor_name",
        "gender",
        "id_type",
        "id_number",
        "phone",
        "work_unit",
        "head_count",
        "host",
        "unit",
        "expected_at",
        "confirmed_at",
        "purpose",
        "signature_confirmed",
        "case",
        "decided_by",
        "decided_at",
        "decision_note",
        "note",
        "created_by",
        "created_at",
    )
    column_formatters_detail = {"status": _appointment_status, "case": _case_number}
    form_columns = (
        "kind",
        "channel",
        "party",
        "visitor_name",
        "gender",
        "id_type",
        "id_number",
        "phone",
        "work_unit",
        "head_count",
        "host",
        "unit",
        "expected_at",
        "confirmed_at",
        "purpose",
        "signature_confirmed",
        "case",
        "note",
        "ban_acknowledged",
    )
    form_extra_fields = {"ban_acknowledged": BAN_ACK_FIELD}
    form_overrides = {"expected_at": FutureDateTimeField, "confirmed_at": FutureDateTimeField}
    form_args = {
        "expected_at": {"validators": [InputRequired(_l("请填写预计来访时间"))]},
        "confirmed_at": {"validators": [Optional()]},
        "head_count": {"validators": [NumberRange(min=1, max=1000)]},
        "kind": {"description": _l("来访申请须经部门负责人或领导批准后方可生效")},
    }
    form_ajax_refs = {
        "party": party_lookup("party"),
        "host": user_lookup("host"),
        "case": case_lookup(),
    }

    def on_create(self, form, model):
        record_appointment(model, by=current_user, ban_acknowledged=self._ban_acknowledged(form))

    def on_update(self, form, model):
        record_appointment_edit(model, by=current_user)

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        del form["ban_acknowledged"]
        return form

    def _appointment(self) -> Appointment:
        appointment = self.get_one(request.args.get("id"))
        if appointment is None:
            abort(404)
        return appointment

    @expose("/approve/", methods=("POST",))
    def approve_view(self):
        appointment = self._appointment()
        note = request.form.get("note")
        return self._post_action(
            lambda: approve_application(appointment, by=current_user, note=note),
            _("已批准来访申请"),
        )

    @expose("/reject/", methods=("POST",))
    def reject_view(self):
        appointment = self._appointment()
        note = request.form.get("note")
        return self._post_action(
            lambda: reject_application(appointment, by=current_user, note=note),
            _("已不予批准"),
        )

    @expose("/cancel/", methods=("POST",))
    def cancel_view(self):
        appointment = self._appointment()
        return self._post_action(
            lambda: cancel_appointment(appointment, by=current_user), _("已取消")
        )


# -- passes -----------------------------------------------------------------------------------


def _recent_appointments():
    today = local_today()
    return (
        Appointment.query.filter(
            reception_visible_clause(current_user, Appointment),
            Appointment.is_deleted.is_(False),
            Appointment.expected_at >= _local_midnight_utc(today - timedelta(days=7)),
            Appointment.expected_at < _local_midnight_utc(today + timedelta(days=8)),
        )
        .order_by(Appointment.expected_at)
        .limit(200)
    )


def _appointment_label(appointment: Appointment) -> str:
    when = to_local(appointment.expected_at).strftime("%m-%d %H:%M")
    name = masked() if visitor_hidden(current_user, appointment) else appointment.visitor_name
    return f"{when} {name} · {appointment.kind.title} · {appointment.status.title}"


def _pass_actions(view, context, model, name):
    if model.returned_at is not None or not current_user.has_permission("reception.manage"):
        return ""
    url = url_for("visitorpass.return_view", pass_number=model.pass_number)
    return Markup('<a class="btn btn-sm btn-outline-primary" href="{}">{}</a>').format(
        url, _("登记归还")
    )


def _pass_state(view, context, model, name):
    if model.returned_at is None:
        return Markup('<span class="badge badge-warning">{}</span>').format(_("未归还"))
    return Markup('<span class="badge badge-success">{}</span>').format(_("已归还"))


class VisitorPassView(VisitorRecordView):
    case_paths = (
        selectinload(VisitorPass.case),
        selectinload(VisitorPass.appointment).selectinload(Appointment.case),
    )
    visitor_columns = frozenset({"appointment"})

    allow_edit = False
    column_list = (
        "pass_number",
        "state",
        "visitor_name",
        "host",
        "purpose",
        "issued_at",
        "returned_at",
        "escorted_out",
        "feedback_rating",
        "actions",
    )
    column_default_sort = [("issued_at", True), ("id", True)]
    column_sortable_list = ("issued_at", "returned_at", "pass_number")
    column_searchable_list = ("pass_number", "visitor_name", "id_number")
    column_filters = (
        filters.FilterEmpty(VisitorPass.returned_at, _l("未归还")),
        *date_filters(VisitorPass.issued_at, _l("发证日期")),
        ChoiceEqualFilter(
            VisitorPass.feedback_rating, _l("来访反馈"), options=Satisfaction.choices
        ),
        filters.BooleanEqualFilter(VisitorPass.escorted_out, _l("陪同离开")),
    )
    column_formatters = {
        "actions": _pass_actions,
        "state": _pass_state,
        "host": lambda view, context, model, name: model.host_display,
        "case": _case_number,
    }
    column_formatters_detail = {
        "host": lambda view, context, model, name: model.host_display,
        "case": _case_number,
    }
    column_labels = labels(
        pass_number=_l("通行证编号"),
        state=_l("状态"),
        appointment=_l("预约/申请"),
        party=_l("已登记人员"),
        visitor_name=_l("来访人"),
        id_type=_l("证件类型"),
        id_number=_l("证件号码"),
        id_checked=_l("已核验证件"),
        host=_l("被访人"),
        host_name=_l("被访人（无账号时填写）"),
        host_confirmed=_l("被访人已确认"),
        purpose=_l("来访事由"),
        issued_at=_l("发证时间"),
        returned_at=_l("归还时间"),
        returned_to=_l("收回人"),
        escorted_out=_l("陪同离开"),
        feedback_rating=_l("来访反馈"),
        feedback_comment=_l("反馈意见"),
        actions=_l("操作"),
    )
    column_details_list = (
        "pass_number",
        "visitor_name",
        "id_type",
        "id_number",
        "id_checked",
        "appointment",
        "host",
        "host_confirmed",
        "purpose",
        "case",
        "issued_at",
        "created_by",
        "returned_at",
        "returned_to",
        "escorted_out",
        "feedback_rating",
        "feedback_comment",
        "note",
    )
    form_columns = (
        "appointment",
        "party",
        "visitor_name",
        "id_type",
        "id_number",
        "id_checked",
        "pass_number",
        "host",
        "host_name",
        "host_confirmed",
        "purpose",
        "case",
        "note",
        "ban_acknowledged",
    )
    form_extra_fields = {"ban_acknowledged": BAN_ACK_FIELD}
    form_overrides = {"appointment": QuerySelectField}
    form_args = {
        "appointment": {
            "query_factory": _recent_appointments,
            "get_label": _appointment_label,
            "allow_blank": True,
            "blank_text": _l("（临时来访，无预约）"),
        },
        "visitor_name": {"validators": [Optional(), Length(max=64)]},
        "pass_number": {"validators": [InputRequired(_l("请填写通行证编号")), Length(max=20)]},
    }
    form_ajax_refs = {
        "party": party_lookup("party"),
        "host": user_lookup("host"),
        "case": case_lookup(),
    }

    def create_form(self, obj=None):
        form = super().create_form(obj)
        appointment_id = request.args.get("appointment_id", type=int)
        if request.method == "GET" and appointment_id:
            appointment = db.session.get(Appointment, appointment_id)
            if appointment is not None and not appointment.is_deleted:
                form.appointment.data = appointment
                if not visitor_hidden(current_user, appointment):
                    # Otherwise the pass takes them from the appointment when it is saved.
                    form.visitor_name.data = appointment.visitor_name
                    form.id_number.data = appointment.id_number
                form.purpose.data = appointment.purpose
                form.host.data = appointment.host
        return form

    def on_create(self, form, model):
        issue_pass(model, by=current_user, ban_acknowledged=self._ban_acknowledged(form))

    @expose("/return/", methods=("GET", "POST"))
    def return_view(self):
        if not current_user.has_permission("reception.manage"):
            abort(403)
        values = {
            "pass_number": (request.values.get("pass_number") or "").strip(),
            "escorted_out": bool(request.form.get("escorted_out")),
            "host_confirmed": bool(request.form.get("host_confirmed")),
            "feedback_rating": request.form.get("feedback_rating") or "",
            "feedback_comment": request.form.get("feedback_comment") or "",
        }
        error = None
        if request.method == "POST":
            rating = values["feedback_rating"]
            if rating and rating not in {choice.value for choice in Satisfaction}:
                error = _("反馈选项无效")
            else:
                try:
                    returned = return_pass_by_number(
                        values["pass_number"],
                        by=current_user,
                        escorted_out=values["escorted_out"],
                        host_confirmed=values["host_confirmed"] or None,
                        feedback_rating=Satisfaction(rating) if rating else None,
                        feedback_comment=values["feedback_comment"],
                    )
                    db.session.commit()
                except WorkflowError as failure:
                    db.session.rollback()
                    error = str(failure)
                else:
                    flash(_("%(number)s 号通行证已归还", number=returned.pass_number), "success")
                    return redirect(url_for(".index_view"))
        current = None
        if values["pass_number"]:
            current = db.session.scalar(
                sa.select(VisitorPass).where(
                    VisitorPass.pass_number == values["pass_number"].upper(),
                    VisitorPass.returned_at.is_(None),
                )
            )
        return self.render(
            "admin/reception/pass_return.html",
            values=values,
            holder=self.visitor(current) if current is not None else "",
            error=error,
            current=current,
            ratings=Satisfaction.choices(),
        )


# -- incidents --------------------------------------------------------------------------------


def _recent_passes():
    since = utcnow() - timedelta(days=30)
    return (
        VisitorPass.query.filter(
            VisitorPass.issued_at >= since, reception_visible_clause(current_user, VisitorPass)
        )
        .order_by(VisitorPass.issued_at.desc())
        .limit(200)
    )


def _pass_label(visitor_pass: VisitorPass) -> str:
    name = masked() if visitor_hidden(current_user, visitor_pass) else visitor_pass.visitor_name
    return f"{visitor_pass.pass_number} {name}"


class VisitIncidentView(VisitorRecordView):
    case_paths = (
        selectinload(VisitIncident.visitor_pass).selectinload(VisitorPass.case),
        selectinload(VisitIncident.visitor_pass)
        .selectinload(VisitorPass.appointment)
        .selectinload(Appointment.case),
    )
    visitor_columns = frozenset({"visitor_pass"})

    allow_edit = False
    column_list = ("occurred_at", "visitor_name", "kind", "measure", "description", "created_by")
    column_default_sort = [("occurred_at", True), ("id", True)]
    column_searchable_list = ("visitor_name", "id_number")
    column_filters = (
        ChoiceEqualFilter(VisitIncident.kind, _l("事件类型"), options=IncidentKind.choices),
        ChoiceEqualFilter(VisitIncident.measure, _l("处置措施"), options=IncidentMeasure.choices),
        *date_filters(VisitIncident.occurred_at, _l("发生日期")),
    )
    column_labels = labels(
        visitor_pass=_l("通行证"),
        party=_l("已登记人员"),
        visitor_name=_l("当事人"),
        id_number=_l("证件号码"),
        occurred_at=_l("发生时间"),
        kind=_l("事件类型"),
        measure=_l("处置措施"),
        description=_l("经过"),
        created_by=_l("登记人"),
    )
    form_columns = (
        "visitor_pass",
        "party",
        "visitor_name",
        "id_number",
        "occurred_at",
        "kind",
        "measure",
        "description",
    )
    form_overrides = {"visitor_pass": QuerySelectField}
    form_args = {
        "visitor_pass": {
            "query_factory": _recent_passes,
            "get_label": _pass_label,
            "allow_blank": True,
            "blank_text": _l("（不涉及通行证）"),
        },
        "visitor_name": {"validators": [Optional(), Length(max=64)]},
        "measure": {"description": _l("选择“禁止再次来访”后，该人员再次登记时系统会提示警告")},
    }
    form_ajax_refs = {"party": party_lookup("party")}
    form_widget_args = {"description": {"rows": 4}}

    def create_form(self, obj=None):
        form = super().create_form(obj)
        if request.method == "GET" and form.occurred_at.data is None:
            form.occurred_at.data = utcnow().replace(second=0, microsecond=0)
        return form

    def on_create(self, form, model):
        record_incident(model, by=current_user)


# -- the reception-day queue ------------------------------------------------------------------


def _active_schedules():
    return ReceptionSchedule.query.filter(ReceptionSchedule.is_active.is_(True)).order_by(
        ReceptionSchedule.priority.desc(), ReceptionSchedule.id
    )


def queue_party(entry: ReceptionQueueEntry) -> str:
    """Who waits in the queue, except to users outside a 举报 case's circle."""
    if visitor_hidden(current_user, entry):
        return masked()
    return str(entry.party) if entry.party is not None else ""


def queue_links(entry: ReceptionQueueEntry) -> Markup:
    """Links from a queue entry to its case and, once they exist, to the workflow steps."""
    links = [
        Markup('<a href="{}">{}</a>').format(
            url_for("case.details_view", id=entry.case_id), entry.case.number
        )
    ]
    if workflow_links_available():
        for step, label in (("answer_on_spot", _("当场答复")), ("assign", _("交办（督办卡）"))):
            url = url_for("workflow.step_view", step=step, case_id=entry.case_id)
            links.append(Markup('<a href="{}">{}</a>').format(url, label))
    return Markup(" · ").join(links)


def _queue_actions(view, context, model, name):
    if model.status != QueueStatus.waiting:
        return ""
    if not (
        current_user.has_permission("reception.manage")
        or current_user.has_permission("reception.approve")
    ):
        return ""
    url = url_for("receptionqueue.status_view", id=model.id)
    return _button_form(
        url,
        _("已接待"),
        "outline-success",
        Markup('<input type="hidden" name="status" value="received">'),
    ) + _button_form(
        url,
        _("未到"),
        "outline-secondary",
        Markup('<input type="hidden" name="status" value="absent">'),
    )


class ReceptionQueueView(VisitorRecordView):
    allow_edit = False
    column_list = (
        "day",
        "schedule",
        "queue_number",
        "party",
        "purpose",
        "case",
        "leader",
        "status",
        "actions",
    )
    column_default_sort = [("day", True), ("queue_number", False)]
    # Queue entries tied to a 举报 case whose reporter is hidden are never found by a search
    # (VisitorRecordView._apply_search).
    column_searchable_list = ("party.name", "purpose")
    column_filters = (
        filters.DateEqualFilter(ReceptionQueueEntry.day, _l("接待日期")),
        ChoiceEqualFilter(ReceptionQueueEntry.status, _l("状态"), options=QueueStatus.choices),
    )
    column_formatters = {
        "case": lambda view, context, model, name: queue_links(model),
        "actions": _queue_actions,
    }
    column_labels = labels(
        day=_l("接待日期"),
        schedule=_l("接待日安排"),
        queue_number=_l("顺序号"),
        party=_l("来访人"),
        purpose=_l("来访事由"),
        leader=_l("接待领导"),
        status=_l("状态"),
        actions=_l("操作"),
        new_subject=_l("新事项标题"),
        new_content=_l("新事项内容"),
    )
    form_columns = (
        "day",
        "schedule",
        "party",
        "purpose",
        "case",
        "new_subject",
        "new_content",
        "ban_acknowledged",
    )
    form_extra_fields = {
        "new_subject": StringField(_l("新事项标题"), [Optional(), Length(max=200)]),
        "new_content": TextAreaField(_l("新事项内容"), [Optional()], render_kw={"rows": 3}),
        "ban_acknowledged": BAN_ACK_FIELD,
    }
    form_overrides = {"day": DateField, "schedule": QuerySelectField}
    form_args = {
        "day": {"validators": [InputRequired(_l("请选择接待日期"))], "widget": widgets.DateInput()},
        "schedule": {"query_factory": _active_schedules, "allow_blank": False},
        "case": {
            "validators": [Optional()],
            "description": _l("重复来访选择已有事项；首次来访留空并填写新事项标题和内容"),
        },
        "party": {"validators": [InputRequired(_l("请选择来访人（可先在“信访人”中登记）"))]},
    }
    form_ajax_refs = {"party": party_lookup("party"), "case": case_lookup()}

    def create_form(self, obj=None):
        form = super().create_form(obj)
        if request.method == "GET" and form.day.data is None:
            form.day.data = request.args.get("day", type=date.fromisoformat) or local_today()
            schedule_id = request.args.get("schedule_id", type=int)
            if schedule_id:
                form.schedule.data = db.session.get(ReceptionSchedule, schedule_id)
        return form

    def validate_form(self, form):
        valid = super().validate_form(form)
        if request.method == "POST" and "new_subject" in form and form.case.data is None:
            for name in ("new_subject", "new_content"):
                if not (form[name].data or "").strip():
                    form[name].errors = [*form[name].errors, _("首次来访须填写新事项")]
                    valid = False
        return valid

    def on_create(self, form, model):
        new_case = None
        if model.case is None:
            new_case = Case(
                subject=form.new_subject.data.strip(),
                content=form.new_content.data.strip(),
                priority=CasePriority.normal,
                head_count=1,
            )
        enqueue_visitor(
            model, by=current_user, new_case=new_case, ban_acknowledged=self._ban_acknowledged(form)
        )

    @expose("/status/", methods=("POST",))
    def status_view(self):
        entry = self.get_one(request.args.get("id"))
        if entry is None:
            abort(404)
        try:
            status = QueueStatus(request.form.get("status", ""))
        except ValueError:
            abort(400)
        return self._post_action(
            lambda: set_queue_status(entry, status, by=current_user), _("已更新接待状态")
        )


def opening_state(box: OpinionBox) -> Markup:
    today = local_today()
    if box.next_due_on > today:
        return Markup('<span class="badge badge-light">{}</span>').format(
            _("%(days)s 天后", days=(box.next_due_on - today).days)
        )
    if box.next_due_on == today:
        return Markup('<span class="badge badge-warning">{}</span>').format(_("今日应开启"))
    return Markup('<span class="badge badge-danger">{}</span>').format(
        _(
            "逾期 %(days)s 天，漏开 %(missed)s 次",
            days=box.overdue_days(today),
            missed=box.missed_openings(today),
        )
    )


# -- the desk's day view ----------------------------------------------------------------------


def _parse_day(text: str | None, fallback: date) -> date:
    try:
        return date.fromisoformat(text) if text else fallback
    except ValueError:
        return fallback


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    return _local_midnight_utc(day), _local_midnight_utc(day + timedelta(days=1))


class ReceptionDeskView(BaseView):
    def is_accessible(self) -> bool:
        return may_use_reception(current_user)

    def inaccessible_callback(self, name, **kwargs):
        return refuse_access()

    @expose("/")
    def index(self):
        today = local_today()
        day = _parse_day(request.args.get("day"), today)
        start, end = _day_bounds(day)
        appointments = db.session.scalars(
            sa.select(Appointment)
            .where(
                reception_visible_clause(current_user, Appointment),
                Appointment.is_deleted.is_(False),
                Appointment.expected_at >= start,
                Appointment.expected_at < end,
                Appointment.status != AppointmentStatus.cancelled,
            )
            .order_by(Appointment.expected_at, Appointment.id)
        ).all()
        sessions = reception_days(day, day)
        queue = db.session.scalars(
            sa.select(ReceptionQueueEntry)
            .where(
                ReceptionQueueEntry.day == day,
                reception_visible_clause(current_user, ReceptionQueueEntry),
            )
            .order_by(ReceptionQueueEntry.schedule_id, ReceptionQueueEntry.queue_number)
        ).all()
        queues = {
            session.schedule.id: [e for e in queue if e.schedule_id == session.schedule.id]
            for session in sessions
        }
        outstanding = db.session.scalars(
            sa.select(VisitorPass)
            .where(
                VisitorPass.returned_at.is_(None),
                reception_visible_clause(current_user, VisitorPass),
            )
            .order_by(VisitorPass.issued_at)
        ).all()
        closing = datetime.combine(day, closing_time(), tzinfo=local_zone()).astimezone(UTC)
        after_closing = utcnow() >= closing
        on_site_at_closing = [p for p in outstanding if p.issued_at < closing]
        boxes = db.session.scalars(
            sa.select(OpinionBox)
            .where(OpinionBox.is_active.is_(True), OpinionBox.next_due_on <= today)
            .order_by(OpinionBox.next_due_on)
        ).all()
        feedback = self._feedback_counts(today)
        return self.render(
            "admin/reception/desk.html",
            day=day,
            today=today,
            previous_day=day - timedelta(days=1),
            next_day=day + timedelta(days=1),
            appointments=appointments,
            sessions=sessions,
            queues=queues,
            queue_links=queue_links,
            queue_party=queue_party,
            visitor=lambda record: visitor_value(current_user, record, record.visitor_name),
            outstanding=outstanding,
            on_site_at_closing=on_site_at_closing,
            after_closing=after_closing,
            closing_time=closing_time(),
            boxes=boxes,
            feedback=feedback,
            may_manage=current_user.has_permission("reception.manage"),
            may_print_registers=current_user.has_permission("register.print"),
            opening_state=opening_state,
        )

    def _feedback_counts(self, today: date) -> dict:
        """Visitor feedback this calendar year, by rating (the 统计 figure for reception)."""
        since = _local_midnight_utc(today.replace(month=1, day=1))
        rows = dict(
            db.session.execute(
                sa.select(VisitorPass.feedback_rating, sa.func.count())
                .where(VisitorPass.returned_at >= since)
                .group_by(VisitorPass.feedback_rating)
            ).all()
        )
        answered = sum(n for rating, n in rows.items() if rating is not None)
        good = rows.get(Satisfaction.satisfied, 0) + rows.get(Satisfaction.basically_satisfied, 0)
        return {
            "since": today.replace(month=1, day=1),
            "counts": [(rating.title, rows.get(rating, 0)) for rating in Satisfaction],
            "none": rows.get(None, 0),
            "answered": answered,
            "rate": good / answered * 100 if answered else None,
        }

    @expose("/schedule/")
    def schedule_view(self):
        """The published schedule for the reception room: print-friendly, months ahead."""
        today = local_today()
        first = _parse_day(request.args.get("start"), today.replace(day=1)).replace(day=1)
        months = min(max(request.args.get("months", 3, type=int) or 3, 1), 12)
        year, month = first.year, first.month + months
        year += (month - 1) // 12
        month = (month - 1) % 12 + 1
        last = date(year, month, 1) - timedelta(days=1)
        everything = reception_days(first, last, include_skipped=True)
        held_days = {o.day for o in everything if not o.skipped}
        # A schedule displaced by a higher-priority one that day is not news for visitors;
        # a reception day lost to a holiday is.
        occurrences = [o for o in everything if not (o.skipped and o.day in held_days)]
        leaders = {}
        for occurrence in occurrences:
            for leader in (occurrence.leader, occurrence.absent_leader):
                if leader is not None:
                    leaders[leader.id] = leader
        from models.calendar import work_calendar

        fallback_years = sorted(work_calendar().fallback_years)
        return self.render(
            "admin/reception/schedule.html",
            first=first,
            last=last,
            months=months,
            occurrences=occurrences,
            leaders=sorted(leaders.values(), key=lambda leader: (leader.sort_order, leader.id)),
            fallback_years=fallback_years,
            today=today,
        )
