"""Cases (信访事项), their timeline and attachments."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, current_app, flash, g, redirect, request, send_file, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla import filters
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup, escape
from wtforms import FileField, HiddenField, TextAreaField
from wtforms.validators import NumberRange, Optional

from models import (
    Attachment,
    Case,
    CaseClock,
    CaseEvent,
    Category,
    Letter,
    Unit,
    User,
    Visit,
    db,
)
from models.base import utcnow
from models.custom_fields import display_rows, stored_values
from models.enums import (
    CaseChannel,
    CasePriority,
    CaseStatus,
    DocumentKind,
    EventKind,
    Satisfaction,
)
from models.operations.attachments import attachment_root, delete_attachment, store_attachment
from models.operations.case_reports import case_page_reports
from models.operations.cases import delete_case, record_case_edit, register_case
from models.operations.documents import (
    available_documents,
    issued_documents,
    reply_letter_problem,
)
from models.operations.representatives import (
    parse_representatives,
    representative_lines,
    set_representatives,
)
from models.operations.retention import DESTROY_PERMISSION
from models.operations.workflow import STEPS, available_steps, blocked_steps
from models.policies import (
    accepts_additions,
    can_view_attachment,
    can_view_destructions,
    hidden_reporter_case_ids,
    on_visible_case,
    reporter_text,
    timeline_value_hidden,
    visible_cases_clause,
    waiting_note,
)
from models.queries.lists import deadline_cell, list_calendar, with_deadline
from models.texts import lazy_gettext as _l

from .base import ProtectedModelView, deadline_badge
from .case_records import (
    case_facts,
    describe_step_event,
    load_case_page,
    local_time_text,
    recorded_steps,
    timeline_page,
)
from .confidential import list_value, log_confidential_view, masked, reporter_hidden
from .custom_fields import (
    CustomFieldFormMixin,
    CustomFieldListMixin,
    submitted_values,
)
from .exports import ExportMixin
from .filters import (
    AwaitingMeFilter,
    CachedOptions,
    ChoiceEqualFilter,
    DailyReviewFilter,
    DeadlineFilter,
    MyCasesFilter,
    StatsDrillFilter,
    date_filters,
)
from .labels import labels
from .lookups import case_lookup, party_lookup
from .retention import RetentionFilter, destroy_selected_cases, tombstone_context
from .search import (
    CaseRecordSearchMixin,
    NumberSearchMixin,
    as_case_number,
    case_search_condition,
    shortest_number_length,
)
from .wording import change_text, field_label, person_text
from .workflow import clock_rows, report_bulk, run_bulk

category_options = CachedOptions(
    lambda: db.session.execute(
        sa.select(Category.id, Category.name)
        .where(Category.is_active)
        .order_by(Category.sort_order, Category.id)
    ).all()
)
unit_options = CachedOptions(
    lambda: db.session.execute(
        sa.select(Unit.id, Unit.name).where(Unit.is_active).order_by(Unit.sort_order, Unit.id)
    ).all()
)


def _active_units():
    return Unit.query.filter(Unit.is_active.is_(True)).order_by(Unit.sort_order, Unit.id)


def _active_categories():
    return Category.query.filter(Category.is_active.is_(True)).order_by(
        Category.sort_order, Category.id
    )


def _number_link(view, context, model, name):
    # One url_for per page rather than per row: the details URL differs only in its id.
    base = g.get("case_details_url")
    if base is None:
        base = g.case_details_url = url_for("case.details_view")
    return Markup('<a href="%s?id=%s">%s</a>') % (base, model.id, model.number)


STATUS_BADGE_CSS = {
    CaseStatus.registered: "warning",
    CaseStatus.in_progress: "primary",
    CaseStatus.closed: "success",
    CaseStatus.archived: "dark",
    CaseStatus.not_accepted: "secondary",
    CaseStatus.no_longer_accepted: "secondary",
    CaseStatus.kept: "secondary",
}


def status_badge(status: CaseStatus) -> Markup:
    css = STATUS_BADGE_CSS.get(status, "info")
    return Markup('<span class="badge badge-%s px-2 py-1">%s</span>') % (css, status.title)


def _deadline_cell(case) -> Markup:
    return deadline_badge(g.get("case_deadlines", {}).get(case.id))


def _status_badge(view, context, model, name):
    return status_badge(model.status)


CASE_FLAGS = (
    ("is_anonymous", _l("匿名")),
    ("is_group", _l("集体访/联名")),
    ("is_investigation_order", _l("上级交办查处件")),
    ("is_important", _l("重要")),
    ("is_major", _l("重大")),
    ("is_difficult", _l("疑难复杂")),
    ("is_sensitive", _l("敏感")),
    ("is_beyond_level", _l("越级访")),
    ("is_abnormal", _l("异常访")),
)
#: Timeline titles of the immediate reports (models.operations.cases.IMMEDIATE_REPORTS).
IMMEDIATE_REPORT_TITLES = {
    "major_group": _l("重大集体访"),
    "beyond_level": _l("越级访"),
    "abnormal": _l("异常访"),
}


def _case_flags(case: Case) -> Markup | str:
    badges = [
        Markup('<span class="badge badge-warning mr-1">%s</span>') % label
        for attribute, label in CASE_FLAGS
        if getattr(case, attribute)
    ]
    return Markup("").join(badges) if badges else _("无")


#: Flags the case list shows beside the subject: the ones reported to leaders at once.
LIST_ALERT_FLAGS = (
    ("is_major", _l("重大")),
    ("is_beyond_level", _l("越级访")),
    ("is_abnormal", _l("异常访")),
)


def _subject_with_flags(view, context, model, name):
    badges = [
        Markup(' <span class="badge badge-danger">%s</span>') % label
        for attribute, label in LIST_ALERT_FLAGS
        if getattr(model, attribute)
    ]
    return escape(model.subject) + Markup("").join(badges)


def _priority_badge(view, context, model, name):
    if model.priority == CasePriority.normal:
        return model.priority.title
    return Markup('<span class="badge badge-danger">%s</span>') % model.priority.title


def representatives_field() -> TextAreaField:
    """Where staff type a group's representatives, one person per line."""
    return TextAreaField(
        _l("代表人"),
        [Optional()],
        description=_l(
            "集体访、联名信的代表人，每行一人：姓名 身份证号码 联系电话（证件号码、电话可不填）"
        ),
        render_kw={"rows": 6, "placeholder": _l("张三 110101199003074514 13800138000")},
    )


