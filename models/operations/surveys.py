"""Satisfaction surveys: templates, returned forms, results and rectification orders."""

from __future__ import annotations

import logging
from datetime import date

import sqlalchemy as sa
from flask_babel import gettext as _

from .. import db
from ..base import to_local, utcnow
from ..enums import RectificationSource, Satisfaction
from ..policies import can_view_survey_campaign
from ..surveys import (
    OWNER_SURVEY_ITEMS,
    OWNER_SURVEY_NAME,
    RectificationOrder,
    SurveyAnswer,
    SurveyCampaign,
    SurveyItem,
    SurveyResponse,
    SurveyTemplate,
)
from . import NotPermitted, ValidationFailed
from .guards import ensure_permission, ensure_unit_assignable

logger = logging.getLogger(__name__)

SATISFIED = (Satisfaction.satisfied, Satisfaction.basically_satisfied)


def ensure_owner_survey_template() -> SurveyTemplate:
    """The 8-item owner opinion survey (业主意见调查和回访制度 一) ships as a template."""
    template = db.session.scalar(
        sa.select(SurveyTemplate).where(SurveyTemplate.name == OWNER_SURVEY_NAME)
    )
    if template is None:
        template = SurveyTemplate(
            name=OWNER_SURVEY_NAME,
            description="每年至少一次；逐项评价满意、基本满意或不满意，并填写意见和建议。",
        )
        for order, title in enumerate(OWNER_SURVEY_ITEMS, start=1):
            template.items.append(SurveyItem(title=title, sort_order=order * 10))
        db.session.add(template)
        db.session.flush()
    return template


def check_campaign(campaign: SurveyCampaign, *, by) -> None:
    ensure_permission(by, "survey.manage")
    ensure_unit_assignable(campaign.unit, by)
    if campaign.template is None:
        raise ValidationFailed(_("请选择问卷模板"), field="template")
    if not campaign.template.items:
        raise ValidationFailed(_("所选问卷模板还没有评价项目"), field="template")
    if campaign.ends_on is not None and campaign.ends_on < campaign.starts_on:
        raise ValidationFailed(_("结束日期不能早于开始日期"), field="ends_on")


def record_survey_response(
    campaign: SurveyCampaign,
    *,
    by,
    ratings: dict[int, Satisfaction | None],
    returned_on: date | None = None,
    respondent: str | None = None,
    opinion: str | None = None,
) -> SurveyResponse:
    """Enter one returned form; items left blank on the paper are simply not rated."""
    ensure_permission(by, "survey.manage")
    _ensure_campaign_visible(campaign, by=by)
    today = to_local(utcnow()).date()
    returned_on = returned_on or today
    if returned_on > today:
        raise ValidationFailed(_("回收日期不能晚于今天"), field="returned_on")
    if returned_on < campaign.starts_on:
        raise ValidationFailed(_("回收日期不能早于调查开始日期"), field="returned_on")
    items = {item.id for item in campaign.template.items}
    unknown = set(ratings) - items
    if unknown:
        raise ValidationFailed(_("评价项目不属于本次调查的问卷"))
    answered = {item_id: rating for item_id, rating in ratings.items() if rating is not None}
    if not answered and not (opinion or "").strip():
        raise ValidationFailed(_("这份问卷既没有评价也没有意见，请检查后再录入"))
    response = SurveyResponse(
        campaign=campaign,
        respondent=(respondent or "").strip() or None,
        returned_on=returned_on,
        opinion=(opinion or "").strip() or None,
        created_by_id=by.id,
    )
    for item_id, rating in answered.items():
        response.answers.append(SurveyAnswer(item_id=item_id, rating=Satisfaction(rating)))
    db.session.add(response)
    db.session.flush()
    logger.info("survey %s response %s entered by user %s", campaign.id, response.id, by.id)
    return response


def delete_survey_response(response: SurveyResponse, *, by) -> None:
    ensure_permission(by, "survey.manage")
    _ensure_campaign_visible(response.campaign, by=by)
    logger.info("survey response %s deleted by user %s", response.id, by.id)
    db.session.delete(response)
    db.session.flush()


def _ensure_campaign_visible(campaign: SurveyCampaign, *, by) -> None:
    if not can_view_survey_campaign(by, campaign):
        raise NotPermitted(_("该调查不存在或您无权查看"))


