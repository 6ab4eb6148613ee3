"""Acceptance scenario S7 (requirements.md §9) across the workflow, access rules, documents,
callbacks and reports: a whistleblower report by phone, handled in 5 working days, the reporter
hidden from the accused's colleagues, and only a count in the monthly report."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import timedelta

import sqlalchemy as sa
from pypdf import PdfReader

from models import Callback, Category, Party, Unit, db
from models.audit import AuditAction, AuditEntry
from models.base import to_local, utcnow
from models.enums import CaseChannel, CaseStatus, CategoryKind, Clock, TimeUnit
from models.operations.workflow import perform
from models.presets import load_deadline_preset

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
        sa.select(AuditEntry).where(AuditEntry.action == AuditAction.confidential_view)
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
