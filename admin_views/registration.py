"""Registering letters, visits and calls (on a new or an existing case) and petitioners."""

from __future__ import annotations

import sqlalchemy as sa
from flask import request, url_for
from flask_admin.contrib.sqla import filters
from flask_admin.form import rules
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import Email, Length, NumberRange, Optional

from models import Attachment, Call, Case, Letter, Party, Visit, db
from models.base import utcnow
from models.enums import (
    CallLine,
    CasePriority,
    Gender,
    IdType,
    LetterForm,
    LetterOrigin,
    VisitKind,
)
from models.operations import ValidationFailed
from models.operations.cases import mark_case_flags
from models.operations.contacts import delete_contact, record_contact_edit, register_contact
from models.operations.parties import (
    find_or_create_party,
    record_party_edit,
    register_party,
)
from models.operations.representatives import parse_representatives, set_representatives
from models.policies import (
    can_see_live_case,
    party_visible_clause,
    reporter_text_searchable_clause,
)
from models.texts import lazy_gettext as _l

from .base import ProtectedModelView
from .cases import (
    CaseChildView,
    _active_categories,
    _active_units,
    _case_link,
    representatives_field,
    short_id_number,
)
from .choices import ModelSelectField as QuerySelectField
from .confidential import list_value, log_confidential_view, masked, reporter_hidden
from .custom_fields import (
    CustomFieldInputs,
    add_custom_inputs,
    check_custom_inputs,
    submitted_values,
)
from .exports import ExportMixin
from .fields import IdentityNumber, PhoneNumber
from .filters import ChoiceEqualFilter, date_filters
from .labels import labels
from .lookups import case_lookup, party_lookup, user_lookup
from .reception import BAN_ACK_FIELD
from .search import party_search_condition
from .wording import person_text

NEW_CASE_FIELDS = (
    "new_subject",
    "new_content",
    "new_demands",
    "new_category",
    "new_priority",
    "new_is_anonymous",
    "new_is_important",
    "new_is_beyond_level",
    "new_is_abnormal",
)
NEW_PERSON_FIELDS = (
    "new_person_name",
    "new_person_gender",
    "new_person_phone",
    "new_person_id_type",
    "new_person_id_number",
    "new_person_work_unit",
    "new_person_address",
)


def _blank_choices(enum_cls):
    return [("", _l("（未填）")), *enum_cls.choices()]


def new_case_and_person_fields() -> dict:
    """Unbound fields that let one form register a contact together with its new case."""
    return {
        "new_subject": StringField(_l("事项标题"), [Optional(), Length(max=200)]),
        "new_content": TextAreaField(_l("反映内容"), [Optional()], render_kw={"rows": 5}),
        "new_demands": TextAreaField(_l("诉求"), [Optional()], render_kw={"rows": 2}),
        "new_category": QuerySelectField(
            _l("分类"),
            query_factory=_active_categories,
            allow_blank=True,
            blank_text=_l("（未分类）"),
        ),
        "new_priority": SelectField(
            _l("紧急程度"), choices=CasePriority.choices(), default=CasePriority.normal.value
        ),
        "new_is_anonymous": BooleanField(_l("匿名（不答复）")),
        "new_is_important": BooleanField(_l("重要事项")),
        "new_is_beyond_level": BooleanField(
            _l("越级访"),
            description=_l("如越级上省、进京上访；选择了已有事项时也标记到该事项，并即时通知领导"),
        ),
        "new_is_abnormal": BooleanField(
            _l("异常访"),
            description=_l("缠访闹访、堵门拦车等；选择了已有事项时也标记到该事项，并即时通知领导"),
        ),
        "new_person_name": StringField(_l("姓名"), [Optional(), Length(max=64)]),
        "new_person_gender": SelectField(_l("性别"), choices=_blank_choices(Gender), default=""),
        "new_person_phone": StringField(_l("联系电话"), [Optional(), PhoneNumber()]),
        "new_person_id_type": SelectField(
            _l("证件类型"), choices=_blank_choices(IdType), default=""
        ),
        "new_person_id_number": StringField(
            _l("证件号码"), [Optional(), IdentityNumber("new_person_id_type")]
        ),
        "new_person_work_unit": StringField(_l("工作单位"), [Optional(), Length(max=120)]),
        "new_person_address": StringField(_l("住址"), [Optional(), Length(max=200)]),
    }


