"""Creating staff accounts, and the system accounts other channels act as."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext as _

from .. import db
from ..units import Unit
from ..users import Role, User
from . import ValidationFailed

MIN_PASSWORD_LENGTH = 8


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD_LENGTH:
        return _("密码至少需要 %(count)s 个字符", count=MIN_PASSWORD_LENGTH)
    if password.isdigit() or password.isalpha():
        return _("密码须同时包含字母和数字")
    return None


def create_user(
    *,
    username: str,
    full_name: str,
    password: str,
    role_codes=("admin",),
    unit_name: str | None = None,
) -> User:
    """Create an active account with the given roles; the caller commits."""
    username = username.strip()
    if not username:
        raise ValidationFailed(_("用户名不能为空"), field="username")
    if db.session.scalar(sa.select(User.id).where(User.username == username)):
        raise ValidationFailed(_("用户名 %(username)s 已存在", username=username), field="username")
    problem = password_problem(password)
    if problem:
        raise ValidationFailed(problem, field="password")
    roles = db.session.scalars(sa.select(Role).where(Role.code.in_(list(role_codes)))).all()
    missing = set(role_codes) - {role.code for role in roles}
    if missing:
        raise ValidationFailed(
            _(
                "角色不存在：%(roles)s（请先运行 flask load-preset）",
                roles=", ".join(sorted(missing)),
            )
        )
    unit = None
    if unit_name:
        unit = db.session.scalar(sa.select(Unit).where(Unit.name == unit_name))
        if unit is None:
            raise ValidationFailed(_("单位不存在：%(unit)s", unit=unit_name), field="unit")
    user = User(username=username, full_name=full_name.strip() or username, unit=unit)
    user.set_password(password)
    user.roles = list(roles)
    db.session.add(user)
    db.session.flush()
    return user


def system_account(
    *, username: str, full_name: str, role_code: str, role_name: str, description: str, permissions
) -> User:
    """The system account ``username`` (the portal's, the API's), created with its role on first
    use; the caller commits.

    Its password hash is not an Argon2 hash, so no password ever opens it. It stays active: the
    policies take an inactive account for nobody, and it could not see what it registered."""
    user = db.session.scalar(sa.select(User).where(User.username == username))
    if user is not None:
        return user
    role = db.session.scalar(sa.select(Role).where(Role.code == role_code))
    if role is None:
        role = Role(
            code=role_code,
            name=role_name,
            description=description,
            permissions=sorted(permissions),
        )
        db.session.add(role)
    user = User(
        username=username,
        full_name=full_name,
        password_hash="!",  # noqa: S106 - not a hash: nothing verifies against it
        position="系统账号",
    )
    user.roles = [role]
    try:
        with db.session.begin_nested():
            db.session.add(user)
    except sa.exc.IntegrityError:
        # Another request created it at the same moment.
        user = db.session.scalar(sa.select(User).where(User.username == username))
    return user
