"""Registering letters, visits and calls, each on a new case or on an existing one."""

from __future__ import annotations

import logging

from flask_babel import gettext as _

from models.texts import lazy_gettext as _l

from .. import db
from ..base import to_local, utcnow
from ..cases import Case
from ..contacts import Call, Letter, Visit
from ..enums import CaseChannel, EventKind, LetterOrigin
from ..policies import is_open
from ..vocabulary import substitute
from . import ValidationFailed
from .audit import changes_of, log_event
from .cases import register_case
from .deadlines import notify
from .guards import (
    ensure_accepts_additions,
    ensure_case_visible,
    ensure_not_future,
    ensure_permission,
)
from .parties import ensure_not_banned

logger = logging.getLogger(__name__)

_EVENT_KIND = {
    Letter: (EventKind.letter_added, "letter"),
    Visit: (EventKind.visit_added, "visit"),
    Call: (EventKind.call_added, "call"),
}


def _person_of(contact):
    if isinstance(contact, Letter):
        return contact.writer
    if isinstance(contact, Visit):
        return contact.visitor
    return contact.caller


def _time_of(contact):
    if isinstance(contact, Letter):
        return contact.received_at
    if isinstance(contact, Visit):
        return contact.visited_at
    return contact.called_at


def _check_times(contact, *, planned: bool = False) -> None:
    """``planned``: the visit is booked for a reception day, which may lie ahead."""
    if isinstance(contact, Letter):
        ensure_not_future(contact.received_at, "received_at", _l("收信时间"))
        ensure_not_future(contact.opened_at, "opened_at", _l("拆封时间"))
        if contact.opened_at and contact.received_at and contact.opened_at < contact.received_at:
            raise ValidationFailed(_("拆封时间不能早于收信时间"), field="opened_at")
        received_on = to_local(contact.received_at).date() if contact.received_at else None
        if contact.letter_date and received_on and contact.letter_date > received_on:
            raise ValidationFailed(_("来信日期不能晚于收信日期"), field="letter_date")
        if contact.origin not in (None, LetterOrigin.direct) and contact.forwarding_unit is None:
            raise ValidationFailed(
                _("上级批转或领导批办的来信须填写原批转单位"), field="forwarding_unit"
            )
    elif isinstance(contact, Visit):
        if not planned:
            ensure_not_future(contact.visited_at, "visited_at", _l("来访时间"))
        if contact.answered_on_spot and not (contact.answer or "").strip():
            raise ValidationFailed(_("已当场答复的，请填写答复内容"), field="answer")
    else:
        ensure_not_future(contact.called_at, "called_at", _l("来电时间"))


def channel_for(contact) -> CaseChannel:
    if isinstance(contact, Letter):
        return {
            LetterOrigin.forwarded: CaseChannel.higher_assignment,
            LetterOrigin.leader_instruction: CaseChannel.leader_instruction,
        }.get(contact.origin, CaseChannel.letter)
    return CaseChannel.visit if isinstance(contact, Visit) else CaseChannel.call


def register_contact(
    contact: Letter | Visit | Call,
    *,
    by,
    case: Case | None = None,
    new_case: Case | None = None,
    at=None,
    ban_acknowledged: bool = False,
    planned: bool = False,
):
    """Register a letter, visit or call.

    Exactly one of ``case`` (a repeat contact on an existing case) or ``new_case`` (an unsaved
    case filled in on the same form) is given. The contact's person joins the case's
    petitioners unless the case is anonymous. A visit by someone banned from visiting is
    refused with the ban warning unless ``ban_acknowledged`` (as at the reception desk).
    ``planned``: a visit queued for a leader's reception day, dated on that day.
    """
    ensure_permission(by, "case.register")
    if (case is None) == (new_case is None):
        raise ValidationFailed(_("请选择一个已有事项，或填写新事项的内容"), field="case")
    _check_times(contact, planned=planned)
    person = _person_of(contact)
    if isinstance(contact, Visit):
        ensure_not_banned(party=person, acknowledged=ban_acknowledged)
    if case is not None:
        ensure_case_visible(case, by)
        ensure_accepts_additions(case)
        contact.is_first_contact = False
        case.repeat_count = (case.repeat_count or 0) + 1
        if person is not None and not case.is_anonymous and person not in case.petitioners:
            case.petitioners.append(person)
            case.refresh_petitioner_names()
    else:
        new_case.channel = new_case.channel or channel_for(contact)
        new_case.received_at = new_case.received_at or _time_of(contact)
        if isinstance(contact, Visit) and contact.kind.value == "group":
            new_case.is_group = True
            new_case.head_count = max(contact.head_count or 1, 1)
        case = register_case(new_case, by=by, petitioners=[person] if person else [], at=at)
        contact.is_first_contact = True
    contact.case = case
    contact.created_by_id = by.id
    if at is not None:
        contact.created_at = at
    db.session.add(contact)
    db.session.flush()
    kind, subject = _EVENT_KIND[type(contact)]
    log_event(
        case,
        kind,
        f"{subject.title()} {contact.id} registered on case {case.number}",
        by=by,
        data={"repeat": not contact.is_first_contact},
        at=at,
        **{subject: contact},
    )
    if not contact.is_first_contact and case.handler is not None and is_open(case):
        # 重复投诉: the handler hears of it at once and gets back to the caller.
        notify(
            [case.handler],
            case,
            # The organisation's word for the petitioner; the subject is the petitioner's own.
            f"{case.number}「{case.subject[:40]}」再次来信来访来电（重复{case.repeat_count}次），"
            + substitute("请及时联系信访人"),
            at=at or utcnow(),
        )
    return contact


def record_contact_edit(contact, *, by) -> bool:
    """Record an edit of a letter, visit or call; return whether anything changed."""
    # Read the diff first: a permission check may lazy-load and autoflush, resetting history.
    changes = changes_of(contact)
    ensure_permission(by, "case.edit")
    ensure_accepts_additions(contact.case)
    # A visit queued for a coming reception day keeps its date; a changed time is checked.
    _check_times(contact, planned="visited_at" not in changes)
    if "case" in changes or "case_id" in changes:
        raise ValidationFailed(_("来信、来访、来电登记后不能改挂到其他事项"), field="case")
    if not changes:
        return False
    _kind, subject = _EVENT_KIND[type(contact)]
    log_event(
        contact.case,
        EventKind.contact_edited,
        f"{subject.title()} {contact.id} edited",
        by=by,
        data=changes,
        **{subject: contact},
    )
    return True


def delete_contact(contact, *, by) -> None:
    """Hide a letter, visit or call; the case and its timeline keep the record of it."""
    ensure_permission(by, "case.delete")
    contact.mark_deleted(by)
    _kind, subject = _EVENT_KIND[type(contact)]
    log_event(
        contact.case,
        EventKind.contact_removed,
        f"{subject.title()} {contact.id} deleted",
        by=by,
        **{subject: contact},
    )
