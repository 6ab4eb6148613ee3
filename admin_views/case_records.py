"""What the steps recorded, shown where people decide and read: the facts an approver approves
on the approval form, and every recorded value on the case page (not only on its timeline)."""

from __future__ import annotations

import functools

import sqlalchemy as sa
from flask import has_request_context, request
from flask_babel import gettext as _
from flask_login import current_user

from models import Case, CaseClock, CaseEvent, db
from models.base import format_local
from models.cases import loaded_collection
from models.contacts import Letter
from models.enums import (
    CaseStatus,
    ContactMethod,
    EventKind,
    OutOfScopePolicy,
    ReplyKind,
    ReplyMethod,
)
from models.operations.deadlines import refresh_due
from models.policies import reporter_visible, timeline_value_hidden
from models.rendering.wording import tidy_punctuation
from models.texts import lazy_gettext as _l

from .confidential import masked
from .wording import datetime_text, ui_date, value_text

#: Steps whose recorded values the case page lists, in the order of the work.
RECORDED_STEPS = (
    EventKind.propose,
    EventKind.instruct,
    EventKind.assign,
    EventKind.out_of_scope,
    EventKind.transfer,
    EventKind.return_to_sender,
    EventKind.add_assistant,
    EventKind.investigate,
    EventKind.urge,
    EventKind.interim_report,
    EventKind.request_extension,
    EventKind.decide_extension,
    EventKind.report_result,
    EventKind.approve_result,
    EventKind.send_back,
    EventKind.close,
    EventKind.request_review,
    EventKind.answer_review,
    EventKind.request_re_review,
    EventKind.answer_re_review,
    EventKind.archive,
)


def case_letters(case: Case) -> list[Letter]:
    return db.session.scalars(
        sa.select(Letter)
        .where(Letter.case_id == case.id, Letter.is_deleted.is_(False))
        .order_by(Letter.id)
    ).all()


def _latest(case: Case, kind: EventKind) -> CaseEvent | None:
    events = loaded_collection(case, "events")
    if events is not None:
        return next((event for event in reversed(events) if event.kind == kind), None)
    return db.session.scalars(
        sa.select(CaseEvent)
        .where(CaseEvent.case_id == case.id, CaseEvent.kind == kind)
        .order_by(CaseEvent.id.desc())
        .limit(1)
    ).first()


def _text(data: dict, key: str, hidden: bool) -> str:
    value = data.get(key)
    if value in (None, ""):
        return ""
    if timeline_value_hidden(key, hidden):
        return str(masked())
    return str(value)


def _result_rows(case: Case, hidden: bool) -> list[tuple[str, str]]:
    """The reported result as the approver and the closing leader read it."""
    report = _latest(case, EventKind.report_result)
    data = report.data if report is not None else {}
    findings = _latest(case, EventKind.investigate)
    rows = [
        (_("查明的事实"), _text(data, "facts", hidden)),
        (_("对每项诉求的处理意见"), _text(data, "decision", hidden)),
    ]
    if findings is not None:
        rows.append((_("调查核实情况"), _text(findings.data, "findings", hidden)))
    rows += [
        (_("承办单位"), str(case.handling_unit or "")),
        (_("承办人"), str((report.created_by if report else None) or case.handler or "")),
        (_("签字的分管领导"), case.result_signer_name or _("（未签字）")),
        (_("报送办公室日期"), ui_date(case.result_reported_to_office_on)),
        (_("报结时间"), format_local(case.result_reported_at)),
    ]
    return rows


def _proposed_due(clock: CaseClock, amount: int):
    """The deadline ``clock`` would have with ``amount`` more, computed on a copy."""
    copy = CaseClock(
        kind=clock.kind,
        started_at=clock.started_at,
        amount=clock.amount,
        unit=clock.unit,
        fixed_due_on=clock.fixed_due_on,
        extension=clock.extension + amount,
        extension_count=clock.extension_count,
        paused_amount=clock.paused_amount,
    )
    refresh_due(copy)
    return copy.due_at


