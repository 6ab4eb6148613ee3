"""Deadline rules, the clocks they set on cases, and escalation warnings.

A rule says how long one clock (hand-over, acceptance notice, handling …) may run for the cases
it matches. When a workflow step starts a clock, the most specific matching rule is copied onto
the case's clock row, so a later change of the rules never moves a running deadline. ``due_at``
is stored (and recomputed whenever an extension or pause changes it) so that "overdue" and "due
soon" are plain indexed comparisons with the current time; nobody ever types "overdue" in.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .base import UTCDateTime, local_zone, partial_index, to_local, utcnow
from .calendar import WorkCalendar
from .enums import (
    CaseChannel,
    CasePriority,
    CategoryKind,
    Clock,
    EscalationTrigger,
    TimeUnit,
    enum_column,
)
from .mixins import TimestampMixin
from .texts import lazy_gettext as _l

#: The moments that start or stop a clock, with the words the rule form shows for them.
CLOCK_EVENT_TITLES = {
    "registered": _l("登记（自收到之时起算）"),
    "accepted": _l("受理（未单独受理的，交办或领导批示时视为受理）"),
    "sent_for_reading": _l("送领导阅批（自收到之时起算）"),
    "handed_over": _l("交办、领导批示交办、转办或退回"),
    "sent_back": _l("退回重办"),
    "reopened": _l("重新办理"),
    "rectification_required": _l("调查认定责任单位须报整改方案"),
    "result_reported": _l("报结"),
    "formal_reply": _l("正式答复信访人"),
    "interim_reply": _l("阶段性答复信访人"),
    "remedial_plan_reply": _l("告知信访人补救措施"),
    "superior_reply": _l("回复上级"),
    "contact_logged": _l("首次联系信访人（登记联系记录）"),
    "closed": _l("办结"),
    "callback_done": _l("完成回访"),
    "review_requested": _l("登记复查申请"),
    "review_answered": _l("出具复查意见"),
    "re_review_requested": _l("登记复核申请"),
    "re_review_answered": _l("出具复核意见"),
    "out_of_scope_decided": _l("界定为不属本单位职责（退回的，自收到之时起算）"),
    "transferred": _l("转送有权处理的机关"),
    "returned": _l("退回来信人或原批转单位"),
}

#: Every clock's start and stop events, once: clock -> (starts on, stops on). Besides these,
#: every clock stops when the case leaves work (不予受理、不再受理、存信、转办、退回、办结、
#: 归档、合并), and a clock starts only when a deadline rule matches the case (or a leader
#: gives a date). ``clock_event`` in operations/deadlines.py applies the table.
CLOCK_EVENTS: dict[Clock, tuple[tuple[str, ...], tuple[str, ...]]] = {
    Clock.handover: (("registered",), ("handed_over",)),
    Clock.dispatch: (("registered",), ("handed_over",)),
    Clock.acceptance: (("registered",), ("accepted",)),
    Clock.first_contact: (("registered",), ("contact_logged",)),
    Clock.instruction: (("sent_for_reading",), ("handed_over",)),
    Clock.closing: (("accepted",), ("closed",)),
    Clock.reply: (("accepted",), ("formal_reply",)),
    Clock.interim_reply: (("accepted",), ("interim_reply",)),
    Clock.remedial_plan: (("accepted",), ("remedial_plan_reply",)),
    Clock.superior_reply: (("accepted",), ("superior_reply",)),
    Clock.handling: (("handed_over", "sent_back", "reopened"), ("result_reported",)),
    Clock.rectification: (("rectification_required",), ("result_reported",)),
    Clock.callback: (("closed",), ("callback_done", "reopened")),
    Clock.review: (("review_requested",), ("review_answered",)),
    Clock.re_review: (("re_review_requested",), ("re_review_answered",)),
    Clock.out_of_scope: (("out_of_scope_decided",), ("transferred", "returned")),
}

#: Clocks whose lateness makes a closed case "not on time" (callbacks and reviews come after).
WORKING_CLOCKS = (
    Clock.handover,
    Clock.acceptance,
    Clock.instruction,
    Clock.handling,
    Clock.closing,
    Clock.reply,
)

#: Clocks that run towards the petitioner: never started on an anonymous case (no one to
#: answer or call).
PETITIONER_CLOCKS = frozenset(
    {Clock.reply, Clock.interim_reply, Clock.remedial_plan, Clock.first_contact}
)

#: Clocks their step starts itself (from the receipt time, with a leader's date, restarted
#: when work is sent back …); ``clock_event`` only stops them.
STARTED_BY_STEP = frozenset(
    {
        Clock.instruction,
        Clock.handling,
        Clock.rectification,
        Clock.callback,
        Clock.review,
        Clock.re_review,
        # From the decision, or from receipt where the unit returns such matters (15 days
        # of receipt, 工程质量站 第五条1): see workflow.assignment.out_of_scope.
        Clock.out_of_scope,
    }
)


def can_call_back(case) -> bool:
    """Whether a callback task makes sense: an anonymous matter has nobody to call unless a
    way to reach the writer was recorded anyway (a phone or e-mail on the case's people, the
    caller's number, the sender's e-mail). Without one, a task could never be done and would
    only ever show as overdue."""
    if not case.is_anonymous:
        return True
    from .contacts import Call, Letter

    if any(party.phone or party.email for party in case.petitioners):
        return True
    reached = sa.or_(
        sa.exists().where(
            Call.case_id == case.id, Call.is_deleted.is_(False), Call.caller_number.is_not(None),
            Call.caller_number != "",
        ),
        sa.exists().where(
            Letter.case_id == case.id, Letter.is_deleted.is_(False),
            Letter.sender_email.is_not(None), Letter.sender_email != "",
        ),
    )  # fmt: skip
    return bool(db.session.scalar(sa.select(reached)))


def clock_event_rows() -> list[tuple[str, str, str]]:
    """The table for people: (clock, starts on, stops on), in Chinese."""
    return [
        (
            clock.title,
            "、".join(str(CLOCK_EVENT_TITLES[code]) for code in starts),
            "、".join(str(CLOCK_EVENT_TITLES[code]) for code in stops),
        )
        for clock, (starts, stops) in CLOCK_EVENTS.items()
    ]


class DeadlineRule(TimestampMixin, db.Model):
    __tablename__ = "deadline_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    clock: Mapped[Clock] = mapped_column(enum_column(Clock, "clock"), index=True)
    # Matching criteria; empty means "any".
    category_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("categories.id", ondelete="CASCADE"), index=True
    )
    category_kind: Mapped[CategoryKind | None] = mapped_column(
        enum_column(CategoryKind, "category_kind")
    )
    priority: Mapped[CasePriority | None] = mapped_column(
        enum_column(CasePriority, "case_priority")
    )
    channel: Mapped[CaseChannel | None] = mapped_column(enum_column(CaseChannel, "case_channel"))
    amount: Mapped[int] = mapped_column()
    unit: Mapped[TimeUnit] = mapped_column(enum_column(TimeUnit, "time_unit"))
    #: Total extension allowed, in the rule's unit; empty means the clock cannot be extended.
    max_extension: Mapped[int | None] = mapped_column()
    #: How many separate extensions are allowed (物业: never postpone twice); empty: no limit.
    max_extension_count: Mapped[int | None] = mapped_column()
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)
    note: Mapped[str | None] = mapped_column(sa.String(200))

    category = relationship("Category", lazy="select")

    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint(
            "max_extension IS NULL OR max_extension >= 0", name="max_extension_not_negative"
        ),
    )

    def __str__(self) -> str:
        return self.name

    def specificity(self, case) -> int | None:
        """How closely the rule fits ``case``; ``None`` when it does not apply at all."""
        score = 0
        if self.category_id is not None:
            category = case.category
            if category is None:
                return None
            if self.category_id == category.id:
                score += 8
            elif self.category_id == category.parent_id:
                score += 6
            else:
                return None
        if self.category_kind is not None:
            if case.category is None or case.category.kind != self.category_kind:
                return None
            score += 4
        if self.priority is not None:
            if case.priority != self.priority:
                return None
            score += 2
        if self.channel is not None:
            if case.channel != self.channel:
                return None
            score += 1
        return score

    def describe(self) -> str:
        return _("%(amount)s个%(unit)s", amount=self.amount, unit=self.unit.title)


class EscalationRule(TimestampMixin, db.Model):
    """Who is warned when a clock reaches a share of its time, or a number of days past it."""

    __tablename__ = "escalation_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    level: Mapped[int] = mapped_column(default=1, nullable=False)
    #: Empty: every clock.
    clock: Mapped[Clock | None] = mapped_column(enum_column(Clock, "clock"))
    trigger: Mapped[EscalationTrigger] = mapped_column(
        enum_column(EscalationTrigger, "escalation_trigger")
    )
    #: Percent of the allowed time (``percent_elapsed``) or working days after the deadline.
    threshold: Mapped[int] = mapped_column(default=0, nullable=False)
    #: A role code (``dept_head``, ``leader`` …) whose holders are warned.
    recipient_role: Mapped[str] = mapped_column(sa.String(40))
    #: Only holders of the role in the case's handling unit (e.g. its department head).
    same_unit_only: Mapped[bool] = mapped_column(default=False, nullable=False)
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)

    __table_args__ = (sa.CheckConstraint("threshold >= 0", name="threshold_not_negative"),)

    def __str__(self) -> str:
        return self.name


class CaseClock(db.Model):
    """One deadline running (or run) on a case."""

    __tablename__ = "case_clocks"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[Clock] = mapped_column(enum_column(Clock, "clock"))
    rule_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("deadline_rules.id", ondelete="SET NULL"), index=True
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    amount: Mapped[int] = mapped_column()
    unit: Mapped[TimeUnit] = mapped_column(enum_column(TimeUnit, "time_unit"))
    max_extension: Mapped[int | None] = mapped_column()
    max_extension_count: Mapped[int | None] = mapped_column()
    #: A date fixed by a leader's or higher body's instruction; it overrides every rule.
    fixed_due_on: Mapped[date | None] = mapped_column(sa.Date)
    extension: Mapped[int] = mapped_column(default=0, nullable=False)
    extension_count: Mapped[int] = mapped_column(default=0, nullable=False)
    #: Time spent paused, in minutes (minute and hour clocks) or counted days (day clocks).
    paused_amount: Mapped[int] = mapped_column(default=0, nullable=False)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: True when the deadline ran into a year the holiday calendar does not know.
    calendar_fallback: Mapped[bool] = mapped_column(default=False, nullable=False)
    # An extension asked for and not yet decided.
    pending_extension: Mapped[int | None] = mapped_column()
    pending_reason: Mapped[str | None] = mapped_column(sa.Text)
    pending_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    case = relationship("Case", back_populates="clocks")
    rule = relationship("DeadlineRule", lazy="select")
    pending_by = relationship("User", lazy="select")

    __table_args__ = (
        # Serves counts of running and paused clocks by deadline.
        sa.Index("ix_case_clocks_running", "stopped_at", "paused_at", "due_at"),
        # Serves "overdue" / "due soon" in deadline order. The index above cannot: PostgreSQL
        # does not take "IS NULL" on its leading columns as fixing their order, so at a million
        # cases 我的工作台's overdue list read every clock and sorted them (75 ms).
        partial_index(
            "ix_case_clocks_running_by_due",
            "due_at",
            where="stopped_at IS NULL AND paused_at IS NULL",
        ),
        # Serves "extension requests awaiting a decision" (a handful of rows in any register).
        partial_index(
            "ix_case_clocks_pending_extension",
            "case_id",
            where="pending_extension IS NOT NULL AND stopped_at IS NULL",
        ),
        # Serves the statistics' on-time rate: only the clocks that ended after their deadline.
        partial_index(
            "ix_case_clocks_late",
            "case_id",
            "kind",
            where="stopped_at > due_at",
        ),
        sa.CheckConstraint("extension >= 0", name="extension_not_negative"),
    )

    def __str__(self) -> str:
        return self.kind.title

    @property
    def is_running(self) -> bool:
        return self.stopped_at is None and self.paused_at is None

    def is_overdue(self, now: datetime | None = None) -> bool:
        now = now or utcnow()
        return self.stopped_at is None and self.paused_at is None and now > self.due_at

    @property
    def unit_label(self) -> str:
        return _("日") if self.fixed_due_on else self.unit.title


#: Units counted as a plain span of time from the start (no calendar): one unit's length.
SPAN_UNITS = {TimeUnit.minutes: timedelta(minutes=1), TimeUnit.hours: timedelta(hours=1)}


def end_of_local_day(day: date) -> datetime:
    """23:59:59 on ``day`` in the deployment's time zone, as an aware UTC datetime."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=local_zone()).astimezone(UTC)


