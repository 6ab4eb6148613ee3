"""Issuing a case's documents: availability, numbering, rendering, keeping the PDF.

``issue_document`` is the one way a document comes into being. It checks permission and state,
allocates the issuing unit's next document number (row lock on ``number_sequences``, so numbers
are gap-free per unit and year and a failed render gives its number back), renders the PDF,
stores it with who issued it and when, and writes one timeline event. Issuing again for the same
event returns the stored document unchanged (a reprint). It never commits.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime

import sqlalchemy as sa
from flask import render_template
from flask_babel import gettext as _

from models.texts import lazy_gettext as _l

from .. import db
from ..audit import AuditAction
from ..base import format_chinese_date, to_local, utcnow
from ..cases import Case, CaseEvent, loaded_collection
from ..documents import DocumentTemplate, IssuedDocument
from ..enums import CasePriority, CategoryKind, DocumentKind, EventKind, ReplyKind, UnitKind
from ..policies import can_see_live_case, reporter_visible
from ..rendering.catalog import (
    PETITIONER_DEADLINES,
    TYPES,
    DocumentType,
    common_values,
    contact_phone,
    form_rows,
    sample_values,
    signature_lines,
    specific_values,
)
from ..rendering.pdf import RenderError, render_pdf
from ..rendering.wording import check_template, paragraphs, render_wording
from ..settings import SystemSetting
from ..units import Unit
from ..vocabulary import substitute, substitute_template
from . import NotPermitted, ValidationFailed
from .audit import log_event
from .audit_log import record_audit
from .numbering import next_sequence

#: Documents name the petitioner, so a 举报 case's documents follow its reporter protection.
CONFIDENTIAL_DOCUMENT = _l(
    "举报类事项的文书载有举报人身份，仅限办理人员和有保密权限的人员出具或打印"
)
#: ``机关代字〔2026〕12号``: year in 六角括号, serial number without leading zeros or 第.
DOCUMENT_NUMBER = re.compile(r"^\S+〔\d{4}〕[1-9]\d*号$")


def format_document_number(code: str, year: int, seq: int) -> str:
    return f"{code}〔{year}〕{seq}号"


# --- which documents, for whom --------------------------------------------------------------


def source_event(doc_type: DocumentType, case: Case) -> CaseEvent | None:
    """The timeline event the document reports on (``None``: nothing to report yet)."""
    candidates = [e for e in case.events if e.kind in doc_type.source_kinds]
    if doc_type.kind == DocumentKind.extension_notice:
        # Only an extension of a deadline the petitioner was given (办结, 答复) is told to
        # the petitioner; a longer 承办 time is internal.
        candidates = [
            e
            for e in candidates
            if e.data.get("approved") and e.data.get("clock", "closing") in PETITIONER_DEADLINES
        ]
    if doc_type.kind == DocumentKind.callback_record:
        candidates = [e for e in candidates if e.callback_id is not None and _callback_done(e)]
    if doc_type.kind == DocumentKind.supervision_card:
        candidates = [e for e in candidates if e.data.get("instruction")]
    if EventKind.draft_report in doc_type.source_kinds:
        # One draft event kind serves every drafted report; each keeps its own.
        candidates = [e for e in candidates if e.data.get("document") == doc_type.kind.value]
    if not candidates:
        return None
    return candidates[0] if doc_type.pick == "first" else candidates[-1]


def _callback_done(event: CaseEvent) -> bool:
    from ..callbacks import Callback

    callback = db.session.get(Callback, event.callback_id)
    return callback is not None and not callback.is_deleted and callback.done_at is not None


def document_problem(doc_type: DocumentType, case: Case, user, *, check_state=True) -> str | None:
    """Why ``user`` may not issue ``doc_type`` for ``case`` now (Chinese), or ``None``."""
    if user is None or not user.is_authenticated:
        return _("请先登录")
    if not can_see_live_case(user, case):
        return _("该事项不存在或您无权查看")
    if not reporter_visible(case, user):
        return str(CONFIDENTIAL_DOCUMENT)
    if not user.has_permission("document.print") or not any(
        user.has_permission(name) for name in doc_type.permissions
    ):
        return _("您没有出具“%(document)s”的权限", document=doc_type.title)
    if doc_type.to_petitioner and case.is_anonymous:
        return _("匿名事项不向信访人出具“%(document)s”", document=doc_type.title)
    if not check_state:
        return None
    if doc_type.statuses and case.status not in doc_type.statuses:
        return _(
            "事项当前状态为“%(status)s”，不能出具“%(document)s”",
            status=case.status.title,
            document=doc_type.title,
        )
    if doc_type.kind == DocumentKind.reply_letter and (
        case.status.value == "result_reported" and case.result_approved_at is None
    ):
        return _("办理结果尚未审核，不能出具答复意见书")
    if doc_type.kind == DocumentKind.complaint_notice and (
        case.category is None or case.category.kind != CategoryKind.complaint
    ):
        return _("只有投诉类事项才出具投诉处理通知单")
    problem = issue15_document_problem(doc_type, case)
    if problem is not None:
        return problem
    if source_event(doc_type, case) is None:
        return _("事项尚无可写入“%(document)s”的办理记录", document=doc_type.title)
    return None


def is_major_matter(case: Case) -> bool:
    """A matter worth a 专报 to the leader: major, group, urgent, difficult or sensitive, or
    one the leaders must hear of at once (越级访, 异常访)."""
    return (
        case.is_major
        or case.is_group
        or case.is_important
        or case.is_difficult
        or case.is_sensitive
        or case.is_beyond_level
        or case.is_abnormal
        or case.priority != CasePriority.normal
    )


def issue15_document_problem(doc_type: DocumentType, case: Case) -> str | None:
    """The rules of the 专报, 信息报告, 公示 and 客户投诉记录表 beyond state and permission."""
    kind = doc_type.kind
    if kind == DocumentKind.complaint_record and (
        case.category is None or case.category.kind != CategoryKind.complaint
    ):
        return _("只有投诉类事项才出具客户投诉记录表")
    if kind == DocumentKind.special_report and not is_major_matter(case):
        return _("专报用于重大、群体、紧急或疑难复杂的事项，请先标记事项的重要程度")
    if kind == DocumentKind.public_notice and case.is_confidential:
        # A notice is posted for everyone to read; a 举报 matter is never made public.
        return _("举报类事项不得公示")
    return None


def document_for_print(document: IssuedDocument, *, by) -> bytes:
    """The stored PDF of an issued document, for reprinting; each hand-out is audited."""
    case = document.case
    if by is None or not by.is_authenticated or not by.has_permission("document.print"):
        raise NotPermitted(_("您没有打印文书的权限"))
    if not can_see_live_case(by, case):
        raise NotPermitted(_("该事项不存在或您无权查看"))
    if not reporter_visible(case, by):
        raise NotPermitted(str(CONFIDENTIAL_DOCUMENT))
    record_audit(
        AuditAction.print,
        document,
        by=by,
        summary=f"打印{document.kind.title} {document.number}（{case.number}）",
        data={"case": case.number, "number": document.number, "kind": document.kind.value},
    )
    return document.pdf


def existing_document(doc_type: DocumentType, case: Case) -> IssuedDocument | None:
    return _issued_for(doc_type, case, source_event(doc_type, case))


def _issued_for(doc_type: DocumentType, case: Case, event: CaseEvent | None):
    if event is None:
        return None
    loaded = loaded_collection(case, "issued_documents")
    if loaded is not None:
        return next(
            (
                document
                for document in loaded
                if document.kind == doc_type.kind and document.source_event_id == event.id
            ),
            None,
        )
    return db.session.scalar(
        sa.select(IssuedDocument).where(
            IssuedDocument.case_id == case.id,
            IssuedDocument.kind == doc_type.kind,
            IssuedDocument.source_event_id == event.id,
        )
    )


def available_documents(case: Case, user) -> list[tuple[DocumentType, IssuedDocument | None]]:
    """The document buttons of the case page: each type the user may issue now, with the
    document already issued for the current event (then the button reprints it)."""
    if not user.has_permission("document.print"):
        return []
    return [
        (doc_type, existing_document(doc_type, case))
        for doc_type in TYPES.values()
        if document_problem(doc_type, case, user) is None
    ]


def issued_documents(case: Case) -> list[IssuedDocument]:
    loaded = loaded_collection(case, "issued_documents")
    if loaded is not None:
        return loaded
    return list(
        db.session.scalars(
            sa.select(IssuedDocument)
            .options(sa.orm.joinedload(IssuedDocument.issued_by))
            .where(IssuedDocument.case_id == case.id)
            .order_by(IssuedDocument.id)
        )
    )


# --- issuing unit and wording ---------------------------------------------------------------


def issuing_unit(user) -> Unit:
    """The unit whose name and 机关代字 the document carries: the user's unit or the nearest
    parent with a 机关代字, else the petition office."""
    unit = user.unit
    seen = set()
    while unit is not None and unit.id not in seen:
        seen.add(unit.id)
        if unit.doc_code and unit.is_active:
            return unit
        unit = unit.parent
    office = db.session.scalar(
        sa.select(Unit)
        .where(
            Unit.kind == UnitKind.office,
            Unit.is_active.is_(True),
            Unit.doc_code.is_not(None),
            Unit.doc_code != "",
        )
        .order_by(Unit.sort_order, Unit.id)
    )
    if office is None:
        raise ValidationFailed(
            _("没有可用的机关代字：请管理员在 设置 → 单位与部门 中为本单位或信访办填写机关代字")
        )
    return office


def unit_display_name(unit: Unit) -> str:
    """The petition office signs with the organisation's full name; others with their own."""
    if unit.kind == UnitKind.office:
        return SystemSetting.get("organisation_name")
    return unit.name