def _extension_rows(case: Case) -> list[tuple[str, str]]:
    clock = next((c for c in case.clocks if c.pending_extension and c.stopped_at is None), None)
    if clock is None:
        return []
    interim = _latest(case, EventKind.interim_report)
    rows = [
        (_("延期的时限"), clock.kind.title),
        (_("申请延长"), f"{clock.pending_extension}{clock.unit_label}"),
        (_("延期理由"), clock.pending_reason or ""),
        (_("申请人"), str(clock.pending_by or "")),
        (_("当前期限"), format_local(clock.due_at)),
        (_("批准后的期限"), format_local(_proposed_due(clock, clock.pending_extension))),
        (
            _("已延期"),
            _(
                "%(used)s%(unit)s（最多%(limit)s%(unit)s）",
                used=clock.extension,
                limit=clock.max_extension or 0,
                unit=clock.unit_label,
            ),
        ),
    ]
    if interim is not None and interim.data.get("difficulties"):
        rows.append((_("中途报告的困难"), str(interim.data["difficulties"])))
    return rows


def _review_rows(case: Case, kind: EventKind, hidden: bool) -> list[tuple[str, str]]:
    request = _latest(case, kind)
    if request is None:
        return []
    return [
        (_("申请日期"), str(request.data.get("requested_on") or "")),
        (_("申请理由"), _text(request.data, "reason", hidden)),
    ]


def approval_facts(step, case: Case) -> list[tuple[str, str]]:
    """What the person taking an approving step decides on, as ``(label, value)`` rows."""
    hidden = not reporter_visible(case, current_user)
    code = step.code
    if code in ("approve_result", "send_back"):
        return _result_rows(case, hidden)
    if code == "close":
        rows = _result_rows(case, hidden)
        if case.result_approved_at is not None:
            rows.append(
                (
                    _("报结审核"),
                    f"{case.result_approved_by or ''} {format_local(case.result_approved_at)}",
                )
            )
        if case.replied_at is not None:
            rows.append((_("答复时间"), format_local(case.replied_at)))
            rows.append((_("答复方式"), case.reply_method.title if case.reply_method else ""))
        return rows
    if code == "decide_extension":
        return _extension_rows(case)
    if code == "instruct":
        proposal = _latest(case, EventKind.propose)
        return [(_("拟办意见"), str(proposal.data.get("proposal") or ""))] if proposal else []
    if code == "answer_review":
        return _review_rows(case, EventKind.request_review, hidden)
    if code == "answer_re_review":
        return _review_rows(case, EventKind.request_re_review, hidden)
    return []


def case_facts(case: Case) -> list[tuple[str, str]]:
    """The values the steps set on the case itself, for the case page (empty ones left out)."""
    rows = [
        (_("不属本单位职责范围"), format_local(case.out_of_scope_at)),
        (_("不属职责的理由"), case.out_of_scope_reason or ""),
        (_("原批转单位"), str(case.out_of_scope_forwarding_unit or "")),
        (_("报结时间"), format_local(case.result_reported_at)),
        (_("签字的分管领导"), case.result_signer_name or ""),
        (_("报送办公室日期"), ui_date(case.result_reported_to_office_on)),
        (
            _("报结审核"),
            f"{case.result_approved_by or ''} {format_local(case.result_approved_at)}"
            if case.result_approved_at
            else "",
        ),
        (_("答复时间"), format_local(case.replied_at)),
        (_("答复方式"), case.reply_method.title if case.reply_method else ""),
        (_("办结时间"), format_local(case.closed_at)),
    ]
    return [(label, value) for label, value in rows if value.strip()]


def recorded_steps(events, reporter_hidden: bool) -> list[tuple[CaseEvent, list]]:
    """Every recorded step with its values, for the case page's 办理记录."""
    return [
        (event, step_value_rows(event.data or {}, reporter_hidden))
        for event in events
        if event.kind in RECORDED_STEPS
    ]


