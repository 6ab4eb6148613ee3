"""Retention dates and the destruction of kept letters (存信销毁), in batches.

``note_outcome`` keeps ``Case.retention_from`` / ``retain_until`` in step with the case's
state (the workflow calls it on every state change); ``refresh_retention`` recomputes them
after the rules change. ``destroy_batch`` is the one way a case is destroyed, whether staff
pick a year and region, tick cases in the list, or take the single-case 销毁 step.

Destruction is all or nothing: a case still under retention, or with a callback record still
inside its five years, refuses the whole batch with a message naming the cases. Otherwise the
content and personal data of each case is erased from every table (Core statements, so the
generic audit listener does not copy the erased text into new audit rows), the stored files of
its attachments are removed once the transaction commits, and only the tombstone stays:
number, received and kept dates, region and year, batch, who and when.

The audit log is append-only for what happened (who did what to which record, when); its
payloads (``summary`` and ``data``) for the erased records carry the very content being
destroyed, so the destruction replaces those payloads with a note naming the batch, and writes
one audit row saying it did.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from .. import db
from ..attachments import Attachment
from ..audit import AuditEntry
from ..base import to_local, utcnow
from ..callbacks import Callback
from ..cases import Case, CaseEvent, CaseRepresentative, case_assistants, case_petitioners
from ..categories import Category
from ..commendations import Commendation
from ..contacts import Call, Letter, Visit
from ..deadlines import CaseClock, Notification
from ..documents import IssuedDocument
from ..enums import CaseStatus, RetentionOutcome
from ..messaging import OutgoingMessage
from ..opinion_boxes import opinion_slip_cases
from ..parties import Party
from ..policies import OPEN_STATUSES, visible_cases_clause
from ..reception import Appointment, VisitorPass
from ..reception_days import ReceptionQueueEntry
from ..replies import CaseReply, OutgoingContact
from ..retention import (
    CALLBACK_RETENTION_YEARS,
    DestructionBatch,
    RetentionRule,
    add_years,
    case_retain_until,
    check_retention_rule,
    local_day,
    outcome_of,
    today,
)
from ..surveys import RectificationOrder
from . import NotPermitted, ValidationFailed
from .audit_log import record_audit

logger = logging.getLogger(__name__)

S = CaseStatus
DESTROY_PERMISSION = "retention.destroy"
#: What the erased subject reads on every surface that still lists the case.
ERASED_SUBJECT = "（已销毁）"
#: How many case numbers a refusal names before it says "等 N 件".
NAMED_IN_MESSAGE = 10


# --- retention dates ---------------------------------------------------------------------------


def outcome_day(case: Case, at: datetime) -> date:
    """The day retention counts from: the outcome's day; for a kept letter, the end of the
    year it is packed under (存信按年份打包), so a year's pack expires together."""
    if case.status in (S.kept, S.destroyed) and case.kept_year:
        return date(case.kept_year, 12, 31)
    return local_day(at)


def note_outcome(case: Case, before: CaseStatus | None, at: datetime) -> None:
    """After a state change: an open case has no retention date; a case reaching an outcome
    from an open state counts its retention from that day."""
    if outcome_of(case) is None or case.status in OPEN_STATUSES:
        case.retention_from = None
        case.retain_until = None
        return
    if before is None or before in OPEN_STATUSES or case.retention_from is None:
        case.retention_from = outcome_day(case, at)
    case.retain_until = case_retain_until(case)


def _legacy_outcome_time(case: Case) -> datetime:
    return case.closed_at or case.kept_at or case.archived_at or case.updated_at or utcnow()


def refresh_retention(case_ids=None) -> int:
    """Recompute the retention date of every finished, not destroyed case (or of
    ``case_ids``) from the rules as they are now; returns how many changed. Flushes only."""
    statement = sa.select(Case).where(
        Case.status.not_in([*OPEN_STATUSES, S.destroyed]), Case.is_deleted.is_(False)
    )
    if case_ids is not None:
        statement = statement.where(Case.id.in_(list(case_ids)))
    changed = 0
    for case in db.session.scalars(statement):
        if case.retention_from is None:
            case.retention_from = outcome_day(case, _legacy_outcome_time(case))
        until = case_retain_until(case)
        if until != case.retain_until:
            case.retain_until = until
            changed += 1
    db.session.flush()
    return changed


