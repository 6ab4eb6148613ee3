"""Several replies per case, and the log of outgoing contacts with the petitioner.

A formal reply is the ``reply`` step (closing.py), which keeps its state change; the other
kinds (interim, remedial plan, answer to the superior) are the ``send_reply`` step, allowed
while the case is open and changing no state. Every reply is a ``CaseReply`` row and stops its
own clock (``CLOCK_EVENTS``). ``log_contact`` records a call, visit or message to the
petitioner; the first one stops the first-contact clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import gettext as _

from models.texts import lazy_gettext as _l

from ... import db
from ...base import utcnow
from ...cases import Case
from ...enums import ContactMethod, ReplyKind, ReplyMethod
from ...replies import CaseReply, OutgoingContact
from .. import ValidationFailed
from ..deadlines import clock_event
from .common import required
from .steps import begin_step, finish_step

#: The clock event each reply kind is (see ``CLOCK_EVENTS``).
REPLY_EVENTS = {
    ReplyKind.formal: "formal_reply",
    ReplyKind.interim: "interim_reply",
    ReplyKind.remedial_plan: "remedial_plan_reply",
    ReplyKind.superior: "superior_reply",
}
#: Replies addressed to the petitioner: none on an anonymous case.
TO_PETITIONER = frozenset({ReplyKind.formal, ReplyKind.interim, ReplyKind.remedial_plan})
#: The kinds the ``send_reply`` step records (the formal reply is the ``reply`` step).
OTHER_REPLY_KINDS = (ReplyKind.interim, ReplyKind.remedial_plan, ReplyKind.superior)

_TOLERANCE = timedelta(minutes=5)


def default_recipient(case: Case, kind: ReplyKind) -> str:
    if kind == ReplyKind.superior:
        return _("上级单位")
    return case.petitioner_names or _("信访人")


def _moment(value: datetime | None, case: Case, at: datetime, field: str, label) -> datetime:
    value = value or at
    if value > utcnow() + _TOLERANCE:
        raise ValidationFailed(_("%(label)s不能晚于当前时间", label=label), field=field)
    if case.received_at is not None and value < case.received_at - _TOLERANCE:
        raise ValidationFailed(_("%(label)s不能早于收到事项的时间", label=label), field=field)
    return value


def checked_method(value, enum_cls, field: str, message: str):
    if value in (None, ""):
        raise ValidationFailed(message, field=field)
    try:
        return enum_cls(value)
    except ValueError:
        raise ValidationFailed(message, field=field) from None


def record_reply(
    case: Case, kind, *, by, method, replied_at, text, recipient, at: datetime
) -> CaseReply:
    """Check and add one reply and stop its clock (the calling step writes the event)."""
    try:
        kind = ReplyKind(kind)
    except ValueError:
        raise ValidationFailed(_("请选择答复类型"), field="kind") from None
    if kind in TO_PETITIONER and case.is_anonymous:
        raise ValidationFailed(_("匿名事项不予答复"), field="kind")
    method = checked_method(method, ReplyMethod, "method", _("请选择答复方式"))
    text = required(text, "text", _l("答复内容"))
    replied_at = _moment(replied_at, case, at, "replied_at", _l("答复时间"))
    recipient = (recipient or "").strip() or default_recipient(case, kind)
    if len(recipient) > 200:
        raise ValidationFailed(_("答复对象不能超过200个字"), field="recipient")
    reply = CaseReply(
        case_id=case.id,
        kind=kind,
        recipient=recipient,
        method=method,
        replied_at=replied_at,
        text=text,
        created_by_id=by.id,
        created_at=at,
    )
    db.session.add(reply)
    clock_event(case, REPLY_EVENTS[kind], at=replied_at)
    return reply


def reply_data(reply: CaseReply) -> dict:
    return {
        "kind": reply.kind.value,
        "recipient": reply.recipient,
        "method": reply.method.value,
        "replied_at": reply.replied_at.isoformat(),
        "text": reply.text,
    }


def send_reply(
    case,
    *,
    by,
    kind=None,
    method=None,
    recipient=None,
    replied_at=None,
    text=None,
    at=None,
    expected_version=None,
):
    """An interim answer, the remedial plan told to the petitioner, or the answer to the
    superior: recorded while the case is open; the case's state does not change."""
    at = at or utcnow()
    step = begin_step("send_reply", case, by, expected_version)
    if kind in (None, ""):
        raise ValidationFailed(_("请选择答复类型"), field="kind")
    if kind == ReplyKind.formal or kind == "formal":
        raise ValidationFailed(_("正式答复请在报结审核后使用“答复”"), field="kind")
    reply = record_reply(
        case, kind, by=by, method=method, replied_at=replied_at, text=text,
        recipient=recipient, at=at,
    )  # fmt: skip
    reply.event_id = finish_step(step, case, by, at, reply_data(reply)).id
    return reply


def log_contact(
    case,
    *,
    by,
    method=None,
    contacted_at=None,
    person=None,
    summary=None,
    result=None,
    at=None,
    expected_version=None,
):
    """Record a call, visit or message to the petitioner; the first stops the first-contact
    clock."""
    at = at or utcnow()
    step = begin_step("log_contact", case, by, expected_version)
    method = checked_method(method, ContactMethod, "method", _("请选择联系方式"))
    contacted_at = _moment(contacted_at, case, at, "contacted_at", _l("联系时间"))
    person = (person or "").strip() or case.petitioner_names or ""
    person = required(person, "person", _l("联系对象"))
    if len(person) > 100:
        raise ValidationFailed(_("联系对象不能超过100个字"), field="person")
    summary = required(summary, "summary", _l("联系内容"))
    contact = OutgoingContact(
        case_id=case.id,
        method=method,
        contacted_at=contacted_at,
        person=person,
        summary=summary,
        result=(result or "").strip() or None,
        created_by_id=by.id,
        created_at=at,
    )
    db.session.add(contact)
    clock_event(case, "contact_logged", at=contacted_at)
    finish_step(
        step,
        case,
        by,
        at,
        {
            "contact_method": method.value,
            "contacted_at": contacted_at.isoformat(),
            "person": person,
            "summary": summary,
            "result": contact.result or "",
        },
    )
    return contact