STEP_DATA_LABELS = {
    "reason": _l("理由"),
    "legal_route": _l("法定途径或有权处理的机关"),
    "region": _l("地区"),
    "year": _l("年份"),
    "related": _l("关联事项"),
    "answer": _l("答复内容"),
    "proposal": _l("拟办意见"),
    "leader": _l("送阅领导"),
    "instruction": _l("批示"),
    "handling_unit": _l("承办单位"),
    "handler": _l("承办人"),
    "assistant": _l("协办人"),
    "approved_by": _l("批准人"),
    "due_on": _l("批示期限"),
    "supervised": _l("督办"),
    "target_unit": _l("转送单位"),
    "petitioner_informed": _l("已告知信访人"),
    "informed_how": _l("告知方式"),
    "returned_to": _l("退回对象"),
    "suggested_destination": _l("建议转往"),
    "within_limit": _l("在期限内"),
    "findings": _l("调查情况"),
    "responsible_unit": _l("责任单位"),
    "needs_rectification": _l("须报整改方案"),
    "difficulties": _l("困难"),
    "amount": _l("申请延期"),
    "approved": _l("同意"),
    "granted": _l("批准延期"),
    "facts": _l("查明事实"),
    "decision": _l("处理意见"),
    "kind": _l("答复类型"),
    "recipient": _l("答复对象"),
    "method": _l("答复方式"),
    "text": _l("答复内容"),
    "contact_method": _l("联系方式"),
    "contacted_at": _l("联系时间"),
    "person": _l("联系对象"),
    "summary": _l("联系内容"),
    "result": _l("结果"),
    "opinion": _l("意见"),
    "signed_by": _l("签批人"),
    "upheld": _l("维持原意见"),
    "requested_on": _l("申请日期"),
    "volume": _l("卷宗号"),
    "batch": _l("销毁批次"),
    "into": _l("并入"),
    "from_case": _l("并入的事项"),
    "children": _l("子事项"),
    "message": _l("提醒"),
    "routing_rule": _l("分派规则"),
    "routed_unit": _l("规则建议的承办单位"),
    "routed_handler": _l("规则建议的承办人"),
    "auto_assigned": _l("已按规则自动交办"),
    "routing_overridden": _l("未采用规则建议"),
    "priority": _l("紧急程度"),
    "due_at": _l("期限"),
    "note": _l("说明"),
    "stood_in": _l("代为办理（无人担任该职责）"),
    "result_signer": _l("签字的分管领导"),
    "reported_to_office_on": _l("报送办公室日期"),
    "forwarding_unit": _l("原批转单位"),
    "policy": _l("本单位规定"),
    "old_due_at": _l("原期限"),
    "requested": _l("申请延期时长"),
    "notified": _l("已通知"),
    "no_callback": _l("匿名且未留联系方式，不安排回访"),
}


def describe_step_event(data: dict, reporter_hidden: bool = False) -> str:
    """Status change and the step's inputs, as one Chinese line (texts addressed to or about a
    hidden reporter, such as the reply "告知举报人…", masked)."""
    parts = []
    before, after = data.get("from"), data.get("to")
    if before and after and before != after:
        parts.append(f"{CaseStatus.title_of(before)} → {CaseStatus.title_of(after)}")
    colon = _("：")
    parts.extend(
        f"{label}{colon}{value}" for label, value in step_value_rows(data, reporter_hidden)
    )
    # A value typed with its own full stop: “……事项。；法定途径” reads “……事项；法定途径”.
    return tidy_punctuation(_("；").join(parts))


def step_value_rows(data: dict, reporter_hidden: bool = False) -> list[tuple[str, str]]:
    """A step's recorded inputs as ``(label, value)`` pairs, in the order of the labels (the
    timeline line and the case page's records both read them from here)."""
    rows = []
    for key, label in STEP_DATA_LABELS.items():
        value = data.get(key)
        if value in (None, "", [], False) and key not in ("approved", "upheld"):
            continue
        if value is None:
            continue
        if timeline_value_hidden(key, reporter_hidden):
            value = masked()
        elif isinstance(value, bool):
            value = _("是") if value else _("否")
        elif key in ("due_at", "contacted_at", "old_due_at"):
            value = local_time_text(value)
        elif key == "policy":
            value = OutOfScopePolicy.title_of(value)
        elif key == "method":
            value = ReplyMethod.title_of(value)
        elif key == "kind":
            value = ReplyKind.title_of(value)
        elif key == "contact_method":
            value = ContactMethod.title_of(value)
        elif key in ("amount", "granted", "requested") and data.get("unit"):
            value = f"{value}{data['unit']}"
        elif isinstance(value, list):
            value = "、".join(str(item) for item in value)
        elif isinstance(value, str):
            # A date typed into the step (报送办公室日期 …) in words.
            value = value_text(value)
        rows.append((str(label), str(value)))
    return rows


def local_time_text(value: str) -> str:
    """A stored ISO time in words, in the office's zone (``2026年11月30日 17:50``)."""
    from datetime import datetime

    try:
        return datetime_text(datetime.fromisoformat(value))
    except ValueError:
        return value


# --- the case page in a handful of statements (issue 16) ----------------------------------------

#: Events per page of the case page's timeline (newest first).
TIMELINE_PAGE_SIZE = 50