def wording_of(kind: DocumentKind) -> tuple[str, str]:
    """(title template, body template): the administrator's version, else the default."""
    row = db.session.get(DocumentTemplate, kind)
    if row is not None:
        return row.title, row.body
    doc_type = TYPES[kind]
    return doc_type.default_title, doc_type.default_body


def build_html(
    doc_type: DocumentType,
    values: dict[str, str],
    *,
    authority: str,
    number: str,
    issued_on: date,
    contact: str = "",
    title_template: str | None = None,
    body_template: str | None = None,
) -> str:
    """The document's HTML, ready for ``render_pdf``; all values are escaped by the template."""
    if title_template is None or body_template is None:
        stored_title, stored_body = wording_of(doc_type.kind)
        title_template = stored_title if title_template is None else title_template
        body_template = stored_body if body_template is None else body_template
    # The organisation's words (患者及家属, 投诉 …) in the wording's own text, not in the values.
    title_template, body_template = (
        substitute_template(title_template),
        substitute_template(body_template),
    )
    title = render_wording(title_template, values, _l("标题")).strip().replace("\n", "")
    body = render_wording(body_template, values, _l("正文"))
    context = {
        "title": title or doc_type.title,
        "authority": authority,
        "number": number,
        "paragraphs": paragraphs(body),
        "signer": authority,
        "date_text": format_chinese_date(issued_on),
    }
    if doc_type.kind == DocumentKind.information_report:
        # 上行文: the signing leader's name stands opposite the document number.
        context["issuer"] = values.get("签发人", "")
    if doc_type.layout == "letter":
        return render_template("documents/letter.html", **context)
    return render_template(
        "documents/form.html",
        sign_lines=signature_lines(doc_type.kind, values),
        rows=[
            (substitute(label), value) for label, value in form_rows(doc_type.kind, values, contact)
        ],
        number_label="编号：",
        meta_left=f"填表日期：{context['date_text']}",
        **context,
    )


