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
from flask_login import current_user, login_user, logout_user
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired, Length

from models import User, db
from models.audit import AuditAction
from models.base import local_zone, utcnow
from models.enums import CaseStatus
from models.operations.audit_log import record_audit
from models.operations.sessions import log_out
from models.queries.worklists import home_figures
from models.texts import lazy_gettext as _l
from models.users import password_hasher

from .filters import MyCasesFilter
from .input import CheckedForm
from .security import LAST_SEEN, LOGIN_AT, login_throttle, start_session_clock
from .setup import needs_setup

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
            block = throttle.block(username, address)
            user = db.session.scalar(sa.select(User).where(User.username == username))
            if user is None or block is not None:
                # The same work and the same answer whether or not the account exists.
                _spend_verify_time(form.password.data)
                ok = False
            else:
                ok = user.check_password(form.password.data) and user.is_active_user
            if ok:
                user.last_login_at = utcnow()
                record_audit(AuditAction.login, user, by=user, summary=username)
                db.session.commit()
                throttle.record_success(username, address)
                # A permanent session expires after PERMANENT_SESSION_LIFETIME (12 hours).
                session.permanent = True
                login_user(user)
                start_session_clock()
                logger.info("user %s logged in", user.id)
                target = safe_next_url(request.args.get("next"))
                if target is None and needs_setup(user):
                    # First login of the administrator of an empty database: the wizard.
                    return redirect(url_for("setup.index"))
                return redirect(target or url_for(".index"))
            if block is None:
                # Attempts refused by a block do not count, so a block ends when its window does.
                throttle.record_failure(username, address)
            record_audit(
                AuditAction.login_blocked if block is not None else AuditAction.login_failed,
                by=user if user is not None else None,
                target_type="users",
                target_id=user.id if user is not None else None,
                summary=username[:64],
                data={"username": username[:64]},
            )
            db.session.commit()
            logger.warning("failed login for %r from %s", username, address)
            if block is not None:
                flash(block.message, "error")
            else:
                flash(_("用户名或密码错误，或账号已停用。"), "error")
        return self.render("admin/login.html", form=form)

    @expose("/logout/", methods=("POST",))
    def logout_view(self):
        if current_user.is_authenticated:
            # Server side: the cookie of this session, and any copy of it, stops working.
            log_out(current_user._get_current_object())
            db.session.commit()
        logout_user()
        session.pop(LOGIN_AT, None)
        session.pop(LAST_SEEN, None)
        flash(_("您已安全退出，本账号在其他电脑和浏览器上的登录也已结束。"), "info")
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


def dashboard_figures() -> dict:
    """The home page's counts (all within what the user may see) and where they lead."""
    return {
        **home_figures(current_user),
        "mine_url": _filter_url("case", MyCasesFilter, "1"),
        "registered_url": _filter_url("case", None, CaseStatus.registered.value, column="status"),
        "today": utcnow().astimezone(local_zone()).date(),
        "needs_setup": needs_setup(current_user),
    }
