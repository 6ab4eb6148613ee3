"""自动分派: applying the routing rules (models.routing) to a case.

``route_case`` runs at registration and at acceptance (the rules of that moment), and as the
"自动分派" step a user may take again on a case before hand-over, e.g. after correcting its
category (then every active rule counts, whatever its moment).

Who acts: the rule was set by an administrator; the user whose registration or acceptance
triggers it takes the ``routed`` step, whose permission (``workflow.intake`` or
``case.register``, see steps.STEPS) is checked by ``step_problem`` like every other step. A rule
that hands the case over does so inside that step, on the rule's authority, and the timeline
says so ("按分派规则…"): a registrar cannot otherwise assign. The assignment rule that a leader
must instruct first (``needs_leader_instruction``) still holds: such a rule then only suggests.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask_babel import gettext as _

from ... import db
from ...base import utcnow
from ...enums import CaseStatus, RoutingAction, RoutingMoment
from ...policies import may_join_circle
from ...routing import RoutingRule
from ...units import Unit
from ..deadlines import matching_rule as matching_deadline_rule
from ..deadlines import refresh_due
from .common import deadline_data, hand_over
from .steps import STEPS, begin_step, finish_step, needs_leader_instruction, step_problem

logger = logging.getLogger(__name__)


def matching_routing_rule(case, moment: RoutingMoment | None = None) -> RoutingRule | None:
    """The first active rule (by sort order, then id) that fits ``case``; rules of ``moment``
    only when given. Rules naming a deactivated unit are passed over."""
    query = (
        sa.select(RoutingRule)
        .join(Unit, Unit.id == RoutingRule.unit_id)
        .where(RoutingRule.is_active.is_(True), Unit.is_active.is_(True))
        .order_by(RoutingRule.sort_order, RoutingRule.id)
    )
    if moment is not None:
        query = query.where(RoutingRule.moment == moment)
    for rule in db.session.scalars(query):
        if rule.matches(case):
            return rule
    return None


def route_case(case, *, by, moment: RoutingMoment, at=None):
    """Apply the rules of ``moment`` to ``case`` (called by registration and acceptance).

    Does nothing when no rule fits, or when ``by`` may not take the routing step (the rules
    then simply do not run for that user; registration itself goes on). Returns the rule that
    fired, or ``None``.
    """
    if case.status not in STEPS["routed"].sources:
        return None
    if step_problem(STEPS["routed"], case, by) is not None:
        logger.info("case %s: user %s may not route, rules skipped", case.id, by.id)
        return None
    rule = matching_routing_rule(case, moment)
    if rule is None:
        return None
    _apply(rule, case, by=by, at=at or utcnow())
    return rule


#: Case fields the rules look at: an edit of one of them before hand-over routes again.
ROUTING_INPUTS = frozenset({"category", "category_id", "channel", "priority", "custom_values"})


def route_after_edit(case, changed, *, by, at=None):
    """``case`` was edited (``changed``: the edited attribute names). Before hand-over, when an
    input of the rules changed and another rule (or none) now fits, route again: the stage's
    rules (registration's while registered, any once accepted). Returns the rule that fired."""
    if (
        not ROUTING_INPUTS.intersection(changed)
        or case.status not in STEPS["routed"].sources
        or case.handling_unit_id is not None
        or step_problem(STEPS["routed"], case, by) is not None
    ):
        return None
    moment = RoutingMoment.registration if case.status == CaseStatus.registered else None
    rule = matching_routing_rule(case, moment)
    if rule is None and case.routing_rule_id is None:
        return None
    if rule is not None and rule.id == case.routing_rule_id and rule.unit_id == case.routed_unit_id:
        return rule
    at = at or utcnow()
    if rule is None:
        _clear(case, by=by, at=at, step=begin_step("routed", case, by))
        return None
    _apply(rule, case, by=by, at=at)
    return rule


def _clear(case, *, by, at, step) -> None:
    case.routing_rule = None
    case.routed_unit = None
    case.routed_handler = None
    case.routing_assigned = False
    finish_step(step, case, by, at, {"note": _("没有适用的分派规则")})


def reroute(case, *, by, at=None, expected_version=None):
    """The "自动分派" step taken by hand: apply the first fitting rule of any moment again."""
    at = at or utcnow()
    step = begin_step("routed", case, by, expected_version)
    rule = matching_routing_rule(case)
    if rule is None:
        _clear(case, by=by, at=at, step=step)
        return None
    _apply(rule, case, by=by, at=at, step=step)
    return rule


def _apply(rule: RoutingRule, case, *, by, at, step=None) -> None:
    step = step or begin_step("routed", case, by)
    unit = rule.unit
    handler = rule.handler
    if handler is not None and (
        not handler.is_active
        or handler.unit_id != unit.id
        or not may_join_circle(handler, case, named_by=by)
    ):
        # The unit still applies; a handler who left it, or who may not see a 举报 case's
        # reporter, is left for the unit's head to choose.
        handler = None
    data = {"routing_rule": rule.name}
    if rule.set_priority is not None and rule.set_priority != case.priority:
        data["priority"] = f"{case.priority.title} → {rule.set_priority.title}"
        case.priority = rule.set_priority
        _retime_open_clocks(case)
    case.routing_rule = rule
    case.routed_unit = unit
    case.routed_handler = handler
    hand_over_now = rule.action == RoutingAction.assign
    if hand_over_now and needs_leader_instruction(case):
        hand_over_now = False
        data["note"] = _("按本单位规定须经领导批示后方可交办，规则改为建议承办单位")
    case.routing_assigned = hand_over_now
    target = None
    if hand_over_now:
        restart = case.status in (CaseStatus.registered, CaseStatus.accepted)
        clock = hand_over(case, unit, handler, False, None, at, restart=restart)
        data.update(
            {
                "handling_unit": unit.name,
                "handler": str(handler) if handler else None,
                "auto_assigned": True,
                **deadline_data(clock),
            }
        )
        target = CaseStatus.assigned
    else:
        data.update({"routed_unit": unit.name, "routed_handler": str(handler) if handler else None})
    finish_step(step, case, by, at, data, target=target)
    logger.info("case %s routed by rule %s to unit %s", case.id, rule.id, unit.id)


def _retime_open_clocks(case) -> None:
    """A rule changed the priority: the open clocks not yet extended or fixed by an
    instruction follow the deadline rule that fits the new priority, from the same start."""
    for clock in case.clocks:
        if clock.stopped_at is not None or clock.fixed_due_on is not None or clock.extension:
            continue
        rule = matching_deadline_rule(case, clock.kind)
        if rule is None or rule is clock.rule:
            continue
        clock.rule = rule
        clock.amount = rule.amount
        clock.unit = rule.unit
        clock.max_extension = rule.max_extension
        clock.max_extension_count = rule.max_extension_count
        refresh_due(clock)


def routing_data(case, unit) -> dict:
    """Timeline data for a hand-over (批示 / 交办 / 转办) of a routed case: the rule's
    suggestion and whether the user chose another unit (an override of the rule)."""
    if case.routed_unit_id is None or unit is None:
        return {}
    name = case.routing_rule.name if case.routing_rule is not None else None
    data = {"routing_rule": name, "routed_unit": case.routed_unit.name}
    if unit.id != case.routed_unit_id:
        data["routing_overridden"] = True
    return data


__all__ = [
    "matching_routing_rule",
    "reroute",
    "route_after_edit",
    "route_case",
    "routing_data",
]
