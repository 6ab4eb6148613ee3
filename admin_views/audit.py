"""The audit log screen: read-only, with filters (who, what, which record, when)."""

from __future__ import annotations

import json

import sqlalchemy as sa
from flask import g
from flask_admin.contrib.sqla import filters
from flask_admin.contrib.sqla.tools import parse_like_term
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from models import AuditEntry, CaseEvent
from models.audit import AuditAction
from models.enums import Clock, EventKind
from models.policies import PERSON_TABLES, audit_identity_hidden, masked_audit_data
from models.settings import DEFAULT_SETTINGS
from models.texts import lazy_gettext as _l

from .base import ProtectedModelView
from .filters import ChoiceEqualFilter, date_filters
from .labels import labels
from .wording import field_label, prefetch_names, table_labels, table_title, value_text

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


def table_choices():
    from models import db

    names = (name for name in db.metadata.tables if name != "audit_log")
    return sorted(((name, table_title(name)) for name in names), key=lambda pair: pair[1])


def _table(view, context, model, name):
    return table_title(model.target_type)


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
    table = model.target_type
    if table in PERSON_TABLES and audit_identity_hidden(current_user):
        return _("%(table)s #%(id)s", table=_table(view, context, model, name), id=model.target_id)
    return summary_text(model)


def summary_text(model) -> str:
    """The row's summary in the reader's language, worded at display time: a record without a
    text of its own is "table #id" (its table in words), a timeline row its event's title and
    case (its stored summary is an English line for logs), a setting its label."""
    table, summary = model.target_type, model.summary or ""
    data = model.data or {}
    snapshot = data.get("after") or data.get("before") or {}
    if table and summary == f"{table} #{model.target_id}":
        return _("%(table)s #%(id)s", table=table_title(table), id=model.target_id)
    if table == "case_events" and isinstance(snapshot, dict) and snapshot.get("kind"):
        title = EventKind.title_of(snapshot["kind"])
        case = snapshot.get("case_id")
        if case is None:
            return title
        return _(
            "%(event)s（%(case)s）", event=title, case=value_text(case, "case_id", "case_events")
        )
    if table == "case_clocks" and isinstance(snapshot, dict) and snapshot.get("kind"):
        return Clock.title_of(snapshot["kind"])
    if table == "system_settings" and summary in DEFAULT_SETTINGS:
        return str(DEFAULT_SETTINGS[summary][1])
    return summary


def _changes(view, context, model, name):
    """Before → after per field, one line each; other details as compact JSON."""
    data = _reader_data(model)
    before, after = data.get("before"), data.get("after")
    if isinstance(before, dict) or isinstance(after, dict):
        before, after = before or {}, after or {}
        table = model.target_type
        labels_by_key = table_labels(table)
        hidden = audit_identity_hidden(current_user)
        _prefetch_page(context, hidden)
        colon = _("：")

        def worded(key, value):
            return _short(value_text(value, key, table, identities_hidden=hidden))

        lines = []
        for key in sorted(set(before) | set(after)):
            if table == "case_events" and key == "summary":
                continue  # an English line for the server's logs; the event's title says it
            old, new = before.get(key), after.get(key)
            if table == "case_events" and key == "data":
                old, new = _event_text(before, old), _event_text(after, new)
            label = field_label(key, labels_by_key)
            if model.action == AuditAction.create:
                lines.append(Markup("<b>{}</b>{}{}").format(label, colon, worded(key, new)))
            elif model.action == AuditAction.delete and key not in after:
                lines.append(Markup("<b>{}</b>{}{}").format(label, colon, worded(key, old)))
            else:
                lines.append(
                    Markup("<b>{}</b>{}{} → {}").format(
                        label, colon, worded(key, old), worded(key, new)
                    )
                )
        return Markup("<br>").join(lines[:12]) + (Markup(" …") if len(lines) > 12 else "")
    return _short(data, 200) if data else ""


def _prefetch_page(context, hidden: bool) -> None:
    """Name the page's foreign keys with one statement per table (once per page)."""
    rows = context.get("data") if context is not None else None
    if not rows or g.get("_audit_prefetched") is rows:
        return
    g._audit_prefetched = rows
    prefetch_names(rows, identities_hidden=hidden)


def _event_text(snapshot: dict, data):
    """A timeline row's data as its timeline line."""
    if not isinstance(data, dict) or not snapshot.get("kind"):
        return data
    from .cases import describe_event, timeline_labels

    try:
        event = CaseEvent(kind=EventKind(snapshot["kind"]), data=data)
    except ValueError:
        return data
    return describe_event(event, timeline_labels()) or data


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
            # Summaries name people, and not only on person rows (a letter's title, a pass, an
            # appointment): searching them by name would tell whether someone is on record,
            # and with which case, though the row shows the mask. Such readers search by user
            # name and record number only.
            for term in search.split():
                like = parse_like_term(term)
                match = sa.or_(
                    sa.cast(AuditEntry.username, sa.Unicode).ilike(like),
                    sa.cast(AuditEntry.target_id, sa.Unicode).ilike(like),
                )
                query = query.filter(match)
                if count_query is not None:
                    count_query = count_query.filter(match)
            return query, count_query, joins, count_joins
        return super()._apply_search(query, count_query, joins, count_joins, search)
