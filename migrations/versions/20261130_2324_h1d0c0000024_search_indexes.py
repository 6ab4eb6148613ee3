"""search indexes: bigrams for two-character terms, trigrams for numbers, phones and IDs

Revision ID: h1d0c0000024
Revises: g5d0c0000023
Create Date: 2026-11-30 23:24:00.000000

PostgreSQL only (SQLite, the one-desk default, scans with LIKE and gets nothing here):
``cjk_bigrams(text)`` and GIN indexes on it for case subjects, petitioner names and people's
names, so that a two-character term (which yields no trigram) is found from an index; pg_trgm
GIN indexes on registration numbers and on people's names, phones and ID numbers, so that part
of one finds a case. See ``models.text_search``.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "h1d0c0000024"
down_revision = "g5d0c0000023"
branch_labels = None
depends_on = None

# A copy of models.text_search.BIGRAMS_FUNCTION_SQL as it was at this revision.
BIGRAMS_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION cjk_bigrams(value text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT substr(lower(value), i, 2)), '{}')
    FROM generate_series(1, char_length(value) - 1) AS i
$$
"""
DROP_BIGRAMS_FUNCTION_SQL = "DROP FUNCTION IF EXISTS cjk_bigrams(text)"
BIGRAM_INDEXES = (("cases", "subject"), ("cases", "petitioner_names"), ("parties", "name"))
TRIGRAM_INDEXES = (
    ("cases", "number"),
    ("parties", "phone"),
    ("parties", "id_number"),
    ("parties", "name"),
)


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(BIGRAMS_FUNCTION_SQL)
    for table, column in BIGRAM_INDEXES:
        op.execute(
            f"CREATE INDEX ix_{table}_{column}_bigrams ON {table} "
            f"USING gin (cjk_bigrams({column}))"
        )
    for table, column in TRIGRAM_INDEXES:
        op.execute(
            f"CREATE INDEX ix_{table}_{column}_trgm ON {table} USING gin ({column} gin_trgm_ops)"
        )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in TRIGRAM_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS ix_{table}_{column}_trgm")
    for table, column in BIGRAM_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS ix_{table}_{column}_bigrams")
    op.execute(DROP_BIGRAMS_FUNCTION_SQL)
