"""The settings screens: units, categories, users, roles, system settings, deadline and
escalation rules, and the working-day calendar."""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.contrib.sqla import filters
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import Email, Optional

from models import Category, SystemSetting, Unit, User, db
from models.calendar import forget_work_calendar, work_calendar
from models.custom_fields import CustomField
from models.deadlines import clock_event_rows
from models.enums import CategoryKind, Clock, EscalationTrigger, TimeUnit, UnitKind
from models.maintenance.presets import DEADLINE_PRESETS, load_deadline_preset
from models.operations import ValidationFailed
from models.operations.records import create_record, update_record
from models.operations.settings import next_number_preview, update_setting
from models.operations.users import password_problem
from models.permissions import PERMISSIONS
from models.routing import check_routing_rule
from models.settings import DEFAULT_SETTINGS, SettingKind, setting_spec
from models.texts import lazy_gettext as _l

from .base import ProtectedModelView
from .choices import INACTIVE_SUFFIX, assignable_units
from .fields import PermissionsField, PhoneNumber
from .filters import CachedOptions, ChoiceEqualFilter
from .labels import labels
from .wording import PRESET_TITLES


class SettingsModelView(ProtectedModelView):
    permission_view = "settings.manage"
    permission_create = "settings.manage"
    permission_edit = "settings.manage"
    permission_delete = "settings.manage"

    def after_model_change(self, form, model, is_created):
        CachedOptions.clear_all()


class UnitView(SettingsModelView):
    column_list = ("name", "short_name", "kind", "doc_code", "parent", "contact_phone", "is_active")
    column_default_sort = [("sort_order", False), ("id", False)]
    column_searchable_list = ("name", "short_name")
    column_filters = (
        ChoiceEqualFilter(Unit.kind, _l("类型"), options=UnitKind.choices),
        filters.BooleanEqualFilter(Unit.is_active, _l("启用")),
    )
    column_labels = labels(
        short_name=_l("简称"),
        doc_code=_l("机关代字"),
        contact_phone=_l("联系电话"),
        address=_l("地址"),
        out_of_scope_policy=_l("不属本单位职责的事项"),
    )
    form_columns = (
        "name",
        "short_name",
        "kind",
        "doc_code",
        "parent",
        "contact_phone",
        "address",
        "out_of_scope_policy",
        "sort_order",
        "is_active",
    )
    form_args = {
        "doc_code": {"description": _l("发文字号中的机关代字，例如“县信复”")},
        "out_of_scope_policy": {
            "description": _l("不选则按系统设置“不属本单位职责的事项如何处理”办理")
        },
        "contact_phone": {"validators": [Optional(), PhoneNumber()]},
    }
    # Units are referenced by cases and users; deactivate instead of deleting.
    allow_delete = False


class CategoryView(SettingsModelView):
    column_list = ("name", "code", "kind", "parent", "sort_order", "is_active")
    column_default_sort = [("sort_order", False), ("id", False)]
    column_searchable_list = ("name", "code")
    column_filters = (ChoiceEqualFilter(Category.kind, _l("性质"), options=CategoryKind.choices),)
    column_labels = labels(code=_l("代码"), kind=_l("性质"))
    form_columns = ("name", "code", "kind", "parent", "description", "sort_order", "is_active")
    allow_delete = False


