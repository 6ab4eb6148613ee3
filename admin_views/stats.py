"""统计 → 统计看板 and 定期报表: figures, charts and reports from ``models.queries.statistics``."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from flask import Response, abort, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _
from flask_login import current_user

from models import Category, Unit, db
from models.audit import AuditAction
from models.base import local_zone, utcnow
from models.operations.audit_log import record_audit
from models.policies import visible_cases_clause
from models.queries.statistics import (
    RECURRING_RULE,
    StatsFilter,
    breakdown,
    by_category,
    by_channel,
    by_month,
    by_unit,
    callback_quotas,
    dimensions,
    recurring_problems,
    summary,
)
from models.rendering import charts as svg
from models.rendering.reports import (
    REPORT_KINDS,
    default_period,
    report_data,
    report_pdf,
    report_xlsx,
)
from models.texts import lazy_gettext as _l

from .filters import StatsDrillFilter

#: The report names on screen (the documents themselves are printed in Chinese).
REPORT_TITLES = {
    "monthly": _l("月度信访投诉情况报告"),
    "half_year": _l("半年投诉分析报告"),
    "annual_analysis": _l("年度投诉分析报告"),
    "annual_summary": _l("年度信访工作总结"),
}


#: What each drill-down measure lists, for the line above the filtered case list.
MEASURE_TITLES = {
    "all": _l("收到的事项"),
    "group": _l("集体访"),
    "beyond_level": _l("越级访"),
    "abnormal": _l("异常访"),
    "open": _l("办理中"),
    "closed": _l("已办结"),
    "transferred": _l("转出"),
    "overdue": _l("超期"),
    "ontime": _l("按期办结"),
    "late": _l("逾期办结"),
    "repeat": _l("重复信访"),
    "accepted": _l("已受理"),
    "instructed": _l("已批示"),
    "unread": _l("已受理未批示"),
    "evaluated": _l("已评价"),
    "satisfied": _l("满意和基本满意"),
    "dissatisfied": _l("不满意"),
    "callback_tasks": _l("有回访任务"),
    "callback_pending": _l("回访未完成"),
    "callback_overdue": _l("回访已逾期"),
}


def describe_drill(value: str) -> str | None:
    """A readable line for the case list opened from a dashboard figure."""
    from models.enums import CaseChannel

    try:
        flt, measure, dims = StatsFilter.decode(value)
    except (KeyError, ValueError):
        return None
    parts = [f"{flt.start.isoformat()} — {flt.end.isoformat()}", str(MEASURE_TITLES[measure])]
    for unit_id in (flt.unit_id, dims.get("unit")):
        if unit_id and unit_id != "none":
            unit = db.session.get(Unit, int(unit_id))
            parts.append(unit.name if unit else "")
        elif unit_id == "none":
            parts.append(_("未交办"))
    for category_id in (flt.category_id, dims.get("cat")):
        if category_id and category_id != "none":
            category = db.session.get(Category, int(category_id))
            parts.append(category.name if category else "")
        elif category_id == "none":
            parts.append(_("未分类"))
    if "ch" in dims:
        parts.append(CaseChannel.title_of(dims["ch"]))
    if "mo" in dims:
        parts.append(dims["mo"])
    return "，".join(part for part in parts if part)


def _parse_day(text: str | None, fallback: date) -> date:
    try:
        return date.fromisoformat(text) if text else fallback
    except ValueError:
        return fallback


def _parse_id(text: str | None, model) -> int | None:
    try:
        value = int(text) if text else None
    except ValueError:
        return None
    if value is not None and db.session.get(model, value) is None:
        return None
    return value


def _quick_periods(today: date) -> list[tuple[str, date, date]]:
    month_start = today.replace(day=1)
    last_month_end = month_start - timedelta(days=1)
    half_start = date(today.year, 1 if today.month <= 6 else 7, 1)
    return [
        (_("本月"), month_start, today),
        (_("上月"), last_month_end.replace(day=1), last_month_end),
        (_("本半年"), half_start, today),
        (_("本年"), date(today.year, 1, 1), today),
        (_("上一年"), date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)),
        (_("近12个月"), (month_start - timedelta(days=335)).replace(day=1), today),
    ]


def drill_url(flt: StatsFilter, measure: str = "all", **dimensions) -> str:
    """The case list showing exactly the cases counted in one figure."""
    from flask import current_app

    view = next(v for v in current_app.extensions["admin"][0]._views if v.endpoint == "case")
    for index, flt_obj in enumerate(view._filters or []):
        if isinstance(flt_obj, StatsDrillFilter):
            return url_for(
                "case.index_view", **{f"flt0_{index}": flt.encode(measure, **dimensions)}
            )
    return url_for("case.index_view")


class StatsView(BaseView):
    def is_accessible(self) -> bool:
        return current_user.is_authenticated and current_user.has_permission("stats.view")

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("admin.login_view"))
        abort(403)

    def _filter(self) -> tuple[StatsFilter, str | None]:
        today = utcnow().astimezone(local_zone()).date()
        start = _parse_day(request.args.get("start"), today.replace(month=1, day=1))
        end = _parse_day(request.args.get("end"), today)
        error = None
        if end < start:
            error = _("结束日期不能早于开始日期，已按开始日期统计一天。")
            end = start
        if (end - start).days > 3660:
            error = _("统计期间最长十年，已从结束日期往前取十年。")
            start = end - timedelta(days=3660)
        unit_id = _parse_id(request.args.get("unit"), Unit)
        category_id = _parse_id(request.args.get("category"), Category)
        return StatsFilter(start, end, unit_id, category_id), error

    def _filter_text(self, flt: StatsFilter) -> str:
        parts = []
        if flt.unit_id:
            parts.append(_("承办单位：%(name)s", name=db.session.get(Unit, flt.unit_id).name))
        if flt.category_id:
            parts.append(_("分类：%(name)s", name=db.session.get(Category, flt.category_id).name))
        return "；".join(parts)

    @expose("/")
    def index(self):
        flt, error = self._filter()
        scope = visible_cases_clause(current_user)
        rows = breakdown(flt, scope=scope)
        figures = summary(flt, scope=scope, breakdown=rows)
        grouped = dimensions(flt, scope=scope)
        channels = by_channel(flt, rows=grouped)
        categories = by_category(flt, rows=grouped)
        months = by_month(flt, rows=grouped)
        units = by_unit(flt, scope=scope, breakdown=rows)

        def link(measure="all", **dims):
            return drill_url(flt, measure, **dims)

        charts = {
            "channel": svg.hbar(
                [(row["label"], row["count"], link(ch=row["key"])) for row in channels],
                title=_("按来源渠道"),
            ),
            "category": svg.hbar(
                [(row["label"], row["count"], link(cat=row["key"])) for row in categories[:15]],
                title=_("按分类"),
            ),
            "month": svg.columns(
                [(row["label"][2:], row["count"], link(mo=row["key"])) for row in months],
                title=_("按月份"),
                width=900,
            ),
            "unit": svg.stacked_hbar(
                [
                    (
                        row["label"],
                        [row["closed"], row["open"] - row["overdue"], row["overdue"]],
                        [
                            link("closed", unit=row["key"]),
                            link("open", unit=row["key"]),
                            link("overdue", unit=row["key"]),
                        ],
                    )
                    for row in units[:15]
                ],
                [_("已办结"), _("办理中（未超期）"), _("超期")],
                title=_("按承办单位"),
                width=620,
                colors=svg.STATUS_COLORS,
            ),
            "ontime": svg.gauge(figures["ontime_rate"], title=_("按期办结率")),
            "satisfaction": svg.gauge(figures["satisfaction_rate"], title=_("满意率")),
            "callback": svg.gauge(figures["callback_rate"], title=_("回访完成率")),
            "reading": svg.gauge(figures["reading_rate"], title=_("领导阅办率")),
        }
        today = utcnow().astimezone(local_zone()).date()
        return self.render(
            "admin/stats/index.html",
            flt=flt,
            error=error,
            figures=figures,
            channels=channels,
            categories=categories,
            months=months,
            units=units,
            quotas=callback_quotas(flt),
            recurring=recurring_problems(flt, scope=scope, limit=None),
            recurring_rule=RECURRING_RULE,
            charts=charts,
            link=link,
            quick_periods=_quick_periods(today),
            unit_choices=db.session.execute(
                sa.select(Unit.id, Unit.name).order_by(Unit.sort_order, Unit.id)
            ).all(),
            category_choices=db.session.execute(
                sa.select(Category.id, Category.name, Category.parent_id).order_by(
                    Category.sort_order, Category.id
                )
            ).all(),
            report_kinds=REPORT_TITLES,
        )

    @expose("/report/")
    def report(self):
        kind = request.args.get("kind", "monthly")
        fmt = request.args.get("format", "xlsx")
        if kind not in REPORT_KINDS or fmt not in ("xlsx", "pdf"):
            flash(_("未知的报表类型。"), "error")
            return redirect(url_for(".index"))
        flt, _error = self._filter()
        if not request.args.get("start"):
            today = utcnow().astimezone(local_zone()).date()
            start, end = default_period(kind, today)
            flt = StatsFilter(start, end, flt.unit_id, flt.category_id)
        data = report_data(
            kind,
            flt,
            scope=visible_cases_clause(current_user),
            filter_text=self._filter_text(flt),
            user=current_user,
        )
        name = f"{REPORT_KINDS[kind]}_{flt.start.isoformat()}_{flt.end.isoformat()}"
        if fmt == "xlsx":
            body = report_xlsx(data)
            mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        else:
            from models.rendering.pdf import RenderError

            try:
                body = report_pdf(data)
            except RenderError as error:
                flash(str(error), "error")
                return redirect(url_for(".index", **request.args))
            mimetype = "application/pdf"
        record_audit(
            AuditAction.print if fmt == "pdf" else AuditAction.export,
            by=current_user,
            target_type="report",
            summary=f"{REPORT_KINDS[kind]}（{self._filter_text(flt)}，{fmt.upper()}）",
            data={
                "report": kind,
                "format": fmt,
                "start": flt.start.isoformat(),
                "end": flt.end.isoformat(),
                "unit_id": flt.unit_id,
                "category_id": flt.category_id,
            },
        )
        db.session.commit()
        from urllib.parse import quote

        return Response(
            body,
            mimetype=mimetype,
            headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}.{fmt}",
                "Cache-Control": "no-store",
            },
        )
