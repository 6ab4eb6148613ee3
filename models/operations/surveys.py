"""Satisfaction surveys: templates, returned forms, results and rectification orders."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import Counter
from datetime import date
from fractions import Fraction

import sqlalchemy as sa
from flask_babel import gettext as _

from models.texts import lazy_gettext as _l

from .. import db
from ..base import to_local, utcnow
from ..enums import SATISFIED, RectificationSource, Satisfaction
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


def returned_on_problem(campaign: SurveyCampaign, returned_on: date) -> str | None:
    """Why a form cannot have come back on ``returned_on`` (one rule for typing and import)."""
    if returned_on > to_local(utcnow()).date():
        return _("回收日期不能晚于今天")
    if returned_on < campaign.starts_on:
        return _("回收日期不能早于调查开始日期")
    return None


EMPTY_FORM = _l("这份问卷既没有评价也没有意见，请检查后再录入")


def new_survey_response(
    campaign: SurveyCampaign,
    *,
    by,
    answered: dict[int, Satisfaction],
    returned_on: date,
    respondent: str | None,
    opinion: str | None,
    form_number: str | None = None,
) -> SurveyResponse:
    """A checked form as a new row with its answers (added to the session, not flushed)."""
    response = SurveyResponse(
        campaign=campaign,
        form_number=form_number,
        respondent=(respondent or "").strip() or None,
        returned_on=returned_on,
        opinion=(opinion or "").strip() or None,
        created_by_id=by.id,
    )
    for item_id, rating in answered.items():
        response.answers.append(SurveyAnswer(item_id=item_id, rating=Satisfaction(rating)))
    db.session.add(response)
    return response


def record_survey_response(
    campaign: SurveyCampaign,
    *,
    by,
    ratings: dict[int, Satisfaction | None],
    returned_on: date | None = None,
    respondent: str | None = None,
    opinion: str | None = None,
    form_number: str | None = None,
) -> SurveyResponse:
    """Enter one returned form; items left blank on the paper are simply not rated."""
    ensure_permission(by, "survey.manage")
    ensure_campaign_visible(campaign, by=by)
    form_number = (form_number or "").strip() or None
    if form_number is not None:
        if len(form_number) > 40:
            raise ValidationFailed(_("问卷编号最长 40 个字"), field="form_number")
        if form_number_taken(campaign, form_number):
            raise ValidationFailed(
                _("问卷编号“%(number)s”已经录入过", number=form_number), field="form_number"
            )
    returned_on = returned_on or to_local(utcnow()).date()
    problem = returned_on_problem(campaign, returned_on)
    if problem:
        raise ValidationFailed(problem, field="returned_on")
    items = {item.id for item in campaign.template.items}
    unknown = set(ratings) - items
    if unknown:
        raise ValidationFailed(_("评价项目不属于本次调查的问卷"))
    answered = {item_id: rating for item_id, rating in ratings.items() if rating is not None}
    if not answered and not (opinion or "").strip():
        raise ValidationFailed(str(EMPTY_FORM))
    response = new_survey_response(
        campaign,
        by=by,
        answered=answered,
        returned_on=returned_on,
        respondent=respondent,
        opinion=opinion,
        form_number=form_number,
    )
    db.session.flush()
    logger.info("survey %s response %s entered by user %s", campaign.id, response.id, by.id)
    return response


def form_number_taken(campaign: SurveyCampaign, form_number: str) -> bool:
    return (
        db.session.scalar(
            sa.select(SurveyResponse.id).where(
                SurveyResponse.campaign_id == campaign.id,
                SurveyResponse.form_number == form_number,
            )
        )
        is not None
    )


def delete_survey_response(response: SurveyResponse, *, by) -> None:
    ensure_permission(by, "survey.manage")
    ensure_campaign_visible(response.campaign, by=by)
    logger.info("survey response %s deleted by user %s", response.id, by.id)
    db.session.delete(response)
    db.session.flush()


def ensure_campaign_visible(campaign: SurveyCampaign, *, by) -> None:
    if not can_view_survey_campaign(by, campaign):
        raise NotPermitted(_("该调查不存在或您无权查看"))


def _rate(satisfied: int, answered: int) -> float | None:
    return satisfied / answered * 100 if answered else None


# --- which items a report highlights -----------------------------------------------------------
#
# The results page, the director's PDF and the annual summary all mark the same items: they ask
# ``weakest_items`` (through ``campaign_results``, which sets ``item["weak"]``). Rates are
# compared as exact fractions, so two items at 2/3 and 4/6 tie even where floats would not.

#: How many of the lowest-rated items are highlighted (before ties at the cut are added).
WEAKEST_COUNT = 3
#: The rule in words, printed under the table on screen and in the PDF.
WEAKEST_RULE = _l(
    "标色的是满意率最低的 3 个项目；与第 3 低的满意率相同（并列）的项目一并标色；"
    "满意率为 100% 或无人评价的项目不标。"
)


def _exact_rate(item: dict) -> Fraction:
    return Fraction(item["satisfied"], item["answered"])


def weakest_items(items: list[dict]) -> list[dict]:
    """The items to highlight, lowest rate first (ties in the survey's item order)."""
    candidates = [item for item in items if item["answered"] and _exact_rate(item) < 1]
    ordered = sorted(candidates, key=_exact_rate)  # stable: ties keep the item order
    if not ordered:
        return []
    cut = _exact_rate(ordered[min(WEAKEST_COUNT, len(ordered)) - 1])
    return [item for item in ordered if _exact_rate(item) <= cut]


# --- common opinions -------------------------------------------------------------------------
#
# A form's opinion is split into clauses at sentence ends (。；！？ and line breaks), because one
# form often raises several matters. Two clauses are the same opinion when they are equal after
# NFKC normalisation (full-width and half-width forms agree), dropping punctuation, symbols
# and spaces, and lower-casing Latin letters. A group counts forms, not clauses (a form repeating
# itself counts once) and is shown in its most frequent wording. Differently worded opinions
# ("维修慢" and "维修太慢") stay apart: an exact rule the director can check against the forms.

_CLAUSE_END = re.compile(r"[。；;！!？?\n\r]+")


def opinion_key(text: str) -> str:
    normal = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in normal if unicodedata.category(ch)[0] not in "PSZC")


