"""Reports drafted on a case (专报, 信访信息报告, 公示), the leader's sign-off of an information
report, and commendations of a person (issue 15; S16, S19).

A draft is one timeline event (``EventKind.draft_report``) holding what the staff wrote; the
document is then issued from that event by :func:`models.operations.documents.issue_document`,
so a reprint hands out the same PDF and a new draft gives a new document. An information report
goes out only under a leader's sign-off (一事一报，领导审定签发): the sign-off is its own event,
carries the "reported at" time, and is the event the printed report is issued for. Nothing
here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _

from models.texts import lazy_gettext as _l

from .. import db
from ..base import to_local, utcnow
from ..cases import Case, CaseEvent, loaded_collection
from ..commendations import Commendation
from ..enums import DocumentKind, EventKind
from ..parties import Party
from ..policies import can_see_live_case, reporter_visible
from ..rendering.catalog import TYPES
from ..settings import SystemSetting
from ..users import Role, User, user_roles
from . import NotPermitted, ValidationFailed
from .audit import log_event
from .deadlines import notify
from .documents import document_problem, issue15_document_problem

K = DocumentKind

#: The leader permission: whoever may instruct may sign an information report off.
SIGN_OFF_PERMISSION = "workflow.instruct"
#: The categories of an information report (信访信息管理制度: the first three go up at once).
INFORMATION_CATEGORIES = ("重大集体访", "越级访", "异常访", "一般信访信息")
TEXT_LIMIT = 4000


@dataclass(frozen=True)
class ReportField:
    key: str
    label: str
    required: bool = True
    #: ``text`` (several lines), ``line``, ``count`` (a whole number ≥ 1) or ``choice``.
    kind: str = "text"
    choices: tuple[str, ...] = ()


#: What the staff fill in for each drafted report (the rest comes from the case).
REPORT_FIELDS: dict[DocumentKind, tuple[ReportField, ...]] = {
    K.special_report: (
        ReportField("addressee", _l("报送领导"), kind="line"),
        ReportField("facts", _l("基本情况")),
        ReportField("head_count", _l("来访人数"), kind="count"),
        ReportField("representatives", _l("代表"), required=False, kind="line"),
        ReportField("measures", _l("已采取的措施")),
        ReportField("proposals", _l("意见建议")),
    ),
    K.information_report: (
        ReportField("category", _l("信息类别"), kind="choice", choices=INFORMATION_CATEGORIES),
        ReportField("facts", _l("基本情况")),
        ReportField("measures", _l("处置情况")),
    ),
    K.public_notice: (ReportField("measures", _l("整改措施")),),
}


def report_defaults(kind: DocumentKind, case: Case) -> dict[str, str]:
    """What the draft form starts with: the case's own facts."""
    if kind == K.information_report:
        if case.is_group and case.is_major:
            category = INFORMATION_CATEGORIES[0]
        elif case.is_beyond_level:
            category = INFORMATION_CATEGORIES[1]
        elif case.is_abnormal:
            category = INFORMATION_CATEGORIES[2]
        else:
            category = INFORMATION_CATEGORIES[3]
        return {"category": category, "facts": case.content or "", "measures": ""}
    if kind == K.special_report:
        return {
            "addressee": _(
                "%(organisation)s领导", organisation=SystemSetting.get("organisation_name")
            ),
            "facts": case.content or "",
            "head_count": str(case.head_count),
            "representatives": "、".join(person.name for person in case.representatives),
            "measures": "",
            "proposals": "",
        }
    return {"measures": ""}


def _clean(kind: DocumentKind, values: dict) -> dict[str, object]:
    cleaned: dict[str, object] = {}
    for spec in REPORT_FIELDS[kind]:
        raw = values.get(spec.key)
        text = ("" if raw is None else str(raw)).replace("\r\n", "\n").strip()
        if not text:
            if spec.required:
                raise ValidationFailed(_("请填写%(label)s", label=spec.label), field=spec.key)
            cleaned[spec.key] = ""
            continue
        limit = 200 if spec.kind == "line" else TEXT_LIMIT
        if len(text) > limit:
            raise ValidationFailed(
                _("%(label)s不能超过%(limit)s个字符", label=spec.label, limit=limit),
                field=spec.key,
            )
        if spec.kind == "count":
            if not text.isdigit() or not 1 <= int(text) <= 100000:
                raise ValidationFailed(
                    _("%(label)s应为1以上的整数", label=spec.label), field=spec.key
                )
            cleaned[spec.key] = int(text)
            continue
        if spec.kind == "choice" and text not in spec.choices:
            raise ValidationFailed(_("请选择有效的%(label)s", label=spec.label), field=spec.key)
        cleaned[spec.key] = text
    return cleaned


