"""What waits for the signed-in user: the home page's figures, the work lists, similar cases.

Only reads. Which cases count is decided by ``models.policies``; this module only counts and
lists them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from .. import db
from ..base import utcnow
from ..callbacks import Callback
from ..cases import Case, CaseRepresentative, case_petitioners
from ..contacts import Call, Letter, Visit
from ..deadlines import CaseClock, Notification, notification_filter
from ..enums import CaseStatus
from ..operations.deadlines import due_soon_case_ids, overdue_case_ids
from ..parties import Party
from ..policies import (
    OPEN_STATUSES,
    awaiting_me_clause,
    handles_case_clause,
    open_clause,
    reporter_visible_clause,
    stands_in_clause,
    visible_cases_clause,
)
from ..units import Unit
from .lists import CURRENT_CLOCK, ListTotal, list_total, soonest_clock_id

#: Rows per work list; a list longer than this is narrowed on the case list instead.
WORKLIST_LIMIT = 100


#: The operator's daily review (日常复核) looks back this many days.
REVIEW_DAYS = 3


def daily_review_case_ids(now: datetime | None = None, days: int = REVIEW_DAYS):
    """Cases received, or contacted again, within the last ``days`` days that came back as a
    repeat contact or are still unresolved: the hotline operator's morning review list."""
    since = (now or utcnow()) - timedelta(days=days)
    recent_contact = sa.union(
        *(
            sa.select(model.case_id).where(moment >= since, model.is_deleted.is_(False))
            for model, moment in (
                (Letter, Letter.received_at),
                (Visit, Visit.visited_at),
                (Call, Call.called_at),
            )
        )
    )
    return sa.select(Case.id).where(
        sa.or_(Case.received_at >= since, Case.id.in_(recent_contact)),
        sa.or_(Case.repeat_count > 0, open_clause()),
    )


def _live_visible(user):
    return sa.and_(visible_cases_clause(user), Case.is_deleted.is_(False))


def home_figures(user) -> dict:
    """The home page's counts, all within what ``user`` may see, each a :class:`ListTotal`.

    The office-wide ones are counted as the lists count their totals (:func:`list_total`):
    exactly up to a thousand rows, beyond that PostgreSQL's estimate ("约 …"), which is close
    for a filter on the status. Everyone opens this page first; counting every visible case
    exactly took 0.3 s at a million cases. The user's own open cases are never estimated: the
    planner misjudges "handler or assistant" tenfold, and a person's workload must not read
    约 90,000 when it is 9,000; past the limit the card says "超过 1,000"."""
    scope = _live_visible(user)

    def cases(*conditions, estimate: bool = True) -> ListTotal:
        return list_total(Case.query.filter(scope, *conditions), Case.id, estimate=estimate)

    pending_callbacks = Callback.query.join(Case, Case.id == Callback.case_id).filter(
        scope, Callback.done_at.is_(None), Callback.is_deleted.is_(False)
    )
    return {
        "open_count": cases(open_clause()),
        "registered_count": cases(Case.status == CaseStatus.registered),
        "mine_count": cases(handles_case_clause(user), open_clause(), estimate=False),
        "pending_callbacks": list_total(pending_callbacks, Callback.id),
    }


def awaiting_cases(user, limit: int | None = None) -> list[Case]:
    """我的待办: visible cases whose next step is the user's, oldest first."""
    return db.session.scalars(
        sa.select(Case)
        .where(_live_visible(user), awaiting_me_clause(user))
        .order_by(Case.received_at)
        .limit(limit or WORKLIST_LIMIT)
    ).all()


def awaiting_with_deadlines(user, limit: int | None = None) -> list[tuple[Case, CaseClock]]:
    """我的待办 (as ``awaiting_cases``) with each case's current clock, or ``None``, loaded
    in the same statement."""
    clock = CURRENT_CLOCK
    return [
        tuple(row)
        for row in db.session.execute(
            sa.select(Case, clock)
            .outerjoin(clock, clock.id == soonest_clock_id(Case.id))
            .where(_live_visible(user), awaiting_me_clause(user))
            .order_by(Case.received_at)
            .limit(limit or WORKLIST_LIMIT)
        )
    ]


