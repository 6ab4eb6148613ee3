"""Retention screens: the retention rules (设置), the 存信 register with destruction by batch
and the destruction register (办理)."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_admin.contrib.sqla import filters
from flask_babel import gettext as _
from flask_login import current_user

from models import Case, db
from models.operations import NotPermitted, ValidationFailed
from models.operations.retention import (
    DESTROY_PERMISSION,
    destroy_batch,
    kept_cases_query,
    kept_groups,
    parse_year,
    print_destruction_register,
    print_kept_register,
    refresh_retention,
    select_cases,
)
from models.policies import DESTRUCTION_LOG_PERMISSIONS, hidden_reporters_among
from models.retention import DEFAULT_RETENTION_YEARS, check_retention_rule, today
from models.texts import lazy_gettext as _l

from .base import ProtectedModelView, refuse_access
from .documents import pdf_response
from .labels import labels
from .settings import CheckedRuleView

#: The 存信 list shows at most this many cases at once (narrow by year and region).
KEPT_LIST_LIMIT = 500


class RetentionFilter(filters.BaseSQLAFilter):
    """Cases by retention: past it (may be destroyed), still inside it, or not started."""

    OPTIONS = ("expired", "retained", "open")

    def __init__(self, column, name):
        super().__init__(
            column,
            name,
            options=[
                ("expired", _l("保存期已满")),
                ("retained", _l("保存期内")),
                ("open", _l("未办结（未起算）")),
            ],
        )

    def apply(self, query, value, alias=None):
        if value == "expired":
            return query.filter(self.column <= today())
        if value == "retained":
            return query.filter(self.column > today())
        return query.filter(self.column.is_(None))

    def validate(self, value) -> bool:
        return value in self.OPTIONS

    def operation(self):
        return _l("为")


class RetentionRuleView(CheckedRuleView):
    list_template = "admin/retention/rule_list.html"
    column_list = ("name", "category", "outcome", "years", "is_active", "note")
    column_default_sort = [("id", False)]
    column_formatters = {
        "category": lambda view, context, model, name: (
            model.category.name if model.category is not None else _("（任何分类）")
        )
    }
    form_columns = ("name", "category", "outcome", "years", "is_active", "note")
    column_labels = labels(
        name=_l("名称"),
        outcome=_l("办理结果"),
        years=_l("保存年限"),
        is_active=_l("启用"),
        note=_l("备注"),
    )
    column_descriptions = {
        "category": _l("空表示任何分类；选父分类则对其子分类也适用"),
        "years": _l(
            "自办结、不予受理等结果之日起算；存信自存信年度的12月31日起算。0表示到期即可销毁"
        ),
    }

    def _check(self, model):
        check_retention_rule(model)

    def on_create(self, form, model):
        super().on_create(form, model)
        refresh_retention()

    def on_update(self, form, model):
        super().on_update(form, model)
        refresh_retention()

    def on_delete(self, model):
        super().on_delete(model)
        refresh_retention()

    def render(self, template, **kwargs):
        kwargs.setdefault("default_years", DEFAULT_RETENTION_YEARS)
        return super().render(template, **kwargs)

    @expose("/refresh/", methods=("POST",))
    def refresh_view(self):
        if not self.can_edit:
            abort(403)
        changed = refresh_retention()
        db.session.commit()
        flash(_("已按现行规则重新计算保存期限：%(count)s 件事项有变化", count=changed), "success")
        return redirect(url_for(".index_view"))


class KeptLettersView(BaseView):
    """存信登记簿: kept letters grouped and filtered by year and region; destruction by batch."""

    def is_accessible(self):
        return current_user.is_authenticated and current_user.has_permission("case.view")

    def inaccessible_callback(self, name, **kwargs):
        return refuse_access()

    def _page(self, year, region, error: str | None = None, status: int = 200):
        groups = kept_groups(current_user)
        cases = db.session.scalars(
            kept_cases_query(current_user, year=year, region=region).limit(KEPT_LIST_LIMIT + 1)
        ).all()
        masked = hidden_reporters_among(current_user, cases[:KEPT_LIST_LIMIT])
        return (
            self.render(
                "admin/retention/kept.html",
                groups=groups,
                years=sorted({g[0] for g in groups if g[0]}, reverse=True),
                regions=sorted({g[1] for g in groups if g[1]}),
                cases=cases[:KEPT_LIST_LIMIT],
                truncated=len(cases) > KEPT_LIST_LIMIT,
                masked=masked,
                year=year,
                region=region or "",
                error=error,
                may_destroy=current_user.has_permission(DESTROY_PERMISSION),
                may_print=current_user.has_permission("register.print"),
            ),
            status,
        )

    @expose("/")
    def index(self):
        try:
            year = parse_year(request.args.get("year"))
        except ValidationFailed as error:
            return self._page(None, None, str(error), 400)
        return self._page(year, (request.args.get("region") or "").strip() or None)

    @expose("/pdf/")
    def pdf_view(self):
        year, region = request.args.get("year"), request.args.get("region")
        try:
            pdf = print_kept_register(current_user, year=year, region=region)
        except NotPermitted:
            db.session.rollback()
            abort(403)
        except ValidationFailed as error:
            db.session.rollback()
            return self._page(None, None, str(error), 400)
        db.session.commit()
        return pdf_response(pdf, f"{_('存信登记簿')}.pdf")

    @expose("/destroy/", methods=("POST",))
    def destroy_view(self):
        if not current_user.has_permission(DESTROY_PERMISSION):
            abort(403)
        selected = request.form.getlist("case_id")
        by_selection = request.form.get("mode") == "selected"
        # The register's filter, kept apart from the batch's own year and region (None when
        # destroying a selection) so a refusal shows the page the administrator was on.
        shown_region = (request.form.get("region") or "").strip() or None
        year, region = request.form.get("year"), request.form.get("region")
        try:
            if by_selection and not selected:
                raise ValidationFailed(_("请勾选要销毁的存信"), field="cases")
            cases, year, region = select_cases(
                current_user,
                year=None if by_selection else year,
                region=None if by_selection else region,
                case_ids=selected if by_selection else None,
            )
            batch = destroy_batch(
                cases, by=current_user, year=year, region=region, note=request.form.get("note")
            )
            db.session.commit()
        except (ValidationFailed, NotPermitted) as error:
            db.session.rollback()
            try:
                shown_year = parse_year(request.form.get("year"))
            except ValidationFailed:
                shown_year = None
            return self._page(shown_year, shown_region, str(error), 400)
        flash(
            _(
                "已销毁 %(count)s 件存信，批次 %(number)s",
                count=batch.case_count,
                number=batch.number,
            ),
            "success",
        )
        return redirect(url_for("destructionbatch.details_view", id=batch.id))


class DestructionBatchView(ProtectedModelView):
    """存信销毁登记簿: the batches and the cases each destroyed (their tombstones)."""

    permission_any = DESTRUCTION_LOG_PERMISSIONS
    allow_create = False
    allow_edit = False
    allow_delete = False
    list_template = "admin/retention/batch_list.html"
    details_template = "admin/retention/batch_details.html"
    column_list = (
        "number",
        "created_at",
        "created_by",
        "kept_year",
        "kept_region",
        "case_count",
        "note",
    )
    column_default_sort = [("created_at", True), ("id", True)]
    column_details_list = column_list
    column_labels = labels(
        number=_l("批次编号"),
        created_at=_l("销毁时间"),
        created_by=_l("销毁人"),
        kept_year=_l("存信年份"),
        kept_region=_l("存信地区"),
        case_count=_l("件数"),
        note=_l("备注"),
    )

    @expose("/print/")
    def print_view(self):
        raw_id = request.args.get("id")
        try:
            batch_id = int(raw_id) if raw_id else None
        except ValueError:
            batch_id = -1
        try:
            pdf = print_destruction_register(
                current_user, batch_id=batch_id, year=request.args.get("year")
            )
        except NotPermitted:
            db.session.rollback()
            abort(403)
        except ValidationFailed as error:
            db.session.rollback()
            flash(str(error), "error")
            return redirect(url_for(".index_view")), 302
        db.session.commit()
        return pdf_response(pdf, f"{_('存信销毁登记簿')}.pdf")


def destroy_selected_cases(ids) -> None:
    """The case list's 销毁存信 action: the ticked kept cases as one batch, or nothing."""
    try:
        cases, _year, _region = select_cases(current_user, case_ids=list(ids))
        batch = destroy_batch(cases, by=current_user)
        db.session.commit()
    except (ValidationFailed, NotPermitted) as error:
        db.session.rollback()
        flash(str(error), "error")
        return
    flash(
        _("已销毁 %(count)s 件存信，批次 %(number)s", count=batch.case_count, number=batch.number),
        "success",
    )


def tombstone_context(case: Case) -> dict:
    return {"case": case, "batch": case.destruction_batch}
