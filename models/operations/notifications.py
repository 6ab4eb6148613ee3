"""Outgoing messages (issue 18): queued with the event, sent by the background worker.

* **Staff e-mail** is derived from the in-app notification (``deadlines.notify``): whoever is
  told in the work list of an assignment, a due-soon, overdue or escalation warning or a due
  callback is also told by e-mail if their preferences say so (immediately, or in the daily
  digest). Who is told stays with the callers of ``notify``.
* **Petitioners** hear of acceptance, transfer, an extension of a deadline they were given,
  and the reply, from the office's templates (设置 → 通知模板), by SMS or e-mail.

Rows are written with Core statements in the event's transaction; after that transaction
commits, their delivery is handed to :func:`~models.maintenance.jobs.submit_job`.
Failures are retried with backoff by the periodic task ``message_delivery``; the daily task
``message_digest`` bundles held e-mails into one per person.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from .. import db
from ..base import to_local, utcnow
from ..messaging import (
    DEFAULT_TEMPLATES,
    PETITIONER_KINDS,
    STAFF_KINDS,
    EmailDelivery,
    MessageChannel,
    MessageKind,
    MessageStatus,
    MessageTemplate,
    OutgoingMessage,
    office_name,
    render_template_text,
    send_one,
    template_problem,
)
from ..settings import SystemSetting
from . import ValidationFailed

logger = logging.getLogger(__name__)

PENDING_KEY = "outgoing_messages_to_send"
#: A claim older than this lost its worker; the message is tried again.
CLAIM_TIMEOUT = timedelta(minutes=5)
TABLE = OutgoingMessage.__table__


# -- queueing -------------------------------------------------------------------------------


def _insert(row: dict, *, send_now: bool = True) -> int:
    now = row.get("created_at") or utcnow()
    values = {
        "attempts": 0,
        "created_at": now,
        "subject": "",
        **row,
    }
    if values.get("status", MessageStatus.queued) == MessageStatus.queued:
        values["status"] = MessageStatus.queued
        # The job started after commit sends it at once; the periodic task only if that
        # did not happen within a minute.
        values.setdefault("next_attempt_at", now + timedelta(seconds=60))
    message_id = db.session.execute(sa.insert(TABLE).values(**values).returning(TABLE.c.id))
    message_id = message_id.scalar_one()
    if send_now and values["status"] == MessageStatus.queued:
        db.session.info.setdefault(PENDING_KEY, []).append(message_id)
    return message_id


def staff_delivery(user, kind: MessageKind) -> EmailDelivery:
    """How ``user`` wants to hear of ``kind`` by e-mail (their own preferences)."""
    if not user.email or not user.is_active_user:
        return EmailDelivery.off
    try:
        delivery = EmailDelivery(user.email_delivery or "immediate")
    except ValueError:
        delivery = EmailDelivery.immediate
    if kind.value not in (user.email_kinds or "").split(","):
        return EmailDelivery.off
    return delivery


def case_link(case) -> str:
    base = (current_app.config.get("SITE_URL") or "").rstrip("/")
    return f"{base}/admin/case/details/?id={case.id}" if base and case is not None else ""


def queue_staff_emails(users, case, text: str, kind: MessageKind, *, at: datetime) -> int:
    """E-mail ``text`` (the in-app notification's) to those of ``users`` who want ``kind``."""
    queued = 0
    for user in users:
        if user is None:
            continue
        delivery = staff_delivery(user, kind)
        if delivery == EmailDelivery.off:
            continue
        office = office_name()
        body = text
        link = case_link(case)
        if link:
            body += "\n\n" + link
        body += "\n\n" + _(
            "（本邮件由%(office)s信访通系统自动发送，请勿直接回复。）", office=office
        )
        _insert(
            {
                "channel": MessageChannel.email,
                "kind": kind,
                "status": MessageStatus.queued
                if delivery == EmailDelivery.immediate
                else MessageStatus.held,
                "recipient_user_id": user.id,
                "address": user.email,
                "case_id": case.id if case is not None else None,
                "subject": f"【{office}】{kind.title}：{text}"[:200],
                "body": body,
                "created_at": at,
            }
        )
        queued += 1
    return queued


#: Workflow step -> the petitioner message it sends.
STEP_MESSAGES = {
    "accept": MessageKind.acceptance,
    "transfer": MessageKind.transfer,
    "decide_extension": MessageKind.extension,
    "reply": MessageKind.reply_ready,
}
#: Only an extension of a deadline the petitioner was given is told (as the 延期告知书).
PETITIONER_DEADLINES = ("closing", "reply")


def template_for(kind: MessageKind) -> tuple[str, str, bool]:
    """(subject, body, active) of ``kind``: the office's, else the built-in text."""
    row = db.session.scalar(sa.select(MessageTemplate).where(MessageTemplate.kind == kind))
    if row is not None:
        return row.subject, row.body, row.is_active
    subject, body = DEFAULT_TEMPLATES[kind]
    return subject, body, True


def _day(value) -> str:
    local = to_local(value)
    return f"{local.year}年{local.month}月{local.day}日" if local else ""


def template_values(case, kind: MessageKind, data: dict, at: datetime, party=None) -> dict:
    """The placeholders' values: the case's number and dates, the handling body, the office;
    never a staff member's name or an internal note."""
    from ..online_petitions import OnlinePetition

    deadline = None
    if data.get("due_at") and kind == MessageKind.extension:
        deadline = datetime.fromisoformat(data["due_at"])
    else:
        for clock in case.clocks:
            if clock.kind.value in PETITIONER_DEADLINES and clock.stopped_at is None:
                deadline = clock.due_at
                break
    unit = data.get("target_unit") or (case.handling_unit.name if case.handling_unit else "")
    online = db.session.scalar(
        sa.select(sa.func.count(OnlinePetition.id)).where(OnlinePetition.case_id == case.id)
    )
    return {
        "number": case.number or "",
        "query_code": _("网上信访提交时获得的查询码") if online else "",
        "deadline": _day(deadline) if deadline else _("按规定期限"),
        "unit": unit,
        "date": _day(at),
        "office": office_name(),
        "petitioner": party.name if party is not None else "",
    }


def petitioner_channel(party) -> tuple[MessageChannel, str] | None:
    """The channel and address to reach ``party`` by (setting 信访人告知方式), or None."""
    how = SystemSetting.get("petitioner_messages") or "sms_first"
    phone, email = (party.phone or "").strip(), (party.email or "").strip()
    options = {
        "sms_first": [(MessageChannel.sms, phone), (MessageChannel.email, email)],
        "email_first": [(MessageChannel.email, email), (MessageChannel.sms, phone)],
        "sms_only": [(MessageChannel.sms, phone)],
        "email_only": [(MessageChannel.email, email)],
    }.get(how, [])
    for channel, address in options:
        if address:
            return channel, address
    return None


def tell_petitioners(case, step_code: str, data: dict, at: datetime) -> int:
    """Queue the message of ``step_code`` (if it has one) to the case's petitioners."""
    from ..policies import petitioner_message_recipients

    kind = STEP_MESSAGES.get(step_code)
    if kind is None:
        return 0
    if kind == MessageKind.extension and not (
        data.get("approved") and data.get("clock", "closing") in PETITIONER_DEADLINES
    ):
        return 0
    subject, body, active = template_for(kind)
    if not active:
        return 0
    queued = 0
    for party in petitioner_message_recipients(case):
        reach = petitioner_channel(party)
        if reach is None:
            continue
        values = template_values(case, kind, data, at, party)
        _insert(
            {
                "channel": reach[0],
                "kind": kind,
                "status": MessageStatus.queued,
                "recipient_party_id": party.id,
                "address": reach[1],
                "case_id": case.id,
                "subject": render_template_text(subject, values)[:200],
                "body": render_template_text(body, values),
                "created_at": at,
            }
        )
        queued += 1
    return queued


# -- after commit: hand the new messages to the background worker ----------------------------


def _after_commit(session: Session) -> None:
    ids = session.info.pop(PENDING_KEY, None)
    if not ids or not has_app_context():
        return
    if not current_app.config.get("MESSAGES_SEND_AFTER_COMMIT", not current_app.testing):
        return  # tests send explicitly; the periodic task picks them up otherwise
    from ..maintenance.jobs import submit_job

    try:
        submit_job(
            "models.operations.notifications.deliver_messages",
            list(ids),
            name=f"messages-{ids[0]}-{len(ids)}-{utcnow().timestamp()}",
            timeout=int(current_app.config.get("MAIL_TIMEOUT", 10)) * len(ids) + 60,
        )
    except Exception:  # the periodic task sends them within a minute or two
        logger.exception("could not start the delivery of messages %s", ids)


def _after_rollback(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)


def install_message_listeners() -> None:
    if not sa.event.contains(Session, "after_commit", _after_commit):
        sa.event.listen(Session, "after_commit", _after_commit)
        sa.event.listen(Session, "after_soft_rollback", lambda s, t: _after_rollback(s))


install_message_listeners()


# -- delivery (the background worker) ---------------------------------------------------------


def backoff(attempts: int) -> timedelta | None:
    """When to try again after ``attempts`` failures (None: give up until a person retries)."""
    config = current_app.config
    if attempts >= int(config.get("MESSAGE_MAX_ATTEMPTS", 8)):
        return None
    base = float(config.get("MESSAGE_RETRY_SECONDS", 60))
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 6 * 3600))


