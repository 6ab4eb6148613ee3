"""Workflow step pages, the work list (我的工作台) and the deadline-rule settings."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, jsonify, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from models import Case, CaseClock, Notification, Party, Unit, db
from models.base import utcnow
from models.calendar import forget_work_calendar, work_calendar
from models.cases import OPEN_STATUSES
from models.confidentiality import reporter_visible_clause
from models.deadlines import time_left
from models.enums import CaseStatus, Clock, EscalationTrigger, TimeUnit
from models.operations import Conflict, NotPermitted, ValidationFailed, WorkflowError
from models.operations.deadlines import (
    due_soon_case_ids,
    due_soon_limit,
    overdue_case_ids,
)
from models.operations.workflow import (
    STEPS,
    closing_permission,
    perform,
    step_permissions,
    step_problem,
)
from models.presets import DEADLINE_PRESETS, load_deadline_preset

from .base import ProtectedModelView, case_scope
from .labels import labels
from .workflow_forms import step_form, step_inputs

CONFLICT_MESSAGE = _l("该事项刚被其他人办理或修改，您的操作未执行。请查看最新情况后再试。")


def visible_case(case_id: int) -> Case | None:
    return db.session.scalar(
        sa.select(Case).where(
            Case.id == case_id, Case.is_deleted.is_(False), case_scope(current_user)
        )
    )


def awaiting_condition(user):
    """Cases whose next step is the user's (我的待办)."""
    mine = sa.and_(
        Case.handler_id == user.id,
        Case.status.in_([CaseStatus.assigned, CaseStatus.in_progress]),
    )
    conditions = [mine]
    if user.unit_id is not None and user.has_permission("workflow.handle"):
        conditions.append(
            sa.and_(
                Case.handling_unit_id == user.unit_id,
                Case.handler_id.is_(None),
                Case.status == CaseStatus.assigned,
            )
        )
    if user.has_permission("workflow.intake"):
        conditions.append(Case.status.in_([CaseStatus.registered, CaseStatus.accepted]))
    if user.has_permission("workflow.instruct"):
        conditions.append(Case.status == CaseStatus.awaiting_instruction)
        pending = sa.select(CaseClock.case_id).where(
            CaseClock.pending_extension.is_not(None), CaseClock.stopped_at.is_(None)
        )
        conditions.append(Case.id.in_(pending))
    if user.has_permission("workflow.approve") and user.unit_id is not None:
        conditions.append(
            sa.and_(
                Case.status == CaseStatus.result_reported,
                Case.result_approved_at.is_(None),
                Case.handling_unit_id == user.unit_id,
            )
        )
    if user.has_permission("workflow.reply"):
        conditions.append(
            sa.and_(
                Case.status == CaseStatus.result_reported,
                Case.result_approved_at.is_not(None),
                Case.is_anonymous.is_(False),
            )
        )
    if user.has_permission(closing_permission()):
        conditions.append(
            sa.or_(
                Case.status == CaseStatus.replied,
                sa.and_(
                    Case.status == CaseStatus.result_reported,
                    Case.is_anonymous.is_(True),
                    Case.result_approved_at.is_not(None),
                ),
            )
        )
    if user.has_permission("workflow.review"):
        conditions.append(Case.status.in_([CaseStatus.under_review, CaseStatus.under_re_review]))
    return sa.or_(*conditions)


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
                    Case.number == number, Case.is_deleted.is_(False), case_scope(current_user)
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
                .where(Case.id.in_(ids), Case.is_deleted.is_(False), case_scope(current_user))
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