def _clause_text(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip(" \t\u3000,，、.。:：;；!！?？\"'“”‘’()（）")


def group_opinions(opinions: list[str]) -> list[tuple[str, int]]:
    """``(wording, number of forms)`` per distinct opinion, most frequent first."""
    forms: dict[str, int] = {}
    wordings: dict[str, Counter] = {}
    first_seen: dict[str, int] = {}
    for opinion in opinions:
        keys_in_form = set()
        for clause in _CLAUSE_END.split(opinion or ""):
            key = opinion_key(clause)
            if not key:
                continue
            wordings.setdefault(key, Counter())[_clause_text(clause)] += 1
            first_seen.setdefault(key, len(first_seen))
            keys_in_form.add(key)
        for key in keys_in_form:
            forms[key] = forms.get(key, 0) + 1
    ordered = sorted(forms, key=lambda key: (-forms[key], first_seen[key]))
    return [(wordings[key].most_common(1)[0][0], forms[key]) for key in ordered]


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
            "satisfied": int(satisfied),
            "fully_satisfied": fully,
            "dissatisfied": unhappy,
            "rate": _rate(int(satisfied), answered),
        }
        for item_id, title, answered, satisfied, fully, unhappy in rows
    ]
    answered_total = sum(item["answered"] for item in items)
    satisfied_total = sum(item["satisfied"] for item in items)
    weakest = weakest_items(items)
    weak_ids = {item["id"] for item in weakest}
    for item in items:
        item["weak"] = item["id"] in weak_ids
    opinions = db.session.scalars(
        sa.select(SurveyResponse.opinion)
        .where(SurveyResponse.campaign_id == campaign.id, SurveyResponse.opinion.is_not(None))
        .order_by(SurveyResponse.id)
    ).all()
    return {
        "returned": returned,
        "answered": answered_total,
        "satisfied": satisfied_total,
        "overall_rate": _rate(satisfied_total, answered_total),
        "items": items,
        "weakest": weakest,
        "weakest_rule": str(WEAKEST_RULE),
        "opinions": group_opinions(opinions),
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
    ensure_campaign_visible(campaign, by=by)
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


#: Opinions raised by at least this many forms are "common" (共性意见); the others are listed
#: after them, up to ``OTHER_OPINIONS_SHOWN``.
COMMON_OPINION_MIN_FORMS = 2
OTHER_OPINIONS_SHOWN = 30


#: Holding any one of these opens a survey's results and report (managing implies reading).
SURVEY_READ_PERMISSIONS = ("survey.view", "survey.manage")


def survey_report_data(campaign: SurveyCampaign, *, by) -> dict:
    """Everything the director's report shows, for the PDF (and nothing from other units)."""
    if not any(by.has_permission(name) for name in SURVEY_READ_PERMISSIONS):
        raise NotPermitted(_("您没有查看满意度调查结果的权限"))
    ensure_campaign_visible(campaign, by=by)
    from ..policies import rectification_visible_clause

    results = campaign_results(campaign)
    common = [row for row in results["opinions"] if row[1] >= COMMON_OPINION_MIN_FORMS]
    others = [row for row in results["opinions"] if row[1] < COMMON_OPINION_MIN_FORMS]
    orders = db.session.scalars(
        sa.select(RectificationOrder)
        .where(RectificationOrder.campaign_id == campaign.id, rectification_visible_clause(by))
        .order_by(RectificationOrder.due_on, RectificationOrder.id)
    ).all()
    return {
        "campaign": campaign,
        "results": results,
        "common_opinions": common,
        "other_opinions": others[:OTHER_OPINIONS_SHOWN],
        "other_opinions_more": max(0, len(others) - OTHER_OPINIONS_SHOWN),
        "orders": orders,
        "generated_at": to_local(utcnow()),
    }


def survey_report_pdf(campaign: SurveyCampaign, *, by) -> bytes:
    """The survey report for the office director (S17 step 2), as PDF."""
    from flask import render_template
    from flask_babel import force_locale

    from ..rendering.pdf import render_pdf
    from ..settings import SystemSetting

    # The printed report is a Chinese document whatever the screen's language.
    with force_locale("zh_Hans_CN"):
        data = survey_report_data(campaign, by=by)
        html = render_template(
            "documents/survey_report.html",
            organisation=SystemSetting.get("organisation_name"),
            **data,
        )
    return render_pdf(html)
