"""统计 → 概况: counts by channel, status, category and unit for a period."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from flask import request
from flask_admin import BaseView, expose
from flask_babel import gettext as _
from flask_login import current_user

from models import Callback, Case, Category, Unit, db
from models.base import local_zone, utcnow
from models.enums import CaseChannel, CaseStatus, Satisfaction

from .base import case_scope
from .filters import _local_midnight_utc


def _parse_day(text: str | None, fallback: date) -> date:
    try:
        return date.fromisoformat(text) if text else fallback
    except ValueError:
        return fallback


class StatsView(BaseView):
    def is_accessible(self) -> bool:
        return current_user.is_authenticated and current_user.has_permission("stats.view")

    def inaccessible_callback(self, name, **kwargs):
        from flask import abort, redirect, url_for

        if not current_user.is_authenticated:
            return redirect(url_for("admin.login_view"))
        abort(403)

    @expose("/")
    def index(self):
        today = utcnow().astimezone(local_zone()).date()
        start = _parse_day(request.args.get("start"), today.replace(month=1, day=1))
        end = _parse_day(request.args.get("end"), today)
        error = None
        if end < start:
            error = _("结束日期不能早于开始日期，已按开始日期统计一天。")
            end = start
        period = sa.and_(
            Case.received_at >= _local_midnight_utc(start),
            Case.received_at < _local_midnight_utc(end + timedelta(days=1)),
            Case.is_deleted.is_(False),
            case_scope(current_user),
        )

        def grouped(column):
            return db.session.execute(
                sa.select(column, sa.func.count(), sa.func.sum(Case.head_count))
                .where(period)
                .group_by(column)
                .order_by(sa.func.count().desc())
            ).all()

        by_channel = [(CaseChannel.title_of(k), n, p) for k, n, p in grouped(Case.channel)]
        by_status = [(CaseStatus.title_of(k), n, p) for k, n, p in grouped(Case.status)]
        category_names = dict(db.session.execute(sa.select(Category.id, Category.name)).all())
        unit_names = dict(db.session.execute(sa.select(Unit.id, Unit.name)).all())
        by_category = [
            (category_names.get(k, _("未分类")), n, p) for k, n, p in grouped(Case.category_id)
        ]
        by_unit = [
            (unit_names.get(k, _("未交办")), n, p) for k, n, p in grouped(Case.handling_unit_id)
        ]
        satisfaction = db.session.execute(
            sa.select(Callback.satisfaction, sa.func.count())
            .join(Case, Case.id == Callback.case_id)
            .where(period, Callback.satisfaction.is_not(None), Callback.is_deleted.is_(False))
            .group_by(Callback.satisfaction)
        ).all()
        sat_counts = {Satisfaction(k): n for k, n in satisfaction}
        answered = sum(sat_counts.values())
        satisfied = sat_counts.get(Satisfaction.satisfied, 0) + sat_counts.get(
            Satisfaction.basically_satisfied, 0
        )
        total_batches = sum(n for _k, n, _p in by_channel)
        total_people = sum(p or 0 for _k, _n, p in by_channel)
        return self.render(
            "admin/stats/index.html",
            start=start,
            end=end,
            error=error,
            by_channel=by_channel,
            by_status=by_status,
            by_category=by_category,
            by_unit=by_unit,
            total_batches=total_batches,
            total_people=total_people,
            sat_counts=[(s.title, sat_counts.get(s, 0)) for s in Satisfaction],
            satisfaction_rate=(satisfied / answered * 100) if answered else None,
        )