class UserView(ProtectedModelView):
    permission_view = "user.manage"
    allow_delete = False
    column_list = (
        "username",
        "full_name",
        "unit",
        "roles",
        "position",
        "is_active_user",
        "last_login_at",
        "notification_settings",
    )
    column_formatters = {
        "notification_settings": lambda view, context, model, name: Markup(
            '<a href="{}">{}</a>'
        ).format(url_for("notificationsettings.index", user=model.id), _("通知设置")),
    }
    column_default_sort = ("id", False)
    column_searchable_list = ("username", "full_name")
    column_filters = (filters.BooleanEqualFilter(User.is_active_user, _l("启用")),)
    column_labels = labels(
        username=_l("用户名"),
        full_name=_l("姓名"),
        unit=_l("所属单位"),
        roles=_l("角色"),
        position=_l("职务"),
        phone=_l("电话"),
        is_active_user=_l("启用"),
        last_login_at=_l("最近登录"),
        new_password=_l("新密码"),
        email=_l("电子邮箱"),
        notification_settings=_l("邮件通知"),
    )
    form_columns = (
        "username",
        "full_name",
        "unit",
        "roles",
        "position",
        "phone",
        "email",
        "is_active_user",
        "new_password",
    )
    form_extra_fields = {
        "new_password": PasswordField(
            _l("新密码"),
            description=_l("新建用户必填；修改时留空表示不改密码。至少8位，含字母和数字。"),
        )
    }
    form_args = {
        "phone": {"validators": [Optional(), PhoneNumber()]},
        "email": {"validators": [Optional(), Email(message=_l("邮箱地址格式不正确"))]},
    }

    def validate_form(self, form):
        valid = super().validate_form(form)
        if "new_password" not in form:
            return valid
        password = form.new_password.data or ""
        if password:
            problem = password_problem(password)
            if problem:
                form.new_password.errors = [*form.new_password.errors, problem]
                valid = False
        elif getattr(form, "is_new", False):
            form.new_password.errors = [*form.new_password.errors, _("新建用户必须设置密码")]
            valid = False
        return valid

    def create_form(self, obj=None):
        form = super().create_form(obj)
        form.is_new = True  # a new account must get a password; an edit may keep the old one
        return form

    def on_create(self, form, model):
        model.set_password(form.new_password.data)
        create_record(model, by=current_user)

    def on_update(self, form, model):
        if form.new_password.data:
            model.set_password(form.new_password.data)
        if not model.is_active_user:
            # load_user already refuses inactive accounts; a new token also makes sure a later
            # reactivation does not revive the old sessions.
            model.session_token = secrets.token_hex(16)
        if model.id == current_user.id and not model.has_permission("user.manage"):
            raise ValidationFailed(
                _("不能去掉自己的用户管理权限，以免无人能管理账号"), field="roles"
            )
        update_record(model, by=current_user)


#: Headings of the permission groups on the role form (by the part before the dot).
PERMISSION_GROUPS = {
    "case": _l("信访事项"),
    "party": _l("信访人"),
    "workflow": _l("办理步骤"),
    "callback": _l("回访"),
    "attachment": _l("附件"),
    "confidential": _l("保密信息"),
    "audit": _l("时间线与审计"),
    "stats": _l("统计"),
    "reception": _l("来访接待"),
    "document": _l("文书"),
    "register": _l("登记簿"),
    "survey": _l("满意度调查"),
    "settings": _l("系统设置"),
    "user": _l("用户与角色"),
}


class PermissionCheckboxes:
    """The permissions as ticked boxes in groups, each with its name and code."""

    def __call__(self, field, **kwargs):
        groups: dict[str, list] = {}
        for value, label, selected, *_rest in field.iter_choices():
            groups.setdefault(value.split(".")[0], []).append((value, label, selected))
        parts = [Markup('<div class="permission-grid" id="{}">').format(field.id)]
        for prefix, choices in groups.items():
            title = PERMISSION_GROUPS.get(prefix, prefix)
            parts.append(
                Markup('<fieldset class="mb-2"><legend class="h6">{}</legend>').format(title)
            )
            for value, label, selected in choices:
                box_id = f"{field.id}-{value.replace('.', '-')}"
                parts.append(
                    Markup(
                        '<div class="form-check"><input class="form-check-input" type="checkbox"'
                        ' name="{}" id="{}" value="{}"{}><label class="form-check-label" for="{}">'
                        '{} <code class="small text-muted">{}</code></label></div>'
                    ).format(
                        field.name,
                        box_id,
                        value,
                        Markup(" checked") if selected else "",
                        box_id,
                        label,
                        value,
                    )
                )
            parts.append(Markup("</fieldset>"))
        parts.append(Markup("</div>"))
        return Markup("").join(parts)


class RoleView(ProtectedModelView):
    permission_view = "user.manage"
    allow_delete = False
    column_list = ("name", "code", "description", "permissions")
    column_labels = labels(code=_l("代码"), permissions=_l("权限"))
    column_formatters = {
        "permissions": lambda v, c, m, n: _("、").join(
            str(PERMISSIONS.get(p, p)) for p in m.permissions
        )
    }
    form_columns = ("name", "code", "description", "permissions")
    form_overrides = {"permissions": PermissionsField}
    form_args = {
        "permissions": {
            "choices": list(PERMISSIONS.items()),
            "widget": PermissionCheckboxes(),
        }
    }


def _setting_value_text(view, context, model, name):
    return setting_spec(model.key).title_of(model.value)


def _setting_name(view, context, model, name):
    # The name in code follows the language; the stored copy is the Chinese text.
    return DEFAULT_SETTINGS[model.key][1] if model.key in DEFAULT_SETTINGS else model.description


