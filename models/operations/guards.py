"""Small guards shared by the operations."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import gettext as _

from ..base import utcnow
from ..policies import accepts_additions, can_see_live_case, may_assign_to_unit
from . import NotPermitted, ValidationFailed

#: Clocks drift; a received time a few minutes ahead is a typo-free "now", not the future.
_FUTURE_TOLERANCE = timedelta(minutes=5)


def ensure_permission(user, permission: str) -> None:
    if user is None or not user.has_permission(permission):
        raise NotPermitted(_("您没有执行此操作的权限"))


def ensure_case_visible(case, user) -> None:
    if not can_see_live_case(user, case):
        raise ValidationFailed(_("所选信访事项不存在或您无权查看"), field="case")


def ensure_accepts_additions(case) -> None:
    if case is not None and not accepts_additions(case):
        raise ValidationFailed(
            _("事项%(number)s已销毁，只保留销毁记录，不能再添加或修改内容", number=case.number),
            field="case",
        )


def ensure_not_future(value: datetime | None, field: str, label: str) -> None:
    if value is not None and value > utcnow() + _FUTURE_TOLERANCE:
        raise ValidationFailed(_("%(label)s不能晚于当前时间", label=label), field=field)


def ensure_unit_assignable(unit, user, field: str = "unit") -> None:
    """A department user may only give a record to their own unit (``policies``)."""
    if not may_assign_to_unit(user, unit):
        raise ValidationFailed(_("只能选择本单位，其他单位的事务由其自行设置"), field=field)
