"""Whistleblower protection: who may see the reporter of a 举报 / 检举控告 case.

A case is confidential when its category is of kind 举报 (report) or 检举控告 (accusation). Its
reporter's identity (petitioners, agent, representatives, the people on its letters, visits and
calls, the caller's number) and its original material (attachments) are shown only to

- holders of ``confidential.view`` (by default the office, leaders and administrators), and
- the case's owner chain: whoever registered it, its handler and assisting handlers, and the
  head of its handling unit (a user of that unit who may approve results, ``workflow.approve``).

Other users of the handling unit are left out on purpose: the person reported on may work there.
Lists and search results never show the reporter to anyone; the details page shows it to those
allowed, and each such view is written to the audit log.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import column_property

from .cases import Case, case_assistants
from .categories import Category
from .enums import CategoryKind

CONFIDENTIAL_KINDS = (CategoryKind.report, CategoryKind.accusation)
CONFIDENTIAL_PERMISSION = "confidential.view"
#: Fields of a case that identify its reporter.
IDENTITY_FIELDS = frozenset({"petitioners", "petitioner_names", "agent", "representatives"})
#: What a hidden value is shown as.
MASK = "（保密）"

Case.is_confidential = column_property(
    sa.exists()
    .where(Category.id == Case.category_id, Category.kind.in_(CONFIDENTIAL_KINDS))
    .correlate_except(Category),
)


def confidential_case_clause():
    """SQL: the case is a 举报 / 检举控告 case."""
    kinds = sa.select(Category.id).where(Category.kind.in_(CONFIDENTIAL_KINDS))
    # Every term is TRUE or FALSE, never NULL, so that NOT(...) of it means what it says.
    return sa.and_(Case.category_id.is_not(None), Case.category_id.in_(kinds))


def _is(column, value):
    return sa.and_(column.is_not(None), column == value)


def in_owner_chain(case: Case, user) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.id in (case.created_by_id, case.handler_id):
        return True
    if (
        case.handling_unit_id is not None
        and case.handling_unit_id == user.unit_id
        and user.has_permission("workflow.approve")
    ):
        return True
    return any(assistant.id == user.id for assistant in case.assistants)


def reporter_visible(case: Case | None, user) -> bool:
    """May ``user`` see who reported ``case`` and its original material?"""
    if case is None or not case.is_confidential:
        return True
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return user.has_permission(CONFIDENTIAL_PERMISSION) or in_owner_chain(case, user)


def reporter_visible_clause(user):
    """SQL counterpart of :func:`reporter_visible` for ``Case`` rows."""
    if user.has_permission(CONFIDENTIAL_PERMISSION):
        return sa.true()
    assisted = sa.select(case_assistants.c.case_id).where(case_assistants.c.user_id == user.id)
    chain = [_is(Case.created_by_id, user.id), _is(Case.handler_id, user.id), Case.id.in_(assisted)]
    if user.unit_id is not None and user.has_permission("workflow.approve"):
        chain.append(_is(Case.handling_unit_id, user.unit_id))
    return sa.or_(~confidential_case_clause(), *chain)


def hidden_case_ids_clause(user):
    """SQL: ids of the cases whose reporter ``user`` may not see."""
    return sa.select(Case.id).where(confidential_case_clause(), ~reporter_visible_clause(user))
