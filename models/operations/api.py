"""The JSON API's service side: tokens of other systems, and what those systems may do.

A token (``ApiToken``) acts as one account: a staff member, or the system account 系统接口
(``api-integration``) that, like the portal's 网上信访, cannot log in. What the token may do is
what the account may do, narrowed to the token's permissions and units (the rules are in
``models.policies``: ``api_token_permits``, ``api_token_sees_case``). Cases are registered
through the same ``register_case`` / ``register_contact`` as the admin and the portal; the
calling system's own id makes a registration idempotent (``ApiCaseLink``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _

from models.texts import lazy_gettext as _l

from .. import db
from ..api_tokens import ApiCaseLink, ApiToken
from ..base import utcnow
from ..cases import Case, CaseEvent
from ..categories import Category
from ..contacts import Call
from ..enums import CallLine, CaseChannel, CasePriority
from ..policies import (
    api_token_cases_clause,
    api_token_permits,
    api_token_sees_case,
    can_see_live_case,
    visible_cases_clause,
)
from ..users import API_USERNAME, User
from . import Conflict, NotPermitted, ValidationFailed
from .cases import register_case
from .contacts import register_contact
from .guards import ensure_not_future, ensure_permission
from .parties import find_or_create_party
from .users import system_account

logger = logging.getLogger(__name__)

#: Permissions a token may carry (each only if its account holds it too).
API_PERMISSIONS = ("case.view", "case.view_all", "case.register", "confidential.view")
#: Channels another system may register a case under: a hotline's call (来电, recorded as a
#: call on the case), a petition taken online (网上), or a matter handed down (上级交办).
API_CHANNELS = (CaseChannel.call, CaseChannel.online, CaseChannel.higher_assignment)

API_FULL_NAME = "系统接口"
API_ROLE_CODE = "api_integration"
API_ROLE_NAME = "系统接口（系统）"
#: The system account's own permissions; a token of it is narrowed further.
API_ROLE_PERMISSIONS = ("case.register", "case.view", "case.view_all")

TOKEN_PREFIX = "xft_"  # noqa: S105 (a marker, not a secret)
INTEGRATION_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")


class ApiConflict(Conflict):
    """The external id was used before for a different request."""


# -- the system account -----------------------------------------------------------------------


def api_actor() -> User:
    """The 系统接口 account, created with its role on first use (like ``portal_actor``)."""
    return system_account(
        username=API_USERNAME,
        full_name=API_FULL_NAME,
        role_code=API_ROLE_CODE,
        role_name=API_ROLE_NAME,
        description="其他系统（热线、办公系统）通过接口登记和查询事项所用的系统角色",
        permissions=API_ROLE_PERMISSIONS,
    )


# -- tokens -------------------------------------------------------------------------------------


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    *,
    name: str,
    integration: str,
    user: User | None,
    permissions,
    units=(),
    by,
) -> tuple[ApiToken, str]:
    """Create a token; return it and its secret, which is shown once and never stored."""
    ensure_permission(by, "user.manage")
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_("请填写令牌名称"), field="name")
    if len(name) > 80:
        raise ValidationFailed(_("令牌名称不能超过 %(count)s 个字", count=80), field="name")
    integration = (integration or "").strip().lower()
    if not INTEGRATION_PATTERN.match(integration):
        raise ValidationFailed(
            _("对接系统代码只能由小写字母、数字、点、横线和下划线组成，最长 40 个字符"),
            field="integration",
        )
    user = user or api_actor()
    if not user.is_active_user:
        raise ValidationFailed(_("所选账号已停用"), field="user")
    permissions = sorted(set(permissions or ()))
    if not permissions:
        raise ValidationFailed(_("请至少选择一项权限"), field="permissions")
    for permission in permissions:
        if permission not in API_PERMISSIONS:
            raise ValidationFailed(
                _("不能授予接口的权限：%(name)s", name=permission), "permissions"
            )
        if not user.has_permission(permission):
            raise ValidationFailed(
                _("账号“%(user)s”本身没有此权限：%(name)s", user=user, name=permission),
                field="permissions",
            )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        integration=integration,
        prefix=secret[:12],
        token_hash=hash_token(secret),
        user=user,
        permissions=permissions,
        created_by_id=by.id,
    )
    token.units = list(units or ())
    db.session.add(token)
    db.session.flush()
    logger.info("api token %s created for user %s by %s", token.id, user.id, by.id)
    return token, secret


def revoke_token(token: ApiToken, *, by) -> None:
    ensure_permission(by, "user.manage")
    if token.revoked_at is not None:
        raise ValidationFailed(_("此令牌已经吊销"), field="token")
    token.revoked_at = utcnow()
    token.revoked_by_id = by.id
    db.session.flush()


def authenticate(secret: str | None) -> ApiToken | None:
    """The live token with this secret (its account active), noting when it was used."""
    secret = (secret or "").strip()
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        return None
    digest = hash_token(secret)
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == digest))
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    if token.revoked_at is not None or not token.user.is_active_user:
        return None
    token.last_used_at = utcnow()
    return token


class ApiPrincipal:
    """The token's account as the policies see it: only the permissions the token grants."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, token: ApiToken) -> None:
        self.token = token
        self.user = token.user

    @property
    def is_active(self) -> bool:
        return self.user.is_active_user

    @property
    def permissions(self) -> frozenset[str]:
        return frozenset(p for p in API_PERMISSIONS if self.has_permission(p))

    def has_permission(self, name: str) -> bool:
        return api_token_permits(self.token, name)

    def __getattr__(self, name):
        # id, unit_id, username, full_name …: the account's own.
        return getattr(self.user, name)


