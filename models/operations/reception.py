"""The reception desk: appointments and applications, passes, incidents and the leader queue."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import sqlalchemy as sa
from flask_babel import gettext as _

from models.texts import lazy_gettext as _l

from .. import db
from ..base import format_local, local_zone, to_local, utcnow
from ..cases import Case
from ..contacts import Visit
from ..enums import QueueStatus, VisitKind
from ..policies import sees_all_units, visitor_value
from ..reception import (
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    IncidentMeasure,
    VisitIncident,
    VisitorPass,
)
from ..reception_days import ReceptionQueueEntry, reception_day_of
from ..validation import normalize_id_number
from . import InvalidTransition, NotPermitted, ValidationFailed
from .audit import changes_of
from .contacts import register_contact
from .guards import ensure_case_visible, ensure_not_future, ensure_permission
from .parties import (
    check_identity_number,
    ensure_not_banned,
    find_or_create_party,
    party_by_id_number,
)

logger = logging.getLogger(__name__)


def local_today() -> date:
    return to_local(utcnow()).date()


# The ban list and finding a person by identity number live with the register of people
# (operations.parties), so that letters, visits and calls use the same rule as the desk.


# -- appointments and applications -------------------------------------------------------


def _check_appointment(appointment: Appointment) -> None:
    if not (appointment.visitor_name or "").strip():
        raise ValidationFailed(_("请填写来访人姓名"), field="visitor_name")
    if not (appointment.purpose or "").strip():
        raise ValidationFailed(_("请填写来访事由"), field="purpose")
    if appointment.expected_at is None:
        raise ValidationFailed(_("请填写预计来访时间"), field="expected_at")
    check_identity_number(appointment)
    if appointment.kind == AppointmentKind.application and not appointment.id_number:
        raise ValidationFailed(_("来访申请须填写证件号码"), field="id_number")


def record_appointment(appointment: Appointment, *, by, ban_acknowledged: bool = False):
    """Book a visit. An appointment is valid at once; an application waits for approval."""
    ensure_permission(by, "reception.manage")
    _check_appointment(appointment)
    if appointment.party is not None and not appointment.id_number:
        appointment.id_number = appointment.party.id_number
    ensure_not_banned(
        party=appointment.party, id_number=appointment.id_number, acknowledged=ban_acknowledged
    )
    if appointment.party is None:
        appointment.party = party_by_id_number(appointment.id_number)
    if appointment.case is not None:
        ensure_case_visible(appointment.case, by)
    appointment.visitor_name = appointment.visitor_name.strip()
    appointment.status = (
        AppointmentStatus.pending
        if appointment.kind == AppointmentKind.application
        else AppointmentStatus.approved
    )
    appointment.decided_by_id = None
    appointment.decided_at = None
    appointment.created_by_id = by.id
    db.session.add(appointment)
    db.session.flush()
    return appointment


#: Changing any of these on an approved application needs a new approval.
_APPROVED_CONTENT = {"visitor_name", "id_number", "expected_at", "purpose", "head_count", "unit"}


def record_appointment_edit(appointment: Appointment, *, by) -> bool:
    changes = changes_of(appointment)
    ensure_permission(by, "reception.manage")
    _check_appointment(appointment)
    if "kind" in changes:
        raise ValidationFailed(
            _("登记后不能在预约与来访申请之间切换，请作废后重新登记"), field="kind"
        )
    if (
        appointment.kind == AppointmentKind.application
        and appointment.status == AppointmentStatus.approved
        and _APPROVED_CONTENT & set(changes)
    ):
        appointment.status = AppointmentStatus.pending
        appointment.decided_by_id = None
        appointment.decided_at = None
    return bool(changes)


def _ensure_may_decide(appointment: Appointment, by) -> None:
    if by is None or not by.has_permission("reception.approve"):
        raise NotPermitted(_("您没有审批来访申请的权限（须由部门负责人或领导审批）"))
    if appointment.kind != AppointmentKind.application:
        raise InvalidTransition(_("预约无须审批"))
    if appointment.status != AppointmentStatus.pending:
        raise InvalidTransition(
            _("该申请当前为“%(status)s”，不能再审批", status=appointment.status.title)
        )
    own_unit_only = not sees_all_units(by)
    if own_unit_only and appointment.unit_id is not None and appointment.unit_id != by.unit_id:
        raise NotPermitted(_("只能审批来访本部门的申请"))


def approve_application(appointment: Appointment, *, by, note: str | None = None) -> None:
    _ensure_may_decide(appointment, by)
    if not appointment.signature_confirmed:
        raise ValidationFailed(_("来访人尚未签字确认，不能审批"), field="signature_confirmed")
    appointment.status = AppointmentStatus.approved
    appointment.decided_by_id = by.id
    appointment.decided_at = utcnow()
    appointment.decision_note = (note or "").strip()[:200] or None
    db.session.flush()


def reject_application(appointment: Appointment, *, by, note: str | None = None) -> None:
    _ensure_may_decide(appointment, by)
    if not (note or "").strip():
        raise ValidationFailed(_("不予批准时请写明理由"), field="decision_note")
    appointment.status = AppointmentStatus.rejected
    appointment.decided_by_id = by.id
    appointment.decided_at = utcnow()
    appointment.decision_note = note.strip()[:200]
    db.session.flush()


def cancel_appointment(appointment: Appointment, *, by) -> None:
    ensure_permission(by, "reception.manage")
    if appointment.status in (AppointmentStatus.cancelled, AppointmentStatus.rejected):
        raise InvalidTransition(_("该记录已是“%(status)s”", status=appointment.status.title))
    appointment.status = AppointmentStatus.cancelled
    db.session.flush()


# -- passes ---------------------------------------------------------------------------------


def outstanding_pass(number: str) -> VisitorPass | None:
    return db.session.scalar(
        sa.select(VisitorPass).where(
            VisitorPass.pass_number == number, VisitorPass.returned_at.is_(None)
        )
    )


def normalize_pass_number(number: str | None) -> str:
    return (number or "").strip().upper()


def issue_pass(visitor_pass: VisitorPass, *, by, ban_acknowledged: bool = False) -> VisitorPass:
    """Check a visitor in: identity checked, ban list consulted, a numbered pass handed out."""
    ensure_permission(by, "reception.manage")
    visitor_pass.pass_number = normalize_pass_number(visitor_pass.pass_number)
    if not visitor_pass.pass_number:
        raise ValidationFailed(_("请填写通行证编号"), field="pass_number")
    appointment = visitor_pass.appointment
    if appointment is not None:
        if not appointment.is_valid:
            raise ValidationFailed(
                _(
                    "所选%(kind)s当前为“%(status)s”，未经批准不能凭此发证；请先审批，或按临时来访登记",
                    kind=appointment.kind.title,
                    status=appointment.status.title,
                ),
                field="appointment",
            )
        visitor_pass.visitor_name = visitor_pass.visitor_name or appointment.visitor_name
        visitor_pass.id_number = visitor_pass.id_number or appointment.id_number
        visitor_pass.id_type = visitor_pass.id_type or appointment.id_type
        visitor_pass.party = visitor_pass.party or appointment.party
        visitor_pass.host = visitor_pass.host or appointment.host
        visitor_pass.purpose = visitor_pass.purpose or appointment.purpose
        visitor_pass.case = visitor_pass.case or appointment.case
    if visitor_pass.party is not None:
        visitor_pass.visitor_name = visitor_pass.visitor_name or visitor_pass.party.name
        visitor_pass.id_number = visitor_pass.id_number or visitor_pass.party.id_number
    if not (visitor_pass.visitor_name or "").strip():
        raise ValidationFailed(_("请填写来访人姓名"), field="visitor_name")
    if not visitor_pass.id_number:
        raise ValidationFailed(
            _("请填写来访人证件号码（无有效证件不得发放通行证）"), field="id_number"
        )
    if not visitor_pass.id_checked:
        raise ValidationFailed(_("请先核验来访人身份证件，并勾选“已核验证件”"), field="id_checked")
    check_identity_number(visitor_pass)
    if visitor_pass.host is None and not (visitor_pass.host_name or "").strip():
        raise ValidationFailed(_("请填写被访人"), field="host")
    ensure_not_banned(
        party=visitor_pass.party, id_number=visitor_pass.id_number, acknowledged=ban_acknowledged
    )
    current = outstanding_pass(visitor_pass.pass_number)
    if current is not None and current is not visitor_pass:
        holder = visitor_value(by, current, current.visitor_name)
        raise ValidationFailed(
            _(
                "%(number)s 号通行证尚未归还（持证人 %(holder)s，%(issued)s 发出），不能重复发放",
                number=visitor_pass.pass_number,
                holder=holder,
                issued=format_local(current.issued_at),
            ),
            field="pass_number",
        )
    if visitor_pass.case is not None:
        ensure_case_visible(visitor_pass.case, by)
    if visitor_pass.party is None:
        visitor_pass.party = party_by_id_number(visitor_pass.id_number)
    visitor_pass.visitor_name = visitor_pass.visitor_name.strip()
    visitor_pass.issued_at = visitor_pass.issued_at or utcnow()
    ensure_not_future(visitor_pass.issued_at, "issued_at", _l("发证时间"))
    visitor_pass.returned_at = None
    visitor_pass.created_by_id = by.id
    db.session.add(visitor_pass)
    db.session.flush()
    logger.info("pass %s issued by user %s", visitor_pass.pass_number, by.id)
    return visitor_pass


def return_pass(
    visitor_pass: VisitorPass,
    *,
    by,
    returned_at: datetime | None = None,
    escorted_out: bool = False,
    host_confirmed: bool | None = None,
    feedback_rating=None,
    feedback_comment: str | None = None,
) -> VisitorPass:
    """Check a visitor out: the pass comes back, with the time and an optional feedback."""
    ensure_permission(by, "reception.manage")
    if visitor_pass is None or visitor_pass.id is None:
        raise ValidationFailed(_("没有该通行证的发放记录，无法登记归还"), field="pass_number")
    if visitor_pass.returned_at is not None:
        raise InvalidTransition(
            _(
                "%(number)s 号通行证已于 %(returned)s 归还",
                number=visitor_pass.pass_number,
                returned=format_local(visitor_pass.returned_at),
            )
        )
    returned_at = returned_at or utcnow()
    ensure_not_future(returned_at, "returned_at", _l("归还时间"))
    if returned_at < visitor_pass.issued_at:
        raise ValidationFailed(_("归还时间不能早于发证时间"), field="returned_at")
    visitor_pass.returned_at = returned_at
    visitor_pass.returned_to_id = by.id
    visitor_pass.escorted_out = bool(escorted_out)
    if host_confirmed is not None:
        visitor_pass.host_confirmed = bool(host_confirmed)
    visitor_pass.feedback_rating = feedback_rating or None
    visitor_pass.feedback_comment = (feedback_comment or "").strip()[:500] or None
    db.session.flush()
    return visitor_pass


def return_pass_by_number(number: str, *, by, **details) -> VisitorPass:
    ensure_permission(by, "reception.manage")
    number = normalize_pass_number(number)
    visitor_pass = outstanding_pass(number) if number else None
    if visitor_pass is None:
        raise ValidationFailed(
            _(
                "没有发出未还的 %(number)s 号通行证，无法登记归还；请核对编号",
                number=number or _("（空）"),
            ),
            field="pass_number",
        )
    return return_pass(visitor_pass, by=by, **details)


# -- incidents and bans ---------------------------------------------------------------------


def record_incident(incident: VisitIncident, *, by) -> VisitIncident:
    """Log what happened; a ban marks the person so the next registration warns."""
    ensure_permission(by, "reception.manage")
    source = incident.visitor_pass
    if source is not None:
        incident.visitor_name = incident.visitor_name or source.visitor_name
        incident.id_number = incident.id_number or source.id_number
        incident.party = incident.party or source.party
    if incident.party is not None:
        incident.visitor_name = incident.visitor_name or incident.party.name
        incident.id_number = incident.id_number or incident.party.id_number
    if not (incident.visitor_name or "").strip():
        raise ValidationFailed(_("请填写当事人姓名，或选择通行证"), field="visitor_name")
    if not (incident.description or "").strip():
        raise ValidationFailed(_("请写明经过"), field="description")
    incident.occurred_at = incident.occurred_at or utcnow()
    ensure_not_future(incident.occurred_at, "occurred_at", _l("发生时间"))
    if incident.id_number:
        incident.id_number = normalize_id_number(incident.id_number)
    if incident.party is None:
        incident.party = party_by_id_number(incident.id_number)
    if incident.measure == IncidentMeasure.banned:
        if incident.party is None:
            if not incident.id_number:
                raise ValidationFailed(
                    _("禁止再次来访须登记证件号码，下次登记时才能识别"), field="id_number"
                )
            incident.party = find_or_create_party(
                {"name": incident.visitor_name.strip(), "id_number": incident.id_number}, by=by
            )
        person = incident.party
        person.is_banned = True
        stamp = to_local(incident.occurred_at).date().isoformat()
        line = f"{stamp} {incident.kind.title}，禁止再次来访"
        person.note = f"{person.note}\n{line}" if person.note else line
    incident.created_by_id = by.id
    db.session.add(incident)
    db.session.flush()
    return incident


# -- the reception-day queue ----------------------------------------------------------------


def reception_moment(day: date, schedule) -> datetime:
    """When a queued visitor is received: the reception day at the start of its slot (local
    time), as stored (UTC). The queue and the visit both carry this date, not the time the
    visitor was put in the queue."""
    return datetime.combine(day, schedule.start_time, tzinfo=local_zone()).astimezone(UTC)


def enqueue_visitor(
    entry: ReceptionQueueEntry,
    *,
    by,
    new_case: Case | None = None,
    ban_acknowledged: bool = False,
) -> ReceptionQueueEntry:
    """Register a visitor for a leader's reception day: the visit goes on its case."""
    ensure_permission(by, "reception.manage")
    if entry.schedule is None:
        raise ValidationFailed(_("请选择接待日安排"), field="schedule")
    if entry.day is None:
        raise ValidationFailed(_("请选择接待日期"), field="day")
    if entry.day < local_today():
        raise ValidationFailed(_("不能为已经过去的日期排队"), field="day")
    occurrence = reception_day_of(entry.schedule, entry.day)
    if occurrence is None:
        raise ValidationFailed(
            _(
                "%(day)s 不是“%(schedule)s”的接待日（%(rule)s）",
                day=entry.day.isoformat(),
                schedule=entry.schedule,
                rule=entry.schedule.rule_text,
            ),
            field="day",
        )
    if occurrence.skipped:
        raise ValidationFailed(
            _(
                "%(day)s %(reason)s，请选择其他接待日",
                day=entry.day.isoformat(),
                reason=occurrence.skipped,
            ),
            field="day",
        )
    if not (entry.purpose or "").strip():
        raise ValidationFailed(_("请填写来访事由"), field="purpose")
    if new_case is not None:
        # The matter is received at the desk now; the visit itself is on the reception day.
        new_case.received_at = new_case.received_at or utcnow()
    visit = Visit(
        visitor=entry.party,
        visited_at=reception_moment(entry.day, entry.schedule),
        kind=VisitKind.individual,
        head_count=1,
        purpose=entry.purpose.strip()[:200],
        receptionist_id=by.id,
    )
    register_contact(
        visit,
        by=by,
        case=entry.case,
        new_case=new_case,
        ban_acknowledged=ban_acknowledged,
        planned=True,
    )
    entry.case = visit.case
    entry.visit = visit
    entry.leader = occurrence.leader
    last = db.session.scalar(
        sa.select(sa.func.max(ReceptionQueueEntry.queue_number)).where(
            ReceptionQueueEntry.day == entry.day,
            ReceptionQueueEntry.schedule_id == entry.schedule.id,
        )
    )
    entry.queue_number = (last or 0) + 1
    entry.status = QueueStatus.waiting
    entry.created_by_id = by.id
    db.session.add(entry)
    db.session.flush()
    return entry


def set_queue_status(entry: ReceptionQueueEntry, status: QueueStatus, *, by) -> None:
    if not (by.has_permission("reception.manage") or by.has_permission("reception.approve")):
        raise NotPermitted(_("您没有维护接待排队的权限"))
    if entry.status != QueueStatus.waiting:
        raise InvalidTransition(_("该来访人已是“%(status)s”", status=entry.status.title))
    entry.status = status
    entry.received_at = utcnow() if status == QueueStatus.received else None
    db.session.flush()
