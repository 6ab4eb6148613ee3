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
