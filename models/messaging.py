"""Outgoing messages (issue 18): e-mail to staff, e-mail and SMS to petitioners.

Every message is one ``outgoing_messages`` row (recipient, channel, kind, case, status,
attempts, last error, times), written in the transaction of the event it tells about and sent
afterwards by the background worker (models/operations/notifications.py). Petitioner texts come
from ``message_templates`` (设置 → 通知模板); a kind without a row uses its built-in text.

Senders: :class:`SmtpSender` (``MAIL_*`` configuration) and an SMS gateway named by
``SMS_GATEWAY`` (a dotted path to a class with ``send(phone, text)``); the default
:class:`LoggingSmsGateway` only writes the text to the log.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import string
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Protocol

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .base import UTCDateTime, utcnow
from .enums import (  # the message enums live with the others; importable from here too
    EmailDelivery,  # noqa: F401
    MessageChannel,
    MessageKind,
    MessageStatus,
    enum_column,
)
from .mixins import TimestampMixin
from .texts import lazy_gettext as _l

logger = logging.getLogger(__name__)


#: What staff may receive by e-mail (the digest is how, not what).
STAFF_KINDS = (
    MessageKind.assignment,
    MessageKind.due_soon,
    MessageKind.overdue,
    MessageKind.escalation,
    MessageKind.callback_due,
)
PETITIONER_KINDS = (
    MessageKind.acceptance,
    MessageKind.transfer,
    MessageKind.extension,
    MessageKind.reply_ready,
)


class OutgoingMessage(db.Model):
    """One message to one recipient on one channel. Written and updated with Core statements
    (see operations/notifications.py): a delivery attempt is not a staff change, and the
    recipient's address of a 举报 case must not be copied into the audit log."""

    __tablename__ = "outgoing_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[MessageChannel] = mapped_column(enum_column(MessageChannel, "message_channel"))
    kind: Mapped[MessageKind] = mapped_column(enum_column(MessageKind, "message_kind"))
    status: Mapped[MessageStatus] = mapped_column(enum_column(MessageStatus, "message_status"))
    recipient_user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    recipient_party_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("parties.id", ondelete="SET NULL"), index=True
    )
    #: The e-mail address or phone number it goes to.
    address: Mapped[str] = mapped_column(sa.String(200))
    case_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True
    )
    subject: Mapped[str] = mapped_column(sa.String(200), default="")
    body: Mapped[str] = mapped_column(sa.Text, default="")
    attempts: Mapped[int] = mapped_column(default=0, nullable=False)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    #: When a queued or failed message is next tried (None: not automatically).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Set while a worker sends it (a claim older than a few minutes lost its worker).
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    digest_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("outgoing_messages.id", ondelete="SET NULL")
    )

    case = relationship("Case", lazy="select")
    recipient_user = relationship("User", lazy="select")
    recipient_party = relationship("Party", lazy="select")

    __table_args__ = (sa.Index("ix_outgoing_messages_due", "status", "next_attempt_at"),)

    def __str__(self) -> str:
        return f"{self.kind.title} → {self.address}"


class MessageTemplate(TimestampMixin, db.Model):
    """An office's wording of one message to petitioners."""

    __tablename__ = "message_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[MessageKind] = mapped_column(enum_column(MessageKind, "message_kind"), unique=True)
    subject: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.String(1000))
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)

    def __str__(self) -> str:
        return self.kind.title


# -- templates ------------------------------------------------------------------------------

#: Placeholder -> what it stands for. Nothing here names staff or quotes internal notes.
PLACEHOLDERS: dict[str, str] = {
    "number": _l("登记编号"),
    "query_code": _l("查询码（网上信访提交时所得；之后无法取回，显示为提示语）"),
    "deadline": _l("办理期限（日期）"),
    "unit": _l("办理或转送的机关、单位名称"),
    "date": _l("告知日期"),
    "office": _l("本机关名称（系统设置）"),
    "petitioner": _l("信访人姓名"),
}

DEFAULT_TEMPLATES: dict[MessageKind, tuple[str, str]] = {
    MessageKind.acceptance: (
        "【{office}】信访事项受理告知",
        "{petitioner}：您反映的信访事项（登记编号 {number}）已于 {date} 受理，"
        "办结期限：{deadline}。",
    ),
    MessageKind.transfer: (
        "【{office}】信访事项转送告知",
        "{petitioner}：您反映的信访事项（登记编号 {number}）已于 {date} 转送 {unit} 办理。",
    ),
    MessageKind.extension: (
        "【{office}】信访事项延期告知",
        "{petitioner}：您反映的信访事项（登记编号 {number}）办理期限已延长至 {deadline}。",
    ),
    MessageKind.reply_ready: (
        "【{office}】信访事项答复告知",
        "{petitioner}：您反映的信访事项（登记编号 {number}）已作出答复，请留意查收书面答复。",
    ),
}


