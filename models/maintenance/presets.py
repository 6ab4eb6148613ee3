"""Presets: four complete set-ups (政府信访, 企业客服, 物业管理, 医院) as data.

Each preset is the same shape as a configuration export (models/maintenance/configuration.py):
units, roles' display names, categories with their kinds and codes, deadline, escalation and
callback rules, settings (number pattern, who replies …), the vocabulary (信访人 → 患者及家属 …),
document wording, and the custom fields, routing rules and callback quotas of the sector.
Loading one into an empty database gives a working office with nothing typed by hand.

Loading is idempotent: running it again adds what is missing and leaves alone anything an
administrator changed (a renamed role, an edited setting, rules already in place).
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext as _

from .. import db
from ..categories import Category
from ..deadlines import DeadlineRule, EscalationRule
from ..documents import DocumentTemplate
from ..enums import (
    CasePriority,
    CategoryKind,
    Clock,
    DocumentKind,
    TimeUnit,
    UnitKind,
)
from ..permissions import DEFAULT_ROLES
from ..settings import DEFAULT_SETTINGS, SystemSetting
from ..units import Unit
from ..users import Role
from ..vocabulary import VOCABULARY_SETTING, dump_vocabulary
from .configuration import (
    FORMAT,
    SECTIONS,
    VERSION,
    apply_configuration,
    categories_by_code,
    deadline_rule_from_item,
    escalation_rule_from_item,
    set_setting,
)

K = CategoryKind
C, U, P = Clock, TimeUnit, CasePriority
DAYS, WORKDAYS, HOURS, MINUTES = U.calendar_days, U.working_days, U.hours, U.minutes

#: Marks a database whose organisation has been set up (the set-up wizard stops showing).
SETUP_SETTING = "setup_completed"


# --- builders: compact tables below, item dicts (the configuration shape) out -----------------


def _units(tree) -> list[dict]:
    """``[(name, kind, 机关代字, [(child, 机关代字) …])]`` → unit items, in display order."""
    items, order = [], 0
    for name, kind, doc_code, children in tree:
        order += 10
        items.append(
            {"name": name, "kind": kind.value, "doc_code": doc_code, "parent": None}
            | {"sort_order": order}
        )
        for child_name, child_code in children:
            order += 1
            items.append(
                {
                    "name": child_name,
                    "kind": UnitKind.department.value,
                    "doc_code": child_code,
                    "parent": name,
                    "sort_order": order,
                }
            )
    return items


def _numbered_categories(tree) -> list[dict]:
    """``[(name, kind, [child …])]`` → items coded 01, 0101 … (the government numbering)."""
    items = []
    for index, (name, kind, children) in enumerate(tree, start=1):
        code = f"{index:02d}"
        items.append(
            {"code": code, "name": name, "kind": kind.value, "parent": None}
            | {"sort_order": index * 10}
        )
        for child_index, child in enumerate(children, start=1):
            items.append(
                {
                    "code": f"{code}{child_index:02d}",
                    "name": child,
                    "kind": kind.value,
                    "parent": code,
                    "sort_order": index * 10 + child_index,
                }
            )
    return items


def _coded_categories(tree) -> list[dict]:
    """``[(code, name, kind, [(code, name) …])]`` → items with the sector's own codes."""
    items = []
    for index, (code, name, kind, children) in enumerate(tree, start=1):
        items.append(
            {"code": code, "name": name, "kind": kind.value, "parent": None}
            | {"sort_order": index * 10}
        )
        for child_index, (child_code, child_name) in enumerate(children, start=1):
            items.append(
                {
                    "code": child_code,
                    "name": child_name,
                    "kind": kind.value,
                    "parent": code,
                    "sort_order": index * 10 + child_index,
                }
            )
    return items


def _rule(name, clock, amount, unit, max_extension=None, max_count=None, **criteria) -> dict:
    """A deadline rule item; criteria: category (code), category_kind, priority, channel."""
    return {
        "name": name,
        "clock": clock.value,
        "amount": amount,
        "unit": unit.value,
        "max_extension": max_extension,
        "max_extension_count": max_count,
        "category": criteria.get("category"),
        "category_kind": _value(criteria.get("category_kind")),
        "priority": _value(criteria.get("priority")),
        "channel": _value(criteria.get("channel")),
    }


def _escalation(name, level, clock, trigger, threshold, role, same_unit) -> dict:
    return {
        "name": name,
        "level": level,
        "clock": _value(clock),
        "trigger": trigger,
        "threshold": threshold,
        "recipient_role": role,
        "same_unit_only": same_unit,
    }


def _value(member):
    return None if member is None else member.value


