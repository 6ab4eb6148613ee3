"""PostgreSQL connections that keep their prepared statements across read-only requests.

psycopg prepares a statement on the server once it has run a few times on one connection
(``prepare_threshold``, 5 by default); later runs send only the statement's name, and
PostgreSQL can reuse its plan. But psycopg forgets everything it prepared at every ROLLBACK,
and a request that only reads ends with one: closing the session, or returning the connection
to the pool, rolls back. So every request started cold, and PostgreSQL planned the case page's
wide statement again each time (8-11 ms at a million cases; about 2.5 ms once prepared).

Even planned anew for each run (see ``CONNECTION_OPTIONS``), a prepared statement saves parsing
and analysing its text.

For a transaction that has only read, COMMIT and ROLLBACK leave the database the same, and
COMMIT keeps psycopg's prepared statements. :class:`ReadAwareConnection` therefore ends such a
transaction with COMMIT when asked to roll it back. "Only read" is decided conservatively, from
the text of every statement the connection ran in the transaction: plain ``SELECT``, ``SHOW``
and ``EXPLAIN`` without ``ANALYZE``. Anything else (a write, ``SET``, a savepoint, ``COPY``,
``executemany``, a composed statement) and any failed statement make the rollback a real one.

The connections' cursors also keep each statement's result description (the list of columns
that DB-API consumers read after every statement), built once per statement and connection
instead of once per run.
"""

from __future__ import annotations

import functools
import re

import psycopg
from psycopg.pq import TransactionStatus

#: Statements that change nothing a ROLLBACK would undo, and the empty statement of the pool's
#: liveness check (``pool_pre_ping``). ``SELECT ... INTO`` creates a table, so a SELECT naming
#: INTO is not counted as a read.
_READ_STATEMENT = re.compile(r"\s*(SELECT\b|SHOW\b|EXPLAIN\b(?!\s*\(?\s*ANALY[SZ]E)|;?\s*$)", re.I)
_SELECT_INTO = re.compile(r"\bINTO\b", re.I)


def is_read_statement(query) -> bool:
    """True for a statement whose effects a ROLLBACK would not need to undo."""
    if isinstance(query, bytes):
        query = query.decode("utf-8", "replace")
    return isinstance(query, str) and _is_read_text(query)


@functools.lru_cache(maxsize=2048)
def _is_read_text(query: str) -> bool:
    # Kept per statement text: SQLAlchemy hands over the same compiled string each time, and
    # a page's statement can be tens of kilobytes long.
    if not _READ_STATEMENT.match(query):
        return False
    if query.lstrip()[:6].upper() != "SELECT" or "INTO" not in query.upper():
        return True
    return not _SELECT_INTO.search(query)


#: Statements whose result description a connection keeps (a process runs a few hundred).
DESCRIPTIONS_KEPT = 2048


class _Tracking:
    """Mixin of the cursors: tell the connection what each statement was."""

    def execute(self, query, *args, **kwargs):
        self.connection.note_statement(query)
        return super().execute(query, *args, **kwargs)

    def executemany(self, query, *args, **kwargs):
        self.connection.note_statement(None)
        return super().executemany(query, *args, **kwargs)

    def copy(self, *args, **kwargs):
        self.connection.note_statement(None)
        return super().copy(*args, **kwargs)


class ReadTrackingCursor(_Tracking, psycopg.Cursor):
    #: The statement (text and parameter types) behind the current result, for ``description``.
    _described = None

    def execute(self, query, *args, **kwargs):
        self._described = None
        return super().execute(query, *args, **kwargs)

    def executemany(self, query, *args, **kwargs):
        self._described = None
        return super().executemany(query, *args, **kwargs)

    def _maybe_prepare_gen(self, pgq, *args, **kwargs):
        # Every statement passes here, prepared or not, with its final text and parameter
        # types (psycopg forgets them once a prepared statement has run).
        self._described = pgq
        return super()._maybe_prepare_gen(pgq, *args, **kwargs)

    @property
    def description(self):
        """psycopg builds a ``Column`` per result column on every read of ``description``,
        and SQLAlchemy reads it for every statement: some 800 columns, about a millisecond,
        on the case page. A statement's text and its parameters' types fix its result's
        columns (psycopg keys its prepared statements the same way), so the connection keeps
        each statement's description."""
        statement, result = self._described, self.pgresult
        if statement is None or result is None or not result.nfields:
            return super().description
        key = (statement.query, statement.types, result.nfields)
        kept = self.connection.descriptions
        description = kept.get(key)
        if description is None:
            if len(kept) >= DESCRIPTIONS_KEPT:
                kept.clear()
            description = kept[key] = super().description
        return list(description)


class ReadTrackingServerCursor(_Tracking, psycopg.ServerCursor):
    pass


class ReadAwareConnection(psycopg.Connection):
    """A psycopg connection whose rollback of a read-only transaction is a COMMIT."""

    _only_read = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        #: ``ReadTrackingCursor.description`` per statement: ``{(text, types, width): columns}``.
        self.descriptions: dict[tuple, list] = {}

    def note_statement(self, query) -> None:
        if self._only_read and not is_read_statement(query):
            self._only_read = False

    def commit(self) -> None:
        super().commit()
        self._only_read = True

    def rollback(self) -> None:
        # INERROR (a statement failed) and IDLE (nothing to end) take psycopg's own path.
        if self._only_read and self.info.transaction_status == TransactionStatus.INTRANS:
            self.commit()
            return
        try:
            super().rollback()
        finally:
            self._only_read = True


#: Kept statements are planned anew for their values, as before they were kept: a plan made
#: once for any value (a generic plan) can be a disaster for a search, where one term matches
#: ten rows and another a hundred thousand (a two-character name went from 33 ms to 1.1 s at a
#: million cases). Pages that read by key allow generic plans for their own transaction
#: (``admin_views.case_records.request_plan_settings``).
#:
#: JIT compilation is off: PostgreSQL starts it for any statement whose estimated cost passes
#: ``jit_above_cost``, which a page's statement over a million rows does even when it reads
#: twenty of them; compiling took 2-7 s on two cores (the 信访人 search counted its matches in
#: 2.4 s, 0.43 s without), longer than any statement here runs.
CONNECTION_OPTIONS = "-c plan_cache_mode=force_custom_plan -c jit=off"


def connect(dialect, _connection_record, cargs, cparams):
    """SQLAlchemy's ``do_connect`` hook: open a :class:`ReadAwareConnection`."""
    cparams["options"] = f"{cparams.get('options', '')} {CONNECTION_OPTIONS}".strip()
    cparams.setdefault("cursor_factory", ReadTrackingCursor)
    connection = ReadAwareConnection.connect(*cargs, **cparams)
    connection.server_cursor_factory = ReadTrackingServerCursor
    return connection
