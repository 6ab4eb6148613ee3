"""Routing rules (分派规则): which unit a new matter goes to, chosen by its category, channel,
priority and the values of the administrator-defined fields.

Rules are tried in ``sort_order`` (then id); the **first** active rule whose conditions all hold
wins. An explicit order is easier to read on the settings screen than a specificity score, and
lets an administrator put a narrow rule ("住院 complaints → 医务科") above a broad one ("all
complaints → 门诊部") on purpose. Each condition left empty means "any".

A rule fires at registration or at acceptance (``moment``) and either only suggests its unit
(the 批示 / 交办 / 转办 forms preselect it) or hands the case over at once (``action``). The
engine is ``models.operations.workflow.routing.route_case``.

The deadline of the handling clock is not part of a rule: the deadline rules already match on
category, priority and channel, so a rule that sets the priority also selects the deadline.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .categories import Category
from .enums import (
    CaseChannel,
    CasePriority,
    CategoryKind,
    CustomFieldType,
    RoutingAction,
    RoutingMoment,
    enum_column,
)
from .mixins import TimestampMixin
from .units import Unit
from .users import User

#: A custom field key: what ``Case.custom_values`` is keyed by.
FIELD_KEY_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,59}$")
#: How deep a category tree may go before the ancestor walk gives up (guards a cycle).
MAX_CATEGORY_DEPTH = 20


def custom_value_text(value) -> str:
    """A custom field value as the text a rule compares it with.

    The one normalisation of ``Case.custom_values`` for rules: a choice is its text ("住院"),
    yes/no is 是 / 否, a number is written without a trailing ".0", a person is the user id,
    dates are their ISO text; surrounding blanks never count.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


class RoutingRule(TimestampMixin, db.Model):
    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    #: Smaller first; the first matching rule wins.
    sort_order: Mapped[int] = mapped_column(default=100, nullable=False)
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)
    moment: Mapped[RoutingMoment] = mapped_column(
        enum_column(RoutingMoment, "routing_moment"), default=RoutingMoment.registration
    )
    action: Mapped[RoutingAction] = mapped_column(
        enum_column(RoutingAction, "routing_action"), default=RoutingAction.suggest
    )

    # Conditions; empty means "any".
    #: The category or any category below it.
    category_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("categories.id", ondelete="CASCADE"), index=True
    )
    category_kind: Mapped[CategoryKind | None] = mapped_column(
        enum_column(CategoryKind, "category_kind")
    )
    channel: Mapped[CaseChannel | None] = mapped_column(enum_column(CaseChannel, "case_channel"))
    priority: Mapped[CasePriority | None] = mapped_column(
        enum_column(CasePriority, "case_priority")
    )
    #: A key of ``Case.custom_values`` and the text its value must equal (see custom_value_text).
    field_key: Mapped[str | None] = mapped_column(sa.String(60))
    field_value: Mapped[str | None] = mapped_column(sa.String(200))

    # What the rule does.
    unit_id: Mapped[int] = mapped_column(
        sa.ForeignKey("units.id", ondelete="CASCADE"), index=True, nullable=False
    )
    handler_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    #: The priority the case gets when the rule fires; empty keeps it.
    set_priority: Mapped[CasePriority | None] = mapped_column(
        enum_column(CasePriority, "set_priority")
    )
    note: Mapped[str | None] = mapped_column(sa.String(200))

    category = relationship("Category", lazy="select")
    unit = relationship("Unit", lazy="select")
    handler = relationship("User", lazy="select")

    def __str__(self) -> str:
        return self.name

    def matches(self, case) -> bool:
        """Whether every condition of the rule holds for ``case``."""
        if self.category_id is not None and not _within(case.category, self.category_id):
            return False
        if self.category_kind is not None and (
            case.category is None or case.category.kind != self.category_kind
        ):
            return False
        if self.channel is not None and case.channel != self.channel:
            return False
        if self.priority is not None and case.priority != self.priority:
            return False
        if self.field_key:
            values = case.custom_values or {}
            if self.field_key not in values:
                return False
            wanted = custom_value_text(self.field_value)
            if wanted and custom_value_text(values[self.field_key]) != wanted:
                return False
        return True

    def conditions_text(self) -> str:
        """The conditions in one Chinese line, for the settings list and the timeline."""
        parts = []
        if self.category is not None:
            parts.append(_("分类：%(name)s（含下级）", name=self.category.name))
        if self.category_kind is not None:
            parts.append(_("性质：%(kind)s", kind=self.category_kind.title))
        if self.channel is not None:
            parts.append(_("渠道：%(channel)s", channel=self.channel.title))
        if self.priority is not None:
            parts.append(_("紧急程度：%(priority)s", priority=self.priority.title))
        if self.field_key:
            value = self.field_value or _("（任何值）")
            parts.append(f"{self.field_key} = {value}")
        return "；".join(parts) or _("全部事项")


def _within(category: Category | None, ancestor_id: int) -> bool:
    for _depth in range(MAX_CATEGORY_DEPTH):
        if category is None:
            return False
        if category.id == ancestor_id:
            return True
        category = category.parent
    return False