def _field(
    key,
    label,
    field_type,
    *,
    choices=None,
    required=False,
    category=None,
    kind=None,
    listed=False,
) -> dict:
    """A custom field item (models/custom_fields.py, natural key ``key``); ``listed``: a column
    and a filter of the case list."""
    return {
        "key": key,
        "label": label,
        "field_type": field_type,
        "choices": list(choices or []),
        "required": required,
        "category": category,
        "category_kind": _value(kind),
        "show_in_list": listed,
        "filterable": listed,
    }


def _route(name, unit, *, category=None, channel=None, priority=None, field=None, value=None):
    """A routing rule item (natural key ``name``): conditions → handling unit."""
    return {
        "name": name,
        "unit": unit,
        "category": category,
        "channel": _value(channel),
        "priority": _value(priority),
        "field_key": field,
        "field_value": value,
    }


def _retain(name, years, *, outcome="any", category=None, note=None) -> dict:
    """A retention rule item (natural key ``name``): category × outcome → years."""
    return {
        "name": name,
        "category": category,
        "outcome": outcome,
        "years": years,
        "is_active": True,
        "note": note,
    }


#: 存信 are packed by region and year and destroyed periodically (003 科技局 第十一条); their
#: retention counts from the end of the pack's year, so 0 years frees a pack the next January.
GOVERNMENT_RETENTION = [
    _retain("办结事项保存5年", 5, outcome="closed"),
    _retain("不予受理、不再受理事项保存5年", 5, outcome="not_accepted"),
    _retain("转办、退回事项保存5年", 5, outcome="transferred"),
    _retain(
        "存信按年度打包，次年起可销毁", 0, outcome="kept", note="存信按地区、年份打包，定期销毁"
    ),
]
#: 000 用户访问管理制度 8: after-sales and callback records are kept 5 years (S9).
ENTERPRISE_RETENTION = [
    _retain("客户来信来访及回访记录保存5年", 5, note="售后服务、客户回访等记录保存时限为5年"),
]
PROPERTY_RETENTION = [
    _retain("业主投诉报修记录保存5年", 5),
    _retain("存信保存至次年年底", 1, outcome="kept"),
]
HOSPITAL_RETENTION = [
    _retain("投诉接待记录保存5年", 5),
    _retain("存信保存至次年年底", 1, outcome="kept"),
]


# --- 政府信访 ---------------------------------------------------------------------------------

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

GOVERNMENT_RULES = [
    _rule("转送、交办（15日）", C.handover, 15, DAYS),
    _rule("受理告知（15日）", C.acceptance, 15, DAYS),
    _rule("领导批示（第3个工作日内）", C.instruction, 3, WORKDAYS),
    _rule("一般件承办（5个工作日）", C.handling, 5, WORKDAYS, 5),
    _rule("急件承办（3个工作日）", C.handling, 3, WORKDAYS, 3, priority=P.urgent),
    _rule("特急件承办（3个工作日）", C.handling, 3, WORKDAYS, 3, priority=P.emergency),
    _rule("信访事项办结（60日，可延30日）", C.closing, 60, DAYS, 30),
    _rule("整改方案（2周）", C.rectification, 14, DAYS),
    _rule("办结后回访（1周）", C.callback, 7, DAYS),
    _rule("复查意见（30日）", C.review, 30, DAYS),
    _rule("复核意见（30日）", C.re_review, 30, DAYS),
    # 我办 四.3: a matter outside the section's remit goes on through the office within 3 days
    # of the decision. An office that returns such matters instead (工程质量站: 15 days of
    # receipt) sets this rule to 15 days; the clock then counts from receipt. The enterprise,
    # property and hospital presets ship no such rule: they guide the customer to the right
    # body at once, with no statutory limit.
    _rule("不属职责事项转交（3日）", C.out_of_scope, 3, DAYS),
]

GOVERNMENT_ESCALATIONS = [
    _escalation("时限过八成提醒部门负责人", 1, None, "percent_elapsed", 80, "dept_head", True),
    _escalation("到期提醒分管领导", 2, None, "past_due", 0, "leader", False),
    _escalation("超期3个工作日报主要领导", 3, None, "past_due", 3, "leader", False),
]


# --- 企业客服 (制药、供电、制造企业的客户服务) -------------------------------------------------

ENTERPRISE_UNITS = [
    ("客服中心", UnitKind.office, "客服函", []),
    ("总经理室", UnitKind.leadership, "司发", []),
    ("质保部", UnitKind.department, "质保函", []),
    ("销售部", UnitKind.department, "销售函", []),
    ("人力行政部", UnitKind.department, "人行函", []),
    ("生产部", UnitKind.department, None, []),
    ("技术中心", UnitKind.department, None, []),
    ("供电服务部", UnitKind.department, "供服函", []),
    ("上级主管单位", UnitKind.higher_body, None, []),
    ("经销商", UnitKind.external, None, []),
]

