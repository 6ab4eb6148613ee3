"""PostgreSQL connections end a read-only transaction with COMMIT instead of ROLLBACK, so the
statements psycopg prepared on them outlive the request (models/pg_connections.py). Anything
that may have changed something is still rolled back for real."""

from __future__ import annotations

import psycopg
import pytest

from models import db
from models.pg_connections import ReadAwareConnection, is_read_statement


@pytest.mark.parametrize(
    ("statement", "read"),
    [
        ("SELECT id FROM cases WHERE id = %s", True),
        ("  select count(*) from units", True),
        (b"SELECT 1", True),
        ("SHOW max_parallel_workers_per_gather", True),
        ("EXPLAIN SELECT * FROM cases", True),
        (";", True),  # the pool's liveness check
        ("", True),
        ("EXPLAIN ANALYZE SELECT * FROM cases", False),
        ("EXPLAIN (ANALYZE, BUFFERS) DELETE FROM cases", False),
        ("SELECT * INTO copy_of_cases FROM cases", False),
        ("INSERT INTO units (name) VALUES (%s)", False),
        ("UPDATE cases SET status = 'closed'", False),
        ("DELETE FROM cases", False),
        ("WITH gone AS (DELETE FROM cases RETURNING id) SELECT count(*) FROM gone", False),
        ("SET search_path TO other", False),
        ("SAVEPOINT sa_savepoint_1", False),
        ("CREATE TEMP TABLE t (n int)", False),
        ("SELECTED", False),
        (None, False),  # executemany and COPY
    ],
)
def test_which_statements_count_as_reads(statement, read):
    assert is_read_statement(statement) is read


def _postgres_connection(backend):
    if backend != "postgresql":
        pytest.skip("prepared statements are psycopg's, on PostgreSQL")
    pooled = db.engine.raw_connection()
    assert isinstance(pooled.driver_connection, ReadAwareConnection)
    return pooled


def _prepared(connection) -> int:
    """How many of the connection's prepared statements read ``scratch_rows`` (the pooled
    connection holds others, and psycopg evicts its oldest beyond a hundred)."""
    return connection.execute(
        "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
        ("%FROM scratch_rows WHERE n >%",),
    ).fetchone()[0]


@pytest.mark.own_connections
def test_a_read_only_rollback_keeps_prepared_statements_and_a_write_is_undone(app, backend):
    pooled = _postgres_connection(backend)
    connection = pooled.driver_connection
    try:
        connection.execute("CREATE TEMP TABLE scratch_rows (n int)")
        connection.commit()
        for _ in range(connection.prepare_threshold + 1):
            connection.execute("SELECT count(*) FROM scratch_rows WHERE n > %s", (0,))
        assert _prepared(connection) == 1
        connection.rollback()  # nothing but reads: kept
        assert _prepared(connection) == 1

        connection.execute("INSERT INTO scratch_rows VALUES (1)")
        connection.rollback()  # a write: a real rollback
        assert connection.execute("SELECT count(*) FROM scratch_rows").fetchone()[0] == 0

        connection.execute("SELECT n FROM scratch_rows")
        connection.execute("UPDATE scratch_rows SET n = 2")
        connection.execute("SELECT n FROM scratch_rows")  # a read after a write changes nothing
        connection.rollback()
        connection.execute("INSERT INTO scratch_rows VALUES (3)")
        connection.commit()
        connection.execute("DELETE FROM scratch_rows")
        connection.rollback()
        assert connection.execute("SELECT n FROM scratch_rows").fetchall() == [(3,)]

        with pytest.raises(Exception, match="division by zero"):
            connection.execute("SELECT 1 / 0")
        connection.rollback()  # a failed transaction is rolled back as psycopg always did
        assert connection.execute("SELECT 2").fetchone() == (2,)
        connection.rollback()

        connection.cursor().executemany("INSERT INTO scratch_rows VALUES (%s)", [(4,), (5,)])
        connection.rollback()
        assert connection.execute("SELECT count(*) FROM scratch_rows").fetchone()[0] == 1
    finally:
        connection.rollback()
        connection.execute("DROP TABLE IF EXISTS scratch_rows")
        connection.commit()
        pooled.close()


def _shape(description) -> list[tuple]:
    return [(column.name, column.type_code) for column in description]


def test_kept_descriptions_match_each_result_prepared_or_not(app, backend):
    """The connection keeps each statement's result description (``ReadTrackingCursor``): it
    must still describe the result at hand, before and after psycopg prepares the statement,
    and when the same text is run with parameters of another type."""
    pooled = _postgres_connection(backend)
    connection = pooled.driver_connection
    try:
        cursor = connection.cursor()
        runs = connection.prepare_threshold + 3
        for value, type_code in [(1, 21), (100_000, 23), (10**12, 20), ("text", 25), (None, 25)]:
            for _ in range(runs):
                cursor.execute("SELECT %s AS v, 2 AS w", (value,))
                shape = _shape(cursor.description)
                assert shape[1] == ("w", 23)
                assert shape[0][0] == "v"
                if value is not None:
                    assert shape[0][1] == type_code, value
                assert cursor.fetchall() == [(value, 2)]
        cursor.execute("SELECT 1 AS one, 'x' AS two, now() AS three")
        assert _shape(cursor.description) == [("one", 23), ("two", 25), ("three", 1184)]
        cursor.execute("SELECT 1 AS one")
        assert _shape(cursor.description) == [("one", 23)]
        cursor.execute("CREATE TEMP TABLE described_rows (n int)")
        assert cursor.description is None  # no result rows: nothing to describe
        plain = psycopg.Cursor(connection)  # psycopg's own cursor, nothing kept
        for statement in ("SELECT n FROM described_rows", "SELECT 1 AS one"):
            cursor.execute(statement)
            plain.execute(statement)
            assert _shape(cursor.description) == _shape(plain.description)
        # Kept descriptions are copies: changing one handed out changes nothing kept.
        cursor.execute("SELECT 1 AS one")
        cursor.description.clear()
        cursor.execute("SELECT 1 AS one")
        assert _shape(cursor.description) == [("one", 23)]
    finally:
        connection.rollback()
        pooled.close()
