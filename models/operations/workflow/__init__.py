"""The case workflow: every step from acceptance to archive (requirements.md §2, §2.22).

Each step is one function ``step(case, *, by, at=None, **inputs)``. It checks the case's state,
the user's permission and the step's own rules *before* touching anything, then changes the
case and its clocks, writes exactly one timeline event and returns. It never commits.

``STEPS`` is the state machine as data: which states a step starts from, where it leads and who
may take it. The case page shows a button for every step ``step_problem`` has no objection to,
and the endpoint calls the same function, so the screen and the rules cannot disagree.

The package: ``steps`` is the step table and the checks, ``common`` the shared input checks,
and one module per stage (intake, leadership, assignment, handling, closing, merging).
"""

from __future__ import annotations

from collections.abc import Callable

from flask_babel import gettext as _

from ...cases import Case
from ...retention import CALLBACK_RETENTION_YEARS
from .. import InvalidTransition
from .assignment import (
    acknowledge,
    add_assistant,
    assign,
    out_of_scope,
    return_to_sender,
    transfer,
)
from .closing import (
    answer_re_review,
    answer_review,
    archive,
    close,
    destroy,
    reopen,
    reopen_after_callback,
    reply,
    request_re_review,
    request_review,
)
from .handling import (
    approve_result,
    decide_extension,
    interim_report,
    investigate,
    pause_clock,
    report_result,
    request_extension,
    resume_clock,
    send_back,
    urge,
)
from .intake import accept, answer_on_spot, keep, no_longer_accept, not_accept
from .leadership import instruct, propose, send_for_reading
from .merging import merge, split
from .replies import log_contact, send_reply
from .routing import reroute, route_case, routing_data
from .steps import (
    STEPS,
    Step,
    available_steps,
    blocked_steps,
    may_attempt,
    needs_leader_instruction,
    out_of_scope_policy,
    step_permissions,
    step_problem,
)

STEP_FUNCTIONS: dict[str, Callable] = {
    "accept": accept,
    "not_accept": not_accept,
    "no_longer_accept": no_longer_accept,
    "keep": keep,
    "answer_on_spot": answer_on_spot,
    "propose": propose,
    "send_for_reading": send_for_reading,
    "instruct": instruct,
    "routed": reroute,
    "assign": assign,
    "acknowledge": acknowledge,
    "add_assistant": add_assistant,
    "out_of_scope": out_of_scope,
    "transfer": transfer,
    "return_to_sender": return_to_sender,
    "investigate": investigate,
    "urge": urge,
    "interim_report": interim_report,
    "request_extension": request_extension,
    "decide_extension": decide_extension,
    "pause_clock": pause_clock,
    "resume_clock": resume_clock,
    "report_result": report_result,
    "approve_result": approve_result,
    "send_back": send_back,
    "send_reply": send_reply,
    "log_contact": log_contact,
    "reply": reply,
    "close": close,
    "request_review": request_review,
    "answer_review": answer_review,
    "request_re_review": request_re_review,
    "answer_re_review": answer_re_review,
    "archive": archive,
    "reopen": reopen,
    "destroy": destroy,
    "merge": merge,
    "split": split,
}
assert set(STEP_FUNCTIONS) == set(STEPS), "every step has exactly one function"


def perform(code: str, case: Case, *, by, **inputs):
    """Run step ``code`` on ``case`` (the admin's single entry point)."""
    if code not in STEP_FUNCTIONS:
        raise InvalidTransition(_("没有这个办理步骤"))
    return STEP_FUNCTIONS[code](case, by=by, **inputs)


__all__ = [
    "CALLBACK_RETENTION_YEARS",
    "STEPS",
    "STEP_FUNCTIONS",
    "Step",
    "available_steps",
    "blocked_steps",
    "may_attempt",
    "needs_leader_instruction",
    "out_of_scope_policy",
    "perform",
    "reopen_after_callback",
    "route_case",
    "routing_data",
    "step_permissions",
    "step_problem",
    *STEP_FUNCTIONS,
]