# --- what may be destroyed -----------------------------------------------------------------------


def _callback_cutoff(on_day: date) -> datetime:
    """Callbacks made at or after this instant are still inside their retention on ``on_day``
    (the SQL twin of ``callback_retain_until(callback) > on_day``)."""
    first_day = add_years(on_day, -CALLBACK_RETENTION_YEARS)
    zone = to_local(utcnow()).tzinfo
    start = datetime.combine(first_day, datetime.min.time(), tzinfo=zone)
    return start + timedelta(days=1)


def retained_callbacks_clause(on_day: date):
    """Callback records still under retention on ``on_day``."""
    made = sa.func.coalesce(Callback.done_at, Callback.created_at)
    return sa.and_(Callback.is_deleted.is_(False), made >= _callback_cutoff(on_day))


def cases_with_retained_callbacks(case_ids, on_day: date) -> list[int]:
    if not case_ids:
        return []
    return list(
        db.session.scalars(
            sa.select(Callback.case_id)
            .where(Callback.case_id.in_(list(case_ids)), retained_callbacks_clause(on_day))
            .distinct()
        )
    )


def retention_problem(case: Case, on_day: date | None = None) -> str | None:
    """Why ``case`` may not be destroyed on ``on_day`` (a Chinese message), or ``None``."""
    on_day = on_day or today()
    if case.status != S.kept:
        return _(
            "%(number)s 状态为“%(status)s”，只有存信可以销毁",
            number=case.number,
            status=case.status.title,
        )
    until = case.retain_until or case_retain_until(case)
    if until is not None and until > on_day:
        return _(
            "%(number)s 保存期至 %(until)s，未到期不能销毁",
            number=case.number,
            until=until.isoformat(),
        )
    if cases_with_retained_callbacks([case.id], on_day):
        return _(
            "%(number)s 有%(years)s年保存期内的回访记录，不能提前销毁",
            number=case.number,
            years=CALLBACK_RETENTION_YEARS,
        )
    return None


def _refuse(problems: list[str]) -> None:
    shown = "；".join(problems[:NAMED_IN_MESSAGE])
    if len(problems) > NAMED_IN_MESSAGE:
        shown += _("；等共 %(count)s 件", count=len(problems))
    raise ValidationFailed(_("本批未销毁任何事项：%(problems)s", problems=shown), field="cases")


def kept_cases_query(user, *, year: int | None = None, region: str | None = None):
    """The kept (存信) cases ``user`` may see, optionally of one year and region."""
    statement = sa.select(Case).where(
        Case.status == S.kept, Case.is_deleted.is_(False), visible_cases_clause(user)
    )
    if year is not None:
        statement = statement.where(Case.kept_year == year)
    if region:
        statement = statement.where(Case.kept_region == region)
    return statement.order_by(Case.kept_year, Case.kept_region, Case.number)


def remind_retention_due(today: date, *, at: datetime | None = None) -> int:
    """The monthly periodic task: tell everyone who may destroy kept letters how many of the
    cases they see are past their retention date. Returns the reminders written."""
    from ..users import User, staff_condition

    at = at or utcnow()
    sent = 0
    users = db.session.scalars(sa.select(User).where(staff_condition()).order_by(User.id))
    for user in users.unique():
        if not user.has_permission("retention.destroy"):
            continue
        due = db.session.scalar(
            sa.select(sa.func.count(Case.id)).where(
                Case.status == S.kept,
                Case.is_deleted.is_(False),
                Case.retain_until < today,
                visible_cases_clause(user),
            )
        )
        if not due:
            continue
        db.session.add(
            Notification(
                user_id=user.id,
                level=1,
                message=f"有 {due} 件存信已过保存期限，可在“存信销毁”中按批次销毁。",
                created_at=at,
            )
        )
        sent += 1
    return sent


def kept_groups(user) -> list[tuple[int | None, str | None, int]]:
    """(year, region, count) of the kept cases ``user`` may see, newest year first."""
    statement = (
        # count(*), not count(id): the kept cases' index answers it without reading the rows.
        sa.select(Case.kept_year, Case.kept_region, sa.func.count())
        .where(Case.status == S.kept, Case.is_deleted.is_(False), visible_cases_clause(user))
        .group_by(Case.kept_year, Case.kept_region)
        .order_by(Case.kept_year.desc(), Case.kept_region)
    )
    return [tuple(row) for row in db.session.execute(statement)]


