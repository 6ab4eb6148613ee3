"""Keeping reception-day schedules, leaders and absences consistent."""

from __future__ import annotations

from flask_babel import gettext as _

from .. import db
from ..enums import Recurrence
from ..reception_days import LeaderAbsence, ReceptionLeader, ReceptionSchedule
from . import ValidationFailed
from .guards import ensure_permission


def save_leader(leader: ReceptionLeader, *, by) -> None:
    ensure_permission(by, "reception.schedule")
    if not (leader.name or "").strip():
        raise ValidationFailed(_("请填写领导姓名"), field="name")
    if not (leader.post or "").strip():
        raise ValidationFailed(_("请填写职务"), field="post")
    db.session.add(leader)
    db.session.flush()


def save_schedule(schedule: ReceptionSchedule, *, by) -> None:
    """Check that the recurrence has what it needs; unused fields are cleared."""
    ensure_permission(by, "reception.schedule")
    if schedule.recurrence in (Recurrence.weekly, Recurrence.monthly_weekday):
        if schedule.weekday is None:
            raise ValidationFailed(_("请选择星期几"), field="weekday")
        schedule.day_of_month = None
    if schedule.recurrence == Recurrence.weekly:
        schedule.week_of_month = None
    if schedule.recurrence == Recurrence.monthly_weekday and schedule.week_of_month is None:
        raise ValidationFailed(_("请选择每月第几个"), field="week_of_month")
    if schedule.recurrence == Recurrence.monthly_day:
        if schedule.day_of_month is None:
            raise ValidationFailed(_("请填写每月几日"), field="day_of_month")
        schedule.weekday = None
        schedule.week_of_month = None
    if schedule.start_time is None or schedule.end_time is None:
        raise ValidationFailed(_("请填写接待时段"), field="start_time")
    if schedule.end_time <= schedule.start_time:
        raise ValidationFailed(_("结束时间须晚于开始时间"), field="end_time")
    if schedule.ends_on is not None and schedule.ends_on < schedule.starts_on:
        raise ValidationFailed(_("停用日期不能早于启用日期"), field="ends_on")
    if schedule.leader is not None and schedule.rota:
        raise ValidationFailed(_("固定接待领导与轮值名单只能选其一"), field="leader")
    for position, member in enumerate(schedule.rota, start=1):
        if member.leader is None and member.leader_id is None:
            raise ValidationFailed(_("轮值名单中有未选择领导的行"), field="rota")
        member.position = member.position or position
    db.session.add(schedule)
    db.session.flush()


def record_absence(absence: LeaderAbsence, *, by) -> None:
    ensure_permission(by, "reception.schedule")
    if absence.leader is None:
        raise ValidationFailed(_("请选择外出的领导"), field="leader")
    if absence.first_day is None or absence.last_day is None:
        raise ValidationFailed(_("请填写外出起止日期"), field="first_day")
    if absence.last_day < absence.first_day:
        raise ValidationFailed(_("结束日期不能早于开始日期"), field="last_day")
    if absence.deputy is None:
        raise ValidationFailed(_("请指定代班领导，接待日不能空档"), field="deputy")
    if absence.deputy is absence.leader:
        raise ValidationFailed(_("代班领导不能是外出领导本人"), field="deputy")
    absence.created_by_id = by.id
    db.session.add(absence)
    db.session.flush()