def _record_kinds(case_id):
    """``(kind, entity, driver select, loader options)`` of every row the case
    page lists: the case's contacts, callbacks, attachments, replies, contacts made, issued
    documents, commendations, clocks, representatives, assistants, related cases,
    and the active custom fields and role names."""
    from models import (
        Attachment,
        Call,
        Callback,
        CaseReply,
        CaseRepresentative,
        Commendation,
        IssuedDocument,
        OutgoingContact,
        User,
        Visit,
    )
    from models.cases import case_assistants
    from models.custom_fields import CustomField
    from models.users import Role

    related = sa.orm.aliased(Case, name="related_case")
    assistant = sa.orm.aliased(User, name="assistant_user")

    def active(model, kind):
        return (
            kind,
            model,
            sa.select(model.id).where(model.case_id == case_id, model.is_deleted.is_(False)),
        )

    def rows_of(model, kind):
        return (kind, model, sa.select(model.id).where(model.case_id == case_id))

    kinds = [
        (*active(Letter, "letter"), (sa.orm.joinedload(Letter.writer),)),
        (*active(Visit, "visit"), (sa.orm.joinedload(Visit.visitor),)),
        (*active(Call, "call"), (sa.orm.joinedload(Call.caller),)),
        (*active(Callback, "callback"), (sa.orm.joinedload(Callback.caller),)),
        (*active(Attachment, "attachment"), ()),
        (*rows_of(CaseReply, "reply"), (sa.orm.joinedload(CaseReply.created_by),)),
        (*rows_of(OutgoingContact, "contact"), (sa.orm.joinedload(OutgoingContact.created_by),)),
        (*rows_of(IssuedDocument, "document"), (sa.orm.joinedload(IssuedDocument.issued_by),)),
        (*rows_of(Commendation, "commendation"), (sa.orm.joinedload(Commendation.party),)),
        (*rows_of(CaseClock, "clock"), (sa.orm.joinedload(CaseClock.rule),)),
        (
            "child",
            related,
            sa.select(Case.id).where(Case.parent_id == case_id),
            # The page names split-off and merged cases and the rules ask whether they are
            # still open: six columns of the seventy (a wide row per record costs its width).
            (
                sa.orm.load_only(
                    related.id,
                    related.number,
                    related.status,
                    related.is_deleted,
                    related.parent_id,
                    related.merged_into_id,
                ),
            ),
        ),
        ("merged", related, sa.select(Case.id).where(Case.merged_into_id == case_id), ()),
        (
            "representative",
            CaseRepresentative,
            sa.select(CaseRepresentative.party_id).where(CaseRepresentative.case_id == case_id),
            (),
        ),
        (
            "assistant",
            assistant,
            sa.select(case_assistants.c.user_id).where(case_assistants.c.case_id == case_id),
            (),
        ),
        ("role", Role, sa.select(Role.id), ()),
        (
            "custom_field",
            CustomField,
            sa.select(CustomField.id).where(CustomField.is_active.is_(True)),
            (),
        ),
    ]
    return kinds


#: Pages that read a few dozen rows by key through wide statements of many outer joins.
KEY_LOOKUP_ENDPOINTS = frozenset({"case.details_view"})


def request_plan_settings() -> tuple:
    """Columns that, read by the request's first statement (the signed-in user's), set how
    PostgreSQL plans the REST of a key-lookup page's transaction: no parallel workers, joins
    taken in the order written, and plans kept across runs of a prepared statement
    (``set_config(..., is_local => true)``).

    Left alone, PostgreSQL spends 10-25 ms searching join orders for the case page's
    statement of some thirty outer joins and, as its estimated cost passes
    ``parallel_setup_cost``, starts two workers to share a millisecond of work (20-40 ms of
    start-up at a million cases). The written order (the page's rows first, each record then
    joined by its key) is the best one. Carried on a statement the page runs anyway, the
    settings cost no round trip; they end with the request's transaction. Other pages,
    where a parallel scan or a reordered join may pay, are untouched."""
    if not has_request_context() or request.endpoint not in KEY_LOOKUP_ENDPOINTS:
        return ()
    if db.session.get_bind().dialect.name != "postgresql":
        return ()
    return (
        sa.func.set_config("max_parallel_workers_per_gather", "0", True),
        sa.func.set_config("join_collapse_limit", "1", True),
        # The connections plan every statement for its values (models/pg_connections.py);
        # statements that look rows up by key plan the same for any key, so this page may
        # keep one plan per connection: about 8 ms less for its wide statement.
        sa.func.set_config("plan_cache_mode", "auto", True),
    )


