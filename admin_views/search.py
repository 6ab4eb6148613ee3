"""Registration-number search: an indexed equality instead of Flask-Admin's ``ILIKE``."""

from __future__ import annotations

import re

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
    """Treat a search that looks like a registration number as ``number = :term``."""

    #: Column holding the case id on the view's model (``None`` for the case view itself).
    case_id_column = None

    def _apply_search(self, query, count_query, joins, count_joins, search):
        number = as_case_number(search)
        if number is None:
            return super()._apply_search(query, count_query, joins, count_joins, search)
        if self.case_id_column is None:
            condition = Case.number == number
        else:
            case_id = Case.query.with_entities(Case.id).filter(Case.number == number)
            condition = self.case_id_column == case_id.scalar_subquery()
        query = query.filter(condition)
        if count_query is not None:
            count_query = count_query.filter(condition)
        return query, count_query, joins, count_joins
