"""One small form per workflow step; field names are the step function's keyword arguments."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext as _
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from models import Unit, User, db
from models.enums import ContactMethod, ReplyKind, ReplyMethod, UnitKind
from models.policies import handler_counts, handlers_clause
from models.texts import lazy_gettext as _l
from models.users import staff_condition

from .choices import ModelSelectField as QuerySelectField
from .choices import ModelSelectMultipleField as QuerySelectMultipleField
from .fields import LocalDateTimeField, NotInFuture
from .input import CheckedForm

REQUIRED = _l("此项必填")


def _active_units():
    return db.session.scalars(
        sa.select(Unit).where(Unit.is_active.is_(True)).order_by(Unit.sort_order, Unit.id)
    ).all()


def _handling_units():
    return [unit for unit in _active_units() if unit.kind not in (UnitKind.external,)]


def _active_users():
    return db.session.scalars(
        sa.select(User).where(staff_condition()).order_by(User.unit_id, User.id)
    ).all()


def _eligible_handlers():
    """The people who may be named 承办人 (``models.policies.may_handle``), by unit."""
    return db.session.scalars(
        sa.select(User).where(handlers_clause()).order_by(User.unit_id, User.id)
    ).all()


def _leaders():
    return [user for user in _active_users() if user.has_permission("workflow.instruct")]


def _user_label(user: User) -> str:
    if user.unit is None:
        return user.full_name
    return _("%(name)s（%(detail)s）", name=user.full_name, detail=user.unit.name)


def text(label, required=True, rows=3, description=None):
    validators = [DataRequired(message=REQUIRED)] if required else [Optional()]
    return TextAreaField(label, validators, render_kw={"rows": rows}, description=description or "")


def line(label, required=True, max_length=200, description=None):
    validators = [DataRequired(message=REQUIRED)] if required else [Optional()]
    return StringField(label, [*validators, Length(max=max_length)], description=description or "")


#: Indents a unit under its parent in the unit tree (a full-width space per level).
TREE_INDENT = "\u3000"
STAFFLESS = _l("（无承办人员）")


class UnitTreeField(QuerySelectField):
    """A unit chosen from the unit tree: each unit under its parent, indented. A grouping node
    (a unit with units under it and nobody of its own who may handle) cannot be chosen; with
    ``require_staff`` a unit where nobody may be named 承办人 is marked and refused."""

    def __init__(self, *args, require_staff: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.require_staff = require_staff
        self._tree = None

    def _tree_rows(self):
        """``(rows in tree order as (pk, unit, depth), group ids, handlers per unit id)``."""
        if self._tree is None:
            offered = list(self._get_object_list())
            ids = {unit.id for _pk, unit in offered}
            children: dict[int | None, list] = {}
            for pk, unit in offered:
                parent = unit.parent_id if unit.parent_id in ids else None
                children.setdefault(parent, []).append((pk, unit))
            counts = handler_counts()
            groups = {
                unit.id for _pk, unit in offered if unit.id in children and not counts.get(unit.id)
            }
            rows: list = []
            placed: set[int] = set()

            def walk(parent, depth):
                for pk, unit in children.get(parent, []):
                    if unit.id not in placed:
                        placed.add(unit.id)
                        rows.append((pk, unit, depth))
                        walk(unit.id, depth + 1)

            walk(None, 0)
            # A unit whose parents loop back to it has no root: listed at the top level.
            rows += [(pk, unit, 0) for pk, unit in offered if unit.id not in placed]
            self._tree = (rows, groups, counts)
        return self._tree

    def iter_choices(self):
        if self.allow_blank:
            yield ("__None", self.blank_text, self.data is None, {})
        rows, groups, counts = self._tree_rows()
        for pk, unit, depth in rows:
            label = TREE_INDENT * depth + str(self.get_label(unit))
            render_kw = {}
            if unit.id in groups:
                render_kw["disabled"] = True
            elif self.require_staff and not counts.get(unit.id):
                label += str(STAFFLESS)
                render_kw["data-staffless"] = "1"
            yield (pk, label, unit == self.data, render_kw)

    def pre_validate(self, form) -> None:
        super().pre_validate(form)
        unit = self.data
        if unit is None:
            return
        _rows, groups, counts = self._tree_rows()
        if unit.id in groups:
            raise ValidationError(
                _("“%(unit)s”是分组，不能选作承办单位，请选择其下的具体单位", unit=unit.name)
            )
        if self.require_staff and not counts.get(unit.id):
            raise ValidationError(
                _(
                    "“%(unit)s”没有可以承办事项的人员（无承办人员），不能交给该单位办理。"
                    "请选择其他单位，或请管理员先为该单位添加承办人员",
                    unit=unit.name,
                )
            )

    def selectable(self, unit) -> bool:
        """May ``unit`` be preselected (a routing rule's choice)?"""
        _rows, groups, counts = self._tree_rows()
        return unit.id not in groups and (not self.require_staff or bool(counts.get(unit.id)))


class HandlerField(QuerySelectField):
    """承办人: only people who may handle; each option names its unit (``data-unit``), so the
    page offers the chosen unit's people only (static/js/unit_pickers.js). The server checks the
    same (``handler_in_chosen_unit``)."""

    def iter_choices(self):
        if self.allow_blank:
            yield ("__None", self.blank_text, self.data is None, {})
        for pk, user in self._get_object_list():
            yield (
                pk,
                self.get_label(user),
                user == self.data,
                {"data-unit": str(user.unit_id or "")},
            )

    def pre_validate(self, form) -> None:
        try:
            super().pre_validate(form)
        except ValidationError:
            posted = str(self._formdata or "")
            person = db.session.get(User, int(posted)) if posted.isdigit() else None
            if person is not None and len(posted) < 10:
                raise ValidationError(
                    _("%(name)s 的角色不能承办事项，请选择其他承办人", name=str(person))
                ) from None
            raise


def handler_in_chosen_unit(form, field) -> None:
    """Inline validator of ``handler``: the person works in the chosen 承办单位."""
    unit = form.handling_unit.data
    person = field.data
    if person is not None and unit is not None and person.unit_id != unit.id:
        raise ValidationError(
            _(
                "%(name)s 不是“%(unit)s”的人员，请选择该单位的承办人",
                name=str(person),
                unit=unit.name,
            )
        )


def unit_field(label, required=True, query=_handling_units):
    return QuerySelectField(
        label,
        query_factory=query,
        allow_blank=not required,
        blank_text="——",
        validators=[DataRequired(message=REQUIRED)] if required else [Optional()],
    )


def handling_unit_field(label=None, *, require_staff=True, query=_handling_units):
    """The unit tree of 批示, 交办 and 转办: nothing preselected, searchable (select2)."""
    return UnitTreeField(
        label or _l("承办单位"),
        query_factory=query,
        allow_blank=True,
        blank_text=_l("——请选择——"),
        require_staff=require_staff,
        validators=[DataRequired(message=REQUIRED)],
        render_kw={"data-handler-field": "handler"} if require_staff else {},
    )


def handler_field(label=None):
    return HandlerField(
        label or _l("承办人"),
        query_factory=_eligible_handlers,
        get_label=_user_label,
        allow_blank=True,
        blank_text="——",
        validators=[Optional()],
        description=_l("只列出所选承办单位中可以承办的人员；可不选，由该单位签收"),
    )


def user_field(label, required=False, query=_active_users):
    return QuerySelectField(
        label,
        query_factory=query,
        get_label=_user_label,
        allow_blank=not required,
        blank_text="——",
        validators=[DataRequired(message=REQUIRED)] if required else [Optional()],
    )


def due_field():
    return DateField(
        _l("办理期限"),
        [Optional()],
        description=_l("批示或上级明确了期限时填写，优先于规则计算的期限"),
    )


def review_fields():
    return {
        "requested_on": DateField(_l("申请日期"), [Optional()]),
        "reason": text(_l("申请理由")),
    }


def opinion_fields(label):
    return {
        "opinion": text(label, rows=4),
        "upheld": BooleanField(_l("维持原处理意见"), default=True),
    }


#: step code -> {field name: unbound field}
STEP_FIELDS = {
    "accept": lambda: {"note": text(_l("备注"), required=False)},
    "not_accept": lambda: {
        "reason": text(_l("不予受理的理由")),
        "legal_route": line(
            _l("告知的法定途径或有权处理的机关"),
            description=_l("如：向人民法院提起诉讼；申请仲裁；申请行政复议"),
        ),
    },
    "no_longer_accept": lambda: {
        "reason": text(
            _l("不再受理的理由"), description=_l("如：已复核终结；无正当理由逾期未申请复查")
        )
    },
    "keep": lambda: {
        "region": line(_l("存信地区"), max_length=60),
        "year": IntegerField(_l("年份"), [DataRequired(message=REQUIRED)]),
        "related_number": line(_l("关联的已答复事项编号"), required=False, max_length=40),
        "note": text(_l("备注"), required=False, rows=2),
    },
    "answer_on_spot": lambda: {
        "method": SelectField(
            _l("答复方式"), choices=ReplyMethod.choices(), default=ReplyMethod.on_site.value
        ),
        "answer": text(_l("答复内容"), rows=4),
    },
    "propose": lambda: {"proposal": text(_l("拟办意见"), rows=4)},
    "send_for_reading": lambda: {
        "leader": user_field(_l("送阅领导"), query=_leaders),
        "note": text(_l("备注"), required=False, rows=2),
    },
    "instruct": lambda: {
        "instruction": text(_l("批示内容"), rows=4),
        "handling_unit": handling_unit_field(),
        "handler": handler_field(),
        "validate_handler": handler_in_chosen_unit,
        "due_on": due_field(),
        "supervised": BooleanField(_l("督办（填发督办卡）")),
    },
    "routed": lambda: {},
    "assign": lambda: {
        "handling_unit": handling_unit_field(),
        "handler": handler_field(),
        "validate_handler": handler_in_chosen_unit,
        "due_on": due_field(),
        "supervised": BooleanField(_l("督办（填发督办卡）")),
        "note": text(_l("交办意见"), required=False, rows=2),
    },
    "acknowledge": lambda: {},
    "add_assistant": lambda: {
        # Anyone who may handle cases, in any unit (协办 often crosses units).
        "assistant": user_field(_l("协办人"), required=True, query=_eligible_handlers),
        "note": text(_l("说明"), required=False, rows=2),
    },
    "out_of_scope": lambda: {
        "reason": text(_l("不属本单位职责范围的理由")),
        "forwarding_unit": unit_field(_l("原批转单位"), required=False, query=_active_units),
    },
    "transfer": lambda: {
        "target_unit": handling_unit_field(
            _l("转送机关或单位"), require_staff=False, query=_active_units
        ),
        "reason": text(_l("转办理由")),
        "petitioner_informed": BooleanField(_l("已告知信访人")),
        "informed_how": line(_l("告知方式"), required=False, max_length=100),
    },
    "return_to_sender": lambda: {
        "returned_to": line(_l("退回对象（来信人或原批转单位）"), max_length=100),
        "reason": text(_l("退回理由")),
        "suggested_destination": line(
            _l("建议转往（有权处理的机关或单位）"), required=False, max_length=100
        ),
    },
    "investigate": lambda: {
        "findings": text(_l("调查核实情况"), rows=5),
        "responsible_unit": line(_l("责任单位"), required=False, max_length=100),
        "needs_rectification": BooleanField(_l("责任单位须报送书面整改方案")),
    },
    "urge": lambda: {"note": text(_l("催办意见"), required=False, rows=2)},
    "interim_report": lambda: {
        "reason": text(_l("不能按期办结的原因")),
        "difficulties": text(_l("需领导协调的困难"), required=False),
        "amount": IntegerField(
            _l("申请延长办理期限"),
            [Optional(), NumberRange(min=1, max=365, message=_l("须为正整数"))],
            description=_l(
                "需要新的期限时填写（按承办时限的单位计），报领导审批；中途报告同时通知办公室和领导"
            ),
        ),
    },
    "request_extension": lambda: {
        "clock": SelectField(_l("延期的时限"), choices=[]),
        "amount": IntegerField(
            _l("延期时长"),
            [DataRequired(message=REQUIRED), NumberRange(min=1, max=365, message=_l("须为正整数"))],
        ),
        "reason": text(_l("延期理由（将告知信访人）")),
    },
    "decide_extension": lambda: {
        "approved": RadioField(
            _l("审批结果"),
            choices=[("1", _l("同意延期")), ("0", _l("不同意"))],
            default="1",
        ),
        "amount": IntegerField(_l("批准延期时长（不填则按申请）"), [Optional()]),
        "note": text(_l("审批意见"), required=False, rows=2),
    },
    "pause_clock": lambda: {"reason": text(_l("暂停计时的原因"))},
    "resume_clock": lambda: {"note": text(_l("备注"), required=False, rows=2)},
    "report_result": lambda: {
        "facts": text(_l("查明的事实"), rows=5),
        "decision": text(_l("对每项诉求的处理意见"), rows=5),
        # The choices are the case's possible signers (policies.result_signers), set per case.
        "signed_by": QuerySelectField(
            _l("签字的分管领导"),
            query_factory=lambda: [],
            get_label=_user_label,
            allow_blank=True,
            blank_text="——",
            validators=[Optional()],
            description=_l("承办单位负责人或领导；该领导没有系统账号时，在下一栏填写其姓名"),
        ),
        "signer_name": line(_l("签字领导姓名（无系统账号时）"), required=False, max_length=50),
        "reported_to_office_on": DateField(
            _l("报送办公室日期"), [Optional()], description=_l("不填则为今天")
        ),
    },
    "approve_result": lambda: {"note": text(_l("审核意见"), required=False, rows=2)},
    "send_back": lambda: {"reason": text(_l("退回重办的理由"))},
    "reply": lambda: {
        "method": SelectField(_l("答复方式"), choices=ReplyMethod.choices()),
        "recipient": line(
            _l("答复对象"), required=False, description=_l("不填则为信访人（登记的姓名）")
        ),
        "replied_at": LocalDateTimeField(_l("答复时间"), [Optional(), NotInFuture()]),
        "text": text(_l("答复内容"), rows=5),
    },
    "send_reply": lambda: {
        "kind": SelectField(
            _l("答复类型"),
            choices=[
                (kind.value, kind.title)
                for kind in (ReplyKind.interim, ReplyKind.remedial_plan, ReplyKind.superior)
            ],
            description=_l("正式答复在报结审核后使用“答复”；中途报告是内部报告，不告知信访人"),
        ),
        "recipient": line(
            _l("答复对象"),
            required=False,
            description=_l("不填：回复上级为“上级单位”，其他为信访人（登记的姓名）"),
        ),
        "method": SelectField(_l("答复方式"), choices=ReplyMethod.choices()),
        "replied_at": LocalDateTimeField(_l("答复时间"), [Optional(), NotInFuture()]),
        "text": text(_l("答复内容"), rows=5),
    },
    "log_contact": lambda: {
        "method": SelectField(_l("联系方式"), choices=ContactMethod.choices()),
        "contacted_at": LocalDateTimeField(_l("联系时间"), [Optional(), NotInFuture()]),
        "person": line(
            _l("联系对象"),
            required=False,
            max_length=100,
            description=_l("不填则为信访人（登记的姓名）"),
        ),
        "summary": text(_l("联系内容（告知了什么、对方说了什么）"), rows=4),
        "result": text(_l("结果"), required=False, rows=2),
    },
    "close": lambda: {"opinion": text(_l("办结意见"))},
    "request_review": review_fields,
    "answer_review": lambda: opinion_fields(_l("复查意见")),
    "request_re_review": review_fields,
    "answer_re_review": lambda: opinion_fields(_l("复核意见")),
    "archive": lambda: {"volume": line(_l("卷宗号"), required=False, max_length=60)},
    "reopen": lambda: {"reason": text(_l("重新办理的理由"))},
    "destroy": lambda: {"batch": line(_l("销毁批次"), required=False, max_length=60)},
    "merge": lambda: {
        "into_number": line(_l("并入的事项编号"), max_length=40),
        "reason": text(_l("合并理由")),
    },
    "split": lambda: {
        "units": QuerySelectMultipleField(
            _l("拆分给以下承办单位（每个单位一个子事项）"),
            query_factory=_handling_units,
            validators=[DataRequired(message=REQUIRED)],
        ),
        "note": text(_l("说明"), required=False, rows=2),
    },
}


def step_form(code: str, formdata=None):
    """A bound form for step ``code`` with the case version the user saw."""
    fields = STEP_FIELDS[code]()
    fields["expected_version"] = HiddenField()
    form_class = type(f"{code.title().replace('_', '')}Form", (CheckedForm,), fields)
    return form_class(formdata=formdata)


def step_inputs(code: str, form) -> dict:
    """The form's data as keyword arguments for the step function."""
    data = {
        name: field.data
        for name, field in form._fields.items()
        if name not in ("csrf_token", "expected_version")
    }
    if code == "decide_extension":
        data["approved"] = data.get("approved") == "1"
    if code in ("reply", "send_reply", "answer_on_spot") and data.get("method"):
        data["method"] = ReplyMethod(data["method"])
    for key, value in list(data.items()):
        if isinstance(value, str):
            data[key] = value.strip()
    return data
