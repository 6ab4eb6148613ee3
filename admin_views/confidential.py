"""Showing and hiding a whistleblower's identity on admin screens (see models.confidentiality)."""

from __future__ import annotations

from flask import g
from flask_babel import gettext as _
from flask_login import current_user

from models import db
from models.audit import AuditAction
from models.confidentiality import reporter_visible
from models.operations.audit_log import record_audit


def masked() -> str:
    return _("（保密）")


def reporter_hidden(case) -> bool:
    """True when the signed-in user may not see ``case``'s reporter."""
    return not reporter_visible(case, current_user)


def list_value(case, value):
    """Lists and search results never show a 举报 case's reporter, whoever looks."""
    if case is not None and case.is_confidential:
        return masked()
    return value


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
    db.session.commit()
