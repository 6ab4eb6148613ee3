"""Timeline events and change diffs."""

from __future__ import annotations

import enum
import logging
from datetime import date, datetime

import sqlalchemy as sa

from .. import db
from ..base import utcnow
from ..cases import Case, CaseEvent
from ..enums import EventKind

logger = logging.getLogger(__name__)

#: Columns that never appear in a diff: bookkeeping, not content.
# Representatives have their own timeline line (operations.representatives).
_DIFF_SKIP = {"updated_at", "created_at", "version", "petitioner_names", "representative_links"}


def _plain(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple | set):
        return [_plain(item) for item in value]
    return str(value)


def changes_of(obj) -> dict[str, list]:
    """Return ``{attribute: [old, new]}`` for everything changed on ``obj`` since it was loaded.

    Call it before anything that may autoflush: a flush resets the attribute history.
    """
    state = sa.inspect(obj)
    changes: dict[str, list] = {}
    for attr in state.mapper.attrs:
        if attr.key in _DIFF_SKIP or attr.key.endswith("_by"):
            continue
        history = state.attrs[attr.key].history
        if not history.has_changes():
            continue
        old = list(history.deleted) + list(history.unchanged)
        new = list(history.unchanged) + list(history.added)
        if isinstance(attr, sa.orm.RelationshipProperty):
            if attr.uselist:
                old_value, new_value = [str(o) for o in old], [str(o) for o in new]
            else:
                old_value = str(old[0]) if old and old[0] is not None else None
                new_value = str(new[0]) if new and new[0] is not None else None
        else:
            old_value = _plain(old[0]) if old else None
            new_value = _plain(new[0]) if new else None
        if old_value != new_value:
            changes[attr.key] = [old_value, new_value]
    return changes


def log_event(
    case: Case,
    kind: EventKind,
    summary: str,
    *,
    by,
    data: dict | None = None,
    at: datetime | None = None,
    **subjects,
) -> CaseEvent:
    """Append one event to ``case``'s timeline (``subjects``: letter/visit/call/callback).

    Every addition to a case passes here, so a destroyed case refuses them all at this one
    point (its own 销毁 event excepted)."""
    if kind != EventKind.destroy:
        from .guards import ensure_accepts_additions

        ensure_accepts_additions(case)
    event = CaseEvent(
        created_at=at or utcnow(),
        kind=kind,
        summary=summary[:300],
        data=data or {},
        created_by_id=by.id if by is not None else None,
        **{f"{name}_id": obj.id for name, obj in subjects.items() if obj is not None},
    )
    # Setting the many-to-one side does not load the (possibly long) events collection.
    event.case = case
    db.session.add(event)
    db.session.flush()
    logger.info("case %s event %s by user %s", case.id, kind.value, event.created_by_id)
    return event
