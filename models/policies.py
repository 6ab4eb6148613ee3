"""Who may see and do what: every access rule of the system, written once.

Each rule is a Python predicate on loaded objects and, right beside it, its SQL twin that
selects the same rows. Views, templates (through the ``can_*`` helpers the admin passes in),
exports, PDFs, pickers, the timeline, the audit log and statistics all ask this module; none of
them restates a rule. When a rule changes, both halves change here together, and
``tests/test_policies.py`` checks that they agree row for row.

Rules in this file:

- which states are open (work still going on) and which are finished;
- which cases a user may see, and who works on a case (may take its steps);
- the reporter's circle of a 举报 / 检举控告 case, who may see the reporter, and the one mask text;
- who may be named a case's 承办人 (and how many such people each unit has);
- who may close a case, and which cases await the user's next step (我的待办);
- whose turn a waiting case is, and who stands in when nobody holds that role (no dead ends);
- who may open attachments and print a case's documents;
- which reception records and which people (pickers) a user may see;
- which callback schedules, survey campaigns and returned survey forms a user may see;
- what an API token of another system may do and which cases it reaches.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import column_property

from . import db
from .api_tokens import ApiCaseLink
from .callbacks import CallbackSchedule
from .cases import Case, CaseRepresentative, case_assistants, case_petitioners
from .categories import Category
from .contacts import Call, Letter, Visit
from .deadlines import CaseClock
from .enums import CaseStatus, CategoryKind
from .parties import Party
from .reception import Appointment, VisitIncident, VisitorPass
from .reception_days import ReceptionQueueEntry
from .settings import SystemSetting
from .surveys import RectificationOrder, SurveyCampaign, SurveyResponse
from .texts import lazy_gettext as _l
from .units import Unit
from .users import Role, User, is_staff, staff_condition, user_roles

S = CaseStatus


def _signed_in(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False)


def _is(column, value):
    # Every term is TRUE or FALSE, never NULL, so that NOT(...) of it means what it says.
    return sa.and_(column.is_not(None), column == value)


def among(column, ids):
    """``column IN (ids)``; on PostgreSQL ``= ANY(ARRAY(ids))``, which the planner runs once
    and looks up in ``column``'s index, so that it can join an OR of index scans (BitmapOr);
    ``IN (subquery)`` under an OR cannot be an index scan."""
    if db.engine.dialect.name == "postgresql":
        return column == sa.any_(sa.func.array(ids.scalar_subquery()))
    return column.in_(ids)


# --- open and finished states -------------------------------------------------------------

#: States in which work on the matter is still going on (clocks may run). 存信 (kept) and
#: merged cases are not open: nobody works on them, and no figure counts them as open.
OPEN_STATUSES = frozenset(
    {
        S.registered,
        S.accepted,
        S.awaiting_instruction,
        S.assigned,
        S.in_progress,
        S.result_reported,
        S.replied,
        S.under_review,
        S.under_re_review,
    }
)


def is_open(case) -> bool:
    return case.status in OPEN_STATUSES


def accepts_additions(case) -> bool:
    """Whether letters, visits, calls, attachments, callbacks, edits or steps may still be
    added to ``case``: a destroyed case keeps only its tombstone."""
    return case is not None and case.status != S.destroyed


def accepts_additions_clause():
    return Case.status != S.destroyed


#: Either is enough to read and print the destruction register (a tombstone list: numbers,
#: dates, regions; no content).
DESTRUCTION_LOG_PERMISSIONS = ("retention.destroy", "register.print")


def can_view_destructions(user) -> bool:
    return _signed_in(user) and any(
        user.has_permission(name) for name in DESTRUCTION_LOG_PERMISSIONS
    )


def open_clause():
    """SQL twin of :func:`is_open`."""
    return Case.status.in_(OPEN_STATUSES)


# --- seeing a case --------------------------------------------------------------------------


def sees_all_units(user) -> bool:
    """The office's view: every unit's cases and the records around them."""
    return _signed_in(user) and user.has_permission("case.view_all")


def can_view_case(user, case) -> bool:
    """Whoever sees all units; else the handling unit's members, the handler, the registrar
    and the assisting handlers."""
    if case is None or not _signed_in(user):
        return False
    if sees_all_units(user):
        return True
    return (
        (case.handling_unit_id is not None and case.handling_unit_id == user.unit_id)
        or case.handler_id == user.id
        or case.created_by_id == user.id
        or any(assistant.id == user.id for assistant in case.assistants)
    )


def visible_cases_clause(user):
    """SQL twin of :func:`can_view_case` for ``Case`` rows (deleted rows are the caller's)."""
    if not _signed_in(user):
        return sa.false()
    if sees_all_units(user):
        return sa.true()
    assisted = sa.select(case_assistants.c.case_id).where(case_assistants.c.user_id == user.id)
    conditions = [
        _is(Case.handler_id, user.id),
        _is(Case.created_by_id, user.id),
        # Through the primary key's index, so the whole OR can be a BitmapOr of four indexes;
        # with ``IN (subquery)`` PostgreSQL read the year's cases one by one (a department
        # head's dashboard: 1.0 s -> 0.4 s at a million cases; 我的工作台 0.29 -> 0.14 s).
        among(Case.id, assisted),
    ]
    if user.unit_id is not None:
        conditions.append(_is(Case.handling_unit_id, user.unit_id))
    return sa.or_(*conditions)


def on_visible_case(user, case_id, *, live: bool = True):
    """SQL: ``case_id`` (a column of the row) names a case ``user`` may see, still live
    unless ``live`` is False. The form for a record's visibility through its case.

    A correlated EXISTS rather than ``case_id IN (ids of the visible cases)``: standing alone,
    PostgreSQL turns either into a semi-join; but under an OR (a record seen through its case
    OR through its unit, its schedule, its author …) the IN form becomes a subplan that, once
    a million ids no longer fit in memory, is read again for every row tested (the 回访 list
    took 7 s for the office and 110 s for a handler). The EXISTS form is one index lookup per
    row. ``Case`` is never taken from the outer query, even when that query joins it."""
    conditions = [Case.id == case_id, visible_cases_clause(user)]
    if live:
        conditions.append(Case.is_deleted.is_(False))
    return sa.exists().where(*conditions).correlate_except(Case)


def can_see_live_case(user, case) -> bool:
    """A case that still exists and that ``user`` may see."""
    return case is not None and not case.is_deleted and can_view_case(user, case)


# --- API tokens ------------------------------------------------------------------------------
#
# A token acts as one account, with at most the permissions the token names (never more than
# the account holds), and when it names units, only on the cases those units handle and the
# cases its own system registered. Within that, every rule above applies to the account
# unchanged: the token's principal (``models.operations.api.ApiPrincipal``) answers
# ``has_permission`` with :func:`api_token_permits`.


def api_token_permits(token, permission: str) -> bool:
    return (
        token is not None
        and token.revoked_at is None
        and permission in (token.permissions or ())
        and token.user is not None
        and token.user.is_active_user
        and token.user.has_permission(permission)
    )


def api_token_sees_case(token, case) -> bool:
    """The token's unit limit (the account's own visibility is :func:`can_view_case`)."""
    if token is None or case is None:
        return False
    unit_ids = {unit.id for unit in token.units}
    if not unit_ids or case.handling_unit_id in unit_ids:
        return True
    return (
        db.session.scalar(
            sa.select(ApiCaseLink.id)
            .where(ApiCaseLink.case_id == case.id, ApiCaseLink.integration == token.integration)
            .limit(1)
        )
        is not None
    )


def api_token_cases_clause(token):
    """SQL twin of :func:`api_token_sees_case` for ``Case`` rows."""
    if token is None:
        return sa.false()
    unit_ids = [unit.id for unit in token.units]
    if not unit_ids:
        return sa.true()
    linked = sa.select(ApiCaseLink.case_id).where(ApiCaseLink.integration == token.integration)
    return sa.or_(Case.handling_unit_id.in_(unit_ids), Case.id.in_(linked))


def handles_case(user, case) -> bool:
    """The user's own cases: they are its handler or one of its assisting handlers."""
    return _signed_in(user) and (
        case.handler_id == user.id or any(a.id == user.id for a in case.assistants)
    )


def handles_case_clause(user):
    """SQL twin of :func:`handles_case`."""
    if not _signed_in(user):
        return sa.false()
    # One set of ids from two indexes (handler, assistant) rather than "handler = … OR id IN
    # (…)": PostgreSQL cannot use an index for that OR, and read every open case (0.1 s at a
    # million) to find a handler's thirty.
    handled = sa.select(Case.id).where(_is(Case.handler_id, user.id))
    assisted = sa.select(case_assistants.c.case_id).where(case_assistants.c.user_id == user.id)
    return Case.id.in_(sa.union_all(handled, assisted))


def works_on_case(user, case) -> bool:
    """May take a case's steps: the handler, an assistant, a member of the handling unit, or
    someone who sees all units. (The registrar sees the case but does not work on it.)"""
    if not _signed_in(user):
        return False
    if sees_all_units(user):
        return True
    return (
        case.handler_id == user.id
        or (case.handling_unit_id is not None and case.handling_unit_id == user.unit_id)
        or any(assistant.id == user.id for assistant in case.assistants)
    )


def works_on_case_clause(user):
    """SQL twin of :func:`works_on_case`."""
    if not _signed_in(user):
        return sa.false()
    if sees_all_units(user):
        return sa.true()
    assisted = sa.select(case_assistants.c.case_id).where(case_assistants.c.user_id == user.id)
    conditions = [_is(Case.handler_id, user.id), Case.id.in_(assisted)]
    if user.unit_id is not None:
        conditions.append(_is(Case.handling_unit_id, user.unit_id))
    return sa.or_(*conditions)


# --- the reporter's circle and masking -------------------------------------------------------
#
# A case is confidential when its category is of kind 举报 (report) or 检举控告 (accusation).
# Its reporter's identity (petitioners, agent, representatives, the people on its letters,
# visits and calls, the caller's number, callback contacts) and its original material
# (attachments) are shown only to holders of ``confidential.view`` (by default the office,
# leaders and administrators) and to the case's circle: whoever registered it, its handler and
# assisting handlers, and the head of its handling unit (a member of that unit who may approve
# results). Other members of the handling unit are left out on purpose: the person reported on
# may work there. Lists and search results never show the reporter to anyone.

CONFIDENTIAL_KINDS = (CategoryKind.report, CategoryKind.accusation)
CONFIDENTIAL_PERMISSION = "confidential.view"
#: Fields of a case (and of its contacts and callbacks) that identify the reporter.
IDENTITY_FIELDS = frozenset(
    {
        "petitioners",
        "petitioner_names",
        "agent",
        "agent_id",
        "representatives",
        "writer",
        "writer_id",
        "visitor",
        "visitor_id",
        "caller",
        "caller_id",
        "caller_number",
        "person_reached",
        "contact_phone",
        "phone",
        "email",
        "id_number",
        "name",
        "sender_email",
        "address",
        "work_unit",
        "visitor_name",
        "person",
        "recipient",
    }
)
#: The one text shown in place of a hidden value, on screens, in exports and in PDFs.
MASK = _l("（保密）")

Case.is_confidential = column_property(
    sa.exists()
    .where(Category.id == Case.category_id, Category.kind.in_(CONFIDENTIAL_KINDS))
    .correlate_except(Category),
)


def is_confidential_category(category) -> bool:
    return category is not None and category.kind in CONFIDENTIAL_KINDS


def confidential_clause():
    """SQL: the case is a 举报 / 检举控告 case (twin of ``Case.is_confidential``)."""
    kinds = sa.select(Category.id).where(Category.kind.in_(CONFIDENTIAL_KINDS))
    return sa.and_(Case.category_id.is_not(None), Case.category_id.in_(kinds))


def is_unit_head_of(user, case) -> bool:
    return (
        case.handling_unit_id is not None
        and case.handling_unit_id == user.unit_id
        and user.has_permission("workflow.approve")
    )


def in_reporter_circle(user, case) -> bool:
    """The registrar, the handler, an assistant, or the head of the handling unit."""
    if case is None or not _signed_in(user):
        return False
    if user.id in (case.created_by_id, case.handler_id):
        return True
    if is_unit_head_of(user, case):
        return True
    return any(assistant.id == user.id for assistant in case.assistants)


def reporter_circle_clause(user):
    """SQL twin of :func:`in_reporter_circle`."""
    if not _signed_in(user):
        return sa.false()
    assisted = sa.select(case_assistants.c.case_id).where(case_assistants.c.user_id == user.id)
    chain = [_is(Case.created_by_id, user.id), _is(Case.handler_id, user.id), Case.id.in_(assisted)]
    if user.unit_id is not None and user.has_permission("workflow.approve"):
        chain.append(_is(Case.handling_unit_id, user.unit_id))
    return sa.or_(*chain)


def reporter_visible(case, user) -> bool:
    """May ``user`` see who reported ``case`` and its original material?"""
    if case is None or not case.is_confidential:
        return True
    if not _signed_in(user):
        return False
    return user.has_permission(CONFIDENTIAL_PERMISSION) or in_reporter_circle(user, case)


def petitioner_message_recipients(case) -> list:
    """Who is told of acceptance, transfer, extension and the reply (issue 18): the case's own
    petitioners, never an anonymous case's (no contact), and never a representative, agent or
    anybody else -- on a 举报 case that keeps the message with the reporter. The texts carry no
    staff names or internal notes (models/messaging.PLACEHOLDERS)."""
    if case is None or case.is_anonymous or case.is_deleted:
        return []
    return [party for party in case.petitioners if party is not None]


def message_address_visible(message, user) -> bool:
    """May ``user`` read a recorded message's address and text? A petitioner's message on a
    举报 case only within the reporter's circle (:func:`reporter_visible`)."""
    if message.recipient_party_id is None or message.case is None:
        return True
    return reporter_visible(message.case, user)


def may_manage_messages(user) -> bool:
    """Who watches the outgoing messages of the cases they see and retries failed ones: the
    office (受理 staff) and administrators."""
    return _signed_in(user) and (
        user.has_permission("settings.manage") or user.has_permission("workflow.intake")
    )


def messages_visible_clause(user):
    """SQL: the recorded messages ``user`` may list -- their own e-mails, and for the office
    the messages of the cases they may see (administrators: also those without a case)."""
    from .messaging import OutgoingMessage

    if not _signed_in(user):
        return sa.false()
    conditions = [_is(OutgoingMessage.recipient_user_id, user.id)]
    if may_manage_messages(user):
        conditions.append(on_visible_case(user, OutgoingMessage.case_id))
        if user.has_permission("settings.manage"):
            conditions.append(OutgoingMessage.case_id.is_(None))
    return sa.or_(*conditions)


def reporter_visible_clause(user):
    """SQL twin of :func:`reporter_visible` for ``Case`` rows."""
    if _signed_in(user) and user.has_permission(CONFIDENTIAL_PERMISSION):
        return sa.true()
    return sa.or_(~confidential_clause(), reporter_circle_clause(user))


def hidden_reporter_case_ids(user):
    """SQL: ids of the cases whose reporter ``user`` may not see."""
    return sa.select(Case.id).where(confidential_clause(), ~reporter_visible_clause(user))


def hidden_reporters_among(user, cases) -> frozenset[int]:
    """Ids of those of the loaded ``cases`` whose reporter ``user`` may not see, in one
    statement that reads only them (all such ids of a million-case register are 50,000)."""
    ids = sorted({case.id for case in cases})
    if not ids:
        return frozenset()
    return frozenset(db.session.scalars(hidden_reporter_case_ids(user).where(Case.id.in_(ids))))


def may_join_circle(user, case, *, named_by=None) -> bool:
    """May ``user`` become part of a confidential case's circle (as handler or assistant)?

    On an ordinary case anyone who works on it may. On a 举报 case a person joins only when
    someone already allowed names them (``named_by``), or when they are already allowed
    themselves; taking an unnamed case from the unit's queue is not enough, because the person
    reported on may sit in that unit.
    """
    if not case.is_confidential:
        return True
    if reporter_visible(case, user):
        return True
    return named_by is not None and reporter_visible(case, named_by)


def masked(value, hidden: bool):
    """``value``, or the mask text when it is hidden."""
    return str(MASK) if hidden else value


def list_value(case, value):
    """Lists and search results never show a confidential case's reporter, whoever looks."""
    if case is not None and case.is_confidential:
        return str(MASK)
    return value


# --- closing and the user's next steps -------------------------------------------------------


def reply_permissions() -> tuple[str, ...]:
    """Who may answer the petitioner: the office, or the handling department where the office
    lets departments answer directly."""
    if SystemSetting.get("reply_by") == "department":
        return ("workflow.reply", "workflow.handle")
    return ("workflow.reply",)


def closing_permission() -> str:
    """Who may close: a leader's sign-off where the office requires it, otherwise the office."""
    if SystemSetting.get("close_requires_sign_off") == "1":
        return "workflow.sign_off"
    return "workflow.close"


def _ready_to_close(case) -> bool:
    return case.status == S.replied or (
        case.status == S.result_reported
        and case.is_anonymous
        and case.result_approved_at is not None
    )


def _ready_to_close_clause():
    return sa.or_(
        Case.status == S.replied,
        sa.and_(
            Case.status == S.result_reported,
            Case.is_anonymous.is_(True),
            Case.result_approved_at.is_not(None),
        ),
    )


def awaiting_me(user, case) -> bool:
    """Is the case's next step the user's (我的待办)? Whose turn it is comes from the turn
    table below (one rule for the work list, the case page and the stand-ins)."""
    if not _signed_in(user):
        return False
    turn = awaited_turn(case)
    if turn is not None and _takes_turn(user, turn, case):
        return True
    # A leader also decides the extensions asked for, whatever the case's state.
    if user.has_permission("workflow.instruct") and any(
        c.pending_extension is not None and c.stopped_at is None for c in case.clocks
    ):
        return True
    return stands_in_for(user, case)


def awaiting_me_clause(user):
    """SQL twin of :func:`awaiting_me`."""
    if not _signed_in(user):
        return sa.false()
    conditions = []
    for _matches, clause, turn in _turns():
        takes = _takes_turn_clause(user, turn)
        if takes is not None:
            conditions.append(sa.and_(clause, takes))
    if user.has_permission("workflow.instruct"):
        pending = sa.select(CaseClock.case_id).where(
            CaseClock.pending_extension.is_not(None), CaseClock.stopped_at.is_(None)
        )
        conditions.append(Case.id.in_(pending))
    conditions.append(stands_in_clause(user))
    return sa.or_(*conditions)


def _takes_turn(user, turn, case) -> bool:
    """Does ``user`` usually take ``turn``'s step on ``case``?"""
    if not any(user.has_permission(permission) for permission in turn.permissions):
        return False
    if turn.scope == "unit":
        return user.unit_id is not None and case.handling_unit_id == user.unit_id
    if turn.scope == "handler":
        return case.handler_id == user.id
    return True


def _takes_turn_clause(user, turn):
    """SQL twin of :func:`_takes_turn` (``None``: never)."""
    if not any(user.has_permission(permission) for permission in turn.permissions):
        return None
    if turn.scope == "unit":
        return None if user.unit_id is None else _is(Case.handling_unit_id, user.unit_id)
    if turn.scope == "handler":
        return _is(Case.handler_id, user.id)
    return sa.true()


# --- whose turn it is, and who stands in (no dead ends) ---------------------------------------
#
# A waiting case waits for one step, usually taken by the holder of one role: the 部门负责人
# of the handling unit approves a reported result, a leader instructs, the handler signs and
# reports. When nobody holds that role (a unit without a 部门负责人, a county without a
# leader account, a handler who left), the case would wait for ever. Then the office or a
# leader (whoever sees all units and may assign or instruct) may take the step instead, the
# case shows in their 待我处理 list, and the case page says why it waits and who may act.
# The administrator account holds every permission to set the system up; it is not counted
# as someone who does the work, or no installation would ever lack a leader.

#: Roles whose holders are never counted as the usual actor of a step.
SETUP_ROLES = ("admin",)


@dataclass(frozen=True)
class Turn:
    """The step a waiting case waits for, who usually takes it and who may stand in."""

    #: Steps that end the wait.
    steps: frozenset[str]
    #: The usual actor holds one of these permissions …
    permissions: tuple[str, ...]
    #: … and is a member of the handling unit, or is the case's handler (``"handler"``).
    scope: str
    #: The role that names the usual actor on the page (its display name is editable).
    role: str
    #: What the step does, as the page says it (审核, 批示 …).
    action: str
    #: Steps a stand-in may take when nobody holds the role (usually ``steps``).
    stand_in_steps: frozenset[str]
    #: What the stand-ins may do instead, e.g. "%(office)s或%(leader)s可代为审核".
    instead: str


def _turn(steps, permissions, scope, role, action, stand_in_steps=None, instead=None) -> Turn:
    steps = frozenset(steps)
    return Turn(
        steps,
        tuple(permissions),
        scope,
        role,
        action,
        steps if stand_in_steps is None else frozenset(stand_in_steps),
        instead or _l("%(office)s或%(leader)s可代为%(action)s"),
    )


_INTAKE_STEPS = ("accept", "not_accept", "no_longer_accept", "keep", "answer_on_spot")
_HAND_OVER_STEPS = ("assign", "send_for_reading", "instruct", "transfer", "return_to_sender")
_REASSIGN = _l("%(office)s或%(leader)s可改派其他单位或人员办理")


def _turns():
    """(Python test, SQL test, turn) for every waiting state; the tests exclude each other."""
    return _turn_table(closing_permission(), reply_permissions())


@functools.lru_cache(maxsize=8)
def _turn_table(closing: str, replying: tuple[str, ...]):
    # Built once per pair of the two settings it depends on: the case page asks for the turn
    # several times, and building every SQL twin each time cost more than the page's queries.
    handled = (S.assigned, S.in_progress)
    ready = _ready_to_close_clause()
    sign_off = closing == "workflow.sign_off"
    return [
        (
            lambda case: case.status == S.registered,
            Case.status == S.registered,
            _turn(_INTAKE_STEPS, ("workflow.intake",), "all", "registrar", _l("受理")),
        ),
        (
            # Accepted: the office hands it over, or the desk sends it to a leader to read.
            lambda case: case.status == S.accepted,
            Case.status == S.accepted,
            _turn(
                _HAND_OVER_STEPS,
                ("workflow.assign", "workflow.intake"),
                "all",
                "office",
                _l("交办或送阅"),
            ),
        ),
        (
            lambda case: case.status == S.awaiting_instruction,
            Case.status == S.awaiting_instruction,
            _turn(("instruct",), ("workflow.instruct",), "all", "leader", _l("批示")),
        ),
        (
            lambda case: case.status == S.assigned and case.handler_id is None,
            sa.and_(Case.status == S.assigned, Case.handler_id.is_(None)),
            _turn(
                ("acknowledge",),
                ("workflow.handle",),
                "unit",
                "handler",
                _l("签收"),
                ("assign",),
                _REASSIGN,
            ),
        ),
        (
            lambda case: case.status in handled and case.handler_id is not None,
            sa.and_(Case.status.in_(handled), Case.handler_id.is_not(None)),
            _turn(
                ("acknowledge", "report_result"),
                ("workflow.handle",),
                "handler",
                "handler",
                _l("办理"),
                ("assign",),
                _REASSIGN,
            ),
        ),
        (
            lambda case: case.status == S.result_reported and case.result_approved_at is None,
            sa.and_(Case.status == S.result_reported, Case.result_approved_at.is_(None)),
            _turn(("approve_result",), ("workflow.approve",), "unit", "dept_head", _l("审核")),
        ),
        (
            lambda case: (
                case.status == S.result_reported
                and case.result_approved_at is not None
                and not case.is_anonymous
            ),
            sa.and_(
                Case.status == S.result_reported,
                Case.result_approved_at.is_not(None),
                Case.is_anonymous.is_(False),
            ),
            _turn(("reply",), replying, "all", "office", _l("答复")),
        ),
        (
            _ready_to_close,
            ready,
            _turn(
                ("close",),
                (closing,),
                "all",
                "leader" if sign_off else "office",
                _l("签批办结") if sign_off else _l("办结"),
            ),
        ),
        (
            lambda case: case.status in (S.under_review, S.under_re_review),
            Case.status.in_([S.under_review, S.under_re_review]),
            _turn(
                ("answer_review", "answer_re_review"),
                ("workflow.review",),
                "all",
                "office",
                _l("出具复查（复核）意见"),
            ),
        ),
    ]


def awaited_turn(case) -> Turn | None:
    """The step ``case`` waits for now, or ``None`` when it waits for nobody."""
    for matches, _clause, turn in _turns():
        if matches(case):
            return turn
    return None


def _working_role_ids(permissions, roles: list | None = None) -> list[int]:
    """Ids of the working roles holding any of ``permissions``; ``roles``: every role, when
    the caller has them loaded already."""
    # The role table is small; its permission lists are JSON, so they are read in Python.
    if roles is None:
        roles = db.session.scalars(sa.select(Role)).all()
    return [
        role.id
        for role in roles
        if role.code not in SETUP_ROLES and set(role.permissions or ()) & set(permissions)
    ]


def _usual_actors_query(turn: Turn, case, roles: list | None = None):
    """SELECT of the active users who usually take ``turn``'s step on ``case`` (a loaded case
    or, for the SQL twin, the ``Case`` entity to correlate with)."""
    query = sa.select(User.id).where(User.is_active_user.is_(True))
    if turn.scope == "handler":
        # The named handler, or nobody: only they report their own case's result.
        return query.where(User.id == case.handler_id)
    holders = sa.select(user_roles.c.user_id).where(
        user_roles.c.role_id.in_(_working_role_ids(turn.permissions, roles))
    )
    query = query.where(User.id.in_(holders))
    if turn.scope == "unit":
        query = query.where(User.unit_id == case.handling_unit_id)
    return query


def usual_actors(turn: Turn, case, limit: int = 5, roles: list | None = None) -> list:
    """The active users who usually take ``turn``'s step on ``case`` (at most ``limit``);
    ``roles``: every role, when the caller has them loaded already."""
    if turn.scope == "unit" and case.handling_unit_id is None:
        return []
    if turn.scope == "handler" and case.handler_id is None:
        return []
    ids = _usual_actors_query(turn, case, roles).order_by(User.id).limit(limit)
    return db.session.scalars(sa.select(User).where(User.id.in_(ids)).order_by(User.id)).all()


# --- who may be named 承办人 -----------------------------------------------------------------

#: The permission of the handler's own steps (签收、调查、中途报告、延期申请、报结).
HANDLING_PERMISSION = "workflow.handle"


def may_handle(user) -> bool:
    """May ``user`` be named a case's 承办人: a person on the staff whose working role takes the
    handler's steps. 监督, 登记员, leaders without that role and the administrator account
    (a set-up role) are never offered, and naming them is refused."""
    return (
        user is not None
        and is_staff(user)
        and any(
            role.code not in SETUP_ROLES and HANDLING_PERMISSION in (role.permissions or ())
            for role in user.roles
        )
    )


def handlers_clause():
    """SQL twin of :func:`may_handle` for ``User`` rows."""
    holders = sa.select(user_roles.c.user_id).where(
        user_roles.c.role_id.in_(_working_role_ids((HANDLING_PERMISSION,)))
    )
    return sa.and_(staff_condition(), User.id.in_(holders))


def handler_counts() -> dict[int, int]:
    """``{unit id: how many people there may be named 承办人}`` (units without any: absent)."""
    rows = db.session.execute(
        sa.select(User.unit_id, sa.func.count(User.id))
        .where(handlers_clause(), User.unit_id.is_not(None))
        .group_by(User.unit_id)
    ).all()
    return dict(rows)


#: Who hears of a 中途报告 (我办 五.4: difficulties go to the leader, and the office is told):
#: the office that assigns and urges, and the leaders who decide a new deadline.
_INTERIM_REPORT_OFFICE = _turn(("urge",), ("workflow.assign",), "all", "office", _l("催办"))
_INTERIM_REPORT_LEADER = _turn(
    ("decide_extension",), ("workflow.instruct",), "all", "leader", _l("批示")
)


def interim_report_audience(case) -> list:
    """The users told of a case's interim report: the office users who assign and may see the
    case, and its instructing leader (or, when no leader instructed it or that leader left,
    the leaders who may see it)."""
    office = [
        user
        for user in usual_actors(_INTERIM_REPORT_OFFICE, case, limit=50)
        if can_view_case(user, case)
    ]
    instructing = case.instructed_by
    if instructing is not None and instructing.is_active_user:
        leaders = [instructing]
    else:
        leaders = [
            user
            for user in usual_actors(_INTERIM_REPORT_LEADER, case, limit=50)
            if can_view_case(user, case)
        ]
    return list({user.id: user for user in [*office, *leaders]}.values())


def may_sign_result(user, case) -> bool:
    """The leader in charge who signs a reported result (我办 四.2): the head of the handling
    unit (who approves its results) or a leader of the organisation."""
    if user is None or not user.is_active_user:
        return False
    if user.has_permission("workflow.instruct"):
        return True
    return (
        user.has_permission("workflow.approve")
        and case.handling_unit_id is not None
        and user.unit_id == case.handling_unit_id
    )


def result_signers(case) -> list:
    """The users who may sign ``case``'s result, for the 报结 form's picker (the administrator
    account, which holds every permission to set the system up, is not one of them)."""
    holders = sa.select(user_roles.c.user_id).where(
        user_roles.c.role_id.in_(_working_role_ids(("workflow.instruct", "workflow.approve")))
    )
    users = db.session.scalars(
        sa.select(User)
        .where(staff_condition(), User.id.in_(holders))
        .order_by(User.unit_id, User.id)
    ).all()
    return [user for user in users if may_sign_result(user, case)]


def may_stand_in(user) -> bool:
    """The office or a leader: whoever sees all units and may assign or instruct."""
    return sees_all_units(user) and (
        user.has_permission("workflow.assign") or user.has_permission("workflow.instruct")
    )


def stands_in_for(user, case) -> bool:
    """Nobody holds the role whose turn ``case`` waits for, and ``user`` may stand in."""
    if not may_stand_in(user) or case.is_deleted:
        return False
    turn = awaited_turn(case)
    return turn is not None and not usual_actors(turn, case, limit=1)


def stands_in_clause(user):
    """SQL twin of :func:`stands_in_for`."""
    if not may_stand_in(user):
        return sa.false()
    waiting_for_nobody = []
    turns = _turns()
    roles = db.session.scalars(sa.select(Role)).all()
    # Turns not tied to the case's unit or handler are asked once, not per row: all of them
    # in one statement (one EXISTS column per turn).
    office_wide = [turn for _matches, _clause, turn in turns if turn.scope == "all"]
    staffed = (
        db.session.execute(
            sa.select(*(sa.exists(_usual_actors_query(turn, None, roles)) for turn in office_wide))
        ).one()
        if office_wide
        else ()
    )
    someone = dict(zip(map(id, office_wide), staffed, strict=True))
    for _matches, clause, turn in turns:
        if turn.scope == "all":
            if not someone[id(turn)]:
                waiting_for_nobody.append(clause)
        else:
            waiting_for_nobody.append(
                sa.and_(clause, ~sa.exists(_usual_actors_query(turn, Case, roles)))
            )
    if not waiting_for_nobody:
        return sa.false()
    return sa.and_(Case.is_deleted.is_(False), sa.or_(*waiting_for_nobody))


def may_act_instead(user, case, step: str) -> bool:
    """May ``user`` take ``step`` on ``case`` in place of a usual actor who does not exist?"""
    if not may_stand_in(user):
        return False
    turn = awaited_turn(case)
    return turn is not None and step in turn.stand_in_steps and stands_in_for(user, case)


def role_title(code: str, titles: dict | None = None) -> str:
    """A role's display name (administrators may rename roles).

    ``titles``: every role's name by code, when the caller loaded them already."""
    from .permissions import DEFAULT_ROLES

    if titles is not None:
        name = titles.get(code)
    else:
        name = db.session.scalar(sa.select(Role.name).where(Role.code == code))
    return name or DEFAULT_ROLES.get(code, (code,))[0]


@dataclass(frozen=True)
class WaitingNote:
    """What the case page says about whose turn it is."""

    waiting: str
    actors: list
    missing: str | None
    instead: str | None


def waiting_note(case, roles: list | None = None) -> WaitingNote | None:
    """Why ``case`` waits and who may act now, for the case page.

    ``roles``: every role, when the caller loaded them already (the case page does)."""
    turn = awaited_turn(case)
    if turn is None or case.is_deleted:
        return None
    role_titles = None if roles is None else {role.code: role.name for role in roles}
    role = role_title(turn.role, role_titles)
    waiting = _("等待%(role)s%(action)s", role=role, action=turn.action)
    actors = usual_actors(turn, case, roles=roles)
    if actors:
        return WaitingNote(waiting, actors, None, None)
    if turn.scope == "handler":
        missing = _("承办人%(name)s已停用", name=str(case.handler or ""))
    elif turn.scope == "unit" and case.handling_unit_id is None:
        missing = _("尚未确定承办单位")
    elif turn.scope == "unit":
        missing = _("承办单位没有在职的%(role)s", role=role)
    else:
        missing = _("系统中没有在职的%(role)s", role=role)
    instead = str(turn.instead) % {
        "office": role_title("office", role_titles),
        "leader": role_title("leader", role_titles),
        "action": turn.action,
    }
    return WaitingNote(waiting, [], missing, instead)


# --- attachments and documents --------------------------------------------------------------


def can_view_original(user, case) -> bool:
    """Attachments (the original letter, recordings) are the reporter's own material."""
    return can_see_live_case(user, case) and reporter_visible(case, user)


def can_view_attachment(user, attachment) -> bool:
    return attachment is not None and can_view_original(user, attachment.case)


# --- which unit a record may be given to -------------------------------------------------------


def may_assign_to_unit(user, unit) -> bool:
    """A department user sets up schedules and surveys for their own unit only; the office
    (who sees all units) may set them up for any unit."""
    return unit is None or sees_all_units(user) or (_signed_in(user) and unit.id == user.unit_id)


def assignable_units_clause(user):
    """SQL twin of :func:`may_assign_to_unit` for ``Unit`` rows."""
    if sees_all_units(user):
        return sa.true()
    if not _signed_in(user) or user.unit_id is None:
        return sa.false()
    return Unit.id == user.unit_id


# --- reception records ---------------------------------------------------------------------
#
# Rectification orders (整改通知) and the reception desk's records: appointments and visit
# applications, temporary passes, incidents and the leader-reception queue. The office (whoever
# sees all units) sees every one; a department user sees those that concern their own unit or a
# case they may see. On a record tied to a 举报 case the visitor's identity follows the
# reporter's circle (:func:`reporter_visible`).
#
# Imported here rather than at the top: the models are all loaded by then, and the top of the
# module stays the shared rules' own.


def can_view_rectification(user, order) -> bool:
    """Whoever sees all units; else the responsible unit's members, whoever ordered it, and
    whoever may see the case it is about."""
    if order is None or not _signed_in(user):
        return False
    if sees_all_units(user):
        return True
    return (
        (order.unit_id is not None and order.unit_id == user.unit_id)
        or order.created_by_id == user.id
        or can_see_live_case(user, order.case)
    )


def rectification_visible_clause(user):
    """SQL twin of :func:`can_view_rectification` for ``RectificationOrder`` rows."""
    if not _signed_in(user):
        return sa.false()
    if sees_all_units(user):
        return sa.true()
    conditions = [
        _is(RectificationOrder.created_by_id, user.id),
        sa.and_(
            RectificationOrder.case_id.is_not(None),
            on_visible_case(user, RectificationOrder.case_id),
        ),
    ]
    if user.unit_id is not None:
        conditions.append(_is(RectificationOrder.unit_id, user.unit_id))
    return sa.or_(*conditions)


#: The reception records this section rules over.
RECEPTION_RECORDS = (Appointment, VisitorPass, VisitIncident, ReceptionQueueEntry)
#: Fields of a reception record that identify the visitor.
VISITOR_IDENTITY_FIELDS = frozenset(
    {"party", "visitor_name", "gender", "id_type", "id_number", "phone", "work_unit"}
)


def sees_all_reception(user) -> bool:
    """The office's reception staff and whoever sees all units."""
    return _signed_in(user) and (user.has_permission("reception.manage") or sees_all_units(user))


def _own_appointment(user, appointment) -> bool:
    return appointment is not None and (
        (appointment.unit_id is not None and appointment.unit_id == user.unit_id)
        or (appointment.host_id is not None and appointment.host_id == user.id)
        or can_see_live_case(user, appointment.case)
    )


def _own_pass(user, visitor_pass) -> bool:
    if visitor_pass is None:
        return False
    host = visitor_pass.host
    return (
        (
            host is not None
            and (host.id == user.id or (host.unit_id is not None and host.unit_id == user.unit_id))
        )
        or _own_appointment(user, visitor_pass.appointment)
        or can_see_live_case(user, visitor_pass.case)
    )


def can_view_reception_record(user, record) -> bool:
    """May ``user`` see this appointment, pass, incident or queue entry?

    A department user sees the visits to their own unit: an appointment for the unit or for
    themselves, a pass whose host is in the unit, an incident during such a visit, and any
    record about a case they may see.
    """
    if record is None or not _signed_in(user):
        return False
    if sees_all_reception(user):
        return True
    if isinstance(record, Appointment):
        return _own_appointment(user, record)
    if isinstance(record, VisitorPass):
        return _own_pass(user, record)
    if isinstance(record, VisitIncident):
        return _own_pass(user, record.visitor_pass)
    if isinstance(record, ReceptionQueueEntry):
        return can_see_live_case(user, record.case)
    return False


def _own_appointments(user):
    conditions = [
        _is(Appointment.host_id, user.id),
        sa.and_(Appointment.case_id.is_not(None), on_visible_case(user, Appointment.case_id)),
    ]
    if user.unit_id is not None:
        conditions.append(_is(Appointment.unit_id, user.unit_id))
    return sa.or_(*conditions)


def _own_passes(user):
    hosts = [User.id == user.id]
    if user.unit_id is not None:
        hosts.append(_is(User.unit_id, user.unit_id))
    return sa.or_(
        sa.and_(
            VisitorPass.host_id.is_not(None),
            VisitorPass.host_id.in_(sa.select(User.id).where(sa.or_(*hosts))),
        ),
        sa.and_(
            VisitorPass.appointment_id.is_not(None),
            VisitorPass.appointment_id.in_(
                sa.select(Appointment.id).where(_own_appointments(user))
            ),
        ),
        sa.and_(VisitorPass.case_id.is_not(None), on_visible_case(user, VisitorPass.case_id)),
    )


def reception_visible_clause(user, model):
    """SQL twin of :func:`can_view_reception_record` for rows of ``model``."""
    if not _signed_in(user):
        return sa.false()
    if sees_all_reception(user):
        return sa.true()
    if model is Appointment:
        return _own_appointments(user)
    if model is VisitorPass:
        return _own_passes(user)
    if model is VisitIncident:
        return sa.and_(
            VisitIncident.pass_id.is_not(None),
            VisitIncident.pass_id.in_(sa.select(VisitorPass.id).where(_own_passes(user))),
        )
    if model is ReceptionQueueEntry:
        return on_visible_case(user, ReceptionQueueEntry.case_id)
    raise TypeError(f"not a reception record: {model!r}")


def reception_case_of(record):
    """The case a reception record is about, reached through its pass or appointment."""
    if record is None:
        return None
    if isinstance(record, VisitIncident):
        return reception_case_of(record.visitor_pass)
    case = getattr(record, "case", None)
    if case is None and isinstance(record, VisitorPass):
        return reception_case_of(record.appointment)
    return case


def visitor_hidden(user, record) -> bool:
    """Is the visitor on ``record`` a 举报 case's reporter whom ``user`` may not see?"""
    if _signed_in(user) and user.has_permission(CONFIDENTIAL_PERMISSION):
        return False  # without loading the record's case
    case = reception_case_of(record)
    return case is not None and not reporter_visible(case, user)


def visitor_hidden_clause(user, model):
    """SQL twin of :func:`visitor_hidden` for rows of ``model``."""
    if _signed_in(user) and user.has_permission(CONFIDENTIAL_PERMISSION):
        return sa.false()
    hidden = hidden_reporter_case_ids(user)
    if model is Appointment:
        return sa.and_(Appointment.case_id.is_not(None), Appointment.case_id.in_(hidden))
    if model is ReceptionQueueEntry:
        return ReceptionQueueEntry.case_id.in_(hidden)
    hidden_appointments = sa.select(Appointment.id).where(Appointment.case_id.in_(hidden))
    hidden_passes = sa.or_(
        sa.and_(VisitorPass.case_id.is_not(None), VisitorPass.case_id.in_(hidden)),
        sa.and_(
            VisitorPass.case_id.is_(None),
            VisitorPass.appointment_id.is_not(None),
            VisitorPass.appointment_id.in_(hidden_appointments),
        ),
    )
    if model is VisitorPass:
        return hidden_passes
    if model is VisitIncident:
        return sa.and_(
            VisitIncident.pass_id.is_not(None),
            VisitIncident.pass_id.in_(sa.select(VisitorPass.id).where(hidden_passes)),
        )
    raise TypeError(f"not a reception record: {model!r}")


def visitor_value(user, record, value):
    """``value`` (a visitor's name, number, phone …), or the mask text when it is hidden."""
    return masked(value, visitor_hidden(user, record))


# --- callback schedules and satisfaction surveys ------------------------------------------
#
# A callback schedule (routine callbacks on a delivered project) and a survey campaign belong
# to a unit, not to a case. The office (whoever sees all units) sees every one; a department
# user sees their own unit's, and the ones they set up or (a schedule) are to call for. A
# returned survey form follows its campaign.


def can_view_callback_schedule(user, schedule) -> bool:
    """Whoever sees all units; else the responsible unit's members, whoever set it up and the
    person named to make its calls."""
    if schedule is None or not _signed_in(user):
        return False
    if sees_all_units(user):
        return True
    return (
        (schedule.unit_id is not None and schedule.unit_id == user.unit_id)
        or schedule.created_by_id == user.id
        or schedule.caller_id == user.id
    )


def callback_schedule_visible_clause(user):
    """SQL twin of :func:`can_view_callback_schedule` for ``CallbackSchedule`` rows."""
    if not _signed_in(user):
        return sa.false()
    if sees_all_units(user):
        return sa.true()
    conditions = [
        _is(CallbackSchedule.created_by_id, user.id),
        _is(CallbackSchedule.caller_id, user.id),
    ]
    if user.unit_id is not None:
        conditions.append(_is(CallbackSchedule.unit_id, user.unit_id))
    return sa.or_(*conditions)


def can_view_survey_campaign(user, campaign) -> bool:
    """Whoever sees all units; else the organising unit's members and whoever set it up."""
    if campaign is None or not _signed_in(user):
        return False
    if sees_all_units(user):
        return True
    return (
        campaign.unit_id is not None and campaign.unit_id == user.unit_id
    ) or campaign.created_by_id == user.id


def survey_campaign_visible_clause(user):
    """SQL twin of :func:`can_view_survey_campaign` for ``SurveyCampaign`` rows."""
    if not _signed_in(user):
        return sa.false()
    if sees_all_units(user):
        return sa.true()
    conditions = [_is(SurveyCampaign.created_by_id, user.id)]
    if user.unit_id is not None:
        conditions.append(_is(SurveyCampaign.unit_id, user.unit_id))
    return sa.or_(*conditions)


def can_view_survey_response(user, response) -> bool:
    """A returned form is seen by whoever may see its campaign."""
    return response is not None and can_view_survey_campaign(user, response.campaign)


def survey_response_visible_clause(user):
    """SQL twin of :func:`can_view_survey_response` for ``SurveyResponse`` rows."""
    if not _signed_in(user):
        return sa.false()
    if sees_all_units(user):
        return sa.true()
    campaigns = sa.select(SurveyCampaign.id).where(survey_campaign_visible_clause(user))
    return SurveyResponse.campaign_id.in_(campaigns)


# --- people ----------------------------------------------------------------------------------

#
# Who a person in the register is visible to (the pickers, the 信访人 list and its search),
# and which values the timeline and the audit log hide from whom.


def _party_case_links():
    """SQL: every (party, case) pair: petitioner, representative, agent, writer, visitor,
    caller, and the visitor of an appointment, a pass, an incident or a reception-day queue
    about the case."""

    def pairs(party_column, case_column, *joins):
        query = sa.select(party_column.label("party_id"), case_column.label("case_id"))
        for target, on in joins:
            query = query.join(target, on)
        return query.where(party_column.is_not(None), case_column.is_not(None))

    return sa.union_all(
        pairs(case_petitioners.c.party_id, case_petitioners.c.case_id),
        # A group's representatives are its reporters too on a 举报 case.
        pairs(CaseRepresentative.party_id, CaseRepresentative.case_id),
        pairs(Case.agent_id, Case.id),
        pairs(Letter.writer_id, Letter.case_id),
        pairs(Visit.visitor_id, Visit.case_id),
        pairs(Call.caller_id, Call.case_id),
        pairs(Appointment.party_id, Appointment.case_id),
        pairs(VisitorPass.party_id, VisitorPass.case_id),
        pairs(ReceptionQueueEntry.party_id, ReceptionQueueEntry.case_id),
        pairs(
            VisitIncident.party_id,
            VisitorPass.case_id,
            (VisitorPass, VisitorPass.id == VisitIncident.pass_id),
        ),
    ).subquery("party_case_links")


def _party_cases(party) -> list:
    """Python twin of :func:`_party_case_links` for one loaded person: the cases linked."""
    links = _party_case_links()
    case_ids = db.session.scalars(
        sa.select(links.c.case_id).where(links.c.party_id == party.id).distinct()
    ).all()
    if not case_ids:
        return []
    return db.session.scalars(sa.select(Case).where(Case.id.in_(case_ids))).all()


def can_view_party(user, party) -> bool:
    """May ``user`` find and open this person in the register?

    Someone linked to a live case the user sees, with the reporter visible to the user; and,
    for holders of ``party.manage`` (registrars must find repeat petitioners whatever unit
    handles their earlier matters), anyone else too — except the reporter of a 举报 /
    检举控告 case whose reporter is hidden from the user: finding them by name, phone or ID
    number would tell who reported.
    """
    if party is None or not _signed_in(user):
        return False
    cases = _party_cases(party)
    if any(can_see_live_case(user, case) and reporter_visible(case, user) for case in cases):
        return True
    if not user.has_permission("party.manage"):
        return False
    return not any(not reporter_visible(case, user) for case in cases)


def party_visible_clause(user):
    """SQL twin of :func:`can_view_party` for ``Party`` rows."""
    if not _signed_in(user):
        return sa.false()
    if user.has_permission("party.manage") and user.has_permission(CONFIDENTIAL_PERMISSION):
        # Every reporter is visible to them, so nobody is held back (the twin's last line).
        return sa.true()
    links = _party_case_links()
    seen_cases = sa.select(Case.id).where(
        visible_cases_clause(user), Case.is_deleted.is_(False), reporter_visible_clause(user)
    )
    # Correlated EXISTS, not ``IN (every link)``: PostgreSQL pushes the person's id into each
    # branch of the links (an index lookup each), where the IN form re-read all million links
    # for every person it tested once they no longer fit in memory (30 s for the 信访人 list).
    linked_to_seen = sa.exists().where(
        links.c.party_id == Party.id, links.c.case_id.in_(seen_cases)
    )
    if not user.has_permission("party.manage"):
        return linked_to_seen
    linked_to_hidden = sa.exists().where(
        links.c.party_id == Party.id, links.c.case_id.in_(hidden_reporter_case_ids(user))
    )
    return sa.or_(linked_to_seen, ~linked_to_hidden)


#: Free texts that quote or answer the reporter: 反映内容 and 诉求, a letter's summary, a
#: visit's interview record and answer, a call's record, a callback's opinion and notes, and
#: the texts of the steps (investigation, result, reply, review answers). On a confidential
#: case the timeline says that they changed, never what they said, to whoever may not see the
#: reporter: a reporter's name edited out of 反映内容 must not survive in the old value.
REPORTER_TEXT_FIELDS = frozenset(
    {
        "content",
        "demands",
        "summary",
        "purpose",
        "interview_record",
        "answer",
        "record",
        "opinion",
        "note",
        "follow_up",
        "text",
        "facts",
        "decision",
        "findings",
        "informed_how",
        "description",
        "result",
        # Drafted reports (专报, 信访信息报告, 公示): the measures and proposals retell the matter.
        "measures",
        "proposals",
    }
)


def quotes_reporter(key: str) -> bool:
    """Does a field under ``key`` name the reporter or quote or answer them?"""
    return key in IDENTITY_FIELDS or key in REPORTER_TEXT_FIELDS


def timeline_value_hidden(key: str, reporter_hidden: bool) -> bool:
    """Is the value under ``key`` of a timeline entry hidden from a reader who may not see the
    case's reporter (``reporter_hidden``)?"""
    return reporter_hidden and quotes_reporter(key)


def reporter_text(case, user, value, *, instead=None):
    """A text that quotes or answers ``case``'s reporter, as ``user`` may read it.

    Such texts are hidden with the reporter: a callback's opinion and the person reached, a
    rectification order copied from that opinion, the title of a document addressed to the
    petitioner. Whoever may not see the reporter reads ``instead`` (a neutral wording, such as
    the document type's name) or else the mask text.
    """
    if reporter_visible(case, user):
        return value
    return str(MASK) if instead is None else instead


def reporter_text_searchable_clause(user, case_id_column):
    """SQL twin of :func:`reporter_text` for searches: rows (of the model that ``case_id_column``
    belongs to) whose reporter's identity and texts a search by ``user`` may match. A search
    that matched them on a case whose reporter is hidden would tell who reported."""
    if _signed_in(user) and user.has_permission(CONFIDENTIAL_PERMISSION):
        return sa.true()
    return sa.or_(case_id_column.is_(None), case_id_column.notin_(hidden_reporter_case_ids(user)))


def may_change_confidentiality(user) -> bool:
    """Moving a case into or out of a 举报 / 检举控告 category hides or reveals its reporter
    for everybody: only holders of ``confidential.view`` may do it."""
    return _signed_in(user) and user.has_permission(CONFIDENTIAL_PERMISSION)


#: Audit-log tables whose rows are named after a person (``str()`` of the row is the name).
PERSON_TABLES = frozenset(
    {
        "parties",
        "appointments",
        "visitor_passes",
        "visit_incidents",
        "attachments",
        # A representative's link row is labelled with the person.
        "case_representatives",
    }
)
#: Besides identity and reporter texts, the audit log hides an original's file name and the
#: text and addressee of issued documents (a 答复意见书 names the petitioner).
_AUDIT_HIDDEN_EXTRA = frozenset(
    {"original_name", "stored_name", "body", "addressee", "respondent", "contact"}
)


def audit_identity_hidden(user) -> bool:
    """The audit log covers every record; reading its rows case by case would be fragile, so
    whoever lacks ``confidential.view`` sees no person's identity and no reporter's text in
    it at all (before and after values, nested timeline data and person-named summaries)."""
    return not (_signed_in(user) and user.has_permission(CONFIDENTIAL_PERMISSION))


def audit_value_hidden(key: str, table: str | None = None) -> bool:
    """For readers of the audit log without ``confidential.view``: is ``key``'s value hidden?
    (``name`` names a person only on person tables; a unit's or category's name stays.)"""
    if key == "name":
        return table in PERSON_TABLES
    return key in IDENTITY_FIELDS or key in REPORTER_TEXT_FIELDS or key in _AUDIT_HIDDEN_EXTRA


def masked_audit_data(data, table: str | None = None):
    """``data`` (an audit row's JSON) with every hidden key's value replaced by the mask, at
    any depth (a timeline row's own ``data`` is nested in its snapshot)."""
    if isinstance(data, dict):
        return {
            key: str(MASK)
            if audit_value_hidden(key, table) and value not in (None, "", [])
            else masked_audit_data(value, table)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [masked_audit_data(item, table) for item in data]
    return data
