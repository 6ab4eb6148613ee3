"""Workflow step pages, the work list (我的工作台) and the deadline-rule settings."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, jsonify, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from models import Case, CaseClock, Notification, db
from models.base import utcnow
from models.calendar import forget_work_calendar, work_calendar
from models.deadlines import time_left
from models.enums import Clock, EscalationTrigger, TimeUnit
from models.maintenance.presets import DEADLINE_PRESETS, load_deadline_preset
from models.operations import Conflict, NotPermitted, ValidationFailed, WorkflowError
from models.operations.deadlines import (
    due_soon_limit,
)
from models.operations.workflow import (
    STEPS,
    perform,
    step_permissions,
    step_problem,
)
from models.policies import (
    visible_cases_clause,
)
from models.queries.worklists import (
    awaiting_cases,
    notifications_of,
    running_clocks,
    similar_open_cases,
    unit_summary,
)

from .base import ProtectedModelView
from .labels import labels
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
        if not any(
            current_user.has_permission(name) for name in step_permissions(definition, case)
        ):
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
        )

    def _prepare(self, step, form, case):
        if step == "keep" and form.year.data is None and request.method == "GET":
            form.year.data = utcnow().year
        if step == "request_extension":
            form.clock.choices = [
                (
                    clock.kind.value,
                    f"{clock.kind.title}（{_('最多延期')}"
                    f"{clock.max_extension - clock.extension}{clock.unit_label}）",
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
        db.session.execute(
            sa.update(Notification)
            .where(Notification.user_id == current_user.id, Notification.read_at.is_(None))
            .values(read_at=utcnow())
        )
        db.session.commit()
        return redirect(url_for("worklist.index"))

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
        now = utcnow()
        calendar = work_calendar()
        due_soon = sa.and_(CaseClock.due_at >= now, CaseClock.due_at <= due_soon_limit(now))
        units = unit_summary(now) if current_user.has_permission("case.view_all") else []
        return self.render(
            "admin/workflow/worklist.html",
            awaiting=awaiting_cases(current_user),
            overdue=[
                (clock, time_left(clock, calendar, now))
                for clock in running_clocks(current_user, CaseClock.due_at < now)
            ],
            due_soon=[
                (clock, time_left(clock, calendar, now))
                for clock in running_clocks(current_user, due_soon)
            ],
            notifications=notifications_of(current_user),
            units=units,
            tab=request.args.get("tab", "awaiting"),
        )


class DeadlineRuleView(ProtectedModelView):
    permission_view = "settings.manage"
    permission_create = "settings.manage"
    permission_edit = "settings.manage"
    permission_delete = "settings.manage"
    list_template = "admin/workflow/rule_list.html"
    column_list = (
        "name",
        "clock",
        "category",
        "category_kind",
        "priority",
        "channel",
        "amount",
        "unit",
        "max_extension",
        "max_extension_count",
        "is_active",
    )
    column_default_sort = [("clock", False), ("id", False)]
    form_columns = (
        "name",
        "clock",
        "category",
        "category_kind",
        "priority",
        "channel",
        "amount",
        "unit",
        "max_extension",
        "max_extension_count",
        "is_active",
        "note",
    )
    column_labels = labels(
        name=_l("名称"),
        clock=_l("时限"),
        category_kind=_l("事项性质"),
        amount=_l("时长"),
        unit=_l("单位"),
        max_extension=_l("最多延期"),
        max_extension_count=_l("最多延期次数"),
        is_active=_l("启用"),
        note=_l("备注"),
    )
    column_descriptions = {
        "category": _l("空表示任何分类；选父分类则对其子分类也适用"),
        "max_extension": _l("与时长同一单位；空表示不能延期"),
    }

    def on_create(self, form, model):
        self._check(model)
        super().on_create(form, model)

    def on_update(self, form, model):
        self._check(model)
        super().on_update(form, model)

    def _check(self, model):
        if model.amount is None or model.amount <= 0:
            raise ValidationFailed(_("时长须为正整数"), field="amount")
        if model.max_extension is not None and model.max_extension < 0:
            raise ValidationFailed(_("最多延期不能为负数"), field="max_extension")
        if model.unit == TimeUnit.hours and model.amount > 24 * 365:
            raise ValidationFailed(_("以小时计的时限不能超过一年"), field="amount")

    def render(self, template, **kwargs):
        kwargs.setdefault("deadline_presets", DEADLINE_PRESETS)
        return super().render(template, **kwargs)

    @expose("/load-preset/", methods=("POST",))
    def load_preset_view(self):
        if not self.can_edit:
            abort(403)
        name = request.form.get("preset", "")
        if name not in DEADLINE_PRESETS:
            flash(_("请选择要载入的预设"), "error")
            return redirect(url_for(".index_view"))
        rules, escalations = load_deadline_preset(name)
        db.session.commit()
        flash(
            _(
                "已载入“%(name)s”：%(rules)s 条时限规则，%(escalations)s 条预警规则。"
                "正在计时的事项保持原期限。",
                name=DEADLINE_PRESETS[name][0],
                rules=rules,
                escalations=escalations,
            ),
            "success",
        )
        return redirect(url_for(".index_view"))


class EscalationRuleView(ProtectedModelView):
    permission_view = "settings.manage"
    permission_create = "settings.manage"
    permission_edit = "settings.manage"
    permission_delete = "settings.manage"
    column_list = (
        "name",
        "level",
        "clock",
        "trigger",
        "threshold",
        "recipient_role",
        "same_unit_only",
        "is_active",
    )
    form_columns = column_list
    column_labels = labels(
        name=_l("名称"),
        level=_l("级别"),
        clock=_l("时限（空为全部）"),
        trigger=_l("触发条件"),
        threshold=_l("阈值"),
        recipient_role=_l("提醒角色代码"),
        same_unit_only=_l("仅承办单位内"),
        is_active=_l("启用"),
    )
    column_descriptions = {
        "threshold": _l("按百分比：已用时限的百分数；按超期：超过期限的工作日数（0 为到期时）"),
        "recipient_role": _l("如 dept_head（部门负责人）、office（办公室）、leader（领导）"),
    }

    def on_create(self, form, model):
        self._check(model)
        super().on_create(form, model)

    def on_update(self, form, model):
        self._check(model)
        super().on_update(form, model)

    def _check(self, model):
        from models import Role

        if model.trigger == EscalationTrigger.percent_elapsed and not (
            1 <= (model.threshold or 0) <= 100
        ):
            raise ValidationFailed(_("百分比应在1到100之间"), field="threshold")
        if (model.threshold or 0) < 0:
            raise ValidationFailed(_("阈值不能为负数"), field="threshold")
        if not db.session.scalar(sa.select(Role.id).where(Role.code == model.recipient_role)):
            raise ValidationFailed(_("没有这个角色代码"), field="recipient_role")


class CalendarOverrideView(ProtectedModelView):
    permission_view = "settings.manage"
    permission_create = "settings.manage"
    permission_edit = "settings.manage"
    permission_delete = "settings.manage"
    column_list = ("day", "is_working", "note")
    column_default_sort = ("day", True)
    form_columns = ("day", "is_working", "note")
    column_labels = labels(day=_l("日期"), is_working=_l("上班（工作日）"), note=_l("说明"))
    column_descriptions = {
        "day": _l("节假日安排包未覆盖的年份（如2027年）须在此录入放假和调休上班日"),
    }
    list_template = "admin/workflow/calendar_list.html"

    def get_one(self, id):
        from datetime import date

        try:
            day = date.fromisoformat(str(id))
        except ValueError:
            return None
        return self.get_query().filter(self.model.day == day).one_or_none()

    def on_create(self, form, model):
        if model.day is None:
            raise ValidationFailed(_("请填写日期"), field="day")
        if db.session.get(self.model, model.day) not in (None, model):
            raise ValidationFailed(_("该日期已有设置"), field="day")
        super().on_create(form, model)
        forget_work_calendar()

    def on_update(self, form, model):
        super().on_update(form, model)
        forget_work_calendar()

    def on_delete(self, model):
        super().on_delete(model)
        forget_work_calendar()

    def render(self, template, **kwargs):
        from datetime import date

        this_year = date.today().year
        kwargs["uncovered_years"] = [
            year for year in (this_year, this_year + 1) if not work_calendar().covers(year)
        ]
        return super().render(template, **kwargs)


__all__ = ["Clock"]
