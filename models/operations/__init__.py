"""The service layer: every change with rules goes through a function here.

Operations take the acting user as ``by=``, check permissions and state, change the objects,
flush, write one timeline event and return. They never commit: the request (or CLI command)
commits once, so a failure anywhere leaves nothing half-written.
"""

from __future__ import annotations


class WorkflowError(Exception):
    """A change that the rules forbid; ``str(error)`` is a message for the user."""


class InvalidTransition(WorkflowError):
    pass


class NotPermitted(WorkflowError):
    pass


class ValidationFailed(WorkflowError):
    """Input that only the database can judge (an inactive unit, a deleted case …)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Conflict(WorkflowError):
    """Somebody else changed the record between the moment it was shown and the save."""
