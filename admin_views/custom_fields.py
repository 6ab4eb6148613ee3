"""Custom fields on screens: their settings screen, their inputs on the registration and case
forms, and their list columns and filters.

Definitions change while the application runs, so nothing here is fixed when the views are
built: inputs are added to each form instance, list columns are read per request, and the
case list rebuilds its filter list when a field was saved (the ``CachedOptions`` generation).
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import g, has_app_context, request
from flask_admin.contrib.sqla import filters
from flask_admin.form import rules
from flask_babel import gettext as _
from flask_login import current_user
from jinja2 import pass_context
from markupsafe import Markup
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired

from models import Category, User, db
from models.base import to_local
from models.custom_fields import (
    EARLIEST_YEAR,
    LATEST_YEAR,
    CustomField,
    active_fields,
    applies_to,
    category_lineage,
    check_definition,
    clean_value,
    display_value,
    person_names,
    stored_values,
    value_bound_clause,
    value_equals_clause,
    value_text,
)
from models.enums import CategoryKind, CustomFieldType
from models.operations import ValidationFailed
from models.operations.records import create_record, update_record
from models.texts import lazy_gettext as _l
from models.users import staff_condition

from .filters import CachedOptions, ChoiceEqualFilter
from .labels import labels
from .settings import SettingsModelView

T = CustomFieldType

#: Reloaded when a field is saved (SettingsModelView clears every cache) or after its TTL;
#: the case list rebuilds its filters when this changes.
field_signature = CachedOptions(
    lambda: db.session.execute(
        sa.select(CustomField.id, CustomField.key)
        .where(CustomField.is_active.is_(True), CustomField.filterable.is_(True))
        .order_by(CustomField.id)
    ).all()
)


def _active_categories():
    return Category.query.filter(Category.is_active.is_(True)).order_by(
        Category.sort_order, Category.id
    )


class ChoicesText(TextAreaField):
    """A list edited as one item per line."""

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return "\n".join(self.data or [])

    def process_formdata(self, valuelist):
        text = valuelist[0] if valuelist else ""
        self.data = [line.strip() for line in text.splitlines() if line.strip()]


class CustomFieldView(SettingsModelView):
    """系统设置 → 自定义字段."""

    allow_delete = False  # cases may hold values: deactivate instead
    column_list = (
        "label",
        "key",
        "field_type",
        "category",
        "category_kind",
        "required",
        "show_in_list",
        "filterable",
        "sort_order",
        "is_active",
    )
    column_default_sort = [("sort_order", False), ("id", False)]
    column_searchable_list = ("label", "key")
    column_filters = (
        ChoiceEqualFilter(CustomField.field_type, _l("类型"), options=CustomFieldType.choices),
        filters.BooleanEqualFilter(CustomField.is_active, _l("启用")),
    )
    form_columns = (
        "label",
        "key",
        "field_type",
        "choices",
        "required",
        "help_text",
        "category",
        "category_kind",
        "sort_order",
        "show_in_list",
        "filterable",
        "is_active",
    )
    column_labels = labels(
        label=_l("字段名称"),
        key=_l("字段标识"),
        field_type=_l("类型"),
        choices=_l("选项"),
        required=_l("必填"),
        help_text=_l("填写说明"),
        category=_l("适用分类"),
        category_kind=_l("适用事项性质"),
        sort_order=_l("排序"),
        show_in_list=_l("在事项列表中显示"),
        filterable=_l("可作为筛选条件"),
        is_active=_l("启用"),
    )
    column_descriptions = {
        "key": _l(
            "导出和文书中使用的标识：小写字母、数字和下划线；留空则自动生成。已有事项填写后不能再改"
        ),
        "field_type": _l("已有事项填写后不能再改类型（文本与多行文本之间除外）"),
        "choices": _l("仅“选项”类型：每行一个选项"),
        "category": _l("空表示所有分类；选父分类则对其子分类也适用"),
        "category_kind": _l("空表示任何性质；与适用分类同时填写时须同时满足"),
        "required": _l("只对适用分类内的事项必填"),
    }
    form_overrides = {"choices": ChoicesText}
    form_args = {
        "category": {"query_factory": _active_categories},
        "key": {"validators": []},
    }
    form_widget_args = {"choices": {"rows": 4}}

    def after_model_change(self, form, model, is_created):
        super().after_model_change(form, model, is_created)
        g.pop("custom_fields", None)  # this request's forms and lists see the change

    def create_form(self, obj=None):
        return _key_optional(super().create_form(obj))

    def edit_form(self, obj=None):
        return _key_optional(super().edit_form(obj))

    def on_create(self, form, model):
        check_definition(model)
        create_record(model, by=current_user)

    def on_update(self, form, model):
        check_definition(model)
        update_record(model, by=current_user)


def _key_optional(form):
    """An empty key is generated from the label (models.custom_fields.check_definition)."""
    if "key" in form:
        form.key.validators = [
            v for v in form.key.validators if not isinstance(v, InputRequired | DataRequired)
        ]
        form.key.flags.required = False
    return form


# --- inputs on the registration and case forms ------------------------------------------------


class _NotPopulated:
    """The value goes into ``custom_values`` through the view, not onto a model attribute."""

    def populate_obj(self, obj, name):
        pass


class CustomTextInput(_NotPopulated, StringField):
    pass


class CustomLongTextInput(_NotPopulated, TextAreaField):
    pass


class CustomSelectInput(_NotPopulated, SelectField):
    pass


def request_fields() -> list[CustomField]:
    """The active fields, read once per request."""
    if "custom_fields" not in g:
        g.custom_fields = active_fields()
    return g.custom_fields


def _category_ids_in_scope(field: CustomField) -> str:
    """The ids of the categories ``field`` applies to, for the form's script ("*": all)."""
    if not field.is_scoped:
        return "*"
    ids = [
        str(category.id)
        for category in Category.query.filter(Category.is_active.is_(True))
        if applies_to(field, category, category_lineage(category))
    ]
    return ",".join(ids)