def draft_problem(case: Case, kind: DocumentKind, user) -> str | None:
    """Why ``user`` may not draft ``kind`` on ``case`` (Chinese), or ``None``: the document's
    own permission and confidentiality rules, whatever state the case is in."""
    doc_type = TYPES[kind]
    return document_problem(doc_type, case, user, check_state=False) or (
        issue15_document_problem(doc_type, case)
    )


def draft_report(case: Case, kind, *, by, values: dict, at: datetime | None = None) -> CaseEvent:
    """Record a drafted 专报 / 信息报告 / 公示 on the case's timeline and return the event."""
    kind = DocumentKind(kind)
    if kind not in REPORT_FIELDS:
        raise ValidationFailed(_("没有这种文书"))
    problem = draft_problem(case, kind, by)
    if problem is not None:
        raise NotPermitted(problem)
    cleaned = _clean(kind, values)
    at = at or utcnow()
    event = log_event(
        case,
        EventKind.draft_report,
        f"drafted {kind.value} for {case.number}",
        by=by,
        at=at,
        data={"document": kind.value, **cleaned},
    )
    if kind == K.information_report:
        # Major items go up at once: the leaders find the draft in their work list.
        notify(
            leader_users(),
            case,
            f"{case.number}「{case.subject[:40]}」信访信息报告（{cleaned['category']}）待签发",
            at=at,
            level=3 if cleaned["category"] != INFORMATION_CATEGORIES[-1] else 1,
        )
    return event


def leader_users() -> list[User]:
    """Active users who may sign off (the leaders), administrators left out."""
    admins = sa.select(user_roles.c.user_id).join(Role, Role.id == user_roles.c.role_id)
    admins = admins.where(Role.code == "admin")
    users = db.session.scalars(
        sa.select(User)
        .where(User.is_active_user.is_(True), User.id.notin_(admins))
        .order_by(User.id)
    ).all()
    return [user for user in users if user.has_permission(SIGN_OFF_PERMISSION)]


# --- the information report's sign-off --------------------------------------------------------


@dataclass(frozen=True)
class InformationReportState:
    """The latest drafted information report and, once given, its sign-off."""

    draft: CaseEvent
    sign_off: CaseEvent | None

    @property
    def reported_at(self) -> datetime | None:
        if self.sign_off is None:
            return None
        return datetime.fromisoformat(self.sign_off.data["reported_at"])


def information_report_state(case: Case) -> InformationReportState | None:
    drafts = [
        e
        for e in case.events
        if e.kind == EventKind.draft_report and e.data.get("document") == K.information_report.value
    ]
    if not drafts:
        return None
    draft = drafts[-1]
    sign_off = next(
        (
            e
            for e in case.events
            if e.kind == EventKind.sign_off_report and e.data.get("draft") == draft.id
        ),
        None,
    )
    return InformationReportState(draft, sign_off)


def sign_off_problem(case: Case, user) -> str | None:
    """Why ``user`` may not sign the case's information report off now, or ``None``."""
    if user is None or not user.is_authenticated:
        return _("请先登录")
    if not can_see_live_case(user, case):
        return _("该事项不存在或您无权查看")
    if not user.has_permission(SIGN_OFF_PERMISSION):
        return _("只有领导才能签发信访信息报告")
    if not reporter_visible(case, user):
        return _("举报类事项的信息报告仅限办理人员和有保密权限的人员签发")
    state = information_report_state(case)
    if state is None:
        return _("尚未起草信访信息报告")
    if state.sign_off is not None:
        return _("该信访信息报告已经签发")
    return None


def sign_off_report(
    case: Case, *, by, reported_at: datetime | None = None, at: datetime | None = None
) -> CaseEvent:
    """The leader signs the latest drafted information report off (审定签发). ``reported_at``:
    when it went up to the higher body (上报时间); by default the moment of sign-off."""
    problem = sign_off_problem(case, by)
    if problem is not None:
        raise NotPermitted(problem)
    at = at or utcnow()
    draft = information_report_state(case).draft
    reported_at = reported_at or at
    if reported_at.tzinfo is None:
        raise ValidationFailed(_("上报时间无效"), field="reported_at")
    # A minute's grace: the form's time has no seconds.
    if reported_at < draft.created_at.replace(second=0, microsecond=0):
        raise ValidationFailed(_("上报时间不能早于信息报告起草时间"), field="reported_at")
    if reported_at > at + timedelta(minutes=1):
        raise ValidationFailed(_("上报时间不能晚于现在"), field="reported_at")
    return log_event(
        case,
        EventKind.sign_off_report,
        f"information report of {case.number} signed off",
        by=by,
        at=at,
        data={
            "draft": draft.id,
            "signed_by": by.full_name,
            "reported_at": reported_at.isoformat(),
        },
    )