def _identity_detail(view, context, model, name):
    """Petitioners, agent and representatives: hidden from users outside a 举报 case's chain."""
    if reporter_hidden(model):
        return masked()
    value = getattr(model, name)
    if isinstance(value, list):
        return _("、").join(person_text(item) for item in value)
    return person_text(value)


def _representatives_detail(case: Case):
    """Each representative with the ID number shortened (as in the register of people) and the
    phone; masked like the petitioners."""
    if reporter_hidden(case):
        return masked()
    lines = []
    for party in case.representatives:
        extra = [value for value in (short_id_number(party.id_number), party.phone) if value]
        lines.append(f"{party.name}（{'，'.join(extra)}）" if extra else party.name)
    return _("、").join(lines)


def short_id_number(number: str | None) -> str:
    """The first six and last four characters of an identity number; the rest as stars."""
    if not number:
        return ""
    if len(number) <= 10:
        return number[:2] + "*" * (len(number) - 2)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


class CaseView(
    CustomFieldListMixin, CustomFieldFormMixin, ExportMixin, NumberSearchMixin, ProtectedModelView
):
    permission_view = "case.view"
    export_identity_columns = frozenset({"petitioner_names"})
    permission_create = "case.register"
    permission_edit = "case.edit"
    permission_delete = "case.delete"
    simple_list_pager = True
    details_template = "admin/case/details.html"
    list_template = "admin/case/list.html"
    create_template = "admin/case/create.html"
    edit_template = "admin/case/edit.html"

    column_list = (
        "number",
        "subject",
        "petitioner_names",
        "channel",
        "category",
        "priority",
        "status",
        "deadline",
        "received_at",
        "handling_unit",
        "handler",
        "retain_until",
    )
    column_default_sort = [("received_at", True), ("id", True)]
    # Category, unit, handler and 期限 sort too, through ``sort_expression`` below.
    column_sortable_list = (
        "number",
        "received_at",
        "priority",
        "status",
        "channel",
        "subject",
    )
    column_searchable_list = ("subject", "petitioner_names")
    column_filters = (
        ChoiceEqualFilter(Case.status, _l("状态"), options=CaseStatus.choices),
        ChoiceEqualFilter(Case.channel, _l("来源渠道"), options=CaseChannel.choices),
        filters.IntEqualFilter(Case.category_id, _l("分类"), options=category_options),
        filters.IntEqualFilter(Case.handling_unit_id, _l("承办单位"), options=unit_options),
        ChoiceEqualFilter(Case.priority, _l("紧急程度"), options=CasePriority.choices),
        *date_filters(Case.received_at, _l("收到日期")),
        *date_filters(Case.created_at, _l("登记日期")),
        filters.BooleanEqualFilter(Case.is_anonymous, _l("匿名")),
        filters.BooleanEqualFilter(Case.is_group, _l("集体访/联名")),
        filters.BooleanEqualFilter(Case.is_important, _l("重要")),
        filters.BooleanEqualFilter(Case.is_major, _l("重大")),
        filters.BooleanEqualFilter(Case.is_beyond_level, _l("越级访")),
        filters.BooleanEqualFilter(Case.is_abnormal, _l("异常访")),
        MyCasesFilter(Case.handler_id, _l("我承办或协办的")),
        DeadlineFilter(Case.id, _l("办理时限")),
        AwaitingMeFilter(Case.id, _l("待我办理")),
        StatsDrillFilter(Case.id, _l("统计口径")),
        DailyReviewFilter(Case.id, _l("日常复核")),
        RetentionFilter(Case.retain_until, _l("保存期限")),
    )
    column_formatters = {
        "flags": lambda view, context, model, name: _case_flags(model),
        "number": _number_link,
        "subject": _subject_with_flags,
        "status": _status_badge,
        "priority": _priority_badge,
        "deadline": lambda view, context, model, name: _deadline_cell(model),
        "petitioner_names": lambda view, context, model, name: list_value(
            model, model.petitioner_names
        ),
    }
    column_formatters_detail = {
        "flags": lambda view, context, model, name: _case_flags(model),
        "petitioners": _identity_detail,
        "agent": _identity_detail,
        "representatives": lambda view, context, model, name: _representatives_detail(model),
    }
    column_labels = labels(
        flags=_l("标记"),
        retain_until=_l("保存期至"),
        representative_lines=_l("代表人"),
        deadline=_l("期限"),
    )
    column_details_list = (
        "number",
        "status",
        "retain_until",
        "channel",
        "category",
        "priority",
        "subject",
        "content",
        "demands",
        "petitioners",
        "agent",
        "flags",
        "head_count",
        "representatives",
        "received_at",
        "handling_unit",
        "handler",
        "assistants",
        "repeat_count",
        "created_by",
        "created_at",
    )
    form_columns = (
        "channel",
        "received_at",
        "category",
        "priority",
        "subject",
        "content",
        "demands",
        "petitioners",
        "agent",
        "is_anonymous",
        "is_group",
        "is_investigation_order",
        "head_count",
        "representative_lines",
        "is_important",
        "is_major",
        "is_difficult",
        "is_sensitive",
        "is_beyond_level",
        "is_abnormal",
        "expected_version",
    )
    # Handling unit, handler, assistants, status, clocks and the result's approval belong to
    # the workflow steps (交办, 签收, 增加协办人 …), which check who may do them; a generic form
    # offering them would let a handler join a 举报 case's circle or skip 交办.
    #: The version the editor saw; a save against a newer version is refused, not merged.
    form_extra_fields = {
        "expected_version": HiddenField(),
        "representative_lines": representatives_field(),
    }
    form_ajax_refs = {
        "petitioners": party_lookup("petitioners"),
        "agent": party_lookup("agent"),
    }
    form_args = {
        "category": {"query_factory": _active_categories},
        "subject": {"description": _l("一句话概括反映的问题")},
        "is_beyond_level": {"description": _l("如越级上省、进京上访；勾选即通知领导")},
        "is_abnormal": {"description": _l("缠访闹访、堵门拦车等；勾选即通知领导")},
        "is_investigation_order": {
            "description": _l("上级交办要求报送查处结果；办结前须完成回访（复查）")
        },
        "head_count": {
            "description": _l("集体访或联名信的人数"),
            "validators": [NumberRange(min=1, max=100000, message=_l("人数应在1到100000之间"))],
        },
    }
    form_widget_args = {
        "content": {"rows": 6},
        "demands": {"rows": 3},
        # The case flags side by side in one row, as on the paper register.
        **{
            name: {"column_class": "d-inline-block align-top mr-4"}
            for name in (
                "is_important",
                "is_major",
                "is_difficult",
                "is_sensitive",
                "is_beyond_level",
                "is_abnormal",
            )
        },
    }

    def scope(self, query):
        return super().scope(query).filter(visible_cases_clause(current_user))

    def search_placeholder(self) -> str | None:
        return _("事项编号、事项标题、信访人、代表人、电话或身份证号")

    # -- sorting -----------------------------------------------------------------------
    #: Columns sorted by an expression of their own (``sort_expression``), not by the column.
    sorted_by_expression = ("category", "handling_unit", "handler", "deadline")

    def get_sortable_columns(self):
        columns = super().get_sortable_columns()
        # The key here only marks the column sortable; ``sort_expression`` gives the order.
        columns.update(dict.fromkeys(self.sorted_by_expression, Case.id))
        return columns

    def _apply_sorting(self, query, joins, sort_column, sort_desc):
        if sort_column is None or sort_column not in self._sortable_columns:
            return super()._apply_sorting(query, joins, sort_column, sort_desc)
        if sort_column in self.sorted_by_expression:
            query, key = self.sort_expression(query, sort_column)
        else:
            query, joins = super()._apply_sorting(query, joins, sort_column, sort_desc)
            key = None
        # The id settles ties, so the pages of a sorted list neither repeat nor skip rows.
        if key is not None:
            query = query.order_by(sa.nulls_last(key.desc() if sort_desc else key.asc()))
        return query.order_by(Case.id.desc() if sort_desc else Case.id.asc()), joins

    def sort_expression(self, query, name):
        """``(query, key)`` to sort the list by column ``name``; none reads another table row
        by row. Category and unit sort in their configured order (the filter menus' order,
        from the cached option lists: a ``CASE`` on the case's own indexed column); the
        handler by name through one join on the users table; 期限 by the case's soonest running
        deadline, from one grouped pass over the running clocks (the running-clock index)
        joined by case id. Rows without a value come last either way."""
        if name in ("category", "handling_unit"):
            options = category_options() if name == "category" else unit_options()
            column = Case.category_id if name == "category" else Case.handling_unit_id
            if not options:
                return query, column
            order = {int(key): position for position, (key, _label) in enumerate(options)}
            return query, sa.case(order, value=column, else_=len(order))
        if name == "handler":
            person = sa.orm.aliased(User, name="sort_handler")
            query = query.outerjoin(person, person.id == Case.handler_id)
            return query, person.full_name
        running = sa.and_(CaseClock.stopped_at.is_(None))
        soonest = (
            sa.select(
                CaseClock.case_id.label("case_id"),
                sa.func.coalesce(
                    sa.func.min(sa.case((CaseClock.paused_at.is_(None), CaseClock.due_at))),
                    sa.func.min(CaseClock.due_at),
                ).label("due_at"),
            )
            .where(running)
            .group_by(CaseClock.case_id)
            .subquery("sort_deadline")
        )
        query = query.outerjoin(soonest, soonest.c.case_id == Case.id)
        return query, soonest.c.due_at

    # The 期限 column: each case's current clock, joined into the list's own query.
    def list_columns(self, query, paged):
        return with_deadline(query, paged, Case)

    def _columns(self):
        # Exports stream rows in batches without the list's join: no 期限 there.
        return tuple(name for name in super()._columns() if name != "deadline")

    def list_rows(self, rows):
        calendar, now = list_calendar(), utcnow()
        g.case_deadlines = {case.id: deadline_cell(clock, calendar, now) for case, clock in rows}
        return [case for case, _clock in rows]

    def _apply_search(self, query, count_query, joins, count_joins, search):
        number = as_case_number(search)
        if number and len(number) >= shortest_number_length():
            # A whole number: the indexed equality (NumberSearchMixin). The beginning of one
            # (XF2026-00001) is searched below like any part of a number.
            return super()._apply_search(query, count_query, joins, count_joins, search)
        # Every term must match (subject, part of the number, or a person's name, phone or
        # ID number); see admin_views.search.case_search_condition for the indexes that answer it
        # and why a person matches a 举报 case only for those allowed to know who reported.
        for term in search.split():
            condition = case_search_condition(term, current_user)
            query = query.filter(condition)
            if count_query is not None:
                count_query = count_query.filter(condition)
        return query, count_query, joins, count_joins

    def on_create(self, form, model):
        model.custom_values = submitted_values(form, model.category, {})
        representatives = parse_representatives(form.representative_lines.data)
        register_case(model, by=current_user)
        if representatives:
            set_representatives(model, representatives, by=current_user)

    def create_form(self, obj=None):
        form = super().create_form(obj)
        del form["expected_version"]
        return form

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        if obj is not None and reporter_hidden(obj):
            # Without the fields the values are neither shown nor overwritten.
            for name in ("petitioners", "agent", "representative_lines"):
                if name in form:
                    del form[name]
        elif obj is not None and request.method == "GET":
            form.representative_lines.data = representative_lines(obj)
        return form

    def on_update(self, form, model):
        # A stale form was already refused by ProtectedModelView.update_model.
        model.custom_values = submitted_values(form, model.category, stored_values(model))
        # Parsed (and every ID number checked) before anything is written.
        representatives = (
            parse_representatives(form.representative_lines.data)
            if "representative_lines" in form
            else None
        )
        record_case_edit(model, by=current_user)
        if representatives is not None:
            # After the edit's own diff: linking people flushes, which clears attribute history.
            set_representatives(model, representatives, by=current_user)

    def on_delete(self, model):
        delete_case(model, by=current_user)

    def on_form_prefill(self, form, id):
        form.received_at.flags.required = True

    def render(self, template, **kwargs):
        if template == self.details_template and "model" in kwargs:
            kwargs.update(case_details_context(kwargs["model"]))
            log_confidential_view(kwargs["model"], "case_details")
        if template == self.list_template:
            kwargs["stats_drill"] = self._stats_drill()
        return super().render(template, **kwargs)

    def _stats_drill(self) -> str | None:
        """The dashboard figure this list was opened from, in words (统计口径 filter)."""
        from .stats import describe_drill

        for index, flt in enumerate(self._filters or []):
            if isinstance(flt, StatsDrillFilter):
                for key, value in request.args.items():
                    if key.startswith("flt") and key.endswith(f"_{index}"):
                        return describe_drill(value)
        return None

    def get_one(self, id):
        # The details page reads its case once (details_view below hands it on).
        found = g.get("case_details_one")
        details = request.endpoint == f"{self.endpoint}.details_view"
        if found is not None and details and str(found.id) == str(id):
            return found
        return super().get_one(id)

    def _get_one(self, id):
        if request.endpoint != f"{self.endpoint}.details_view":
            return super()._get_one(id)
        try:
            key = int(id)
        except (TypeError, ValueError):
            return None
        # What the page shows of the case itself, joined into the one statement that reads it.
        joined = sa.orm.joinedload
        return (
            self.get_query()
            .options(
                joined(Case.petitioners),
                joined(Case.agent),
                joined(Case.category).joinedload(Category.parent),
                joined(Case.handling_unit),
                joined(Case.handler),
                joined(Case.instructed_by),
                joined(Case.result_approved_by),
                joined(Case.out_of_scope_forwarding_unit),
                # The case it was split from is named and linked: two columns of seventy.
                joined(Case.parent).load_only(Case.id, Case.number),
            )
            .filter(Case.id == key)
            .one_or_none()
        )

    @expose("/details/")
    def details_view(self):
        try:
            return self._details_view()
        finally:
            g.pop("case_details_one", None)

    def _details_view(self):
        # A merged case's number stays searchable but leads to the case it was folded into.
        case = self.get_one(request.args.get("id"))
        g.case_details_one = case
        if case is not None and not accepts_additions(case):
            # A destroyed case is its tombstone: nothing else is left to show.
            return self.render(
                "admin/retention/tombstone.html",
                **tombstone_context(case),
                may_view_batch=can_view_destructions(current_user),
            )
        if case is not None and case.merged_into_id is not None:
            survivor = self.get_one(str(case.merged_into_id))
            if survivor is not None:
                flash(
                    _(
                        "%(old)s 已并入 %(new)s，已为您打开合并后的事项。",
                        old=case.number,
                        new=survivor.number,
                    ),
                    "info",
                )
                return redirect(url_for(".details_view", id=survivor.id))
        return super().details_view()

    def _bulk(self, step, ids):
        cases = (
            Case.query.filter(Case.id.in_([int(i) for i in ids]), Case.is_deleted.is_(False))
            .filter(visible_cases_clause(current_user))
            .order_by(Case.id)
            .all()
        )
        note = _("批量%(step)s", step=STEPS[step].title)
        inputs = {"note": note} if step == "urge" else {}
        done, refused = run_bulk(step, cases, inputs)
        report_bulk(STEPS[step].title, done, refused)

    @action("urge", _l("催办"), _l("对选中的事项发出催办？"))
    def action_urge(self, ids):
        self._bulk("urge", ids)

    @action("archive", _l("归档"), _l("将选中的已办结事项归档？"))
    def action_archive(self, ids):
        self._bulk("archive", ids)

    @action("assign", _l("交办"))
    def action_assign(self, ids):
        return redirect(url_for("workflow.bulk_view", ids=list(ids)))

    @action(
        "destroy",
        _l("销毁存信"),
        _l("销毁选中的存信？内容和个人信息将永久删除，只保留销毁记录。"),
    )
    def action_destroy(self, ids):
        destroy_selected_cases(ids)

    def is_action_allowed(self, name):
        permission = {
            "urge": "workflow.assign",
            "archive": "workflow.archive",
            "assign": "workflow.assign",
            "destroy": DESTROY_PERMISSION,
        }.get(name)
        if permission is not None:
            return current_user.has_permission(permission)
        return super().is_action_allowed(name)


