"""Shared ground of the access and masking matrices (tests/test_access_matrix.py and
tests/test_masking_matrix.py): a whole case with every record that can hang on it, the
classification of every rule in ``app.url_map`` into requests against such a case, and the
reading of every kind of answer (HTML, JSON, CSV, XLSX, PDF) as text.

Both matrices ask the same question of the same surfaces -- "does this answer show that
record?" -- and differ only in who asks and which strings must not show.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from functools import cache
from urllib.parse import urlencode

import sqlalchemy as sa

from models import (
    Appointment,
    Attachment,
    AuditEntry,
    Call,
    Callback,
    CallbackSchedule,
    Case,
    CaseEvent,
    Letter,
    OutgoingMessage,
    Party,
    ReceptionQueueEntry,
    ReceptionSchedule,
    RectificationOrder,
    SurveyCampaign,
    SurveyResponse,
    SurveyTemplate,
    User,
    Visit,
    VisitIncident,
    VisitorPass,
    db,
)
from models.base import utcnow
from models.documents import RegisterJob
from models.enums import CallbackFollowUp, CallbackMethod, CaseChannel, Satisfaction
from models.operations.attachments import store_attachment
from models.operations.callbacks import record_callback_edit
from models.operations.cases import record_case_edit, register_case
from models.operations.contacts import record_contact_edit, register_contact
from models.operations.documents import issue_document
from models.operations.reception import issue_pass, record_appointment, record_incident
from models.operations.representatives import RepresentativeEntry, set_representatives
from models.operations.workflow import perform
from models.policies import closing_permission

# --- a case with everything on it --------------------------------------------------------------


def resident_id(first17: str) -> str:
    """A mainland resident ID number with its ISO 7064 check character."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(digit) * weight for digit, weight in zip(first17, weights, strict=True))
    return first17 + "10X98765432"[total % 11]


@dataclass
class Identity:
    """Distinctive strings for one reporter: none of them occurs anywhere else by chance."""

    token: str  # in every free text of the case and its records
    name: str
    phone: str
    old_phone: str  # the caller number before the call was edited
    id_number: str
    email: str
    old_email: str  # the sender address before the letter was edited
    file_name: str  # the original's name as uploaded

    @property
    def secrets(self) -> dict[str, str]:
        """What identifies the reporter: must never reach anyone outside the circle."""
        return {
            "name": self.name,
            "phone": self.phone,
            "old phone": self.old_phone,
            "ID number": self.id_number,
            "e-mail": self.email,
            "old e-mail": self.old_email,
            "file name": self.file_name,
        }


@dataclass
class Staff:
    registrar: User
    office: User
    leader: User
    handler: User
    head: User


@dataclass
class World:
    """One case and its records; ``records`` maps each model to the id of its record."""

    identity: Identity
    case: Case
    open_case: Case  # a second case of the same unit, left in progress for the steps
    records: dict[type, int] = field(default_factory=dict)
    document_id: int | None = None
    order_id: int | None = None
    campaign_id: int | None = None
    register_job_id: int | None = None

    @property
    def numbers(self) -> set[str]:
        return {self.case.number, self.open_case.number}