def check_new_case_inputs(form, *, person_chosen: bool, new_case: bool) -> bool:
    """The rules between the new-person and new-case inputs of a registration form (the
    admin's letter, visit and call forms and the public petition page): put a message on
    each input that breaks one and return whether all hold."""
    valid = True
    if person_chosen and form.new_person_name.data:
        form.new_person_name.errors = [
            *form.new_person_name.errors,
            _("已选择已登记人员时，请不要再填写新人员姓名"),
        ]
        valid = False
    has_new_person_details = any(
        form[name].data for name in NEW_PERSON_FIELDS if name != "new_person_name" and name in form
    )
    if has_new_person_details and not form.new_person_name.data and not person_chosen:
        form.new_person_name.errors = [*form.new_person_name.errors, _("请填写姓名")]
        valid = False
    if new_case:
        for name in ("new_subject", "new_content"):
            if not (form[name].data or "").strip():
                form[name].errors = [*form[name].errors, _("新事项必须填写此项")]
                valid = False
        # Only the fields of the chosen category count; the others are hidden.
        if not check_custom_inputs(form, form.new_category.data, {}):
            valid = False
    return valid


class ContactView(ExportMixin, CaseChildView):
    """Shared behaviour of the letter, visit and call screens."""

    permission_create = "case.register"
    permission_edit = "case.edit"
    permission_delete = "case.delete"
    simple_list_pager = True
    #: The relationship naming the person (writer / visitor / caller).
    person_field = ""
    person_label = _l("信访人")
    contact_fields: tuple[str, ...] = ()
    #: Visits consult the ban list, like appointments and passes at the desk.
    checks_ban = False
    #: A group visit names its representatives on the same form (S19).
    takes_representatives = False

    def __init__(self, model, session, **kwargs):
        self.form_extra_fields = new_case_and_person_fields()
        ban_fields = ("ban_acknowledged",) if self.checks_ban else ()
        if self.checks_ban:
            self.form_extra_fields["ban_acknowledged"] = BAN_ACK_FIELD
        group_fields = ("representative_lines",) if self.takes_representatives else ()
        if self.takes_representatives:
            self.form_extra_fields["representative_lines"] = representatives_field()
        self.form_columns = (
            "case",
            self.person_field,
            *NEW_PERSON_FIELDS,
            *NEW_CASE_FIELDS,
            *self.contact_fields,
            *group_fields,
            *ban_fields,
        )
        self.form_create_rules = (
            rules.Header(_l("一、归属事项")),
            rules.Text(
                _l("重复来信/来访/来电：选择已有事项；首次反映：留空，并在“四、新事项”中填写。")
            ),
            "case",
            rules.Header(_l("二、登记信息")),
            *self.contact_fields,
            *group_fields,
            rules.Header(_l("三、%(person)s", person=self.person_label)),
            rules.Text(_l("选择已登记的人员，或在下面填写新人员信息（匿名来信可都不填）。")),
            self.person_field,
            *NEW_PERSON_FIELDS,
            rules.Header(_l("四、新事项（未选择已有事项时填写）")),
            *NEW_CASE_FIELDS,
            # The administrator-defined fields; those outside the chosen category hide.
            CustomFieldInputs(),
            *ban_fields,
        )
        self.form_ajax_refs = {
            "case": case_lookup(),
            self.person_field: party_lookup(self.person_field),
        }
        self.column_details_list = (
            "case",
            self.person_field,
            *self.contact_fields,
            "is_first_contact",
            "created_by",
            "created_at",
        )
        # The person (and a caller's number or a sender's address) is a 举报 case's reporter.
        identity = [
            self.person_field,
            *(f for f in IDENTITY_CONTACT_FIELDS if f in self.contact_fields),
        ]
        self.export_identity_columns = frozenset(identity)
        self.column_formatters = {
            **(self.column_formatters or {}),
            **{name: _listed_identity(name) for name in identity},
        }
        self.column_formatters_detail = {
            **(self.column_formatters_detail or {}),
            **{name: _detailed_identity(name) for name in identity},
        }
        # The new case's flags side by side in one row, like on the case form.
        self.form_widget_args = {
            **(self.form_widget_args or {}),
            **{
                name: {"column_class": "d-inline-block align-top mr-4"}
                for name in (
                    "new_is_anonymous",
                    "new_is_important",
                    "new_is_beyond_level",
                    "new_is_abnormal",
                )
            },
        }
        form_args = dict(self.form_args or {})
        # The case may be left empty on the form: a new case is then created with the contact.
        form_args["case"] = {"validators": [Optional()]}
        self.form_args = form_args
        super().__init__(model, session, **kwargs)

    #: The contact's own time field and the staff field that defaults to the current user.
    time_field = ""
    staff_field: str | None = None

    def create_form(self, obj=None):
        form = super().create_form(obj)
        add_custom_inputs(form, None)
        if request.method != "GET":
            return form
        case_id = request.args.get("case_id", type=int)
        if case_id and not form.case.data:
            case = db.session.get(Case, case_id)
            if can_see_live_case(current_user, case):
                form.case.data = case
        if form[self.time_field].data is None:
            # Most contacts are registered as they arrive.
            form[self.time_field].data = utcnow().replace(second=0, microsecond=0)
        if self.staff_field and form[self.staff_field].data is None:
            form[self.staff_field].data = current_user._get_current_object()
        return form

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        hidden = obj is not None and reporter_hidden(obj.case)
        identity = (self.person_field, *IDENTITY_CONTACT_FIELDS) if hidden else ()
        # Representatives belong to the case: they are edited on the case form.
        contact_only = ("case", "representative_lines", "ban_acknowledged")
        for name in (*contact_only, *NEW_CASE_FIELDS, *NEW_PERSON_FIELDS, *identity):
            if name in form:
                del form[name]
        return form

    def _apply_search(self, query, count_query, joins, count_joins, search):
        query, count_query, joins, count_joins = super()._apply_search(
            query, count_query, joins, count_joins, search
        )
        if search and search.strip():
            # A search by name or number must not tie a person to a 举报 case.
            searchable = reporter_text_searchable_clause(current_user, self.model.case_id)
            query = query.filter(searchable)
            if count_query is not None:
                count_query = count_query.filter(searchable)
        return query, count_query, joins, count_joins

    def validate_form(self, form):
        valid = super().validate_form(form)
        if "new_subject" not in form or request.method != "POST":
            return valid
        checked = check_new_case_inputs(
            form,
            person_chosen=form[self.person_field].data is not None,
            new_case=form.case.data is None,
        )
        return checked and valid

    def on_create(self, form, model):
        # Every representative's ID number is checked before anyone is registered.
        representatives = (
            parse_representatives(form.representative_lines.data)
            if "representative_lines" in form
            else []
        )
        if representatives and getattr(model, "kind", None) != VisitKind.group:
            raise ValidationFailed(_("登记代表人的来访请选择“集体来访”"), field="kind")
        person = getattr(model, self.person_field)
        if person is None and form.new_person_name.data:
            person = find_or_create_party(
                {
                    "name": form.new_person_name.data,
                    "gender": form.new_person_gender.data or None,
                    "phone": form.new_person_phone.data or None,
                    "id_type": form.new_person_id_type.data or None,
                    "id_number": form.new_person_id_number.data or None,
                    "work_unit": form.new_person_work_unit.data or None,
                    "address": form.new_person_address.data or None,
                },
                by=current_user,
            )
            setattr(model, self.person_field, person)
        existing_case = form.case.data
        new_case = None
        if existing_case is None:
            new_case = Case(
                subject=form.new_subject.data.strip(),
                content=form.new_content.data.strip(),
                demands=(form.new_demands.data or "").strip() or None,
                category=form.new_category.data,
                priority=form.new_priority.data,
                is_anonymous=bool(form.new_is_anonymous.data),
                is_important=bool(form.new_is_important.data),
                is_beyond_level=bool(form.new_is_beyond_level.data),
                is_abnormal=bool(form.new_is_abnormal.data),
                head_count=1,
            )
            new_case.custom_values = submitted_values(form, form.new_category.data, {})
        register_contact(
            model,
            by=current_user,
            case=existing_case,
            new_case=new_case,
            ban_acknowledged=bool("ban_acknowledged" in form and form.ban_acknowledged.data),
        )
        if representatives:
            set_representatives(
                model.case,
                representatives,
                by=current_user,
                keep_existing=existing_case is not None,
            )
        if existing_case is not None:
            # A repeat contact may be the one that goes beyond level: mark the case it joins.
            mark_case_flags(
                existing_case,
                by=current_user,
                is_beyond_level=bool(form.new_is_beyond_level.data),
                is_abnormal=bool(form.new_is_abnormal.data),
            )

    details_template = "admin/contact/details.html"
    create_template = "admin/contact/create.html"
    #: Which attachment column points at this kind of contact (calls keep none of their own).
    attachment_key: str | None = None

    def render(self, template, **kwargs):
        if template == self.details_template and "model" in kwargs:
            contact = kwargs["model"]
            attachments = []
            log_confidential_view(contact.case, f"{self.endpoint}_details")
            if self.attachment_key and not reporter_hidden(contact.case):
                column = getattr(Attachment, self.attachment_key)
                attachments = (
                    Attachment.query.filter(column == contact.id, Attachment.is_deleted.is_(False))
                    .order_by(Attachment.id)
                    .all()
                )
            kwargs.update(contact_attachments=attachments, attachment_key=self.attachment_key)
        return super().render(template, **kwargs)

    def created_number(self, model) -> str | None:
        # The case's number is the one people quote and search for.
        return model.case.number if model.case is not None else None

    def created_landing_url(self, model) -> str | None:
        return url_for("case.details_view", id=model.case_id) if model.case_id else None

    def on_update(self, form, model):
        record_contact_edit(model, by=current_user)

    def on_delete(self, model):
        delete_contact(model, by=current_user)