# --- issuing ----------------------------------------------------------------------------------


def reply_letter_problem(case: Case, reply, user) -> str | None:
    """Why ``user`` may not print a reply letter for the chosen ``reply`` (Chinese), or None.

    Any reply to the petitioner may be printed while the case is open or after (an interim
    answer, the remedial plan, a formal reply); the answer to the superior is not a letter to
    the petitioner."""
    doc_type = TYPES[DocumentKind.reply_letter]
    if reply is None or reply.case_id != case.id:
        return _("找不到所选的答复")
    if reply.kind == ReplyKind.superior:
        return _("回复上级不出具给信访人的答复书")
    if reply.event_id is None:
        return _("该答复没有办理记录，不能出具答复书")
    # The chosen reply is the letter's source, whatever state the case is in now.
    return document_problem(doc_type, case, user, check_state=False)


def issue_document(
    case: Case, kind: DocumentKind | str, *, by, at: datetime | None = None, reply=None
) -> tuple[IssuedDocument, bool]:
    """Issue (or, for the same event, return again) a document. Returns (document, created).

    ``reply``: for a reply letter, the chosen reply (``CaseReply``) to print instead of the
    latest formal one; the letter is then issued for that reply's event."""
    doc_type = TYPES.get(DocumentKind(kind)) if kind in DocumentKind.__members__ else None
    if doc_type is None:
        raise ValidationFailed(_("没有这种文书"))
    if reply is not None and doc_type.kind != DocumentKind.reply_letter:
        raise ValidationFailed(_("只有答复意见书可以选择答复"))
    if reply is not None:
        problem = reply_letter_problem(case, reply, by)
    else:
        problem = document_problem(doc_type, case, by)
    if problem is not None:
        raise NotPermitted(problem)
    event = reply.event if reply is not None else source_event(doc_type, case)
    existing = _issued_for(doc_type, case, event)
    if existing is not None:
        return existing, False

    at = at or utcnow()
    issued_on = to_local(at).date()
    unit = issuing_unit(by)
    year = issued_on.year
    seq = None
    if doc_type.numbered:
        # Taken inside the transaction: a render failure rolls the number back (gap-free).
        seq = next_sequence(f"doc-{unit.id}", year)
        number = format_document_number(unit.doc_code, year, seq)
    else:
        number = case.number
    authority = unit_display_name(unit)
    values = {
        **common_values(case, unit_name=authority, issued_on=issued_on, number=number),
        **specific_values(doc_type.kind, case, event, reply),
    }
    html = build_html(
        doc_type,
        values,
        authority=authority,
        number=number,
        issued_on=issued_on,
        contact=contact_phone(case),
    )
    try:
        pdf = render_pdf(html)
    except RenderError as error:
        raise ValidationFailed(str(error)) from None
    title = _title_text(doc_type, values)
    document = IssuedDocument(
        case_id=case.id,
        kind=doc_type.kind,
        source_event_id=event.id,
        title=title,
        number=number,
        unit_id=unit.id if doc_type.numbered else None,
        year=year if doc_type.numbered else None,
        seq=seq,
        issued_on=issued_on,
        issued_at=at,
        issued_by_id=by.id,
        pdf=pdf,
        size=len(pdf),
        sha256=hashlib.sha256(pdf).hexdigest(),
    )
    db.session.add(document)
    db.session.flush()
    log_event(
        case,
        EventKind.document_issued,
        f"issued {doc_type.kind.value} {number}",
        by=by,
        at=at,
        data={
            "kind": doc_type.kind.value,
            "document": title,
            "number": number,
            "document_id": document.id,
            "unit": unit.name,
        },
    )
    return document, True


