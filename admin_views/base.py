"""Shared admin plumbing: access rules, local time, Chinese enum labels, one-commit saves."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from flask import abort, current_app, flash, g, has_request_context, redirect, request, url_for
from flask import session as flask_session
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.babel import gettext as admin_gettext
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.form import AdminModelConverter
from flask_admin.model.form import converts
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy.orm.exc import StaleDataError
from wtforms import HiddenField

from models import Case, db
from models.audit import AuditAction, AuditEntry
from models.base import format_local, utcnow
from models.enums import TitledEnum
from models.operations import WorkflowError
from models.operations.records import create_record, delete_record, update_record
from models.queries.lists import DeadlineCell, ListTotal, list_total
from models.texts import lazy_gettext as _l

from .choices import (
    KeptAjaxSelectField,
    KeptAjaxSelectMultipleField,
    ModelSelectField,
    ModelSelectMultipleField,
    active_query,
)
from .fields import LocalDateTimeField, NotInFuture
from .filters import CachedOptions
from .input import MAX_ID, checked_form_base
from .row_actions import ListRow, RowActions

logger = logging.getLogger(__name__)


def refuse_access():
    """What a screen answers a request it is not for: the login page for someone signed out
    (coming back here afterwards), 403 for someone signed in."""
    if not current_user.is_authenticated:
        return redirect(url_for("admin.login_view", next=request.full_path))
    abort(403)


class LocalModelConverter(AdminModelConverter):
    def _model_select_field(self, prop, multiple, remote_model, **kwargs):
        # Every reference field of every form is built here, so refusing unknown ids and
        # keeping deactivated current values (see ``choices``) holds for all of them.
        loader = getattr(self.view, "_form_ajax_refs", {}).get(prop.key)
        if loader is not None:
            field_class = KeptAjaxSelectMultipleField if multiple else KeptAjaxSelectField
            return field_class(loader, **kwargs)
        if not multiple and kwargs.get("allow_blank"):
            kwargs.setdefault("blank_text", _l("（未选择）"))
        kwargs.setdefault("query_factory", active_query(remote_model))
        field_class = ModelSelectMultipleField if multiple else ModelSelectField
        return field_class(**kwargs)

    @converts("UTCDateTime")
    def convert_utc_datetime(self, field_args, **extra):
        field_args["validators"].append(NotInFuture())
        return LocalDateTimeField(**field_args)


def _enum_title(view, value, *args):
    return value.title


def _datetime_local(view, value, *args):
    return format_local(value)


def _date_iso(view, value, *args):
    return value.isoformat()


def _bool_text(view, value, *args):
    return _("是") if value else _("否")


def type_formatters(enum_classes) -> dict:
    formatters = {
        type(None): lambda view, value, *args: "",
        bool: _bool_text,
        datetime: _datetime_local,
        date: _date_iso,
        list: lambda view, value, *args: _("、").join(str(item) for item in value),
    }
    for enum_cls in enum_classes:
        formatters[enum_cls] = _enum_title
    return formatters


#: ``id(formatters) → (formatters, {value type: its formatter or None})``: the first formatter
#: whose type matches, as Flask-Admin finds it, looked up once per value type instead of once
#: per cell (a cell's string value was tested against every one of forty-odd enum types).
_FORMATTER_BY_TYPE: dict[int, tuple[dict, dict]] = {}


def type_formatter(formatters: dict, value_type: type):
    entry = _FORMATTER_BY_TYPE.get(id(formatters))
    if entry is None or entry[0] is not formatters:
        entry = _FORMATTER_BY_TYPE[id(formatters)] = (formatters, {})
    by_type = entry[1]
    if value_type not in by_type:
        by_type[value_type] = next(
            (
                formatter
                for formatted_type, formatter in formatters.items()
                if issubclass(value_type, formatted_type)
            ),
            None,
        )
    return by_type[value_type]


def _all_titled_enums() -> list[type[TitledEnum]]:
    import models.enums as enums_module

    return [
        obj
        for obj in vars(enums_module).values()
        if isinstance(obj, type) and issubclass(obj, TitledEnum) and obj is not TitledEnum
    ]


def conflict_message(model, opened: str, field_labels) -> str:
    """Who changed ``model`` since ``opened`` (ISO time) and which fields, from the audit log."""
    from models.policies import timeline_value_hidden

    from .confidential import reporter_hidden

    state = sa.inspect(model)
    query = sa.select(AuditEntry).where(
        AuditEntry.target_type == state.mapper.local_table.name,
        AuditEntry.target_id == str(state.identity[0]),
        AuditEntry.action.in_([AuditAction.update, AuditAction.delete]),
    )
    try:
        since = datetime.fromisoformat(opened) if opened else None
    except ValueError:
        since = None
    if since is not None:
        query = query.where(AuditEntry.at > since)
    entries = list(
        reversed(db.session.scalars(query.order_by(AuditEntry.id.desc()).limit(5)).all())
    )
    case = model if isinstance(model, Case) else getattr(model, "case", None)
    hide_identity = isinstance(case, Case) and reporter_hidden(case)
    parts = []
    for entry in entries:
        before = (entry.data or {}).get("before") or {}
        after = (entry.data or {}).get("after") or {}
        fields = []
        for key in sorted(set(before) | set(after)):
            label = str(field_labels.get(key, key))
            # Identities and the texts that quote the reporter (反映内容 …): the field only.
            if hide_identity and (timeline_value_hidden(key, True) or key.endswith("_id")):
                fields.append(label)
                continue
            fields.append(
                _(
                    "%(field)s（%(old)s → %(new)s）",
                    field=label,
                    old=_brief(before.get(key)),
                    new=_brief(after.get(key)),
                )
            )
        parts.append(
            _(
                "%(user)s 于 %(time)s 修改了：%(fields)s",
                user=entry.username or _("系统"),
                time=format_local(entry.at),
                fields=_("、").join(fields) or _("（无字段变化）"),
            )
        )
    message = _("该记录在您编辑期间已被他人修改，您的修改未保存。")
    if parts:
        message += " " + "；".join(parts) + "。"
    return message + " " + _("请重新打开后再编辑。")


def _brief(value) -> str:
    if value is None or value == "":
        return "—"
    text = str(value)
    return text if len(text) <= 30 else text[:29] + "…"


def selected_ids(values, limit: int = 500) -> list[int]:
    """The row ids posted by a list's check boxes as integers; anything that cannot be a row's
    id (not a number, zero or negative, beyond the largest key) is left out."""
    keys = []
    for value in values:
        text = str(value).strip()
        if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ID:
            keys.append(int(text))
    return keys[:limit]


@dataclass(frozen=True)
class ListPages:
    """What a list page's pager shows: the page (0-based), the total, the pages that may be
    opened (at most ``limit``), and whether the page asked for lay beyond them."""

    page: int
    total: ListTotal
    size: int
    limit: int
    has_next: bool
    #: The page number asked for, when it lay beyond the limit (the last page is shown).
    beyond: int | None = None

    @property
    def pages(self) -> int:
        """Pages that may be opened (an estimate counts as many as it says)."""
        if not self.size:
            return 1
        return max(min(math.ceil(self.total.value / self.size), self.limit), 1)

    @property
    def limited(self) -> bool:
        """The list holds more rows than its pages can show."""
        return bool(self.size) and (
            self.total.value > self.limit * self.size or not self.total.exact
        )

    @property
    def at_limit(self) -> bool:
        """Show the deep-page notice: on the last page that may be opened, or beyond it."""
        return self.beyond is not None or (self.limited and self.page >= self.limit - 1)


#: Bootstrap colour of a deadline's state; the words say the same (colour is never alone).
DEADLINE_BADGE_CSS = {
    "overdue": "danger",
    "soon": "warning",
    "running": "light border",
    "paused": "secondary",
}


def deadline_badge(cell: DeadlineCell | None) -> Markup:
    """The 期限 cell of case lists and work lists: the deadline, and the time left in words."""
    if cell is None:
        return Markup('<span class="text-muted">—</span>')
    due = format_local(cell.due_at)
    # ``%`` escapes each value as ``str.format`` would, at a fraction of the cost (a cell per
    # row of every case list and work list).
    return Markup(
        '<span class="deadline deadline-%s" title="%s">'
        '<span class="badge badge-%s">%s</span>'
        '<br><small class="text-muted">%s %s</small></span>'
    ) % (
        cell.state,
        _("期限 %(due)s", due=due),
        DEADLINE_BADGE_CSS[cell.state],
        cell.left,
        cell.kind,
        due,
    )


class RecordNotSaved(Exception):
    """A save hook returned without its operation saving the record: a programming error."""


class ProtectedModelView(ModelView):
    """Every admin screen: login required, permissions per action, soft delete, one commit."""

    #: Permission needed to open the view (``None``: every signed-in user).
    permission_view: str | None = None
    #: Alternatively, holding any one of these opens the view.
    permission_any: tuple[str, ...] = ()
    permission_create: str | None = None
    permission_edit: str | None = None
    permission_delete: str | None = None
    allow_create = True
    allow_edit = True
    allow_delete = True

    model_form_converter = LocalModelConverter
    can_view_details = True
    column_display_pk = False
    page_size = 20
    can_set_page_size = True
    page_size_options = (20, 50, 100)
    column_type_formatters = type_formatters(_all_titled_enums())
    column_type_formatters_detail = type_formatters(_all_titled_enums())

    def _prettify_name(self, name: str):
        """A column without a label of this screen: the shared label of that column (lazy, so
        it follows the language), never Flask-Admin's "Unread Notification Count"."""
        from .labels import COMMON_LABELS
        from .wording import GENERIC_LABELS

        for key in (name, name.removesuffix("_id")):
            if key in COMMON_LABELS:
                return COMMON_LABELS[key]
            if key in GENERIC_LABELS:
                return GENERIC_LABELS[key]
        return super()._prettify_name(name)

    def search_label(self, name) -> str:
        """A searchable column in the user's language: its own label, else the label of the
        relation it reaches through (``writer.name`` reads 来信人), never the column's name."""
        name = getattr(name, "key", name)
        column_labels = self.column_labels or {}
        label = column_labels.get(name)
        if label is None and "." in name:
            label = column_labels.get(name.split(".", 1)[0])
        if label is None:
            from .labels import COMMON_LABELS

            label = COMMON_LABELS.get(name) or COMMON_LABELS.get(name.split(".", 1)[0])
        return str(label) if label is not None else name

    def search_placeholder(self) -> str | None:
        if not self.column_searchable_list:
            return None
        return _("、").join(self.search_label(name) for name in self.column_searchable_list)

    #: Bookkeeping columns never shown on a details page.
    column_details_exclude_list = (
        "is_deleted",
        "deleted_at",
        "deleted_by_id",
        "version",
        "password_hash",
        "session_token",
        "stored_name",
    )

    def __init__(self, model, session, **kwargs):
        # Every model form reads its input through the one input layer (admin_views/input.py).
        self.form_base_class = checked_form_base(self.form_base_class, model)
        self.form_choices = dict(self.form_choices or {})
        for column in sa.inspect(model).columns:
            enum_cls = getattr(column.type, "enum_class", None)
            if enum_cls and issubclass(enum_cls, TitledEnum):
                self.form_choices.setdefault(column.key, enum_cls.choices())
        super().__init__(model, session, **kwargs)

    # -- access -------------------------------------------------------------------------
    def _allowed(self, permission: str | None) -> bool:
        # The user behind the proxy, once: each ``current_user`` attribute goes through two
        # context lookups, and the menu asks every screen.
        user = current_user._get_current_object()
        if not user.is_authenticated:
            return False
        return permission is None or user.has_permission(permission)

    def is_accessible(self) -> bool:
        if self.permission_any:
            user = current_user._get_current_object()
            return user.is_authenticated and any(
                user.has_permission(name) for name in self.permission_any
            )
        return self._allowed(self.permission_view)

    def inaccessible_callback(self, name, **kwargs):
        return refuse_access()

    @property
    def can_create(self) -> bool:
        return self.allow_create and self._allowed(self.permission_create or "user.manage")

    @property
    def can_edit(self) -> bool:
        return self.allow_edit and self._allowed(self.permission_edit or "user.manage")

    @property
    def can_delete(self) -> bool:
        return self.allow_delete and self._allowed(self.permission_delete or "user.manage")

    # -- scoping ------------------------------------------------------------------------
    def scope(self, query):
        """Restrict a query to the rows the current user may see."""
        if hasattr(self.model, "is_deleted"):
            query = query.filter(self.model.is_deleted.is_(False))
        return query

    def get_query(self):
        return self.scope(super().get_query())

    def _get_list_value(self, context, model, name, column_formatters, column_type_formatters):
        # Flask-Admin's, with the type formatter found by ``type_formatter``.
        column_formatter = column_formatters.get(name)
        if column_formatter is not None:
            value = column_formatter(self, context, model, name)
        else:
            value = self._get_field_value(model, name)
        choices_map = self._column_choices_map.get(name, {})
        if choices_map:
            return choices_map.get(value) or value
        formatter = type_formatter(column_type_formatters, type(value))
        return value if formatter is None else formatter(self, value, name)

    def get_count_query(self):
        return self.scope(super().get_count_query())

    def _get_one(self, id):
        # Flask-Admin's own get_one ignores get_query, so out-of-scope ids would open.
        try:
            key = int(id)
        except (TypeError, ValueError):
            return None
        return self.get_query().filter(self.model.id == key).one_or_none()

    # -- list pages ---------------------------------------------------------------------
    #: Every list: the shared pager with the list's total and the deep-page notice.
    list_template = "admin/model/paged_list.html"

    def page_limit(self) -> int:
        """Pages a list may be turned to (``LIST_PAGE_LIMIT``): deep OFFSET pages scan and
        discard rows, so staff narrow a long list with filters or search instead."""
        return max(int(current_app.config.get("LIST_PAGE_LIMIT", 500)), 1)

    def _listing(self) -> bool:
        return has_request_context() and request.endpoint == f"{self.endpoint}.index_view"

    def list_columns(self, query, paged):
        """Hook: the statement that loads the list page, from the list's sorted ``query``
        and its ``paged`` form; an override adds entities loaded with the page's rows in the
        same statement (e.g. each case's deadline), and ``list_rows`` takes them off again."""
        return paged

    def list_rows(self, rows):
        """Hook: the models to show from the rows ``list_columns``' query returned."""
        return rows

    def _get_list_extra_args(self):
        view_args = super()._get_list_extra_args()
        limit = self.page_limit()
        if self._listing() and (view_args.page or 0) >= limit:
            # A page beyond the limit shows the last one that may be opened, with a notice;
            # the pager's, sort and filter links then start from that page.
            g.list_page_beyond = view_args.page
            view_args.page = limit - 1
        return view_args

    def _apply_pagination(self, query, page, page_size):
        paged = super()._apply_pagination(query, page, page_size)
        if not self._listing():
            return paged
        # The filtered, scoped query without paging: what the total counts.
        g.list_base_query = query
        return self.list_columns(query, paged)

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True, page_size=None):
        limit = self.page_limit()
        listing = execute and self._listing()
        requested = max(page or 0, 0)
        if listing:
            requested = max(requested, g.pop("list_page_beyond", 0))
        page = min(requested, limit - 1)
        count, query = super().get_list(
            page, sort_column, sort_desc, search, filters, execute and not listing, page_size
        )
        if not listing:
            return count, query
        rows = self.list_rows(query.all())
        size = self.page_size if page_size is None else page_size
        g.list_pages = self._list_pages(count, rows, page, requested, size, limit)
        g.pop("list_base_query", None)
        return count, rows

    def _list_pages(self, count, rows, page, requested, size, limit) -> ListPages:
        full = bool(size) and len(rows) >= size
        if count is not None:
            total = ListTotal(count)
        elif not full and (rows or page == 0):
            # The last page: the rows before it and on it are the whole list, no count needed.
            total = ListTotal(page * (size or 0) + len(rows))
        else:
            key = getattr(self.model, self._primary_key)
            total = list_total(g.list_base_query, key)
        has_next = (
            full and page < limit - 1 and not (total.exact and (page + 1) * size >= total.value)
        )
        return ListPages(
            page=page,
            total=total,
            size=size or 0,
            limit=limit,
            has_next=has_next,
            beyond=requested + 1 if requested > page else None,
        )

    def render(self, template, **kwargs):
        pages = g.pop("list_pages", None) if has_request_context() else None
        if "list_row_actions" in kwargs and "return_url" in kwargs:
            row_actions = RowActions(
                self, kwargs["list_row_actions"], kwargs["return_url"], kwargs.get("delete_form")
            )
            kwargs["fast_row_actions"] = row_actions
            if "list_columns" in kwargs and not kwargs.get("editable_columns"):
                kwargs["fast_list_row"] = ListRow(
                    row_actions=row_actions,
                    selectable=bool(kwargs.get("actions")),
                    show_actions=self.column_display_actions,
                    columns=kwargs["list_columns"],
                    get_value=kwargs["get_value"],
                    get_pk_value=kwargs["get_pk_value"],
                    select_label=_("选择此行"),
                )
        if pages is not None and template == self.list_template:
            kwargs["list_pages"] = pages
            kwargs["page"] = pages.page
            if kwargs.get("num_pages"):
                kwargs["num_pages"] = min(kwargs["num_pages"], pages.limit)
        return super().render(template, **kwargs)

    _filter_options_generation = -1

    def _get_filter_groups(self):
        generation = CachedOptions.refresh_if_due()
        if generation != self._filter_options_generation:
            self._refresh_filters_cache()
            self._filter_options_generation = generation
        return super()._get_filter_groups()

    def validate_form(self, form):
        valid = super().validate_form(form)
        # Flask-Admin's form template only prints errors that are ``str``; lazy translated
        # messages from validators would be dropped silently.
        for field in form:
            if isinstance(field.errors, list | tuple):
                field.errors = [
                    str(error) if type(error).__name__ == "LazyString" else error
                    for error in field.errors
                ]
        return valid

    # -- saving through the service layer ----------------------------------------------
    # A view customises a save by overriding these hooks; each must end in an operation
    # (``models/operations``) that adds, changes or deletes the object. ``create_model`` and
    # friends check afterwards that it did, so a hook that forgets is refused, never reported
    # as saved.
    def on_create(self, form, model) -> None:
        """Save a populated new object (override to call the record's own operation)."""
        create_record(model, by=current_user)

    def on_update(self, form, model) -> None:
        """Save an edit (override to call the record's own operation)."""
        update_record(model, by=current_user)

    def on_delete(self, model) -> None:
        """Delete, or hide, a record (override to call the record's own operation)."""
        delete_record(model, by=current_user)

    def _report_error(self, form, error: Exception) -> None:
        field_name = getattr(error, "field", None)
        field = form._fields.get(field_name) if form is not None and field_name else None
        if field is not None:
            field.errors = [*field.errors, str(error)]
        flash(str(error), "error")

    def _save(self, form, model, action, outcome: str) -> bool:
        """Run ``action``, check that it left ``model`` saved as ``outcome`` says, commit once."""
        try:
            with db.session().no_autoflush:
                action()
            db.session.flush()
            self._check_saved(model, outcome)
            db.session.commit()
        except RecordNotSaved as error:
            db.session.rollback()
            logger.error("%s: %s", self.endpoint, error)
            flash(_("保存失败：程序未能保存这条记录，未做任何修改。请联系系统管理员。"), "error")
            return False
        except WorkflowError as error:
            db.session.rollback()
            self._report_error(form, error)
            return False
        except StaleDataError:
            db.session.rollback()
            flash(_("该记录已被他人修改，请重新打开后再保存。"), "error")
            return False
        except sa.exc.IntegrityError:
            db.session.rollback()
            logger.exception("integrity error saving %s", self.model.__name__)
            flash(
                _("保存失败：数据与已有记录冲突（例如重复的名称或编号），未做任何修改。"), "error"
            )
            return False
        return True

    def _check_saved(self, model, outcome: str) -> None:
        """Raise ``RecordNotSaved`` unless ``model`` is in the database as ``outcome`` says."""
        state = sa.inspect(model)
        if outcome == "deleted":
            done = state.deleted or state.was_deleted or getattr(model, "is_deleted", False)
        else:
            done = state.persistent and not state.deleted
        if not done:
            raise RecordNotSaved(
                f"the {outcome} hook left {type(model).__name__} unsaved "
                f"(transient={state.transient}, detached={state.detached})"
            )

    def _populate(self, form, model) -> None:
        """Fill ``model`` from the form; select fields give strings, the model wants enums."""
        self._keep_unedited_times(form)
        form.populate_obj(model)
        for column in sa.inspect(type(model)).columns:
            enum_cls = getattr(column.type, "enum_class", None)
            value = getattr(model, column.key, None)
            if enum_cls and isinstance(value, str) and not isinstance(value, enum_cls):
                setattr(model, column.key, enum_cls(value) if value else None)

    @staticmethod
    def _keep_unedited_times(form) -> None:
        """A date-time input shows minutes only: an unchanged minute keeps the stored seconds,
        so saving a form does not rewrite times nobody edited."""
        for field in form:
            stored = getattr(field, "object_data", None)
            if not isinstance(field, LocalDateTimeField) or field.data is None or stored is None:
                continue
            try:
                unchanged = field.data == stored.replace(second=0, microsecond=0)
            except TypeError:  # naive against aware: not the same moment anyway
                unchanged = False
            if unchanged:
                field.data = stored

    def create_model(self, form):
        model = self.build_new_instance()
        with db.session().no_autoflush:
            self._populate(form, model)
        if not self._save(form, model, lambda: self.on_create(form, model), "created"):
            return False
        self.after_model_change(form, model, True)
        g.created_model = model
        return model

    # -- after a create: the new record, its number in words --------------------------
    #: Attributes that hold a record's number, the first one set is shown after a create.
    number_attributes = ("number", "pass_number", "form_number")

    def created_number(self, model) -> str | None:
        """The number that identifies a new record to people (``None``: it has none)."""
        for name in self.number_attributes:
            value = getattr(model, name, None)
            if value:
                return str(value)
        return None

    def created_message(self, model) -> str:
        number = self.created_number(model)
        if number:
            return _("已登记，编号 %(number)s", number=number)
        return _("已保存：%(record)s", record=str(model))

    def created_landing_url(self, model) -> str | None:
        """Where "保存" leads after a create: the new record's own page (``None``: the list)."""
        if not self.can_view_details:
            return None
        return self.get_url(".details_view", id=self.get_pk_value(model))

    def get_save_return_url(self, model, is_created: bool = False) -> str:
        if is_created:
            landing = self.created_landing_url(model)
            if landing:
                return landing
        return super().get_save_return_url(model, is_created)

    @expose("/new/", methods=("GET", "POST"))
    def create_view(self):
        response = super().create_view()
        model = g.pop("created_model", None) if has_request_context() else None
        if model is not None:
            # Flask-Admin's generic "创建记录成功。" becomes the new record's number.
            generic = admin_gettext("Record was successfully created.")
            flashes = flask_session.get("_flashes", [])
            for index in range(len(flashes) - 1, -1, -1):
                if flashes[index][1] == generic:
                    flashes[index] = ("success", self.created_message(model))
                    flask_session["_flashes"] = flashes
                    break
        return response

    # -- no lost updates -------------------------------------------------------------
    #: Hidden edit-form field: what the editor saw ("<version or updated_at>@<opened at>").
    version_field = "expected_version"

    def edit_token(self, model) -> str | None:
        """The value that changes whenever ``model`` is saved: its version, else updated_at."""
        if getattr(model, "version", None) is not None:
            return str(model.version)
        updated_at = getattr(model, "updated_at", None)
        return updated_at.isoformat() if updated_at is not None else None

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        if obj is None or self.edit_token(obj) is None:
            return form
        if self.version_field not in form:
            field = HiddenField().bind(form=form, name=self.version_field, prefix=form._prefix)
            field.process(request.form if request.method == "POST" else None)
            form._fields[self.version_field] = field
            setattr(form, self.version_field, field)
        if request.method == "GET":
            form[self.version_field].data = f"{self.edit_token(obj)}@{utcnow().isoformat()}"
        return form

    def get_one(self, id):
        model = self._get_one(id)
        if (
            model is not None
            and request.method == "POST"
            and request.endpoint == f"{self.endpoint}.edit_view"
            and db.engine.dialect.name == "postgresql"
        ):
            # Hold the row until this save commits: a concurrent save waits, then sees the
            # new version and is refused instead of overwriting.
            db.session.execute(
                sa.select(self.model.id).where(self.model.id == model.id).with_for_update()
            )
            db.session.refresh(model)
        return model

    def edit_conflict(self, form, model) -> str | None:
        """A message when ``model`` changed after the editor opened the form, else ``None``."""
        if form is None or self.version_field not in form:
            return None
        seen, _sep, opened = (form[self.version_field].data or "").partition("@")
        current = self.edit_token(model)
        if not seen or current is None or seen == current:
            return None
        return conflict_message(model, opened, self.column_labels or {})

    def update_model(self, form, model):
        problem = self.edit_conflict(form, model)
        if problem:
            flash(problem, "error")
            return False

        def action():
            self._populate(form, model)
            self.on_update(form, model)

        if not self._save(form, model, action, "updated"):
            return False
        self.after_model_change(form, model, False)
        return True

    def delete_model(self, model):
        return self._save(None, model, lambda: self.on_delete(model), "deleted")

    # -- bulk delete ---------------------------------------------------------------------
    # Flask-Admin's own bulk delete compares the posted ids, strings, with the integer key
    # (PostgreSQL refuses that) and commits behind the hooks. Here each selected row is found
    # through ``get_query`` (so the view's scope holds) and deleted by ``delete_model``: the
    # same operation, permission check, audit row and commit as the single delete.
    @action("delete", _l("删除"), _l("确定删除选中的记录吗？"))
    def action_delete(self, ids) -> None:
        keys = selected_ids(ids)
        records = self.get_query().filter(self.model.id.in_(keys)).all() if keys else []
        deleted = sum(1 for record in records if self.delete_model(record))
        if deleted:
            flash(_("已删除 %(count)s 条记录", count=deleted), "success")
        elif not records:
            flash(_("没有可删除的记录：所选记录不存在或您无权删除"), "error")

    def handle_view_exception(self, exc):
        if isinstance(exc, WorkflowError):
            flash(str(exc), "error")
            return True
        return super().handle_view_exception(exc)
