"""Case documents: issuing, numbering, reprints, permissions, bad input, editable wording and
the GB/T 9704 geometry of the reply letter."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from models import CaseEvent, Category, DocumentTemplate, IssuedDocument, NumberSequence, Unit, db
from models.base import format_chinese_date
from models.enums import CaseStatus, DocumentKind, EventKind
from models.operations import NotPermitted, ValidationFailed
from models.operations.documents import (
    DOCUMENT_NUMBER,
    build_html,
    format_document_number,
    issue_document,
    save_wording,
)
from models.operations.workflow import perform
from models.rendering import pdf as pdf_module
from models.rendering.catalog import TYPES, sample_values
from models.rendering.pdf import RenderError
from tests.conftest import row_counts

RARE_NAME = "王堃喆玥赟龑䶮"
LONG_RUN = "".join(chr(ord("A") + i % 26) for i in range(2000))
HOSTILE = (
    "<b>加粗</b><link rel=attachment href=file:///etc/hostname>"
    '<img src="http://169.254.169.254/latest/meta-data/">'
    "<script>alert(1)</script>"
)


def pdf_text(data: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def squeezed(text: str) -> str:
    """Text without white space and without the "— N —" page numbers between pages."""
    return re.sub(r"—\d+—", "", re.sub(r"\s+", "", text))


def pdf_words(data: bytes) -> str:
    """A PDF's text, squeezed (see :func:`squeezed`)."""
    return squeezed(pdf_text(data))


@pytest.fixture
def people(app, government, create_user):
    units = {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}
    office_unit = units["县信访局"]
    housing = units["县住房和城乡建设局"]
    return {
        "office": create_user("office", unit=office_unit),
        "registrar": create_user("registrar", unit=office_unit),
        "leader": create_user("leader", unit=units["县政府领导"]),
        "head": create_user("dept_head", unit=housing),
        "handler": create_user("handler", unit=housing),
        "supervisor": create_user("supervisor", unit=office_unit),
        "housing": housing,
        "office_unit": office_unit,
    }


@pytest.fixture
def reported_case(people, create_case, create_party):
    """A case whose result is reported and approved, with hostile and rare text in it."""
    party = create_party(name=RARE_NAME, phone="13800000000")
    complaint = db.session.scalar(sa.select(Category).where(Category.name == "物业管理"))
    case = create_case(
        by=people["registrar"],
        category_id=complaint.id,
        subject="电梯停运" + HOSTILE,
        content="内容" + HOSTILE,
        demands="尽快修复",
        petitioners=[party],
    )
    perform("accept", case, by=people["registrar"])
    perform(
        "instruct",
        case,
        by=people["leader"],
        instruction="请住建局办理",
        handling_unit=people["housing"],
        handler=people["handler"],
    )
    perform("acknowledge", case, by=people["handler"])
    perform(
        "report_result",
        case,
        by=people["handler"],
        facts="查明" + HOSTILE + LONG_RUN,
        decision="处理意见：" + RARE_NAME + "的诉求予以支持。",
    )
    perform("approve_result", case, by=people["head"])
    db.session.commit()
    return case


def test_reply_letter_issue_download_and_reprint(client, login_as, people, reported_case):
    case = reported_case
    login_as(people["office"])
    page = client.get(f"/admin/case/details/?id={case.id}").get_data(as_text=True)
    assert "出具答复意见书" in page and "出具受理告知书" in page

    response = client.post(f"/admin/documents/issue/{case.id}/reply_letter/")
    assert response.status_code == 302
    document = db.session.scalars(sa.select(IssuedDocument)).one()
    assert response.headers["Location"].endswith(f"/admin/documents/{document.id}/pdf")
    assert document.number == "县信复〔2026〕1号".replace("2026", str(document.year))
    assert DOCUMENT_NUMBER.match(document.number)
    assert document.issued_by_id == people["office"].id and document.unit_id is not None

    pdf = client.get(f"/admin/documents/{document.id}/pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF-") and pdf.data == document.pdf
    text = squeezed(pdf_text(pdf.data))
    for expected in (case.number, RARE_NAME, "查明", "处理意见", document.number, "30日内"):
        assert squeezed(expected) in text, expected
    assert format_chinese_date(document.issued_on) in text

    # Hostile text printed as text, nothing fetched or embedded, no character lost.
    assert squeezed(HOSTILE) in text
    assert LONG_RUN in text
    assert b"/EmbeddedFile" not in pdf.data and b"/URI" not in pdf.data

    # One timeline event; the page lists the document and offers a reprint.
    events = db.session.scalars(
        sa.select(CaseEvent).where(CaseEvent.kind == EventKind.document_issued)
    ).all()
    assert len(events) == 1 and events[0].data["number"] == document.number
    page = client.get(f"/admin/case/details/?id={case.id}").get_data(as_text=True)
    assert "打印答复意见书" in page and document.number in page
    assert f"答复意见书，文号 {document.number}" in page

    # Issuing again returns the same document: same number, same bytes, no new event.
    again = client.post(f"/admin/documents/issue/{case.id}/reply_letter/")
    assert again.headers["Location"].endswith(f"/admin/documents/{document.id}/pdf")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IssuedDocument)) == 1
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).where(CaseEvent.kind == EventKind.document_issued)
        )
        == 1
    )


