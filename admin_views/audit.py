"""The audit log screen: read-only, with filters (who, what, which record, when)."""

from __future__ import annotations

import json

import sqlalchemy as sa
from flask_admin.contrib.sqla import filters
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup

from models import AuditEntry
from models.audit import AuditAction
from models.policies import PERSON_TABLES, audit_identity_hidden, masked_audit_data

from .base import ProtectedModelView
from .filters import ChoiceEqualFilter, date_filters
from .labels import labels

ACTION_TITLES = {
    AuditAction.create: _l("新建"),
    AuditAction.update: _l("修改"),
    AuditAction.delete: _l("删除"),
    AuditAction.login: _l("登录成功"),
    AuditAction.login_failed: _l("登录失败"),
    AuditAction.login_blocked: _l("登录被限制"),
    AuditAction.logout: _l("退出"),
    AuditAction.export: _l("导出"),
    AuditAction.print: _l("打印"),
    AuditAction.confidential_view: _l("查看保密信息"),
    AuditAction.denied: _l("拒绝访问"),
}


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
}


def table_choices():
    from models import db

    names = sorted(name for name in db.metadata.tables if name != "audit_log")
    return [
        (name, f"{TABLE_TITLES[name]}（{name}）" if name in TABLE_TITLES else name)
        for name in names
    ]


def _table(view, context, model, name):
    title = TABLE_TITLES.get(model.target_type)
    return f"{title}（{model.target_type}）" if title else (model.target_type or "")


def action_choices():
    return [(code, str(title)) for code, title in ACTION_TITLES.items()]


def _action(view, context, model, name):
    return ACTION_TITLES.get(model.action, model.action)


def _reader_data(model) -> dict:
    """The row's data as the signed-in reader may see it (identities masked, see
    :func:`models.policies.audit_identity_hidden`)."""
    data = model.data or {}
    if audit_identity_hidden(current_user):
        return masked_audit_data(data, model.target_type)
    return data


def _summary(view, context, model, name):
    if model.target_type in PERSON_TABLES and audit_identity_hidden(current_user):
        return _("%(table)s #%(id)s", table=_table(view, context, model, name), id=model.target_id)
    return model.summary or ""


def _changes(view, context, model, name):
    """Before → after per field, one line each; other details as compact JSON."""
    data = _reader_data(model)
    before, after = data.get("before"), data.get("after")
    if isinstance(before, dict) or isinstance(after, dict):
        before, after = before or {}, after or {}
        lines = []
        for key in sorted(set(before) | set(after)):
            old, new = before.get(key), after.get(key)
            if model.action == AuditAction.create:
                lines.append(Markup("<b>{}</b>：{}").format(key, _short(new)))
            elif model.action == AuditAction.delete and key not in after:
                lines.append(Markup("<b>{}</b>：{}").format(key, _short(old)))
            else:
                lines.append(Markup("<b>{}</b>：{} → {}").format(key, _short(old), _short(new)))
        return Markup("<br>").join(lines[:12]) + (Markup(" …") if len(lines) > 12 else "")
    return _short(data, 200) if data else ""


def _short(value, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class AuditLogView(ProtectedModelView):
    """Append-only: no create, edit or delete, for anyone (administrators included)."""

    permission_view = "audit.read_log"
    allow_create = allow_edit = allow_delete = False
    can_view_details = True
    simple_list_pager = True
    page_size = 50
    column_list = ("at", "username", "action", "target_type", "target_id", "summary", "changes")
    column_details_list = (
        "at",
        "username",
        "user",
        "action",
        "target_type",
        "target_id",
        "summary",
        "changes",
        "ip_address",
    )
    column_default_sort = [("at", True), ("id", True)]
    column_sortable_list = ("at",)
    column_searchable_list = ("username", "target_id", "summary")
    column_filters = (
        ChoiceEqualFilter(AuditEntry.action, _l("操作"), options=action_choices),
        ChoiceEqualFilter(AuditEntry.target_type, _l("记录类型"), options=table_choices),
        filters.FilterEqual(AuditEntry.target_id, _l("记录编号")),
        filters.FilterEqual(AuditEntry.username, _l("用户名")),
        filters.FilterEqual(AuditEntry.ip_address, _l("来源地址")),
        *date_filters(AuditEntry.at, _l("日期")),
    )
    column_formatters = {
        "action": _action,
        "changes": _changes,
        "target_type": _table,
        "summary": _summary,
        # Rows without a user come from the command line and scheduled jobs.
        "username": lambda view, context, model, name: model.username or _("系统"),
    }
    column_formatters_detail = column_formatters
    column_labels = labels(
        at=_l("时间（北京时间）"),
        username=_l("用户名"),
        user=_l("用户"),
        action=_l("操作"),
        target_type=_l("记录类型"),
        target_id=_l("记录编号"),
        summary=_l("摘要"),
        changes=_l("修改前 → 修改后"),
        ip_address=_l("来源地址"),
    )
    action_disallowed_list = ("delete",)

    def _apply_search(self, query, count_query, joins, count_joins, search):
        if audit_identity_hidden(current_user):
            # A summary names the person on person rows: searching it by name would tell
            # whether someone is in the register even though the row shows the mask.
            hidden = sa.or_(
                AuditEntry.target_type.is_(None), AuditEntry.target_type.notin_(PERSON_TABLES)
            )
            query = query.filter(hidden)
            if count_query is not None:
                count_query = count_query.filter(hidden)
        return super()._apply_search(query, count_query, joins, count_joins, search)