def setting_field(key: str):
    """The input for setting ``key``, built from its type (``models.settings.SETTING_SPECS``):
    a select of Chinese titles, a number box with its bounds, a date, or a line of text. The
    values are checked by ``operations.settings.clean_setting_value``, whatever is posted."""
    spec = setting_spec(key)
    label = DEFAULT_SETTINGS[key][1] if key in DEFAULT_SETTINGS else key
    description = str(spec.help)
    if spec.kind in (SettingKind.choice, SettingKind.yes_no):
        return SelectField(
            label, choices=list(spec.choices), validate_choice=False, description=description
        )
    if spec.kind == SettingKind.number:
        description = _(
            "%(help)s（%(minimum)s 到 %(maximum)s）",
            help=description,
            minimum=spec.minimum,
            maximum=spec.maximum,
        )
        bounds = {"type": "number", "min": spec.minimum, "max": spec.maximum, "step": 1}
        return StringField(label, description=description, render_kw=bounds)
    if spec.kind == SettingKind.date:
        return StringField(label, description=description, render_kw={"type": "date"})
    if spec.kind == SettingKind.number_pattern:
        preview = next_number_preview()
        if preview:
            description = _(
                "%(help)s。下一个编号将是：%(number)s", help=description, number=preview
            )
    return StringField(label, description=description, render_kw={"maxlength": spec.max_length})


class SystemSettingView(ProtectedModelView):
    permission_view = "settings.manage"
    permission_edit = "settings.manage"
    allow_create = False
    allow_delete = False
    column_list = ("description", "value", "updated_at")
    column_details_list = ("description", "value", "updated_at")
    column_labels = labels(key=_l("设置项"), value=_l("当前设置"), description=_l("设置项"))
    column_formatters = {"description": _setting_name, "value": _setting_value_text}
    column_formatters_detail = column_formatters
    form_columns = ("value",)

    #: Kept by their own screens (设置 → 称谓, 初始设置), not typed here.
    hidden_keys = ("vocabulary", "setup_completed")

    def get_query(self):
        return super().get_query().filter(SystemSetting.key.not_in(self.hidden_keys))

    def get_count_query(self):
        return super().get_count_query().filter(SystemSetting.key.not_in(self.hidden_keys))

    def get_one(self, id):
        return self.get_query().filter(SystemSetting.key == str(id)).one_or_none()

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        if obj is not None:
            # The value's input follows the setting's type; nobody types a code.
            field = setting_field(obj.key).bind(form=form, name="value", prefix=form._prefix)
            field.process(request.form if request.method == "POST" else None, data=obj.value)
            form._fields["value"] = field
            form.value = field
        return form

    def on_update(self, form, model):
        update_setting(model.key, model.value, by=current_user)


# --- deadlines, escalation and the working-day calendar ------------------------------------


class CheckedRuleView(SettingsModelView):
    """A rule screen whose rows are checked (the subclass's ``_check``) before every create
    and edit."""

    def on_create(self, form, model):
        self._check(model)
        super().on_create(form, model)

    def on_update(self, form, model):
        self._check(model)
        super().on_update(form, model)


