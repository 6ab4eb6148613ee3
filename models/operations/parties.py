"""The register of people: one person per identity number, and the ban on further visits.

Every path that registers someone (a letter, visit or call, an appointment, a pass, an
incident, the petitioner register itself) finds the person here, so an identity number that
is already known leads to the person already on file, and a banned person is caught however
they come in.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext as _

from .. import db
from ..enums import IdType
from ..parties import Party
from ..validation import is_valid_phone, normalize_id_number, resident_id_problem
from . import NotPermitted, ValidationFailed


def _ensure_may_register_people(user) -> None:
    if not (user.has_permission("party.manage") or user.has_permission("case.register")):
        raise NotPermitted(_("您没有登记信访人的权限"))


# -- identity ---------------------------------------------------------------------------------


def party_by_id_number(id_number: str | None, *, besides: Party | None = None) -> Party | None:
    """The person registered under ``id_number`` (spaces and case of the letter X ignored)."""
    number = normalize_id_number(id_number or "")
    if not number:
        return None
    # Stored numbers are normalised on every write; a lower-case check letter from before
    # that is still found, and the index on the column still serves.
    spellings = {number, number[:-1] + number[-1].lower()}
    query = sa.select(Party).where(Party.id_number.in_(spellings))
    if besides is not None and besides.id is not None:
        query = query.where(Party.id != besides.id)
    return db.session.scalar(query.order_by(Party.id).limit(1))


def check_identity_number(record) -> None:
    """Normalise ``record.id_number`` and check it when it is (or may be) a resident ID.

    ``record`` is a person or a reception record carrying ``id_type`` and ``id_number``.
    """
    if not record.id_number:
        return
    record.id_number = normalize_id_number(record.id_number)
    if record.id_type in (None, IdType.resident_id, IdType.resident_id.value):
        problem = resident_id_problem(record.id_number)
        if problem:
            raise ValidationFailed(problem, field="id_number")
        record.id_type = IdType.resident_id


def _check(party: Party) -> None:
    if not (party.name or "").strip():
        raise ValidationFailed(_("请填写姓名"), field="name")
    if party.id_number:
        check_identity_number(party)
        other = party_by_id_number(party.id_number, besides=party)
        if other is not None and other is not party:
            raise ValidationFailed(
                _(
                    "证件号码 %(id_number)s 已登记为“%(name)s”，同一证件号码只能对应一人；"
                    "请选择已登记的人员",
                    id_number=party.id_number,
                    name=other.name,
                ),
                field="id_number",
            )
    if party.phone and not is_valid_phone(party.phone):
        raise ValidationFailed(_("电话号码格式不正确"), field="phone")


def register_party(party: Party, *, by) -> Party:
    """Add a new person to the register of petitioners, visitors and customers."""
    _ensure_may_register_people(by)
    with db.session.no_autoflush:
        _check(party)
    party.name = party.name.strip()
    party.created_by_id = by.id
    db.session.add(party)
    db.session.flush()
    return party


def find_or_create_party(data: dict, *, by) -> Party:
    """The person with ``data``'s identity number if already registered, else a new person.

    The identity number decides: a second registration under the same number is the same
    person, whatever name was written this time.
    """
    existing = party_by_id_number(data.get("id_number"))
    if existing is not None:
        _ensure_may_register_people(by)
        return existing
    return register_party(Party(**data), by=by)


def create_party(data: dict, *, by) -> Party:
    return find_or_create_party(data, by=by)


def record_party_edit(party: Party, *, by) -> None:
    if not by.has_permission("party.manage"):
        raise NotPermitted(_("您没有修改信访人资料的权限"))
    with db.session.no_autoflush:
        _check(party)


# -- the ban on further visits -------------------------------------------------------------


def banned_party(*, party: Party | None = None, id_number: str | None = None) -> Party | None:
    """The banned person meant by ``party`` or by the identity number, if any."""
    if party is not None and party.is_banned:
        return party
    for number in (id_number, party.id_number if party is not None else None):
        person = party_by_id_number(number)
        if person is not None and person.is_banned:
            return person
    return None


def ban_warning(person: Party) -> str:
    reason = f"（{person.note.strip()[-80:]}）" if person.note and person.note.strip() else ""
    return _(
        "警告：%(name)s（证件号码 %(id_number)s）已被列入禁止来访名单%(reason)s。"
        "本次未保存任何内容；如经领导同意仍须登记，请勾选“已知悉禁访警告”后再保存。",
        name=person.name,
        id_number=person.id_number or _("未登记"),
        reason=reason,
    )


def ensure_not_banned(*, party=None, id_number=None, acknowledged: bool = False) -> None:
    """Refuse a visit by a banned person unless the warning was acknowledged on purpose."""
    person = banned_party(party=party, id_number=id_number)
    if person is not None and not acknowledged:
        raise ValidationFailed(ban_warning(person), field="id_number")