def case_details_context(case: Case) -> dict:
    """Everything the details page lists below the case's own fields.

    The case's records, timeline and active custom fields come from one statement
    (:func:`load_case_page`); the rules below read the loaded collections."""
    found = load_case_page(case)
    # The rules below ask the user's permissions a few hundred times: the user behind the
    # proxy, once, spares each question two context lookups.
    user = current_user._get_current_object()
    events = found["event"]
    timeline = timeline_page(events, request.args.get("timeline_page", 0, type=int))
    steps = available_steps(case, user) if not case.is_deleted else []
    hidden = reporter_hidden(case)
    return {
        "documents": available_documents(case, user) if not case.is_deleted else [],
        "issued_documents": issued_documents(case),
        "reports": case_page_reports(case, user),
        "reporter_hidden": hidden,
        "masked": masked(),
        "steps": [step for step in steps if not step.secondary],
        "more_steps": [step for step in steps if step.secondary],
        "waiting": waiting_note(case, found["roles"]),
        "blocked_steps": blocked_steps(case, user) if not case.is_deleted else [],
        "clocks": clock_rows(case),
        "children": found["child"],
        "merged_from": found["merged"],
        "letters": found["letter"],
        "visits": found["visit"],
        "calls": found["call"],
        "callbacks": found["callback"],
        "replies": found["reply"],
        "outgoing_contacts": found["contact"],
        "reply_letter_problem": reply_letter_problem,
        "attachments": found["attachment"],
        "events": timeline["events"],
        "timeline": timeline,
        "event_kinds": EventKind,
        "repeat_flags": []
        if hidden
        else [p for p in case.petitioners if p.is_repeat_petitioner or p.is_banned],
        "status_badge": status_badge,
        "timeline_entry": timeline_entry,
        # Document titles and callback opinions name or quote the petitioner.
        "reporter_text": reporter_text,
        "field_labels": timeline_labels(),
        "custom_rows": display_rows(case, found["custom_field"]),
        "case_facts": case_facts(case),
        "recorded_steps": recorded_steps(events, hidden),
    }


