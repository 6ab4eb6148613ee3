"""AJAX pickers for tables that grow (cases, petitioners, users).

Flask-Admin's loader looks rows up with ``session.get(model, submitted_value)``: a value that
is not a number then fails inside PostgreSQL. These loaders check the key first; the case
picker offers only the cases the signed-in user may see, the people picker only the people.
"""

from __future__ import annotations

from flask_admin.contrib.sqla.ajax import QueryAjaxModelLoader
from flask_login import current_user

from models import Case, Party, User, db
from models.policies import party_visible_clause, visible_cases_clause
from models.texts import lazy_gettext as _l
from models.users import staff_condition

from .search import as_case_number

PAGE_SIZE = 10


class IdLookup(QueryAjaxModelLoader):
    """A loader that ignores ids that are not whole numbers and clamps paging arguments."""

    def get_list(self, term, offset=0, limit=PAGE_SIZE):
        offset = max(offset or 0, 0)
        limit = min(max(limit or PAGE_SIZE, 1), 50)
        return super().get_list(term, offset, limit)

    def get_one(self, pk):
        try:
            key = int(str(pk))
        except (TypeError, ValueError):
            return None
        with db.session().no_autoflush:
            return self.get_query().filter(self.model.id == key).one_or_none()


class CaseLookup(IdLookup):
    """Only cases the user may see, newest first; a full registration number is an equality."""

    def get_query(self):
        return Case.query.filter(
            visible_cases_clause(current_user), Case.is_deleted.is_(False)
        ).order_by(Case.id.desc())

    def get_list(self, term, offset=0, limit=PAGE_SIZE):
        number = as_case_number(term)
        if number is None:
            return super().get_list(term, offset, limit)
        return self.get_query().filter(Case.number == number).limit(1).all()


class PartyLookup(IdLookup):
    """Only people the user may already see (``models.policies.party_visible_clause``): the
    register is searched by name, phone and ID number, so it must not answer for a 举报
    case's reporter or for people of other units' cases."""

    def get_query(self):
        return Party.query.filter(party_visible_clause(current_user)).order_by(Party.id)


class ActiveUserLookup(IdLookup):
    def get_query(self):
        return User.query.filter(staff_condition()).order_by(User.id)


def case_lookup(name: str = "case") -> CaseLookup:
    return CaseLookup(
        name,
        db,
        Case,
        fields=("number", "subject"),
        page_size=PAGE_SIZE,
        placeholder=_l("输入登记编号或标题查找"),
    )


def party_lookup(name: str) -> PartyLookup:
    return PartyLookup(
        name,
        db,
        Party,
        fields=("name", "phone", "id_number"),
        page_size=PAGE_SIZE,
        placeholder=_l("输入姓名、电话或证件号查找"),
    )


def user_lookup(name: str) -> ActiveUserLookup:
    return ActiveUserLookup(
        name,
        db,
        User,
        fields=("full_name", "username"),
        page_size=PAGE_SIZE,
        placeholder=_l("输入姓名查找"),
    )
