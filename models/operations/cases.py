"""Registering, editing and deleting cases."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _

from models.texts import lazy_gettext as _l

from .. import db
from ..base import utcnow
from ..cases import Case, CaseEvent
from ..custom_fields import stored_values, validate_custom_values
from ..enums import CaseStatus, EventKind, RoutingMoment
from ..parties import Party
from ..policies import is_confidential_category, may_change_confidentiality
from ..users import Role, User
from . import NotPermitted
from .audit import changes_of, log_event
from .deadlines import clock_event, notify
from .guards import ensure_accepts_additions, ensure_not_future, ensure_permission
from .numbering import assign_case_number

logger = logging.getLogger(__name__)


def register_case(
    case: Case,
    *,
    by,
    petitioners: Iterable[Party] = (),
    at: datetime | None = None,
    route: bool = True,
) -> Case:
    """Register a new case: number it, set it to *registered* and open its timeline.

    :param case: an unsaved case with its content filled in (from a form or a dict).
    :param petitioners: parties to add besides those already on ``case.petitioners``.
    :param at: registration time; numbers are drawn from this time's year (default now).
    :param route: apply the routing rules of registration (off for a split's children, which
        the split hands over itself).
    """
    ensure_permission(by, "case.register")
    ensure_not_future(case.received_at, "received_at", _l("收到时间"))
    # The administrator-defined fields of the case's category: checked like built-in ones.
    validate_custom_values(case)
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
    # The clocks of registration (hand-over, dispatch, acceptance notice, first contact) count
    # from the moment the matter was received.
    clock_event(case, "registered", at=case.received_at)
    log_event(
        case,
        EventKind.registered,
        f"Case {case.number} registered",
        by=by,
        data={"channel": case.channel.value, "number": case.number},
        at=at,
    )
    logger.info("case %s registered as %s by user %s", case.id, case.number, by.id)
    report_to_leaders(case, by=by, at=at)
    if route:
        # Imported here: the workflow package registers child cases through this module.
        from .workflow.routing import route_case

        route_case(case, by=by, moment=RoutingMoment.registration, at=at)
    return case


def _category_change(case: Case):
    """``(old, new)`` categories when the edit moves ``case`` into or out of a confidential
    kind, else ``None``."""
    history = sa.inspect(case).attrs.category.history
    if not history.has_changes():
        return None
    old = (list(history.deleted) + list(history.unchanged) or [None])[0]
    new = (list(history.unchanged) + list(history.added) or [None])[0]
    if is_confidential_category(old) == is_confidential_category(new):
        return None
    return old, new


def record_case_edit(case: Case, *, by, at: datetime | None = None) -> bool:
    """Record an edit made through the generic form; return whether anything changed.

    Moving the case into or out of a 举报 / 检举控告 category is :func:`change_category`'s
    own line on the timeline, and needs ``confidential.view``.
    """
    # Read the diff first: a permission check may lazy-load and autoflush, resetting history.
    changes = changes_of(case)
    changes.pop("custom_values", None)
    custom_before = stored_values(case)
    category_change = _category_change(case)
    ensure_permission(by, "case.edit")
    ensure_accepts_additions(case)
    # Per field, with its label and displayed values, instead of two JSON dicts.
    custom_changes = validate_custom_values(case, custom_before)
    changes.update(custom_changes)
    if category_change is not None:
        changes.pop("category", None)
        changes.pop("category_id", None)
        change_category(case, *category_change, by=by, at=at)
    ensure_not_future(case.received_at, "received_at", _l("收到时间"))
    if case.is_anonymous and case.petitioners:
        case.petitioners = []
        changes = changes_of(case)
    case.refresh_petitioner_names()
    edited = set(changes) | ({"category"} if category_change is not None else set())
    if custom_changes:
        # The timeline names each field by its label; routing asks whether any value changed.
        edited.add("custom_values")
    if changes:
        log_event(case, EventKind.edited, f"Case {case.number} edited", by=by, data=changes, at=at)
        report_to_leaders(case, by=by, at=at)
    # Imported here: the workflow package registers child cases through this module.
    from .workflow.routing import route_after_edit

    route_after_edit(case, edited, by=by, at=at)
    return bool(changes)


def change_category(case: Case, old, new, *, by, at: datetime | None = None) -> None:
    """Record ``case``'s category moving from ``old`` to ``new`` (already set on the case).

    Into or out of a confidential kind, the reporter becomes hidden, or visible, to everybody
    outside the circle: only holders of ``confidential.view`` may do that, and it is a
    timeline line of its own.
    """
    case.category = new
    flips = is_confidential_category(old) != is_confidential_category(new)
    if flips and not may_change_confidentiality(by):
        raise NotPermitted(
            _(
                "把事项改为或改出举报、检举控告类会改变举报人身份的保密范围，"
                "须由有“查看保密信息”权限的人员修改分类"
            )
        )
    log_event(
        case,
        EventKind.edited,
        f"Case {case.number} category changed",
        by=by,
        at=at,
        data={
            "category": [None if old is None else str(old), None if new is None else str(new)],
            "confidential": is_confidential_category(new),
        },
    )


def mark_case_flags(
    case: Case, *, by, is_beyond_level: bool = False, is_abnormal: bool = False
) -> bool:
    """Set the 越级访 / 异常访 flags while registering a repeat contact on ``case``.

    Registration staff may only add these flags (clearing one is a case edit); the change is
    recorded like an edit and reported to the leaders. Returns whether anything changed.
    """
    ensure_permission(by, "case.register")
    wanted = {"is_beyond_level": is_beyond_level, "is_abnormal": is_abnormal}
    changed = {name: [False, True] for name, on in wanted.items() if on and not getattr(case, name)}
    if not changed:
        return False
    for name in changed:
        setattr(case, name, True)
    log_event(case, EventKind.edited, f"Case {case.number} flagged", by=by, data=changed)
    report_to_leaders(case, by=by)
    return True


#: Matters the leaders and the office must hear of at once (重大集体访、越级访、异常访 即时报告):
#: code kept in the timeline, title shown, and the test on the case.
IMMEDIATE_REPORTS = (
    ("major_group", "重大集体访", lambda case: case.is_group and case.is_major),
    ("beyond_level", "越级访", lambda case: case.is_beyond_level),
    ("abnormal", "异常访", lambda case: case.is_abnormal),
)
#: Roles told at once; the notification shows in their work lists with the navbar badge.
IMMEDIATE_REPORT_ROLES = ("leader", "office")
IMMEDIATE_REPORT_LEVEL = 3


def report_to_leaders(case: Case, *, by, at: datetime | None = None) -> list[str]:
    """Notify leaders and the office of each immediate-report condition the case now meets.

    Each condition is reported once per case: unticking and ticking a flag again does not
    repeat the report. Returns the codes reported now.
    """
    due = [(code, title) for code, title, applies in IMMEDIATE_REPORTS if applies(case)]
    if not due or case.id is None:
        return []
    reported = {
        (data or {}).get("flag")
        for data in db.session.scalars(
            sa.select(CaseEvent.data).where(
                CaseEvent.case_id == case.id, CaseEvent.kind == EventKind.reported_up
            )
        )
    }
    due = [(code, title) for code, title in due if code not in reported]
    if not due:
        return []
    when = at or utcnow()
    recipients = list(
        db.session.scalars(
            sa.select(User)
            .join(User.roles)
            .where(Role.code.in_(IMMEDIATE_REPORT_ROLES), User.is_active_user.is_(True))
            .order_by(User.id)
        ).unique()
    )
    for code, title in due:
        message = f"{case.number}「{case.subject[:40]}」为{title}，须即时报告领导（标记人：{by}）"
        notify(recipients, case, message, at=when, level=IMMEDIATE_REPORT_LEVEL)
        log_event(
            case,
            EventKind.reported_up,
            f"Case {case.number} reported to leaders as {code}",
            by=by,
            at=at,
            # Names as one string: the timeline reads two-item lists as "before → after".
            data={"flag": code, "title": title, "recipients": "、".join(map(str, recipients))},
        )
        logger.info("case %s reported to leaders as %s", case.id, code)
    return [code for code, _title in due]


def delete_case(case: Case, *, by) -> None:
    """Hide a case (soft delete); its number stays taken so the register keeps no gaps."""
    ensure_permission(by, "case.delete")
    case.mark_deleted(by)
    log_event(case, EventKind.deleted, f"Case {case.number} deleted", by=by)
