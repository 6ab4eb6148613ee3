"""Ending sessions on the server side.

Sessions live in signed cookies, so the server cannot delete one; instead each cookie names the
account's ``session_token`` and only loads the user while that token is current. Logging out
replaces the token, which ends every session of the account at once: a cookie copied from this
browser, and any other browser still logged in, are refused from their next request on.
"""

from __future__ import annotations

import sqlalchemy as sa

from .. import db
from ..audit import AuditAction
from ..users import User, new_session_token
from .audit_log import record_audit


def end_all_sessions(user: User) -> None:
    """Replace the user's session token; the caller commits.

    A bulk UPDATE rather than an attribute change: the audit log gets the explicit logout row
    instead of a change row about a secret column, and ``updated_at`` stays as it was, so an
    administrator editing this account at the same time is not told somebody changed it.
    """
    db.session.execute(
        sa.update(User)
        .where(User.id == user.id)
        .values(session_token=new_session_token(), updated_at=User.updated_at)
    )


def log_out(user: User) -> None:
    """End the user's sessions everywhere and log the logout; the caller commits."""
    end_all_sessions(user)
    record_audit(AuditAction.logout, user, by=user)
