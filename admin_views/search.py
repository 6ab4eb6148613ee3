"""Registration-number search: an indexed equality instead of Flask-Admin's ``ILIKE``."""

from __future__ import annotations

import re

import sqlalchemy as sa

from models import Case
from models.settings import SystemSetting


def number_regex() -> re.Pattern:
    """A regex matching numbers the configured pattern produces (``XF{year}-{seq:06d}``)."""
    pattern = SystemSetting.get("case_number_pattern")
    parts = re.split(r"(\{year[^}]*\}|\{seq[^}]*\})", pattern)
    regex = ""
    for part in parts:
        if part.startswith("{year"):
            regex += r"\d{4}"
        elif part.startswith("{seq"):
            regex += r"\d+"
        else:
            regex += re.escape(part)
    return re.compile(regex, re.IGNORECASE)


def as_case_number(search: str | None) -> str | None:
    """Return the search text as a registration number when it looks like one."""
    term = (search or "").strip()
    if term and " " not in term and number_regex().fullmatch(term):
        return term.upper()
    return None


class NumberSearchMixin:
    """Treat a search that looks like a registration number as ``number = :term``.

    On the case list that is ``cases.number``; on lists of records that belong to a case
    (letters, visits, calls, callbacks …) it is their ``case_id`` of that number.
    """

    def _apply_search(self, query, count_query, joins, count_joins, search):
        number = as_case_number(search)
        if number is None:
            return super()._apply_search(query, count_query, joins, count_joins, search)
        if self.model is Case:
            condition = Case.number == number
        else:
            case_id = sa.select(Case.id).where(Case.number == number).scalar_subquery()
            condition = self.model.case_id == case_id
        query = query.filter(condition)
        if count_query is not None:
            count_query = count_query.filter(condition)
        return query, count_query, joins, count_joins
