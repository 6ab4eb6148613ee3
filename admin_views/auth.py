"""The home page, login and logout."""

from __future__ import annotations

import contextlib
import logging
from urllib.parse import urlsplit

import sqlalchemy as sa
from argon2.exceptions import VerificationError
from flask import current_app, flash, redirect, request, session, url_for
from flask_admin import AdminIndexView, expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired, Length

from models import Callback, Case, User, case_assistants, db
from models.audit import AuditAction
from models.base import local_zone, utcnow
from models.enums import CaseStatus
from models.operations.audit_log import record_audit
from models.users import password_hasher

from .base import case_scope
from .filters import MyCasesFilter
from .input import CheckedForm
from .security import LAST_SEEN, LOGIN_AT, login_throttle, start_session_clock

logger = logging.getLogger(__name__)

#: Hash compared against when the user does not exist, so timing does not reveal accounts.
_DUMMY_HASH: list[str] = []


def _spend_verify_time(password: str) -> None:
    """Verify against a dummy hash so an unknown username takes as long as a wrong password."""
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(password_hasher().hash("not-a-real-password-0"))
    with contextlib.suppress(VerificationError):
        password_hasher().verify(_DUMMY_HASH[0], password)


class LoginForm(CheckedForm):
    username = StringField(_l("用户名"), [InputRequired(_l("请输入用户名")), Length(max=64)])
    password = PasswordField(_l("密码"), [InputRequired(_l("请输入密码")), Length(max=256)])


def safe_next_url(target: str | None) -> str | None:
    """Accept only a relative path on this site (no scheme, host, ``//`` or backslash)."""
    if not target:
        return None
    target = target.strip()
    if "\\" in target or not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


class ProtectedIndexView(AdminIndexView):
    @expose("/")
    def index(self):
        if not current_user.is_authenticated:
            return redirect(url_for(".login_view"))
        return self.render("admin/index.html", **dashboard_figures())

    @expose("/login/", methods=("GET", "POST"))
    def login_view(self):
        form = LoginForm()
        if form.validate_on_submit():
            username = form.username.data.strip()
            address = request.remote_addr
            throttle = login_throttle()
            blocked = throttle.is_blocked(username, address)
            user = db.session.scalar(sa.select(User).where(User.username == username))
            if user is None or blocked:
                # The same work and the same answer whether or not the account exists.
                _spend_verify_time(form.password.data)
                ok = False
            else:
                ok = user.check_password(form.password.data) and user.is_active_user
            if ok:
                user.last_login_at = utcnow()
                record_audit(AuditAction.login, user, by=user, summary=username)
                db.session.commit()
                throttle.record_success(username)
                # A permanent session expires after PERMANENT_SESSION_LIFETIME (12 hours).
                session.permanent = True
                login_user(user)
                start_session_clock()
                logger.info("user %s logged in", user.id)
                return redirect(safe_next_url(request.args.get("next")) or url_for(".index"))
            if not blocked:
                throttle.record_failure(username, address)
            record_audit(
                AuditAction.login_blocked if blocked else AuditAction.login_failed,
                by=user if user is not None else None,
                target_type="users",
                target_id=user.id if user is not None else None,
                summary=username[:64],
                data={"username": username[:64]},
            )
            db.session.commit()
            logger.warning("failed login for %r from %s", username, address)
            if blocked:
                flash(_("登录失败次数过多，请 15 分钟后再试。"), "error")
            else:
                flash(_("用户名或密码错误，或账号已停用。"), "error")
        return self.render("admin/login.html", form=form)

    @expose("/logout/", methods=("POST",))
    def logout_view(self):
        if current_user.is_authenticated:
            record_audit(AuditAction.logout, current_user, by=current_user)
            db.session.commit()
        logout_user()
        session.pop(LOGIN_AT, None)
        session.pop(LAST_SEEN, None)
        flash(_("您已安全退出。"), "info")
        return redirect(url_for(".login_view"))


def _filter_url(endpoint: str, filter_class, value: str, column: str | None = None) -> str:
    """The list URL with one filter set; Flask-Admin names filters by their position."""
    view = next(v for v in current_app.extensions["admin"][0]._views if v.endpoint == endpoint)
    for index, flt in enumerate(view._filters or []):
        if (filter_class and isinstance(flt, filter_class)) or (
            column and getattr(flt.column, "key", None) == column
        ):
            return url_for(f"{endpoint}.index_view", **{f"flt0_{index}": value})
    return url_for(f"{endpoint}.index_view")


FINISHED_STATES = frozenset(
    {
        CaseStatus.closed,
        CaseStatus.archived,
        CaseStatus.destroyed,
        CaseStatus.not_accepted,
        CaseStatus.no_longer_accepted,
        CaseStatus.transferred,
        CaseStatus.returned,
    }
)


def dashboard_figures() -> dict:
    """Small counts for the home page: all scoped to what the user may see."""
    scope = sa.and_(case_scope(current_user), Case.is_deleted.is_(False))
    today = utcnow().astimezone(local_zone()).date()
    open_states = [state for state in CaseStatus if state not in FINISHED_STATES]
    assisted = sa.select(case_assistants.c.case_id).where(
        case_assistants.c.user_id == current_user.id
    )
    mine = sa.or_(Case.handler_id == current_user.id, Case.id.in_(assisted))
    row = db.session.execute(
        sa.select(
            sa.func.count().filter(Case.status.in_(open_states)),
            sa.func.count().filter(Case.status == CaseStatus.registered),
            sa.func.count().filter(mine, Case.status.in_(open_states)),
            sa.func.count(),
        ).where(scope)
    ).one()
    pending_callbacks = db.session.scalar(
        sa.select(sa.func.count(Callback.id))
        .join(Case, Case.id == Callback.case_id)
        .where(scope, Callback.done_at.is_(None), Callback.is_deleted.is_(False))
    )
    return {
        "mine_url": _filter_url("case", MyCasesFilter, "1"),
        "registered_url": _filter_url("case", None, CaseStatus.registered.value, column="status"),
        "open_count": row[0],
        "registered_count": row[1],
        "mine_count": row[2],
        "total_count": row[3],
        "pending_callbacks": pending_callbacks,
        "today": today,
    }