def build_world(identity: Identity, *, unit, staff: Staff, category=None) -> World:
    """Register, handle, reply to and close a case of ``unit`` the way the office does, with a
    letter, a visit and a call from the reporter, the original letter, an issued reply letter,
    the callback that found the problem remaining and its rectification order, an appointment,
    a pass, an incident and a place in a reception-day queue; then edit the contacts, the
    callback and 反映内容 so that the timeline holds before/after values of each. Records that
    belong to the unit rather than to the case (a callback schedule, a survey campaign with a
    response, a register print job) carry the token but not the reporter: they are not the
    case's."""
    ident, token = identity, identity.token
    reporter = Party(
        name=ident.name,
        phone=ident.phone,
        id_type="resident_id",
        id_number=ident.id_number,
        email=ident.email,
        address=f"{token}路1号",
    )
    db.session.add(reporter)
    db.session.flush()
    received = utcnow() - timedelta(days=2)
    case = register_case(
        Case(
            channel=CaseChannel.letter,
            subject=f"{token}反映事项",
            content=f"本人{ident.name}（电话{ident.phone}）反映{token}问题。",
            demands=f"{token}诉求",
            received_at=received,
            category=category,
        ),
        by=staff.registrar,
        petitioners=[reporter],
    )
    at = received + timedelta(minutes=10)
    letter = register_contact(
        Letter(
            received_at=at, writer=reporter, sender_email=ident.old_email, summary=f"{token}来信"
        ),
        by=staff.registrar,
        case=case,
    )
    visit = register_contact(
        Visit(visited_at=at, visitor=reporter, head_count=1, purpose=f"{token}来访"),
        by=staff.registrar,
        case=case,
    )
    call = register_contact(
        Call(called_at=at, caller=reporter, caller_number=ident.old_phone, record=f"{token}来电"),
        by=staff.registrar,
        case=case,
    )
    # The reporter also speaks for a group: a representative, found by ID number.
    set_representatives(
        case,
        [RepresentativeEntry(ident.name, ident.id_number, ident.phone)],
        by=staff.registrar,
    )
    attachment = store_attachment(
        Attachment(case=case, letter=letter, kind="scanned_letter", title=f"{token}原件"),
        filename=ident.file_name,
        data=f"{token} {ident.name} original letter".encode(),
        by=staff.registrar,
    )
    db.session.flush()

    # Edits whose before/after values go on the timeline.
    letter.sender_email = ident.email
    record_contact_edit(letter, by=staff.registrar)
    call.caller_number = ident.phone
    record_contact_edit(call, by=staff.registrar)
    case.content = f"反映{token}问题（已删去反映人姓名）。"
    record_case_edit(case, by=staff.registrar)

    perform("accept", case, by=staff.registrar)
    perform(
        "instruct",
        case,
        by=staff.leader,
        instruction=f"{token}请核查",
        handling_unit=unit,
        handler=staff.handler,
    )
    perform("acknowledge", case, by=staff.handler)
    perform(
        "report_result",
        case,
        by=staff.handler,
        facts=f"{token}查明，{ident.name}所述属实",
        decision=f"{token}已处理",
    )
    perform("approve_result", case, by=staff.head, note="同意")
    perform(
        "reply", case, by=staff.office, method="phone", text=f"已电话告知{ident.name}{token}结果"
    )
    document, _created = issue_document(case, "reply_letter", by=staff.office)
    closer = staff.office if staff.office.has_permission(closing_permission()) else staff.leader
    perform("close", case, by=closer, opinion="同意办结")
    db.session.flush()

    callback = db.session.scalars(sa.select(Callback).where(Callback.case_id == case.id)).one()
    callback.method = CallbackMethod.phone
    callback.done_at = utcnow() - timedelta(minutes=5)
    callback.person_reached = ident.name
    callback.satisfaction = Satisfaction.dissatisfied
    callback.problem_remains = True
    callback.follow_up = CallbackFollowUp.rectification
    callback.opinion = f"{token}仍未整改，{ident.name}不满意"
    record_callback_edit(callback, by=staff.handler)
    order = db.session.scalars(
        sa.select(RectificationOrder).where(RectificationOrder.case_id == case.id)
    ).one()

    tomorrow = utcnow() + timedelta(days=1)
    appointment = record_appointment(
        Appointment(
            kind="appointment",
            channel="phone",
            party=reporter,
            visitor_name=ident.name,
            id_type="resident_id",
            id_number=ident.id_number,
            phone=ident.phone,
            unit=unit,
            case=case,
            expected_at=tomorrow,
            purpose=f"{token}预约",
        ),
        by=staff.registrar,
    )
    visitor_pass = issue_pass(
        VisitorPass(
            pass_number=f"P{ident.phone[-4:]}",
            party=reporter,
            visitor_name=ident.name,
            id_type="resident_id",
            id_number=ident.id_number,
            id_checked=True,
            host=staff.handler,
            purpose=f"{token}通行",
            case=case,
        ),
        by=staff.registrar,
    )
    incident = record_incident(
        VisitIncident(
            visitor_pass=visitor_pass,
            kind="other",
            measure="warning",
            description=f"{token}在大厅争执",
        ),
        by=staff.registrar,
    )
    # Reception days and questionnaire templates are shared by all units: no token in them.
    schedule = ReceptionSchedule(
        name=f"接待日{ident.phone[-4:]}",
        recurrence="weekly",
        weekday=0,
        start_time=time(9),
        end_time=time(11),
        place="接待室",
        starts_on=date.today(),
    )
    db.session.add(schedule)
    db.session.flush()
    queue_entry = ReceptionQueueEntry(
        day=date.today() + timedelta(days=7),
        schedule=schedule,
        queue_number=1,
        party=reporter,
        case=case,
        visit=visit,
        purpose=f"{token}排队",
        created_by_id=staff.registrar.id,
    )
    db.session.add(queue_entry)

    open_case = register_case(
        Case(
            channel=CaseChannel.letter,
            subject=f"{token}办理中事项",
            content=f"{token}办理中",
            received_at=received,
            category=category,
        ),
        by=staff.registrar,
        petitioners=[reporter],
    )
    perform("accept", open_case, by=staff.registrar)
    perform(
        "instruct",
        open_case,
        by=staff.leader,
        instruction="请办理",
        handling_unit=unit,
        handler=staff.handler,
    )
    perform("acknowledge", open_case, by=staff.handler)
    db.session.flush()

    world = World(identity=identity, case=case, open_case=open_case)
    event = db.session.scalar(
        sa.select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id.desc())
    )
    audit = db.session.scalar(
        sa.select(AuditEntry)
        .where(AuditEntry.target_type == "cases", AuditEntry.target_id == str(case.id))
        .order_by(AuditEntry.id)
    )
    world.records = {
        Case: case.id,
        Letter: letter.id,
        Visit: visit.id,
        Call: call.id,
        Attachment: attachment.id,
        CaseEvent: event.id,
        Callback: callback.id,
        RectificationOrder: order.id,
        Appointment: appointment.id,
        VisitorPass: visitor_pass.id,
        VisitIncident: incident.id,
        ReceptionQueueEntry: queue_entry.id,
        Party: reporter.id,
        AuditEntry: audit.id if audit is not None else 0,
        User: staff.handler.id,
    }
    world.document_id = document.id
    world.order_id = order.id
    callback_schedule = CallbackSchedule(
        name=f"{token}定期回访",
        contact=f"{token}联系人",
        delivered_on=date.today(),
        unit_id=unit.id,
        caller_id=staff.handler.id,
        created_by_id=staff.head.id,
    )
    template = SurveyTemplate(name=f"问卷{ident.phone[-4:]}", created_by_id=staff.head.id)
    campaign = SurveyCampaign(
        template=template,
        name=f"{token}满意度调查",
        starts_on=date.today(),
        unit_id=unit.id,
        created_by_id=staff.head.id,
    )
    response = SurveyResponse(
        campaign=campaign,
        respondent=f"{token}答卷人",
        returned_on=date.today(),
        opinion=f"{token}问卷意见",
        created_by_id=staff.head.id,
    )
    job = RegisterJob(
        kind="letters",
        params={"start": date.today().isoformat(), "end": date.today().isoformat()},
        status="done",
        row_count=1,
        created_by_id=staff.head.id,
    )
    db.session.add_all([callback_schedule, template, campaign, response, job])
    db.session.flush()
    world.records.update(
        {
            CallbackSchedule: callback_schedule.id,
            SurveyCampaign: campaign.id,
            SurveyResponse: response.id,
        }
    )
    world.campaign_id = campaign.id
    world.register_job_id = job.id
    # Issue 18: the acceptance told the reporter by SMS; its record names them.
    message_id = db.session.scalar(
        sa.select(OutgoingMessage.id)
        .where(OutgoingMessage.case_id == case.id)
        .order_by(OutgoingMessage.id)
        .limit(1)
    )
    if message_id is not None:
        world.records[OutgoingMessage] = message_id
    db.session.commit()
    return world