def event_table(event: CaseEvent) -> str:
    """The table an event's changed fields belong to (a callback's edit names callback
    columns), for their labels and enum titles."""
    for column, table in (
        ("callback_id", "callbacks"),
        ("letter_id", "letters"),
        ("visit_id", "visits"),
        ("call_id", "calls"),
    ):
        if getattr(event, column, None):
            return table
    return "cases"


def timeline_entry(event: CaseEvent, labels_by_key: dict, reporter_hidden: bool = False):
    """One timeline row: its line of text and its ``(label, before → after)`` changes.

    ``reporter_hidden``: the reader may not see this 举报 case's reporter, so identity values
    (a letter's writer, a caller's number, the person reached on a callback …) and the texts
    that quote or answer the reporter (反映内容 before and after, the reply) show as the mask:
    the reader learns that they changed, not what they said.
    """
    text = describe_event(event, labels_by_key, reporter_hidden)
    changes = []
    table = event_table(event)
    data = event.data or {}
    for key, change in data.items():
        if not (isinstance(change, list) and len(change) == 2):
            continue
        if key.endswith("_id") and key.removesuffix("_id") in data:
            continue  # the relation's own line names the record; its id says nothing more
        label = field_label(key, labels_by_key)
        if timeline_value_hidden(key, reporter_hidden):
            changes.append((label, masked()))
        else:
            # Worded at display time, so rows written before issue 19 read well too.
            changes.append((label, change_text(change[0], change[1], key, table)))
    if changes and text == _changed_fields_text(event.data, labels_by_key):
        # The per-field lines below say the same, in more detail.
        text = ""
    return text, changes