ENTERPRISE_CATEGORIES = [
    ("ZL", "产品质量投诉", K.complaint, [("ZL01", "产品缺陷"), ("ZL02", "不良反应")]),
    (
        "FW",
        "服务投诉",
        K.complaint,
        [
            ("FW01", "服务态度"),
            ("FW02", "专业素质"),
            ("FW03", "服务效率"),
            ("FW09", "其他服务问题"),
        ],
    ),
    (
        "GD",
        "供电服务投诉",
        K.complaint,
        [("GD01", "频繁停电"), ("GD02", "电压质量"), ("GD03", "抄表收费")],
    ),
    ("ZX", "使用咨询", K.consultation, []),
    ("DZ", "对照品申请", K.help_request, []),
    ("JB", "举报", K.report, []),
    ("JY", "意见建议", K.suggestion, []),
    ("QT", "其他", K.other, []),
]

ENTERPRISE_RULES = [
    _rule("交办承办人（24小时）", C.handover, 24, HOURS),
    _rule("投诉调查（1个工作日）", C.handling, 1, WORKDAYS, 1),
    _rule("投诉答复（3个工作日）", C.reply, 3, WORKDAYS, 2),
    _rule("投诉办结（3个工作日，复杂可延）", C.closing, 3, WORKDAYS, 5),
    _rule("举报办结（5个工作日）", C.closing, 5, WORKDAYS, 5, category_kind=K.report),
    _rule("来信来访回音（5日）", C.reply, 5, DAYS, 3, category_kind=K.consultation),
    _rule("办结后回访（1周）", C.callback, 7, DAYS),
    # 用户来信及访问管理制度 3: an answer within 5 days, the formal reply within 8.
    _rule("质量投诉阶段性答复（5日）", C.interim_reply, 5, DAYS, category="ZL"),
    _rule("质量投诉正式答复（8日）", C.reply, 8, DAYS, category="ZL"),
    _rule("质量投诉办结（8日）", C.closing, 8, DAYS, 5, category="ZL"),
    # 95598: contact the customer first thing, answer the customer and the superior in 3 days.
    _rule("第一时间联系客户（2小时）", C.first_contact, 2, HOURS, category="GD"),
    _rule("回复上级（3个工作日）", C.superior_reply, 3, WORKDAYS, 2, category="GD"),
]

ENTERPRISE_ESCALATIONS = [
    _escalation("时限过半提醒部门负责人", 1, None, "percent_elapsed", 50, "dept_head", True),
    _escalation("到期提醒办公室", 2, None, "past_due", 0, "office", False),
    _escalation("超期1个工作日报领导", 3, None, "past_due", 1, "leader", False),
]


# --- 物业管理 ---------------------------------------------------------------------------------

PROPERTY_UNITS = [
    ("管理处", UnitKind.office, "管理处函", []),
    ("公司领导", UnitKind.leadership, "物业发", []),
    ("客服中心", UnitKind.department, None, []),
    ("维修班", UnitKind.department, None, []),
    ("保洁部", UnitKind.department, None, []),
    ("秩序维护部", UnitKind.department, None, []),
    ("绿化部", UnitKind.department, None, []),
    ("业主委员会", UnitKind.external, None, []),
    ("供水供电燃气等公用事业单位", UnitKind.external, None, []),
]

PROPERTY_CATEGORIES = [
    (
        "WX",
        "维修",
        K.complaint,
        [("WX01", "安全设施维修"), ("WX02", "管道漏水"), ("WX09", "其他维修")],
    ),
    (
        "FW",
        "服务投诉",
        K.complaint,
        [("FW01", "服务态度"), ("FW02", "保洁卫生"), ("FW03", "秩序维护"), ("FW04", "收费")],
    ),
    ("SZ", "市政设施", K.complaint, [("SZ01", "供水供电"), ("SZ02", "道路燃气")]),
    ("ZX", "咨询", K.consultation, []),
    ("JY", "意见建议", K.suggestion, []),
    ("QT", "其他", K.other, []),
]