# --- reading answers -------------------------------------------------------------------------


def answer_text(response) -> str:
    """Everything a user can read in an answer: HTML/JSON/CSV as text, an XLSX's sheets and
    shared strings, a PDF's extracted text (whitespace removed, as PDF text breaks lines)."""
    body = response.get_data()
    mimetype = response.mimetype or ""
    if body.startswith(b"%PDF"):
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(body))
        return re.sub(r"\s+", "", "".join(page.extract_text() or "" for page in reader.pages))
    if body.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            return "".join(
                archive.read(name).decode("utf-8", "replace")
                for name in archive.namelist()
                if name.endswith(".xml")
            )
    if "json" in mimetype:
        # JSON escapes non-ASCII characters; read it back as the page would show it.
        import json

        return json.dumps(response.get_json(), ensure_ascii=False)
    return body.decode("utf-8", "replace")


def leaks(text: str, forbidden: dict[str, str], *, echoed: str = "") -> list[str]:
    """Which of the ``forbidden`` strings (label -> string) occur in ``text``.

    ``echoed`` is the search term of the request: the search box shows it back, so it (and
    what it is part of) proves nothing; every other forbidden string still does."""
    return [
        label
        for label, value in forbidden.items()
        if value and value in text and not (echoed and (value in echoed or echoed in value))
    ]