def _rate(satisfied: int, answered: int) -> float | None:
    return satisfied / answered * 100 if answered else None


def campaign_results(campaign: SurveyCampaign) -> dict:
    """Returned forms, overall and per-item satisfaction, common opinions; aggregate SQL only."""
    returned = db.session.scalar(
        sa.select(sa.func.count(SurveyResponse.id)).where(SurveyResponse.campaign_id == campaign.id)
    )
    satisfied_case = sa.case((SurveyAnswer.rating.in_(SATISFIED), 1), else_=0)
    rows = db.session.execute(
        sa.select(
            SurveyItem.id,
            SurveyItem.title,
            sa.func.count(SurveyAnswer.id),
            sa.func.coalesce(sa.func.sum(satisfied_case), 0),
            sa.func.count(SurveyAnswer.id).filter(SurveyAnswer.rating == Satisfaction.satisfied),
            sa.func.count(SurveyAnswer.id).filter(SurveyAnswer.rating == Satisfaction.dissatisfied),
        )
        .select_from(SurveyItem)
        .outerjoin(
            sa.join(SurveyAnswer, SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id),
            sa.and_(
                SurveyAnswer.item_id == SurveyItem.id, SurveyResponse.campaign_id == campaign.id
            ),
        )
        .where(SurveyItem.template_id == campaign.template_id)
        .group_by(SurveyItem.id, SurveyItem.title, SurveyItem.sort_order)
        .order_by(SurveyItem.sort_order, SurveyItem.id)
    ).all()
    items = [
        {
            "id": item_id,
            "title": title,
            "answered": answered,
            "satisfied": satisfied,
            "fully_satisfied": fully,
            "dissatisfied": unhappy,
            "rate": _rate(satisfied, answered),
        }
        for item_id, title, answered, satisfied, fully, unhappy in rows
    ]
    answered_total = sum(item["answered"] for item in items)
    satisfied_total = sum(item["satisfied"] for item in items)
    rated = [item for item in items if item["rate"] is not None]
    weakest = sorted(rated, key=lambda item: (item["rate"], item["id"]))[:3]
    opinions = db.session.execute(
        sa.select(SurveyResponse.opinion, sa.func.count())
        .where(SurveyResponse.campaign_id == campaign.id, SurveyResponse.opinion.is_not(None))
        .group_by(SurveyResponse.opinion)
        .order_by(sa.func.count().desc(), SurveyResponse.opinion)
        .limit(10)
    ).all()
    return {
        "returned": returned,
        "answered": answered_total,
        "satisfied": satisfied_total,
        "overall_rate": _rate(satisfied_total, answered_total),
        "items": items,
        "weakest": weakest,
        "opinions": [(text, count) for text, count in opinions],
    }


def order_rectification(
    campaign: SurveyCampaign,
    *,
    by,
    item: SurveyItem | None,
    addressee: str | None,
    content: str | None,
    due_on: date | None,
    unit=None,
) -> RectificationOrder:
    """A rectification order with a deadline for a weak survey item (S17 step 3)."""
    ensure_permission(by, "survey.manage")
    _ensure_campaign_visible(campaign, by=by)
    if item is None or item.template_id != campaign.template_id:
        raise ValidationFailed(_("请选择本次调查的评价项目"), field="item")
    addressee = (addressee or "").strip()
    if not addressee:
        raise ValidationFailed(_("请填写整改责任部门或人员"), field="addressee")
    content = (content or "").strip()
    if not content:
        raise ValidationFailed(_("请填写整改要求"), field="content")
    today = to_local(utcnow()).date()
    if due_on is None:
        raise ValidationFailed(_("请填写整改期限"), field="due_on")
    if due_on < today:
        raise ValidationFailed(_("整改期限不能早于今天"), field="due_on")
    order = RectificationOrder(
        source=RectificationSource.survey,
        campaign=campaign,
        item=item,
        unit=unit,
        addressee=addressee,
        content=content,
        due_on=due_on,
        issued_at=utcnow(),
        created_by_id=by.id,
    )
    db.session.add(order)
    db.session.flush()
    logger.info("survey %s rectification %s ordered by user %s", campaign.id, order.id, by.id)
    return order