def test_numbers_are_gap_free_per_unit_and_year(people, reported_case, monkeypatch):
    case = reported_case
    first, created = issue_document(case, "acceptance_notice", by=people["registrar"])
    assert created and first.seq == 1
    db.session.commit()

    # A failed render gives its number back: the next document still gets 2.
    def broken(_html, **_kwargs):
        raise RenderError("文书生成失败，请稍后重试或联系管理员。")

    monkeypatch.setattr("models.operations.documents.render_pdf", broken)
    with pytest.raises(ValidationFailed, match="文书生成失败"):
        issue_document(case, "reply_letter", by=people["office"])
    db.session.rollback()
    monkeypatch.undo()

    second, _ = issue_document(case, "reply_letter", by=people["office"])
    assert second.seq == 2 and second.number.endswith(f"〔{second.year}〕2号")
    # The complaint handling notice carries the case's register number, not a new one.
    notice, _ = issue_document(case, "complaint_notice", by=people["handler"])
    assert notice.number == case.number and notice.seq is None
    db.session.commit()
    sequences = {
        row.register: row.last_value for row in db.session.scalars(sa.select(NumberSequence))
    }
    assert sequences[f"doc-{people['office_unit'].id}"] == 2


def test_permissions_and_states(client, login_as, people, reported_case, create_case):
    case = reported_case
    before = row_counts()
    # The handler may not issue the reply letter; nothing is written.
    with pytest.raises(NotPermitted, match="权限"):
        issue_document(case, "reply_letter", by=people["handler"])
    login_as(people["handler"])
    response = client.post(f"/admin/documents/issue/{case.id}/reply_letter/", follow_redirects=True)
    assert "您没有出具“答复意见书”的权限" in response.get_data(as_text=True)
    assert row_counts() == before
    # The supervisor prints registers, not case documents.
    document, _ = issue_document(case, "reply_letter", by=people["office"])
    db.session.commit()
    login_as(people["supervisor"])
    assert client.get(f"/admin/documents/{document.id}/pdf").status_code == 403
    # Unknown kinds and cases outside the user's scope are 404.
    login_as(people["office"])
    assert client.post(f"/admin/documents/issue/{case.id}/nonsense/").status_code == 404
    assert client.post("/admin/documents/issue/999999/reply_letter/").status_code == 404

    # A case still being registered has nothing to report; an anonymous one gets no letter.
    fresh = create_case(by=people["registrar"], is_anonymous=True)
    with pytest.raises(NotPermitted, match="办理记录"):
        issue_document(fresh, "handover_notice", by=people["office"])
    perform("accept", fresh, by=people["registrar"])
    with pytest.raises(NotPermitted, match="匿名"):
        issue_document(fresh, "acceptance_notice", by=people["registrar"])
    # Only complaints get the complaint handling notice.
    assert fresh.category_id is None
    with pytest.raises(NotPermitted, match="投诉类"):
        issue_document(fresh, "complaint_notice", by=people["office"])
    assert fresh.status == CaseStatus.accepted


