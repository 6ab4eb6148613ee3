"""Settings that administrators change in the admin (number pattern, time zone, limits)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from . import db
from .enums import OutOfScopePolicy
from .mixins import TimestampMixin
from .texts import lazy_gettext as _l

#: key -> (default value, Chinese name shown in the admin). Values are stored as text codes
#: (other code reads them); ``SETTING_SPECS`` says what kind of value each one is.
DEFAULT_SETTINGS: dict[str, tuple[str, str]] = {
    "case_number_pattern": ("XF{year}-{seq:06d}", _l("登记编号格式")),
    "organisation_name": ("示范县人民政府信访局", _l("本机关名称")),
    "attachment_max_mb": ("20", _l("单个附件大小上限（MB）")),
    "leader_reading": ("all", _l("领导阅批范围")),
    "reply_by": ("office", _l("答复由谁作出")),
    "close_requires_sign_off": ("1", _l("办结须领导签批")),
    "review_request_days": ("30", _l("收到书面答复（复查意见）后申请复查（复核）的期限（日）")),
    "review_body_name": ("示范县人民政府", _l("答复意见书中写明的复查机关（上一级行政机关）")),
    "re_review_body_name": ("示范市人民政府", _l("复查意见书中写明的复核机关")),
    "register_background_rows": (
        # About 20 ms a row: 50 rows render in about a second; a larger register is a job
        # whose page shows the pages laid out so far.
        "50",
        _l("台账超过此行数时在后台生成（显示进度，完成后下载）"),
    ),
    "due_soon_working_days": ("2", _l("“即将到期”提前的工作日数")),
    "roll_deadline_to_working_day": (
        "1",
        _l("以日计算的期限末日为休息日时顺延至下一工作日"),
    ),
    "out_of_scope_policy": ("transfer", _l("不属本单位职责的事项如何处理")),
    "leaders_register_title": ("领导接待来访登记表", _l("领导接待日登记表的标题")),
    "petitioner_messages": ("sms_first", _l("信访人告知（受理、转送、延期、答复）的发送方式")),
}


class SettingKind(StrEnum):
    """What kind of value a setting holds, and so which input edits it."""

    choice = "choice"
    number = "number"
    date = "date"
    yes_no = "yes_no"
    text = "text"
    #: Text with ``{year}`` and ``{seq}`` placeholders (the registration number).
    number_pattern = "number_pattern"


@dataclass(frozen=True)
class SettingSpec:
    """The type of one setting: its kind, the values it may take and a help line."""

    kind: SettingKind
    help: str = ""
    #: (stored code, Chinese title) of a choice.
    choices: tuple[tuple[str, str], ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    max_length: int = 200

    def title_of(self, value: str) -> str:
        """The Chinese title of a stored value (the value itself when it has none)."""
        for code, title in self.choices:
            if code == value:
                return str(title)
        return value


YES_NO = (("1", _l("是")), ("0", _l("否")))

#: key -> type. A key without an entry is free text (settings added later stay editable).
SETTING_SPECS: dict[str, SettingSpec] = {
    "case_number_pattern": SettingSpec(
        SettingKind.number_pattern,
        _l("{year} 为年份，{seq} 为序号（{seq:06d} 补足6位），必须包含 {seq}"),
        max_length=60,
    ),
    "organisation_name": SettingSpec(
        SettingKind.text, _l("文书抬头和落款使用的机关全称"), max_length=60
    ),
    "attachment_max_mb": SettingSpec(
        SettingKind.number, _l("超过此大小的附件不能上传"), minimum=1, maximum=60
    ),
    "leader_reading": SettingSpec(
        SettingKind.choice,
        _l("哪些事项交办前须经领导批示"),
        choices=(("all", _l("全部事项")), ("important", _l("仅重要、紧急事项"))),
    ),
    "reply_by": SettingSpec(
        SettingKind.choice,
        _l("审核通过后由谁答复信访人"),
        choices=(
            ("office", _l("办公室统一答复")),
            ("department", _l("承办部门直接答复")),
        ),
    ),
    "close_requires_sign_off": SettingSpec(
        SettingKind.yes_no, _l("是：领导签批后办结；否：办公室直接办结"), choices=YES_NO
    ),
    "review_request_days": SettingSpec(
        SettingKind.number, _l("告知书和答复意见书中写明的期限"), minimum=1, maximum=365
    ),
    "review_body_name": SettingSpec(
        SettingKind.text, _l("写入答复意见书的复查机关名称"), max_length=60
    ),
    "re_review_body_name": SettingSpec(
        SettingKind.text, _l("写入复查意见书的复核机关名称"), max_length=60
    ),
    "register_background_rows": SettingSpec(
        SettingKind.number,
        _l("较小的台账直接下载，较大的在后台生成"),
        minimum=50,
        maximum=5000,
    ),
    "due_soon_working_days": SettingSpec(
        SettingKind.number,
        _l("距期限不足此工作日数的事项列入“即将到期”"),
        minimum=0,
        maximum=30,
    ),
    "roll_deadline_to_working_day": SettingSpec(
        SettingKind.yes_no, _l("按《信访工作条例》以日计算的期限顺延"), choices=YES_NO
    ),
    "out_of_scope_policy": SettingSpec(
        SettingKind.choice,
        _l("各单位可在单位设置中另行规定"),
        choices=tuple(OutOfScopePolicy.choices()),
    ),
    "leaders_register_title": SettingSpec(
        SettingKind.text,
        _l("如法院可改为“院长、副院长接待上访当事人登记表”"),
        max_length=40,
    ),
    "petitioner_messages": SettingSpec(
        SettingKind.choice,
        _l("文字在“设置 → 通知模板”中编辑；匿名事项不发送"),
        choices=(
            ("sms_first", _l("有手机号发短信，否则发邮件")),
            ("email_first", _l("有邮箱发邮件，否则发短信")),
            ("sms_only", _l("仅短信")),
            ("email_only", _l("仅邮件")),
            ("off", _l("不发送")),
        ),
    ),
}


def setting_spec(key: str) -> SettingSpec:
    return SETTING_SPECS.get(key, SettingSpec(SettingKind.text))


#: Allowed values of the settings that are a choice (derived from ``SETTING_SPECS``).
SETTING_CHOICES: dict[str, tuple[str, ...]] = {
    key: tuple(code for code, _title in spec.choices)
    for key, spec in SETTING_SPECS.items()
    if spec.choices
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
        """One setting's value; the first read in a session loads every setting in one query.

        The values live in the session's info, so they go with the session at the end of the
        request; a flush that writes a setting, a commit and a rollback forget them, so a value
        saved in this request is read again, and so is every value in the next transaction."""
        values = db.session.info.get("system_settings")
        if values is None or key not in values:
            values = {name: default for name, (default, _label) in DEFAULT_SETTINGS.items()}
            values.update(dict(db.session.execute(sa.select(cls.key, cls.value)).all()))
            db.session.info["system_settings"] = values
        if key not in values:
            return DEFAULT_SETTINGS[key][0]
        return values[key]


def forget_settings(session) -> None:
    session.info.pop("system_settings", None)


@sa.event.listens_for(sa.orm.Session, "after_flush")
def _setting_written(session, _flush_context):
    if any(
        isinstance(row, SystemSetting) for row in (*session.new, *session.dirty, *session.deleted)
    ):
        forget_settings(session)


@sa.event.listens_for(sa.orm.Session, "after_commit")
def _committed(session):
    forget_settings(session)


@sa.event.listens_for(sa.orm.Session, "after_soft_rollback")
def _rolled_back(session, _previous_transaction):
    forget_settings(session)
