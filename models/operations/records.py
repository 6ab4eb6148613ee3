"""Plain records without a workflow of their own: settings, rules, schedules, quotas …

Records with rules of their own (cases, contacts, callbacks, reception records …) have their
own operations; every other admin form saves through these three. Each one changes the session
and flushes, which writes the audit row (``audit_log``'s session listener records every
insert, update and delete with the acting user); none commits.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from .. import db

logger = logging.getLogger(__name__)


def _table(record) -> str:
    return sa.inspect(record).mapper.local_table.name


def create_record(record, *, by):
    """Add a new ``record`` (stamping its author where it has one) and flush it."""
    if hasattr(record, "created_by_id") and record.created_by_id is None and by is not None:
        record.created_by_id = by.id
    db.session.add(record)
    db.session.flush()
    logger.info("created %s %s by user %s", _table(record), _key(record), getattr(by, "id", None))
    return record


def update_record(record, *, by):
    """Flush the edits made to ``record``."""
    db.session.add(record)
    db.session.flush()
    logger.info("updated %s %s by user %s", _table(record), _key(record), getattr(by, "id", None))
    return record


def delete_record(record, *, by) -> None:
    """Hide ``record`` if it keeps deleted rows (``mark_deleted``), else delete it; flush."""
    key = _key(record)
    if hasattr(record, "mark_deleted"):
        record.mark_deleted(by)
    else:
        db.session.delete(record)
    db.session.flush()
    logger.info("deleted %s %s by user %s", _table(record), key, getattr(by, "id", None))


def _key(record) -> str:
    identity = sa.inspect(record).identity
    return ",".join(str(part) for part in identity) if identity else "?"