def describe_event(event: CaseEvent, labels_by_key: dict, reporter_hidden: bool = False) -> str:
    """One Chinese line for a timeline event (the stored summary stays English for logs).

    ``reporter_hidden``: the reader may not see a 举报 case's reporter or original material,
    so file names and the texts addressed to the reporter are left out.
    """
    data = event.data or {}
    if reporter_hidden and event.kind in (
        EventKind.attachment_added,
        EventKind.attachment_removed,
    ):
        return masked()
    if event.kind == EventKind.registered:
        return _("登记为 %(number)s", number=data.get("number", ""))
    if event.kind in (EventKind.letter_added, EventKind.visit_added, EventKind.call_added):
        return _("重复反映") if data.get("repeat") else _("首次反映")
    if event.kind in (EventKind.attachment_added, EventKind.attachment_removed):
        return str(data.get("name", ""))
    if event.kind == EventKind.callback_added:
        if data.get("satisfaction"):
            text = Satisfaction.title_of(data["satisfaction"])
            return text + (_("，问题仍存在") if data.get("problem_remains") else "")
        return _("计划回访")
    if event.kind == EventKind.document_issued:
        return _(
            "%(kind)s，文号 %(number)s",
            kind=DocumentKind.title_of(data.get("kind")),
            number=data.get("number", ""),
        )
    if event.kind == EventKind.reported_up:
        return _(
            "%(title)s，已通知：%(recipients)s",
            title=IMMEDIATE_REPORT_TITLES.get(data.get("flag"), data.get("flag", "")),
            recipients=data.get("recipients") or _("无（未设置领导和办公室用户）"),
        )
    if event.kind in REPORT_EVENT_KINDS:
        return describe_report_event(event, reporter_hidden)
    if event.kind.value in STEPS or event.kind in (EventKind.merged_in, EventKind.escalated):
        return describe_step_event(data, reporter_hidden)
    if data.get("deleted"):
        return _("已删除")
    if event.kind == EventKind.edited and isinstance(data.get("confidential"), bool):
        # models.operations.cases.change_category: a line of its own.
        if data["confidential"]:
            return _("分类改为举报类，举报人身份自此保密")
        return _("分类改为非举报类，举报人身份不再保密")
    return _changed_fields_text(data, labels_by_key)