def awaiting_count(user) -> ListTotal:
    """How many cases 我的待办 holds in all (the tab lists the oldest ``WORKLIST_LIMIT``):
    exact up to the lists' limit, "more than" it beyond."""
    return list_total(
        Case.query.filter(_live_visible(user), awaiting_me_clause(user)), Case.id, estimate=False
    )


def stand_in_case_ids(user, cases) -> set[int]:
    """Of ``cases``, those in the user's list only because nobody holds the role whose turn it
    is (``policies.stands_in_for``): the list marks them."""
    ids = [case.id for case in cases]
    if not ids:
        return set()
    return set(
        db.session.scalars(sa.select(Case.id).where(Case.id.in_(ids), stands_in_clause(user)))
    )


def _running_clock_conditions(user, condition) -> tuple:
    return (
        _live_visible(user),
        open_clause(),
        CaseClock.stopped_at.is_(None),
        CaseClock.paused_at.is_(None),
        condition,
    )


def running_clocks(user, condition, limit: int | None = None) -> list[CaseClock]:
    """Running clocks of the user's visible open cases that meet ``condition``, soonest first."""
    return db.session.scalars(
        sa.select(CaseClock)
        .join(Case, Case.id == CaseClock.case_id)
        .options(sa.orm.contains_eager(CaseClock.case))
        .where(*_running_clock_conditions(user, condition))
        .order_by(CaseClock.due_at)
        .limit(limit or WORKLIST_LIMIT)
    ).all()


def running_clock_count(user, condition) -> ListTotal:
    """How many clocks :func:`running_clocks` would list without its limit (as
    :func:`awaiting_count` counts)."""
    query = CaseClock.query.join(Case, Case.id == CaseClock.case_id).filter(
        *_running_clock_conditions(user, condition)
    )
    return list_total(query, CaseClock.id, estimate=False)


#: Notifications per page of the 提醒 tab.
NOTIFICATIONS_PER_PAGE = 50

#: Case groups listed above the 提醒 list; the rest are counted ("另有 N 个事项").
NOTIFICATION_CASE_GROUPS = 20


def notifications_of(user, limit: int = NOTIFICATIONS_PER_PAGE) -> list[Notification]:
    """The newest ``limit`` notifications, unread first (the first page of the 提醒 tab)."""
    return notification_page(user, per_page=limit)["items"]


def notification_page(
    user,
    *,
    page: int = 1,
    per_page: int = NOTIFICATIONS_PER_PAGE,
    case_id: int | None = None,
    level: int | None = None,
    unread_only: bool = False,
) -> dict:
    """One page of the user's notifications, unread first, newest first, with the counts
    that go with it: ``total`` and ``unread`` of the filtered list, ``pages``, and the page
    actually shown (a page past the end shows the last one)."""
    where = notification_filter(user, case_id=case_id, level=level, unread_only=unread_only)
    total, unread = db.session.execute(
        sa.select(
            sa.func.count(Notification.id),
            sa.func.count(Notification.id).filter(Notification.read_at.is_(None)),
        ).where(where)
    ).one()
    pages = max((total + per_page - 1) // per_page, 1)
    page = min(max(page, 1), pages)
    items = db.session.scalars(
        sa.select(Notification)
        .options(sa.orm.joinedload(Notification.case))
        .where(where)
        .order_by(Notification.read_at.is_not(None), Notification.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return {
        "items": items,
        "total": total,
        "unread": unread,
        "page": page,
        "pages": pages,
        "per_page": per_page,
    }


def notification_levels(user) -> list[tuple[int, int, int]]:
    """(level, total, unread) of the user's notifications, most urgent level first."""
    return [
        tuple(row)
        for row in db.session.execute(
            sa.select(
                Notification.level,
                sa.func.count(Notification.id),
                sa.func.count(Notification.id).filter(Notification.read_at.is_(None)),
            )
            .where(Notification.user_id == user.id)
            .group_by(Notification.level)
            .order_by(Notification.level.desc())
        )
    ]


def notification_cases(user, limit: int = NOTIFICATION_CASE_GROUPS) -> dict:
    """The user's notifications grouped by case: ``groups`` of dicts (case_id — ``None`` for
    those of no case —, number, subject, total, unread, top level), those with unread ones
    first, then by the latest; ``more``: how many further groups there are."""
    unread = sa.func.count(Notification.id).filter(Notification.read_at.is_(None))
    latest = sa.func.max(Notification.id)
    statement = (
        sa.select(
            Notification.case_id,
            Case.number,
            Case.subject,
            sa.func.count(Notification.id),
            unread,
            sa.func.max(Notification.level),
        )
        .outerjoin(Case, Case.id == Notification.case_id)
        .where(Notification.user_id == user.id)
        .group_by(Notification.case_id, Case.number, Case.subject)
    )
    rows = db.session.execute(
        statement.order_by((unread > 0).desc(), latest.desc()).limit(limit)
    ).all()
    count = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(sa.func.coalesce(Notification.case_id, 0)))).where(
            Notification.user_id == user.id
        )
    )
    return {
        "groups": [
            {
                "case_id": case_id,
                "number": number,
                "subject": subject,
                "total": total,
                "unread": unread_count,
                "level": top_level,
            }
            for case_id, number, subject, total, unread_count, top_level in rows
        ],
        "more": max(count - len(rows), 0),
    }