# --- every rule of the URL map ---------------------------------------------------------------


@cache
def url_map_endpoints() -> list[str]:
    """The endpoints of the URL map, read once at collection from an app without a database
    (so that each endpoint is its own test and a failure names it)."""
    from tests.conftest import collection_app

    return sorted({rule.endpoint for rule in collection_app().url_map.iter_rules()})


#: Rules that serve everyone or no record at all, and why they are not in the matrices.
PUBLIC_OR_IRRELEVANT = {
    "static": "files of the application itself",
    "admin.static": "Flask-Admin's own files",
    "admin.login_view": "the login form",
    "admin.logout_view": "ends the caller's own session",
    "switch_language": "sets the caller's language",
    "home": "redirects to the admin",
    # Load-balancer probes (issue 17): status of the process and its dependencies, no records.
    "healthz": "process liveness probe",
    "readyz": "readiness probe (database, Redis, disk, workers)",
    # Marks the caller's own notifications read: it takes no record id and touches nothing else.
    "workflow.read_notifications_view": "the caller's own notifications",
    # The public pages (网上信访, issue 18): no staff session is used there; a case opens only
    # with its number and query code (tests/test_portal_issue18.py checks the pairs).
    "petition.index": "the public entry page",
    "petition.new_petition": "the public petition form",
    "petition.new_report": "the public 举报 form",
    "petition.lookup": "the public lookup by number and query code",
    "petition.progress": "the case the caller's own lookup opened",
    "petition.document": "documents of the case the caller's own lookup opened",
    "petition.leave": "forgets the caller's own lookup",
    # The JSON API (issue 18 item 3) ignores the staff session: it answers bearer tokens only,
    # and its own unit matrix (token scoped to unit A, unit B's case) is in
    # tests/test_api_issue18.py. Its tokens screen needs user.manage and holds no unit's record.
    "api_v1.register": "JSON API, bearer token only",
    "api_v1.read_case": "JSON API, bearer token only",
    "api_v1.read_timeline": "JSON API, bearer token only",
    "api_v1.add_contact": "JSON API, bearer token only",
    "api_v1.list_changes": "JSON API, bearer token only",
    "api-docs.openapi_json": "the API's description, no records",
    "api_docs.docs": "the API's description as a page, no records",
    "api_docs.unknown": "JSON 404 for unknown API addresses",
    # The date picker's working days (issue 19): the office's calendar, the same for everyone
    # signed in, no record of any unit.
    "working_days": "the office's working-day calendar",
    "apitoken.index": "API tokens (user.manage), no unit's record",
    "apitoken.new": "API tokens (user.manage), no unit's record",
    "apitoken.revoke": "API tokens (user.manage), no unit's record",
}

