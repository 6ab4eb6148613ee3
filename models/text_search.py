"""Indexes that let a search box find short Chinese terms, partial numbers, phones and IDs.

PostgreSQL's pg_trgm answers ``LIKE '%term%'`` from a GIN index only when the term yields a
trigram, that is when it has three characters or more. Chinese names mostly have two or three
characters, so a two-character name (高瑞) would walk the whole register. ``cjk_bigrams(text)``
lists the distinct two-character pieces of a text (lower-cased); a GIN index on it answers
``cjk_bigrams(column) @> ARRAY['高瑞']`` for any register size, and the ``LIKE`` beside it
keeps the result exact. SQLite, the one-desk default, has neither and scans with ``LIKE``.

The function is created before the tables (``db.create_all()``, used by the tests) and by the
migration ``h1d0c0000024``; the indexes are declared on the models with :func:`bigram_index`
and :func:`trigram_index`, which exist on PostgreSQL only.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from . import db

#: The SQL function behind the bigram indexes (IMMUTABLE, so an index may use it).
BIGRAMS_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION cjk_bigrams(value text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT substr(lower(value), i, 2)), '{}')
    FROM generate_series(1, char_length(value) - 1) AS i
$$
"""
DROP_BIGRAMS_FUNCTION_SQL = "DROP FUNCTION IF EXISTS cjk_bigrams(text)"

sa.event.listen(
    db.metadata,
    "before_create",
    sa.DDL(BIGRAMS_FUNCTION_SQL).execute_if(dialect="postgresql"),
)

#: ``(table, column)`` pairs that have a bigram index (filled by :func:`bigram_index`).
BIGRAM_COLUMNS: set[tuple[str, str]] = set()


def bigram_index(table: str, column: str) -> sa.Index:
    """A GIN index on ``cjk_bigrams(column)``, on PostgreSQL only."""
    BIGRAM_COLUMNS.add((table, column))
    return sa.Index(
        f"ix_{table}_{column}_bigrams",
        sa.func.cjk_bigrams(sa.literal_column(column)),
        postgresql_using="gin",
    ).ddl_if(dialect="postgresql")


def trigram_index(table: str, column: str) -> sa.Index:
    """A pg_trgm GIN index on ``column`` (``LIKE '%term%'`` for terms of 3+ characters),
    on PostgreSQL only."""
    # A literal column, as for ix_cases_custom_values: the index is PostgreSQL's alone, and
    # comparing the models with a migrated SQLite database then leaves it out.
    return sa.Index(
        f"ix_{table}_{column}_trgm",
        sa.literal_column(column),
        postgresql_using="gin",
        postgresql_ops={column: "gin_trgm_ops"},
    ).ddl_if(dialect="postgresql")


def term_bigrams(term: str) -> list[str] | None:
    """The bigrams ``cjk_bigrams`` gives for ``term``, or ``None`` when the index cannot
    answer it: a term under two characters, or one with letters other than ASCII whose
    lower case PostgreSQL's ``lower()`` might spell differently from Python's."""
    if len(term) < 2 or any(c.lower() != c.upper() and not c.isascii() for c in term):
        return None
    lowered = term.lower()
    return sorted({lowered[i : i + 2] for i in range(len(lowered) - 1)})


def has_bigrams(column, term: str):
    """SQL (PostgreSQL): ``column`` holds every bigram of ``term``; ``None`` when the term
    has none (see :func:`term_bigrams`)."""
    grams = term_bigrams(term)
    if grams is None:
        return None
    wanted = sa.cast(postgresql.array(grams), postgresql.ARRAY(sa.Text))
    return sa.func.cjk_bigrams(column).op("@>", return_type=sa.Boolean)(wanted)


def is_bigram_indexed(column) -> bool:
    """Does ``column`` (a model attribute or a table column) have a bigram index?"""
    column = getattr(column, "expression", column)
    table = getattr(column, "table", None)
    return table is not None and (getattr(table, "name", None), column.name) in BIGRAM_COLUMNS