def unit_summary(now: datetime):
    """Open, due-soon and overdue cases per handling unit, most overdue first."""
    open_cases = sa.and_(Case.is_deleted.is_(False), Case.status.in_(OPEN_STATUSES))
    overdue = Case.id.in_(overdue_case_ids(now))
    due_soon = Case.id.in_(due_soon_case_ids(now))
    return db.session.execute(
        sa.select(
            Unit.name,
            Unit.id,
            sa.func.count(Case.id),
            sa.func.count(Case.id).filter(due_soon),
            sa.func.count(Case.id).filter(overdue),
        )
        .join(Case, Case.handling_unit_id == Unit.id)
        .where(open_cases)
        .group_by(Unit.id, Unit.name)
        .order_by(sa.func.count(Case.id).filter(overdue).desc(), Unit.name)
    ).all()


def similar_open_cases(user, *, id_number="", phone="", name="", subject="") -> list[dict]:
    """Open, visible cases of a person matched by ID number, phone, or name plus subject.

    Each result says what matched (``"id_number"``, ``"phone"`` or ``"name"``).
    """
    id_number = id_number.strip().upper()
    phone = phone.strip()
    name = name.strip()
    subject = subject.strip()
    party_conditions = []
    if len(id_number) >= 6:
        party_conditions.append(Party.id_number == id_number)
    if len(phone) >= 7:
        party_conditions.append(Party.phone == phone)
    if name:
        party_conditions.append(Party.name == name)
    if not party_conditions:
        return []
    # A group's representative coming back is found like a petitioner.
    people = sa.union_all(
        sa.select(case_petitioners.c.case_id, case_petitioners.c.party_id),
        sa.select(CaseRepresentative.case_id, CaseRepresentative.party_id),
    ).subquery("case_people")
    matched = (
        sa.select(Case.id, Case.number, Case.subject, Case.status, Party.id_number, Party.phone)
        .join(people, people.c.case_id == Case.id)
        .join(Party, Party.id == people.c.party_id)
        .where(
            sa.or_(*party_conditions),
            _live_visible(user),
            open_clause(),
            # A match would tie the person to a 举报 case they may be the reporter of.
            reporter_visible_clause(user),
        )
        .order_by(Case.id.desc())
        .limit(20)
    )
    results = []
    seen = set()
    for case_id, number, case_subject, status, party_id_number, party_phone in db.session.execute(
        matched
    ):
        if case_id in seen:
            continue
        seen.add(case_id)
        if id_number and party_id_number == id_number:
            matched_on = "id_number"
        elif phone and party_phone == phone:
            matched_on = "phone"
        elif similar_subjects(subject, case_subject):
            matched_on = "name"
        else:
            # A name alone is common; it counts only with a similar subject.
            continue
        results.append(
            {
                "id": case_id,
                "number": number,
                "subject": case_subject,
                "status": status,
                "matched_on": matched_on,
            }
        )
    return results[:10]


def similar_subjects(a: str, b: str) -> bool:
    """Two subjects share at least two two-character fragments (works for Chinese text)."""
    if not a or not b:
        return False
    pairs = {a[i : i + 2] for i in range(len(a) - 1)}
    return sum(1 for i in range(len(b) - 1) if b[i : i + 2] in pairs) >= 2