def _input_text(field: CustomField, value) -> str:
    """The stored value as the input shows it."""
    if value is None:
        return ""
    if field.field_type == T.boolean:
        return "true" if value else "false"
    if field.field_type == T.datetime:
        try:
            from datetime import datetime

            return to_local(datetime.fromisoformat(value)).strftime("%Y-%m-%dT%H:%M")
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def _unbound_input(field: CustomField, current):
    label = field.label + ("" if not field.required else " *")
    scope = {"data-cf-categories": _category_ids_in_scope(field)}
    options = {"description": field.help_text or "", "render_kw": scope}
    kind = field.field_type
    if kind == T.long_text:
        return CustomLongTextInput(label, render_kw={**scope, "rows": 3}, **_without(options))
    if kind in (T.choice, T.boolean, T.person):
        if kind == T.choice:
            choices = [(text, text) for text in field.choices or []]
            if current not in (None, "") and current not in (field.choices or []):
                choices.append((str(current), str(current)))
        elif kind == T.boolean:
            choices = [("true", _("是")), ("false", _("否"))]
        else:
            people = db.session.execute(
                sa.select(User.id, User.full_name)
                .where(sa.or_(staff_condition(), User.id == (current or 0)))
                .order_by(User.full_name, User.id)
            ).all()
            choices = [(str(user_id), name) for user_id, name in people]
        return CustomSelectInput(
            label, choices=[("", _("（未填）")), *choices], validate_choice=False, **options
        )
    input_type = {T.date: "date", T.datetime: "datetime-local", T.number: "text"}.get(kind)
    render_kw = dict(scope)
    if input_type:
        render_kw["type"] = input_type
    if kind == T.number:
        render_kw["inputmode"] = "decimal"
    return CustomTextInput(label, **{**options, "render_kw": render_kw})


def _without(options: dict) -> dict:
    return {key: value for key, value in options.items() if key != "render_kw"}