def check_routing_rule(rule: RoutingRule) -> None:
    """Refuse a rule that cannot work, with a Chinese message on the offending field."""
    from .operations import ValidationFailed

    if not (rule.name or "").strip():
        raise ValidationFailed(_("请填写规则名称"), field="name")
    rule.name = rule.name.strip()
    duplicate = db.session.scalar(
        sa.select(RoutingRule.id).where(
            RoutingRule.name == rule.name, RoutingRule.id != (rule.id or 0)
        )
    )
    if duplicate:
        raise ValidationFailed(_("已有同名的分派规则"), field="name")
    unit = rule.unit or (db.session.get(Unit, rule.unit_id) if rule.unit_id else None)
    if unit is None:
        raise ValidationFailed(_("请选择承办单位"), field="unit")
    handler = rule.handler or (db.session.get(User, rule.handler_id) if rule.handler_id else None)
    if handler is not None and handler.unit_id != unit.id:
        raise ValidationFailed(_("承办人须是“%(unit)s”的人员", unit=unit.name), field="handler")
    key = (rule.field_key or "").strip()
    value = (rule.field_value or "").strip()
    if key and not FIELD_KEY_PATTERN.match(key):
        raise ValidationFailed(
            _("字段代码须以字母开头，只含字母、数字和下划线（不超过60个字符）"),
            field="field_key",
        )
    if value and not key:
        raise ValidationFailed(_("填写了字段值，请同时填写字段代码"), field="field_key")
    _check_field_value(key, value)
    rule.field_key = key or None
    rule.field_value = value or None
    if rule.sort_order is None:
        rule.sort_order = 100


def _check_field_value(key: str, value: str) -> None:
    """A value a defined choice or yes/no field can never hold would make the rule dead."""
    from .custom_fields import CustomField
    from .operations import ValidationFailed

    field = db.session.scalar(sa.select(CustomField).where(CustomField.key == key)) if key else None
    if field is None or not value:
        return
    if field.field_type == CustomFieldType.choice:
        allowed = [str(choice) for choice in field.choices or []]
    elif field.field_type == CustomFieldType.boolean:
        allowed = ["是", "否"]
    else:
        return
    if value not in allowed:
        raise ValidationFailed(
            _(
                "“%(value)s”不是“%(label)s”的可选值，请填写：%(allowed)s",
                value=value,
                label=field.label,
                allowed=" / ".join(allowed),
            ),
            field="field_value",
        )


# --- configuration export / import (models.maintenance.configuration) ---------------------

_ENUMS = {
    "moment": RoutingMoment,
    "action": RoutingAction,
    "category_kind": CategoryKind,
    "channel": CaseChannel,
    "priority": CasePriority,
    "set_priority": CasePriority,
}


def export_routing_rules() -> list[dict]:
    """Every rule as a plain dict: unit by name, category by code, no handler (users never
    travel between installations)."""
    rules = db.session.scalars(
        sa.select(RoutingRule).order_by(RoutingRule.sort_order, RoutingRule.id)
    ).all()
    items = []
    for rule in rules:
        item = {
            "name": rule.name,
            "sort_order": rule.sort_order,
            "is_active": rule.is_active,
            "category": rule.category.code if rule.category is not None else None,
            "field_key": rule.field_key,
            "field_value": rule.field_value,
            "unit": rule.unit.name,
            "note": rule.note,
        }
        for key in _ENUMS:
            value = getattr(rule, key)
            item[key] = value.value if value is not None else None
        items.append(item)
    return items


def apply_routing_rules(items: list[dict]) -> None:
    """Make the rules those of ``items``: update by name, add the new ones, delete the others.

    A unit or category that does not exist, or a bad value, raises ``ValidationFailed`` naming
    the rule, before anything of the rule is kept (the caller rolls back). Flushes, never commits.
    """
    from .operations import ValidationFailed

    existing = {rule.name: rule for rule in db.session.scalars(sa.select(RoutingRule))}
    wanted = set()
    for item in items:
        name = str(item.get("name") or "").strip()
        rule = existing.get(name) or RoutingRule(name=name)
        try:
            _fill_rule(rule, item)
            check_routing_rule(rule)
        except (ValueError, KeyError) as error:
            raise ValidationFailed(
                _("分派规则“%(name)s”有误：%(error)s", name=name, error=error)
            ) from error
        except ValidationFailed as error:
            raise ValidationFailed(
                _("分派规则“%(name)s”有误：%(error)s", name=name, error=error), field=error.field
            ) from error
        wanted.add(rule.name)
        db.session.add(rule)
    for name, rule in existing.items():
        if name not in wanted:
            db.session.delete(rule)
    db.session.flush()


def _fill_rule(rule: RoutingRule, item: dict) -> None:
    unit = db.session.scalar(sa.select(Unit).where(Unit.name == item.get("unit")))
    if unit is None:
        raise ValueError(_("没有名为“%(unit)s”的单位", unit=item.get("unit")))
    category = None
    if item.get("category"):
        category = db.session.scalar(sa.select(Category).where(Category.code == item["category"]))
        if category is None:
            raise ValueError(_("没有代码为“%(code)s”的分类", code=item["category"]))
    if rule.handler is not None and rule.handler.unit_id != unit.id:
        # The handler is local (users never travel); it stays only while it fits the unit.
        rule.handler = None
    rule.unit = unit
    rule.category = category
    try:
        rule.sort_order = int(item.get("sort_order", 100))
    except (TypeError, ValueError):
        raise ValueError(_("排序须为整数")) from None
    rule.is_active = bool(item.get("is_active", True))
    rule.field_key = item.get("field_key") or None
    rule.field_value = item.get("field_value") or None
    rule.note = item.get("note") or None
    for key, enum_cls in _ENUMS.items():
        value = item.get(key)
        if value in (None, ""):
            if key in ("moment", "action"):
                value = {"moment": RoutingMoment.registration, "action": RoutingAction.suggest}[key]
                setattr(rule, key, value)
            else:
                setattr(rule, key, None)
        elif value not in enum_cls._value2member_map_:
            raise ValueError(_("“%(value)s”不是可选的值", value=value))
        else:
            setattr(rule, key, enum_cls(value))
