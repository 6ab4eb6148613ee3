"""Periodic reports (月报、半年与年度投诉分析、年度总结) as data, XLSX and PDF.

One function gathers a report's figures from ``models.queries.statistics`` (the same queries as the
dashboard, so a report and the dashboard agree for the same filter); the XLSX writer and the
PDF template only lay them out.
"""

from __future__ import annotations

import io
from datetime import timedelta

import sqlalchemy as sa

from .. import db
from ..base import local_zone, utcnow
from ..enums import QueueStatus
from ..queries.statistics import (
    RECURRING_RULE,
    StatsFilter,
    breakdown,
    by_category,
    by_channel,
    by_month,
    by_unit,
    callback_quotas,
    dimensions,
    measure_condition,
    recurring_problems,
    summary,
)
from ..reception_days import ReceptionQueueEntry
from ..units import Unit
from . import charts

REPORT_KINDS = {
    "monthly": "月度信访投诉情况报告",
    "half_year": "半年投诉分析报告",
    "annual_analysis": "年度投诉分析报告",
    "annual_summary": "年度信访工作总结",
}

#: (key in summary, label, kind) for the headline table; kind "rate" prints a percentage.
SUMMARY_ROWS = [
    ("batches", "收到信访事项（批次）", "count"),
    ("persons", "人次", "count"),
    ("group_batches", "集体访（批次）", "count"),
    ("group_persons", "集体访（人次）", "count"),
    ("beyond_level", "越级访（批次）", "count"),
    ("abnormal", "异常访（批次）", "count"),
    ("closed", "已办结", "count"),
    ("open", "办理中", "count"),
    ("overdue", "超期未办结", "count"),
    ("transferred", "转出", "count"),
    ("ontime_rate", "按期办结率", "rate"),
    ("average_days", "平均办理天数", "days"),
    ("repeat_cases", "重复信访事项", "count"),
    ("reading_rate", "领导阅办率", "rate"),
    ("evaluated", "已评价（回访）", "count"),
    ("satisfaction_rate", "满意率（满意+基本满意）", "rate"),
    ("callback_tasks", "回访任务", "count"),
    ("callback_rate", "回访完成率", "rate"),
]


