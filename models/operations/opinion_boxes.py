"""Opinion boxes: keeping the due date, logging openings, registering each slip as a case."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _

from .. import db
from ..base import local_zone, to_local, utcnow
from ..cases import Case
from ..contacts import Letter
from ..enums import CaseChannel, LetterForm, LetterOrigin
from ..opinion_boxes import OpinionBox, OpinionBoxOpening
from . import ValidationFailed
from .contacts import register_contact
from .guards import ensure_permission

#: Slip subjects are the slip's first line, cut to this length.
SUBJECT_LENGTH = 40
#: A slip's first line is usually a whole sentence; as a subject it is a title, and documents put
#: it inside sentences ("关于…的公示"), so its closing full stop or comma is dropped.
_SENTENCE_END = "。．.；;，,、：: "


def _last_opening_day(box: OpinionBox):
    if box.id is None:
        return None
    return db.session.scalar(
        sa.select(sa.func.max(OpinionBoxOpening.opened_on)).where(
            OpinionBoxOpening.box_id == box.id
        )
    )


def save_box(box: OpinionBox, *, by) -> None:
    """Create or edit a box; the next due date follows the last opening and the interval."""
    ensure_permission(by, "reception.manage")
    if not (box.name or "").strip():
        raise ValidationFailed(_("请填写意见箱名称"), field="name")
    if not box.interval_days or not 1 <= box.interval_days <= 366:
        raise ValidationFailed(_("开启间隔应为1到366天"), field="interval_days")
    last = _last_opening_day(box)
    if last is not None:
        box.next_due_on = last + timedelta(days=box.interval_days)
    elif box.next_due_on is None:
        box.next_due_on = to_local(utcnow()).date() + timedelta(days=box.interval_days)
    db.session.add(box)
    db.session.flush()


def split_slips(text: str | None) -> list[str]:
    """One slip per paragraph: slips are separated by blank lines."""
    paragraphs, current = [], []
    for line in (text or "").splitlines():
        if line.strip():
            current.append(line.strip())
        elif current:
            paragraphs.append("\n".join(current))
            current = []
    if current:
        paragraphs.append("\n".join(current))
    return paragraphs


def _received_at(day) -> datetime:
    now = utcnow()
    if day >= to_local(now).date():
        return now
    # An opening entered afterwards: noon of that day, local time.
    return datetime.combine(day, time(12, 0), tzinfo=local_zone()).astimezone(UTC)


def record_opening(opening: OpinionBoxOpening, *, by, slips: list[str] = ()) -> OpinionBoxOpening:
    """Log one opening and register each slip as an anonymous letter with channel 意见箱."""
    ensure_permission(by, "reception.manage")
    box = opening.box
    if box is None:
        raise ValidationFailed(_("请选择意见箱"), field="box")
    if opening.opened_on is None:
        raise ValidationFailed(_("请填写开启日期"), field="opened_on")
    if opening.opened_on > to_local(utcnow()).date():
        raise ValidationFailed(_("开启日期不能晚于今天"), field="opened_on")
    if opening.slip_count is None or opening.slip_count < 0:
        raise ValidationFailed(_("意见条数量不能为负数"), field="slip_count")
    slips = [slip for slip in slips if slip.strip()]
    if slips and len(slips) != opening.slip_count:
        raise ValidationFailed(
            _(
                "意见条数量填写为 %(count)s，但录入了 %(entered)s 条内容（每条之间空一行）",
                count=opening.slip_count,
                entered=len(slips),
            ),
            field="slips",
        )
    opening.opener = opening.opener or box.opener or by
    opening.created_by_id = by.id
    db.session.add(opening)
    db.session.flush()
    received_at = _received_at(opening.opened_on)
    for text in slips:
        first_line = text.strip().splitlines()[0].strip().rstrip(_SENTENCE_END) or text.strip()
        subject = (
            first_line if len(first_line) <= SUBJECT_LENGTH else first_line[:SUBJECT_LENGTH] + "…"
        )
        letter = Letter(
            received_at=received_at,
            form=LetterForm.paper,
            origin=LetterOrigin.direct,
            summary=f"{box.name} {opening.opened_on.isoformat()} 开箱",
        )
        new_case = Case(
            channel=CaseChannel.opinion_box,
            subject=subject,
            content=text,
            received_at=received_at,
            is_anonymous=True,
            head_count=1,
        )
        register_contact(letter, by=by, new_case=new_case)
        opening.cases.append(letter.case)
    last = _last_opening_day(box) or opening.opened_on
    box.next_due_on = max(last, opening.opened_on) + timedelta(days=box.interval_days)
    db.session.flush()
    return opening
