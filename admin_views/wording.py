"""Recorded changes in words (issue 19): the timeline's and the audit log's before → after
values read as people write them, in the reader's language and the office's time zone.

Rows store raw values (ISO timestamps, enum codes, ``True``, foreign-key ids) and keep doing
so; they are worded here, when shown, so rows written before this change read well too:

- ``2026-11-30T09:50:00+00:00`` → ``2026年11月30日 17:50`` (``30 Nov 2026 17:50`` in English);
- ``True`` / ``False`` → 是 / 否;
- an enum code → its title (``satisfied`` → 满意);
- a foreign key → the record's name (``category_id`` 3 → 事项分类 ``噪声污染``), except people
  (parties) for readers who may not see identities;
- the column → its label on the record's screen (``done_at`` → 办结时间).
"""

from __future__ import annotations

import re
from datetime import date, datetime

import sqlalchemy as sa
from flask import current_app, g, has_app_context, has_request_context
from flask_babel import get_locale, lazy_pgettext
from flask_babel import gettext as _

from models import db
from models.base import to_local
from models.enums import TitledEnum
from models.texts import lazy_gettext as _l

from .labels import COMMON_LABELS

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2}|Z)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

#: Table names in words (the audit log's 记录类型); tables with a screen also fall back to its
#: menu name.
TABLE_TITLES = {
    "cases": _l("信访事项"),
    "letters": _l("来信"),
    "visits": _l("来访"),
    "calls": _l("来电"),
    "callbacks": _l("回访"),
    "attachments": _l("附件"),
    "parties": _l("信访人"),
    "case_events": _l("办理时间线"),
    "users": _l("用户"),
    "roles": _l("角色"),
    "units": _l("单位与部门"),
    "categories": _l("事项分类"),
    "system_settings": _l("系统设置"),
    "case_clocks": _l("办理时限"),
    "clock_escalations": _l("时限提醒记录"),
    "notifications": _l("消息提醒"),
    "survey_items": _l("问卷题目"),
    "survey_answers": _l("问卷答案"),
    "case_representatives": _l("代表人"),
    "case_replies": _l("答复"),
    "outgoing_contacts": _l("联系记录"),
    "issued_documents": _l("已出具文书"),
    "register_jobs": _l("台账生成任务"),
    "scheduled_runs": _l("定时任务记录"),
    "api_case_links": _l("接口事项关联"),
    "commendations": _l("表扬记录"),
    "online_petitions": _l("网上信访"),
    "reception_rota_members": _l("接待值班人员"),
    "login_failures": _l("登录失败记录"),
    "case_daily_stats": _l("统计汇总"),
    "case_monthly_stats": _l("统计汇总"),
    "case_stat_deadlines": _l("统计汇总"),
    "callback_daily_stats": _l("统计汇总"),
}

#: The presets' names (models.maintenance.presets) in the reader's language.
PRESET_TITLES = {
    "government": _l("政府信访"),
    "enterprise": _l("企业客服"),
    "property": _l("物业管理"),
    "hospital": _l("医院"),
}

#: Labels for bookkeeping columns every table has.
GENERIC_LABELS = {
    "id": _l("编号"),
    "created_at": _l("创建时间"),
    "updated_at": _l("修改时间"),
    "created_by_id": _l("创建人"),
    "updated_by_id": _l("修改人"),
    "deleted_at": _l("删除时间"),
    "deleted_by_id": _l("删除人"),
    "is_deleted": _l("已删除"),
    "user_id": _l("用户"),
    "case_id": lazy_pgettext("field", "信访事项"),
    "unit_id": _l("单位"),
    "role_id": _l("角色"),
    "data": _l("内容"),
    "summary": _l("摘要"),
    "message": _l("内容"),
    "level": _l("级别"),
    "kind": _l("类型"),
    "read_at": _l("阅读时间"),
    "email": _l("电子邮箱"),
    "email_delivery": _l("邮件通知方式"),
    "email_kinds": _l("邮件通知事项"),
    "fired_at": _l("触发时间"),
    "due_at": _l("期限"),
    "due_on": _l("期限"),
    "started_at": _l("起算时间"),
    "stopped_at": _l("停止时间"),
    "done_at": _l("完成时间"),
    "rule_id": _l("规则"),
    "clock_id": _l("办理时限"),
    "amount": _l("时限"),
    "unit": _l("单位"),
    "value": _l("值"),
    "key": _l("设置项"),
    "code": _l("代码"),
    "position": _l("顺序"),
    "unread_notification_count": _l("未读消息数"),
    "rule": _l("规则"),
    "extension": _l("已延期"),
    "extension_count": _l("延期次数"),
    "pending_extension": _l("申请延长"),
    "paused_amount": _l("暂停计时"),
    "calendar_fallback": _l("按自然日计算"),
    "custom_values": _l("自定义字段"),
    "password_hash": _l("密码"),
    "session_token": _l("登录令牌"),
    "clock": _l("办理时限"),
    "rating": _l("评分"),
    "response_id": _l("问卷"),
    "item_id": _l("题目"),
    "campaign_id": _l("调查"),
    "answer": _l("答案"),
    "text": _l("内容"),
    "from": _l("原状态"),
    "to": _l("新状态"),
}