#: Contact fields that identify the reporter besides the person (see models.policies).
IDENTITY_CONTACT_FIELDS = ("caller_number", "sender_email")


def _listed_identity(name):
    person = name in ("writer", "visitor", "caller")

    def formatter(view, context, model, _name):
        value = getattr(model, name)
        if value is None:
            value = _("（匿名或未留姓名）") if person else ""
        return list_value(model.case, person_text(value))

    return formatter


def _detailed_identity(name):
    def formatter(view, context, model, _name):
        if reporter_hidden(model.case):
            return masked()
        value = getattr(model, name)
        return "" if value is None else person_text(value)

    return formatter


def _person(field):
    def formatter(view, context, model, name):
        person = getattr(model, field)
        return person_text(person) if person is not None else _("（匿名或未留姓名）")

    return formatter


def _yes_no(value: bool) -> str:
    """是 / 否 in words, as the printed register has them (not a tick icon)."""
    return _("是") if value else _("否")


class LetterView(ContactView):
    person_field = "writer"
    person_label = _l("来信人")
    attachment_key = "letter_id"
    time_field = "received_at"
    contact_fields = (
        "received_at",
        "letter_date",
        "form",
        "origin",
        "forwarding_unit",
        "forwarding_reference",
        "envelope_intact",
        "stamp_intact",
        "opened_at",
        "sender_email",
        "summary",
    )
    column_list = (
        "case",
        "writer",
        "received_at",
        "form",
        "origin",
        "is_first_contact",
        "created_by",
    )
    column_default_sort = [("received_at", True), ("id", True)]
    column_sortable_list = ("received_at",)
    column_filters = (
        ChoiceEqualFilter(Letter.form, _l("来信形式"), options=LetterForm.choices),
        ChoiceEqualFilter(Letter.origin, _l("来信来源"), options=LetterOrigin.choices),
        *date_filters(Letter.received_at, _l("收信日期")),
    )
    column_searchable_list = ("writer.name", "forwarding_reference")
    column_formatters = {"case": _case_link, "writer": _person("writer")}
    column_labels = labels(
        writer=_l("来信人"),
        received_at=_l("收信时间"),
        letter_date=_l("来信日期"),
        form=_l("来信形式"),
        origin=_l("来信来源"),
        forwarding_unit=_l("原批转单位"),
        forwarding_reference=_l("批转文号"),
        envelope_intact=_l("信封完好"),
        stamp_intact=_l("邮票/邮戳完好"),
        opened_at=_l("拆封时间"),
        sender_email=_l("发件人邮箱"),
        summary=_l("来信摘要"),
    )
    form_args = {
        "forwarding_unit": {"query_factory": _active_units},
        "sender_email": {"validators": [Optional(), Email(message=_l("邮箱地址格式不正确"))]},
    }