#: Issue 15: a drafted report, an information report's sign-off, a commendation.
REPORT_EVENT_KINDS = (EventKind.draft_report, EventKind.sign_off_report, EventKind.commend)


def describe_report_event(event: CaseEvent, reporter_hidden: bool = False) -> str:
    """The timeline line of a drafted report, a sign-off or a commendation; what was written
    quotes the petitioner, so it is masked where the reporter is hidden."""
    data = event.data or {}
    if event.kind == EventKind.draft_report:
        return DocumentKind.title_of(data.get("document"))
    if event.kind == EventKind.sign_off_report:
        return _("上报时间：%(when)s", when=local_time_text(data.get("reported_at") or ""))
    if reporter_hidden:
        return masked()
    return _(
        "%(person)s：%(text)s（%(day)s）",
        person=data.get("person", ""),
        text=data.get("text", ""),
        day=data.get("commended_on", ""),
    )


def _changed_fields_text(data: dict, labels_by_key: dict) -> str:
    changed = [
        k
        for k, v in data.items()
        if isinstance(v, list)
        and len(v) == 2
        and not (k.endswith("_id") and k.removesuffix("_id") in data)
    ]
    if not changed:
        return ""
    names = _("、").join(field_label(key, labels_by_key) for key in changed)
    return _("修改了：%(fields)s", fields=names)