def add_custom_inputs(form, values: dict | None) -> None:
    """Add one input per active field to ``form`` (after its own), filled from the post or
    from ``values`` (the case's stored values)."""
    values = values or {}
    names = []
    for field in request_fields():
        current = values.get(field.key)
        bound = _unbound_input(field, current).bind(
            form=form, name=field.form_name, prefix=form._prefix
        )
        if request.method == "POST":
            bound.process(request.form)
        else:
            bound.process(None, data=_input_text(field, current))
        form._fields[field.form_name] = bound
        setattr(form, field.form_name, bound)
        names.append(field.form_name)
    form.custom_inputs = names


def check_custom_inputs(form, category, before: dict) -> bool:
    """Put a message on each input of a field of ``category`` that cannot be stored."""
    valid = True
    for field in request_fields():
        if field.form_name not in form or not applies_to(field, category):
            continue
        bound = form[field.form_name]
        try:
            clean_value(field, bound.data, previous=before.get(field.key))
        except ValidationFailed as error:
            bound.errors = [*bound.errors, str(error)]
            valid = False
    return valid


def submitted_values(form, category, before: dict) -> dict:
    """``before`` with the inputs of the fields that apply to ``category`` (as typed; the
    service layer converts and checks them). Other fields keep their stored values."""
    values = dict(before)
    for field in request_fields():
        if field.form_name in form and applies_to(field, category):
            values[field.key] = form[field.form_name].data
    return values


class CustomFieldInputs(rules.BaseRule):
    """Form rule: the custom inputs added to this form instance."""

    @property
    def visible_fields(self) -> list[str]:
        # Asked per request: fields outside every rule would be taken off the form.
        return [field.form_name for field in request_fields()] if has_app_context() else []

    def __call__(self, form, form_opts=None, field_args=None):
        parts = [
            rules.Field(name)(form, form_opts, field_args)
            for name in getattr(form, "custom_inputs", ())
        ]
        if not parts:
            return Markup("")
        heading = Markup('<h6 class="mt-3 text-muted">{}</h6>').format(_("补充信息"))
        return heading + Markup("").join(parts)


class CustomFieldFormMixin:
    """Case forms carrying the custom inputs (CaseView); ``category_input`` names the form's
    category select."""

    category_input = "category"

    def create_form(self, obj=None):
        form = super().create_form(obj)
        add_custom_inputs(form, None)
        return form

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        form.custom_before = stored_values(obj) if obj is not None else {}
        add_custom_inputs(form, form.custom_before)
        return form

    def validate_form(self, form):
        valid = super().validate_form(form)
        if request.method != "POST" or not hasattr(form, "custom_inputs"):
            return valid
        before = getattr(form, "custom_before", {})
        category = form[self.category_input].data if self.category_input in form else None
        return check_custom_inputs(form, category, before) and valid


# --- list columns and filters -----------------------------------------------------------------


def list_fields() -> list[CustomField]:
    return [field for field in request_fields() if field.show_in_list]


class CustomFieldFilter(filters.BaseSQLAFilter):
    """``custom_values`` holds this value for the field (containment on PostgreSQL)."""

    def __init__(self, field: CustomField, options=None):
        super().__init__(CustomField.id, field.label, options=options)
        # A detached copy: the filter outlives the request that built it.
        self.field = CustomField(
            id=field.id,
            key=field.key,
            label=field.label,
            field_type=field.field_type,
            choices=list(field.choices or []),
            required=False,
        )
        self.key = field.key

    def _cleaned(self, value):
        # A person who has left can still be looked for; a choice must be one of the options.
        kept = value if self.field.field_type == T.person and str(value).isdigit() else None
        return clean_value(self.field, value, previous=int(value) if kept else None)

    def validate(self, value) -> bool:
        try:
            return self._cleaned(value) is not None
        except ValidationFailed:
            return False

    def apply(self, query, value, alias=None):
        return query.filter(value_equals_clause(self.field, self._cleaned(value)))

    def operation(self):
        return _l("等于")

    url_suffix = "eq"


class CustomFieldContainsFilter(CustomFieldFilter):
    def apply(self, query, value, alias=None):
        pattern = "%" + value.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"
        return query.filter(value_text(self.field).like(pattern, escape="\\"))

    def operation(self):
        return _l("包含")

    url_suffix = "like"