def format_value(value, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "rate":
        return f"{value:.1f}%"
    if kind == "days":
        return f"{value:.1f}"
    return str(value)


def reception_day_items(flt: StatsFilter, *, scope=None) -> list[dict]:
    """Matters received at leader reception days in the period, per handling unit (T51)."""
    from ..cases import Case

    zone = local_zone()
    now = utcnow()
    today = now.astimezone(zone).date()
    names = dict(db.session.execute(sa.select(Unit.id, Unit.name)).all())
    conditions = [
        ReceptionQueueEntry.day >= flt.start,
        ReceptionQueueEntry.day <= flt.end,
        ReceptionQueueEntry.status != QueueStatus.absent,
        Case.is_deleted.is_(False),
    ]
    if scope is not None:
        conditions.append(scope)
    if flt.unit_id:
        conditions.append(Case.handling_unit_id == flt.unit_id)
    rows = db.session.execute(
        sa.select(
            Case.handling_unit_id,
            sa.func.count(sa.distinct(Case.id)),
            sa.func.count(sa.distinct(Case.id)).filter(measure_condition("closed", now, today)),
            sa.func.count(sa.distinct(Case.id)).filter(measure_condition("overdue", now, today)),
        )
        .select_from(ReceptionQueueEntry)
        .join(Case, Case.id == ReceptionQueueEntry.case_id)
        .where(*conditions)
        .group_by(Case.handling_unit_id)
        .order_by(sa.func.count(sa.distinct(Case.id)).desc())
    ).all()
    return [
        {
            "label": names.get(unit_id, "未交办"),
            "count": count,
            "closed": closed,
            "open": count - closed,
            "overdue": overdue,
        }
        for unit_id, count, closed, overdue in rows
    ]


def survey_results_in(flt: StatsFilter, *, user=None) -> list[dict]:
    """The period's survey campaigns with their results; only those ``user`` may see."""
    from ..operations.surveys import campaign_results
    from ..policies import survey_campaign_visible_clause
    from ..surveys import SurveyCampaign

    conditions = [SurveyCampaign.starts_on >= flt.start, SurveyCampaign.starts_on <= flt.end]
    if user is not None:
        conditions.append(survey_campaign_visible_clause(user))
    campaigns = db.session.scalars(
        sa.select(SurveyCampaign).where(*conditions).order_by(SurveyCampaign.starts_on)
    ).all()
    return [{"campaign": c, "results": campaign_results(c)} for c in campaigns]


def report_data(
    kind: str, flt: StatsFilter, *, scope=None, filter_text: str = "", user=None
) -> dict:
    if kind not in REPORT_KINDS:
        raise ValueError(kind)
    rows = breakdown(flt, scope=scope)
    grouped = dimensions(flt, scope=scope)
    data = {
        "kind": kind,
        "title": REPORT_KINDS[kind],
        "filter": flt,
        "filter_text": filter_text,
        "generated_at": utcnow().astimezone(local_zone()),
        "summary": summary(flt, scope=scope, breakdown=rows),
        "summary_rows": SUMMARY_ROWS,
        "by_channel": by_channel(flt, rows=grouped),
        "by_category": by_category(flt, rows=grouped),
        "by_unit": by_unit(flt, scope=scope, breakdown=rows),
        "by_month": by_month(flt, rows=grouped),
    }
    if kind == "monthly":
        data["reception_items"] = reception_day_items(flt, scope=scope)
        data["quotas"] = callback_quotas(flt)
    if kind in ("half_year", "annual_analysis", "annual_summary"):
        data["recurring"] = recurring_problems(flt, scope=scope, limit=None)
        data["recurring_rule"] = RECURRING_RULE
    if kind == "annual_summary":
        data["surveys"] = survey_results_in(flt, user=user)
    return data


def report_charts(data: dict) -> dict:
    """The report's charts as SVG strings (no links: a PDF is read, not clicked)."""
    return {
        "channel": charts.hbar(
            [(row["label"], row["count"], None) for row in data["by_channel"]], title="按渠道"
        ),
        "category": charts.hbar(
            [(row["label"], row["count"], None) for row in data["by_category"][:12]],
            title="按分类",
        ),
        "month": charts.columns(
            [(row["label"][2:], row["count"], None) for row in data["by_month"]],
            title="按月份",
            width=620,
        ),
        "unit": charts.stacked_hbar(
            [
                (row["label"], [row["closed"], row["open"] - row["overdue"], row["overdue"]], None)
                for row in data["by_unit"][:12]
            ],
            ["已办结", "办理中", "超期"],
            title="按承办单位",
            width=600,
            colors=charts.STATUS_COLORS,
        ),
    }


def report_xlsx(data: dict) -> bytes:
    """The report as a workbook: one sheet per table, numbers as numbers."""
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    bold = book.add_format({"bold": True})
    title_format = book.add_format({"bold": True, "font_size": 14})
    percent = book.add_format({"num_format": "0.0%"})
    decimal = book.add_format({"num_format": "0.0"})
    header = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    highlight = book.add_format({"bg_color": "#FCE4D6"})

    sheet = book.add_worksheet("概况")
    sheet.set_column(0, 0, 28)
    sheet.set_column(1, 1, 14)
    sheet.write(0, 0, data["title"], title_format)
    flt = data["filter"]
    sheet.write(1, 0, f"统计期间：{flt.start.isoformat()} 至 {flt.end.isoformat()}")
    if data["filter_text"]:
        sheet.write(2, 0, data["filter_text"])
    sheet.write_row(4, 0, ["指标", "数值"], header)
    for index, (key, label, kind) in enumerate(data["summary_rows"], start=5):
        value = data["summary"][key]
        sheet.write(index, 0, label)
        if value is None:
            sheet.write(index, 1, "—")
        elif kind == "rate":
            sheet.write_number(index, 1, value / 100, percent)
        elif kind == "days":
            sheet.write_number(index, 1, value, decimal)
        else:
            sheet.write_number(index, 1, value)

    def table(name, columns, rows, *, mark=None):
        ws = book.add_worksheet(name)
        ws.set_column(0, 0, 26)
        ws.set_column(1, len(columns), 12)
        ws.write_row(0, 0, [label for label, _key in columns], header)
        for r, row in enumerate(rows, start=1):
            style = highlight if mark and mark(row) else None
            for c, (_label, key) in enumerate(columns):
                value = row[key]
                if value is None:
                    ws.write(r, c, "—", style)
                elif isinstance(value, float):
                    ws.write_number(r, c, value / 100, percent)
                elif isinstance(value, int | float) and not isinstance(value, bool):
                    ws.write_number(r, c, value, style)
                elif isinstance(value, bool):
                    ws.write(r, c, "是" if value else "", style)
                else:
                    ws.write(r, c, str(value), style)
        return ws

    counts = [("批次", "count"), ("人次", "persons")]
    table("按渠道", [("渠道", "label"), *counts], data["by_channel"])
    table("按分类", [("分类", "label"), *counts], data["by_category"])
    table("按月份", [("月份", "label"), *counts], data["by_month"])
    table(
        "按承办单位",
        [
            ("承办单位", "label"),
            *counts,
            ("办理中", "open"),
            ("已办结", "closed"),
            ("超期", "overdue"),
            ("转出", "transferred"),
            ("按期办结率", "ontime_rate"),
        ],
        data["by_unit"],
    )
    if "reception_items" in data:
        table(
            "接待日交办事项",
            [
                ("承办单位", "label"),
                ("事项数", "count"),
                ("已办结", "closed"),
                ("未办结", "open"),
                ("超期", "overdue"),
            ],
            data["reception_items"],
        )
    if "quotas" in data:
        ws = table(
            "回访配额",
            [
                ("角色", "role"),
                ("最低比例%", "min_percent"),
                ("完成回访", "done"),
                ("实际占比", "share"),
                ("达标", "met"),
            ],
            data["quotas"]["rows"],
            mark=lambda row: not row["met"],
        )
        handling = data["quotas"]["handling"]
        r = len(data["quotas"]["rows"]) + 2
        style = None if handling["met"] else highlight
        ws.write(r, 0, "回访处理率（到期回访已完成）", style)
        ws.write_number(r, 1, handling["target"], style)
        ws.write(r, 2, f"{handling['handled']}/{handling['due']}", style)
        if handling["rate"] is None:
            ws.write(r, 3, "—", style)
        else:
            ws.write_number(r, 3, handling["rate"] / 100, percent)
        ws.write(r, 4, "是" if handling["met"] else "", style)
    if "recurring" in data:
        table(
            "按问题类型",
            [
                ("问题类型（分类）", "label"),
                ("事项数", "count"),
                ("有重复信访的事项", "repeat_cases"),
                ("重复来信来访来电", "repeat_contacts"),
                ("反复出现", "recurring"),
            ],
            data["recurring"],
            mark=lambda row: row["recurring"],
        )
    if data.get("surveys"):
        ws = book.add_worksheet("满意度调查")
        ws.set_column(0, 0, 26)
        ws.write_row(0, 0, ["调查", "项目", "评价数", "满意+基本满意", "满意率"], header)
        r = 1
        for entry in data["surveys"]:
            results = entry["results"]
            ws.write(r, 0, str(entry["campaign"]), bold)
            ws.write(r, 1, f"回收 {results['returned']} 份")
            ws.write_number(r, 2, results["answered"])
            ws.write_number(r, 3, results["satisfied"])
            if results["overall_rate"] is not None:
                ws.write_number(r, 4, results["overall_rate"] / 100, percent)
            r += 1
            for item in results["items"]:
                ws.write(r, 1, item["title"])
                ws.write_number(r, 2, item["answered"])
                ws.write_number(r, 3, item["satisfied"])
                if item["rate"] is not None:
                    ws.write_number(r, 4, item["rate"] / 100, percent)
                r += 1
    book.close()
    return buffer.getvalue()


def report_html(data: dict) -> str:
    from flask import render_template

    return render_template(
        "documents/stats_report.html",
        data=data,
        charts=report_charts(data),
        format_value=format_value,
    )


def report_pdf(data: dict) -> bytes:
    from flask_babel import force_locale

    from .pdf import render_pdf

    # The printed report is a Chinese document whatever the screen's language.
    with force_locale("zh_Hans_CN"):
        html = report_html(data)
    return render_pdf(html)


def default_period(kind: str, today) -> tuple:
    """The period a report covers when none is chosen: the last complete one."""
    from ..queries.statistics import period_of

    if kind == "monthly":
        last = today.replace(day=1) - timedelta(days=1)
        return period_of("month", last.year, last.month)
    if kind == "half_year":
        return (
            period_of("half", today.year, 1)
            if today.month > 6
            else period_of("half", today.year - 1, 2)
        )
    return period_of("year", today.year - 1 if today.month < 12 else today.year)