def _memo() -> dict:
    if has_request_context() or has_app_context():
        if "_wording_memo" not in g:
            g._wording_memo = {}
        return g._wording_memo
    return {}


def is_chinese() -> bool:
    locale = get_locale() if has_request_context() or has_app_context() else None
    return locale is None or locale.language == "zh"


# --- labels ---------------------------------------------------------------------------------


def _views():
    if not has_app_context():
        return []
    admins = current_app.extensions.get("admin") or []
    return admins[0]._views if admins else []


def _table_of(view) -> str | None:
    model = getattr(view, "model", None)
    return getattr(model, "__tablename__", None)


def table_title(table: str | None) -> str:
    """A table's records in the reader's language (``case_events`` → 办理时间线)."""
    if not table:
        return ""
    if table in TABLE_TITLES:
        return str(TABLE_TITLES[table])
    for view in _views():
        if _table_of(view) == table and getattr(view, "name", None):
            return str(view.name)
    return table


def table_labels(table: str | None) -> dict:
    """Column labels of ``table``'s screens (the first screen's label wins), then the shared
    ones. Lazy strings: call ``str`` at display time."""
    merged = dict(GENERIC_LABELS)
    merged.update(COMMON_LABELS)
    for view in reversed(_views()):
        if table is not None and _table_of(view) == table:
            merged.update(getattr(view, "column_labels", None) or {})
    return merged


def field_label(key: str, labels_by_key: dict) -> str:
    """``key``'s label; ``x_id`` and ``x.name`` borrow ``x``'s; a label from any screen next;
    the key itself only when no screen names it."""
    for candidate in (key, key.removesuffix("_id"), key.split(".", 1)[0]):
        if candidate in labels_by_key:
            return str(labels_by_key[candidate])
    everywhere = _all_labels()
    for candidate in (key, key.removesuffix("_id")):
        if candidate in everywhere:
            return str(everywhere[candidate])
    return key


def _all_labels() -> dict:
    memo = _memo()
    if "labels" not in memo:
        merged = {}
        for view in reversed(_views()):
            merged.update(getattr(view, "column_labels", None) or {})
        merged.update(GENERIC_LABELS)
        merged.update(COMMON_LABELS)
        memo["labels"] = merged
    return memo["labels"]


# --- values ---------------------------------------------------------------------------------


def datetime_text(value: datetime) -> str:
    local = to_local(value) if value.tzinfo is not None else value
    if is_chinese():
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    return f"{local.day} {local:%b %Y %H:%M}"


def date_text(value: date) -> str:
    if is_chinese():
        return f"{value.year}年{value.month}月{value.day}日"
    return f"{value.day} {value:%b %Y}"