# --- destruction --------------------------------------------------------------------------------


def _next_batch_number(at: datetime) -> str:
    year = to_local(at).year
    prefix = f"XH{year}-"
    count = db.session.scalar(
        sa.select(sa.func.count(DestructionBatch.id)).where(
            DestructionBatch.number.like(f"{prefix}%")
        )
    )
    return f"{prefix}{count + 1:03d}"


def parse_year(value) -> int | None:
    text = str(value or "").strip()
    if not text:
        return None
    if not text.isdigit() or not 2000 <= int(text) <= 2100:
        raise ValidationFailed(_("请填写有效的存信年份（如 2025）"), field="year")
    return int(text)


def select_cases(
    by, *, year=None, region=None, case_ids=None
) -> tuple[list[Case], int | None, str | None]:
    """The kept cases a batch would destroy: the ticked ``case_ids``, or every kept case of
    ``year`` and ``region`` (both required), within ``by``'s scope."""
    if case_ids:
        try:
            ids = sorted({int(key) for key in case_ids})
        except (TypeError, ValueError):
            raise ValidationFailed(_("所选事项无效"), field="cases") from None
        cases = list(db.session.scalars(kept_cases_query(by).where(Case.id.in_(ids))))
        if len(cases) != len(ids):
            raise ValidationFailed(
                _("所选事项中有的不是存信、已销毁或您无权查看，请刷新列表后重选"), field="cases"
            )
        return cases, None, None
    year = parse_year(year)
    region = (region or "").strip() or None
    if year is None:
        raise ValidationFailed(_("请选择要销毁的存信年份，或在存信列表中勾选事项"), field="year")
    if region is None:
        raise ValidationFailed(_("请选择要销毁的存信地区"), field="region")
    cases = list(db.session.scalars(kept_cases_query(by, year=year, region=region)))
    if not cases:
        raise ValidationFailed(
            _("没有%(year)s年“%(region)s”的存信可以销毁", year=year, region=region),
            field="region",
        )
    return cases, year, region


def destroy_batch(
    cases: list[Case],
    *,
    by,
    year: int | None = None,
    region: str | None = None,
    note: str | None = None,
    at: datetime | None = None,
    permission: str = DESTROY_PERMISSION,
) -> DestructionBatch:
    """Destroy ``cases`` as one batch, or refuse them all. Flushes, never commits.

    The caller has checked the state and permission of a workflow step (``permission`` then
    names it) or relies on ``retention.destroy`` here."""
    at = at or utcnow()
    if by is None or not by.is_authenticated or not by.has_permission(permission):
        raise NotPermitted(_("您没有销毁存信的权限"))
    if not cases:
        raise ValidationFailed(_("请至少选择一件存信"), field="cases")
    on_day = local_day(at)
    problems = [problem for case in cases if (problem := retention_problem(case, on_day))]
    if problems:
        _refuse(problems)
    batch = DestructionBatch(
        number=_next_batch_number(at),
        kept_year=year,
        kept_region=region,
        case_count=len(cases),
        note=(note or "").strip()[:200] or None,
        created_at=at,
        created_by_id=by.id,
    )
    db.session.add(batch)
    db.session.flush()
    erase_cases([case.id for case in cases], batch=batch, by=by, at=at)
    record_audit(
        "destroy",
        batch,
        by=by,
        summary=f"销毁存信 {batch.number}：{len(cases)} 件",
        data={"cases": sorted(case.number for case in cases), "year": year, "region": region},
    )
    logger.info("destruction batch %s: %s cases by user %s", batch.number, len(cases), by.id)
    return batch


def _ids(statement) -> list[int]:
    return list(db.session.scalars(statement))


def _redact_audit(targets: dict[str, list], batch: DestructionBatch) -> None:
    """Replace the payload of the audit rows about the erased records (see the module note)."""
    note = {"redacted": f"内容已随销毁批次 {batch.number} 删除"}
    for table, ids in targets.items():
        keys = [str(key) for key in ids]
        for start in range(0, len(keys), 500):
            db.session.execute(
                sa.update(AuditEntry.__table__)
                .where(
                    AuditEntry.target_type == table,
                    AuditEntry.target_id.in_(keys[start : start + 500]),
                )
                .values(summary=ERASED_SUBJECT, data=note)
            )


