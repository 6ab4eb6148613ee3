"""Workflow step pages, the work list (我的工作台) and the deadline-rule settings."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, jsonify, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from models import Case, CaseClock, db
from models.base import utcnow
from models.calendar import work_calendar
from models.deadlines import level_title, time_left
from models.operations import Conflict, NotPermitted, ValidationFailed, WorkflowError
from models.operations.deadlines import (
    due_soon_limit,
    mark_notifications_read,
)
from models.operations.workflow import (
    STEPS,
    may_attempt,
    perform,
    step_permissions,
    step_problem,
)
from models.policies import (
    may_handle,
    result_signers,
    sees_all_units,
    visible_cases_clause,
    waiting_note,
)
from models.queries import worklists
from models.queries.lists import ListTotal, deadline_cell, list_calendar
from models.queries.worklists import (
    awaiting_count,
    awaiting_with_deadlines,
    notification_cases,
    notification_levels,
    notification_page,
    running_clock_count,
    running_clocks,
    similar_open_cases,
    stand_in_case_ids,
    unit_summary,
)
from models.texts import lazy_gettext as _l

from .base import deadline_badge
from .case_records import approval_facts, case_letters
from .workflow_forms import step_form, step_inputs

CONFLICT_MESSAGE = _l("该事项刚被其他人办理或修改，您的操作未执行。请查看最新情况后再试。")


def visible_case(case_id: int) -> Case | None:
    return db.session.scalar(
        sa.select(Case).where(
            Case.id == case_id, Case.is_deleted.is_(False), visible_cases_clause(current_user)
        )
    )


class WorkflowView(BaseView):
    """``/admin/workflow/<step>/<case_id>/``: the form for one step and its execution."""

    def is_visible(self):
        return False

    def is_accessible(self):
        return current_user.is_authenticated

    def inaccessible_callback(self, name, **kwargs):
        return redirect(url_for("admin.login_view", next=request.url))

    @expose("/")
    def index(self):
        return redirect(url_for("worklist.index"))

    def _details(self, case: Case):
        return redirect(url_for("case.details_view", id=case.id))

    @expose("/<step>/<int:case_id>/", methods=("GET", "POST"))
    def step_view(self, step, case_id):
        if step not in STEPS:
            abort(404)
        case = visible_case(case_id)
        if case is None:
            abort(404)
        definition = STEPS[step]
        if not may_attempt(definition, case, current_user):
            abort(403)
        problem = step_problem(definition, case, current_user)
        if problem is not None and problem[0] is NotPermitted:
            # Missing the step's permission (or not on the case): refused, not redirected.
            abort(403)
        if problem is not None:
            flash(problem[1], "error")
            return self._details(case)
        form = step_form(step, request.form if request.method == "POST" else None)
        self._prepare(step, form, case)
        if request.method == "POST" and form.validate():
            inputs = step_inputs(step, form)
            try:
                self._resolve(step, inputs)
                perform(
                    step,
                    case,
                    by=current_user,
                    expected_version=form.expected_version.data or None,
                    **inputs,
                )
                db.session.commit()
            except ValidationFailed as error:
                db.session.rollback()
                field = form._fields.get(error.field or "")
                if field is not None:
                    field.errors = [*field.errors, str(error)]
                else:
                    flash(str(error), "error")
            except (Conflict, StaleDataError):
                db.session.rollback()
                flash(str(CONFLICT_MESSAGE), "error")
                return self._details(case)
            except WorkflowError as error:
                db.session.rollback()
                flash(str(error), "error")
                return self._details(case)
            else:
                flash(_("已完成：%(step)s", step=definition.title), "success")
                return self._details(case)
        elif request.method == "GET":
            form.expected_version.data = str(case.version)
        return self.render(
            "admin/workflow/step.html",
            form=form,
            case=case,
            step=definition,
            clocks=clock_rows(case),
            approval=approval_facts(definition, case),
            # Taken in place of a usual actor who does not exist: the page says so.
            stand_in=None
            if any(current_user.has_permission(n) for n in step_permissions(definition, case))
            else waiting_note(case),
        )

    def _prepare(self, step, form, case):
        if request.method == "GET" and case.routed_unit is not None:
            # The routing rule's choice, preselected; the user may pick another unit.
            # Only a unit that may be chosen (not a grouping node, not one without handlers).
            unit_field = form._fields.get("handling_unit") or form._fields.get("target_unit")
            routed = case.routed_unit
            selectable = getattr(unit_field, "selectable", lambda unit: True)
            if unit_field is not None and unit_field.data is None and selectable(routed):
                unit_field.data = routed
                handler = case.routed_handler
                if (
                    "handler" in form
                    and form.handler.data is None
                    and handler is not None
                    and handler.unit_id == routed.id
                    and may_handle(handler)
                ):
                    form.handler.data = handler
        if step == "report_result":
            signers = result_signers(case)
            form.signed_by.query_factory = lambda: signers
            # Reading the posted value already loaded the (empty) default list: load again.
            form.signed_by._object_list = None
        if step == "out_of_scope" and request.method == "GET":
            # The unit that forwarded the first letter, as registered.
            first = next((letter for letter in case_letters(case) if letter.forwarding_unit), None)
            if first is not None:
                form.forwarding_unit.data = first.forwarding_unit
        if step == "keep" and form.year.data is None and request.method == "GET":
            form.year.data = utcnow().year
        if step == "request_extension":
            form.clock.choices = [
                (
                    clock.kind.value,
                    _(
                        "%(name)s（%(detail)s）",
                        name=clock.kind.title,
                        detail=_("最多延期")
                        + f"{clock.max_extension - clock.extension}{clock.unit_label}",
                    ),
                )
                for clock in case.clocks
                if clock.stopped_at is None and clock.max_extension
            ]

    def _resolve(self, step, inputs):
        if step == "merge":
            number = inputs.pop("into_number", "")
            target = db.session.scalar(
                sa.select(Case).where(
                    Case.number == number,
                    Case.is_deleted.is_(False),
                    visible_cases_clause(current_user),
                )
            )
            if target is None:
                raise ValidationFailed(
                    _("找不到编号为 %(number)s 的事项", number=number), "into_number"
                )
            inputs["into"] = target

    @expose("/similar/")
    def similar_view(self):
        """Open cases of the same person, for the registration form's suggestion box."""
        return jsonify(similar_cases(request.args))

    @expose("/notifications/read/", methods=("POST",))
    def read_notifications_view(self):
        """Marks every unread notification of the caller read, or those of one case or one
        level (the group's own button), however many there are."""
        case_id = whole_number(request.form.get("case"))
        level = whole_number(request.form.get("level"))
        count = mark_notifications_read(current_user, case_id=case_id, level=level)
        db.session.commit()
        flash(_("已将 %(count)s 条提醒标为已读", count=count), "success")
        return redirect(url_for("worklist.index", tab="notifications"))

    @expose("/bulk/", methods=("GET", "POST"))
    def bulk_view(self):
        """Bulk assignment: the case list's "交办" action lands here with the chosen ids."""
        step = "assign"
        ids = [int(i) for i in request.values.getlist("ids") if str(i).isdigit()][:500]
        cases = (
            db.session.scalars(
                sa.select(Case)
                .where(
                    Case.id.in_(ids), Case.is_deleted.is_(False), visible_cases_clause(current_user)
                )
                .order_by(Case.id)
            ).all()
            if ids
            else []
        )
        form = step_form(step, request.form if request.method == "POST" else None)
        if request.method == "POST" and form.validate():
            done, refused = run_bulk(step, cases, step_inputs(step, form))
            report_bulk(STEPS[step].title, done, refused)
            return redirect(url_for("case.index_view"))
        return self.render(
            "admin/workflow/bulk.html", form=form, cases=cases, step=STEPS[step], ids=ids
        )