PROPERTY_RULES = [
    _rule("当天调查核实（24小时）", C.handling, 24, HOURS),
    _rule("告知补救措施（3日）", C.remedial_plan, 3, DAYS),
    _rule("承诺办结（2日，最多延至1周，不得二次推迟）", C.closing, 2, DAYS, 5, 1),
    # 回访工作制度 二: a week after the repair; safety facilities 2 days, leaks 3 days.
    _rule("安全设施维修回访（2日）", C.callback, 2, DAYS, category="WX01"),
    _rule("漏水维修回访（3日）", C.callback, 3, DAYS, category="WX02"),
    _rule("维修后回访（1周）", C.callback, 7, DAYS),
    _rule("回访发现问题书面通知整改（24小时）", C.rectification, 24, HOURS),
]

PROPERTY_ESCALATIONS = [
    _escalation("到期提醒管理处主任", 1, None, "past_due", 0, "dept_head", True),
    _escalation("超期1个工作日报公司领导", 2, None, "past_due", 1, "leader", False),
]


# --- 医院 -------------------------------------------------------------------------------------

HOSPITAL_UNITS = [
    ("院行风办", UnitKind.office, "院行风函", []),
    ("院领导", UnitKind.leadership, "院发", []),
    ("医务科", UnitKind.department, "医务函", []),
    ("护理部", UnitKind.department, None, []),
    ("门诊部", UnitKind.department, None, []),
    ("财务科", UnitKind.department, None, []),
    ("总务科", UnitKind.department, None, []),
    (
        "临床医技科室",
        UnitKind.department,
        None,
        [("内科", None), ("外科", None), ("妇产科", None), ("儿科", None), ("检验科", None)],
    ),
    ("市卫生健康委员会", UnitKind.higher_body, None, []),
    ("医疗纠纷人民调解委员会", UnitKind.external, None, []),
]

HOSPITAL_CATEGORIES = [
    (
        "YL",
        "医疗服务",
        K.complaint,
        [("YL01", "诊疗质量"), ("YL02", "护理服务"), ("YL03", "医技检查")],
    ),
    ("TD", "服务态度", K.complaint, []),
    ("SF", "收费", K.complaint, []),
    ("HQ", "就医环境与后勤", K.complaint, []),
    ("ZX", "咨询", K.consultation, []),
    ("JY", "意见建议", K.suggestion, []),
    ("QT", "其他", K.other, []),
]

HOSPITAL_RULES = [
    _rule("投诉办结（最迟2周）", C.closing, 14, DAYS),
    _rule("科室处理（7日）", C.handling, 7, DAYS),
    _rule("办结后回访（1周）", C.callback, 7, DAYS),
]

HOSPITAL_ESCALATIONS = [
    # 医院投诉接待制度: the department handles it in 3-7 days; when day 7 passes without a
    # result the conduct office is told (the end of the 7-day handling clock, not half of 14).
    _escalation("第7日告知院行风办", 1, C.handling, "past_due", 0, "office", False),
    _escalation("满2周未办结报院领导", 2, C.closing, "past_due", 0, "leader", False),
]


# --- document wording -------------------------------------------------------------------------

_CUSTOMER_REPLY_BODY = """{{ 称呼 }}：
{% if 答复类型 and 答复类型 != "正式答复" %}\
您反映{{ 事项标题 }}的信访事项（编号：{{ 事项编号 }}）正在处理中，现将{{ 答复类型 }}内容告知如下：
{{ 答复内容 }}
处理结束后，我们将正式答复您。感谢您的理解和支持。{% else %}\
{{ 收到日期 }}，我们收到您反映{{ 事项标题 }}的信访事项（编号：{{ 事项编号 }}）。\
经调查核实，现答复如下：
一、调查情况
{{ 查明事实 }}
二、处理意见
{% if 答复内容 and 处理意见 in 答复内容 %}{{ 答复内容 }}{% else %}{{ 处理意见 }}
{% if 答复内容 not in 处理意见 %}{{ 答复内容 }}{% endif %}{% endif %}
如对处理结果仍有意见，请与我们联系。感谢您的理解和支持。{% endif %}"""
#: An interim answer or remedial plan is titled by its kind, the formal one as the reply.
_CUSTOMER_REPLY_TITLE = (
    '{% if 答复类型 and 答复类型 != "正式答复" %}{{ 答复类型 }}函'
    "{% else %}投诉处理答复函{% endif %}"
)

_ENTERPRISE_NOTICE_BODY = """请{{ 承办单位 }}收到本处理单后一个工作日内展开调查，核实情况，\
{% if 办理期限 %}于{{ 办理期限 }}前{% else %}在规定时限内{% endif %}提出处理措施并联系信访人，\
将处理结果填写在回执栏反馈{{ 本机关 }}。
本处理单编号与投诉登记编号一致，请在反馈时注明。"""