def similar_cases(args) -> list[dict]:
    """Open, visible cases of a party matched by ID number, phone, or name plus subject."""
    id_number = (args.get("id_number") or "").strip().upper()
    phone = (args.get("phone") or "").strip()
    name = (args.get("name") or "").strip()
    subject = (args.get("subject") or "").strip()
    party_conditions = []
    if len(id_number) >= 6:
        party_conditions.append(Party.id_number == id_number)
    if len(phone) >= 7:
        party_conditions.append(Party.phone == phone)
    if name:
        party_conditions.append(Party.name == name)
    if not party_conditions:
        return []
    from models import case_petitioners

    matched = (
        sa.select(
            Case.id,
            Case.number,
            Case.subject,
            Case.status,
            Party.id_number,
            Party.phone,
        )
        .join(case_petitioners, case_petitioners.c.case_id == Case.id)
        .join(Party, Party.id == case_petitioners.c.party_id)
        .where(
            sa.or_(*party_conditions),
            Case.is_deleted.is_(False),
            Case.status.in_(OPEN_STATUSES),
            case_scope(current_user),
            # A match would tie the person to a 举报 case they may be the reporter of.
            reporter_visible_clause(current_user),
        )
        .order_by(Case.id.desc())
        .limit(20)
    )
    results = []
    seen = set()
    for row in db.session.execute(matched):
        case_id, number, case_subject, status, party_id, party_phone = row
        if case_id in seen:
            continue
        seen.add(case_id)
        strong = (id_number and party_id == id_number) or (phone and party_phone == phone)
        # A name alone is common; it counts only with a similar subject.
        if not strong and not _similar(subject, case_subject):
            continue
        results.append(
            {
                "id": case_id,
                "number": number,
                "subject": case_subject,
                "status": status.title,
                "matched_on": _("证件号码")
                if id_number and party_id == id_number
                else _("电话")
                if phone and party_phone == phone
                else _("姓名和事由"),
                "url": url_for("case.details_view", id=case_id),
            }
        )
    return results[:10]


def _similar(a: str, b: str) -> bool:
    """Two subjects share at least two two-character fragments (works for Chinese text)."""
    if not a or not b:
        return False
    pairs = {a[i : i + 2] for i in range(len(a) - 1)}
    return sum(1 for i in range(len(b) - 1) if b[i : i + 2] in pairs) >= 2


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
        scope = sa.and_(Case.is_deleted.is_(False), case_scope(current_user))
        limit = 100

        def cases(condition):
            return db.session.scalars(
                sa.select(Case).where(scope, condition).order_by(Case.received_at).limit(limit)
            ).all()

        awaiting = cases(awaiting_condition(current_user))
        overdue_clocks = self._clocks(scope, CaseClock.due_at < now, limit)
        due_soon_clocks = self._clocks(
            scope, sa.and_(CaseClock.due_at >= now, CaseClock.due_at <= due_soon_limit(now)), limit
        )
        notifications = db.session.scalars(
            sa.select(Notification)
            .where(Notification.user_id == current_user.id)
            .order_by(Notification.read_at.is_not(None), Notification.id.desc())
            .limit(50)
        ).all()
        units = self._unit_summary(now) if current_user.has_permission("case.view_all") else []
        calendar = work_calendar()
        return self.render(
            "admin/workflow/worklist.html",
            awaiting=awaiting,
            overdue=[(c, time_left(c, calendar, now)) for c in overdue_clocks],
            due_soon=[(c, time_left(c, calendar, now)) for c in due_soon_clocks],
            notifications=notifications,
            units=units,
            tab=request.args.get("tab", "awaiting"),
        )

    def _clocks(self, scope, condition, limit):
        return db.session.scalars(
            sa.select(CaseClock)
            .join(Case, Case.id == CaseClock.case_id)
            .options(sa.orm.contains_eager(CaseClock.case))
            .where(
                scope,
                Case.status.in_(OPEN_STATUSES),
                CaseClock.stopped_at.is_(None),
                CaseClock.paused_at.is_(None),
                condition,
            )
            .order_by(CaseClock.due_at)
            .limit(limit)
        ).all()

    def _unit_summary(self, now):
        open_cases = sa.and_(Case.is_deleted.is_(False), Case.status.in_(OPEN_STATUSES))
        overdue = Case.id.in_(overdue_case_ids(now))
        due_soon = Case.id.in_(due_soon_case_ids(now))
        rows = db.session.execute(
            sa.select(
                Unit.name,
                Unit.id,
                sa.func.count(Case.id),
                sa.func.count(Case.id).filter(due_soon),
                sa.func.count(Case.id).filter(overdue),
            )
            .join(Case, Case.handling_unit_id == Unit.id)
            .where(open_cases)
            .group_by(Unit.id, Unit.name)
            .order_by(sa.func.count(Case.id).filter(overdue).desc(), Unit.name)
        ).all()
        return rows


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