def deliver_one(message_id: int, now: datetime | None = None) -> MessageStatus | None:
    """Send one queued or failed message (claiming it first); commits. None: not claimed."""
    now = now or utcnow()
    claimable = sa.and_(
        TABLE.c.id == message_id,
        TABLE.c.status.in_([MessageStatus.queued.value, MessageStatus.failed.value]),
        sa.or_(TABLE.c.claimed_at.is_(None), TABLE.c.claimed_at < now - CLAIM_TIMEOUT),
    )
    claimed = db.session.execute(
        sa.update(TABLE).where(claimable).values(claimed_at=now, attempts=TABLE.c.attempts + 1)
    ).rowcount
    db.session.commit()
    if not claimed:
        return None
    row = db.session.execute(sa.select(TABLE).where(TABLE.c.id == message_id)).one_or_none()
    if row is None:  # deleted meanwhile (its case destroyed)
        return None
    try:
        send_one(MessageChannel(row.channel), row.address, row.subject, row.body)
    except Exception as error:
        wait = backoff(row.attempts)
        db.session.execute(
            sa.update(TABLE)
            .where(TABLE.c.id == message_id)
            .values(
                status=MessageStatus.failed,
                last_error=str(error)[:500] or type(error).__name__,
                next_attempt_at=now + wait if wait else None,
                claimed_at=None,
            )
        )
        db.session.commit()
        logger.warning("message %s failed (attempt %s): %s", message_id, row.attempts, error)
        return MessageStatus.failed
    db.session.execute(
        sa.update(TABLE)
        .where(TABLE.c.id == message_id)
        .values(status=MessageStatus.sent, sent_at=utcnow(), next_attempt_at=None, claimed_at=None)
    )
    db.session.commit()
    return MessageStatus.sent