def run_bulk(step: str, cases, inputs: dict) -> tuple[list[str], list[str]]:
    """Apply one step to many cases; each case succeeds or fails on its own."""
    done, refused = [], []
    for case in cases:
        savepoint = db.session.begin_nested()
        try:
            perform(step, case, by=current_user, **inputs)
            savepoint.commit()
            done.append(case.number)
        except WorkflowError as error:
            savepoint.rollback()
            refused.append(f"{case.number}：{error}")
    db.session.commit()
    return done, refused


def report_bulk(title, done, refused) -> None:
    if done:
        flash(
            _(
                "%(step)s完成 %(count)s 件：%(numbers)s",
                step=title,
                count=len(done),
                numbers="、".join(done[:20]),
            ),
            "success",
        )
    for line in refused[:20]:
        flash(line, "error")
    if not done and not refused:
        flash(_("没有选中任何事项"), "error")


MATCHED_ON = {"id_number": _l("证件号码"), "phone": _l("电话"), "name": _l("姓名和事由")}


def similar_cases(args) -> list[dict]:
    """The registration form's hint: open cases of the same person, as JSON rows."""
    rows = similar_open_cases(
        current_user,
        id_number=args.get("id_number") or "",
        phone=args.get("phone") or "",
        name=args.get("name") or "",
        subject=args.get("subject") or "",
    )
    return [
        {
            **row,
            "status": row["status"].title,
            "matched_on": str(MATCHED_ON[row["matched_on"]]),
            "url": url_for("case.details_view", id=row["id"]),
        }
        for row in rows
    ]