def test_supervision_card_and_leader(people, create_case):
    case = create_case(by=people["registrar"], subject="道路破损")
    perform(
        "instruct",
        case,
        by=people["leader"],
        instruction="请住建局三日内处理" + RARE_NAME,
        handling_unit=people["housing"],
        handler=people["handler"],
        supervised=True,
        due_on=date(2099, 1, 5),
    )
    document, created = issue_document(case, "supervision_card", by=people["leader"])
    assert created
    text = squeezed(pdf_text(document.pdf))
    assert "信访事项督办卡" in text and RARE_NAME in text and "2099年1月5日" in text
    assert "县住房和城乡建设局" in text
    assert len(PdfReader(io.BytesIO(document.pdf)).pages) == 1


def test_editable_wording_is_sandboxed_and_used(client, login_as, people, reported_case):
    case = reported_case
    admin_user = people["office"]
    admin_user.roles[0].permissions = [*admin_user.roles[0].permissions, "settings.manage"]
    db.session.commit()
    login_as(admin_user)
    before = row_counts()
    for body, message in (
        ("{{ 不存在 }}", "占位符“不存在”不存在"),
        ("{% for x in 信访人 %}{{ x }}{% endfor %}", "只能使用"),
        ("{{ 信访人.__class__ }}", "只能使用"),
        ("{{ 信访人|upper }}", "只能使用"),
        ("{% include '/etc/passwd' %}", "只能使用"),
        ("{{ 信访人", "语法错误"),
    ):
        response = client.post(
            "/admin/documenttemplate/reply_letter/", data={"title": "答复", "body": body}
        )
        assert response.status_code == 200 and message in response.get_data(as_text=True)
        preview = client.post(
            "/admin/documenttemplate/reply_letter/preview", data={"title": "答复", "body": body}
        )
        assert preview.status_code == 400 and message in preview.get_data(as_text=True)
    assert row_counts() == before

    body = "{{ 称呼 }}：\n特别措辞{{ 事项编号 }}。\n<img src=http://example.com/x.png>"
    preview = client.post(
        "/admin/documenttemplate/reply_letter/preview",
        data={"title": "答复{{ 信访人 }}", "body": body, "case_number": case.number},
    )
    assert preview.status_code == 200 and preview.data.startswith(b"%PDF-")
    assert "特别措辞" + case.number in squeezed(pdf_text(preview.data))
    assert db.session.get(DocumentTemplate, DocumentKind.reply_letter) is None

    saved = client.post(
        "/admin/documenttemplate/reply_letter/", data={"title": "答复{{ 信访人 }}", "body": body}
    )
    assert saved.status_code == 302
    document, _ = issue_document(case, "reply_letter", by=admin_user)
    text = squeezed(pdf_text(document.pdf))
    assert "特别措辞" + case.number in text and "<img" in text
    assert document.title == "答复" + RARE_NAME
    # Without settings.manage the editor is closed.
    login_as(people["handler"])
    assert client.get("/admin/documenttemplate/").status_code == 403
    with pytest.raises(NotPermitted):
        save_wording(DocumentKind.reply_letter, "x", "y", by=people["handler"])


def test_every_type_renders_its_sample(app, backend):
    if backend != "sqlite":
        pytest.skip("layout does not depend on the database")
    for kind, doc_type in TYPES.items():
        html = build_html(
            doc_type,
            sample_values(kind),
            authority="示范县人民政府信访局",
            number="县信复〔2026〕12号",
            issued_on=date(2026, 3, 1),
        )
        text = squeezed(pdf_text(pdf_module.render_pdf(html)))
        assert "2026年3月1日" in text, kind
        assert squeezed(doc_type.title.split("/")[0][:2]) in text or doc_type.layout == "letter"


def test_number_and_date_formats():
    assert format_document_number("县信复", 2026, 12) == "县信复〔2026〕12号"
    assert format_document_number("县信复", 2026, 1) == "县信复〔2026〕1号"
    assert DOCUMENT_NUMBER.match("县信复〔2026〕12号")
    wrong_numbers = ("县信复〔2026〕012号", "县信复[2026]12号", "县信复（2026）12号")
    for wrong in wrong_numbers:
        assert not DOCUMENT_NUMBER.match(wrong), wrong
    assert format_chinese_date(date(2026, 3, 1)) == "2026年3月1日"
    assert format_chinese_date(date(2026, 12, 31)) == "2026年12月31日"
    assert re.match(r"^\d{4}年[1-9]\d?月[1-9]\d?日$", format_chinese_date(date(2027, 1, 9)))
