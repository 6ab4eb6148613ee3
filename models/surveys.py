"""Satisfaction surveys (满意度调查) and rectification orders (整改通知/整改单).

A template lists the rated items (the 8-item owner survey of 业主意见调查和回访制度 ships as one);
a campaign is one round of the survey; each returned form is a response with one rating per item.
Rectification orders come from two places: a callback that found the problem still there (a
written notice to the repair staff within 24 hours) and a survey's weakest items.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .base import UTCDateTime, local_zone, utcnow
from .enums import RectificationSource, Satisfaction, enum_column
from .mixins import CreatedByMixin, TimestampMixin

#: The owner opinion survey's items (requirements.md §1.17, S17).
OWNER_SURVEY_NAME = "业主意见调查表"
OWNER_SURVEY_ITEMS = [
    "供电管理",
    "供水管理",
    "消防治安管理",
    "卫生管理",
    "绿化管理",
    "公共设施管理",
    "维修服务",
    "服务态度",
]


class SurveyTemplate(TimestampMixin, CreatedByMixin, db.Model):
    __tablename__ = "survey_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    description: Mapped[str | None] = mapped_column(sa.Text)
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)

    items = relationship(
        "SurveyItem",
        back_populates="template",
        order_by="SurveyItem.sort_order, SurveyItem.id",
        cascade="all, delete-orphan",
    )

    def __str__(self) -> str:
        return self.name


class SurveyItem(db.Model):
    __tablename__ = "survey_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(
        sa.ForeignKey("survey_templates.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(sa.String(100))
    sort_order: Mapped[int] = mapped_column(default=0, nullable=False)

    template = relationship("SurveyTemplate", back_populates="items")

    def __str__(self) -> str:
        return self.title


class SurveyCampaign(TimestampMixin, CreatedByMixin, db.Model):
    """One round of a survey, e.g. the 2026 annual owner survey."""

    __tablename__ = "survey_campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(
        sa.ForeignKey("survey_templates.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(100))
    starts_on: Mapped[date] = mapped_column(sa.Date)
    ends_on: Mapped[date | None] = mapped_column(sa.Date)
    forms_sent: Mapped[int | None] = mapped_column()
    unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("units.id", ondelete="SET NULL"))
    #: 报送业主委员会: when the report and rectification plan went to the owners' committee.
    reported_to_committee_on: Mapped[date | None] = mapped_column(sa.Date)
    note: Mapped[str | None] = mapped_column(sa.Text)

    template = relationship("SurveyTemplate", lazy="select")
    unit = relationship("Unit", lazy="select")

    __table_args__ = (
        sa.CheckConstraint("forms_sent IS NULL OR forms_sent >= 0", name="forms_sent_not_negative"),
    )

    def __str__(self) -> str:
        return self.name


class SurveyResponse(TimestampMixin, CreatedByMixin, db.Model):
    """One returned form, typed in by staff."""

    __tablename__ = "survey_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        sa.ForeignKey("survey_campaigns.id", ondelete="CASCADE"), index=True
    )
    #: The number printed or written on the paper form (问卷编号); unique within the campaign, so
    #: a spreadsheet imported twice is refused instead of counting every form twice.
    form_number: Mapped[str | None] = mapped_column(sa.String(40))
    respondent: Mapped[str | None] = mapped_column(sa.String(100))
    returned_on: Mapped[date] = mapped_column(sa.Date)
    opinion: Mapped[str | None] = mapped_column(sa.Text)

    campaign = relationship("SurveyCampaign", lazy="select")
    answers = relationship("SurveyAnswer", back_populates="response", cascade="all, delete-orphan")

    __table_args__ = (
        sa.UniqueConstraint("campaign_id", "form_number", name="uq_survey_form_number"),
    )

    def __str__(self) -> str:
        return f"问卷 #{self.id}"


class SurveyAnswer(db.Model):
    __tablename__ = "survey_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(
        sa.ForeignKey("survey_responses.id", ondelete="CASCADE"), index=True
    )
    item_id: Mapped[int] = mapped_column(
        sa.ForeignKey("survey_items.id", ondelete="CASCADE"), index=True
    )
    rating: Mapped[Satisfaction] = mapped_column(enum_column(Satisfaction, "satisfaction"))

    response = relationship("SurveyResponse", back_populates="answers")
    item = relationship("SurveyItem", lazy="select")

    __table_args__ = (sa.UniqueConstraint("response_id", "item_id", name="uq_answer_per_item"),)


class RectificationOrder(TimestampMixin, CreatedByMixin, db.Model):
    """A written rectification notice (整改通知) with its deadlines."""

    __tablename__ = "rectification_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[RectificationSource] = mapped_column(
        enum_column(RectificationSource, "rectification_source")
    )
    case_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True
    )
    callback_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("callbacks.id", ondelete="CASCADE"), index=True
    )
    campaign_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("survey_campaigns.id", ondelete="CASCADE"), index=True
    )
    item_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("survey_items.id", ondelete="SET NULL")
    )
    unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("units.id", ondelete="SET NULL"))
    #: Who must fix it: the repair staff or the department, as written on the notice.
    addressee: Mapped[str] = mapped_column(sa.String(100))
    content: Mapped[str] = mapped_column(sa.Text)
    #: The written notice is due within 24 hours of the callback (回访工作制度 四).
    notice_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_on: Mapped[date] = mapped_column(sa.Date)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[str | None] = mapped_column(sa.Text)

    case = relationship("Case", lazy="select")
    callback = relationship("Callback", lazy="select")
    campaign = relationship("SurveyCampaign", lazy="select")
    item = relationship("SurveyItem", lazy="select")
    unit = relationship("Unit", lazy="select")

    def __str__(self) -> str:
        return f"整改通知 #{self.id}"

    @property
    def is_overdue(self) -> bool:
        if self.completed_at is not None:
            return False
        now = utcnow()
        if self.issued_at is None and self.notice_due_at is not None and now > self.notice_due_at:
            return True
        return now.astimezone(local_zone()).date() > self.due_on

    @property
    def state_title(self) -> str:
        """已整改 / 已逾期 / 整改中, as the results page and the survey report print it."""
        from flask_babel import gettext as _

        if self.completed_at is not None:
            return _("已整改")
        return _("已逾期") if self.is_overdue else _("整改中")
