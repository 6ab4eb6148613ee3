"""Documents and registers under the access rules: scoping, reporter protection, print audit."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from models import Category, IssuedDocument, Letter, Party, Unit, db
from models.audit import AuditAction, AuditEntry
from models.base import to_local, utcnow
from models.enums import CategoryKind, DocumentKind, LetterForm, LetterOrigin
from models.operations import NotPermitted
from models.operations.documents import issue_document
from models.operations.workflow import perform

REPORTER = "赵举报"


def pdf_text(data: bytes) -> str:
    return re.sub(r"\s+", "", "".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages))


@pytest.fixture
def staff(app, government, create_user):
    units = {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}
    office_unit = units["县信访局"]
    return {
        "registrar": create_user("registrar", unit=office_unit),
        "other_registrar": create_user("registrar", unit=office_unit),
        "office": create_user("office", unit=office_unit),
        "supervisor": create_user("supervisor", unit=office_unit),
        "units": units,
    }


@pytest.fixture
def report_case(staff, create_case):
    """An accepted 举报 case with a letter from the reporter, registered by ``registrar``."""
    category = db.session.scalar(sa.select(Category).where(Category.kind == CategoryKind.report))
    reporter = Party(name=REPORTER, phone="13700001234")
    db.session.add(reporter)
    db.session.commit()
    case = create_case(
        by=staff["registrar"], petitioners=[reporter], category=category, subject="举报违规收费"
    )
    db.session.add(
        Letter(
            case_id=case.id,
            writer_id=reporter.id,
            received_at=case.received_at,
            form=LetterForm.paper,
            origin=LetterOrigin.direct,
        )
    )
    perform("accept", case, by=staff["registrar"])
    db.session.commit()
    return case


def _print_audits():
    return db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == AuditAction.print).order_by(AuditEntry.id)
    ).all()


def test_reporter_protection_applies_to_documents(client, login_as, staff, report_case):
    # Outside the owner chain and without the confidential permission: no button, no issue.
    login_as(staff["other_registrar"])
    page = client.get(f"/admin/case/details/?id={report_case.id}").get_data(as_text=True)
    assert "出具受理告知书" not in page
    response = client.post(f"/admin/documents/issue/{report_case.id}/acceptance_notice/")
    assert response.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IssuedDocument)) == 0
    with pytest.raises(NotPermitted, match="举报人身份"):
        issue_document(report_case, DocumentKind.acceptance_notice, by=staff["other_registrar"])
    db.session.rollback()

    # The registrar who took the report is in the chain and issues it; printing is audited.
    login_as(staff["registrar"])
    response = client.post(f"/admin/documents/issue/{report_case.id}/acceptance_notice/")
    document = db.session.scalars(sa.select(IssuedDocument)).one()
    pdf = client.get(response.headers["Location"])
    assert pdf.status_code == 200 and REPORTER in pdf_text(pdf.data)
    audits = _print_audits()
    assert len(audits) == 1
    assert audits[0].user_id == staff["registrar"].id
    assert audits[0].target_type == "issued_documents" and audits[0].target_id == str(document.id)
    # The generic create row describes the stored PDF by its size, not its bytes.
    created = db.session.scalars(
        sa.select(AuditEntry).where(
            AuditEntry.action == AuditAction.create, AuditEntry.target_type == "issued_documents"
        )
    ).one()
    assert "%PDF" not in str(created.data)

    # The colleague outside the chain cannot reprint it either.
    login_as(staff["other_registrar"])
    assert client.get(f"/admin/documents/{document.id}/pdf").status_code == 403
    assert len(_print_audits()) == 1


def test_another_units_documents_are_not_found(client, login_as, staff, create_case, create_user):
    units = staff["units"]
    housing, transport = units["县住房和城乡建设局"], units["县交通运输局"]
    case = create_case(by=staff["registrar"], handling_unit=transport)
    perform("accept", case, by=staff["registrar"])
    document, _created = issue_document(case, "acceptance_notice", by=staff["office"])
    db.session.commit()
    login_as(create_user("dept_head", unit=housing))
    assert client.post(f"/admin/documents/issue/{case.id}/acceptance_notice/").status_code == 404
    assert client.get(f"/admin/documents/{document.id}/pdf").status_code == 404
    assert _print_audits() == []


def test_register_masks_the_reporter_and_is_audited(client, login_as, staff, report_case):
    today = to_local(utcnow()).date()
    form = {
        "kind": "letters",
        "start": (today - timedelta(days=1)).isoformat(),
        "end": today.isoformat(),
        "unit_id": "",
        "category_id": "",
    }
    login_as(staff["supervisor"])
    response = client.post("/admin/registers/", data=form)
    assert response.mimetype == "application/pdf"
    text = pdf_text(response.data)
    assert report_case.number in text
    assert REPORTER not in text and "（保密）" in text

    login_as(staff["office"])  # holds the confidential permission
    assert REPORTER in pdf_text(client.post("/admin/registers/", data=form).data)

    audits = _print_audits()
    assert [entry.user_id for entry in audits] == [staff["supervisor"].id, staff["office"].id]
    assert audits[0].target_type == "register" and audits[0].data["rows"] == 1
