"""Starting, stopping, pausing and extending a case's clocks, and firing escalation warnings.

These helpers are called from the workflow steps (which write the timeline event); they never
commit and never write events of their own, except ``run_escalations``, which is a step of its
own run by the scheduler.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _

from .. import db
from ..base import to_local, utcnow
from ..calendar import work_calendar
from ..cases import Case
from ..deadlines import (
    CLOCK_EVENTS,
    PETITIONER_CLOCKS,
    SPAN_UNITS,
    STARTED_BY_STEP,
    CaseClock,
    ClockEscalation,
    DeadlineRule,
    EscalationRule,
    Notification,
    compute_due,
    end_of_local_day,
    paused_span,
)
from ..enums import Clock, EscalationTrigger, EventKind, TimeUnit
from ..policies import OPEN_STATUSES
from ..settings import SystemSetting
from ..users import Role, User
from . import ValidationFailed
from .audit import log_event

logger = logging.getLogger(__name__)


def _roll_to_working_day() -> bool:
    return SystemSetting.get("roll_deadline_to_working_day") == "1"


def matching_rule(case: Case, kind: Clock) -> DeadlineRule | None:
    """The most specific active rule for ``kind`` that fits ``case`` (ties: the oldest rule)."""
    rules = db.session.scalars(
        sa.select(DeadlineRule)
        .where(DeadlineRule.clock == kind, DeadlineRule.is_active.is_(True))
        .order_by(DeadlineRule.id)
    ).all()
    best, best_score = None, -1
    for rule in rules:
        score = rule.specificity(case)
        if score is not None and score > best_score:
            best, best_score = rule, score
    return best


def open_clock(case: Case, kind: Clock) -> CaseClock | None:
    for clock in case.clocks:
        if clock.kind == kind and clock.stopped_at is None:
            return clock
    return None


def refresh_due(clock: CaseClock) -> None:
    clock.due_at = compute_due(clock, work_calendar(), roll_to_working_day=_roll_to_working_day())


def start_clock(
    case: Case,
    kind: Clock,
    *,
    at: datetime,
    fixed_due_on: date | None = None,
    restart: bool = False,
) -> CaseClock | None:
    """Start ``kind`` on ``case`` from ``at`` using the best rule, or ``fixed_due_on``.

    Returns the clock, or ``None`` when no rule applies and no date was given (the
    organisation sets no limit for that step). A clock already running is kept unless
    ``restart`` (e.g. work sent back) or a new fixed date is given.
    """
    current = open_clock(case, kind)
    if current is not None and not restart and fixed_due_on is None:
        return current
    rule = matching_rule(case, kind)
    if rule is None and fixed_due_on is None:
        return current
    if current is not None:
        current.stopped_at = at
    clock = CaseClock(
        kind=kind,
        rule=rule,
        started_at=at,
        amount=rule.amount if rule else 0,
        unit=rule.unit if rule else TimeUnit.calendar_days,
        max_extension=rule.max_extension if rule else None,
        max_extension_count=rule.max_extension_count if rule else None,
        fixed_due_on=fixed_due_on,
        extension=0,
        extension_count=0,
        paused_amount=0,
    )
    if fixed_due_on is not None and rule is not None and rule.max_extension:
        # An instruction's date keeps the rule's extension cap, counted in calendar days.
        clock.max_extension = rule.max_extension if rule.unit not in SPAN_UNITS else None
    refresh_due(clock)
    case.clocks.append(clock)
    return clock


def stop_clocks(case: Case, kinds, *, at: datetime) -> list[CaseClock]:
    stopped = []
    for clock in case.clocks:
        if clock.kind in kinds and clock.stopped_at is None:
            if clock.paused_at is not None:
                resume(clock, at=at)
            clock.stopped_at = at
            stopped.append(clock)
    return stopped


def stop_all_clocks(case: Case, *, at: datetime) -> list[CaseClock]:
    return stop_clocks(case, set(Clock), at=at)


def clock_event(case: Case, event: str, *, at: datetime) -> list[CaseClock]:
    """Apply ``CLOCK_EVENTS`` for ``event`` on ``case``: stop the clocks it ends, start the
    ones it begins (if a rule matches). Returns the clocks started."""
    ended = {kind for kind, (_starts, stops) in CLOCK_EVENTS.items() if event in stops}
    stop_clocks(case, ended, at=at)
    started = []
    for kind, (starts, _stops) in CLOCK_EVENTS.items():
        if event not in starts or kind in STARTED_BY_STEP:
            continue
        if kind in PETITIONER_CLOCKS and case.is_anonymous:
            continue
        clock = start_clock(case, kind, at=at)
        if clock is not None:
            started.append(clock)
    return started


def pause(clock: CaseClock, *, at: datetime) -> None:
    clock.paused_at = at


def resume(clock: CaseClock, *, at: datetime) -> None:
    clock.paused_amount += max(paused_span(clock, at, work_calendar()), 0)
    clock.paused_at = None
    refresh_due(clock)


def check_extension(clock: CaseClock, amount: int) -> None:
    """Refuse an extension the rule does not allow (cap on total and on how many)."""
    if amount <= 0:
        raise ValidationFailed(_("延期时长须为正整数"), field="amount")
    if not clock.max_extension:
        raise ValidationFailed(_("%(clock)s按规定不能延期", clock=clock.kind.title), field="amount")
    if clock.max_extension_count is not None and clock.extension_count >= clock.max_extension_count:
        raise ValidationFailed(
            _(
                "%(clock)s已延期%(count)s次，按规定不得再次延期",
                clock=clock.kind.title,
                count=clock.extension_count,
            ),
            field="amount",
        )
    if clock.extension + amount > clock.max_extension:
        left = clock.max_extension - clock.extension
        raise ValidationFailed(
            _(
                "延期不得超过%(limit)s%(unit)s（已延期%(used)s%(unit)s，最多还可延期%(left)s%(unit)s）",
                limit=clock.max_extension,
                used=clock.extension,
                left=left,
                unit=clock.unit_label,
            ),
            field="amount",
        )


def extend(clock: CaseClock, amount: int) -> None:
    check_extension(clock, amount)
    clock.extension += amount
    clock.extension_count += 1
    refresh_due(clock)


# --- lists -----------------------------------------------------------------------------------


def due_soon_limit(now: datetime | None = None) -> datetime:
    """End of the last day that counts as "due soon" (setting: working days ahead)."""
    now = now or utcnow()
    try:
        days = int(SystemSetting.get("due_soon_working_days"))
    except ValueError:
        days = 2
    today = to_local(now).date()
    return end_of_local_day(work_calendar().add_working_days(today, days))


def running_clocks_condition():
    return sa.and_(CaseClock.stopped_at.is_(None), CaseClock.paused_at.is_(None))


def overdue_case_ids(now: datetime | None = None):
    now = now or utcnow()
    return sa.select(CaseClock.case_id).where(running_clocks_condition(), CaseClock.due_at < now)


def due_soon_case_ids(now: datetime | None = None):
    now = now or utcnow()
    return sa.select(CaseClock.case_id).where(
        running_clocks_condition(),
        CaseClock.due_at >= now,
        CaseClock.due_at <= due_soon_limit(now),
    )


def paused_case_ids():
    return sa.select(CaseClock.case_id).where(
        CaseClock.stopped_at.is_(None), CaseClock.paused_at.is_not(None)
    )


# --- escalation ------------------------------------------------------------------------------


def _threshold(rule: EscalationRule, clock: CaseClock) -> datetime:
    if rule.trigger == EscalationTrigger.percent_elapsed:
        span = clock.due_at - clock.started_at
        return clock.started_at + span * (rule.threshold / 100)
    if rule.threshold == 0:
        return clock.due_at
    due_day = to_local(clock.due_at).date()
    return end_of_local_day(work_calendar().add_working_days(due_day, rule.threshold))


def _recipients(rule: EscalationRule, case: Case) -> list[User]:
    query = (
        sa.select(User)
        .join(User.roles)
        .where(Role.code == rule.recipient_role, User.is_active_user.is_(True))
        .order_by(User.id)
    )
    if rule.same_unit_only:
        if case.handling_unit_id is None:
            return []
        query = query.where(User.unit_id == case.handling_unit_id)
    return list(db.session.scalars(query).unique())


#: How many warnings one rule fires in one run at most, oldest deadline first. An office
#: that imports years of open cases catches up over a few runs instead of one long
#: transaction that holds a worker.
ESCALATION_BATCH = 500


def _may_have_reached(rule: EscalationRule, now: datetime):
    """SQL condition that a running clock may have reached ``rule``'s moment at ``now``, and
    whether a limit in SQL is safe: whether no clock it lets through fires unless every clock
    with an earlier deadline that it lets through fires too.

    Exact for a share of the time limit on PostgreSQL; otherwise a lower bound that
    :func:`_threshold` settles in Python for the rows it lets through."""
    if rule.trigger == EscalationTrigger.percent_elapsed:
        if db.session.get_bind().dialect.name == "postgresql":
            span = CaseClock.due_at - CaseClock.started_at
            return CaseClock.started_at + span * (rule.threshold / 100) <= now, True
        return CaseClock.started_at <= now, False
    # N working days after the deadline's day are at least N calendar days after it, and a
    # later deadline never reaches its moment sooner.
    return CaseClock.due_at < now - timedelta(days=rule.threshold or 0), True


def run_escalations(now: datetime | None = None, batch: int = ESCALATION_BATCH) -> int:
    """Fire every escalation rule whose moment has come; return how many fired.

    Each (clock, rule) pair fires once: a warning in the recipients' work lists and one
    timeline event on the case. Safe to run often (cron, every few minutes) from any worker:
    the unique constraint on ``clock_escalations`` keeps two runs from double-firing.
    Only clocks that may have reached a rule's moment are read (at a million cases, the
    rest of the running clocks stay in the database), at most ``batch`` per rule and run.
    """
    now = now or utcnow()
    rules = db.session.scalars(
        sa.select(EscalationRule).where(EscalationRule.is_active.is_(True))
    ).all()
    if not rules:
        return 0
    fired = 0
    for rule in rules:
        reached, limit_is_safe = _may_have_reached(rule, now)
        already = sa.exists().where(
            ClockEscalation.clock_id == CaseClock.id, ClockEscalation.rule_id == rule.id
        )
        query = (
            sa.select(CaseClock)
            .join(Case, Case.id == CaseClock.case_id)
            .where(
                running_clocks_condition(),
                Case.is_deleted.is_(False),
                Case.status.in_(OPEN_STATUSES),
                reached,
                ~already,
            )
            .order_by(CaseClock.due_at, CaseClock.id)
        )
        if rule.clock is not None:
            query = query.where(CaseClock.kind == rule.clock)
        if limit_is_safe:
            query = query.limit(batch)
        fired_for_rule = 0
        for clock in db.session.scalars(query).all():
            if _threshold(rule, clock) > now:
                continue
            _fire(rule, clock, now)
            fired_for_rule += 1
            if fired_for_rule >= batch:
                break
        fired += fired_for_rule
    return fired


def _fire(rule: EscalationRule, clock: CaseClock, now: datetime) -> None:
    case = clock.case
    db.session.add(ClockEscalation(clock_id=clock.id, rule_id=rule.id, fired_at=now))
    if rule.trigger == EscalationTrigger.percent_elapsed:
        when = f"已用时限{rule.threshold}%"
    elif rule.threshold:
        when = f"已超期{rule.threshold}个工作日"
    else:
        when = "已到期"
    message = f"{case.number}「{case.subject[:40]}」{clock.kind.title}{when}（{rule.name}）"
    recipients = _recipients(rule, case)
    notify(recipients, case, message, at=now, level=rule.level, kind=escalation_kind(rule, clock))
    log_event(
        case,
        EventKind.escalated,
        f"Escalation {rule.id} fired for clock {clock.id}",
        by=None,
        at=now,
        data={
            "clock": clock.kind.value,
            "rule": rule.name,
            "level": rule.level,
            "message": message,
            "recipients": [str(user) for user in recipients],
        },
    )
    logger.info("escalation %s fired for case %s clock %s", rule.id, case.id, clock.id)


def escalation_kind(rule: EscalationRule, clock: CaseClock):
    """The e-mail kind of a fired warning: a callback's clock is "callback due"; otherwise a
    share of the time is "due soon", the deadline itself "overdue", later days "escalation"."""
    from ..messaging import MessageKind

    if clock.kind == Clock.callback:
        return MessageKind.callback_due
    if rule.trigger == EscalationTrigger.percent_elapsed:
        return MessageKind.due_soon
    return MessageKind.overdue if not rule.threshold else MessageKind.escalation


def notify(users, case: Case, message: str, *, at: datetime, level: int = 1, kind=None) -> None:
    """Tell ``users`` in their work lists; with ``kind`` (models/messaging.MessageKind) also by
    e-mail, as each one's preferences say (issue 18): one event, one list of who is told."""
    users = [user for user in users if user is not None]
    for user in users:
        db.session.add(
            Notification(
                user_id=user.id, case_id=case.id, level=level, message=message, created_at=at
            )
        )
    if kind is not None and users:
        from .notifications import queue_staff_emails

        queue_staff_emails(users, case, message, kind, at=at)


def mark_notifications_read(user, *, case_id=None, level=None, at=None) -> int:
    """Marks the user's unread notifications read (all, or one case's, or one level's);
    returns how many. The caller commits."""
    from ..deadlines import notification_filter

    result = db.session.execute(
        sa.update(Notification)
        .where(notification_filter(user, case_id=case_id, level=level, unread_only=True))
        .values(read_at=at or utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount
