"""Registration-number search: an indexed equality instead of Flask-Admin's ``ILIKE``."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_login import current_user

from models import Case
from models.policies import quotes_reporter, reporter_text_searchable_clause
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


def like_pattern(term: str) -> str:
    """``%term%`` with LIKE wildcards in the term escaped (escape character ``\\``)."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def contains(column, term: str):
    """``column`` contains ``term``: a plain LIKE for Chinese text, which has no letter case
    (and lets pg_trgm indexes answer), ILIKE when the term has Latin letters."""
    pattern = like_pattern(term)
    if re.search(r"[A-Za-z]", term):
        return column.ilike(pattern, escape="\\")
    return column.like(pattern, escape="\\")


class CaseRecordSearchMixin(NumberSearchMixin):
    """The search box of a list of a case's records (callbacks, timeline entries …).

    A term finds a record by its case's number, by its case's subject, and by the record's own
    columns named in ``column_searchable_list`` (plain columns of the model). A column that
    names the reporter or quotes them (``models.policies.quotes_reporter``) matches only on
    records of cases whose reporter the user may see: finding a 举报 case by its reporter's
    name would tell who reported.
    """

    def init_search(self) -> bool:
        super().init_search()
        return True  # the case's number and subject are searched even without own columns

    def search_placeholder(self) -> str | None:
        own = [
            str(self.column_labels.get(name, name)) for name in self.column_searchable_list or ()
        ]
        return _("、").join([_("事项编号"), _("事项标题"), *own])

    def _apply_search(self, query, count_query, joins, count_joins, search):
        if as_case_number(search):
            return super()._apply_search(query, count_query, joins, count_joins, search)
        case_id = self.model.case_id
        reporter_searchable = reporter_text_searchable_clause(current_user, case_id)
        for term in search.split():
            subjects = sa.select(Case.id).where(contains(Case.subject, term))
            plain, quoting = [case_id.in_(subjects)], []
            for name in self.column_searchable_list or ():
                found = contains(getattr(self.model, name), term)
                (quoting if quotes_reporter(name) else plain).append(found)
            if quoting:
                plain.append(sa.and_(sa.or_(*quoting), reporter_searchable))
            condition = sa.or_(*plain)
            query = query.filter(condition)
            if count_query is not None:
                count_query = count_query.filter(condition)
        return query, count_query, joins, count_joins