_PROPERTY_NOTICE_BODY = """请{{ 承办单位 }}收到本通知单及投诉原件后当天调查核实，\
三日内告知信访人拟采取的补救措施，\
{% if 办理期限 %}于{{ 办理期限 }}前{% else %}在承诺时间内{% endif %}处理完毕，\
并将处理结果填写在回执栏反馈{{ 本机关 }}。
本通知单编号与投诉登记表、投诉原件编号一致，请在反馈时注明。"""

_HOSPITAL_NOTICE_BODY = """请{{ 承办单位 }}收到本通知单后立即调查处理，\
涉及临床、医技科室的须当即协调，\
{% if 办理期限 %}于{{ 办理期限 }}前{% else %}在3至7日内{% endif %}\
将调查情况、科室意见及当事人书面说明反馈院行风办。
不能按时办结的，应及时告知院行风办，最迟在两周内处理完毕。"""


def _documents(notice_title: str, notice_body: str, *, customer_reply: bool) -> list[dict]:
    items = [
        {"kind": DocumentKind.complaint_notice.value, "title": notice_title, "body": notice_body}
    ]
    if customer_reply:
        items.append(
            {
                "kind": DocumentKind.reply_letter.value,
                "title": _CUSTOMER_REPLY_TITLE,
                "body": _CUSTOMER_REPLY_BODY,
            }
        )
    return items


# --- the four presets -------------------------------------------------------------------------

