"""The whole configuration as one readable file: export, compare, import (all or nothing).

A registry of sections (units, roles, categories, settings, vocabulary, deadline and escalation
rules, document wording, custom fields, routing rules). Each section has a key, a Chinese title,
``export() -> list[dict]`` (plain JSON values; references by natural keys: a unit by name, a
category by code, a role by code, never a user or a row id) and ``apply(items)`` (make the
database say what the items say; flush, never commit).

``apply_configuration`` validates the whole file first, then applies every section inside one
savepoint: any error leaves the database exactly as it was and raises ``ValidationFailed`` with
a Chinese message. The caller (the import screen) commits.

Custom fields and routing rules keep their export and apply functions beside their models
(models/custom_fields.py, models/routing.py); the registry lists them like the others.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _

from models.texts import lazy_gettext as _l

from .. import db
from ..categories import Category
from ..custom_fields import apply_custom_fields, export_custom_fields
from ..deadlines import DeadlineRule, EscalationRule
from ..documents import DocumentTemplate
from ..enums import (
    CaseChannel,
    CasePriority,
    CategoryKind,
    Clock,
    DocumentKind,
    EscalationTrigger,
    OutOfScopePolicy,
    TimeUnit,
    UnitKind,
)
from ..operations import ValidationFailed
from ..operations.retention import apply_retention_rules
from ..permissions import PERMISSIONS
from ..retention import export_retention_rules
from ..routing import apply_routing_rules, export_routing_rules
from ..settings import DEFAULT_SETTINGS, SystemSetting
from ..units import Unit
from ..users import Role
from ..vocabulary import (
    MAX_WORD_CHARS,
    VOCABULARY_SETTING,
    dump_vocabulary,
    forget_vocabulary,
    parse_vocabulary,
)

FORMAT = "xinfangtong-configuration"
VERSION = 1
#: Upload limit of a configuration file.
MAX_FILE_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class Section:
    key: str
    title: object
    export: Callable[[], list[dict]]
    apply: Callable[[list[dict]], None]
    #: Field that names an item (unit name, category code …).
    natural_key: str
    #: Checks the items against the whole file before anything changes (raises).
    validate: Callable[[list[dict], dict], None] | None = None


# --- small helpers ----------------------------------------------------------------------------


def deadline_rule_from_item(item: dict, categories: dict[str, Category]) -> DeadlineRule | None:
    """A rule row from an item; ``None`` when its category (by code) does not exist here."""
    category = None
    if item.get("category"):
        category = categories.get(item["category"])
        if category is None:
            return None
    return DeadlineRule(
        name=item["name"],
        clock=Clock(item["clock"]),
        amount=item["amount"],
        unit=TimeUnit(item["unit"]),
        max_extension=item.get("max_extension"),
        max_extension_count=item.get("max_extension_count"),
        category=category,
        category_kind=_member(CategoryKind, item.get("category_kind")),
        priority=_member(CasePriority, item.get("priority")),
        channel=_member(CaseChannel, item.get("channel")),
        is_active=item.get("is_active", True),
        note=item.get("note"),
    )


def escalation_rule_from_item(item: dict) -> EscalationRule:
    return EscalationRule(
        name=item["name"],
        level=item.get("level", 1),
        clock=_member(Clock, item.get("clock")),
        trigger=EscalationTrigger(item["trigger"]),
        threshold=item.get("threshold", 0),
        recipient_role=item["recipient_role"],
        same_unit_only=bool(item.get("same_unit_only", False)),
        is_active=item.get("is_active", True),
    )


def _member(enum, value):
    return None if value in (None, "") else enum(value)


def categories_by_code() -> dict[str, Category]:
    return {
        category.code: category
        for category in db.session.scalars(sa.select(Category).where(Category.code.is_not(None)))
    }


def set_setting(key: str, value: str, description: str | None = None) -> SystemSetting:
    """Create or change one setting row (flush, no commit)."""
    row = db.session.get(SystemSetting, key)
    if row is None:
        if description is None and key in DEFAULT_SETTINGS:
            description = str(DEFAULT_SETTINGS[key][1])
        row = SystemSetting(key=key, value=value, description=description)
        db.session.add(row)
    else:
        row.value = value
    db.session.info.get("system_settings", {}).pop(key, None)
    if key == VOCABULARY_SETTING:
        forget_vocabulary()
    db.session.flush()
    return row


def _fail(section_title, message: str, item=None) -> ValidationFailed:
    where = str(section_title)
    if item is not None:
        where += f"“{item}”"
    return ValidationFailed(
        _("配置文件有误（%(where)s）：%(message)s", where=where, message=message)
    )


def _enum(section, item_name, enum, value, label, *, optional=True):
    if value in (None, "") and optional:
        return None
    try:
        return enum(value)
    except ValueError:
        raise _fail(
            section,
            _("%(label)s“%(value)s”不是可用的取值", label=label, value=value),
            item_name,
        ) from None


def _text(section, item, field, label, *, required=True, limit=200):
    value = item.get(field)
    if value is None or value == "":
        if required:
            raise _fail(section, _("缺少%(label)s", label=label), item.get("name"))
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise _fail(
            section,
            _("%(label)s须为不超过%(limit)s个字的文字", label=label, limit=limit),
            item.get("name"),
        )
    return value


def _integer(section, item, field, label, *, required=True, minimum=0):
    value = item.get(field)
    if value is None:
        if required:
            raise _fail(section, _("缺少%(label)s", label=label), item.get("name"))
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(
            section,
            _("%(label)s须为不小于%(minimum)s的整数", label=label, minimum=minimum),
            item.get("name"),
        )
    return value


def _flag(section, item, field, label):
    if item.get(field) is not None and not isinstance(item.get(field), bool):
        raise _fail(section, _("%(label)s须为 true 或 false", label=label), item.get("name"))


def _unique(section, items, key):
    seen = set()
    for item in items:
        if item.get(key) in seen:
            raise _fail(section, _("“%(name)s”重复出现", name=item.get(key)))
        seen.add(item.get(key))


def _names(data: dict, section: str, key: str) -> set:
    return {item.get(key) for item in data.get("sections", {}).get(section, [])}


# --- units ------------------------------------------------------------------------------------

UNITS = _l("单位与部门")


def export_units() -> list[dict]:
    units = db.session.scalars(sa.select(Unit).order_by(Unit.sort_order, Unit.id)).all()
    return [
        {
            "name": unit.name,
            "short_name": unit.short_name,
            "kind": unit.kind.value,
            "doc_code": unit.doc_code,
            "parent": unit.parent.name if unit.parent else None,
            "contact_phone": unit.contact_phone,
            "address": unit.address,
            "sort_order": unit.sort_order,
            "is_active": unit.is_active,
            "out_of_scope_policy": unit.out_of_scope_policy.value
            if unit.out_of_scope_policy
            else None,
        }
        for unit in units
    ]


def validate_units(items: list[dict], data: dict) -> None:
    _unique(UNITS, items, "name")
    names = {item.get("name") for item in items}
    for item in items:
        name = _text(UNITS, item, "name", _("名称"), limit=100)
        _enum(UNITS, name, UnitKind, item.get("kind"), _("类型"), optional=False)
        _enum(UNITS, name, OutOfScopePolicy, item.get("out_of_scope_policy"), _("职责外事项处理"))
        _text(UNITS, item, "doc_code", _("机关代字"), required=False, limit=20)
        _text(UNITS, item, "short_name", _("简称"), required=False, limit=40)
        _text(UNITS, item, "contact_phone", _("联系电话"), required=False, limit=32)
        _text(UNITS, item, "address", _("地址"), required=False, limit=200)
        _flag(UNITS, item, "is_active", _("启用"))
        _integer(UNITS, item, "sort_order", _("排序"), required=False)
        parent = item.get("parent")
        if parent is not None and (parent not in names or parent == name):
            raise _fail(UNITS, _("上级单位“%(parent)s”不在文件中", parent=parent), name)


def apply_units(items: list[dict]) -> None:
    existing = {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}
    for item in items:
        unit = existing.get(item["name"])
        if unit is None:
            unit = existing[item["name"]] = Unit(name=item["name"])
            db.session.add(unit)
        unit.short_name = item.get("short_name")
        unit.kind = UnitKind(item["kind"])
        unit.doc_code = item.get("doc_code")
        unit.contact_phone = item.get("contact_phone")
        unit.address = item.get("address")
        unit.sort_order = item.get("sort_order") or 0
        unit.is_active = item.get("is_active", True)
        unit.out_of_scope_policy = (
            OutOfScopePolicy(item["out_of_scope_policy"])
            if item.get("out_of_scope_policy")
            else None
        )
    db.session.flush()
    listed = {item["name"] for item in items}
    for item in items:
        existing[item["name"]].parent = existing[item["parent"]] if item.get("parent") else None
    # Units carry cases and users: those missing from the file are switched off, not deleted.
    for name, unit in existing.items():
        if name not in listed:
            unit.is_active = False
    db.session.flush()


# --- roles ------------------------------------------------------------------------------------

ROLES = _l("角色与权限")


def export_roles() -> list[dict]:
    return [
        {
            "code": role.code,
            "name": role.name,
            "description": role.description,
            "permissions": sorted(role.permissions or []),
        }
        for role in db.session.scalars(sa.select(Role).order_by(Role.code))
    ]


def validate_roles(items: list[dict], data: dict) -> None:
    _unique(ROLES, items, "code")
    _unique(ROLES, items, "name")
    for item in items:
        code = _text(ROLES, item, "code", _("代码"), limit=40)
        _text(ROLES, item, "name", _("名称"), limit=80)
        permissions = item.get("permissions")
        if not isinstance(permissions, list):
            raise _fail(ROLES, _("权限须为列表"), code)
        unknown = [p for p in permissions if p not in PERMISSIONS]
        if unknown:
            raise _fail(ROLES, _("没有“%(name)s”这项权限", name=unknown[0]), code)
    # Roles the file leaves out stay; none of them may already carry a name the file uses.
    listed = {item["code"] for item in items}
    kept = {
        role.name: role.code
        for role in db.session.scalars(sa.select(Role))
        if role.code not in listed
    }
    for item in items:
        if item["name"] in kept:
            raise _fail(
                ROLES,
                _(
                    "名称“%(name)s”已被角色“%(code)s”使用",
                    name=item["name"],
                    code=kept[item["name"]],
                ),
                item["code"],
            )


def apply_roles(items: list[dict]) -> None:
    roles = {role.code: role for role in db.session.scalars(sa.select(Role))}
    # Two steps, so that two roles may swap names without tripping the unique name.
    for role in roles.values():
        if any(item["code"] == role.code for item in items):
            role.name = f"~{role.code}"
    db.session.flush()
    for item in items:
        role = roles.get(item["code"])
        if role is None:
            role = Role(code=item["code"])
            db.session.add(role)
        role.name = item["name"]
        role.description = item.get("description")
        role.permissions = sorted(item.get("permissions") or [])
    db.session.flush()


# --- categories -------------------------------------------------------------------------------

CATEGORIES = _l("事项分类")


def _category_key(category: Category) -> str:
    return category.code or category.name


def export_categories() -> list[dict]:
    categories = db.session.scalars(
        sa.select(Category).order_by(Category.sort_order, Category.id)
    ).all()
    return [
        {
            "code": category.code,
            "name": category.name,
            "kind": category.kind.value,
            "parent": _category_key(category.parent) if category.parent else None,
            "description": category.description,
            "sort_order": category.sort_order,
            "is_active": category.is_active,
        }
        for category in categories
    ]


def validate_categories(items: list[dict], data: dict) -> None:
    for item in items:
        if not item.get("code"):
            raise _fail(CATEGORIES, _("缺少代码"), item.get("name"))
    _unique(CATEGORIES, items, "code")
    codes = {item["code"] for item in items}
    for item in items:
        code = _text(CATEGORIES, item, "code", _("代码"), limit=20)
        _text(CATEGORIES, item, "name", _("名称"), limit=100)
        _enum(CATEGORIES, code, CategoryKind, item.get("kind"), _("性质"), optional=False)
        _integer(CATEGORIES, item, "sort_order", _("排序"), required=False)
        _text(CATEGORIES, item, "description", _("说明"), required=False, limit=2000)
        _flag(CATEGORIES, item, "is_active", _("启用"))
        parent = item.get("parent")
        if parent is not None and (parent not in codes or parent == code):
            raise _fail(CATEGORIES, _("上级分类“%(parent)s”不在文件中", parent=parent), code)


def apply_categories(items: list[dict]) -> None:
    existing = {_category_key(c): c for c in db.session.scalars(sa.select(Category))}
    for item in items:
        category = existing.get(item["code"])
        if category is None:
            category = existing[item["code"]] = Category(code=item["code"], name=item["name"])
            db.session.add(category)
        category.name = item["name"]
        category.kind = CategoryKind(item["kind"])
        category.description = item.get("description")
        category.sort_order = item.get("sort_order") or 0
        category.is_active = item.get("is_active", True)
    db.session.flush()
    listed = {item["code"] for item in items}
    for item in items:
        parent = existing[item["parent"]] if item.get("parent") else None
        existing[item["code"]].parent = parent
    for key, category in existing.items():
        if key not in listed:
            category.is_active = False
    db.session.flush()


# --- settings and vocabulary -------------------------------------------------------------------

SETTINGS = _l("系统设置")
#: Settings kept in their own sections or owned by the installation, not the organisation.
_NOT_EXPORTED = {VOCABULARY_SETTING, "setup_completed"}


def export_settings() -> list[dict]:
    return [
        {"key": row.key, "value": row.value}
        for row in db.session.scalars(sa.select(SystemSetting).order_by(SystemSetting.key))
        if row.key not in _NOT_EXPORTED
    ]


def validate_settings(items: list[dict], data: dict) -> None:
    from ..operations.settings import clean_setting_value

    _unique(SETTINGS, items, "key")
    for item in items:
        key, value = item.get("key"), item.get("value")
        if key not in DEFAULT_SETTINGS:
            raise _fail(SETTINGS, _("没有“%(key)s”这项设置", key=key))
        if not isinstance(value, str):
            raise _fail(SETTINGS, _("值须为文字"), key)
        # The same check as the settings screen (one rule per setting, in SETTING_SPECS).
        try:
            item["value"] = clean_setting_value(key, value)
        except ValidationFailed as error:
            raise _fail(SETTINGS, str(error), key) from None


def apply_settings(items: list[dict]) -> None:
    for item in items:
        set_setting(item["key"], item["value"])


VOCABULARY = _l("称谓")


def export_vocabulary() -> list[dict]:
    row = db.session.get(SystemSetting, VOCABULARY_SETTING)
    pairs = parse_vocabulary(row.value if row else None)
    return [{"standard": standard, "word": word} for standard, word in sorted(pairs.items())]


def validate_vocabulary(items: list[dict], data: dict) -> None:
    _unique(VOCABULARY, items, "standard")
    for item in items:
        for field, label in (("standard", _("标准用语")), ("word", _("本单位用语"))):
            value = item.get(field)
            # "%" and braces would break the message formatting the words are put into.
            if (
                not isinstance(value, str)
                or not value.strip()
                or len(value) > MAX_WORD_CHARS
                or any(mark in value for mark in "%{}<>")
            ):
                raise _fail(
                    VOCABULARY,
                    _(
                        "%(label)s须为1至%(limit)s个字，且不含 %% { } < > 等符号",
                        label=label,
                        limit=MAX_WORD_CHARS,
                    ),
                    item.get("standard"),
                )
    if len(dump_vocabulary({i["standard"]: i["word"] for i in items})) > 500:
        raise _fail(VOCABULARY, _("称谓对照过多"))


def apply_vocabulary(items: list[dict]) -> None:
    pairs = {item["standard"]: item["word"] for item in items if item["standard"] != item["word"]}
    set_setting(VOCABULARY_SETTING, dump_vocabulary(pairs), "称谓")


# --- deadline and escalation rules -----------------------------------------------------------

DEADLINE_RULES = _l("办理时限规则")
ESCALATION_RULES = _l("超期预警规则")


def export_deadline_rules() -> list[dict]:
    rules = db.session.scalars(sa.select(DeadlineRule)).all()
    items = [
        {
            "name": rule.name,
            "clock": rule.clock.value,
            "amount": rule.amount,
            "unit": rule.unit.value,
            "max_extension": rule.max_extension,
            "max_extension_count": rule.max_extension_count,
            "category": _category_key(rule.category) if rule.category else None,
            "category_kind": rule.category_kind.value if rule.category_kind else None,
            "priority": rule.priority.value if rule.priority else None,
            "channel": rule.channel.value if rule.channel else None,
            "is_active": rule.is_active,
            "note": rule.note,
        }
        for rule in rules
    ]
    return sorted(items, key=lambda item: json.dumps(item, ensure_ascii=False, sort_keys=True))


def validate_deadline_rules(items: list[dict], data: dict) -> None:
    categories = _names(data, "categories", "code")
    if "categories" not in data.get("sections", {}):
        categories = {c for c in db.session.scalars(sa.select(Category.code)) if c}
    for item in items:
        name = _text(DEADLINE_RULES, item, "name", _("名称"), limit=100)
        _enum(DEADLINE_RULES, name, Clock, item.get("clock"), _("时限"), optional=False)
        unit = _enum(DEADLINE_RULES, name, TimeUnit, item.get("unit"), _("单位"), optional=False)
        _enum(DEADLINE_RULES, name, CategoryKind, item.get("category_kind"), _("事项性质"))
        _enum(DEADLINE_RULES, name, CasePriority, item.get("priority"), _("缓急程度"))
        _enum(DEADLINE_RULES, name, CaseChannel, item.get("channel"), _("来源渠道"))
        amount = _integer(DEADLINE_RULES, item, "amount", _("时长"), minimum=1)
        _integer(DEADLINE_RULES, item, "max_extension", _("最多延期"), required=False)
        _integer(DEADLINE_RULES, item, "max_extension_count", _("最多延期次数"), required=False)
        _text(DEADLINE_RULES, item, "note", _("备注"), required=False, limit=200)
        _flag(DEADLINE_RULES, item, "is_active", _("启用"))
        if unit == TimeUnit.hours and amount > 24 * 365:
            raise _fail(DEADLINE_RULES, _("以小时计的时限不能超过一年"), name)
        category = item.get("category")
        if category is not None and category not in categories:
            raise _fail(DEADLINE_RULES, _("分类代码“%(code)s”不存在", code=category), name)


def apply_deadline_rules(items: list[dict]) -> None:
    categories = {_category_key(c): c for c in db.session.scalars(sa.select(Category))}
    # Rows are kept where the name matches (running clocks point at them), others replaced.
    rules = _keyed_rows(db.session.scalars(sa.select(DeadlineRule).order_by(DeadlineRule.id)))
    wanted = _keyed(SECTIONS["deadline_rules"], items)
    for key, rule in rules.items():
        if key not in wanted:
            db.session.delete(rule)
    for key, item in wanted.items():
        fresh = deadline_rule_from_item(item, categories)
        rule = rules.get(key)
        if rule is None:
            db.session.add(fresh)
            continue
        for field in _DEADLINE_FIELDS:
            setattr(rule, field, getattr(fresh, field))
    db.session.flush()


_DEADLINE_FIELDS = (
    "name",
    "clock",
    "amount",
    "unit",
    "max_extension",
    "max_extension_count",
    "category",
    "category_kind",
    "priority",
    "channel",
    "is_active",
    "note",
)
_ESCALATION_FIELDS = (
    "name",
    "level",
    "clock",
    "trigger",
    "threshold",
    "recipient_role",
    "same_unit_only",
    "is_active",
)


def _keyed_rows(rows) -> dict:
    keyed: dict = {}
    for row in rows:
        name, count = row.name, 1
        while name in keyed:
            count += 1
            name = f"{row.name} #{count}"
        keyed[name] = row
    return keyed


def export_escalation_rules() -> list[dict]:
    rules = db.session.scalars(
        sa.select(EscalationRule).order_by(EscalationRule.level, EscalationRule.name)
    ).all()
    return [
        {
            "name": rule.name,
            "level": rule.level,
            "clock": rule.clock.value if rule.clock else None,
            "trigger": rule.trigger.value,
            "threshold": rule.threshold,
            "recipient_role": rule.recipient_role,
            "same_unit_only": rule.same_unit_only,
            "is_active": rule.is_active,
        }
        for rule in rules
    ]


def validate_escalation_rules(items: list[dict], data: dict) -> None:
    roles = _names(data, "roles", "code") | set(db.session.scalars(sa.select(Role.code)))
    for item in items:
        name = _text(ESCALATION_RULES, item, "name", _("名称"), limit=100)
        _enum(ESCALATION_RULES, name, Clock, item.get("clock"), _("时限"))
        trigger = _enum(
            ESCALATION_RULES,
            name,
            EscalationTrigger,
            item.get("trigger"),
            _("触发条件"),
            optional=False,
        )
        threshold = _integer(ESCALATION_RULES, item, "threshold", _("阈值"))
        _integer(ESCALATION_RULES, item, "level", _("级别"), required=False, minimum=1)
        _flag(ESCALATION_RULES, item, "same_unit_only", _("仅承办单位内"))
        _flag(ESCALATION_RULES, item, "is_active", _("启用"))
        if trigger == EscalationTrigger.percent_elapsed and not 1 <= threshold <= 100:
            raise _fail(ESCALATION_RULES, _("百分比应在1到100之间"), name)
        if item.get("recipient_role") not in roles:
            raise _fail(
                ESCALATION_RULES,
                _("角色代码“%(code)s”不存在", code=item.get("recipient_role")),
                name,
            )


def apply_escalation_rules(items: list[dict]) -> None:
    # Kept by name: a warning that already fired for a clock does not fire again.
    rules = _keyed_rows(db.session.scalars(sa.select(EscalationRule).order_by(EscalationRule.id)))
    wanted = _keyed(SECTIONS["escalation_rules"], items)
    for key, rule in rules.items():
        if key not in wanted:
            db.session.delete(rule)
    for key, item in wanted.items():
        fresh = escalation_rule_from_item(item)
        rule = rules.get(key)
        if rule is None:
            db.session.add(fresh)
            continue
        for field in _ESCALATION_FIELDS:
            setattr(rule, field, getattr(fresh, field))
    db.session.flush()


# --- document wording -------------------------------------------------------------------------

DOCUMENTS = _l("文书模板")
CUSTOM_FIELDS = _l("自定义字段")
ROUTING_RULES = _l("分派规则")
RETENTION_RULES = _l("保存期限规则")


def export_document_templates() -> list[dict]:
    rows = db.session.scalars(sa.select(DocumentTemplate)).all()
    items = [{"kind": row.kind.value, "title": row.title, "body": row.body} for row in rows]
    return sorted(items, key=lambda item: item["kind"])


def validate_document_templates(items: list[dict], data: dict) -> None:
    from ..operations.documents import check_wording

    _unique(DOCUMENTS, items, "kind")
    for item in items:
        kind = _enum(
            DOCUMENTS, item.get("kind"), DocumentKind, item.get("kind"), _("文书"), optional=False
        )
        title, body = item.get("title"), item.get("body")
        if not isinstance(title, str) or not isinstance(body, str):
            raise _fail(DOCUMENTS, _("标题和正文须为文字"), kind.title)
        try:
            check_wording(kind, title, body)
        except ValidationFailed as error:
            raise _fail(DOCUMENTS, str(error), kind.title) from None


def apply_document_templates(items: list[dict]) -> None:
    db.session.execute(sa.delete(DocumentTemplate))
    for item in items:
        db.session.add(
            DocumentTemplate(
                kind=DocumentKind(item["kind"]),
                title=item["title"].strip(),
                body=item["body"].replace("\r\n", "\n"),
            )
        )
    db.session.flush()


# --- callback quotas --------------------------------------------------------------------------

CALLBACK_QUOTAS = _l("回访配额")


def export_callback_quotas() -> list[dict]:
    from ..callbacks import CallbackQuota

    rows = db.session.execute(
        sa.select(Role.code, CallbackQuota.min_percent).join(Role, Role.id == CallbackQuota.role_id)
    ).all()
    return [{"role": code, "min_percent": percent} for code, percent in sorted(rows)]


def validate_callback_quotas(items: list[dict], data: dict) -> None:
    _unique(CALLBACK_QUOTAS, items, "role")
    roles = _names(data, "roles", "code") | set(db.session.scalars(sa.select(Role.code)))
    for item in items:
        code = item.get("role")
        if code not in roles:
            raise _fail(CALLBACK_QUOTAS, _("没有代码为“%(code)s”的角色", code=code))
        percent = _integer(CALLBACK_QUOTAS, item, "min_percent", _("最低比例"))
        if percent > 100:
            raise _fail(CALLBACK_QUOTAS, _("最低比例须为0至100的整数"), code)


def apply_callback_quotas(items: list[dict]) -> None:
    """Each role's minimum share of the callbacks (回访工作制度 一); the file's list replaces
    the quotas in place."""
    from ..callbacks import CallbackQuota

    db.session.execute(sa.delete(CallbackQuota))
    roles = {role.code: role for role in db.session.scalars(sa.select(Role))}
    for item in items:
        db.session.add(CallbackQuota(role=roles[item["role"]], min_percent=item["min_percent"]))
    db.session.flush()


# --- the registry -----------------------------------------------------------------------------

SECTIONS: dict[str, Section] = {}


def register_section(section: Section) -> None:
    """Add (or replace) a section; the order of registration is the order of applying."""
    SECTIONS[section.key] = section


for _section in (
    Section("units", UNITS, export_units, apply_units, "name", validate_units),
    Section("roles", ROLES, export_roles, apply_roles, "code", validate_roles),
    Section(
        "categories", CATEGORIES, export_categories, apply_categories, "code", validate_categories
    ),
    Section("settings", SETTINGS, export_settings, apply_settings, "key", validate_settings),
    Section(
        "vocabulary",
        VOCABULARY,
        export_vocabulary,
        apply_vocabulary,
        "standard",
        validate_vocabulary,
    ),
    Section(
        "deadline_rules",
        DEADLINE_RULES,
        export_deadline_rules,
        apply_deadline_rules,
        "name",
        validate_deadline_rules,
    ),
    Section(
        "escalation_rules",
        ESCALATION_RULES,
        export_escalation_rules,
        apply_escalation_rules,
        "name",
        validate_escalation_rules,
    ),
    Section("custom_fields", CUSTOM_FIELDS, export_custom_fields, apply_custom_fields, "key"),
    Section("routing_rules", ROUTING_RULES, export_routing_rules, apply_routing_rules, "name"),
    Section(
        "retention_rules", RETENTION_RULES, export_retention_rules, apply_retention_rules, "name"
    ),
    Section(
        "document_templates",
        DOCUMENTS,
        export_document_templates,
        apply_document_templates,
        "kind",
        validate_document_templates,
    ),
    Section(
        "callback_quotas",
        CALLBACK_QUOTAS,
        export_callback_quotas,
        apply_callback_quotas,
        "role",
        validate_callback_quotas,
    ),
):
    register_section(_section)


def active_sections() -> list[Section]:
    return list(SECTIONS.values())


# --- export, diff, apply -----------------------------------------------------------------------


def export_configuration() -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "sections": {section.key: section.export() for section in active_sections()},
    }


def configuration_text(data: dict | None = None) -> str:
    """The file: readable JSON, Chinese as it is, keys sorted."""
    data = export_configuration() if data is None else data
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def parse_configuration(raw: bytes | str) -> dict:
    """The uploaded file as data, with its envelope checked (Chinese message otherwise)."""
    if isinstance(raw, bytes):
        if len(raw) > MAX_FILE_BYTES:
            raise ValidationFailed(_("配置文件过大（不超过2MB）"), field="file")
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationFailed(_("配置文件不是 UTF-8 编码的文本"), field="file") from None
    try:
        data = json.loads(raw)
    except ValueError as error:
        raise ValidationFailed(
            _("配置文件不是有效的 JSON（第 %(line)s 行附近）", line=getattr(error, "lineno", "?")),
            field="file",
        ) from None
    check_envelope(data)
    return data


def check_envelope(data) -> None:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValidationFailed(_("这不是信访通导出的配置文件"), field="file")
    if data.get("version") != VERSION:
        raise ValidationFailed(
            _(
                "配置文件版本 %(version)s 不受支持（应为 %(expected)s）",
                version=data.get("version"),
                expected=VERSION,
            ),
            field="file",
        )
    sections = data.get("sections")
    if not isinstance(sections, dict):
        raise ValidationFailed(_("配置文件缺少 sections 部分"), field="file")
    known = {section.key: section for section in active_sections()}
    for key, items in sections.items():
        if key not in known:
            raise ValidationFailed(
                _("本系统不支持配置文件中的“%(section)s”部分", section=key), field="file"
            )
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise _fail(known[key].title, _("内容须为条目列表"))


def validate_configuration(data: dict) -> None:
    check_envelope(data)
    for section in active_sections():
        items = data["sections"].get(section.key)
        if items is not None and section.validate is not None:
            section.validate(items, data)


def _keyed(section: Section, items: list[dict]) -> dict[str, dict]:
    keyed: dict[str, dict] = {}
    for item in items:
        key = str(item.get(section.natural_key))
        name, count = key, 1
        while name in keyed:
            count += 1
            name = f"{key} #{count}"
        keyed[name] = item
    return keyed


#: How the diff names the fields of the file (the file itself keeps its plain keys).
FIELD_TITLES = {
    "name": _l("名称"),
    "short_name": _l("简称"),
    "kind": _l("类型"),
    "doc_code": _l("机关代字"),
    "parent": _l("上级"),
    "contact_phone": _l("联系电话"),
    "address": _l("地址"),
    "sort_order": _l("排序"),
    "is_active": _l("启用"),
    "out_of_scope_policy": _l("职责外事项处理"),
    "description": _l("说明"),
    "permissions": _l("权限"),
    "value": _l("值"),
    "word": _l("本单位用语"),
    "clock": _l("时限"),
    "amount": _l("时长"),
    "unit": _l("单位"),
    "max_extension": _l("最多延期"),
    "max_extension_count": _l("最多延期次数"),
    "category": _l("分类"),
    "category_kind": _l("事项性质"),
    "priority": _l("缓急程度"),
    "channel": _l("来源渠道"),
    "note": _l("备注"),
    "level": _l("级别"),
    "trigger": _l("触发条件"),
    "threshold": _l("阈值"),
    "recipient_role": _l("提醒角色"),
    "same_unit_only": _l("仅承办单位内"),
    "title": _l("标题"),
    "body": _l("正文"),
    "min_percent": _l("最低比例"),
}
#: Fields whose values are enum codes, shown by their Chinese titles.
_ENUM_FIELDS = {
    ("units", "kind"): UnitKind,
    ("units", "out_of_scope_policy"): OutOfScopePolicy,
    ("categories", "kind"): CategoryKind,
    ("deadline_rules", "clock"): Clock,
    ("deadline_rules", "unit"): TimeUnit,
    ("deadline_rules", "category_kind"): CategoryKind,
    ("deadline_rules", "priority"): CasePriority,
    ("deadline_rules", "channel"): CaseChannel,
    ("escalation_rules", "clock"): Clock,
    ("escalation_rules", "trigger"): EscalationTrigger,
}


def _shown(value, enum=None) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return _("是") if value else _("否")
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if enum is not None:
        try:
            return str(enum(value).title)
        except ValueError:
            pass
    return str(value)


def _field_change(section: str, field: str, old, new) -> tuple[str, str, str]:
    enum = _ENUM_FIELDS.get((section, field))
    return (str(FIELD_TITLES.get(field, field)), _shown(old, enum), _shown(new, enum))


def diff_configuration(data: dict) -> list[dict]:
    """Per section: items added, changed (field: old → new) and removed by applying ``data``.

    Sections the file leaves out are not touched. ``removed`` units and categories are
    switched off (they carry cases); removed roles and settings stay as they are."""
    check_envelope(data)
    result = []
    for section in active_sections():
        if section.key not in data["sections"]:
            continue
        old = _keyed(section, section.export())
        new = _keyed(section, data["sections"][section.key])
        changed = []
        for key in old.keys() & new.keys():
            fields = [
                _field_change(section.key, field, old[key].get(field), new[key].get(field))
                for field in sorted(set(old[key]) | set(new[key]))
                if old[key].get(field) != new[key].get(field)
                and not (field == "is_active" and new[key].get(field) is None)
            ]
            if fields:
                changed.append({"key": key, "fields": fields})
        removed = sorted(old.keys() - new.keys())
        if section.key in ("roles", "settings"):
            removed = []
        result.append(
            {
                "key": section.key,
                "title": str(section.title),
                "added": sorted(new.keys() - old.keys()),
                "changed": sorted(changed, key=lambda c: c["key"]),
                "removed": removed,
            }
        )
    return result


def apply_configuration(data: dict) -> None:
    """Make the database's configuration what ``data`` says: everything or nothing.

    Raises ``ValidationFailed`` (Chinese) and changes nothing on any problem; never commits.
    """
    validate_configuration(data)
    savepoint = db.session.begin_nested()
    try:
        for section in active_sections():
            items = data["sections"].get(section.key)
            if items is not None:
                section.apply(items)
        db.session.flush()
    except ValidationFailed:
        savepoint.rollback()
        raise
    except (sa.exc.SQLAlchemyError, ValueError, KeyError, TypeError) as error:
        savepoint.rollback()
        raise ValidationFailed(
            _("配置无法导入，未作任何修改：%(error)s", error=type(error).__name__)
        ) from None
    savepoint.commit()
    from ..calendar import forget_work_calendar

    forget_work_calendar()
    db.session.info.pop("system_settings", None)


# --- the service functions of the screens -----------------------------------------------------


def _require_administrator(by) -> None:
    from ..operations import NotPermitted

    if not (by.has_permission("settings.manage") and by.has_permission("user.manage")):
        raise NotPermitted(_("只有系统管理员可以导出和导入配置"))


def export_for(by) -> str:
    """The configuration file for ``by`` (an administrator); the export is audited."""
    from ..operations.audit_log import record_audit

    _require_administrator(by)
    text = configuration_text()
    record_audit(
        "config_export",
        by=by,
        target_type="configuration",
        summary="导出配置",
        data={"sections": sorted(SECTIONS)},
    )
    return text


def import_configuration(data: dict, *, by) -> list[dict]:
    """Apply an uploaded configuration (all or nothing) and audit it; returns the diff that
    was applied. Never commits."""
    from ..operations.audit_log import record_audit

    _require_administrator(by)
    changes = diff_configuration(data)
    apply_configuration(data)
    record_audit(
        "config_import",
        by=by,
        target_type="configuration",
        summary="导入配置："
        + "；".join(
            f"{c['title']} 新增{len(c['added'])} 修改{len(c['changed'])} 移除{len(c['removed'])}"
            for c in changes
        ),
        data={"changes": changes},
    )
    return changes


def save_vocabulary(pairs: dict[str, str], *, by) -> None:
    """The 称谓 screen: store the organisation's words (empty word: the standard one)."""
    from ..operations import NotPermitted

    if not by.has_permission("settings.manage"):
        raise NotPermitted(_("您没有修改称谓的权限"))
    items = [
        {"standard": standard, "word": (word or "").strip()}
        for standard, word in pairs.items()
        if (word or "").strip() and (word or "").strip() != standard
    ]
    for item in items:
        if any(mark in item["word"] for mark in "%{}<>"):
            raise ValidationFailed(
                _("“%(word)s”中不能含有 %% { } < > 等符号", word=item["word"]),
                field=item["standard"],
            )
    try:
        validate_vocabulary(items, {})
    except ValidationFailed as error:
        raise ValidationFailed(str(error), field="vocabulary") from None
    apply_vocabulary(items)