def compute_due(clock: CaseClock, calendar: WorkCalendar, *, roll_to_working_day: bool) -> datetime:
    """The deadline for ``clock`` from its start, amount, extension and paused time.

    Day counts start the day after the start (信访工作条例 practice) and end at the end of the
    last day, local time. A calendar-day period whose last day is a rest day runs to the end of
    the next working day when ``roll_to_working_day`` is on (民法典 第二百零三条).
    """
    before = set(calendar.fallback_years)
    if clock.fixed_due_on is not None:
        due = end_of_local_day(
            clock.fixed_due_on + timedelta(days=clock.extension + clock.paused_amount)
        )
    elif clock.unit in SPAN_UNITS:
        due = (
            clock.started_at
            + SPAN_UNITS[clock.unit] * (clock.amount + clock.extension)
            + timedelta(minutes=clock.paused_amount)
        )
    else:
        start_day = to_local(clock.started_at).date()
        total = clock.amount + clock.extension + clock.paused_amount
        if clock.unit == TimeUnit.working_days:
            last_day = calendar.add_working_days(start_day, total)
        else:
            last_day = start_day + timedelta(days=total)
            if roll_to_working_day:
                last_day = calendar.next_working_day(last_day)
        due = end_of_local_day(last_day)
    clock.calendar_fallback = bool(set(calendar.fallback_years) - before) or any(
        not calendar.covers(year)
        for year in range(to_local(clock.started_at).year, to_local(due).year + 1)
    )
    return due


