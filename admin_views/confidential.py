"""The signed-in user's view of a whistleblower's identity (the rules are in models.policies)."""

from __future__ import annotations

from flask import g
from flask_login import current_user

from models import db
from models.audit import AuditAction
from models.operations.audit_log import record_audit
from models.policies import MASK, list_value, reporter_visible

__all__ = ["list_value", "log_confidential_view", "masked", "reporter_hidden"]


def masked() -> str:
    return str(MASK)


def reporter_hidden(case) -> bool:
    """True when the signed-in user may not see ``case``'s reporter."""
    return not reporter_visible(case, current_user)


def log_confidential_view(case, surface: str) -> None:
    """Note in the audit log that the signed-in user saw ``case``'s reporter (once per request)."""
    if case is None or not case.is_confidential or reporter_hidden(case):
        return
    seen = g.setdefault("confidential_views_logged", set())
    key = (current_user.id, case.id, surface)
    if key in seen:
        return
    seen.add(key)
    record_audit(
        AuditAction.confidential_view,
        case,
        by=current_user,
        data={"surface": surface, "number": case.number},
    )
    # Committed at once, so the note stays even if the page then fails. What the page has
    # already loaded stays loaded: expiring it would reload the case and its whole history
    # row by row while the page renders (27 statements instead of 7 on a 举报 case).
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True
