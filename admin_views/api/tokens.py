"""设置 → 接口令牌: create, list and revoke the tokens other systems call the API with.

A new token's secret is shown once, on the page that follows its creation; only its hash is
stored. Creating a token hands out an account's powers, so the screen needs 维护用户和角色.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, make_response, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from admin_views.input import CheckedForm
from models import ApiToken, Unit, User, db
from models.operations import NotPermitted, ValidationFailed
from models.operations.api import API_PERMISSIONS, create_token, revoke_token
from models.permissions import PERMISSIONS
from models.texts import lazy_gettext as _l
from models.users import staff_condition

from ..base import refuse_access

MANAGE = "user.manage"
SYSTEM_ACCOUNT = "system"


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class TokenForm(CheckedForm):
    name = StringField(_l("名称"), [DataRequired(_l("请填写令牌名称")), Length(max=80)])
    integration = StringField(
        _l("对接系统代码"),
        [DataRequired(_l("请填写对接系统代码")), Length(max=40)],
        description=_l(
            "如 hotline-12345、oa；同一系统的外部编号不重复登记，换发令牌时沿用同一代码"
        ),
    )
    account = SelectField(_l("代表的账号"), choices=[])
    permissions = CheckboxesField(_l("权限"), choices=[])
    units = SelectMultipleField(
        _l("限定单位"),
        choices=[],
        description=_l("留空则不限单位；限定后只能查看这些单位承办的事项和本系统登记的事项"),
    )


def _form() -> TokenForm:
    form = TokenForm()
    staff = db.session.scalars(
        sa.select(User).where(staff_condition()).order_by(User.full_name, User.id)
    ).all()
    form.account.choices = [(SYSTEM_ACCOUNT, _("系统接口（系统账号）"))] + [
        (str(user.id), f"{user.full_name}（{user.username}）") for user in staff
    ]
    form.permissions.choices = [
        (name, f"{PERMISSIONS[name]}（{name}）") for name in API_PERMISSIONS
    ]
    form.units.choices = [
        (str(unit.id), unit.name)
        for unit in db.session.scalars(
            sa.select(Unit).where(Unit.is_active.is_(True)).order_by(Unit.id)
        )
    ]
    return form


class ApiTokenView(BaseView):
    """``/admin/apitoken/``"""

    def is_accessible(self):
        return current_user.is_authenticated and current_user.has_permission(MANAGE)

    def inaccessible_callback(self, name, **kwargs):
        return refuse_access()

    @expose("/")
    def index(self):
        tokens = db.session.scalars(
            sa.select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())
        ).all()
        return self.render("admin/api/tokens.html", tokens=tokens, titles=PERMISSIONS)

    @expose("/new", methods=("GET", "POST"))
    def new(self):
        form = _form()
        if request.method == "POST" and form.validate():
            user = None
            if form.account.data != SYSTEM_ACCOUNT:
                user = db.session.get(User, int(form.account.data))
            units = [db.session.get(Unit, int(unit_id)) for unit_id in form.units.data]
            try:
                token, secret = create_token(
                    name=form.name.data,
                    integration=form.integration.data,
                    user=user,
                    permissions=form.permissions.data,
                    units=[unit for unit in units if unit is not None],
                    by=current_user,
                )
            except NotPermitted:
                db.session.rollback()
                abort(403)
            except ValidationFailed as failure:
                db.session.rollback()
                target = {"user": "account"}.get(failure.field, failure.field)
                field = form._fields.get(target)
                if field is not None:
                    field.errors = [*field.errors, str(failure)]
                else:
                    flash(str(failure), "danger")
            else:
                db.session.commit()
                # Shown once, never stored: the page must not be cached anywhere.
                response = make_response(
                    self.render("admin/api/token_created.html", token=token, secret=secret)
                )
                response.headers["Cache-Control"] = "no-store"
                return response
        return self.render("admin/api/token_form.html", form=form)

    @expose("/<int:token_id>/revoke", methods=("POST",))
    def revoke(self, token_id: int):
        token = db.session.get(ApiToken, token_id)
        if token is None:
            abort(404)
        try:
            revoke_token(token, by=current_user)
        except NotPermitted:
            db.session.rollback()
            abort(403)
        except ValidationFailed as failure:
            db.session.rollback()
            flash(str(failure), "warning")
        else:
            db.session.commit()
            flash(_("令牌“%(name)s”已吊销，使用它的请求将被拒绝。", name=token.name), "success")
        return redirect(url_for(".index"))
