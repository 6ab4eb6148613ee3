"""Retention (保存期限) and destruction (销毁) of records.

A retention rule says how many years a case is kept after it reaches an outcome, by category
(or any) and outcome (or any). The most specific rule wins: a rule on the case's own category
beats one on a parent category, which beats "any category"; then a rule for the exact outcome
beats "any outcome". With no rule at all a case is kept :data:`DEFAULT_RETENTION_YEARS` years.

Callback records are kept :data:`CALLBACK_RETENTION_YEARS` years from when they were made
(000 用户访问管理制度 8), whatever the rules say: a case cannot be destroyed while one of its
callback records is still inside that period.

The computations are written once here; ``models.operations.retention`` applies them.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .base import UTCDateTime, to_local, utcnow
from .categories import Category
from .enums import CaseStatus, RetentionOutcome, enum_column
from .mixins import TimestampMixin

#: Years a case is kept when no rule matches (requirements T65: 5 years).
DEFAULT_RETENTION_YEARS = 5
#: Years a callback record must be kept (000 用户访问管理制度 8: 5 years).
CALLBACK_RETENTION_YEARS = 5
#: How deep a category tree may go before the ancestor walk gives up (guards a cycle).
MAX_CATEGORY_DEPTH = 20

S = CaseStatus
#: Which retention outcome each finished state counts as; open states have none.
OUTCOME_OF_STATUS = {
    S.closed: RetentionOutcome.closed,
    S.archived: RetentionOutcome.closed,
    S.merged: RetentionOutcome.closed,
    S.not_accepted: RetentionOutcome.not_accepted,
    S.no_longer_accepted: RetentionOutcome.not_accepted,
    S.transferred: RetentionOutcome.transferred,
    S.returned: RetentionOutcome.transferred,
    S.kept: RetentionOutcome.kept,
    S.destroyed: RetentionOutcome.kept,
}


class RetentionRule(TimestampMixin, db.Model):
    """保存期限规则: category (or any) × outcome (or any) → years."""

    __tablename__ = "retention_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    category_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("categories.id", ondelete="CASCADE"), index=True
    )
    outcome: Mapped[RetentionOutcome] = mapped_column(
        enum_column(RetentionOutcome, "retention_outcome"),
        default=RetentionOutcome.any,
        nullable=False,
    )
    years: Mapped[int] = mapped_column(sa.SmallInteger, nullable=False)
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)
    note: Mapped[str | None] = mapped_column(sa.String(200))

    category = relationship("Category", lazy="select")

    __table_args__ = (sa.CheckConstraint("years >= 0 AND years <= 100", name="years_range"),)

    def __str__(self) -> str:
        return self.name


class DestructionBatch(db.Model):
    """One destruction run (销毁批次): its criteria, who ran it, when, how many cases.

    The cases it destroyed point to it (``Case.destruction_batch_id``); they keep only their
    tombstone (number, dates, region and year)."""

    __tablename__ = "destruction_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(40), unique=True)
    #: The criteria it was run with; both empty when staff picked the cases one by one.
    kept_year: Mapped[int | None] = mapped_column(sa.SmallInteger)
    kept_region: Mapped[str | None] = mapped_column(sa.String(60))
    case_count: Mapped[int] = mapped_column(default=0, nullable=False)
    note: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )

    created_by = relationship("User", lazy="select")
    cases = relationship(
        "Case",
        primaryjoin="Case.destruction_batch_id == DestructionBatch.id",
        foreign_keys="Case.destruction_batch_id",
        order_by="Case.number",
        viewonly=True,
        lazy="select",
    )

    @property
    def criteria(self) -> str:
        parts = []
        if self.kept_year:
            parts.append(_("%(year)s年", year=self.kept_year))
        if self.kept_region:
            parts.append(self.kept_region)
        return "，".join(parts) if parts else _("按所选事项")

    def __str__(self) -> str:
        return self.number


def outcome_of(case) -> RetentionOutcome | None:
    """The retention outcome of ``case``'s state; ``None`` while it is still open."""
    return OUTCOME_OF_STATUS.get(case.status)


def _category_chain(category_id: int | None) -> list[int]:
    """The category and its ancestors, nearest first."""
    chain: list[int] = []
    if category_id is None:
        return chain
    parents = dict(db.session.execute(sa.select(Category.id, Category.parent_id)).all())
    current = category_id
    while current is not None and current not in chain and len(chain) < MAX_CATEGORY_DEPTH:
        chain.append(current)
        current = parents.get(current)
    return chain


def matching_rule(category_id: int | None, outcome: RetentionOutcome) -> RetentionRule | None:
    """The most specific active rule for a category and outcome, or ``None``."""
    chain = _category_chain(category_id)
    rules = db.session.scalars(
        sa.select(RetentionRule)
        .where(RetentionRule.is_active.is_(True))
        .where(RetentionRule.outcome.in_([RetentionOutcome.any, outcome]))
        .order_by(RetentionRule.id)
    ).all()
    best, best_score = None, None
    for rule in rules:
        if rule.category_id is None:
            distance = len(chain) + 1
        elif rule.category_id in chain:
            distance = chain.index(rule.category_id)
        else:
            continue
        score = (distance, 0 if rule.outcome == outcome else 1)
        if best_score is None or score < best_score:
            best, best_score = rule, score
    return best


def retention_years(category_id: int | None, outcome: RetentionOutcome) -> int:
    rule = matching_rule(category_id, outcome)
    return rule.years if rule is not None else DEFAULT_RETENTION_YEARS


def add_years(day: date, years: int) -> date:
    """``day`` plus whole years; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def local_day(value: datetime | None) -> date | None:
    return to_local(value).date() if value is not None else None


def case_retain_until(case) -> date | None:
    """When ``case``'s retention ends (its outcome day plus the rule's years); ``None`` while
    it is open or before its outcome day is known."""
    outcome = outcome_of(case)
    if outcome is None or case.retention_from is None:
        return None
    return add_years(case.retention_from, retention_years(case.category_id, outcome))


def callback_retain_until(callback) -> date | None:
    """A callback record is kept five years from the day it was made (or done)."""
    made = callback.done_at or callback.created_at
    return add_years(local_day(made), CALLBACK_RETENTION_YEARS) if made else None


def today() -> date:
    return local_day(utcnow())


# --- configuration export and import (models/maintenance/configuration.py lists them) ------------


def check_retention_rule(rule: RetentionRule) -> None:
    """Raise ``ValidationFailed`` (Chinese, naming the field) for a rule that cannot work."""
    from .operations import ValidationFailed

    if not (rule.name or "").strip():
        raise ValidationFailed(_("请填写规则名称"), field="name")
    if rule.years is None or not 0 <= int(rule.years) <= 100:
        raise ValidationFailed(_("保存年限应为0到100之间的整数"), field="years")
    if rule.outcome is None:
        raise ValidationFailed(_("请选择办理结果"), field="outcome")


def export_retention_rules() -> list[dict]:
    """Every rule as a plain dict, its category by code."""
    rules = db.session.scalars(sa.select(RetentionRule).order_by(RetentionRule.id)).all()
    return [
        {
            "name": rule.name,
            "category": rule.category.code if rule.category is not None else None,
            "outcome": rule.outcome.value,
            "years": rule.years,
            "is_active": rule.is_active,
            "note": rule.note,
        }
        for rule in rules
    ]