def _case_link(view, context, model, name):
    case = model.case
    url = url_for("case.details_view", id=case.id)
    return Markup('<a href="{}">{}</a>').format(url, case.number)


class CaseChildView(NumberSearchMixin, ProtectedModelView):
    """Views of records that hang off a case: scoped through the case."""

    permission_view = "case.view"

    def scope(self, query):
        return super().scope(query).filter(on_visible_case(current_user, self.model.case_id))


def _event_description(event: CaseEvent) -> Markup:
    text, changes = timeline_entry(event, labels(), event.case.is_confidential)
    lines = [text] if text else []
    lines += [Markup("<b>{}</b>{}{}").format(label, _("："), change) for label, change in changes]
    return Markup("<br>").join(lines)


class CaseEventView(CaseRecordSearchMixin, CaseChildView):
    permission_view = "audit.view"
    allow_create = allow_edit = allow_delete = False
    can_view_details = False
    simple_list_pager = True
    column_list = ("created_at", "case", "kind", "description", "created_by")
    column_default_sort = [("created_at", True), ("id", True)]
    column_filters = (
        ChoiceEqualFilter(CaseEvent.kind, _l("事件"), options=EventKind.choices),
        *date_filters(CaseEvent.created_at, _l("日期")),
    )
    column_labels = labels(
        created_at=_l("时间"), kind=_l("事件"), description=_l("说明"), created_by=_l("操作人")
    )
    column_formatters = {
        "case": _case_link,
        # The list is a search surface: file names, identities and texts of 举报 cases stay
        # out for everybody (the case's own page shows them to its circle).
        "description": lambda view, context, model, name: _event_description(model),
    }

    def scope(self, query):
        # Deleted cases' events stay in the log.
        return query.filter(on_visible_case(current_user, CaseEvent.case_id, live=False))