@functools.cache
def _case_page_statement():
    """The statement of ``load_case_page`` with the case's id as the bound parameter
    ``case_id``: built once per process, because building it (aliased entities adapted to a
    union of fifteen selects) costs more than running it."""
    from models import CaseRepresentative

    case_id = sa.bindparam("case_id", type_=sa.Integer)
    kinds = _record_kinds(case_id)
    driver = sa.union_all(
        *(
            sa.select(sa.literal(kind).label("kind"), select.subquery().c[0].label("id"))
            for kind, _entity, select, _options in kinds
        )
    ).subquery("page_rows")
    # Each aliased entity appears once in the statement even if two kinds share it.
    entities, seen = [], {}
    for kind, entity, _select, options in kinds:
        if id(entity) in seen:
            seen[id(entity)][1].append(kind)
            continue
        seen[id(entity)] = (entity, [kind], options)
        entities.append(entity)
    statement = sa.select(driver.c.kind, *entities).select_from(driver)
    for entity, entity_kinds, options in seen.values():
        if sa.inspect(entity).mapper.class_ is CaseRepresentative:
            key = sa.and_(entity.case_id == case_id, entity.party_id == driver.c.id)
        else:
            key = entity.id == driver.c.id
        statement = statement.outerjoin(entity, sa.and_(driver.c.kind.in_(entity_kinds), key))
        statement = statement.options(*options)
    positions = {id(entity): entities.index(entity) + 1 for entity in entities}
    position_of_kind = {kind: positions[id(entity)] for kind, entity, *_rest in kinds}
    timeline = (
        sa.select(CaseEvent)
        .options(sa.orm.joinedload(CaseEvent.created_by))
        .where(CaseEvent.case_id == sa.bindparam("case_id", type_=sa.Integer))
        .order_by(CaseEvent.id)
    )
    return statement, position_of_kind, timeline


def load_case_page(case: Case) -> dict:
    """Everything the case page lists, in TWO statements, whatever the case's history.

    A driver of ``(kind, id)`` pairs (a UNION ALL of one small select per kind of record)
    is outer-joined to each kind's table on its own kind, so every result row carries exactly
    one record, with its people joined: no cartesian product, one round trip. The loaded rows
    fill the case's collections (clocks, timeline, representatives, assistants, documents,
    commendations) as if loaded from the database, so the rules and helpers that read them
    run no further query. The timeline is the second statement."""
    statement, position_of_kind, timeline = _case_page_statement()
    parameters = {"case_id": case.id}
    found: dict[str, list] = {kind: [] for kind in position_of_kind}
    for row in db.session.execute(statement, parameters):
        kind = row[0]
        found[kind].append(row[position_of_kind[kind]])
    # The timeline is most of a long history: its own narrow statement, as each row of the one
    # above carries every kind's columns.
    found["event"] = list(db.session.scalars(timeline, parameters))

    def by(*keys):
        return lambda item: tuple(getattr(item, key) for key in keys)

    for kind in ("letter", "visit", "call", "callback", "attachment", "document", "clock"):
        found[kind].sort(key=by("id"))
    found["reply"].sort(key=by("replied_at", "id"))
    found["contact"].sort(key=by("contacted_at", "id"))
    found["commendation"].sort(key=by("commended_on", "id"))
    found["child"].sort(key=by("id"))
    found["merged"].sort(key=by("id"))
    found["representative"].sort(key=by("position"))
    found["custom_field"].sort(key=by("sort_order", "id"))
    set_value = sa.orm.attributes.set_committed_value
    set_value(case, "clocks", found["clock"])
    set_value(case, "events", found["event"])
    set_value(case, "representative_links", found["representative"])
    set_value(case, "assistants", sorted(found["assistant"], key=by("id")))
    set_value(case, "issued_documents", found["document"])
    set_value(case, "commendations", found["commendation"])
    set_value(case, "children", found["child"])
    set_value(case, "active_callbacks", found["callback"])
    found["child"] = [child for child in found["child"] if not child.is_deleted]
    found["roles"] = sorted(found.pop("role"), key=by("id"))
    return found


def timeline_page(events: list, page: int, size: int = TIMELINE_PAGE_SIZE) -> dict:
    """One page of the timeline, newest first; ``page`` 0 is the latest ``size`` events."""
    pages = max(1, -(-len(events) // size))
    page = min(max(page, 0), pages - 1)
    end = len(events) - page * size
    return {
        # Oldest first within the page, as the timeline always read.
        "events": events[max(0, end - size) : end],
        "page": page,
        "pages": pages,
        "total": len(events),
    }