# --- commendations ----------------------------------------------------------------------------

COMMEND_PERMISSION = "party.manage"


def commendable_parties(case: Case) -> list[Party]:
    """The people a commendation on this case may name: its petitioners and its agent."""
    people = list(case.petitioners)
    if case.agent is not None and case.agent not in people:
        people.append(case.agent)
    return people


def commend_problem(case: Case, user) -> str | None:
    if user is None or not user.is_authenticated:
        return _("请先登录")
    if not can_see_live_case(user, case):
        return _("该事项不存在或您无权查看")
    if not user.has_permission(COMMEND_PERMISSION):
        return _("您没有记录表扬的权限")
    if not reporter_visible(case, user):
        return _("举报类事项的举报人身份保密，您不能对其记录表扬")
    if case.is_anonymous or not commendable_parties(case):
        return _("匿名事项没有可表扬的信访人")
    return None


def commend_party(
    case: Case,
    party: Party | None,
    *,
    by,
    text: str | None,
    commended_on: date | None = None,
    at: datetime | None = None,
) -> Commendation:
    """Record a commendation (表扬) of ``party`` for what they did about ``case``."""
    problem = commend_problem(case, by)
    if problem is not None:
        raise NotPermitted(problem)
    at = at or utcnow()
    if party is None or party not in commendable_parties(case):
        raise ValidationFailed(_("请选择本事项的信访人"), field="party")
    text = (text or "").replace("\r\n", "\n").strip()
    if not text:
        raise ValidationFailed(_("请填写表扬事由"), field="text")
    if len(text) > 500:
        raise ValidationFailed(_("表扬事由不能超过500个字符"), field="text")
    commended_on = commended_on or to_local(at).date()
    if commended_on > to_local(at).date():
        raise ValidationFailed(_("表扬日期不能晚于今天"), field="commended_on")
    duplicate = db.session.scalar(
        sa.select(Commendation.id).where(
            Commendation.case_id == case.id,
            Commendation.party_id == party.id,
            Commendation.text == text,
            Commendation.commended_on == commended_on,
        )
    )
    if duplicate is not None:
        raise ValidationFailed(_("已记录过相同的表扬"), field="text")
    event = log_event(
        case,
        EventKind.commend,
        f"party {party.id} commended on {case.number}",
        by=by,
        at=at,
        data={"person": party.name, "text": text, "commended_on": commended_on.isoformat()},
    )
    commendation = Commendation(
        party_id=party.id,
        case_id=case.id,
        text=text,
        commended_on=commended_on,
        event_id=event.id,
        created_by_id=by.id,
        created_at=at,
    )
    db.session.add(commendation)
    db.session.flush()
    return commendation


def case_commendations(case: Case) -> list[Commendation]:
    loaded = loaded_collection(case, "commendations")
    if loaded is not None:
        return loaded
    return list(
        db.session.scalars(
            sa.select(Commendation)
            .where(Commendation.case_id == case.id)
            .order_by(Commendation.commended_on, Commendation.id)
        )
    )


def party_commendations(party: Party, user) -> list[Commendation]:
    """A person's commendations on the live cases ``user`` may see."""
    rows = db.session.scalars(
        sa.select(Commendation)
        .join(Case, Case.id == Commendation.case_id)
        .where(Commendation.party_id == party.id, Case.is_deleted.is_(False))
        .order_by(Commendation.commended_on, Commendation.id)
    ).all()
    return [
        row
        for row in rows
        if can_see_live_case(user, row.case) and reporter_visible(row.case, user)
    ]


def case_page_reports(case: Case, user) -> dict:
    """What the case page shows of drafted reports and commendations, and which buttons."""
    if case.is_deleted or not can_see_live_case(user, case):
        return {"drafts": [], "information": None, "commendations": []}
    hidden = not reporter_visible(case, user)
    return {
        "drafts": [kind for kind in REPORT_FIELDS if draft_problem(case, kind, user) is None],
        "information": None if hidden else information_report_state(case),
        "may_sign_off": sign_off_problem(case, user) is None,
        # Commendations name the petitioner: hidden with a 举报 case's reporter.
        "commendations": [] if hidden else case_commendations(case),
        "may_commend": commend_problem(case, user) is None,
    }