def _unused_parties(candidate_ids: set[int]) -> list[int]:
    """Of ``candidate_ids``, the people no remaining row of any table refers to."""
    if not candidate_ids:
        return []
    used: set[int] = set()
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if any(fk.column.table.name == "parties" for fk in column.foreign_keys):
                used.update(
                    db.session.scalars(
                        sa.select(column).where(column.in_(list(candidate_ids))).distinct()
                    )
                )
    return sorted(candidate_ids - used)


def _rows_linked_to(case_ids: list[int]) -> dict[str, list]:
    """Ids of the rows of every table that points at one of ``case_ids`` (``case_id``), for
    redacting their audit rows: whatever table a later change adds is covered too."""
    linked = {}
    for table in db.metadata.sorted_tables:
        column = table.columns.get("case_id")
        key = list(table.primary_key.columns)
        if column is None or len(key) != 1:
            continue
        if not any(fk.column.table.name == "cases" for fk in column.foreign_keys):
            continue
        linked[table.name] = list(db.session.scalars(sa.select(key[0]).where(column.in_(case_ids))))
    return linked


def erase_cases(case_ids: list[int], *, batch: DestructionBatch, by, at: datetime) -> None:
    """Erase the content and personal data of ``case_ids`` everywhere; keep the tombstone."""
    db.session.flush()
    in_cases = list(case_ids)
    events = _ids(sa.select(CaseEvent.id).where(CaseEvent.case_id.in_(in_cases)))
    attachments = db.session.execute(
        sa.select(Attachment.id, Attachment.stored_name).where(Attachment.case_id.in_(in_cases))
    ).all()
    orders = _ids(sa.select(RectificationOrder.id).where(RectificationOrder.case_id.in_(in_cases)))
    documents = _ids(sa.select(IssuedDocument.id).where(IssuedDocument.case_id.in_(in_cases)))
    appointments = _ids(sa.select(Appointment.id).where(Appointment.case_id.in_(in_cases)))
    passes = _ids(sa.select(VisitorPass.id).where(VisitorPass.case_id.in_(in_cases)))
    queue = _ids(sa.select(ReceptionQueueEntry.id).where(ReceptionQueueEntry.case_id.in_(in_cases)))
    people: set[int] = set(
        db.session.scalars(
            sa.select(case_petitioners.c.party_id).where(case_petitioners.c.case_id.in_(in_cases))
        )
    )
    people.update(
        pid for pid in db.session.scalars(sa.select(Case.agent_id).where(Case.id.in_(in_cases)))
    )
    for column, case_column in (
        (CaseRepresentative.party_id, CaseRepresentative.case_id),
        (Commendation.party_id, Commendation.case_id),
    ):
        people.update(db.session.scalars(sa.select(column).where(case_column.in_(in_cases))))
    for model, column in (
        (Letter, Letter.writer_id),
        (Visit, Visit.visitor_id),
        (Call, Call.caller_id),
        (Appointment, Appointment.party_id),
        (VisitorPass, VisitorPass.party_id),
        (ReceptionQueueEntry, ReceptionQueueEntry.party_id),
    ):
        people.update(db.session.scalars(sa.select(column).where(model.case_id.in_(in_cases))))
    people.discard(None)

    linked = _rows_linked_to(in_cases)
    execute = db.session.execute
    # Rows that are nothing but the case's content go entirely.
    # The timeline keeps what happened when and by whom; what was written goes.
    execute(
        sa.update(CaseEvent.__table__)
        .where(CaseEvent.id.in_(events))
        .values(
            summary=ERASED_SUBJECT,
            data={},
            letter_id=None,
            visit_id=None,
            call_id=None,
            callback_id=None,
        )
    )
    execute(sa.delete(Notification.__table__).where(Notification.case_id.in_(in_cases)))
    # The messages told of the case carry the petitioner's phone or address and name.
    execute(sa.delete(OutgoingMessage.__table__).where(OutgoingMessage.case_id.in_(in_cases)))
    execute(sa.delete(RectificationOrder.__table__).where(RectificationOrder.id.in_(orders)))
    execute(sa.delete(Attachment.__table__).where(Attachment.case_id.in_(in_cases)))
    execute(sa.delete(CaseReply.__table__).where(CaseReply.case_id.in_(in_cases)))
    execute(sa.delete(OutgoingContact.__table__).where(OutgoingContact.case_id.in_(in_cases)))
    execute(sa.delete(Callback.__table__).where(Callback.case_id.in_(in_cases)))
    execute(
        sa.delete(ReceptionQueueEntry.__table__).where(ReceptionQueueEntry.id.in_(queue or [0]))
    )
    execute(sa.delete(VisitorPass.__table__).where(VisitorPass.id.in_(passes)))
    execute(sa.delete(Appointment.__table__).where(Appointment.id.in_(appointments)))
    execute(sa.delete(Letter.__table__).where(Letter.case_id.in_(in_cases)))
    execute(sa.delete(Visit.__table__).where(Visit.case_id.in_(in_cases)))
    execute(sa.delete(Call.__table__).where(Call.case_id.in_(in_cases)))
    execute(sa.delete(case_petitioners).where(case_petitioners.c.case_id.in_(in_cases)))
    execute(sa.delete(CaseRepresentative.__table__).where(CaseRepresentative.case_id.in_(in_cases)))
    execute(sa.delete(Commendation.__table__).where(Commendation.case_id.in_(in_cases)))
    execute(sa.delete(case_assistants).where(case_assistants.c.case_id.in_(in_cases)))
    execute(sa.delete(opinion_slip_cases).where(opinion_slip_cases.c.case_id.in_(in_cases)))
    execute(
        sa.update(CaseClock.__table__)
        .where(CaseClock.case_id.in_(in_cases))
        .values(pending_reason=None)
    )
    # Issued documents keep their number (the number register stays gap-free), not the letter.
    execute(
        sa.update(IssuedDocument.__table__)
        .where(IssuedDocument.id.in_(documents))
        .values(pdf=b"", size=0, sha256="", title=ERASED_SUBJECT)
    )
    # The tombstone: number, dates, region and year stay; content and people go.
    execute(
        sa.update(Case.__table__)
        .where(Case.id.in_(in_cases))
        .values(
            subject=ERASED_SUBJECT,
            content="",
            demands=None,
            petitioner_names=None,
            instruction=None,
            result_signer_name=None,
            out_of_scope_reason=None,
            agent_id=None,
            custom_values={},
            status=S.destroyed.value,
            destruction_batch_id=batch.id,
            destroyed_at=at,
            destroyed_by_id=by.id,
            version=Case.version + 1,
            updated_at=at,
        )
    )
    unused = _unused_parties(people)
    if unused:
        execute(sa.delete(Party.__table__).where(Party.id.in_(unused)))
    _redact_audit({**linked, "cases": in_cases, "parties": unused}, batch)
    _erase_files_after_commit([row.stored_name for row in attachments])
    # The session's copies still hold the erased text; reload from the database.
    db.session.expire_all()


