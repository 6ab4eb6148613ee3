"""接待: reception-day schedules, leaders, absences, and the opinion boxes with their openings."""

from __future__ import annotations

from flask import request
from flask_admin.contrib.sqla import filters
from flask_admin.model.form import InlineFormAdmin
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from wtforms import DateField, SelectField, TextAreaField, TimeField, widgets
from wtforms.validators import InputRequired, NumberRange, Optional

from models import OpinionBox, OpinionBoxOpening, ReceptionRotaMember
from models.enums import Recurrence
from models.operations.opinion_boxes import record_opening, save_box, split_slips
from models.operations.reception import local_today
from models.operations.reception_days import record_absence, save_leader, save_schedule
from models.reception_days import WEEKDAY_NAMES
from models.texts import lazy_gettext as _l

from .labels import labels
from .lookups import user_lookup
from .reception import ReceptionModelView, opening_state

WEEKDAY_CHOICES = [("", _l("（不适用）"))] + [
    (str(index), name) for index, name in enumerate(WEEKDAY_NAMES)
]
WEEK_OF_MONTH_CHOICES = [("", _l("（不适用）"))] + [
    (str(n), label)
    for n, label in enumerate(
        (_l("第一个"), _l("第二个"), _l("第三个"), _l("第四个"), _l("第五个")), 1
    )
]


def _optional_int(value):
    return int(value) if value not in (None, "", "None") else None


class ScheduleSetupView(ReceptionModelView):
    permission_create = "reception.schedule"
    permission_edit = "reception.schedule"
    permission_delete = "reception.schedule"


class ReceptionLeaderView(ScheduleSetupView):
    column_list = ("name", "post", "portfolio", "departments", "contact", "user", "is_active")
    column_default_sort = [("sort_order", False), ("id", False)]
    column_labels = labels(
        name=_l("姓名"),
        post=_l("职务"),
        portfolio=_l("分管工作"),
        departments=_l("分管部门"),
        contact=_l("联系方式"),
        user=_l("系统账号"),
    )
    form_columns = (
        "name",
        "post",
        "portfolio",
        "departments",
        "contact",
        "user",
        "sort_order",
        "is_active",
    )
    form_ajax_refs = {"user": user_lookup("user")}

    def on_create(self, form, model):
        save_leader(model, by=current_user)

    def on_update(self, form, model):
        save_leader(model, by=current_user)


class RotaInline(InlineFormAdmin):
    form_columns = ("id", "position", "leader")
    form_label = _l("轮值领导")
    column_labels = {"position": _l("轮值顺序"), "leader": _l("领导")}


def _rule(view, context, model, name):
    return f"{model.rule_text} {model.slot_text}"


def _rota(view, context, model, name):
    if model.leader is not None:
        return str(model.leader)
    return _("、").join(member.leader.name for member in model.rota) or _("（待定）")


class ReceptionScheduleView(ScheduleSetupView):
    column_list = ("name", "rule", "place", "rota", "priority", "starts_on", "is_active")
    column_formatters = {"rule": _rule, "rota": _rota}
    column_formatters_detail = {"rule": _rule, "rota": _rota}
    column_labels = labels(
        name=_l("名称"),
        rule=_l("接待时间"),
        recurrence=_l("重复方式"),
        weekday=_l("星期几"),
        week_of_month=_l("每月第几个"),
        day_of_month=_l("每月几日"),
        start_time=_l("开始时间"),
        end_time=_l("结束时间"),
        place=_l("接待地点"),
        leader=_l("固定接待领导"),
        rota=_l("接待领导/轮值"),
        priority=_l("优先级"),
        starts_on=_l("启用日期"),
        ends_on=_l("停用日期"),
    )
    column_details_list = (
        "name",
        "rule",
        "place",
        "rota",
        "priority",
        "starts_on",
        "ends_on",
        "is_active",
        "note",
    )
    form_columns = (
        "name",
        "recurrence",
        "weekday",
        "week_of_month",
        "day_of_month",
        "start_time",
        "end_time",
        "place",
        "leader",
        "rota",
        "priority",
        "starts_on",
        "ends_on",
        "is_active",
        "note",
    )
    inline_models = (RotaInline(ReceptionRotaMember),)
    form_overrides = {
        "weekday": SelectField,
        "week_of_month": SelectField,
        "start_time": TimeField,
        "end_time": TimeField,
        "starts_on": DateField,
        "ends_on": DateField,
    }
    form_args = {
        "weekday": {"choices": WEEKDAY_CHOICES, "coerce": _optional_int},
        "week_of_month": {"choices": WEEK_OF_MONTH_CHOICES, "coerce": _optional_int},
        "day_of_month": {"validators": [Optional(), NumberRange(min=1, max=31)]},
        "start_time": {"validators": [InputRequired(_l("请填写开始时间"))]},
        "end_time": {"validators": [InputRequired(_l("请填写结束时间"))]},
        "starts_on": {
            "validators": [InputRequired(_l("请填写启用日期"))],
            "widget": widgets.DateInput(),
            "description": _l("轮值从这一天起按顺序轮换"),
        },
        "ends_on": {"validators": [Optional()], "widget": widgets.DateInput()},
        "leader": {"description": _l("每次由同一位领导接待时选择；轮流接待时留空并填写轮值名单")},
        "priority": {
            "description": _l(
                "同一天时段重叠时，优先级高的安排生效（如每月第一个星期一院长接待，优先于每周一轮值）"
            )
        },
    }
    form_choices = {"recurrence": Recurrence.choices()}

    def on_create(self, form, model):
        save_schedule(model, by=current_user)

    def on_update(self, form, model):
        save_schedule(model, by=current_user)


