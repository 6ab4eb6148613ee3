"""Search boxes: an indexed equality for a full registration number, indexed lookups (bigram
and pg_trgm indexes on PostgreSQL, ``models.text_search``) for everything else."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_login import current_user

from models import Case, CaseRepresentative, Party, case_petitioners, db
from models.policies import (
    among,
    quotes_reporter,
    reporter_text_searchable_clause,
    reporter_visible_clause,
)
from models.settings import SystemSetting
from models.text_search import has_bigrams, is_bigram_indexed


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


def shortest_number_length() -> int:
    """The length of the shortest number the configured pattern produces (``XF2026-000001``);
    a shorter term that looks like a number is only the beginning of one."""
    try:
        return len(SystemSetting.get("case_number_pattern").format(year=2026, seq=1))
    except (KeyError, IndexError, ValueError):
        return 0


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
    (and lets pg_trgm indexes answer), ILIKE when the term has Latin letters.

    pg_trgm cannot answer a two-character term (it yields no trigram); on a column with a
    bigram index (``models.text_search``) PostgreSQL then also tests the index's bigrams, so
    that a two-character name is found from the index instead of by reading the register.
    """
    pattern = like_pattern(term)
    if re.search(r"[A-Za-z]", term):
        condition = column.ilike(pattern, escape="\\")
    else:
        condition = column.like(pattern, escape="\\")
    if len(term) == 2 and is_bigram_indexed(column) and _on_postgresql():
        bigrams = has_bigrams(column, term)
        if bigrams is not None:
            # The LIKE first: when the planner walks the list instead (a common term), it
            # evaluates this AND in order, and the bigram function is the costlier test.
            condition = sa.and_(condition, bigrams)
    return condition


def _on_postgresql() -> bool:
    return db.engine.dialect.name == "postgresql"


#: A part of a registration number worth looking up: three or more letters, digits and dashes,
#: at least one a digit (``000123``, ``2026-0001``, ``XF2026``).
PARTIAL_NUMBER = re.compile(r"(?=.*\d)[A-Za-z0-9-]{3,}")
#: A part of a phone number: four or more digits, dashes allowed (0571-8888).
PARTIAL_PHONE = re.compile(r"(?=(?:-*\d){4})[\d-]+")
#: A part of an identity number: four or more digits, perhaps ending in the check letter X.
PARTIAL_ID = re.compile(r"\d{3,}[\dXx]")


def party_number_conditions(term: str) -> list:
    """SQL on ``Party``: a person's phone or ID number contains ``term``, asked only when the
    term looks like part of one (a name is never looked for among the numbers)."""
    numbers = []
    if PARTIAL_PHONE.fullmatch(term):
        numbers.append(contains(Party.phone, term))
    if PARTIAL_ID.fullmatch(term):
        # A whole resident ID number (18 characters, the longest) is looked up by equality in
        # the b-tree index; its 16 trigrams, shared by every number of the same district
        # and birth year, would cost more.
        whole = len(term) == 18
        numbers.append(
            Party.id_number.in_(sorted({term, term.upper()}))
            if whole
            else contains(Party.id_number, term)
        )
    return numbers


def party_search_condition(term: str):
    """SQL on ``Party``: the people one search term finds, by name (a two-character name
    through the bigram index) or by part of their phone or ID number."""
    return sa.or_(contains(Party.name, term), *party_number_conditions(term))


def case_search_condition(term: str, user):
    """SQL on ``Case``: the cases one search term finds for ``user``.

    A term finds a case by its subject, by part of its registration number, and by the name,
    phone or ID number of a petitioner, representative or agent (phones and ID numbers only
    for terms that look like them). People are matched only on cases whose reporter ``user``
    may see (``models.policies.reporter_visible_clause``): finding a 举报 case by its
    reporter's name, phone or ID number would tell who reported.

    Every branch of the OR is answerable from an index of ``cases`` on PostgreSQL (bigram or
    trigram GIN indexes, and the primary key for the people, whose case ids are collected
    once into an array), so the planner may combine them (BitmapOr) when the term is rare and
    still walk the list in order when it is common and 20 rows are quickly found.
    """
    visible = reporter_visible_clause(user)
    branches = [contains(Case.subject, term)]
    if PARTIAL_NUMBER.fullmatch(term):
        branches.append(contains(Case.number, term))
    people = [contains(Case.petitioner_names, term)]
    # People by phone or ID number; representatives also by name (a case's petitioners are
    # found by name through ``petitioner_names`` above).
    numbers = party_number_conditions(term)
    if numbers:
        by_number = sa.select(Party.id).where(sa.or_(*numbers))
        people += [
            among(
                Case.id,
                sa.select(case_petitioners.c.case_id).where(
                    case_petitioners.c.party_id.in_(by_number)
                ),
            ),
            among(Case.agent_id, by_number),
        ]
    representatives = sa.select(Party.id).where(sa.or_(contains(Party.name, term), *numbers))
    people.append(
        among(
            Case.id,
            sa.select(CaseRepresentative.case_id).where(
                CaseRepresentative.party_id.in_(representatives)
            ),
        )
    )
    branches += [sa.and_(found, visible) for found in people]
    return sa.or_(*branches)


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
        own = [self.search_label(name) for name in self.column_searchable_list or ()]
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