def deliver_messages(ids, now: datetime | None = None) -> dict[int, MessageStatus | None]:
    """The background job: send each message of ``ids``."""
    return {message_id: deliver_one(message_id, now) for message_id in ids}


def due_message_ids(now: datetime, limit: int = 200) -> list[int]:
    """Queued or failed messages whose next attempt has come (and not being sent)."""
    return list(
        db.session.scalars(
            sa.select(TABLE.c.id)
            .where(
                TABLE.c.status.in_([MessageStatus.queued.value, MessageStatus.failed.value]),
                TABLE.c.next_attempt_at <= now,
                sa.or_(TABLE.c.claimed_at.is_(None), TABLE.c.claimed_at < now - CLAIM_TIMEOUT),
            )
            .order_by(TABLE.c.next_attempt_at, TABLE.c.id)
            .limit(limit)
        )
    )


def schedule_due_messages(now: datetime) -> int:
    """The periodic task: hand the due messages to the worker after its transaction commits."""
    ids = due_message_ids(now)
    if ids:
        db.session.info.setdefault(PENDING_KEY, []).extend(ids)
    return len(ids)


def send_digests(now: datetime) -> int:
    """The daily task: one e-mail per person with everything held for their digest."""
    held = db.session.execute(
        sa.select(TABLE)
        .where(TABLE.c.status == MessageStatus.held.value)
        .order_by(TABLE.c.recipient_user_id, TABLE.c.id)
    ).all()
    by_user: dict[int | None, list] = {}
    for row in held:
        by_user.setdefault(row.recipient_user_id, []).append(row)
    office = office_name()
    made = 0
    for user_id, rows in by_user.items():
        lines = [
            f"{index}. [{MessageKind(row.kind).title}] {row.body.split(chr(10))[0]}"
            for index, row in enumerate(rows, 1)
        ]
        body = "\n".join(
            [
                _("以下是截至 %(time)s 的 %(count)s 条提醒：", time=_stamp(now), count=len(rows)),
                "",
                *lines,
                "",
                _("（本邮件由%(office)s信访通系统自动发送，请勿直接回复。）", office=office),
            ]
        )
        digest_id = _insert(
            {
                "channel": MessageChannel.email,
                "kind": MessageKind.digest,
                "status": MessageStatus.queued,
                "recipient_user_id": user_id,
                "address": rows[-1].address,
                "subject": _(
                    "【%(office)s】每日提醒汇总（%(count)s 条）", office=office, count=len(rows)
                )[:200],
                "body": body,
                "created_at": now,
                "next_attempt_at": now,
            }
        )
        db.session.execute(
            sa.update(TABLE)
            .where(TABLE.c.id.in_([row.id for row in rows]))
            .values(status=MessageStatus.bundled, digest_id=digest_id)
        )
        made += 1
    return made


