"""A group's representatives (代表人) as people in the register, linked to the case in order.

A group visit or joint letter names a few representatives for the many who came (S19: thirty
residents, five representatives with names and ID numbers). Each is a :class:`Party`, found by
identity number like every other person (operations.parties), so a representative who comes
again is the same person, and the ban list and the 举报 masking reach them.

Staff type one representative per line: the name, then the ID number and the phone in any
order (spaces, commas or 、 between them). The whole list is checked before anything is
written: one bad ID number refuses the save with its line number, and nothing changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import gettext as _

from .. import db
from ..cases import Case, CaseRepresentative
from ..enums import EventKind, IdType
from ..parties import Party
from ..validation import (
    is_valid_phone,
    normalize_id_number,
    normalize_phone,
    resident_id_problem,
)
from . import ValidationFailed
from .audit import log_event
from .parties import find_or_create_party, party_by_id_number

#: Separators between the parts of one representative's line (and of the old free text).
SEPARATORS = re.compile(r"[、，,；;\s]+")
#: The form field the registrar types the representatives into.
FIELD = "representative_lines"
MAX_REPRESENTATIVES = 50


@dataclass(frozen=True)
class RepresentativeEntry:
    name: str
    id_number: str | None = None
    phone: str | None = None

    def line(self) -> str:
        return " ".join(part for part in (self.name, self.id_number, self.phone) if part)


def _looks_like_phone(token: str) -> bool:
    number = normalize_phone(token)
    # An 18-character ID number is never a phone number, even when it is all digits.
    return len(number) < 15 and is_valid_phone(number)


def parse_representatives(text: str | None) -> list[RepresentativeEntry]:
    """The representatives typed one per line; a Chinese message names a bad line."""
    entries: list[RepresentativeEntry] = []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        tokens = [token for token in SEPARATORS.split(raw.strip()) if token]
        if not tokens:
            continue
        name, rest = tokens[0], tokens[1:]
        if len(name) > 64 or any(ch.isdigit() for ch in name):
            raise ValidationFailed(
                _("代表人第%(line)s行：请先写姓名，再写证件号码和电话", line=number), field=FIELD
            )
        phones = [token for token in rest if _looks_like_phone(token)]
        ids = [token for token in rest if token not in phones]
        if len(phones) > 1 or len(ids) > 1:
            raise ValidationFailed(
                _(
                    "代表人第%(line)s行：每行只写一人（姓名、证件号码、电话），多人请分行填写",
                    line=number,
                ),
                field=FIELD,
            )
        id_number = normalize_id_number(ids[0]) if ids else None
        if id_number:
            problem = resident_id_problem(id_number)
            if problem:
                raise ValidationFailed(
                    _("代表人第%(line)s行（%(name)s）：%(problem)s", line=number, name=name,
                      problem=problem),
                    field=FIELD,
                )  # fmt: skip
        entries.append(
            RepresentativeEntry(
                name=name, id_number=id_number, phone=normalize_phone(phones[0]) if phones else None
            )
        )
    if len(entries) > MAX_REPRESENTATIVES:
        raise ValidationFailed(
            _("代表人最多登记%(count)s人", count=MAX_REPRESENTATIVES), field=FIELD
        )
    numbers = [entry.id_number for entry in entries if entry.id_number]
    if len(numbers) != len(set(numbers)):
        raise ValidationFailed(_("代表人中有重复的证件号码"), field=FIELD)
    return entries


def representative_lines(case: Case) -> str:
    """The case's representatives as the form shows them, one per line."""
    return "\n".join(
        RepresentativeEntry(party.name, party.id_number, party.phone).line()
        for party in case.representatives
    )


def _person_for(entry: RepresentativeEntry, current: list[Party], *, by) -> Party:
    """The person ``entry`` means: the one registered under its ID number; without a number,
    the representative of the same name already on the case; else a new person."""
    if entry.id_number:
        known = party_by_id_number(entry.id_number)
        if known is not None:
            if entry.phone and not known.phone:
                known.phone = entry.phone
            return known
    else:
        same = next(
            (
                party
                for party in current
                if party.name == entry.name and not party.id_number
                and (entry.phone is None or party.phone in (None, entry.phone))
            ),
            None,
        )  # fmt: skip
        if same is not None:
            if entry.phone and not same.phone:
                same.phone = entry.phone
            return same
    return find_or_create_party(
        {
            "name": entry.name,
            "id_type": IdType.resident_id if entry.id_number else None,
            "id_number": entry.id_number,
            "phone": entry.phone,
        },
        by=by,
    )


def set_representatives(
    case: Case, entries: list[RepresentativeEntry], *, by, keep_existing: bool = False, at=None
) -> bool:
    """Make ``entries`` the case's representatives, in order; return whether they changed.

    ``keep_existing``: add to the representatives already on the case (a repeat visit by the
    same group) instead of replacing them. Nothing changes when the list is the same.
    """
    if not by.has_permission("case.edit") and not by.has_permission("case.register"):
        raise ValidationFailed(_("您没有登记代表人的权限"), field=FIELD)
    current = list(case.representatives)
    people: list[Party] = list(current) if keep_existing else []
    for entry in entries:
        person = _person_for(entry, current, by=by)
        if person not in people:
            people.append(person)
    if [p.id for p in people] == [p.id for p in current]:
        return False
    before = [str(party.name) for party in current]
    case.representative_links = [
        # Links kept for people already on the case; positions renumbered.
        _link(case, person, position)
        for position, person in enumerate(people, start=1)
    ]
    db.session.flush()
    log_event(
        case,
        EventKind.edited,
        f"Case {case.number}: representatives set ({len(people)})",
        by=by,
        data={"representatives": [before, [person.name for person in people]]},
        at=at,
    )
    return True


def _link(case: Case, person: Party, position: int) -> CaseRepresentative:
    existing = next(
        (link for link in case.representative_links if link.party_id == person.id), None
    )
    if existing is not None:
        existing.position = position
        return existing
    return CaseRepresentative(party=person, position=position)