class VisitView(ContactView):
    person_field = "visitor"
    person_label = _l("来访人")
    checks_ban = True
    takes_representatives = True
    attachment_key = "visit_id"
    time_field = "visited_at"
    staff_field = "receptionist"
    contact_fields = (
        "visited_at",
        "kind",
        "head_count",
        "purpose",
        "receptionist",
        "interview_record",
        "answered_on_spot",
        "answer",
    )
    column_list = (
        "case",
        "visitor",
        "visited_at",
        "kind",
        "head_count",
        "purpose",
        "receptionist",
        "answered_on_spot",
    )
    column_default_sort = [("visited_at", True), ("id", True)]
    column_sortable_list = ("visited_at",)
    column_filters = (
        ChoiceEqualFilter(Visit.kind, _l("来访类型"), options=VisitKind.choices),
        filters.BooleanEqualFilter(Visit.answered_on_spot, _l("当场答复")),
        *date_filters(Visit.visited_at, _l("来访日期")),
    )
    column_searchable_list = ("visitor.name", "purpose")
    column_formatters = {
        "case": _case_link,
        "visitor": _person("visitor"),
        "answered_on_spot": lambda view, context, model, name: _yes_no(model.answered_on_spot),
    }
    column_formatters_detail = {
        "answered_on_spot": lambda view, context, model, name: _yes_no(model.answered_on_spot),
    }
    column_labels = labels(
        visitor=_l("来访人"),
        visited_at=_l("来访时间"),
        kind=_l("来访类型"),
        head_count=_l("人数"),
        purpose=_l("来访事由"),
        receptionist=_l("接待人"),
        interview_record=_l("接谈记录"),
        answered_on_spot=_l("当场答复"),
        answer=_l("答复内容"),
    )
    form_args = {"head_count": {"validators": [NumberRange(min=1, max=10000)]}}
    form_widget_args = {"interview_record": {"rows": 5}}

    def __init__(self, model, session, **kwargs):
        super().__init__(model, session, **kwargs)
        self.form_ajax_refs["receptionist"] = user_lookup("receptionist")
        self._refresh_forms_cache()


