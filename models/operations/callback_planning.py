"""The callback task a case gets when it closes (回访, requirements.md §5).

Kept apart from the rest of the callback operations because closing (a workflow step) plans it,
while recording a callback may reopen the case (also a workflow step): the workflow imports this
module, the callback operations import the workflow, and neither imports the other back.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from .. import db
from ..base import to_local
from ..callbacks import Callback
from ..enums import CallbackOrigin, Clock
from .deadlines import stop_clocks


def plan_callback_on_close(case, *, clock, by, at: datetime) -> Callback | None:
    """The callback task of a case that just closed, due when its callback clock says.

    The clock comes from the callback deadline rules (per category, kind, priority, channel:
    1 week by default, 2 days for safety repairs …), so one rule table serves both. A group
    visit or 查处 case already had its callback before it could close; it gets no second task.
    Nothing is planned when no rule sets a callback deadline.
    """
    if case.needs_callback_before_closing:
        stop_clocks(case, {Clock.callback}, at=at)
        return None
    if clock is None:
        return None
    pending = db.session.scalar(
        sa.select(Callback).where(
            Callback.case_id == case.id,
            Callback.done_at.is_(None),
            Callback.is_deleted.is_(False),
        )
    )
    due_on = to_local(clock.due_at).date()
    if pending is not None:
        pending.due_on = due_on
        return pending
    callback = Callback(
        case=case,
        origin=CallbackOrigin.on_close,
        due_on=due_on,
        caller_id=case.handler_id,
        person_reached=case.petitioner_names,
        created_by_id=by.id,
        created_at=at,
    )
    db.session.add(callback)
    db.session.flush()
    return callback