PRESETS: dict[str, dict] = {
    "government": {
        "title": "政府信访",
        "description": "县（区）信访局、政府部门、法院等：按《信访工作条例》15日转送受理、"
        "60日办结（可延30日）、复查复核；领导阅批全部事项。",
        "organisation_name": "示范县人民政府信访局",
        "units": _units(GOVERNMENT_UNITS),
        "role_names": {},
        "categories": _numbered_categories(GOVERNMENT_CATEGORIES),
        "deadline_rules": GOVERNMENT_RULES,
        "escalation_rules": GOVERNMENT_ESCALATIONS,
        "settings": {},
        "vocabulary": {},
        "document_templates": [],
        "custom_fields": [],
        "routing_rules": [],
        "retention_rules": GOVERNMENT_RETENTION,
        "callback_quotas": [],
    },
    "enterprise": {
        "title": "企业客服",
        "description": "制药、供电、制造企业的客户服务中心：投诉3个工作日（调查1日+答复2日）、"
        "举报5个工作日、质量投诉5日阶段答复+8日正式答复、95598首次联系与回复上级、办结回访。",
        "organisation_name": "示范制药股份有限公司",
        "units": _units(ENTERPRISE_UNITS),
        "role_names": {
            "registrar": "客服专员",
            "office": "客服中心",
            "dept_head": "部门主管",
            "leader": "总经理",
        },
        "categories": _coded_categories(ENTERPRISE_CATEGORIES),
        "deadline_rules": ENTERPRISE_RULES,
        "escalation_rules": ENTERPRISE_ESCALATIONS,
        "settings": {
            "case_number_pattern": "KF{year}-{seq:05d}",
            "leader_reading": "important",
            "reply_by": "department",
            "close_requires_sign_off": "0",
            "review_body_name": "公司总经理室",
            "re_review_body_name": "公司总经理室",
        },
        "vocabulary": {
            "信访人": "客户",
            "来信人": "客户",
            "信访事项": "投诉",
            "信访内容": "投诉内容",
        },
        "document_templates": _documents(
            "客户投诉处理单", _ENTERPRISE_NOTICE_BODY, customer_reply=True
        ),
        "custom_fields": [
            _field(
                "complaint_valid", "投诉是否有效", "choice", choices=["有效", "无效"], listed=True
            ),
            _field("remedial_measure", "补救措施", "text"),
            _field("corrective_action", "纠正措施", "text"),
            _field("corrective_planned_on", "纠正措施计划完成日期", "date"),
            _field("batch_number", "产品批号", "text", category="ZL"),
        ],
        "routing_rules": [
            _route("产品质量投诉→质保部", "质保部", category="ZL"),
            _route("对照品申请→质保部", "质保部", category="DZ"),
            _route("使用咨询→销售部", "销售部", category="ZX"),
            _route("服务投诉→人力行政部", "人力行政部", category="FW"),
            _route("供电服务投诉→供电服务部", "供电服务部", category="GD"),
        ],
        "retention_rules": ENTERPRISE_RETENTION,
        "callback_quotas": [],
    },
    "property": {
        "title": "物业管理",
        "description": "住宅小区管理处：当天调查核实、3日内告知补救措施、承诺1～2日办结"
        "（最长1周、不得二次推迟）、维修后回访（安全设施2日、漏水3日、其他1周）、年度业主意见调查。",
        "organisation_name": "示范物业服务有限公司",
        "units": _units(PROPERTY_UNITS),
        "role_names": {
            "registrar": "物管员",
            "office": "管理处客服",
            "dept_head": "主管",
            "handler": "维修及服务人员",
            "leader": "公司领导",
        },
        "categories": _coded_categories(PROPERTY_CATEGORIES),
        "deadline_rules": PROPERTY_RULES,
        "escalation_rules": PROPERTY_ESCALATIONS,
        "settings": {
            "case_number_pattern": "TS-{year}-{seq:03d}",
            "leader_reading": "important",
            "reply_by": "department",
            "close_requires_sign_off": "0",
            "review_body_name": "示范物业服务有限公司",
            "re_review_body_name": "示范物业服务有限公司",
        },
        "vocabulary": {
            "信访人": "业主",
            "来访人": "来访业主",
            "信访事项": "投诉",
            "信访内容": "投诉内容",
        },
        "document_templates": _documents(
            "客户投诉处理通知单", _PROPERTY_NOTICE_BODY, customer_reply=True
        ),
        "custom_fields": [
            _field("apology_given", "已先行致歉", "boolean", category="FW", listed=True),
            _field("remedial_measure", "补救措施", "text"),
            _field("corrective_action", "纠正措施", "text"),
            _field("corrective_planned_on", "纠正措施计划完成日期", "date"),
            _field("responsible_contractor", "责任单位（施工方）", "text", category="WX"),
            _field("room_number", "房号", "text"),
        ],
        "routing_rules": [
            _route("维修类→维修班", "维修班", category="WX"),
            _route("保洁卫生→保洁部", "保洁部", category="FW02"),
            _route("秩序维护→秩序维护部", "秩序维护部", category="FW03"),
        ],
        # 回访工作制度 一: the 管理处 (its manager) calls back at least 10 % of the repairs, the
        # supervisors (主管) 30 %, the repair staff 60 %. Roles that may record callbacks.
        "retention_rules": PROPERTY_RETENTION,
        "callback_quotas": [
            {"role": "dept_head", "min_percent": 30},
            {"role": "handler", "min_percent": 60},
            {"role": "office", "min_percent": 10},
        ],
    },
    "hospital": {
        "title": "医院",
        "description": "医院院行风办：首诉负责，门诊投诉由门诊部、住院患者投诉由医务科处理；"
        "3～7日办结，第7日告知院行风办，最迟2周。",
        "organisation_name": "示范市人民医院",
        "units": _units(HOSPITAL_UNITS),
        "role_names": {
            "registrar": "投诉接待员",
            "office": "院行风办",
            "dept_head": "科室主任",
            "handler": "科室经办人",
            "leader": "院领导",
        },
        "categories": _coded_categories(HOSPITAL_CATEGORIES),
        "deadline_rules": HOSPITAL_RULES,
        "escalation_rules": HOSPITAL_ESCALATIONS,
        "settings": {
            "case_number_pattern": "YY{year}-{seq:04d}",
            "leader_reading": "important",
            "reply_by": "office",
            "close_requires_sign_off": "0",
            "review_body_name": "示范市人民医院",
            "re_review_body_name": "示范市卫生健康委员会",
        },
        "vocabulary": {
            "信访人": "患者及家属",
            "来访人": "患者及家属",
            "来信人": "患者及家属",
            "信访事项": "投诉",
            "信访内容": "投诉内容",
            "复查": "复议",
        },
        "document_templates": _documents(
            "信访投诉处理通知单", _HOSPITAL_NOTICE_BODY, customer_reply=True
        ),
        "custom_fields": [
            _field(
                "patient_type",
                "患者类型",
                "choice",
                choices=["门诊", "住院"],
                required=True,
                kind=K.complaint,
                listed=True,
            ),
            _field("ward", "科室及床号", "text"),
            _field("staff_statement", "当事人书面说明", "text"),
        ],
        "routing_rules": [
            _route("住院患者投诉→医务科", "医务科", field="patient_type", value="住院"),
            _route("门诊患者投诉→门诊部", "门诊部", field="patient_type", value="门诊"),
        ],
        "retention_rules": HOSPITAL_RETENTION,
        "callback_quotas": [],
    },
}

#: preset -> (title, deadline rule items, escalation rule items): the rule screen's 载入预设.
DEADLINE_PRESETS: dict[str, tuple[str, list[dict], list[dict]]] = {
    name: (preset["title"], preset["deadline_rules"], preset["escalation_rules"])
    for name, preset in PRESETS.items()
}


# --- loading ----------------------------------------------------------------------------------


