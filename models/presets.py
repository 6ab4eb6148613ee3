"""Presets: a whole set of defaults (roles, units, categories, settings) loaded at once.

Only data lives here; loading is idempotent, so running it again adds what is missing and
leaves anything an administrator changed alone.
"""

from __future__ import annotations

import sqlalchemy as sa

from . import db
from .categories import Category
from .enums import CategoryKind, UnitKind
from .permissions import DEFAULT_ROLES
from .settings import DEFAULT_SETTINGS, SystemSetting
from .units import Unit
from .users import Role

K = CategoryKind

#: (name, kind, 机关代字, children)
GOVERNMENT_UNITS = [
    ("县信访局", UnitKind.office, "县信复", []),
    ("县政府领导", UnitKind.leadership, None, []),
    (
        "县政府工作部门",
        UnitKind.department,
        None,
        [
            ("县住房和城乡建设局", "县建函"),
            ("县自然资源局", "县自然资函"),
            ("县人力资源和社会保障局", "县人社函"),
            ("县生态环境分局", "县环函"),
            ("县市场监督管理局", "县市监函"),
            ("县教育局", "县教函"),
            ("县卫生健康局", "县卫健函"),
            ("县民政局", "县民函"),
            ("县农业农村局", "县农函"),
            ("县城市管理局", "县城管函"),
            ("县公安局", "县公函"),
            ("县交通运输局", "县交函"),
        ],
    ),
    (
        "乡镇（街道）",
        UnitKind.department,
        None,
        [
            ("城关镇人民政府", "城政函"),
            ("河西街道办事处", "河西街函"),
            ("青山乡人民政府", "青政函"),
        ],
    ),
    ("市信访局", UnitKind.higher_body, None, []),
    ("市人民政府办公室", UnitKind.higher_body, None, []),
    ("县人民法院", UnitKind.external, None, []),
    ("县人民检察院", UnitKind.external, None, []),
]

#: (name, kind, children)
GOVERNMENT_CATEGORIES = [
    ("城乡建设", K.complaint, ["房屋质量", "物业管理", "拆迁安置", "市政设施"]),
    ("国土资源", K.complaint, ["土地征收", "宅基地", "矿产资源"]),
    ("劳动和社会保障", K.complaint, ["拖欠工资", "社会保险", "劳动关系"]),
    ("生态环境", K.complaint, ["噪声污染", "大气污染", "水污染"]),
    ("市场监管", K.complaint, ["食品安全", "消费纠纷", "价格收费"]),
    ("教育", K.complaint, ["入学招生", "教师师德", "校园安全"]),
    ("卫生健康", K.complaint, ["医疗纠纷", "医德医风"]),
    ("民政", K.help_request, ["低保救助", "养老服务", "残疾人帮扶"]),
    ("农业农村", K.complaint, ["土地承包", "惠农补贴"]),
    ("政策咨询", K.consultation, ["法律咨询", "政策解答"]),
    ("意见建议", K.suggestion, ["合理化建议"]),
    ("检举控告", K.accusation, ["党风政风", "违纪违法"]),
    ("举报", K.report, ["违法建设", "其他举报"]),
    ("申诉", K.appeal, []),
    ("其他", K.other, []),
]

PRESETS = {
    "government": {
        "organisation_name": "示范县人民政府信访局",
        "units": GOVERNMENT_UNITS,
        "categories": GOVERNMENT_CATEGORIES,
    },
}


def ensure_roles() -> dict[str, Role]:
    roles = {role.code: role for role in db.session.scalars(sa.select(Role))}
    for code, (name, permissions) in DEFAULT_ROLES.items():
        if code not in roles:
            roles[code] = Role(code=code, name=name, permissions=sorted(permissions))
            db.session.add(roles[code])
    db.session.flush()
    return roles


def ensure_settings(organisation_name: str | None = None) -> None:
    existing = set(db.session.scalars(sa.select(SystemSetting.key)))
    for key, (value, label) in DEFAULT_SETTINGS.items():
        if key not in existing:
            if key == "organisation_name" and organisation_name:
                value = organisation_name
            db.session.add(SystemSetting(key=key, value=value, description=str(label)))
    db.session.flush()


def _unit(name, kind, doc_code, parent, order):
    unit = db.session.scalar(sa.select(Unit).where(Unit.name == name))
    if unit is None:
        unit = Unit(name=name, kind=kind, doc_code=doc_code, parent=parent, sort_order=order)
        db.session.add(unit)
    return unit


def _category(name, kind, parent, order, code):
    category = db.session.scalar(
        sa.select(Category).where(
            Category.name == name, Category.parent_id == (parent.id if parent else None)
        )
        if parent
        else sa.select(Category).where(Category.name == name, Category.parent_id.is_(None))
    )
    if category is None:
        category = Category(name=name, kind=kind, parent=parent, sort_order=order, code=code)
        db.session.add(category)
        db.session.flush()
    return category


def load_preset(name: str = "government") -> None:
    """Load roles, settings, units and categories of preset ``name`` (idempotent)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    preset = PRESETS[name]
    ensure_roles()
    ensure_settings(preset["organisation_name"])
    order = 0
    for unit_name, kind, doc_code, children in preset["units"]:
        order += 10
        parent = _unit(unit_name, kind, doc_code, None, order)
        db.session.flush()
        for child_name, child_code in children:
            order += 1
            _unit(child_name, UnitKind.department, child_code, parent, order)
    for index, (category_name, kind, children) in enumerate(preset["categories"], start=1):
        parent = _category(category_name, kind, None, index * 10, f"{index:02d}")
        for child_index, child_name in enumerate(children, start=1):
            _category(
                child_name, kind, parent, index * 10 + child_index, f"{index:02d}{child_index:02d}"
            )
    db.session.flush()
