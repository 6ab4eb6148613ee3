"""The audit log: generic change rows from every flush, plus explicit rows for logins, exports,
prints and confidential views.

Change rows are written by a session listener, so every mapped model (including ones added
later) is covered without each operation remembering to do it. They are inserted with the
flush's own connection: the row commits or rolls back with the change it describes.
"""

from __future__ import annotations

import enum
import logging
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from flask import has_request_context, request
from sqlalchemy.orm import Session

from .. import db
from ..audit import AuditAction, AuditEntry
from ..base import utcnow

logger = logging.getLogger(__name__)

#: Tables whose rows are bookkeeping, not records: they are never audited.
SKIPPED_TABLES = frozenset({"audit_log", "number_sequences"})
#: Columns that change on every save and say nothing about the content.
SKIPPED_COLUMNS = frozenset({"updated_at", "version", "last_login_at", "last_used_at"})
#: Columns whose value must never be copied into the log.
SECRET_COLUMNS = frozenset({"password_hash", "session_token", "token_hash"})


class AuditLogIsAppendOnly(Exception):
    pass


def _plain(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        # A stored PDF: its size says what changed; its bytes would bloat every audit row.
        return f"<{len(value)} bytes>"
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    return str(value)


def _column_value(key: str, value):
    return "***" if key in SECRET_COLUMNS else _plain(value)


def _actor():
    """The signed-in user of the current request, if any (CLI and jobs act as nobody)."""
    if not has_request_context():
        return None
    from flask_login import current_user

    try:
        if current_user and current_user.is_authenticated:
            return current_user._get_current_object()
    except Exception:
        return None
    return None


def _client_address() -> str | None:
    if not has_request_context():
        return None
    return (request.remote_addr or "")[:45] or None


def _identity(obj) -> tuple[str, str | None]:
    mapper = sa.inspect(obj).mapper
    # Read from the attributes: a row inserted in this flush has no identity key yet.
    key = mapper.primary_key_from_instance(obj)
    target_id = None
    if key and all(part is not None for part in key):
        target_id = ",".join(str(part) for part in key)[:40]
    return mapper.local_table.name, target_id


def _label(obj, table: str, target_id) -> str:
    """The record's own text where it has one, else ``table #id``."""
    if type(obj).__str__ is object.__str__:
        return f"{table} #{target_id}"
    return str(obj)[:300]


def _snapshot(obj) -> dict:
    state = sa.inspect(obj)
    values = {}
    for attr in state.mapper.column_attrs:
        if attr.key in SKIPPED_COLUMNS or not isinstance(attr.expression, sa.Column):
            continue
        value = state.attrs[attr.key].loaded_value
        if value is sa.orm.base.NO_VALUE or value is None:
            continue
        values[attr.key] = _column_value(attr.key, value)
    return values


def _diff(obj) -> tuple[dict, dict]:
    """Columns and many-to-many links changed since load: ``(before, after)``."""
    state = sa.inspect(obj)
    before, after = {}, {}
    for attr in state.mapper.column_attrs:
        if attr.key in SKIPPED_COLUMNS or not isinstance(attr.expression, sa.Column):
            continue
        history = state.attrs[attr.key].history
        if not history.added and not history.deleted:
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        if _plain(old) == _plain(new):
            continue
        before[attr.key] = _column_value(attr.key, old)
        after[attr.key] = _column_value(attr.key, new)
    for rel in state.mapper.relationships:
        if rel.secondary is None:
            continue
        history = state.attrs[rel.key].history
        if not history.added and not history.deleted:
            continue
        # Ids, not names: the log is read by people who may not see a whistleblower's name.
        kept = [sa.inspect(o).identity for o in history.unchanged]
        old_ids = sorted(
            k[0] for k in kept + [sa.inspect(o).identity for o in history.deleted] if k
        )
        new_ids = sorted(k[0] for k in kept + [sa.inspect(o).identity for o in history.added] if k)
        if old_ids != new_ids:
            before[rel.key], after[rel.key] = old_ids, new_ids
    return before, after


def _row(action: str, table: str, target_id, summary: str, data: dict, actor) -> dict:
    return {
        "at": utcnow(),
        "user_id": getattr(actor, "id", None),
        "username": getattr(actor, "username", None),
        "action": action,
        "target_type": table,
        "target_id": None if target_id is None else str(target_id)[:40],
        "summary": (summary or "")[:300],
        "data": data,
        "ip_address": _client_address(),
    }


def _before_flush(session: Session, flush_context, instances) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEntry):
            raise AuditLogIsAppendOnly("audit log rows cannot be changed or deleted")
    # Deleted rows lose their loaded values after the flush: capture them now.
    pending = session.info.setdefault("audit_deleted", [])
    for obj in session.deleted:
        table, target_id = _identity(obj)
        if table not in SKIPPED_TABLES:
            pending.append((table, target_id, _label(obj, table, target_id), _snapshot(obj)))


def _after_flush(session: Session, flush_context) -> None:
    actor = _actor()
    rows = []
    for table, target_id, label, snapshot in session.info.pop("audit_deleted", []):
        rows.append(_row(AuditAction.delete, table, target_id, label, {"before": snapshot}, actor))
    for obj in session.new:
        table, target_id = _identity(obj)
        if table in SKIPPED_TABLES:
            continue
        rows.append(
            _row(
                AuditAction.create,
                table,
                target_id,
                _label(obj, table, target_id),
                {"after": _snapshot(obj)},
                actor,
            )
        )
    for obj in session.dirty:
        table, target_id = _identity(obj)
        if table in SKIPPED_TABLES or not session.is_modified(obj, include_collections=True):
            continue
        before, after = _diff(obj)
        if not before and not after:
            continue
        action = AuditAction.update
        if after.get("is_deleted") is True:
            action = AuditAction.delete
        rows.append(
            _row(
                action,
                table,
                target_id,
                _label(obj, table, target_id),
                {"before": before, "after": after},
                actor,
            )
        )
    if rows:
        session.connection().execute(sa.insert(AuditEntry.__table__), rows)


def _after_rollback(session: Session) -> None:
    session.info.pop("audit_deleted", None)


def install_audit_listeners() -> None:
    """Audit every ORM session (idempotent)."""
    if not sa.event.contains(Session, "after_flush", _after_flush):
        sa.event.listen(Session, "before_flush", _before_flush)
        sa.event.listen(Session, "after_flush", _after_flush)
        sa.event.listen(Session, "after_soft_rollback", lambda s, t: _after_rollback(s))


def record_audit(
    action: str,
    target=None,
    *,
    by,
    data: dict | None = None,
    summary: str = "",
    target_type: str | None = None,
    target_id=None,
) -> None:
    """Write one explicit audit row (login, export, print, confidential view …) now.

    ``target`` is a mapped object or ``None``; the row is inserted in the current transaction
    and commits with it. The caller commits.
    """
    if target is not None:
        target_type, target_id = _identity(target)
        summary = summary or _label(target, target_type, target_id)
    db.session.connection().execute(
        sa.insert(AuditEntry.__table__),
        [_row(action, target_type, target_id, summary, _plain(data or {}), by)],
    )
    logger.info("audit %s %s %s by %s", action, target_type, target_id, getattr(by, "id", None))