def _title_text(doc_type: DocumentType, values: dict[str, str]) -> str:
    title_template, _body = wording_of(doc_type.kind)
    title = render_wording(substitute_template(title_template), values, _l("标题"))
    title = title.strip().replace("\n", "")
    return (title or doc_type.title)[:200]


# --- editable wording -------------------------------------------------------------------------


def check_wording(kind: DocumentKind, title: str, body: str) -> None:
    names = set(TYPES[kind].variables)
    if not (title or "").strip():
        raise ValidationFailed(_("请填写标题"), field="title")
    if len(title) > 200:
        raise ValidationFailed(_("标题不能超过200个字符"), field="title")
    try:
        check_template(title, names, _l("标题"))
    except ValidationFailed as error:
        raise ValidationFailed(str(error), field="title") from None
    if not (body or "").strip():
        raise ValidationFailed(_("请填写正文"), field="body")
    check_template(body, names, _l("正文"))


def preview_wording(
    kind: DocumentKind, title: str, body: str, *, case: Case | None = None, by=None
) -> bytes:
    """A PDF of unsaved wording, filled from ``case`` (if the user may see it) or sample data."""
    check_wording(kind, title, body)
    doc_type = TYPES[kind]
    issued_on = to_local(utcnow()).date()
    number = "（预览）"
    if by is not None and can_see_live_case(by, case):
        authority = SystemSetting.get("organisation_name")
        values = {
            **common_values(case, unit_name=authority, issued_on=issued_on, number=number),
            **specific_values(kind, case, source_event(doc_type, case)),
        }
        contact = contact_phone(case)
    else:
        values = sample_values(kind)
        values["文号"] = number
        authority = values.get("本机关") or SystemSetting.get("organisation_name")
        contact = "13800000000"
    html = build_html(
        doc_type,
        values,
        authority=authority,
        number=number,
        issued_on=issued_on,
        contact=contact,
        title_template=title,
        body_template=body,
    )
    try:
        return render_pdf(html)
    except RenderError as error:
        raise ValidationFailed(str(error)) from None


def save_wording(kind: DocumentKind, title: str, body: str, *, by) -> DocumentTemplate:
    if not by.has_permission("settings.manage"):
        raise NotPermitted(_("您没有修改文书模板的权限"))
    check_wording(kind, title, body)
    row = db.session.get(DocumentTemplate, kind)
    if row is None:
        row = DocumentTemplate(kind=kind)
        db.session.add(row)
    row.title = title.strip()
    row.body = body.replace("\r\n", "\n")
    row.updated_by_id = by.id
    row.updated_at = utcnow()
    db.session.flush()
    return row


def reset_wording(kind: DocumentKind, *, by) -> None:
    if not by.has_permission("settings.manage"):
        raise NotPermitted(_("您没有修改文书模板的权限"))
    row = db.session.get(DocumentTemplate, kind)
    if row is not None:
        db.session.delete(row)
        db.session.flush()