def paused_span(clock: CaseClock, resumed_at: datetime, calendar: WorkCalendar) -> int:
    """The pause from ``clock.paused_at`` to ``resumed_at`` in the clock's counting unit."""
    if clock.fixed_due_on is None and clock.unit in SPAN_UNITS:
        return int((resumed_at - clock.paused_at).total_seconds() // 60)
    paused_day = to_local(clock.paused_at).date()
    resumed_day = to_local(resumed_at).date()
    if clock.fixed_due_on is None and clock.unit == TimeUnit.working_days:
        return calendar.working_days_between(paused_day, resumed_day)
    return (resumed_day - paused_day).days


def time_left(clock: CaseClock, calendar: WorkCalendar, now: datetime | None = None) -> str:
    """A short Chinese phrase: "剩余 3 个工作日", "今日到期", "已超期 2 天" …"""
    now = now or utcnow()
    if clock.stopped_at is not None:
        if clock.stopped_at <= clock.due_at:
            return _("按期完成")
        return _("超期完成")
    if clock.paused_at is not None:
        return _("已暂停计时")
    if clock.unit == TimeUnit.minutes and clock.fixed_due_on is None:
        seconds = (clock.due_at - now).total_seconds()
        if seconds >= 0:
            # Whole minutes left, rounded down: "剩余 0 分钟" means "less than a minute".
            return _("剩余 %(minutes)s 分钟", minutes=int(seconds // 60))
        # Late minutes, rounded up: 10 seconds late is "已超期 1 分钟".
        return _("已超期 %(minutes)s 分钟", minutes=max(math.ceil(-seconds / 60), 1))
    if clock.unit == TimeUnit.hours and clock.fixed_due_on is None:
        hours = (clock.due_at - now).total_seconds() / 3600
        if hours >= 0:
            return _("剩余 %(hours).1f 小时", hours=hours)
        return _("已超期 %(hours).1f 小时", hours=-hours)
    today = to_local(now).date()
    due_day = to_local(clock.due_at).date()
    if clock.unit == TimeUnit.working_days and clock.fixed_due_on is None:
        days = calendar.working_days_between(today, due_day)
        unit = _("个工作日")
    else:
        days = (due_day - today).days
        unit = _("天")
    if now > clock.due_at:
        return _("已超期 %(days)s %(unit)s", days=max(-days, 1), unit=unit)
    if days == 0:
        return _("今日到期")
    return _("剩余 %(days)s %(unit)s", days=days, unit=unit)


class ClockEscalation(db.Model):
    """An escalation rule that has fired for a clock; it fires once."""

    __tablename__ = "clock_escalations"

    id: Mapped[int] = mapped_column(primary_key=True)
    clock_id: Mapped[int] = mapped_column(sa.ForeignKey("case_clocks.id", ondelete="CASCADE"))
    rule_id: Mapped[int] = mapped_column(
        sa.ForeignKey("escalation_rules.id", ondelete="CASCADE"), index=True
    )
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.UniqueConstraint("clock_id", "rule_id", name="uq_clock_escalations"),)


#: A notification's (and an escalation rule's) level in words: 1 一般, 2 重要, 3 and above 紧急.
LEVEL_TITLES = {1: _l("一般"), 2: _l("重要"), 3: _l("紧急")}


def level_title(level: int | None) -> str:
    """The level in words, in the user's language (a level above 3 is 紧急 too)."""
    level = max(level or 1, 1)
    return str(LEVEL_TITLES.get(level) or LEVEL_TITLES[3])


class Notification(db.Model):
    """An in-app message in a user's work list (escalation warnings, urging)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    case_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True
    )
    level: Mapped[int] = mapped_column(default=1, nullable=False)
    message: Mapped[str] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case = relationship("Case", lazy="select")
    user = relationship("User", lazy="select")

    __table_args__ = (
        # The unread badge: one index range per user.
        sa.Index("ix_notifications_user_unread", "user_id", "read_at", "id"),
    )

    def __str__(self) -> str:
        return self.message

    @property
    def level_title(self) -> str:
        return level_title(self.level)


def _attach_unread_count() -> None:
    """``User.unread_notification_count``: loaded with the user (see ``load_user``) so the
    navbar badge costs no extra query."""
    from sqlalchemy.orm import column_property

    from .users import User

    User.unread_notification_count = column_property(
        sa.select(sa.func.count(Notification.id))
        .where(Notification.user_id == User.id, Notification.read_at.is_(None))
        .correlate_except(Notification)
        .scalar_subquery(),
        deferred=True,
    )


_attach_unread_count()


def notification_filter(user, *, case_id=None, level=None, unread_only=False):
    """The user's own notifications, optionally of one case (0: those of no case), of one
    level, or unread only."""
    conditions = [Notification.user_id == user.id]
    if case_id is not None:
        conditions.append(
            Notification.case_id.is_(None) if case_id == 0 else Notification.case_id == case_id
        )
    if level is not None:
        conditions.append(Notification.level == level)
    if unread_only:
        conditions.append(Notification.read_at.is_(None))
    return sa.and_(*conditions)
