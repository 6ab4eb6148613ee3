"""Acceptance scenarios S7 and S19 (requirements.md §9) across the workflow, access rules,
documents, callbacks and reports: a whistleblower report by phone, handled in 5 working days with
the reporter hidden from the accused's colleagues; and a major group visit reported to the
leaders at once, supervised, closed only after its callback, and counted in the annual summary."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import timedelta

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from models import Callback, Category, Party, Unit, db
from models.audit import AuditAction, AuditEntry
from models.base import to_local, utcnow
from models.enums import (
    CallbackMethod,
    CaseChannel,
    CaseStatus,
    CategoryKind,
    Clock,
    Satisfaction,
    TimeUnit,
)
from models.maintenance.presets import load_deadline_preset
from models.operations.workflow import perform

REPORTER = "孙揭发"
PHONE = "13811112222"


def test_s7_whistleblower_report_by_phone(client, login_as, government, create_user, create_case):
    load_deadline_preset("enterprise")
    db.session.commit()
    units = {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}
    office_unit, department = units["县信访局"], units["县住房和城乡建设局"]
    registrar = create_user("registrar", unit=office_unit)
    office = create_user("office", unit=office_unit)
    leader = create_user("leader", unit=units["县政府领导"])
    officer = create_user("handler", unit=department)  # the discipline officer handling it
    head = create_user("dept_head", unit=department)
    colleague = create_user("handler", unit=department)  # works beside the person accused

    # 1. The report call becomes a confidential 举报 matter with a 5-working-day limit.
    category = db.session.scalar(sa.select(Category).where(Category.kind == CategoryKind.report))
    reporter = Party(name=REPORTER, phone=PHONE)
    db.session.add(reporter)
    db.session.commit()
    case = create_case(
        by=registrar,
        channel=CaseChannel.call,
        category=category,
        petitioners=[reporter],
        subject="举报抄表员收受好处",
        content="抄表员上门时索要好处费。",
    )
    assert case.is_confidential
    login_as(registrar)
    assert "举报人保密" in client.get(f"/admin/case/details/?id={case.id}").get_data(as_text=True)

    # 2. Assigned to the officer; the accused's colleagues see the case but not the reporter.
    perform("accept", case, by=registrar)
    closing = next(clock for clock in case.clocks if clock.kind == Clock.closing)
    assert (closing.amount, closing.unit) == (5, TimeUnit.working_days)
    perform(
        "instruct",
        case,
        by=leader,
        instruction="请认真核查，注意保护举报人",
        handling_unit=department,
        handler=officer,
    )
    db.session.commit()
    login_as(colleague)
    for url in (
        "/admin/case/",
        f"/admin/case/details/?id={case.id}",
        "/admin/caseevent/",
        "/admin/case/export/csv/",
    ):
        page = client.get(url).get_data(as_text=True)
        assert REPORTER not in page and PHONE not in page, url
    login_as(officer)
    assert REPORTER in client.get(f"/admin/case/details/?id={case.id}").get_data(as_text=True)
    views = db.session.scalars(
        sa.select(AuditEntry)
        .where(AuditEntry.action == AuditAction.confidential_view)
        .order_by(AuditEntry.id)
    ).all()
    assert [entry.user_id for entry in views] == [registrar.id, officer.id]

    # 3. Found true; the reporter is told the result; closed within the limit.
    perform("acknowledge", case, by=officer)
    perform("report_result", case, by=officer, facts="举报属实", decision="已给予处分")
    perform("approve_result", case, by=head, note="同意")
    perform("reply", case, by=office, method="phone", text="经查属实，已处理")
    perform("close", case, by=leader, opinion="同意办结")
    db.session.commit()
    db.session.refresh(case)
    assert case.status == CaseStatus.closed
    closing = next(clock for clock in case.clocks if clock.kind == Clock.closing)
    assert closing.stopped_at is not None and closing.stopped_at <= closing.due_at
    # Closing created the callback task for the officer, as for every closed case.
    task = db.session.scalars(sa.select(Callback).where(Callback.case_id == case.id)).one()
    assert task.done_at is None

    # 4. The monthly report counts the item and names nobody.
    login_as(office)
    today = to_local(utcnow()).date()
    query = f"start={(today - timedelta(days=1)).isoformat()}&end={today.isoformat()}"
    workbook = client.get(f"/admin/stats/report/?kind=monthly&format=xlsx&{query}").data
    sheets = "".join(
        zipfile.ZipFile(io.BytesIO(workbook)).read(name).decode("utf-8")
        for name in zipfile.ZipFile(io.BytesIO(workbook)).namelist()
        if name.endswith(".xml")
    )
    pdf = client.get(f"/admin/stats/report/?kind=monthly&format=pdf&{query}").data
    text = re.sub(r"\s+", "", "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages))
    assert "举报" in text and "共收到信访事项1批" in text
    for content in (sheets, text):
        assert REPORTER not in content and PHONE not in content


def test_s19_major_group_visit(client, login_as, government, create_user, create_case):
    from models import Notification
    from models.operations import WorkflowError
    from models.operations.callbacks import record_callback
    from models.operations.documents import DOCUMENT_NUMBER, issue_document

    units = {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}
    department = units["县住房和城乡建设局"]
    registrar = create_user("registrar", unit=units["县信访局"])
    office = create_user("office", unit=units["县信访局"])
    leader = create_user("leader", unit=units["县政府领导"])
    handler = create_user("handler", unit=department)
    head = create_user("dept_head", unit=department)

    # 1. Thirty residents with five representatives: 1 batch, 30 person-visits, flagged major.
    case = create_case(
        by=registrar,
        channel=CaseChannel.visit,
        is_group=True,
        is_major=True,
        head_count=30,
        subject="反对小区旁建设通信基站",
        content="三十名居民集体来访，反对在小区旁建设通信基站。",
    )
    # 2. The leaders and the office hear of it at once, once.
    told = db.session.scalars(
        sa.select(Notification.user_id).where(Notification.case_id == case.id)
    )
    assert sorted(told) == sorted([office.id, leader.id])

    # 3. The leader instructs; the office prints the supervision card with a document number.
    perform("accept", case, by=registrar)
    perform(
        "instruct",
        case,
        by=leader,
        instruction="请住建局牵头核查整改",
        handling_unit=department,
        handler=handler,
    )
    card, created = issue_document(case, "supervision_card", by=office)
    assert created and DOCUMENT_NUMBER.match(card.number)
    perform("acknowledge", case, by=handler)
    perform("report_result", case, by=handler, facts="基站选址已调整", decision="暂停建设")
    perform("approve_result", case, by=head, note="同意")
    perform("reply", case, by=office, method="on_site", text="已暂停建设并调整选址")
    db.session.commit()

    # 4. Closing waits for the mandatory callback.
    with pytest.raises(WorkflowError, match="回访"):
        perform("close", case, by=leader, opinion="同意办结")
    db.session.rollback()
    record_callback(
        Callback(
            case=case,
            method=CallbackMethod.home_visit,
            done_at=utcnow(),
            satisfaction=Satisfaction.satisfied,
            person_reached="周一",
        ),
        by=office,
    )
    perform("close", case, by=leader, opinion="同意办结")
    db.session.commit()
    assert case.status == CaseStatus.closed

    # 5. The annual summary: batches, person-visits, satisfaction and escalations (zero).
    login_as(office)
    today = to_local(utcnow()).date()
    query = f"start={today.replace(month=1, day=1).isoformat()}&end={today.isoformat()}"
    pdf = client.get(f"/admin/stats/report/?kind=annual_summary&format=pdf&{query}").data
    text = re.sub(r"\s+", "", "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages))
    assert "共收到信访事项1批、30人次" in text
    assert "集体访1批、30人次" in text
    assert "满意率100.0%" in text
    assert "越级访0批" in text and "实现越级访为零的目标" in text