def ensure_token_permits(principal: ApiPrincipal, permission: str) -> None:
    if not principal.has_permission(permission):
        raise NotPermitted(_("此令牌没有执行此操作的权限"))


def may_read_case(principal: ApiPrincipal, case: Case | None) -> bool:
    """What an API caller may open: a live case its account sees, within the token's units."""
    return (
        case is not None
        and principal.has_permission("case.view")
        and can_see_live_case(principal, case)
        and api_token_sees_case(principal.token, case)
    )


def readable_cases_clause(principal: ApiPrincipal):
    """SQL twin of :func:`may_read_case` for ``Case`` rows."""
    if not principal.has_permission("case.view"):
        return sa.false()
    return sa.and_(
        Case.is_deleted.is_(False),
        visible_cases_clause(principal),
        api_token_cases_clause(principal.token),
    )


def case_by_number(principal: ApiPrincipal, number: str) -> Case | None:
    """The case with this number if the caller may read it; else ``None`` (a 404 either way,
    so a caller cannot tell another unit's case from one that does not exist)."""
    case = db.session.scalar(sa.select(Case).where(Case.number == (number or "").strip()[:40]))
    return case if may_read_case(principal, case) else None


def external_link(principal: ApiPrincipal, external_id: str) -> ApiCaseLink | None:
    return db.session.scalar(
        sa.select(ApiCaseLink).where(
            ApiCaseLink.integration == principal.token.integration,
            ApiCaseLink.external_id == external_id,
        )
    )


# -- registering --------------------------------------------------------------------------------


