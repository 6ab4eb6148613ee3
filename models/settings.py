"""Settings that administrators change in the admin (number pattern, time zone, limits)."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column

from . import db
from .mixins import TimestampMixin

#: key -> (default value, label shown in the admin)
DEFAULT_SETTINGS: dict[str, tuple[str, str]] = {
    "case_number_pattern": ("XF{year}-{seq:06d}", _l("登记编号格式（{year} 年份，{seq} 序号）")),
    "organisation_name": ("示范县人民政府信访局", _l("本机关名称")),
    "attachment_max_mb": ("20", _l("单个附件大小上限（MB）")),
    "leader_reading": ("all", _l("领导阅批范围：all 全部事项 / important 仅重要事项")),
    "reply_by": ("office", _l("答复由谁作出：office 办公室统一答复 / department 承办部门直接答复")),
    "close_requires_sign_off": ("1", _l("办结须领导签批：1 是 / 0 否")),
    "review_request_days": ("30", _l("收到书面答复（复查意见）后申请复查（复核）的期限（日）")),
    "review_body_name": ("示范县人民政府", _l("答复意见书中写明的复查机关（上一级行政机关）")),
    "re_review_body_name": ("示范市人民政府", _l("复查意见书中写明的复核机关")),
    "register_background_rows": (
        "500",
        _l("台账超过此行数时在后台生成（显示进度，完成后下载）"),
    ),
    "due_soon_working_days": ("2", _l("“即将到期”提前的工作日数")),
    "roll_deadline_to_working_day": (
        "1",
        _l("以日计算的期限末日为休息日时顺延至下一工作日：1 是 / 0 否"),
    ),
    "out_of_scope_policy": (
        "transfer",
        _l("不属本单位职责的事项：transfer 转送并告知 / return_only 退回 / via_office 送办公室"),
    ),
}

#: Allowed values of the settings that are a choice.
SETTING_CHOICES: dict[str, tuple[str, ...]] = {
    "leader_reading": ("all", "important"),
    "reply_by": ("office", "department"),
    "close_requires_sign_off": ("1", "0"),
    "roll_deadline_to_working_day": ("1", "0"),
    "out_of_scope_policy": ("transfer", "return_only", "via_office"),
}


class SystemSetting(TimestampMixin, db.Model):
    __tablename__ = "system_settings"

    key: Mapped[str] = mapped_column(sa.String(60), primary_key=True)
    value: Mapped[str] = mapped_column(sa.String(500))
    description: Mapped[str | None] = mapped_column(sa.String(200))

    def __str__(self) -> str:
        return self.key

    @classmethod
    def get(cls, key: str) -> str:
        # The identity map holds rows weakly; keeping them in the session's info makes repeated
        # reads within a request free. A commit expires them, so a changed value is re-read.
        rows = db.session.info.setdefault("system_settings", {})
        row = rows.get(key)
        if row is None:
            row = db.session.get(cls, key)
            if row is None:
                return DEFAULT_SETTINGS[key][0]
            rows[key] = row
        return row.value
