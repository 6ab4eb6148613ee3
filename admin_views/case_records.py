"""What the steps recorded, shown where people decide and read: the facts an approver approves
on the approval form, and every recorded value on the case page (not only on its timeline)."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_login import current_user

from models import Case, CaseClock, CaseEvent, db
from models.base import format_chinese_date, format_local
from models.contacts import Letter
from models.enums import EventKind
from models.operations.deadlines import refresh_due
from models.policies import reporter_visible, timeline_value_hidden

from .confidential import masked

#: Steps whose recorded values the case page lists, in the order of the work.
RECORDED_STEPS = (
    EventKind.propose,
    EventKind.instruct,
    EventKind.assign,
    EventKind.out_of_scope,
    EventKind.transfer,
    EventKind.return_to_sender,
    EventKind.add_assistant,
    EventKind.investigate,
    EventKind.urge,
    EventKind.interim_report,
    EventKind.request_extension,
    EventKind.decide_extension,
    EventKind.report_result,
    EventKind.approve_result,
    EventKind.send_back,
    EventKind.close,
    EventKind.request_review,
    EventKind.answer_review,
    EventKind.request_re_review,
    EventKind.answer_re_review,
    EventKind.archive,
)


def case_letters(case: Case) -> list[Letter]:
    return db.session.scalars(
        sa.select(Letter)
        .where(Letter.case_id == case.id, Letter.is_deleted.is_(False))
        .order_by(Letter.id)
    ).all()


def _latest(case: Case, kind: EventKind) -> CaseEvent | None:
    return db.session.scalars(
        sa.select(CaseEvent)
        .where(CaseEvent.case_id == case.id, CaseEvent.kind == kind)
        .order_by(CaseEvent.id.desc())
        .limit(1)
    ).first()


def _text(data: dict, key: str, hidden: bool) -> str:
    value = data.get(key)
    if value in (None, ""):
        return ""
    if timeline_value_hidden(key, hidden):
        return str(masked())
    return str(value)


def _result_rows(case: Case, hidden: bool) -> list[tuple[str, str]]:
    """The reported result as the approver and the closing leader read it."""
    report = _latest(case, EventKind.report_result)
    data = report.data if report is not None else {}
    findings = _latest(case, EventKind.investigate)
    rows = [
        (_("查明的事实"), _text(data, "facts", hidden)),
        (_("对每项诉求的处理意见"), _text(data, "decision", hidden)),
    ]
    if findings is not None:
        rows.append((_("调查核实情况"), _text(findings.data, "findings", hidden)))
    rows += [
        (_("承办单位"), str(case.handling_unit or "")),
        (_("承办人"), str((report.created_by if report else None) or case.handler or "")),
        (_("签字的分管领导"), case.result_signer_name or _("（未签字）")),
        (_("报送办公室日期"), format_chinese_date(case.result_reported_to_office_on)),
        (_("报结时间"), format_local(case.result_reported_at)),
    ]
    return rows


def _proposed_due(clock: CaseClock, amount: int):
    """The deadline ``clock`` would have with ``amount`` more, computed on a copy."""
    copy = CaseClock(
        kind=clock.kind,
        started_at=clock.started_at,
        amount=clock.amount,
        unit=clock.unit,
        fixed_due_on=clock.fixed_due_on,
        extension=clock.extension + amount,
        extension_count=clock.extension_count,
        paused_amount=clock.paused_amount,
    )
    refresh_due(copy)
    return copy.due_at


def _extension_rows(case: Case) -> list[tuple[str, str]]:
    clock = next((c for c in case.clocks if c.pending_extension and c.stopped_at is None), None)
    if clock is None:
        return []
    interim = _latest(case, EventKind.interim_report)
    rows = [
        (_("延期的时限"), clock.kind.title),
        (_("申请延长"), f"{clock.pending_extension}{clock.unit_label}"),
        (_("延期理由"), clock.pending_reason or ""),
        (_("申请人"), str(clock.pending_by or "")),
        (_("当前期限"), format_local(clock.due_at)),
        (_("批准后的期限"), format_local(_proposed_due(clock, clock.pending_extension))),
        (
            _("已延期"),
            _(
                "%(used)s%(unit)s（最多%(limit)s%(unit)s）",
                used=clock.extension,
                limit=clock.max_extension or 0,
                unit=clock.unit_label,
            ),
        ),
    ]
    if interim is not None and interim.data.get("difficulties"):
        rows.append((_("中途报告的困难"), str(interim.data["difficulties"])))
    return rows


def _review_rows(case: Case, kind: EventKind, hidden: bool) -> list[tuple[str, str]]:
    request = _latest(case, kind)
    if request is None:
        return []
    return [
        (_("申请日期"), str(request.data.get("requested_on") or "")),
        (_("申请理由"), _text(request.data, "reason", hidden)),
    ]


def approval_facts(step, case: Case) -> list[tuple[str, str]]:
    """What the person taking an approving step decides on, as ``(label, value)`` rows."""
    hidden = not reporter_visible(case, current_user)
    code = step.code
    if code in ("approve_result", "send_back"):
        return _result_rows(case, hidden)
    if code == "close":
        rows = _result_rows(case, hidden)
        if case.result_approved_at is not None:
            rows.append(
                (
                    _("报结审核"),
                    f"{case.result_approved_by or ''} {format_local(case.result_approved_at)}",
                )
            )
        if case.replied_at is not None:
            rows.append((_("答复时间"), format_local(case.replied_at)))
            rows.append((_("答复方式"), case.reply_method.title if case.reply_method else ""))
        return rows
    if code == "decide_extension":
        return _extension_rows(case)
    if code == "instruct":
        proposal = _latest(case, EventKind.propose)
        return [(_("拟办意见"), str(proposal.data.get("proposal") or ""))] if proposal else []
    if code == "answer_review":
        return _review_rows(case, EventKind.request_review, hidden)
    if code == "answer_re_review":
        return _review_rows(case, EventKind.request_re_review, hidden)
    return []


def case_facts(case: Case) -> list[tuple[str, str]]:
    """The values the steps set on the case itself, for the case page (empty ones left out)."""
    rows = [
        (_("不属本单位职责范围"), format_local(case.out_of_scope_at)),
        (_("不属职责的理由"), case.out_of_scope_reason or ""),
        (_("原批转单位"), str(case.out_of_scope_forwarding_unit or "")),
        (_("报结时间"), format_local(case.result_reported_at)),
        (_("签字的分管领导"), case.result_signer_name or ""),
        (_("报送办公室日期"), format_chinese_date(case.result_reported_to_office_on)),
        (
            _("报结审核"),
            f"{case.result_approved_by or ''} {format_local(case.result_approved_at)}"
            if case.result_approved_at
            else "",
        ),
        (_("答复时间"), format_local(case.replied_at)),
        (_("答复方式"), case.reply_method.title if case.reply_method else ""),
        (_("办结时间"), format_local(case.closed_at)),
    ]
    return [(label, value) for label, value in rows if value.strip()]


def recorded_steps(events, reporter_hidden: bool) -> list[tuple[CaseEvent, list]]:
    """Every recorded step with its values, for the case page's 办理记录."""
    from .cases import step_value_rows

    return [
        (event, step_value_rows(event.data or {}, reporter_hidden))
        for event in events
        if event.kind in RECORDED_STEPS
    ]