class CallView(ContactView):
    person_field = "caller"
    person_label = _l("来电人")
    time_field = "called_at"
    staff_field = "taken_by"
    contact_fields = ("called_at", "line", "line_number", "caller_number", "taken_by", "record")
    column_list = (
        "case",
        "caller",
        "called_at",
        "line",
        "line_number",
        "caller_number",
        "taken_by",
    )
    column_default_sort = [("called_at", True), ("id", True)]
    column_sortable_list = ("called_at",)
    column_filters = (
        ChoiceEqualFilter(Call.line, _l("线路"), options=CallLine.choices),
        *date_filters(Call.called_at, _l("来电日期")),
    )
    column_searchable_list = ("caller_number", "caller.name")
    column_formatters = {"case": _case_link, "caller": _person("caller")}
    column_labels = labels(
        caller=_l("来电人"),
        called_at=_l("来电时间"),
        line=_l("线路"),
        line_number=_l("所拨号码"),
        caller_number=_l("来电号码"),
        taken_by=_l("接听人"),
        record=_l("来电记录"),
    )
    form_args = {
        "caller_number": {"validators": [Optional(), PhoneNumber()]},
        "line_number": {"validators": [Optional(), Length(max=20)]},
    }
    form_widget_args = {"record": {"rows": 5}}

    def __init__(self, model, session, **kwargs):
        super().__init__(model, session, **kwargs)
        self.form_ajax_refs["taken_by"] = user_lookup("taken_by")
        self._refresh_forms_cache()


