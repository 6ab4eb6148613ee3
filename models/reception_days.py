"""Leader reception days: recurring schedules, the leader rota, deputies and the day's queue.

Schedules are data, not code (decisions.md): every Monday, the n-th weekday of the month, or a
fixed day of the month, each with a time slot and a place. A schedule names one leader or a
rota that advances with every reception day actually held. Rest days of the working-day
calendar are skipped, and on a date where two schedules' slots overlap the one with the higher
priority is held (the court's "first Monday: president; other Mondays: rota").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from flask_babel import gettext
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .base import UTCDateTime
from .enums import QueueStatus, Recurrence, enum_column
from .mixins import CreatedByMixin, TimestampMixin
from .texts import lazy_gettext as _l

WEEKDAY_NAMES = (
    _l("星期一"),
    _l("星期二"),
    _l("星期三"),
    _l("星期四"),
    _l("星期五"),
    _l("星期六"),
    _l("星期日"),
)


class ReceptionLeader(TimestampMixin, db.Model):
    """A leader who receives visitors, with what the published schedule shows about them."""

    __tablename__ = "reception_leaders"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    post: Mapped[str] = mapped_column(sa.String(64))
    portfolio: Mapped[str | None] = mapped_column(sa.String(200))
    departments: Mapped[str | None] = mapped_column(sa.String(200))
    contact: Mapped[str | None] = mapped_column(sa.String(64))
    #: The leader's own account, if any; the queue page then shows "my queue".
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    sort_order: Mapped[int] = mapped_column(default=0, nullable=False)
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)

    user = relationship("User", lazy="select")

    def __str__(self) -> str:
        return f"{self.name}（{self.post}）"


class ReceptionSchedule(TimestampMixin, db.Model):
    __tablename__ = "reception_schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    recurrence: Mapped[Recurrence] = mapped_column(
        enum_column(Recurrence, "reception_recurrence"), default=Recurrence.weekly
    )
    #: 0 = Monday … 6 = Sunday (weekly and monthly_weekday).
    weekday: Mapped[int | None] = mapped_column(sa.SmallInteger)
    #: 1–5 = first … fifth such weekday of the month (monthly_weekday).
    week_of_month: Mapped[int | None] = mapped_column(sa.SmallInteger)
    #: 1–31 (monthly_day); months without that day have no reception day.
    day_of_month: Mapped[int | None] = mapped_column(sa.SmallInteger)
    start_time: Mapped[time] = mapped_column(sa.Time)
    end_time: Mapped[time] = mapped_column(sa.Time)
    place: Mapped[str] = mapped_column(sa.String(120))
    #: A fixed leader; when empty, the rota members take turns.
    leader_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("reception_leaders.id", ondelete="SET NULL"), index=True
    )
    #: Where two schedules overlap on one date, the higher priority is held.
    priority: Mapped[int] = mapped_column(default=0, nullable=False)
    starts_on: Mapped[date] = mapped_column(sa.Date)
    ends_on: Mapped[date | None] = mapped_column(sa.Date)
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)
    note: Mapped[str | None] = mapped_column(sa.Text)

    leader = relationship("ReceptionLeader", lazy="select")
    rota = relationship(
        "ReceptionRotaMember",
        back_populates="schedule",
        order_by="ReceptionRotaMember.position, ReceptionRotaMember.id",
        cascade="all, delete-orphan",
    )

    __table_args__ = (
        sa.CheckConstraint("weekday IS NULL OR (weekday >= 0 AND weekday <= 6)", name="weekday"),
        sa.CheckConstraint(
            "week_of_month IS NULL OR (week_of_month >= 1 AND week_of_month <= 5)",
            name="week_of_month",
        ),
        sa.CheckConstraint(
            "day_of_month IS NULL OR (day_of_month >= 1 AND day_of_month <= 31)",
            name="day_of_month",
        ),
        sa.CheckConstraint("end_time > start_time", name="slot_order"),
    )

    def __str__(self) -> str:
        return self.name

    def falls_on(self, day: date) -> bool:
        """Whether the recurrence rule (ignoring holidays and other schedules) hits ``day``."""
        if day < self.starts_on or (self.ends_on is not None and day > self.ends_on):
            return False
        if self.recurrence == Recurrence.weekly:
            return day.weekday() == self.weekday
        if self.recurrence == Recurrence.monthly_weekday:
            return day.weekday() == self.weekday and (day.day - 1) // 7 + 1 == self.week_of_month
        return day.day == self.day_of_month

    def overlaps(self, other: ReceptionSchedule) -> bool:
        return self.start_time < other.end_time and other.start_time < self.end_time

    @property
    def rule_text(self) -> str:
        weekday = WEEKDAY_NAMES[self.weekday or 0]
        if self.recurrence == Recurrence.weekly:
            return gettext("每%(weekday)s", weekday=weekday)
        if self.recurrence == Recurrence.monthly_weekday:
            return gettext(
                "每月第%(nth)s个%(weekday)s", nth=self.week_of_month or 1, weekday=weekday
            )
        return gettext("每月%(day)s日", day=self.day_of_month)

    @property
    def slot_text(self) -> str:
        return f"{self.start_time:%H:%M}–{self.end_time:%H:%M}"


class ReceptionRotaMember(db.Model):
    __tablename__ = "reception_rota_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(
        sa.ForeignKey("reception_schedules.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0, nullable=False)
    leader_id: Mapped[int] = mapped_column(
        sa.ForeignKey("reception_leaders.id", ondelete="CASCADE"), index=True
    )

    schedule = relationship("ReceptionSchedule", back_populates="rota")
    leader = relationship("ReceptionLeader", lazy="joined")

    def __str__(self) -> str:
        return f"{self.position}. {self.leader}"


class LeaderAbsence(TimestampMixin, CreatedByMixin, db.Model):
    """A leader away on some days, and who receives visitors in their place."""

    __tablename__ = "leader_absences"

    id: Mapped[int] = mapped_column(primary_key=True)
    leader_id: Mapped[int] = mapped_column(
        sa.ForeignKey("reception_leaders.id", ondelete="CASCADE"), index=True
    )
    deputy_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("reception_leaders.id", ondelete="SET NULL"), index=True
    )
    first_day: Mapped[date] = mapped_column(sa.Date)
    last_day: Mapped[date] = mapped_column(sa.Date)
    reason: Mapped[str | None] = mapped_column(sa.String(200))

    leader = relationship("ReceptionLeader", foreign_keys=[leader_id], lazy="joined")
    deputy = relationship("ReceptionLeader", foreign_keys=[deputy_id], lazy="joined")

    __table_args__ = (sa.CheckConstraint("last_day >= first_day", name="day_order"),)

    def __str__(self) -> str:
        return f"{self.leader} {self.first_day}–{self.last_day}"


class ReceptionQueueEntry(TimestampMixin, CreatedByMixin, db.Model):
    """One visitor waiting for a leader on a reception day; the visit is on its case."""

    __tablename__ = "reception_queue_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, index=True)
    schedule_id: Mapped[int] = mapped_column(
        sa.ForeignKey("reception_schedules.id", ondelete="CASCADE"), index=True
    )
    #: The leader serving that day (the deputy when the rota leader is away).
    leader_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("reception_leaders.id", ondelete="SET NULL"), index=True
    )
    queue_number: Mapped[int] = mapped_column()
    party_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("parties.id", ondelete="SET NULL"), index=True
    )
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    visit_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("visits.id", ondelete="SET NULL"), index=True
    )
    purpose: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[QueueStatus] = mapped_column(
        enum_column(QueueStatus, "queue_status"), default=QueueStatus.waiting
    )
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    schedule = relationship("ReceptionSchedule", lazy="select")
    leader = relationship("ReceptionLeader", lazy="select")
    party = relationship("Party", lazy="select")
    case = relationship("Case", lazy="select")
    visit = relationship("Visit", lazy="select")

    __table_args__ = (
        sa.UniqueConstraint(
            "day", "schedule_id", "queue_number", name="uq_reception_queue_entries_number"
        ),
    )

    def __str__(self) -> str:
        return f"{self.day} #{self.queue_number}"


@dataclass
class ReceptionDay:
    """One computed occurrence of a schedule; ``skipped`` says why it is not held."""

    day: date
    schedule: ReceptionSchedule
    leader: ReceptionLeader | None = None
    #: The rota or fixed leader when a deputy receives in their place.
    absent_leader: ReceptionLeader | None = None
    skipped: str | None = None

    @property
    def weekday_name(self) -> str:
        return str(WEEKDAY_NAMES[self.day.weekday()])


def _absences(start: date, end: date) -> list[LeaderAbsence]:
    return db.session.scalars(
        sa.select(LeaderAbsence).where(
            LeaderAbsence.first_day <= end, LeaderAbsence.last_day >= start
        )
    ).all()


def reception_days(
    start: date,
    end: date,
    *,
    schedules: list[ReceptionSchedule] | None = None,
    include_skipped: bool = False,
    calendar=None,
) -> list[ReceptionDay]:
    """Every reception day between ``start`` and ``end`` (inclusive), in date and time order.

    The rota is counted from each schedule's first day, so a given date always gets the same
    leader however the range is chosen.
    """
    from .calendar import work_calendar

    calendar = calendar or work_calendar()
    if schedules is None:
        schedules = db.session.scalars(
            sa.select(ReceptionSchedule).where(ReceptionSchedule.is_active.is_(True))
        ).all()
    schedules = [s for s in schedules if s.starts_on <= end]
    if not schedules:
        return []
    absences = _absences(start, end)
    turns = {schedule.id: 0 for schedule in schedules}
    result: list[ReceptionDay] = []
    day = min(schedule.starts_on for schedule in schedules)
    while day <= end:
        hits = [schedule for schedule in schedules if schedule.falls_on(day)]
        if hits:
            working = calendar.is_working_day(day)
            held = []
            for schedule in sorted(hits, key=lambda s: (-s.priority, s.start_time, s.id)):
                if not working:
                    reason = str(_l("节假日不接待"))
                elif any(other.overlaps(schedule) for other in held):
                    reason = str(_l("与优先安排冲突"))
                else:
                    reason = None
                    held.append(schedule)
                leader = schedule.leader
                if reason is None and leader is None and schedule.rota:
                    leader = schedule.rota[turns[schedule.id] % len(schedule.rota)].leader
                    turns[schedule.id] += 1
                if day < start or (reason and not include_skipped):
                    continue
                occurrence = ReceptionDay(day=day, schedule=schedule, leader=leader, skipped=reason)
                away = next(
                    (
                        a
                        for a in absences
                        if leader and a.leader_id == leader.id and a.first_day <= day <= a.last_day
                    ),
                    None,
                )
                if away is not None and reason is None:
                    occurrence.absent_leader = leader
                    occurrence.leader = away.deputy
                result.append(occurrence)
        day += timedelta(days=1)
    result.sort(key=lambda r: (r.day, r.schedule.start_time, r.schedule.id))
    return result


def reception_day_of(schedule: ReceptionSchedule, day: date) -> ReceptionDay | None:
    """The occurrence of ``schedule`` on ``day`` including skipped ones, or ``None``."""
    if not schedule.falls_on(day):
        return None
    others = db.session.scalars(
        sa.select(ReceptionSchedule).where(ReceptionSchedule.is_active.is_(True))
    ).all()
    if schedule not in others:
        others = [*others, schedule]
    for occurrence in reception_days(day, day, schedules=others, include_skipped=True):
        if occurrence.schedule.id == schedule.id:
            return occurrence
    return None