#: Flask-Admin model views whose rows belong to no unit or case: settings and the people who
#: run them. Their screens need settings.manage, user.manage or the like, which
#: tests/test_access_control.py checks role by role; they cannot show another unit's record.
UNOWNED_MODELS = {
    "Category": "the category tree, shared by all units",
    "CustomField": "custom field definitions, shared by all units",
    "Role": "roles and permissions",
    "SystemSetting": "system settings",
    "DeadlineRule": "deadline rules (per category, not per unit)",
    "EscalationRule": "escalation rules",
    "RoutingRule": "routing rules (they name a unit, but as configuration, not as its record)",
    "CalendarOverride": "holidays and working days",
    "CallbackQuota": "callback quotas per role",
    "SurveyTemplate": "questionnaire templates, shared by all units",
    "ReceptionSchedule": "reception days of the leaders",
    "ReceptionLeader": "the leaders who receive visitors",
    "LeaderAbsence": "leaders' absences and deputies",
    "OpinionBox": "opinion boxes in the building",
    "OpinionBoxOpening": "openings of the opinion boxes",
    "Unit": "the organisation chart",
    "RetentionRule": "retention rules (per category and outcome, not per unit)",
    # Tombstones only: batch and case numbers, dates, regions; the content is gone.
    "DestructionBatch": "destruction batches of kept letters (numbers and dates, no content)",
}

#: Custom (non-model) pages that take no record id: each must omit the other unit's records.
#: The value gives the query strings to try (besides none).
RECORDLESS_PAGES = {
    "admin.index": [],
    "worklist.index": ["tab=awaiting", "tab=mine", "tab=unit", "tab=overdue", "tab=all"],
    "workflow.index": [],
    "documents.index": [],
    "reception.index": [],
    "reception.schedule_view": [],
    "stats.index": [],
    "registers.index": [],
    "documenttemplate.index": [],
    "keptletters.index": ["year=2020&region=城关镇"],
    "keptletters.pdf_view": [],
    "messagetemplate.index": [],
    "notificationsettings.index": [],
}


#: 初始设置, 配置导出/导入 and 称谓 (admin_views/setup.py), with the form each POST sends.
ADMINISTRATOR_SCREENS = {
    "setup.index": (("preset", "hospital"), ("organisation_name", "某医院")),
    "configuration.index": (),
    "configuration.download_view": (),
    "configuration.upload_view": (),
    "configuration.apply_view": (("digest", "0" * 64),),
    "vocabulary.index": (("信访人", "客户"),),
}


#: Issue 15: drafting 专报 / 信访信息报告 / 公示, the sign-off, commendations, the month-end
#: supervision-card report (see :func:`_issue15_document_probes`).
ISSUE15_DOCUMENT_ENDPOINTS = frozenset(
    {
        "documents.draft_view",
        "documents.sign_off_view",
        "documents.commend_view",
        "registers.supervision_report_view",
    }
)


def _issue15_document_probes(endpoint: str, rule: str, targets, add) -> None:
    """The requests of the issue-15 document endpoints on unit B's cases."""
    if endpoint == "registers.supervision_report_view":
        from models.operations.supervision_report import leaders

        add("supervision report form", "GET", rule, "read")
        form = (("month", date.today().strftime("%Y-%m")),)
        for leader in leaders()[:1]:
            form += (("leader_id", str(leader.id)),)
        add("supervision report", "POST", rule, "read", form)
        return
    for target in targets:
        if endpoint == "documents.draft_view":
            for kind in ("special_report", "information_report", "public_notice"):
                url = rule.replace("<int:case_id>", str(target)).replace("<kind>", kind)
                add(f"draft {kind} form", "GET", url, "read")
                drafted = (
                    ("addressee", "改"),
                    ("facts", "改"),
                    ("head_count", "3"),
                    ("measures", "改"),
                    ("proposals", "改"),
                    ("category", "一般信访信息"),
                )
                add(f"draft {kind}", "POST", url, "write", drafted)
        elif endpoint == "documents.sign_off_view":
            add("sign off", "POST", rule.replace("<int:case_id>", str(target)), "write")
        else:
            url = rule.replace("<int:case_id>", str(target))
            add("commend form", "GET", url, "read")
            add("commend", "POST", url, "write", (("text", "改"),))


@dataclass(frozen=True)
class Probe:
    """One request of the matrix: ``kind`` says what answer is acceptable.

    - ``read``: a page or file; it must be refused or must not show the record;
    - ``query``: a search whose term echoes back; the record's number must not show;
    - ``write``: a change; the record and its neighbours must stay as they were.
    """

    endpoint: str
    label: str
    method: str
    url: str
    kind: str
    data: tuple = ()
    term: str = ""  # the search term sent, which the page may echo


def model_views(app) -> dict[str, object]:
    return {
        view.endpoint: view
        for view in app.extensions["admin"][0]._views
        if getattr(view, "model", None) is not None
    }


