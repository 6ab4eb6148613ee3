"""Merging duplicate cases and splitting a case among several units."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext as _

from models.texts import lazy_gettext as _l

from ... import db
from ...attachments import Attachment
from ...base import utcnow
from ...callbacks import Callback
from ...cases import Case
from ...contacts import Call, Letter, Visit
from ...enums import Clock, EventKind
from ...policies import OPEN_STATUSES, can_see_live_case
from .. import NotPermitted, ValidationFailed
from ..audit import log_event
from ..deadlines import start_clock, stop_all_clocks, stop_clocks
from .common import active_unit, required
from .steps import S, begin_step, finish_step


def merge(case, *, by, into=None, reason=None, at=None, expected_version=None):
    """Fold ``case`` into ``into``: its contacts, files and petitioners move; its number stays
    searchable and leads to ``into``."""
    at = at or utcnow()
    step = begin_step("merge", case, by, expected_version)
    if not can_see_live_case(by, into):
        raise ValidationFailed(_("找不到要并入的事项"), field="into")
    if into.id == case.id:
        raise ValidationFailed(_("不能并入事项本身"), field="into")
    if into.status not in OPEN_STATUSES:
        raise ValidationFailed(
            _("目标事项状态为“%(status)s”，只能并入办理中的事项", status=into.status.title),
            field="into",
        )
    reason = required(reason, "reason", _l("合并理由"))
    moved = {}
    for model in (Letter, Visit, Call, Attachment, Callback):
        rows = db.session.scalars(sa.select(model).where(model.case_id == case.id)).all()
        for row in rows:
            row.case_id = into.id
        moved[model.__tablename__] = len(rows)
    if not into.is_anonymous:
        for party in case.petitioners:
            if party not in into.petitioners:
                into.petitioners.append(party)
        into.refresh_petitioner_names()
    contacts = moved["letters"] + moved["visits"] + moved["calls"]
    into.repeat_count = (into.repeat_count or 0) + max(contacts, 1) + (case.repeat_count or 0)
    into.updated_at = at
    case.merged_into = into
    stop_all_clocks(case, at=at)
    case.closed_at = at
    finish_step(step, case, by, at, {"into": into.number, "reason": reason, "moved": moved})
    log_event(
        into,
        EventKind.merged_in,
        f"Case {case.number} merged into {into.number}",
        by=by,
        at=at,
        data={"from_case": case.number, "reason": reason, "moved": moved},
    )


def split(case, *, by, units=(), note=None, at=None, expected_version=None):
    """Open one child case per unit; the parent cannot close while a child is open."""
    from ..cases import register_case

    at = at or utcnow()
    step = begin_step("split", case, by, expected_version)
    units = [unit for unit in units if unit is not None]
    if not units:
        raise ValidationFailed(_("请至少选择一个承办单位"), field="units")
    if len({unit.id for unit in units}) != len(units):
        raise ValidationFailed(_("承办单位不能重复"), field="units")
    for unit in units:
        active_unit(unit, field="units")
    if not by.has_permission("case.register"):
        raise NotPermitted(_("拆分会新登记子事项，您没有登记权限"))
    children = []
    for unit in units:
        child = Case(
            channel=case.channel,
            category_id=case.category_id,
            priority=case.priority,
            subject=f"{case.subject[:180]}（{unit.name}）",
            content=case.content,
            demands=case.demands,
            received_at=case.received_at,
            is_anonymous=case.is_anonymous,
            is_group=case.is_group,
            head_count=case.head_count,
            is_important=case.is_important,
            is_sensitive=case.is_sensitive,
            custom_values=dict(case.custom_values or {}),
            parent_id=case.id,
        )
        register_case(child, by=by, petitioners=list(case.petitioners), at=at, route=False)
        child.accepted_at = at
        child.instruction = case.instruction
        child.instructed_at = case.instructed_at
        child.instructed_by_id = case.instructed_by_id
        child.handling_unit = unit
        child.assigned_at = at
        child.status = S.assigned
        stop_clocks(child, {Clock.handover, Clock.acceptance}, at=at)
        start_clock(child, Clock.closing, at=at)
        start_clock(child, Clock.handling, at=at)
        children.append(child)
    finish_step(
        step,
        case,
        by,
        at,
        {"children": [child.number for child in children], "note": note or ""},
    )
    return children