class DeadlineRuleView(CheckedRuleView):
    list_template = "admin/workflow/rule_list.html"
    # The form shows when each clock starts and stops (models/deadlines.py CLOCK_EVENTS).
    create_template = "admin/workflow/rule_create.html"
    edit_template = "admin/workflow/rule_edit.html"
    column_list = (
        "name",
        "clock",
        "category",
        "category_kind",
        "priority",
        "channel",
        "amount",
        "unit",
        "max_extension",
        "max_extension_count",
        "is_active",
    )
    column_default_sort = [("clock", False), ("id", False)]
    form_columns = (
        "name",
        "clock",
        "category",
        "category_kind",
        "priority",
        "channel",
        "amount",
        "unit",
        "max_extension",
        "max_extension_count",
        "is_active",
        "note",
    )
    column_labels = labels(
        name=_l("名称"),
        clock=_l("时限"),
        category_kind=_l("事项性质"),
        amount=_l("时长"),
        unit=_l("单位"),
        max_extension=_l("最多延期"),
        max_extension_count=_l("最多延期次数"),
        is_active=_l("启用"),
        note=_l("备注"),
    )
    column_descriptions = {
        "category": _l("空表示任何分类；选父分类则对其子分类也适用"),
        "max_extension": _l("与时长同一单位；空表示不能延期"),
        "clock": _l("各时限的开始和停止时点见表单下方的说明"),
        "unit": _l("分钟、小时按实际时间连续计算；自然日、工作日自次日起算，到期日24时截止"),
    }

    def _check(self, model):
        if model.amount is None or model.amount <= 0:
            raise ValidationFailed(_("时长须为正整数"), field="amount")
        if model.max_extension is not None and model.max_extension < 0:
            raise ValidationFailed(_("最多延期不能为负数"), field="max_extension")
        if model.unit == TimeUnit.hours and model.amount > 24 * 365:
            raise ValidationFailed(_("以小时计的时限不能超过一年"), field="amount")
        if model.unit == TimeUnit.minutes and model.amount > 60 * 24 * 30:
            raise ValidationFailed(_("以分钟计的时限不能超过30天，请改用小时或日"), field="amount")

    def render(self, template, **kwargs):
        kwargs.setdefault(
            "deadline_presets",
            {
                code: (str(PRESET_TITLES.get(code, preset[0])), *preset[1:])
                for code, preset in DEADLINE_PRESETS.items()
            },
        )
        kwargs.setdefault("clock_event_rows", clock_event_rows())
        return super().render(template, **kwargs)

    @expose("/load-preset/", methods=("POST",))
    def load_preset_view(self):
        if not self.can_edit:
            abort(403)
        name = request.form.get("preset", "")
        if name not in DEADLINE_PRESETS:
            flash(_("请选择要载入的预设"), "error")
            return redirect(url_for(".index_view"))
        rules, escalations = load_deadline_preset(name)
        db.session.commit()
        flash(
            _(
                "已载入“%(name)s”：%(rules)s 条时限规则，%(escalations)s 条预警规则。"
                "正在计时的事项保持原期限。",
                name=DEADLINE_PRESETS[name][0],
                rules=rules,
                escalations=escalations,
            ),
            "success",
        )
        return redirect(url_for(".index_view"))


def role_choices() -> list[tuple[str, str]]:
    """Roles as (code, display name), for rules that name a role."""
    from models import Role

    return [
        (role.code, role.name) for role in db.session.scalars(sa.select(Role).order_by(Role.id))
    ]


def role_name(code: str | None) -> str:
    from models import Role

    return db.session.scalar(sa.select(Role.name).where(Role.code == code)) or (code or "")


class EscalationRuleView(CheckedRuleView):
    column_list = (
        "name",
        "level",
        "clock",
        "trigger",
        "threshold",
        "recipient_role",
        "same_unit_only",
        "is_active",
    )
    form_columns = column_list
    column_labels = labels(
        name=_l("名称"),
        level=_l("级别"),
        clock=_l("时限（空为全部）"),
        trigger=_l("触发条件"),
        threshold=_l("阈值"),
        recipient_role=_l("提醒角色"),
        same_unit_only=_l("仅承办单位内"),
        is_active=_l("启用"),
    )
    column_descriptions = {
        "threshold": _l("按百分比：已用时限的百分数；按超期：超过期限的工作日数（0 为到期时）"),
        "recipient_role": _l("提醒发给担任该角色的在职人员"),
    }
    # The rule stores the role's code (presets and the escalation job read it); the
    # administrator picks the role by its display name.
    form_overrides = {"recipient_role": SelectField}
    form_args = {"recipient_role": {"choices": role_choices, "validate_choice": False}}
    column_formatters = {"recipient_role": lambda v, c, m, n: role_name(m.recipient_role)}

    def _check(self, model):
        from models import Role

        if model.trigger == EscalationTrigger.percent_elapsed and not (
            1 <= (model.threshold or 0) <= 100
        ):
            raise ValidationFailed(_("百分比应在1到100之间"), field="threshold")
        if (model.threshold or 0) < 0:
            raise ValidationFailed(_("阈值不能为负数"), field="threshold")
        if not db.session.scalar(sa.select(Role.id).where(Role.code == model.recipient_role)):
            raise ValidationFailed(_("请从列表中选择提醒角色"), field="recipient_role")