def template_problem(text: str) -> str | None:
    """Why ``text`` is not a usable template (Chinese), or None."""
    unknown, bad = [], False
    try:
        for _literal, field, spec, conversion in string.Formatter().parse(text):
            if field is None:
                continue
            if field not in PLACEHOLDERS:
                unknown.append("{" + field + "}")
            elif spec or conversion:
                bad = True
    except ValueError:
        return _("花括号不成对：占位符应写成 {number} 这样的形式，文字中的花括号请写成 {{ 和 }}")
    if unknown:
        return _(
            "模板中有未知的占位符：%(unknown)s。可用的占位符：%(known)s",
            unknown="、".join(dict.fromkeys(unknown)),
            known="、".join("{" + name + "}" for name in PLACEHOLDERS),
        )
    if bad:
        return _("占位符不能带格式或转换（如 {number:>5} 或 {number!r}），请只写 {number}")
    return None


def render_template_text(text: str, values: dict[str, str]) -> str:
    """``text`` with its placeholders filled (the text was checked by template_problem)."""
    return text.format_map({name: values.get(name, "") for name in PLACEHOLDERS})


# -- senders --------------------------------------------------------------------------------


class SendFailed(Exception):
    """A message could not be handed over; the text is kept as the message's last error."""


def office_name() -> str:
    from .settings import SystemSetting

    return SystemSetting.get("organisation_name") or ""


class SmtpSender:
    """E-mail through the SMTP server of ``MAIL_SERVER``/``MAIL_PORT`` (``MAIL_USE_TLS``:
    STARTTLS, ``MAIL_USE_SSL``: TLS from the start, ``MAIL_USERNAME``/``MAIL_PASSWORD``)."""

    def __init__(self, config):
        self.host = config.get("MAIL_SERVER") or ""
        self.port = int(config.get("MAIL_PORT") or 25)
        self.use_tls = _flag(config.get("MAIL_USE_TLS"))
        self.use_ssl = _flag(config.get("MAIL_USE_SSL"))
        self.username = config.get("MAIL_USERNAME") or ""
        self.password = config.get("MAIL_PASSWORD") or ""
        self.sender = config.get("MAIL_SENDER") or ""
        self.timeout = float(config.get("MAIL_TIMEOUT") or 10)

    def send(self, address: str, subject: str, body: str) -> None:
        if not self.host or not self.sender:
            raise SendFailed("邮件服务器未配置（MAIL_SERVER、MAIL_SENDER）")
        message = EmailMessage()
        message["From"] = formataddr((office_name(), self.sender))
        message["To"] = address
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message.set_content(body)
        try:
            if self.use_ssl:
                connection = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with connection as smtp:
                if self.use_tls and not self.use_ssl:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password)
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            raise SendFailed(f"{type(error).__name__}: {error}"[:500]) from error


class SmsGateway(Protocol):
    """What ``SMS_GATEWAY`` names: built with the app's config, sends one text or raises."""

    def __init__(self, config) -> None: ...

    def send(self, phone: str, text: str) -> None: ...


class LoggingSmsGateway:
    """The default SMS gateway: writes each text to the log and sends nothing. Plug a real
    gateway with ``SMS_GATEWAY = "package.module.ClassName"``; its ``__init__`` gets the app's
    config and its ``send(phone, text)`` raises on failure."""

    sent: list[tuple[str, str]] = []

    def __init__(self, config=None):
        self.config = config

    def send(self, phone: str, text: str) -> None:
        logger.info("SMS to %s: %s", phone, text)
        LoggingSmsGateway.sent.append((phone, text))
        del LoggingSmsGateway.sent[:-100]  # the latest 100, for operators' and tests' eyes


def _flag(value) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def sms_gateway() -> SmsGateway:
    import importlib

    path = current_app.config.get("SMS_GATEWAY") or "models.messaging.LoggingSmsGateway"
    module, _sep, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)(current_app.config)


def send_one(channel: MessageChannel, address: str, subject: str, body: str) -> None:
    """Hand one message to its channel; raises :class:`SendFailed` (or the gateway's error)."""
    if channel == MessageChannel.email:
        SmtpSender(current_app.config).send(address, subject, body)
    else:
        sms_gateway().send(address, body)
