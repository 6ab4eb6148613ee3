"""Outgoing messages (issue 18): the record of every message with its delivery status and a
retry button, the petitioner message templates (设置 → 通知模板) and each user's e-mail
preferences (我的通知设置)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _
from flask_babel import lazy_pgettext
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy.orm import selectinload

from models import Case, OutgoingMessage, User, db
from models.messaging import (
    PETITIONER_KINDS,
    PLACEHOLDERS,
    STAFF_KINDS,
    EmailDelivery,
    MessageChannel,
    MessageKind,
    MessageStatus,
)
from models.operations import ValidationFailed
from models.operations.notifications import (
    preview_template,
    retry_message,
    save_preferences,
    save_template,
    template_for,
)
from models.policies import may_manage_messages, message_address_visible, messages_visible_clause
from models.texts import lazy_gettext as _l

from .base import ProtectedModelView, refuse_access
from .filters import ChoiceEqualFilter, date_filters
from .labels import labels

# -- the record of messages -------------------------------------------------------------------


def _recipient(view, context, model, name):
    if not message_address_visible(model, current_user):
        return _("（保密）")
    who = model.recipient_user or model.recipient_party
    if who is None:
        return model.address
    # The name only: a person's own text already carries the phone, which is the address here.
    name = getattr(who, "full_name", None) or getattr(who, "name", None) or str(who)
    return _("%(name)s（%(address)s）", name=name, address=model.address)


def _case(view, context, model, name):
    if model.case is None:
        return ""
    return Markup('<a href="{}">{}</a>').format(
        url_for("case.details_view", id=model.case_id), model.case.number
    )


def _subject(view, context, model, name):
    if not message_address_visible(model, current_user):
        return _("（保密）")
    return model.subject


def _retry(view, context, model, name):
    if model.status not in (MessageStatus.failed, MessageStatus.queued):
        return ""
    if not may_manage_messages(current_user):
        return ""
    return Markup(
        '<form method="post" action="{}" class="d-inline">'
        '<input type="hidden" name="csrf_token" value="{}">'
        '<button type="submit" class="btn btn-sm btn-outline-primary message-retry">{}</button>'
        "</form>"
    ).format(url_for(".retry_view", message_id=model.id), _csrf(), _("重新发送"))


def _csrf() -> str:
    from flask_wtf.csrf import generate_csrf

    return generate_csrf()


class OutgoingMessageView(ProtectedModelView):
    """Read-only: messages are written by the events they tell of and by the worker."""

    allow_create = allow_edit = allow_delete = False
    can_view_details = False
    page_size = 50
    column_list = (
        "created_at",
        "kind",
        "channel",
        "recipient",
        "case",
        "subject",
        "status",
        "attempts",
        "last_error",
        "sent_at",
        "retry",
    )
    column_default_sort = [("id", True)]
    column_sortable_list = ("created_at", "sent_at", "attempts")
    # By case number only: a search by name or address would find a 举报 reporter's messages
    # for people outside the reporter's circle, whose rows show （保密）.
    column_searchable_list = ("case.number",)
    column_filters = (
        ChoiceEqualFilter(OutgoingMessage.status, _l("状态"), options=MessageStatus.choices),
        ChoiceEqualFilter(OutgoingMessage.channel, _l("渠道"), options=MessageChannel.choices),
        ChoiceEqualFilter(OutgoingMessage.kind, _l("种类"), options=MessageKind.choices),
        *date_filters(OutgoingMessage.created_at, _l("生成日期")),
    )
    column_labels = labels(
        created_at=_l("生成时间"),
        kind=_l("种类"),
        channel=_l("渠道"),
        recipient=_l("收件人"),
        case=lazy_pgettext("field", "信访事项"),
        subject=_l("标题"),
        status=_l("状态"),
        attempts=_l("发送次数"),
        last_error=_l("最近错误"),
        sent_at=_l("发送时间"),
        retry=_l("操作"),
    )
    column_formatters = {
        "kind": lambda view, context, model, name: model.kind.title,
        "channel": lambda view, context, model, name: model.channel.title,
        "status": lambda view, context, model, name: model.status.title,
        "recipient": _recipient,
        "case": _case,
        "subject": _subject,
        "retry": _retry,
    }

    def is_accessible(self) -> bool:
        return current_user.is_authenticated

    def scope(self, query):
        return query.filter(messages_visible_clause(current_user))

    def get_query(self):
        # One query per relation for the page, not three per row.
        return (
            super()
            .get_query()
            .options(
                selectinload(OutgoingMessage.recipient_user),
                selectinload(OutgoingMessage.recipient_party),
            )
        )

    @expose("/retry/<int:message_id>", methods=("POST",))
    def retry_view(self, message_id):
        """重新发送: a failed message goes out again now (audited)."""
        message = self._get_one(message_id)
        if message is None or not may_manage_messages(current_user):
            abort(404 if message is None else 403)
        try:
            retry_message(message, by=current_user)
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            flash(str(error), "error")
        else:
            flash(_("已安排重新发送"), "success")
        return redirect(request.referrer or url_for(".index_view"))


# -- templates ----------------------------------------------------------------------------------


class MessageTemplateView(BaseView):
    def is_accessible(self):
        return current_user.is_authenticated and current_user.has_permission("settings.manage")

    def inaccessible_callback(self, name, **kwargs):
        return refuse_access()

    @expose("/")
    def index(self):
        rows = []
        for kind in PETITIONER_KINDS:
            subject, body, active = template_for(kind)
            rows.append({"kind": kind, "subject": subject, "body": body, "active": active})
        return self.render("admin/messages/templates.html", rows=rows)

    @expose("/<kind>", methods=("GET", "POST"))
    def edit_view(self, kind):
        try:
            kind = MessageKind(kind)
        except ValueError:
            abort(404)
        if kind not in PETITIONER_KINDS:
            abort(404)
        subject, body, active = template_for(kind)
        values = {"subject": subject, "body": body, "is_active": active}
        errors, preview = {}, None
        if request.method == "POST":
            values = {
                "subject": request.form.get("subject", ""),
                "body": request.form.get("body", ""),
                "is_active": request.form.get("is_active") == "1",
            }
            number = (request.form.get("case_number") or "").strip()
            values["case_number"] = number
            try:
                if request.form.get("action") == "preview":
                    case = None
                    if number:
                        case = db.session.scalar(
                            sa.select(Case).where(Case.number == number, Case.is_deleted.is_(False))
                        )
                        if case is None or not _may_preview(case):
                            raise ValidationFailed(_("没有找到这个登记编号"), field="case_number")
                    preview = preview_template(values["subject"], values["body"], case)
                    db.session.rollback()
                else:
                    save_template(
                        kind,
                        subject=values["subject"],
                        body=values["body"],
                        is_active=values["is_active"],
                        by=current_user,
                    )
                    db.session.commit()
                    flash(_("通知模板已保存"), "success")
                    return redirect(url_for(".index"))
            except ValidationFailed as error:
                db.session.rollback()
                errors[error.field or "form"] = str(error)
        return self.render(
            "admin/messages/template_edit.html",
            kind=kind,
            values=values,
            errors=errors,
            preview=preview,
            placeholders=PLACEHOLDERS,
            status=400 if errors else 200,
        ), (400 if errors else 200)


def _may_preview(case) -> bool:
    from models.policies import can_view_case

    return can_view_case(current_user, case)


# -- preferences --------------------------------------------------------------------------------


class NotificationSettingsView(BaseView):
    """我的通知设置: every user's own page; ``?user=<id>`` for holders of 用户管理."""

    def is_accessible(self):
        return current_user.is_authenticated

    def inaccessible_callback(self, name, **kwargs):
        return refuse_access()

    def _target(self) -> User:
        user_id = request.values.get("user", type=int)
        if user_id is None or user_id == current_user.id:
            return db.session.get(User, current_user.id)
        if not current_user.has_permission("user.manage"):
            abort(403)
        user = db.session.get(User, user_id)
        if user is None:
            abort(404)
        return user

    @expose("/", methods=("GET", "POST"))
    def index(self):
        user = self._target()
        errors = {}
        values = {
            "email": user.email or "",
            "delivery": user.email_delivery,
            "kinds": set((user.email_kinds or "").split(",")),
        }
        if request.method == "POST":
            values = {
                "email": request.form.get("email", ""),
                "delivery": request.form.get("delivery", ""),
                "kinds": set(request.form.getlist("kinds")),
            }
            try:
                save_preferences(
                    user,
                    email=values["email"],
                    delivery=values["delivery"],
                    kinds=request.form.getlist("kinds"),
                    by=current_user,
                )
                db.session.commit()
                flash(_("通知设置已保存"), "success")
                args = {"user": user.id} if user.id != current_user.id else {}
                return redirect(url_for(".index", **args))
            except ValidationFailed as error:
                db.session.rollback()
                errors[error.field or "form"] = str(error)
        return self.render(
            "admin/messages/preferences.html",
            user=user,
            own=user.id == current_user.id,
            values=values,
            errors=errors,
            deliveries=list(EmailDelivery),
            kinds=STAFF_KINDS,
        ), (400 if errors else 200)