class CustomFieldFromFilter(CustomFieldFilter):
    """不早于 a day / 不小于 a number."""

    upper = False
    url_suffix = "from"

    def __init__(self, field: CustomField, options=None):
        super().__init__(field, options)
        if field.field_type != T.number:
            self.data_type = "datepicker"

    def _cleaned(self, value):
        if self.field.field_type == T.number:
            return clean_value(self.field, value)
        day = date.fromisoformat(str(value).strip())
        if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
            raise ValueError("year out of range")
        return day.isoformat()

    def validate(self, value) -> bool:
        try:
            return self._cleaned(value) is not None
        except (ValidationFailed, ValueError):
            return False

    def apply(self, query, value, alias=None):
        return query.filter(value_bound_clause(self.field, self._cleaned(value), upper=self.upper))

    def operation(self):
        return _l("不小于") if self.field.field_type == T.number else _l("不早于")


class CustomFieldUntilFilter(CustomFieldFromFilter):
    """不晚于 a day (inclusive) / 不大于 a number."""

    upper = True
    url_suffix = "until"

    def operation(self):
        return _l("不大于") if self.field.field_type == T.number else _l("不晚于")


def _options_of(field: CustomField):
    if field.field_type == T.choice:
        return [(text, text) for text in field.choices or []]
    if field.field_type == T.boolean:
        return [("true", _l("是")), ("false", _l("否"))]
    if field.field_type == T.person:
        return [(str(key), name) for key, name in sorted(person_names().items())]
    return None


def custom_field_filters() -> list:
    """One filter per filterable active field (two for text: equals and contains)."""
    if not has_app_context():
        return []
    try:
        fields = [field for field in active_fields() if field.filterable]
    except sa.exc.SQLAlchemyError:  # a database not yet migrated
        db.session.rollback()
        return []
    result = []
    for field in fields:
        if field.field_type != T.datetime:  # a time is looked for by its day
            result.append(CustomFieldFilter(field, options=_options_of(field)))
        if field.field_type in (T.text, T.long_text):
            result.append(CustomFieldContainsFilter(field))
        if field.field_type in (T.number, T.date, T.datetime):
            result += [CustomFieldFromFilter(field), CustomFieldUntilFilter(field)]
    return result


class CustomFieldListMixin:
    """The case list: a column per ``show_in_list`` field, a filter per filterable one, and
    both in the exports."""

    @property
    def _list_columns(self):
        if not has_app_context():
            return self._own_list_columns
        extra = [(f"cf_{field.key}", field.label) for field in list_fields()]
        return [*self._own_list_columns, *extra]

    @_list_columns.setter
    def _list_columns(self, value):
        self._own_list_columns = value

    def get_filters(self):
        return [*(super().get_filters() or []), *custom_field_filters()]

    def get_filter_arg(self, index, flt):
        if isinstance(flt, CustomFieldFilter):
            return f"cf_{flt.key}_{flt.url_suffix}"
        return super().get_filter_arg(index, flt)

    def _get_list_extra_args(self):
        # Filters of fields defined since the list was last shown apply at once.
        generation = CachedOptions.refresh_if_due()
        if generation != self._filter_options_generation:
            self._refresh_filters_cache()
            self._filter_options_generation = generation
        return super()._get_list_extra_args()

    @pass_context
    def get_list_value(self, context, model, name):
        if name.startswith("cf_"):
            return self.custom_value_text(model, name[3:])
        return super().get_list_value(context, model, name)

    @staticmethod
    def custom_value_text(model, key: str, people=None) -> str:
        field = next((f for f in request_fields() if f.key == key), None)
        value = (model.custom_values or {}).get(key)
        return "" if field is None else display_value(field, value, people)

    def export_context(self):
        return {"fields": {f.key: f for f in request_fields()}, "people": person_names()}

    def export_value(self, model, name, context):
        if name.startswith("cf_") and context is not None:
            field = context["fields"].get(name[3:])
            value = (model.custom_values or {}).get(name[3:])
            return "" if field is None else display_value(field, value, context["people"])
        return super().export_value(model, name, context)


__all__ = ["CategoryKind", "CustomFieldView"]