class RoutingRuleView(CheckedRuleView):
    """分派规则: conditions on a new matter → the unit it goes to (models.routing)."""

    column_list = (
        "sort_order",
        "name",
        "conditions",
        "moment",
        "action",
        "unit",
        "handler",
        "set_priority",
        "is_active",
    )
    column_default_sort = [("sort_order", False), ("id", False)]
    column_searchable_list = ("name",)
    form_columns = (
        "name",
        "sort_order",
        "is_active",
        "moment",
        "category",
        "category_kind",
        "channel",
        "priority",
        "field_key",
        "field_value",
        "unit",
        "handler",
        "action",
        "set_priority",
        "note",
    )
    column_labels = labels(
        sort_order=_l("顺序"),
        conditions=_l("条件"),
        moment=_l("何时分派"),
        action=_l("分派方式"),
        category_kind=_l("事项性质"),
        field_key=_l("自定义字段"),
        field_value=_l("字段值"),
        unit=_l("承办单位"),
        handler=_l("承办人"),
        set_priority=_l("设定紧急程度"),
    )
    column_descriptions = {
        "sort_order": _l("从小到大依次比对，第一条符合的规则生效"),
        "category": _l("空表示任何分类；选父分类则对其子分类也适用"),
        "field_key": _l("按登记表的哪个自定义字段分派；空表示不限"),
        "field_value": _l("该字段须等于的值：选项填选项文字（如“住院”），是否填“是”或“否”"),
        "handler": _l("可选；须是承办单位的人员"),
        "action": _l("建议：交办、批示、转办时预选该单位，可改选；直接交办：登记或受理后立即交办"),
        "set_priority": _l("空表示不改变事项的紧急程度"),
    }
    column_formatters = {"conditions": lambda view, context, model, name: model.conditions_text()}
    # The key is picked from the defined fields, never typed (choices set per form below).
    form_overrides = {"field_key": SelectField}
    form_args = {
        "field_key": {"choices": [], "validators": [Optional()]},
        # Checked in _check, so a missing unit gets the same message as everywhere else.
        "unit": {"validators": [Optional()], "query_factory": assignable_units},
        "handler": {"validators": [Optional()]},
        "name": {"validators": [Optional()]},
    }

    def _check(self, model):
        check_routing_rule(model)

    def create_form(self, obj=None):
        return self._offer_fields(self._unit_may_be_blank(super().create_form(obj)), obj)

    def edit_form(self, obj=None):
        return self._offer_fields(self._unit_may_be_blank(super().edit_form(obj)), obj)

    @staticmethod
    def _offer_fields(form, obj):
        """The defined custom fields as choices ("label（key）"); a deactivated field, or a key
        whose field was removed, stays offered while a rule still uses it."""
        fields = db.session.scalars(
            sa.select(CustomField).order_by(CustomField.sort_order, CustomField.id)
        ).all()
        # Only the saved value is kept on offer: a posted key must be one of the fields.
        current = getattr(obj, "field_key", None)
        choices = [("", "——")]
        for field in fields:
            if field.is_active or field.key == current:
                suffix = "" if field.is_active else str(INACTIVE_SUFFIX)
                choices.append(
                    (
                        field.key,
                        _("%(name)s（%(detail)s）", name=field.label, detail=field.key) + suffix,
                    )
                )
        if current and current not in {key for key, _label in choices}:
            choices.append((current, f"{current}{INACTIVE_SUFFIX}"))
        form.field_key.choices = choices
        return form

    @staticmethod
    def _unit_may_be_blank(form):
        # The unit is required, but a blank choice lets _check say so in Chinese rather than
        # the form silently preselecting the first unit.
        form.unit.allow_blank = True
        form.unit.blank_text = "——"
        return form


class CalendarOverrideView(ProtectedModelView):
    permission_view = "settings.manage"
    permission_create = "settings.manage"
    permission_edit = "settings.manage"
    permission_delete = "settings.manage"
    column_list = ("day", "is_working", "note")
    column_default_sort = ("day", True)
    form_columns = ("day", "is_working", "note")
    column_labels = labels(day=_l("日期"), is_working=_l("上班（工作日）"), note=_l("说明"))
    column_descriptions = {
        "day": _l("节假日安排包未覆盖的年份（如2027年）须在此录入放假和调休上班日"),
    }
    list_template = "admin/workflow/calendar_list.html"

    def get_one(self, id):
        from datetime import date

        try:
            day = date.fromisoformat(str(id))
        except ValueError:
            return None
        return self.get_query().filter(self.model.day == day).one_or_none()

    def on_create(self, form, model):
        if model.day is None:
            raise ValidationFailed(_("请填写日期"), field="day")
        if db.session.get(self.model, model.day) not in (None, model):
            raise ValidationFailed(_("该日期已有设置"), field="day")
        super().on_create(form, model)
        forget_work_calendar()

    def on_update(self, form, model):
        super().on_update(form, model)
        forget_work_calendar()

    def on_delete(self, model):
        super().on_delete(model)
        forget_work_calendar()

    def render(self, template, **kwargs):
        from datetime import date

        this_year = date.today().year
        kwargs["uncovered_years"] = [
            year for year in (this_year, this_year + 1) if not work_calendar().covers(year)
        ]
        return super().render(template, **kwargs)


__all__ = ["Clock"]
