"""Presets: a whole set of defaults (roles, units, categories, settings) loaded at once.

Only data lives here; loading is idempotent, so running it again adds what is missing and
leaves anything an administrator changed alone.
"""

from __future__ import annotations

import sqlalchemy as sa

from .. import db
from ..categories import Category
from ..deadlines import DeadlineRule, EscalationRule
from ..enums import CasePriority, CategoryKind, Clock, EscalationTrigger, TimeUnit, UnitKind
from ..permissions import DEFAULT_ROLES
from ..settings import DEFAULT_SETTINGS, SystemSetting
from ..units import Unit
from ..users import Role

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


C, U, P = Clock, TimeUnit, CasePriority
DAYS, WORKDAYS, HOURS = U.calendar_days, U.working_days, U.hours

#: preset -> (title, deadline rules, escalation rules). A rule: (name, clock, amount, unit,
#: max extension, max number of extensions, criteria). Sources: decisions.md presets, §3.
DEADLINE_PRESETS: dict[str, tuple[str, list, list]] = {
    "government": (
        "政府信访",
        [
            ("转送、交办（15日）", C.handover, 15, DAYS, None, None, {}),
            ("受理告知（15日）", C.acceptance, 15, DAYS, None, None, {}),
            ("领导批示（第3个工作日内）", C.instruction, 3, WORKDAYS, None, None, {}),
            ("一般件承办（5个工作日）", C.handling, 5, WORKDAYS, 5, None, {}),
            ("急件承办（3个工作日）", C.handling, 3, WORKDAYS, 3, None, {"priority": P.urgent}),
            (
                "特急件承办（3个工作日）",
                C.handling,
                3,
                WORKDAYS,
                3,
                None,
                {"priority": P.emergency},
            ),
            ("信访事项办结（60日，可延30日）", C.closing, 60, DAYS, 30, None, {}),
            ("整改方案（2周）", C.rectification, 14, DAYS, None, None, {}),
            ("办结后回访（1周）", C.callback, 7, DAYS, None, None, {}),
            ("复查意见（30日）", C.review, 30, DAYS, None, None, {}),
            ("复核意见（30日）", C.re_review, 30, DAYS, None, None, {}),
        ],
        [
            ("时限过八成提醒部门负责人", 1, None, "percent_elapsed", 80, "dept_head", True),
            ("到期提醒分管领导", 2, None, "past_due", 0, "leader", False),
            ("超期3个工作日报主要领导", 3, None, "past_due", 3, "leader", False),
        ],
    ),
    "enterprise": (
        "企业客服",
        [
            ("交办承办人（24小时）", C.handover, 24, HOURS, None, None, {}),
            ("投诉调查（1个工作日）", C.handling, 1, WORKDAYS, 1, None, {}),
            ("投诉答复（3个工作日）", C.reply, 3, WORKDAYS, 2, None, {}),
            ("投诉办结（3个工作日，复杂可延）", C.closing, 3, WORKDAYS, 5, None, {}),
            (
                "举报办结（5个工作日）",
                C.closing,
                5,
                WORKDAYS,
                5,
                None,
                {"category_kind": CategoryKind.report},
            ),
            (
                "来信来访回音（5日）",
                C.reply,
                5,
                DAYS,
                3,
                None,
                {"category_kind": CategoryKind.consultation},
            ),
            ("办结后回访（1周）", C.callback, 7, DAYS, None, None, {}),
        ],
        [
            ("时限过半提醒部门负责人", 1, None, "percent_elapsed", 50, "dept_head", True),
            ("到期提醒办公室", 2, None, "past_due", 0, "office", False),
            ("超期1个工作日报领导", 3, None, "past_due", 1, "leader", False),
        ],
    ),
    "property": (
        "物业管理",
        [
            ("当天调查核实（24小时）", C.handling, 24, HOURS, None, None, {}),
            ("告知补救措施（3日）", C.reply, 3, DAYS, None, None, {}),
            ("承诺办结（2日，最多延至1周，不得二次推迟）", C.closing, 2, DAYS, 5, 1, {}),
            ("维修后回访（1周）", C.callback, 7, DAYS, None, None, {}),
        ],
        [
            ("到期提醒管理处主任", 1, None, "past_due", 0, "dept_head", True),
            ("超期1个工作日报公司领导", 2, None, "past_due", 1, "leader", False),
        ],
    ),
    "hospital": (
        "医院",
        [
            ("投诉办结（最迟2周）", C.closing, 14, DAYS, None, None, {}),
            ("科室处理（7日）", C.handling, 7, DAYS, None, None, {}),
            ("办结后回访（1周）", C.callback, 7, DAYS, None, None, {}),
        ],
        [
            ("第7日告知院行风办", 1, C.closing, "percent_elapsed", 50, "office", False),
            ("满2周未办结报院领导", 2, C.closing, "past_due", 0, "leader", False),
        ],
    ),
}


def load_deadline_preset(name: str) -> tuple[int, int]:
    """Replace every deadline and escalation rule with preset ``name``'s.

    Clocks already running keep the limits they were started with (they copy the rule).
    Returns the number of deadline and escalation rules loaded.
    """
    if name not in DEADLINE_PRESETS:
        raise ValueError(f"unknown deadline preset {name!r}; known: {', '.join(DEADLINE_PRESETS)}")
    _, rules, escalations = DEADLINE_PRESETS[name]
    db.session.execute(sa.delete(EscalationRule))
    db.session.execute(sa.delete(DeadlineRule))
    for rule_name, clock, amount, unit, max_extension, max_count, criteria in rules:
        db.session.add(
            DeadlineRule(
                name=rule_name,
                clock=clock,
                amount=amount,
                unit=unit,
                max_extension=max_extension,
                max_extension_count=max_count,
                **criteria,
            )
        )
    for rule_name, level, clock, trigger, threshold, role, same_unit in escalations:
        db.session.add(
            EscalationRule(
                name=rule_name,
                level=level,
                clock=clock,
                trigger=EscalationTrigger(trigger),
                threshold=threshold,
                recipient_role=role,
                same_unit_only=same_unit,
            )
        )
    db.session.flush()
    return len(rules), len(escalations)


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
    if name in DEADLINE_PRESETS and not db.session.scalar(
        sa.select(sa.func.count(DeadlineRule.id))
    ):
        load_deadline_preset(name)
    for index, (category_name, kind, children) in enumerate(preset["categories"], start=1):
        parent = _category(category_name, kind, None, index * 10, f"{index:02d}")
        for child_index, child_name in enumerate(children, start=1):
            _category(
                child_name, kind, parent, index * 10 + child_index, f"{index:02d}{child_index:02d}"
            )
    from ..operations.surveys import ensure_owner_survey_template

    ensure_owner_survey_template()
    db.session.flush()