def _stamp(value: datetime) -> str:
    return to_local(value).strftime("%Y-%m-%d %H:%M")


# -- staff actions ----------------------------------------------------------------------------


def retry_message(message: OutgoingMessage, *, by, at: datetime | None = None) -> None:
    """The 重新发送 button: send a failed (or stuck) message again now; audited."""
    from .audit_log import record_audit

    at = at or utcnow()
    if message.status not in (MessageStatus.failed, MessageStatus.queued):
        raise ValidationFailed(_("只有发送失败或待发送的消息可以重新发送"))
    db.session.execute(
        sa.update(TABLE)
        .where(TABLE.c.id == message.id)
        # The claim stays: a message being sent right now is not sent twice.
        .values(status=MessageStatus.queued, next_attempt_at=at)
    )
    db.session.info.setdefault(PENDING_KEY, []).append(message.id)
    record_audit(
        "retry",
        target_type="outgoing_messages",
        target_id=message.id,
        by=by,
        summary=f"重新发送消息 {message.id}（{message.kind.title}，{message.channel.title}）",
        data={"status": message.status.value, "attempts": message.attempts},
    )
    db.session.expire(message)


def check_template(subject: str, body: str) -> None:
    for field, text, label in (("subject", subject, _("标题")), ("body", body, _("正文"))):
        if not (text or "").strip():
            raise ValidationFailed(_("请填写%(label)s", label=label), field=field)
        problem = template_problem(text)
        if problem:
            raise ValidationFailed(f"{label}：{problem}", field=field)
    if len(subject) > 200:
        raise ValidationFailed(_("标题不能超过200个字"), field="subject")
    if len(body) > 1000:
        raise ValidationFailed(_("正文不能超过1000个字"), field="body")


def save_template(kind: MessageKind, *, subject: str, body: str, is_active: bool, by) -> None:
    """Store the office's wording of ``kind`` (audited as a record change); refused with a
    Chinese message, and nothing stored, if a placeholder is unknown."""
    if kind not in PETITIONER_KINDS:
        raise ValidationFailed(_("没有这种通知模板"))
    subject, body = (subject or "").strip(), (body or "").strip()
    check_template(subject, body)
    row = db.session.scalar(sa.select(MessageTemplate).where(MessageTemplate.kind == kind))
    if row is None:
        row = MessageTemplate(kind=kind, subject=subject, body=body, is_active=bool(is_active))
        db.session.add(row)
    else:
        row.subject, row.body, row.is_active = subject, body, bool(is_active)
    db.session.flush()


def preview_template(subject: str, body: str, case=None) -> tuple[str, str]:
    """The text a template gives, with a case's values or sample ones (validated first)."""
    check_template(subject, body)
    if case is None:
        values = {
            "number": "XF2026-000123",
            "query_code": _("网上信访提交时获得的查询码"),
            "deadline": "2026年12月31日",
            "unit": "示范县住房和城乡建设局",
            "date": _day(utcnow()),
            "office": office_name(),
            "petitioner": "张三",
        }
    else:
        values = template_values(case, MessageKind.acceptance, {}, utcnow(), None)
        values["petitioner"] = _("（信访人）")
    return render_template_text(subject, values), render_template_text(body, values)


def save_preferences(user, *, email: str | None, delivery: str, kinds, by) -> None:
    """A user's own e-mail preferences (or an administrator's change of them)."""
    from ..validation import email_problem

    email = (email or "").strip() or None
    if email:
        problem = email_problem(email)
        if problem:
            raise ValidationFailed(problem, field="email")
    try:
        EmailDelivery(delivery)
    except ValueError:
        raise ValidationFailed(_("请选择发送方式"), field="delivery") from None
    allowed = {kind.value for kind in STAFF_KINDS}
    chosen = [kind for kind in kinds or () if kind in allowed]
    if len(chosen) != len(list(kinds or ())):
        raise ValidationFailed(_("没有这种提醒"), field="kinds")
    user.email = email
    user.email_delivery = delivery
    user.email_kinds = ",".join(kind.value for kind in STAFF_KINDS if kind.value in chosen)
    db.session.flush()