def _ajax_fields(view) -> list[str]:
    return list((getattr(view, "_form_ajax_refs", None) or {}).keys())


def _action_names(view) -> list[str]:
    return [name for name, *_rest in getattr(view, "_actions", None) or []]


def _export_types(view) -> list[str]:
    types = getattr(view, "export_types", None) or ["csv"]
    return [kind for kind in ("csv", "xlsx") if kind in types] or list(types)


def probes_for(app, world: World, *, search_terms: list[str]) -> tuple[list[Probe], list[str]]:
    """Every rule in the URL map, as requests against ``world``'s records.

    Returns the probes and the rules no branch here understands (those must make a test fail:
    a new endpoint has to be added to the matrix before it ships)."""
    views = model_views(app)
    probes: list[Probe] = []
    unknown: list[str] = []
    case_id, open_id = world.case.id, world.open_case.id
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        endpoint = rule.endpoint
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        if endpoint in PUBLIC_OR_IRRELEVANT:
            continue
        prefix, _dot, name = endpoint.partition(".")

        def add(label, method, url, kind, data=(), term="", _endpoint=endpoint):
            probes.append(Probe(_endpoint, label, method, url, kind, tuple(data), term))

        if prefix in views:
            view = views[prefix]
            model = view.model
            if model.__name__ in UNOWNED_MODELS:
                # Nothing of the other unit lives there; lists and exports still must not show
                # it (a join could), the rest is the permission matrix's business.
                if name == "index_view":
                    add("list", "GET", rule.rule, "read")
                elif name == "export":
                    for kind in _export_types(view):
                        add(
                            f"export {kind}",
                            "GET",
                            rule.rule.replace("<export_type>", kind),
                            "read",
                        )
                elif name in GENERIC_MODEL_ENDPOINTS or name in CUSTOM_MODEL_ENDPOINTS:
                    pass
                else:
                    unknown.append(f"{endpoint} {rule.rule}")
                continue
            record = world.records.get(model)
            if record is None:
                unknown.append(f"{endpoint} {rule.rule} (no record of {model.__name__} in World)")
                continue
            base = rule.rule
            if name == "index_view":
                add("list", "GET", base, "read")
                # A list's search box: by the token of its texts and by each case number
                # (people's names and numbers are tried on the pickers below).
                for term in search_terms[:1] + sorted(world.numbers):
                    add(
                        f"search {term}",
                        "GET",
                        f"{base}?{urlencode({'search': term})}",
                        "query",
                        term=term,
                    )
            elif name == "details_view":
                add("details", "GET", f"{base}?id={record}", "read")
            elif name == "download_view":
                add("download", "GET", f"{base}?id={record}", "read")
            elif name == "edit_view":
                add("edit form", "GET", f"{base}?id={record}", "read")
                add("edit", "POST", f"{base}?id={record}", "write", (("__harvest__", prefix),))
            elif name == "create_view":
                prefill = {"case_id": case_id, "appointment_id": world.records.get(Appointment)}
                add("create form", "GET", f"{base}?{urlencode(prefill)}", "read")
                add(
                    "create",
                    "POST",
                    base,
                    "write",
                    (("__create__", prefix), ("case", case_id), ("case_id", case_id)),
                )
            elif name == "delete_view":
                add("delete", "POST", base, "write", (("id", record),))
            elif name == "action_view":
                for action in _action_names(view):
                    add(
                        f"action {action}",
                        "POST",
                        base,
                        "write",
                        (("action", action), ("rowid", record)),
                    )
            elif name == "ajax_lookup":
                for ajax in _ajax_fields(view):
                    for term in search_terms:
                        add(
                            f"lookup {ajax} {term}",
                            "GET",
                            f"{base}?{urlencode({'name': ajax, 'query': term})}",
                            "query",
                            term=term,
                        )
            elif name == "ajax_update":
                add(
                    "inline edit",
                    "POST",
                    base,
                    "write",
                    (("list_form_pk", record), ("note", "改"), ("subject", "改")),
                )
            elif name == "export":
                for kind in _export_types(view):
                    add(f"export {kind}", "GET", base.replace("<export_type>", kind), "read")
            elif name in ("approve_view", "reject_view", "cancel_view", "status_view"):
                add(name, "POST", f"{base}?id={record}", "write", (("status", "received"),))
            elif name == "return_view":
                add("return form", "GET", f"{base}?id={record}", "read")
                add(
                    "return",
                    "POST",
                    f"{base}?id={record}",
                    "write",
                    (("pass_number", f"P{world.identity.phone[-4:]}"), ("escorted_out", "y")),
                )
            elif name == "assign_view":
                add("assign form", "GET", f"{base}?ids={record}", "read")
                add("assign", "POST", base, "write", (("ids", record), ("rowid", record)))
            elif name == "plan_view":
                add("plan", "POST", base, "write")
            elif name == "load_preset_view":
                continue  # a settings screen (deadline rules), see UNOWNED_MODELS
            elif "<int:order_id>" in base:
                url = base.replace("<int:order_id>", str(world.order_id))
                for method in methods:
                    add(name, method, url, "read" if method == "GET" else "write")
            elif "<int:message_id>" in base:
                url = base.replace("<int:message_id>", str(record))
                add(name, "POST", url, "write")
            elif "<int:campaign_id>" in base:
                url = base.replace("<int:campaign_id>", str(world.campaign_id))
                for method in methods:
                    add(name, method, url, "read" if method == "GET" else "write")
            else:
                unknown.append(f"{endpoint} {rule.rule}")
            continue

        if endpoint == "workflow.step_view":
            from models.operations.workflow import STEPS

            for code in STEPS:
                for target in (case_id, open_id):
                    url = f"/admin/workflow/{code}/{target}/"
                    add(f"step {code} GET", "GET", url, "read")
                    if target != open_id:
                        continue  # a step is tried on the case in progress, where it applies
                    add(
                        f"step {code} POST",
                        "POST",
                        url,
                        "write",
                        (("note", "改"), ("text", "改"), ("facts", "改"), ("decision", "改")),
                    )
        elif endpoint == "workflow.bulk_view":
            add("bulk form", "GET", f"{rule.rule}?ids={open_id}&ids={case_id}", "read")
            add("bulk assign", "POST", rule.rule, "write", (("ids", open_id), ("ids", case_id)))
        elif endpoint == "workflow.similar_view":
            for term in search_terms:
                url = f"{rule.rule}?{urlencode({'name': term})}"
                add(f"similar {term}", "GET", url, "query", term=term)
            phone = world.identity.phone
            url = f"{rule.rule}?{urlencode({'phone': phone})}"
            add("similar phone", "GET", url, "query", term=phone)
        elif endpoint == "documents.pdf_view":
            add("document pdf", "GET", f"/admin/documents/{world.document_id}/pdf", "read")
        elif endpoint == "documents.issue_view":
            for target in (case_id, open_id):
                for kind in ("acceptance_notice", "reply_letter", "supervision_card"):
                    add(
                        f"issue {kind}",
                        "POST",
                        f"/admin/documents/issue/{target}/{kind}/",
                        "write",
                    )
        elif endpoint in ISSUE15_DOCUMENT_ENDPOINTS:
            _issue15_document_probes(endpoint, rule.rule, (case_id, open_id), add)
        elif endpoint in ("registers.job_view", "registers.job_pdf_view"):
            url = rule.rule.replace("<int:job_id>", str(world.register_job_id or 0))
            add(endpoint, "GET", url, "read")
        elif endpoint == "registers.job_retry_view":
            # Only the owner of a failed job may start it again; the world's job is finished.
            url = rule.rule.replace("<int:job_id>", str(world.register_job_id or 0))
            add(endpoint, "POST", url, "write")
        elif endpoint == "registers.index":
            add("registers form", "GET", rule.rule, "read")
            today = date.today()
            # The registers that print the people of a case (the complaint and overdue ones
            # list cases of other kinds and states, and each PDF costs a second or two).
            for kind in ("letters", "visits", "calls", "callbacks"):
                form = {
                    "kind": kind,
                    "start": (today - timedelta(days=30)).isoformat(),
                    "end": today.isoformat(),
                }
                add(f"register {kind}", "POST", rule.rule, "read", tuple(form.items()))
            # The leaders' reception register lists the queue, a week ahead in the world.
            form = {
                "kind": "leaders_reception",
                "start": (today - timedelta(days=30)).isoformat(),
                "end": (today + timedelta(days=30)).isoformat(),
            }
            add("register leaders_reception", "POST", rule.rule, "read", tuple(form.items()))
        elif endpoint == "registers.leaders_reception_xlsx_view":
            today = date.today()
            span = f"start={(today - timedelta(days=30)).isoformat()}"
            span += f"&end={(today + timedelta(days=30)).isoformat()}"
            add("leaders' reception register xlsx", "GET", f"{rule.rule}?{span}", "read")
        elif endpoint == "stats.report":
            today = date.today()
            span = f"start={(today - timedelta(days=30)).isoformat()}&end={today.isoformat()}"
            # Every kind as a workbook; the PDF (same data, slow to render) once.
            kinds = [(kind, "xlsx") for kind in ("monthly", "quarterly", "annual")]
            for kind, fmt in [*kinds, ("monthly", "pdf")]:
                url = f"{rule.rule}?kind={kind}&format={fmt}&{span}"
                add(f"report {kind} {fmt}", "GET", url, "read")
        elif endpoint.startswith("documenttemplate."):
            # Document wordings are settings (settings.manage); the preview takes a case
            # number, so it is a read of that case.
            if endpoint == "documenttemplate.preview_view":
                url = rule.rule.replace("<kind>", "reply_letter")
                add(
                    "wording preview",
                    "POST",
                    url,
                    "read",
                    (("case_number", world.case.number), ("title", "标题"), ("body", "正文")),
                )
            elif endpoint == "documenttemplate.index":
                add("wordings", "GET", rule.rule, "read")
            elif endpoint != "documenttemplate.edit_view":
                unknown.append(f"{endpoint} {rule.rule}")
        elif endpoint == "messagetemplate.edit_view":
            # Petitioner message wordings are settings; the preview takes a case number.
            add(
                "message template preview",
                "POST",
                rule.rule.replace("<kind>", "acceptance"),
                "read",
                (
                    ("action", "preview"),
                    ("case_number", world.case.number),
                    ("subject", "{number}"),
                    ("body", "{petitioner}{number}{unit}"),
                ),
            )
        elif endpoint in ADMINISTRATOR_SCREENS:
            # The whole configuration (no unit's record lives there): administrators only.
            if "GET" in methods:
                add("page", "GET", rule.rule, "read")
            if "POST" in methods:
                add("submit", "POST", rule.rule, "write", ADMINISTRATOR_SCREENS[endpoint])
        elif endpoint == "keptletters.destroy_view":
            # Only kept letters can be destroyed; the world's cases are not, so this must
            # refuse (403 without the permission, a message with it) and change nothing.
            for target in (case_id, open_id):
                add(
                    "destroy",
                    "POST",
                    rule.rule,
                    "write",
                    (("mode", "selected"), ("case_id", target)),
                )
        elif endpoint in RECORDLESS_PAGES:
            add("page", "GET", rule.rule, "read")
            for query in RECORDLESS_PAGES[endpoint]:
                add(f"page {query}", "GET", f"{rule.rule}?{query}", "read")
        else:
            unknown.append(f"{endpoint} {rule.rule}")
    return probes, unknown


#: The Flask-Admin endpoints every model view has.
GENERIC_MODEL_ENDPOINTS = {
    "index_view",
    "details_view",
    "edit_view",
    "create_view",
    "delete_view",
    "action_view",
    "ajax_lookup",
    "ajax_update",
    "export",
}
#: Extra endpoints of settings views (see UNOWNED_MODELS).
CUSTOM_MODEL_ENDPOINTS = {"load_preset_view", "refresh_view", "print_view"}


def stats_drill_urls(app, unit_ids) -> list[str]:
    """The stats page's drill-downs into the case list (every measure, per unit)."""
    from admin_views.stats import StatsFilter, drill_url

    today = date.today()
    flt = StatsFilter(today - timedelta(days=365), today, None, None)
    urls = []
    with app.test_request_context():
        for measure in ("all", "open", "closed", "overdue"):
            urls.append(drill_url(flt, measure))
            for unit_id in unit_ids:
                urls.append(drill_url(flt, measure, unit=unit_id))
    return urls
