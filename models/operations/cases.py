"""Registering, editing and deleting cases."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from .. import db
from ..cases import Case
from ..enums import CaseStatus, Clock, EventKind
from ..parties import Party
from .audit import changes_of, log_event
from .deadlines import start_clock
from .guards import ensure_not_future, ensure_permission
from .numbering import assign_case_number

logger = logging.getLogger(__name__)


def register_case(
    case: Case,
    *,
    by,
    petitioners: Iterable[Party] = (),
    at: datetime | None = None,
) -> Case:
    """Register a new case: number it, set it to *registered* and open its timeline.

    :param case: an unsaved case with its content filled in (from a form or a dict).
    :param petitioners: parties to add besides those already on ``case.petitioners``.
    :param at: registration time; numbers are drawn from this time's year (default now).
    """
    ensure_permission(by, "case.register")
    ensure_not_future(case.received_at, "received_at", "收到时间")
    for party in petitioners:
        if party is not None and party not in case.petitioners:
            case.petitioners.append(party)
    if case.is_anonymous:
        # An anonymous case keeps no petitioner identity at all.
        case.petitioners = []
    if not case.is_group:
        case.head_count = max(case.head_count or 1, 1)
    assign_case_number(case, at=at)
    case.status = CaseStatus.registered
    case.repeat_count = case.repeat_count or 0
    case.review_level = case.review_level or 0
    case.created_by_id = by.id
    if at is not None:
        case.created_at = at
    case.refresh_petitioner_names()
    db.session.add(case)
    db.session.flush()
    # The hand-over and acceptance-notice limits count from the day the matter was received.
    for clock in (Clock.handover, Clock.acceptance):
        start_clock(case, clock, at=case.received_at)
    log_event(
        case,
        EventKind.registered,
        f"Case {case.number} registered",
        by=by,
        data={"channel": case.channel.value, "number": case.number},
        at=at,
    )
    logger.info("case %s registered as %s by user %s", case.id, case.number, by.id)
    return case


def record_case_edit(case: Case, *, by, at: datetime | None = None) -> bool:
    """Record an edit made through the generic form; return whether anything changed."""
    # Read the diff first: a permission check may lazy-load and autoflush, resetting history.
    changes = changes_of(case)
    ensure_permission(by, "case.edit")
    ensure_not_future(case.received_at, "received_at", "收到时间")
    if case.is_anonymous and case.petitioners:
        case.petitioners = []
        changes = changes_of(case)
    case.refresh_petitioner_names()
    if not changes:
        return False
    log_event(case, EventKind.edited, f"Case {case.number} edited", by=by, data=changes, at=at)
    return True


def delete_case(case: Case, *, by) -> None:
    """Hide a case (soft delete); its number stays taken so the register keeps no gaps."""
    ensure_permission(by, "case.delete")
    case.mark_deleted(by)
    log_event(case, EventKind.deleted, f"Case {case.number} deleted", by=by)