def ui_date(value) -> str:
    """A date (or a time's local day) on a screen, in the reader's language: ``2026年3月1日`` /
    ``1 Mar 2026``. Documents keep ``chinese_date``: they are Chinese whatever the screen."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        value = (to_local(value) if value.tzinfo is not None else value).date()
    if isinstance(value, str):
        return value_text(value)
    return date_text(value)


def person_text(value) -> str:
    """A person as ``name（phone）`` with the reader's brackets; other values as they are,
    nothing as an empty string."""
    if value is None:
        return ""
    phone = getattr(value, "phone", None)
    if phone and hasattr(value, "name"):
        return _("%(name)s（%(detail)s）", name=value.name, detail=phone)
    return str(value)


def install_wording(app) -> None:
    app.jinja_env.filters["ui_date"] = ui_date
    app.jinja_env.filters["person"] = person_text


def _columns_by_key() -> dict:
    """``{column key: [(table, column)]}`` over every mapped table (once per process)."""
    found = getattr(_columns_by_key, "cache", None)
    if found is None:
        found = {}
        for mapper in db.Model.registry.mappers:
            table = mapper.local_table
            for attr in mapper.column_attrs:
                column = attr.expression
                if isinstance(column, sa.Column):
                    found.setdefault(attr.key, []).append((table.name, column, mapper.class_))
        _columns_by_key.cache = found
    return found


def _column(key: str, table: str | None):
    candidates = _columns_by_key().get(key, [])
    for name, column, _cls in candidates:
        if name == table:
            return column
    return candidates[0][1] if len(candidates) == 1 else None


def _enum_title(key: str, value: str, table: str | None) -> str | None:
    column = _column(key, table)
    candidates = []
    if column is not None:
        candidates = [getattr(column.type, "enum_class", None)]
    else:
        candidates = [
            getattr(c.type, "enum_class", None) for _t, c, _m in _columns_by_key().get(key, [])
        ]
    for enum_cls in candidates:
        if enum_cls is not None and issubclass(enum_cls, TitledEnum):
            try:
                return enum_cls(value).title
            except ValueError:
                continue
    return None


def _foreign_name(key: str, value, table: str | None, identities_hidden: bool) -> str | None:
    column = _column(key, table)
    if column is None or not column.foreign_keys or isinstance(value, bool):
        return None
    target = next(iter(column.foreign_keys)).column.table.name
    from models.policies import PERSON_TABLES

    if identities_hidden and target in PERSON_TABLES:
        return f"{table_title(target)} #{value}"
    memo = _memo().setdefault("names", {})
    if (target, value) not in memo:
        cls = _target_class(target)
        obj = db.session.get(cls, value) if cls is not None else None
        memo[(target, value)] = str(obj) if obj is not None else f"{table_title(target)} #{value}"
    return memo[(target, value)]


def _target_class(target: str):
    return next((m.class_ for m in db.Model.registry.mappers if m.local_table.name == target), None)


def prefetch_names(rows, identities_hidden: bool = False) -> None:
    """Load the records named by foreign keys in ``rows`` (audit rows: ``data`` with ``before``
    and ``after``) with one statement per table, so a page of the log names them without a
    query per value."""
    from models.policies import PERSON_TABLES

    wanted: dict[str, set] = {}
    for row in rows:
        data = getattr(row, "data", None) or {}
        for side in (data.get("before"), data.get("after")):
            if not isinstance(side, dict):
                continue
            for key, value in side.items():
                if not (key.endswith("_id") and isinstance(value, int)) or isinstance(value, bool):
                    continue
                column = _column(key, row.target_type)
                if column is None or not column.foreign_keys:
                    continue
                target = next(iter(column.foreign_keys)).column.table.name
                if identities_hidden and target in PERSON_TABLES:
                    continue
                wanted.setdefault(target, set()).add(value)
    names = _memo().setdefault("names", {})
    for target, ids in wanted.items():
        ids = {i for i in ids if (target, i) not in names}
        cls = _target_class(target)
        if not ids or cls is None:
            continue
        key = sa.inspect(cls).primary_key
        if len(key) != 1:
            continue
        for obj in db.session.scalars(sa.select(cls).where(key[0].in_(ids))):
            names[(target, getattr(obj, key[0].key))] = str(obj)
        for missing in ids:
            names.setdefault((target, missing), f"{table_title(target)} #{missing}")


def value_text(
    value, key: str | None = None, table: str | None = None, *, identities_hidden: bool = False
) -> str:
    """One recorded value in words (see the module docstring); ``—`` for nothing."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return _("是") if value else _("否")
    if isinstance(value, datetime):
        return datetime_text(value)
    if isinstance(value, date):
        return date_text(value)
    if isinstance(value, TitledEnum):
        return value.title
    if isinstance(value, list):
        return _("、").join(
            value_text(item, key, table, identities_hidden=identities_hidden) for item in value
        )
    if isinstance(value, dict):
        return _("；").join(
            f"{field_label(k, table_labels(table))}：{value_text(v, k, table)}"
            for k, v in value.items()
        )
    if isinstance(value, str):
        if _DATETIME.match(value):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return value
            return datetime_text(parsed)
        if _DATE.match(value):
            try:
                return date_text(date.fromisoformat(value))
            except ValueError:
                return value
        if key and re.fullmatch(r"[a-z][a-z0-9_]*", value):
            title = _enum_title(key, value, table)
            if title is not None:
                return title
        return value
    if key and isinstance(value, int) and key.endswith("_id"):
        name = _foreign_name(key, value, table, identities_hidden)
        if name is not None:
            return name
    return str(value)


def change_text(before, after, key: str | None = None, table: str | None = None, **kw) -> str:
    return f"{value_text(before, key, table, **kw)} → {value_text(after, key, table, **kw)}"
