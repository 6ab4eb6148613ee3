"""The public side: cases filed on 网上信访, the progress lookup, and the petitioner's verdict.

Nobody is signed in there. What the public may do is done by one system account, 网上信访
(``online-portal``), which cannot log in (its stored hash is no Argon2 hash, so no password
ever verifies) and holds only the permissions of its own role: registering cases with their
attachments, and recording the petitioner's satisfaction as a callback. It is the registrar of
every online case, so the usual rules apply to it unchanged (numbering, routing, timeline,
visibility of what it registered), and the case page says who registered: 网上信访.

A petitioner proves a case is theirs with its number and the query code (查询码) shown once
when they filed it. Only a salted hash of the code is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _

from models.texts import lazy_gettext as _l

from .. import db
from ..attachments import Attachment
from ..base import utcnow
from ..callbacks import Callback
from ..cases import Case, CaseEvent
from ..documents import IssuedDocument
from ..enums import (
    AttachmentKind,
    CallbackMethod,
    CaseChannel,
    CaseStatus,
    EventKind,
    Satisfaction,
)
from ..online_petitions import OnlinePetition
from ..parties import Party
from ..users import PORTAL_USERNAME, User
from . import ValidationFailed
from .attachments import check_upload, store_attachment
from .callbacks import record_callback
from .cases import register_case
from .parties import find_or_create_party
from .users import system_account

logger = logging.getLogger(__name__)

PORTAL_FULL_NAME = "网上信访"
PORTAL_ROLE_CODE = "online_portal"
PORTAL_ROLE_NAME = "网上信访（系统）"
#: Exactly what the public may do, through the portal account.
PORTAL_PERMISSIONS = ("attachment.manage", "callback.manage", "case.register")

#: Query codes: 12 characters without look-alikes (0/O, 1/I/L), shown in groups of four.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 12

#: States a petitioner may give their verdict in: the reply has been made.
ANSWERED = frozenset({CaseStatus.replied, CaseStatus.closed, CaseStatus.archived})


# -- the portal account -----------------------------------------------------------------------


def portal_actor() -> User:
    """The 网上信访 system account, created with its role on first use."""
    user = system_account(
        username=PORTAL_USERNAME,
        full_name=PORTAL_FULL_NAME,
        role_code=PORTAL_ROLE_CODE,
        role_name=PORTAL_ROLE_NAME,
        description="网上信访页面登记事项、上传材料和记录信访人评价所用的系统角色",
        permissions=PORTAL_PERMISSIONS,
    )
    logger.info("portal account %s ready", user.id)
    return user


# -- query codes --------------------------------------------------------------------------------


def new_query_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def display_code(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalize_code(text: str | None) -> str:
    """What the petitioner typed: spaces, dashes and letter case do not matter."""
    return "".join(ch for ch in (text or "").upper() if ch.isalnum())


def hash_code(code: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(8)
    digest = hashlib.sha256(f"{salt}:{normalize_code(code)}".encode()).hexdigest()
    return f"{salt}${digest}"


def code_matches(code: str, stored: str) -> bool:
    salt, _sep, _digest = stored.partition("$")
    return hmac.compare_digest(hash_code(code, salt), stored)


#: Compared against when the number is unknown, so both failures take the same time.
_DUMMY_HASH = hash_code("0" * CODE_LENGTH, "0" * 16)


# -- filing -------------------------------------------------------------------------------------


@dataclass
class Upload:
    filename: str
    data: bytes


def file_online_petition(
    case: Case, *, person: dict | None, uploads: list[Upload] = ()
) -> tuple[Case, str]:
    """Register ``case`` (content filled in) as an online petition; return it and its code.

    ``person``: the petitioner's details (name, phone, ID) or ``None`` when anonymous. Every
    upload is checked before anything is written.
    """
    for upload in uploads:
        check_upload(upload.filename, upload.data)
    actor = portal_actor()
    case.channel = CaseChannel.online
    case.received_at = utcnow()
    case.head_count = 1
    petitioners: list[Party] = []
    if not case.is_anonymous:
        if not person or not (person.get("name") or "").strip():
            raise ValidationFailed(_("请填写姓名"), field="name")
        petitioners.append(find_or_create_party(person, by=actor))
    register_case(case, by=actor, petitioners=petitioners)
    for upload in uploads:
        store_attachment(
            Attachment(case=case, kind=AttachmentKind.document, title="网上信访材料"),
            filename=upload.filename,
            data=upload.data,
            by=actor,
        )
    code = new_query_code()
    db.session.add(OnlinePetition(case=case, code_hash=hash_code(code)))
    db.session.flush()
    logger.info("online petition filed as case %s", case.id)
    return case, code


# -- lookup -------------------------------------------------------------------------------------


def find_petition(number: str | None, code: str | None) -> OnlinePetition | None:
    """The online petition with this number and code, or ``None`` — whichever part is wrong."""
    typed = (number or "").strip()
    code = normalize_code(code)
    petition = None
    if typed and code:
        # Numbers are upper case; a petitioner may type them in lower case. Compared as they
        # are, so the unique index on the number finds the case.
        petition = db.session.scalar(
            sa.select(OnlinePetition)
            .join(Case, Case.id == OnlinePetition.case_id)
            .where(Case.number.in_({typed, typed.upper()}))
            .limit(1)
        )
    if petition is None:
        code_matches(code, _DUMMY_HASH)
        return None
    if not code_matches(code, petition.code_hash):
        return None
    case = petition.case
    if case.is_deleted or case.status == CaseStatus.destroyed:
        return None
    return petition


#: Each state in the words a petitioner understands (the internal steps are not theirs).
PLAIN_STATUS = {
    CaseStatus.registered: _l("已收到您的信访事项，正在审查是否受理"),
    CaseStatus.accepted: _l("已受理，正在交由有关单位办理"),
    CaseStatus.awaiting_instruction: _l("已受理，正在交由有关单位办理"),
    CaseStatus.assigned: _l("正在办理"),
    CaseStatus.in_progress: _l("正在办理"),
    CaseStatus.result_reported: _l("正在办理，办理结果审核中"),
    CaseStatus.replied: _l("已作出答复"),
    CaseStatus.closed: _l("已办结"),
    CaseStatus.archived: _l("已办结"),
    CaseStatus.not_accepted: _l("不予受理"),
    CaseStatus.no_longer_accepted: _l("不再受理"),
    CaseStatus.kept: _l("已登记存档"),
    CaseStatus.transferred: _l("已转送有权处理的机关办理"),
    CaseStatus.returned: _l("已退回"),
    CaseStatus.under_review: _l("复查中"),
    CaseStatus.under_re_review: _l("复核中"),
    CaseStatus.merged: _l("已与相关事项合并办理"),
}


@dataclass
class PublicProgress:
    """What the lookup page shows: nothing about staff, notes or other people."""

    number: str
    subject: str
    status: str
    received_at: datetime
    accepted_at: datetime | None = None
    transferred_at: datetime | None = None
    transferred_to: str | None = None
    extended_at: datetime | None = None
    replied_at: datetime | None = None
    handling_body: str | None = None
    documents: list[IssuedDocument] = field(default_factory=list)
    may_rate: bool = False
    rated: str | None = None


def _last_event(case: Case, kind: EventKind, **data) -> CaseEvent | None:
    events = db.session.scalars(
        sa.select(CaseEvent)
        .where(CaseEvent.case_id == case.id, CaseEvent.kind == kind)
        .order_by(CaseEvent.created_at.desc(), CaseEvent.id.desc())
    ).all()
    for event in events:
        if all((event.data or {}).get(key) == value for key, value in data.items()):
            return event
    return None


def petitioner_documents(case: Case) -> list[IssuedDocument]:
    """Issued documents addressed to the petitioner (replies and notices), oldest first."""
    from ..rendering.catalog import TYPES

    kinds = [kind for kind, doc_type in TYPES.items() if doc_type.to_petitioner]
    return list(
        db.session.scalars(
            sa.select(IssuedDocument)
            .where(IssuedDocument.case_id == case.id, IssuedDocument.kind.in_(kinds))
            .order_by(IssuedDocument.issued_at, IssuedDocument.id)
        )
    )


def portal_verdict(case: Case) -> Callback | None:
    """The satisfaction the petitioner gave on the lookup page, if any."""
    return db.session.scalar(
        sa.select(Callback).where(
            Callback.case_id == case.id,
            Callback.is_deleted.is_(False),
            Callback.created_by_id == portal_actor().id,
            Callback.satisfaction.is_not(None),
        )
    )


def public_progress(case: Case) -> PublicProgress:
    transfer = _last_event(case, EventKind.transfer)
    extension = _last_event(case, EventKind.decide_extension, approved=True)
    verdict = portal_verdict(case)
    return PublicProgress(
        number=case.number,
        subject=case.subject,
        status=str(PLAIN_STATUS.get(case.status, case.status.title)),
        received_at=case.received_at,
        accepted_at=case.accepted_at,
        transferred_at=transfer.created_at if transfer else None,
        transferred_to=(transfer.data or {}).get("target_unit") if transfer else None,
        extended_at=extension.created_at if extension else None,
        replied_at=case.replied_at,
        handling_body=case.handling_unit.name if case.handling_unit is not None else None,
        documents=petitioner_documents(case),
        may_rate=case.status in ANSWERED and verdict is None,
        rated=str(verdict.satisfaction.title) if verdict is not None else None,
    )


def rate_reply(
    case: Case, satisfaction: Satisfaction | str | None, opinion: str | None
) -> Callback:
    """The petitioner's verdict on the reply, recorded as a done callback (回访) by 网上信访."""
    if case.status not in ANSWERED or case.replied_at is None:
        raise ValidationFailed(_("事项答复后才能评价"), field="satisfaction")
    if portal_verdict(case) is not None:
        raise ValidationFailed(_("您已评价过此事项"), field="satisfaction")
    try:
        verdict = Satisfaction(satisfaction)
    except ValueError as exc:
        raise ValidationFailed(_("请选择满意程度"), field="satisfaction") from exc
    opinion = (opinion or "").strip() or None
    callback = Callback(
        case=case,
        method=CallbackMethod.message,
        person_reached="信访人（网上评价）",
        done_at=utcnow(),
        satisfaction=verdict,
        opinion=opinion,
        note="信访人通过网上进度查询评价",
    )
    return record_callback(callback, by=portal_actor())