def clock_rows(case: Case) -> list[dict]:
    calendar = work_calendar()
    now = utcnow()
    rows = []
    for clock in case.clocks:
        state = (
            "stopped"
            if clock.stopped_at
            else "paused"
            if clock.paused_at
            else "overdue"
            if clock.is_overdue(now)
            else "running"
        )
        rows.append(
            {
                "clock": clock,
                "state": state,
                "left": time_left(clock, calendar, now),
                "rule": clock.rule.name
                if clock.rule
                else (_("批示期限") if clock.fixed_due_on else ""),
                "fallback": clock.calendar_fallback,
            }
        )
    return rows


class WorkListView(BaseView):
    """我的工作台: what waits for me, what is due soon and overdue, warnings, per unit."""

    def is_accessible(self):
        return current_user.is_authenticated

    def inaccessible_callback(self, name, **kwargs):
        return redirect(url_for("admin.login_view", next=request.url))

    @expose("/")
    def index(self):
        tab = request.args.get("tab", "awaiting")
        now = utcnow()
        # Up to a hundred rows a tab, each counting working days: the remembering calendar.
        calendar = list_calendar()
        due_soon = sa.and_(CaseClock.due_at >= now, CaseClock.due_at <= due_soon_limit(now))
        # The per-unit figures read every open case (0.3 s at a million): only on their tab.
        show_units = sees_all_units(current_user)
        units = unit_summary(now) if show_units and tab == "units" else []
        awaiting_rows = awaiting_with_deadlines(current_user)
        awaiting = [case for case, _clock in awaiting_rows]
        overdue_clocks = running_clocks(current_user, CaseClock.due_at < now)
        due_soon_clocks = running_clocks(current_user, due_soon)

        # A full tab may not be all: then (and only then) the badge counts every row.
        def tab_total(rows, count) -> ListTotal:
            return count() if len(rows) >= worklists.WORKLIST_LIMIT else ListTotal(len(rows))

        totals = {
            "awaiting": tab_total(awaiting, lambda: awaiting_count(current_user)),
            "overdue": tab_total(
                overdue_clocks, lambda: running_clock_count(current_user, CaseClock.due_at < now)
            ),
            "due_soon": tab_total(
                due_soon_clocks, lambda: running_clock_count(current_user, due_soon)
            ),
        }
        return self.render(
            "admin/workflow/worklist.html",
            awaiting=awaiting,
            deadlines={
                case.id: deadline_badge(deadline_cell(clock, calendar, now))
                for case, clock in awaiting_rows
            },
            stand_in_ids=stand_in_case_ids(current_user, awaiting),
            overdue=[(clock, time_left(clock, calendar, now)) for clock in overdue_clocks],
            due_soon=[(clock, time_left(clock, calendar, now)) for clock in due_soon_clocks],
            totals=totals,
            units=units,
            show_units=show_units,
            tab=tab,
            unread_total=current_user.unread_notification_count or 0,
            # The 提醒 tab's list and groups are read only when it is open.
            **(notification_context() if tab == "notifications" else {}),
        )


def whole_number(value) -> int | None:
    """A non-negative whole number from a query or form value, or ``None``."""
    value = (value or "").strip()
    return int(value) if value.isdigit() and len(value) < 10 else None


def notification_context() -> dict:
    """The 提醒 tab: one page of the list (filtered by case, level or unread), its counts,
    and the groups by level and by case. The tab's badge is the user's unread count, the
    same number as the navigation bar's (``unread_total``)."""
    case_id = whole_number(request.args.get("case"))
    level = whole_number(request.args.get("level"))
    unread_only = request.args.get("unread") == "1"
    page = notification_page(
        current_user,
        page=whole_number(request.args.get("page")) or 1,
        case_id=case_id,
        level=level,
        unread_only=unread_only,
    )
    # The number of a case the user has notifications of (the messages name it anyway).
    filtered_case = db.session.get(Case, case_id) if case_id and page["total"] else None
    levels = notification_levels(current_user)
    cases = notification_cases(current_user)
    for group in cases["groups"]:
        group["level_title"] = level_title(group["level"])
    return {
        "notes": page,
        "note_total": sum(total for _level, total, _unread in levels),
        "notifications": page["items"],
        "note_levels": [
            (number, level_title(number), total, unread) for number, total, unread in levels
        ],
        "note_cases": cases,
        "note_filter": {
            "case": case_id,
            "case_number": filtered_case.number if filtered_case else None,
            "level": level,
            "level_title": level_title(level) if level else None,
            "unread": unread_only,
        },
    }
