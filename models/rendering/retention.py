"""The two retention registers: the 存信 register (kept letters by region and year) and the
destruction register (each batch and the cases it destroyed). Both print on the common
register layout (``templates/documents/register.html``)."""

from __future__ import annotations

from flask import render_template

from ..base import format_local, utcnow
from ..enums import RegisterKind
from ..retention import local_day
from ..settings import SystemSetting
from ..vocabulary import substitute
from .registers import Column

KEPT_COLUMNS = [
    Column("序号", 11),
    Column("登记编号", 30),
    Column("收到日期", 22),
    Column("存信日期", 22),
    Column("地区", 28),
    Column("年份", 14),
    Column("来信人", 26),
    Column("事由", 70),
    Column("保存期至", 24),
]

DESTRUCTION_COLUMNS = [
    Column("序号", 11),
    Column("销毁批次", 26),
    Column("销毁时间", 30),
    Column("销毁人", 22),
    Column("批次条件", 34),
    Column("登记编号", 30),
    Column("收到日期", 22),
    Column("存信日期", 22),
    Column("地区", 28),
    Column("年份", 14),
]


def _day(value) -> str:
    day = local_day(value) if value is not None and hasattr(value, "tzinfo") else value
    return day.isoformat() if day else ""


def kept_rows(cases, masked_ids=frozenset()) -> list[tuple[str, ...]]:
    """One row per kept case; a 举报 reporter the reader may not see prints as the mask."""
    from ..policies import MASK

    return [
        (
            str(index),
            case.number,
            _day(case.received_at),
            _day(case.kept_at),
            case.kept_region or "",
            str(case.kept_year or ""),
            str(MASK) if case.id in masked_ids else (case.petitioner_names or ""),
            case.subject,
            case.retain_until.isoformat() if case.retain_until else "",
        )
        for index, case in enumerate(cases, start=1)
    ]


def destruction_rows(batches) -> list[tuple[str, ...]]:
    rows = []
    for batch in batches:
        who = batch.created_by.full_name if batch.created_by else ""
        for case in batch.cases:
            rows.append(
                (
                    str(len(rows) + 1),
                    batch.number,
                    format_local(batch.created_at),
                    who,
                    f"{batch.criteria}（{batch.note}）" if batch.note else batch.criteria,
                    case.number,
                    _day(case.received_at),
                    _day(case.kept_at),
                    case.kept_region or "",
                    str(case.kept_year or ""),
                )
            )
    return rows


def retention_register_html(kind: RegisterKind, period: str, rows) -> str:
    columns = KEPT_COLUMNS if kind == RegisterKind.kept_letters else DESTRUCTION_COLUMNS
    return render_template(
        "documents/register.html",
        title=kind.title,
        organisation=SystemSetting.get("organisation_name"),
        period=period,
        printed=format_local(utcnow()),
        columns=[Column(substitute(c.title), c.width_mm) for c in columns],
        rows=rows,
        total_rows=len(rows),
        part=None,
    )