class LeaderAbsenceView(ScheduleSetupView):
    allow_delete = True
    column_list = ("leader", "first_day", "last_day", "deputy", "reason")
    column_default_sort = [("first_day", True)]
    column_labels = labels(
        leader=_l("外出领导"),
        deputy=_l("代班领导"),
        first_day=_l("开始日期"),
        last_day=_l("结束日期"),
        reason=_l("事由"),
    )
    form_columns = ("leader", "first_day", "last_day", "deputy", "reason")
    form_overrides = {"first_day": DateField, "last_day": DateField}
    form_args = {
        "first_day": {"validators": [InputRequired()], "widget": widgets.DateInput()},
        "last_day": {"validators": [InputRequired()], "widget": widgets.DateInput()},
    }

    def on_create(self, form, model):
        record_absence(model, by=current_user)

    def on_update(self, form, model):
        record_absence(model, by=current_user)


# -- opinion boxes --------------------------------------------------------------------------


class OpeningDueFilter(filters.BaseSQLAFilter):
    """Boxes whose opening is due today or was skipped (overdue)."""

    def __init__(self, column, name):
        super().__init__(
            column, name, options=[("due", _l("今日到期或已逾期")), ("overdue", _l("已逾期"))]
        )

    def apply(self, query, value, alias=None):
        today = local_today()
        if value == "overdue":
            return query.filter(OpinionBox.next_due_on < today)
        return query.filter(OpinionBox.next_due_on <= today)

    def validate(self, value) -> bool:
        return value in ("due", "overdue")

    def operation(self):
        return _l("为")


class OpinionBoxView(ReceptionModelView):
    column_list = ("name", "location", "opener", "interval_days", "next_due_on", "state")
    column_default_sort = [("next_due_on", False)]
    column_filters = (
        OpeningDueFilter(OpinionBox.next_due_on, _l("开启提醒")),
        filters.BooleanEqualFilter(OpinionBox.is_active, _l("启用")),
    )
    column_formatters = {
        "state": lambda view, context, model, name: opening_state(model),
    }
    column_labels = labels(
        name=_l("名称"),
        location=_l("位置"),
        opener=_l("开箱责任人"),
        interval_days=_l("开启间隔（天）"),
        next_due_on=_l("下次应开启"),
        state=_l("开启提醒"),
    )
    form_columns = ("name", "location", "opener", "interval_days", "next_due_on", "is_active")
    form_overrides = {"next_due_on": DateField}
    form_args = {
        "interval_days": {"validators": [InputRequired(), NumberRange(min=1, max=366)]},
        "next_due_on": {
            "validators": [Optional()],
            "widget": widgets.DateInput(),
            "description": _l("新设意见箱的首次开启日期；留空为今天起按间隔计算。开箱后自动更新"),
        },
    }
    form_ajax_refs = {"opener": user_lookup("opener")}

    def on_create(self, form, model):
        save_box(model, by=current_user)

    def on_update(self, form, model):
        save_box(model, by=current_user)


def _opening_cases(view, context, model, name):
    from flask import url_for

    return Markup("、").join(
        Markup('<a href="{}">{}</a>').format(url_for("case.details_view", id=case.id), case.number)
        for case in model.cases
    )


class OpinionBoxOpeningView(ReceptionModelView):
    allow_edit = False
    column_list = ("box", "opened_on", "opener", "slip_count", "cases", "created_by")
    column_default_sort = [("opened_on", True), ("id", True)]
    column_filters = (filters.DateBetweenFilter(OpinionBoxOpening.opened_on, _l("开启日期")),)
    column_formatters = {"cases": _opening_cases}
    column_formatters_detail = {"cases": _opening_cases}
    column_labels = labels(
        box=_l("意见箱"),
        opened_on=_l("开启日期"),
        opener=_l("开启人"),
        slip_count=_l("意见条数"),
        cases=_l("登记的事项"),
        slips=_l("意见内容"),
        created_by=_l("登记人"),
    )
    column_details_list = ("box", "opened_on", "opener", "slip_count", "cases", "note")
    form_columns = ("box", "opened_on", "opener", "slip_count", "slips", "note")
    form_extra_fields = {
        "slips": TextAreaField(
            _l("意见内容"),
            [Optional()],
            render_kw={"rows": 8},
            description=_l(
                "每张意见条录入一段，段与段之间空一行；每段登记为一件来源为“意见箱”的信访事项"
            ),
        )
    }
    form_overrides = {"opened_on": DateField}
    form_args = {
        "opened_on": {"validators": [InputRequired()], "widget": widgets.DateInput()},
        "slip_count": {"validators": [InputRequired(), NumberRange(min=0, max=1000)]},
        "box": {"query_factory": lambda: OpinionBox.query.filter(OpinionBox.is_active.is_(True))},
    }
    form_ajax_refs = {"opener": user_lookup("opener")}

    def create_form(self, obj=None):
        form = super().create_form(obj)
        if request.method == "GET":
            if form.opened_on.data is None:
                form.opened_on.data = local_today()
            box_id = request.args.get("box_id", type=int)
            if box_id:
                box = OpinionBox.query.get(box_id)
                if box is not None:
                    form.box.data = box
                    form.opener.data = box.opener
            if form.opener.data is None:
                form.opener.data = current_user._get_current_object()
        return form

    def on_create(self, form, model):
        record_opening(model, by=current_user, slips=split_slips(form.slips.data))