# --- stored files go when the transaction commits --------------------------------------------

_PENDING_FILES = "retention_files_to_erase"


def _erase_files_after_commit(names: list[str]) -> None:
    if names:
        root = Path(current_app.config["ATTACHMENT_FOLDER"])
        db.session().info.setdefault(_PENDING_FILES, []).extend(root / name for name in names)


def _after_commit(session: Session) -> None:
    for path in session.info.pop(_PENDING_FILES, []):
        try:
            Path(path).unlink(missing_ok=True)
        except OSError:
            logger.exception("could not erase destroyed attachment file %s", path)


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING_FILES, None)


def install_file_erasure() -> None:
    """Delete erased attachment files only once their rows' deletion commits (idempotent)."""
    if not sa.event.contains(Session, "after_commit", _after_commit):
        sa.event.listen(Session, "after_commit", _after_commit)
        sa.event.listen(Session, "after_soft_rollback", lambda s, t: _after_rollback(s))


install_file_erasure()


# --- the two registers ------------------------------------------------------------------------

#: A register above this many rows is refused (print a year or a region at a time).
REGISTER_MAX_ROWS = 5000


def _render(kind, period: str, rows, *, by, data: dict) -> bytes:
    from ..audit import AuditAction
    from ..rendering.pdf import RenderError, render_pdf
    from ..rendering.retention import retention_register_html

    if len(rows) > REGISTER_MAX_ROWS:
        raise ValidationFailed(
            _(
                "该登记簿有 %(rows)s 条，超过 %(limit)s 条，请按年份或地区分册打印",
                rows=len(rows),
                limit=REGISTER_MAX_ROWS,
            )
        )
    try:
        pdf = render_pdf(
            retention_register_html(kind, period, rows), timeout=max(60, len(rows) // 20 + 30)
        )
    except RenderError as error:
        raise ValidationFailed(str(error)) from None
    record_audit(
        AuditAction.print,
        None,
        by=by,
        target_type="register",
        summary=f"打印{kind.title}：{period}",
        data={"register": kind.value, "rows": len(rows), **data},
    )
    return pdf


def print_kept_register(by, *, year=None, region=None) -> bytes:
    """The 存信 register of ``by``'s visible kept cases, optionally one year and region."""
    from ..enums import RegisterKind
    from ..policies import hidden_reporters_among
    from ..rendering.retention import kept_rows

    if by is None or not by.is_authenticated or not by.has_permission("register.print"):
        raise NotPermitted(_("您没有打印台账的权限"))
    year = parse_year(year)
    region = (region or "").strip() or None
    cases = list(db.session.scalars(kept_cases_query(by, year=year, region=region)))
    masked = hidden_reporters_among(by, cases)
    parts = [_("%(year)s年", year=year) if year else _("全部年份"), region or _("全部地区")]
    return _render(
        RegisterKind.kept_letters,
        "　".join(parts),
        kept_rows(cases, masked),
        by=by,
        data={"year": year, "region": region},
    )


def destruction_batches_query(*, batch_id=None, year=None):
    statement = sa.select(DestructionBatch).order_by(
        DestructionBatch.created_at, DestructionBatch.id
    )
    if batch_id is not None:
        statement = statement.where(DestructionBatch.id == batch_id)
    if year is not None:
        statement = statement.where(DestructionBatch.number.like(f"XH{year}-%"))
    return statement


def print_destruction_register(by, *, batch_id=None, year=None) -> bytes:
    """The destruction register: every batch (or one, or one year's) with its cases."""
    from ..enums import RegisterKind
    from ..policies import can_view_destructions
    from ..rendering.retention import destruction_rows

    if not can_view_destructions(by):
        raise NotPermitted(_("您没有查看销毁登记的权限"))
    year = parse_year(year)
    batches = list(db.session.scalars(destruction_batches_query(batch_id=batch_id, year=year)))
    if batch_id is not None and not batches:
        raise ValidationFailed(_("找不到该销毁批次"), field="batch")
    if batch_id is not None:
        period = _("批次 %(number)s", number=batches[0].number)
    else:
        period = _("%(year)s年", year=year) if year else _("全部批次")
    return _render(
        RegisterKind.destructions,
        period,
        destruction_rows(batches),
        by=by,
        data={"batch_id": batch_id, "year": year},
    )


def apply_retention_rules(items: list[dict]) -> None:
    """Make the rules those of ``items`` (update by name, add, delete the others), then
    recompute the retention dates. A bad item raises ``ValidationFailed`` naming the rule;
    the caller rolls back. Flushes, never commits."""
    existing = {rule.name: rule for rule in db.session.scalars(sa.select(RetentionRule))}
    wanted = set()
    for item in items:
        name = str(item.get("name") or "").strip()
        rule = existing.get(name) or RetentionRule(name=name)
        try:
            category = None
            if item.get("category"):
                category = db.session.scalar(
                    sa.select(Category).where(Category.code == item["category"])
                )
                if category is None:
                    raise ValueError(_("没有代码为“%(code)s”的分类", code=item["category"]))
            rule.category = category
            rule.outcome = RetentionOutcome(item.get("outcome") or "any")
            rule.years = int(item["years"])
            rule.is_active = bool(item.get("is_active", True))
            rule.note = item.get("note") or None
            check_retention_rule(rule)
        except (ValueError, KeyError, TypeError) as error:
            raise ValidationFailed(
                _("保存期限规则“%(name)s”有误：%(error)s", name=name, error=error)
            ) from error
        except ValidationFailed as error:
            raise ValidationFailed(
                _("保存期限规则“%(name)s”有误：%(error)s", name=name, error=error),
                field=error.field,
            ) from error
        wanted.add(name)
        db.session.add(rule)
    for name, rule in existing.items():
        if name not in wanted:
            db.session.delete(rule)
    db.session.flush()
    refresh_retention()
