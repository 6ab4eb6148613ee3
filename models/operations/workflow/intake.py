"""Intake: accept, refuse, keep (存信) or answer on the spot."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext as _

from models.texts import lazy_gettext as _l

from ... import db
from ...base import to_local, utcnow
from ...cases import Case
from ...contacts import Visit
from ...enums import Clock, ReplyKind, ReplyMethod, RoutingMoment
from ...policies import can_view_case
from .. import ValidationFailed
from ..deadlines import open_clock, stop_all_clocks
from .common import accept_if_needed, deadline_data, required
from .replies import checked_method, record_reply
from .routing import route_case
from .steps import begin_step, finish_step


def accept(case, *, by, at=None, note=None, expected_version=None):
    at = at or utcnow()
    step = begin_step("accept", case, by, expected_version)
    accept_if_needed(case, at)
    closing = open_clock(case, Clock.closing)
    finish_step(step, case, by, at, {"note": note or "", **deadline_data(closing)})
    route_case(case, by=by, moment=RoutingMoment.acceptance, at=at)


def not_accept(case, *, by, reason=None, legal_route=None, at=None, expected_version=None):
    at = at or utcnow()
    step = begin_step("not_accept", case, by, expected_version)
    reason = required(reason, "reason", _l("不予受理的理由"))
    legal_route = required(legal_route, "legal_route", _l("应当通过的法定途径或有权处理的机关"))
    stop_all_clocks(case, at=at)
    case.closed_at = at
    finish_step(step, case, by, at, {"reason": reason, "legal_route": legal_route})


def no_longer_accept(case, *, by, reason=None, at=None, expected_version=None):
    at = at or utcnow()
    step = begin_step("no_longer_accept", case, by, expected_version)
    reason = required(reason, "reason", _l("不再受理的理由"))
    stop_all_clocks(case, at=at)
    case.closed_at = at
    finish_step(step, case, by, at, {"reason": reason})


def keep(
    case,
    *,
    by,
    region=None,
    year=None,
    related_number=None,
    note=None,
    at=None,
    expected_version=None,
):
    at = at or utcnow()
    step = begin_step("keep", case, by, expected_version)
    region = required(region, "region", _l("存信地区"))
    this_year = to_local(at).year
    if year is None or not (2000 <= int(year) <= this_year):
        raise ValidationFailed(_("存信年份应在2000到%(year)s之间", year=this_year), field="year")
    related = None
    if related_number:
        related = db.session.scalar(
            sa.select(Case).where(Case.number == related_number.strip(), Case.id != case.id)
        )
        if not can_view_case(by, related):
            raise ValidationFailed(_("找不到所关联的事项编号"), field="related_number")
    case.kept_region = region
    case.kept_year = int(year)
    case.kept_at = at
    stop_all_clocks(case, at=at)
    finish_step(
        step,
        case,
        by,
        at,
        {
            "region": region,
            "year": int(year),
            "related": related.number if related else None,
            "note": note or "",
        },
    )


def answer_on_spot(case, *, by, answer=None, method=None, at=None, expected_version=None):
    """当场答复 / 即时办理: answered at once (in person by default; an e-mailed complaint judged
    invalid gets its tactful answer by e-mail) and closed."""
    at = at or utcnow()
    step = begin_step("answer_on_spot", case, by, expected_version)
    answer = required(answer, "answer", _l("答复内容"))
    method = (
        ReplyMethod.on_site
        if method in (None, "")
        else checked_method(method, ReplyMethod, "method", _("请选择答复方式"))
    )
    stop_all_clocks(case, at=at)
    case.accepted_at = case.accepted_at or at
    case.closed_at = at
    answer_row = None
    if not case.is_anonymous:
        case.replied_at = at
        case.reply_method = method
        # The answer on the spot is the formal reply: one row among the case's replies.
        answer_row = record_reply(
            case, ReplyKind.formal, by=by, method=method, replied_at=at, text=answer,
            recipient=None, at=at,
        )  # fmt: skip
    visit = _visit_answered(case)
    if visit is not None:
        # The visit row and the visits register read 当场答复 from the visit itself.
        visit.answered_on_spot = True
        visit.answer = visit.answer or answer
    event = finish_step(step, case, by, at, {"answer": answer})
    if answer_row is not None:
        answer_row.event_id = event.id


def _visit_answered(case):
    """The visit whose matter an answer on the spot answers: the case's latest visit."""
    return db.session.scalar(
        sa.select(Visit)
        .where(Visit.case_id == case.id, Visit.is_deleted.is_(False))
        .order_by(Visit.visited_at.desc(), Visit.id.desc())
        .limit(1)
    )
