"""The month-end report on supervision cards (督办卡办理情况月报, S6 step 5).

At month end the case-filing division tells the leader who received the visitors how each
matter he assigned with a 督办卡 stands: done (办结), in progress (办理中) or overdue (超期),
addressed to him (主送) and copied to the other leaders and the handling divisions (抄送).

Which states are open and which clocks are overdue are the shared rules
(``models.policies.is_open``, ``models.operations.deadlines.overdue_case_ids``); the rows are
the reader's own (``visible_cases_clause``) and a hidden 举报 reporter prints as the mask.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import render_template
from flask_babel import gettext as _

from .. import db
from ..audit import AuditAction
from ..base import format_chinese_date, local_zone, to_local, utcnow
from ..cases import Case
from ..deadlines import CaseClock
from ..enums import Clock, RegisterKind
from ..policies import MASK, is_open, visible_cases_clause
from ..rendering.pdf import RenderError, render_pdf
from ..settings import SystemSetting
from ..users import User
from . import NotPermitted, ValidationFailed
from .audit_log import record_audit
from .case_reports import leader_users
from .deadlines import overdue_case_ids
from .registers import hidden_reporters

MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")

DONE, IN_PROGRESS, OVERDUE = "办结", "办理中", "超期"


@dataclass(frozen=True)
class ReportParams:
    year: int
    month: int
    leader: User
    #: Only the cards the addressed leader signed (else every card the reader may see).
    own_cards: bool = True
    copy_to: str = ""

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        following = date(self.year + self.month // 12, self.month % 12 + 1, 1)
        return following - timedelta(days=1)


@dataclass(frozen=True)
class CardRow:
    number: str
    petitioner: str
    subject: str
    instructed: str
    unit: str
    due: str
    status: str
    closed: str


def leaders() -> list[User]:
    """Who may receive the report: the leaders (who fill in 督办卡)."""
    return leader_users()


def parse_report_params(month: str, leader_id: str, own_cards: bool, copy_to: str):
    """Check the form; Chinese messages name the field."""
    found = MONTH.match((month or "").strip())
    if not found or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 2000:
        raise ValidationFailed(_("请选择有效的月份（如 2026-03）"), field="month")
    leader_id = (leader_id or "").strip()
    leader = db.session.get(User, int(leader_id)) if leader_id.isdigit() else None
    if leader is None or leader not in leaders():
        raise ValidationFailed(_("请选择接收报告的领导"), field="leader_id")
    copy_to = (copy_to or "").strip()
    if len(copy_to) > 300:
        raise ValidationFailed(_("抄送不能超过300个字符"), field="copy_to")
    return ReportParams(int(found.group(1)), int(found.group(2)), leader, bool(own_cards), copy_to)


def _month_bounds(params: ReportParams) -> tuple[datetime, datetime]:
    zone = local_zone()
    start = datetime.combine(params.first_day, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(params.last_day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return start, end


def report_cases(params: ReportParams, user) -> list[Case]:
    """The supervised cases of the month: card filled in by the month's end and not finished
    before it began, among the cases ``user`` may see."""
    start, end = _month_bounds(params)
    query = (
        sa.select(Case)
        .where(
            Case.is_deleted.is_(False),
            Case.is_supervised.is_(True),
            visible_cases_clause(user),
            Case.instructed_at.is_not(None),
            Case.instructed_at < end,
            sa.or_(Case.closed_at.is_(None), Case.closed_at >= start),
        )
        .options(
            sa.orm.selectinload(Case.petitioners),
            sa.orm.selectinload(Case.clocks),
            sa.orm.joinedload(Case.handling_unit),
            sa.orm.joinedload(Case.instructed_by),
        )
        .order_by(Case.instructed_at, Case.id)
    )
    if params.own_cards:
        query = query.where(Case.instructed_by_id == params.leader.id)
    return list(db.session.scalars(query).unique())


def card_status(case: Case, overdue_ids: set[int]) -> str:
    if not is_open(case):
        return DONE
    return OVERDUE if case.id in overdue_ids else IN_PROGRESS


def report_rows(params: ReportParams, user, now: datetime | None = None) -> list[CardRow]:
    now = now or utcnow()
    cases = report_cases(params, user)
    ids = [case.id for case in cases]
    overdue = set(db.session.scalars(overdue_case_ids(now).where(CaseClock.case_id.in_(ids))))
    hidden = hidden_reporters(user)
    rows = []
    for case in cases:
        handling = next((c for c in case.clocks if c.kind == Clock.handling), None)
        names = "、".join(p.name for p in case.petitioners) or ("匿名" if case.is_anonymous else "")
        rows.append(
            CardRow(
                number=case.number,
                petitioner=str(MASK) if case.id in hidden else names,
                subject=case.subject,
                instructed=(
                    f"{case.instructed_by.full_name if case.instructed_by else ''}"
                    f" {format_chinese_date(case.instructed_at)}"
                ).strip(),
                unit=case.handling_unit.name if case.handling_unit else "",
                due=format_chinese_date(handling.due_at) if handling else "",
                status=card_status(case, overdue),
                closed=format_chinese_date(case.closed_at) if case.closed_at else "",
            )
        )
    return rows


def default_copy_to(params: ReportParams, rows: list[CardRow]) -> str:
    """The other leaders and the handling divisions of the listed cards."""
    others = [u.full_name for u in leaders() if u.id != params.leader.id]
    units = list(dict.fromkeys(row.unit for row in rows if row.unit))
    return "，".join(part for part in ("、".join(others), "、".join(units)) if part)


def report_html(params: ReportParams, rows: list[CardRow], *, now: datetime) -> str:
    counts = {
        status: sum(1 for row in rows if row.status == status)
        for status in (DONE, IN_PROGRESS, OVERDUE)
    }
    organisation = SystemSetting.get("organisation_name")
    return render_template(
        "documents/supervision_report.html",
        title=f"{params.year}年{params.month}月督办事项办理情况报告",
        authority=organisation,
        number="",
        signer=organisation,
        date_text=format_chinese_date(now),
        addressee=params.leader.full_name,
        copy_to=params.copy_to or default_copy_to(params, rows),
        period=f"{format_chinese_date(params.first_day)}至{format_chinese_date(params.last_day)}",
        as_of=f"{format_chinese_date(now)} {to_local(now):%H:%M}",
        rows=rows,
        total=len(rows),
        done=counts[DONE],
        in_progress=counts[IN_PROGRESS],
        overdue=counts[OVERDUE],
        paragraphs=[],
    )


def print_supervision_report(params: ReportParams, *, by, now: datetime | None = None) -> bytes:
    """The report's PDF for ``by`` (who needs ``register.print``); the print is audited."""
    if by is None or not by.is_authenticated or not by.has_permission("register.print"):
        raise NotPermitted(_("您没有打印台账的权限"))
    now = now or utcnow()
    rows = report_rows(params, by, now)
    try:
        pdf = render_pdf(report_html(params, rows, now=now))
    except RenderError as error:
        raise ValidationFailed(str(error)) from None
    month = f"{params.year}-{params.month:02d}"
    record_audit(
        AuditAction.print,
        None,
        by=by,
        target_type="register",
        summary=f"打印台账：{RegisterKind.supervision_report.title} {month}",
        data={
            "register": RegisterKind.supervision_report.value,
            "month": month,
            "leader": params.leader.full_name,
            "rows": len(rows),
        },
    )
    return pdf