@dataclass
class ExternalCase:
    external_id: str
    channel: str
    subject: str
    content: str
    demands: str | None = None
    category_id: int | None = None
    priority: str | None = None
    anonymous: bool = False
    received_at: datetime | None = None
    petitioner: dict | None = None
    #: For a call: the number dialled (12345) and the caller's number.
    line_number: str | None = None
    caller_number: str | None = None

    def fingerprint(self) -> str:
        values = {k: v for k, v in self.__dict__.items() if k != "external_id"}
        text = json.dumps(values, sort_keys=True, default=str, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()


def _category(category_id: int | None) -> Category | None:
    if category_id is None:
        return None
    category = db.session.get(Category, category_id)
    if category is None or not category.is_active:
        raise ValidationFailed(_("所选分类不存在或已停用"), field="category_id")
    return category


def register_external_case(principal: ApiPrincipal, data: ExternalCase) -> tuple[Case, bool]:
    """Register a case sent by another system, or find the one it sent before under the same
    id. Returns the case and whether it was created now. The same id with other content is a
    conflict: the calling system reused its id."""
    ensure_token_permits(principal, "case.register")
    link = external_link(principal, data.external_id)
    if link is not None:
        if link.request_hash != data.fingerprint():
            raise ApiConflict(
                _("外部编号 %(id)s 已用于登记另一件内容不同的事项", id=data.external_id)
            )
        return link.case, False
    channel = CaseChannel(data.channel)
    if channel not in API_CHANNELS:
        raise ValidationFailed(_("不支持的登记渠道"), field="channel")
    actor = principal.user
    received_at = data.received_at or utcnow()
    ensure_not_future(received_at, "received_at", _l("收到时间"))
    case = Case(
        channel=channel,
        subject=data.subject.strip(),
        content=data.content.strip(),
        demands=(data.demands or "").strip() or None,
        category=_category(data.category_id),
        priority=CasePriority(data.priority) if data.priority else CasePriority.normal,
        is_anonymous=bool(data.anonymous),
        received_at=received_at,
        head_count=1,
    )
    person = None
    if not case.is_anonymous:
        details = data.petitioner or {}
        if not (details.get("name") or "").strip():
            raise ValidationFailed(_("请填写信访人姓名，或注明匿名"), field="petitioner")
        person = find_or_create_party(
            {
                "name": details["name"].strip(),
                "phone": details.get("phone") or None,
                "id_number": details.get("id_number") or None,
            },
            by=actor,
        )
    if channel == CaseChannel.call:
        call = Call(
            caller=person,
            line=CallLine.hotline,
            line_number=data.line_number or None,
            caller_number=None if case.is_anonymous else data.caller_number or None,
            called_at=received_at,
            record=case.content,
        )
        register_contact(call, by=actor, new_case=case)
    else:
        register_case(case, by=actor, petitioners=[person] if person else [])
    db.session.add(
        ApiCaseLink(
            integration=principal.token.integration,
            external_id=data.external_id,
            case=case,
            token_id=principal.token.id,
            request_hash=data.fingerprint(),
        )
    )
    db.session.flush()
    return case, True


def add_call(
    principal: ApiPrincipal,
    case: Case,
    *,
    record: str,
    called_at: datetime | None = None,
    line_number: str | None = None,
    caller_name: str | None = None,
    caller_phone: str | None = None,
) -> Call:
    """Record a further call about ``case`` (重复来电), as the admin's 来电登记 does."""
    ensure_token_permits(principal, "case.register")
    actor = principal.user
    person = None
    if (caller_name or "").strip() and not case.is_anonymous:
        person = find_or_create_party(
            {"name": caller_name.strip(), "phone": caller_phone or None}, by=actor
        )
    call = Call(
        caller=person,
        line=CallLine.hotline,
        line_number=line_number or None,
        caller_number=None if case.is_anonymous else caller_phone or None,
        called_at=called_at or utcnow(),
        record=record.strip(),
    )
    return register_contact(call, by=actor, case=case)


# -- changes since a cursor ---------------------------------------------------------------------


def changes_since(principal: ApiPrincipal, cursor: int, limit: int) -> tuple[list, int, bool]:
    """Timeline events of readable cases after ``cursor`` (an event id), oldest first.

    Returns ``(events, next_cursor, has_more)``; events are never edited or removed, so the
    cursor is stable: asking again with ``next_cursor`` continues where the page ended.
    """
    ensure_token_permits(principal, "case.view")
    readable = sa.select(Case.id).where(readable_cases_clause(principal))
    rows = list(
        db.session.scalars(
            sa.select(CaseEvent)
            .where(CaseEvent.id > cursor, CaseEvent.case_id.in_(readable))
            .order_by(CaseEvent.id)
            .limit(limit + 1)
            .options(sa.orm.joinedload(CaseEvent.case))
        )
    )
    has_more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if rows else cursor), has_more