def preset_choices() -> list[tuple[str, str, str]]:
    """``[(code, title, description)]`` for the set-up wizard."""
    return [(code, p["title"], p["description"]) for code, p in PRESETS.items()]


def load_deadline_preset(name: str) -> tuple[int, int]:
    """Replace every deadline and escalation rule with preset ``name``'s.

    Clocks already running keep the limits they were started with (they copy the rule). Rules
    for a category (by code) that this database does not have are left out.
    Returns the number of deadline and escalation rules loaded.
    """
    if name not in DEADLINE_PRESETS:
        raise ValueError(f"unknown deadline preset {name!r}; known: {', '.join(DEADLINE_PRESETS)}")
    _, rules, escalations = DEADLINE_PRESETS[name]
    db.session.execute(sa.delete(EscalationRule))
    db.session.execute(sa.delete(DeadlineRule))
    categories = categories_by_code()
    loaded = 0
    for item in rules:
        rule = deadline_rule_from_item(item, categories)
        if rule is not None:
            db.session.add(rule)
            loaded += 1
    for item in escalations:
        db.session.add(escalation_rule_from_item(item))
    db.session.flush()
    return loaded, len(escalations)


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


def is_set_up() -> bool:
    """The organisation has been set up (a preset loaded, or the wizard finished)."""
    row = db.session.get(SystemSetting, SETUP_SETTING)
    if row is not None and row.value == "1":
        return True
    return db.session.scalar(sa.select(sa.func.count(Unit.id))) > 0


def _load_units(items: list[dict]) -> None:
    units = {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}
    for item in items:
        if item["name"] in units:
            continue
        unit = Unit(
            name=item["name"],
            kind=UnitKind(item["kind"]),
            doc_code=item.get("doc_code"),
            short_name=item.get("short_name"),
            parent=units.get(item["parent"]) if item.get("parent") else None,
            sort_order=item.get("sort_order", 0),
        )
        db.session.add(unit)
        units[unit.name] = unit
    db.session.flush()


def _load_categories(items: list[dict]) -> None:
    by_code = categories_by_code()
    # Categories by (name, parent id), read once and kept up to date, where a query per item
    # took a third of loading a preset. Where a name repeats under one parent, the oldest row.
    by_name: dict[tuple, Category] = {}
    for existing in db.session.scalars(sa.select(Category).order_by(Category.id)):
        by_name.setdefault((existing.name, existing.parent_id), existing)
    # New categories are flushed together while their parents are stored (flushing each on
    # its own was the rest of that time). Rows of one flush whose parents are all stored go
    # in as they were added, so ids and audit entries come in the items' order, as they did
    # with a flush per item; a parent added in this batch is flushed first for its id, and a
    # changed code goes in a flush of its own.
    for item in items:
        if item["code"] in by_code:
            continue
        parent = by_code.get(item["parent"]) if item.get("parent") else None
        if parent is not None and parent.id is None:
            db.session.flush()
        parent_id = parent.id if parent is not None else None
        category = by_name.get((item["name"], parent_id))
        if category is None:
            category = Category(
                name=item["name"],
                kind=CategoryKind(item["kind"]),
                parent=parent,
                sort_order=item.get("sort_order", 0),
                code=item["code"],
                description=item.get("description"),
            )
            db.session.add(category)
            by_name[(category.name, parent_id)] = category
        elif category.code is None:
            db.session.flush()
            category.code = item["code"]
            db.session.flush()
        by_code[item["code"]] = category
    db.session.flush()


def _name_roles(names: dict[str, str]) -> None:
    """Give roles the sector's display names, unless an administrator renamed them already."""
    roles = {role.code: role for role in db.session.scalars(sa.select(Role))}
    taken = {role.name for role in roles.values()}
    for code, name in names.items():
        role = roles.get(code)
        if role is None or role.name == name or name in taken:
            continue
        if role.name != DEFAULT_ROLES[code][0]:
            continue
        taken.discard(role.name)
        role.name = name
        taken.add(name)
    db.session.flush()


def _load_settings(values: dict[str, str]) -> None:
    """Preset values for settings still at the built-in default (or missing)."""
    for key, value in values.items():
        row = db.session.get(SystemSetting, key)
        if row is None or (key in DEFAULT_SETTINGS and row.value == DEFAULT_SETTINGS[key][0]):
            set_setting(key, value)


def _load_documents(items: list[dict]) -> None:
    for item in items:
        kind = DocumentKind(item["kind"])
        if db.session.get(DocumentTemplate, kind) is None:
            db.session.add(DocumentTemplate(kind=kind, title=item["title"], body=item["body"]))
    db.session.flush()


