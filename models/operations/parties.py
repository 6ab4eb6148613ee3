"""Creating and editing petitioner records."""

from __future__ import annotations

from flask_babel import gettext as _

from .. import db
from ..enums import IdType
from ..parties import Party
from ..validation import is_valid_phone, normalize_id_number, resident_id_problem
from . import NotPermitted, ValidationFailed


def _ensure_may_register_people(user) -> None:
    if not (user.has_permission("party.manage") or user.has_permission("case.register")):
        raise NotPermitted(_("您没有登记信访人的权限"))


def _check(party: Party) -> None:
    if not (party.name or "").strip():
        raise ValidationFailed(_("请填写姓名"), field="name")
    if party.id_number:
        party.id_number = normalize_id_number(party.id_number)
        if party.id_type in (None, IdType.resident_id, IdType.resident_id.value):
            problem = resident_id_problem(party.id_number)
            if problem:
                raise ValidationFailed(problem, field="id_number")
            party.id_type = IdType.resident_id
    if party.phone and not is_valid_phone(party.phone):
        raise ValidationFailed(_("电话号码格式不正确"), field="phone")


def register_party(party: Party, *, by) -> Party:
    """Add a new person to the register of petitioners, visitors and customers."""
    _ensure_may_register_people(by)
    _check(party)
    party.name = party.name.strip()
    party.created_by_id = by.id
    db.session.add(party)
    db.session.flush()
    return party


def create_party(data: dict, *, by) -> Party:
    return register_party(Party(**data), by=by)


def record_party_edit(party: Party, *, by) -> None:
    if not by.has_permission("party.manage"):
        raise NotPermitted(_("您没有修改信访人资料的权限"))
    _check(party)