class AttachmentView(CaseChildView):
    """Attachments are a case's original material: a 举报 case's stay with its owner chain."""

    permission_create = "attachment.manage"
    permission_delete = "attachment.manage"
    allow_edit = False
    simple_list_pager = True
    column_list = ("case", "kind", "title", "original_name", "size", "created_at", "created_by")
    column_default_sort = ("id", True)
    column_labels = labels(
        kind=_l("附件类型"),
        title=_l("标题"),
        original_name=_l("文件名"),
        size=_l("大小（字节）"),
        created_at=_l("上传时间"),
        created_by=_l("上传人"),
        letter=_l("所属来信"),
        visit=_l("所属来访"),
        file=_l("文件"),
    )
    column_formatters = {"case": _case_link, "original_name": lambda v, c, m, n: _download_link(m)}
    form_columns = ("case", "kind", "title", "file")
    form_extra_fields = {"file": FileField(_l("文件"))}
    form_ajax_refs = {"case": case_lookup()}
    column_details_list = (
        "case",
        "letter",
        "visit",
        "kind",
        "title",
        "original_name",
        "content_type",
        "size",
        "sha256",
        "created_at",
        "created_by",
    )

    def scope(self, query):
        return (
            super()
            .scope(query)
            .filter(Attachment.case_id.notin_(hidden_reporter_case_ids(current_user)))
        )

    def create_form(self, obj=None):
        form = super().create_form(obj)
        case = self._case_from_args()
        if case is not None and not form.case.data:
            form.case.data = case
        return form

    def _case_from_args(self):
        case_id = request.args.get("case_id", type=int)
        if not case_id:
            return None
        return Case.query.filter(
            Case.id == case_id, visible_cases_clause(current_user), Case.is_deleted.is_(False)
        ).one_or_none()

    def validate_form(self, form):
        valid = super().validate_form(form)
        if hasattr(form, "file") and request.method == "POST":
            upload = request.files.get("file")
            if upload is None or not upload.filename:
                form.file.errors = [*form.file.errors, _("请选择要上传的文件")]
                return False
        return valid

    def on_create(self, form, model):
        # A letter's or visit's details page links here with its id, so the file is filed
        # under that contact; the operation checks it belongs to the chosen case.
        letter_id = request.args.get("letter_id", type=int)
        visit_id = request.args.get("visit_id", type=int)
        model.letter = db.session.get(Letter, letter_id) if letter_id else None
        model.visit = db.session.get(Visit, visit_id) if visit_id else None
        upload = request.files["file"]
        store_attachment(model, filename=upload.filename, data=upload.read(), by=current_user)

    def on_delete(self, model):
        delete_attachment(model, by=current_user)

    @expose("/download/")
    def download_view(self):
        attachment = self.get_one(request.args.get("id"))
        if not can_view_attachment(current_user, attachment):
            abort(404)
        path = attachment_root() / attachment.stored_name
        if not path.is_file():
            flash(_("附件文件在服务器上找不到，请联系管理员。"), "error")
            return redirect(url_for("case.details_view", id=attachment.case_id))
        return send_file(
            path,
            mimetype=attachment.content_type,
            as_attachment=True,
            download_name=attachment.original_name,
        )


def _download_link(attachment):
    url = url_for("attachment.download_view", id=attachment.id)
    return Markup('<a href="{}">{}</a>').format(url, attachment.original_name)


__all__ = ["AttachmentView", "CaseChildView", "CaseEventView", "CaseView", "User"]


def timeline_labels() -> dict:
    """Column labels for the timeline's before/after lines: the case's own, then those of the
    letter, visit, call and callback screens, so an edit of a callback reads 回访人 rather
    than ``caller``."""
    merged = {}
    for view in current_app.extensions["admin"][0]._views:
        if getattr(view, "endpoint", None) in ("letter", "visit", "call", "callback"):
            merged.update(view.column_labels or {})
    merged.update(labels())
    return merged