def _flags(view, context, model, name):
    badges = []
    if model.is_repeat_petitioner:
        badges.append(Markup('<span class="badge badge-warning">{}</span>').format(_("重复信访")))
    if model.is_important_customer:
        badges.append(Markup('<span class="badge badge-info">{}</span>').format(_("重要客户")))
    if model.is_banned:
        badges.append(Markup('<span class="badge badge-danger">{}</span>').format(_("禁止来访")))
    return Markup(" ").join(badges)


#: Show the first six and last four characters; the full number is on the details page.
mask_id_number = short_id_number


class PartyView(ProtectedModelView):
    permission_view = "party.manage"
    permission_create = "party.manage"
    permission_edit = "party.manage"
    allow_delete = False
    simple_list_pager = True
    column_list = (
        "name",
        "gender",
        "age",
        "phone",
        "id_number",
        "work_unit",
        "flags",
        "created_at",
    )
    column_default_sort = ("id", True)
    column_searchable_list = ("name", "phone", "id_number")
    column_filters = (
        filters.BooleanEqualFilter(Party.is_repeat_petitioner, _l("重复信访")),
        filters.BooleanEqualFilter(Party.is_important_customer, _l("重要客户")),
        filters.BooleanEqualFilter(Party.is_banned, _l("禁止来访")),
    )
    # Lists are seen over shoulders and in screenshots; mask identity numbers there.
    column_formatters = {
        "flags": _flags,
        "id_number": lambda view, context, model, name: mask_id_number(model.id_number),
    }
    column_formatters_detail = {"flags": _flags}
    column_labels = labels(
        name=_l("姓名"),
        gender=_l("性别"),
        age=_l("年龄"),
        id_type=_l("证件类型"),
        id_number=_l("证件号码"),
        phone=_l("联系电话"),
        email=_l("电子邮箱"),
        work_unit=_l("工作单位"),
        address=_l("住址"),
        is_repeat_petitioner=_l("重复信访人"),
        is_important_customer=_l("重要客户"),
        is_banned=_l("禁止来访"),
        flags=_l("标记"),
        created_at=_l("建档时间"),
    )
    form_columns = (
        "name",
        "gender",
        "age",
        "id_type",
        "id_number",
        "phone",
        "email",
        "work_unit",
        "address",
        "is_repeat_petitioner",
        "is_important_customer",
        "is_banned",
        "note",
    )
    form_args = {
        "age": {
            "validators": [
                Optional(),
                NumberRange(min=0, max=150, message=_l("年龄应在0到150之间")),
            ]
        },
        "phone": {"validators": [Optional(), PhoneNumber()]},
        "id_number": {"validators": [Optional(), IdentityNumber("id_type")]},
        "email": {"validators": [Optional(), Email(message=_l("邮箱地址格式不正确"))]},
    }
    form_overrides = {"age": IntegerField}

    details_template = "admin/party/details.html"

    def scope(self, query):
        return super().scope(query).filter(party_visible_clause(current_user))

    def _apply_search(self, query, count_query, joins, count_joins, search):
        # Every term must match, as in Flask-Admin's search, but through the indexes: a
        # two-character name by its bigrams, numbers only for terms that look like one.
        # Flask-Admin's ILIKE on all three columns read all 200,000 people for a
        # two-character name (1.3 s).
        for term in search.split():
            condition = party_search_condition(term)
            query = query.filter(condition)
            if count_query is not None:
                count_query = count_query.filter(condition)
        return query, count_query, joins, count_joins

    def render(self, template, **kwargs):
        if template == self.details_template and "model" in kwargs:
            from models.operations.case_reports import party_commendations

            kwargs["commendations"] = party_commendations(kwargs["model"], current_user)
        return super().render(template, **kwargs)

    def on_create(self, form, model):
        register_party(model, by=current_user)

    def on_update(self, form, model):
        record_party_edit(model, by=current_user)


__all__ = ["CallView", "LetterView", "PartyView", "VisitView", "sa"]