def load_preset(name: str = "government", *, organisation_name: str | None = None) -> None:
    """Load preset ``name`` as a whole working set-up (idempotent); flush, never commit."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    preset = PRESETS[name]
    ensure_roles()
    ensure_settings(organisation_name or preset["organisation_name"])
    _load_units(preset["units"])
    _load_categories(preset["categories"])
    _name_roles(preset["role_names"])
    settings = {"organisation_name": preset["organisation_name"], **preset["settings"]}
    _load_settings(settings)
    if organisation_name:
        set_setting("organisation_name", organisation_name)
    if db.session.get(SystemSetting, VOCABULARY_SETTING) is None:
        set_setting(VOCABULARY_SETTING, dump_vocabulary(preset["vocabulary"]), "称谓")
    if not db.session.scalar(sa.select(sa.func.count(DeadlineRule.id))):
        load_deadline_preset(name)
    _load_documents(preset["document_templates"])
    # Fields before routing: a routing rule may test a field's value.
    for key in ("custom_fields", "routing_rules"):
        if preset[key]:
            SECTIONS[key].apply(preset[key])
    from ..retention import RetentionRule

    if not db.session.scalar(sa.select(sa.func.count(RetentionRule.id))):
        SECTIONS["retention_rules"].apply(preset["retention_rules"])
    from ..callbacks import CallbackQuota

    if preset["callback_quotas"] and not db.session.scalar(
        sa.select(sa.func.count(CallbackQuota.id))
    ):
        SECTIONS["callback_quotas"].apply(preset["callback_quotas"])
    from ..operations.surveys import ensure_owner_survey_template

    ensure_owner_survey_template()
    set_setting(SETUP_SETTING, "1", "已完成初始设置")
    db.session.flush()


def preset_configuration(name: str, organisation_name: str | None = None) -> dict:
    """Preset ``name`` as a complete configuration file (see configuration.py): every role,
    every setting, every section, so that applying it makes the database that preset."""
    preset = PRESETS[name]
    settings = {key: default for key, (default, _label) in DEFAULT_SETTINGS.items()}
    settings.update(preset["settings"])
    settings["organisation_name"] = organisation_name or preset["organisation_name"]
    sections = {
        "units": preset["units"],
        "roles": [
            {
                "code": code,
                "name": preset["role_names"].get(code, default_name),
                "description": None,
                "permissions": sorted(permissions),
            }
            for code, (default_name, permissions) in DEFAULT_ROLES.items()
        ],
        "categories": preset["categories"],
        "settings": [{"key": key, "value": value} for key, value in sorted(settings.items())],
        "vocabulary": [
            {"standard": standard, "word": word}
            for standard, word in sorted(preset["vocabulary"].items())
        ],
        "deadline_rules": preset["deadline_rules"],
        "escalation_rules": preset["escalation_rules"],
        "document_templates": preset["document_templates"],
        "custom_fields": preset["custom_fields"],
        "routing_rules": preset["routing_rules"],
        "retention_rules": preset["retention_rules"],
        "callback_quotas": preset["callback_quotas"],
    }
    return {"format": FORMAT, "version": VERSION, "sections": sections}


def set_up_organisation(name: str, organisation_name: str, *, by) -> None:
    """The set-up wizard: make this (still empty) database preset ``name``; flush only.

    Refused once cases exist: a preset replaces units, categories and rules wholesale."""
    from ..cases import Case
    from ..operations import NotPermitted, ValidationFailed
    from ..operations.audit_log import record_audit

    if not (by.has_permission("settings.manage") and by.has_permission("user.manage")):
        raise NotPermitted(_("只有系统管理员可以进行初始设置"))
    if name not in PRESETS:
        raise ValidationFailed(_("请选择一种预设"), field="preset")
    organisation_name = (organisation_name or "").strip()
    if not 1 <= len(organisation_name) <= 100:
        raise ValidationFailed(_("请填写单位名称（不超过100个字）"), field="organisation_name")
    if db.session.scalar(sa.select(sa.func.count(Case.id))):
        raise ValidationFailed(
            _(
                "数据库中已有登记的事项，不能再进行初始设置；请在各设置页面中逐项修改，或使用配置导入。"
            )
        )
    apply_configuration(preset_configuration(name, organisation_name))
    load_preset(name, organisation_name=organisation_name)
    record_audit(
        "setup",
        by=by,
        target_type="system_settings",
        target_id=SETUP_SETTING,
        summary=f"初始设置：{PRESETS[name]['title']}（{organisation_name}）",
        data={"preset": name, "organisation_name": organisation_name},
    )
