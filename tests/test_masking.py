"""A 举报 case's reporter stays hidden on the timeline, the audit log and the people pickers,
after edits of its contacts, callback, content and reply too (issue 13, items 1, 2, 5, 6, 15);
the case form cannot do what a workflow step does."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from models import Call, Callback, Case, CaseEvent, Category, Letter, Party, Unit, db
from models.base import utcnow
from models.enums import CaseStatus, CategoryKind, EventKind
from models.operations import InvalidTransition, NotPermitted, ValidationFailed
from models.operations.callbacks import record_callback, record_callback_edit
from models.operations.cases import record_case_edit
from models.operations.contacts import record_contact_edit, register_contact
from models.operations.workflow import perform

NAME, PHONE, ID_NUMBER, EMAIL = "王举报", "13900001111", "110101199003070011", "wang@example.com"
SECRETS = (NAME, PHONE, ID_NUMBER, EMAIL)


@pytest.fixture
def two_units(app, government):
    units = db.session.scalars(
        sa.select(Unit).where(Unit.parent_id.is_not(None)).order_by(Unit.id)
    ).all()
    return units[0], units[1]


def _category(kind: CategoryKind) -> Category:
    return db.session.scalar(
        sa.select(Category).where(Category.kind == kind).order_by(Category.id).limit(1)
    )


@pytest.fixture
def people(create_user, two_units):
    unit_a, unit_b = two_units
    return {
        "office": create_user("office"),
        "named": create_user("handler", unit=unit_a),
        "colleague": create_user("handler", unit=unit_a),
        "head_a": create_user("dept_head", unit=unit_a),
        "head_b": create_user("dept_head", unit=unit_b),
        "supervisor": create_user("supervisor"),
        "leader": create_user("leader"),
    }


@pytest.fixture
def edited_report(app, create_case, people, two_units):
    """A 举报 case handled to its reply, and every contact, the callback and 反映内容 edited."""
    unit_a, _unit_b = two_units
    office, named, head = people["office"], people["named"], people["head_a"]
    reporter = Party(name=NAME, phone=PHONE, id_number=ID_NUMBER, email=EMAIL)
    db.session.add(reporter)
    db.session.commit()
    case = create_case(
        by=office,
        petitioners=[reporter],
        category=_category(CategoryKind.report),
        subject="反映某科室违规收费",
        content=f"{NAME}（身份证{ID_NUMBER}，电话{PHONE}）反映某科室违规收费。",
    )
    earlier = utcnow() - timedelta(hours=1)
    letter = register_contact(
        Letter(received_at=earlier, writer=reporter, sender_email=EMAIL), by=office, case=case
    )
    call = register_contact(
        Call(called_at=earlier, caller=reporter, caller_number=PHONE, record="电话反映"),
        by=office,
        case=case,
    )
    callback = record_callback(Callback(case=case, method="phone", person_reached=NAME), by=office)
    db.session.commit()
    perform(
        "instruct",
        case,
        by=people["leader"],
        instruction="请查处",
        handling_unit=unit_a,
        handler=named,
    )
    perform("acknowledge", case, by=named)
    perform("investigate", case, by=named, findings=f"约谈{NAME}，核实属实")
    perform("report_result", case, by=named, facts=f"{NAME}所反映属实", decision="责令退费")
    perform("approve_result", case, by=head)
    perform("reply", case, by=office, method="phone", text=f"告知举报人{NAME}：已责令退费")
    db.session.commit()
    # The edits: the writer and e-mail, the caller's number, the person reached, and the
    # reporter's name and numbers edited out of 反映内容.
    letter.writer, letter.sender_email = None, "office@example.com"
    record_contact_edit(letter, by=office)
    call.caller_number = "13700000000"
    record_contact_edit(call, by=office)
    callback.person_reached = f"{NAME}家属"
    record_callback_edit(callback, by=office)
    case.content = "有人反映某科室违规收费。"
    record_case_edit(case, by=office)
    db.session.commit()
    return case


def _timeline_and_pages(client, case) -> dict[str, str]:
    pages = {
        "details": f"/admin/case/details/?id={case.id}",
        "timeline list": "/admin/caseevent/",
        "case picker": "/admin/callback/ajax/lookup/?name=case&query=违规",
        "petitioner picker": f"/admin/case/ajax/lookup/?name=petitioners&query={NAME}",
        "petitioner picker by phone": f"/admin/case/ajax/lookup/?name=agent&query={PHONE}",
        "writer picker": "/admin/letter/ajax/lookup/?name=writer&query=王",
        "caller picker": f"/admin/call/ajax/lookup/?name=caller&query={ID_NUMBER}",
        "party list": "/admin/party/",
    }
    for page in range(4):
        pages[f"audit log {page}"] = f"/admin/auditlog/?page={page}"
    return {name: client.get(url).get_data(as_text=True) for name, url in pages.items()}


@pytest.mark.parametrize("who", ["colleague", "supervisor", "head_b"])
def test_outsiders_never_see_the_reporter_after_edits(edited_report, people, login_as, who):
    client = login_as(people[who])
    for surface, text in _timeline_and_pages(client, edited_report).items():
        for secret in SECRETS:
            assert secret not in text, (who, surface, secret)
        assert "告知举报人" not in text, (who, surface)
    if who in ("colleague", "supervisor"):
        # They see the case and its timeline, with the edits marked and masked.
        details = client.get(f"/admin/case/details/?id={edited_report.id}").get_data(as_text=True)
        assert edited_report.number in details
        assert "（保密）" in details and "反映内容" in details
        assert "office@example.com" not in details and "13700000000" not in details
    if who == "supervisor":
        log = client.get("/admin/auditlog/").get_data(as_text=True)
        assert "（保密）" in log
        # Searching the log by a name finds no person row.
        found = client.get(f"/admin/auditlog/?search={NAME}").get_data(as_text=True)
        rows = found.split("<tbody>")[-1].split("</tbody>")[0]
        assert "（parties）" not in rows


@pytest.mark.parametrize("who", ["named", "head_a", "office", "leader"])
def test_the_circle_and_confidential_view_see_the_reporter(edited_report, people, login_as, who):
    client = login_as(people[who])
    details = client.get(f"/admin/case/details/?id={edited_report.id}").get_data(as_text=True)
    # The timeline keeps the old values: the name edited out of 反映内容, the number changed,
    # the person reached and the reply.
    assert ID_NUMBER in details and PHONE in details and "13700000000" in details
    assert f"告知举报人{NAME}" in details and f"{NAME}家属" in details
    picker = client.get(f"/admin/case/ajax/lookup/?name=petitioners&query={NAME}").get_json()
    assert [row[1] for row in picker] == [f"{NAME}（{PHONE}）"]


def test_the_audit_log_shows_identities_to_confidential_view(edited_report, create_user, login_as):
    client = login_as(create_user("admin"))
    pages = "".join(
        client.get(f"/admin/auditlog/?page={page}").get_data(as_text=True) for page in range(4)
    )
    assert PHONE in pages and EMAIL in pages


def test_conflict_message_masks_reporter_text(edited_report, people, login_as):
    from admin_views.base import conflict_message
    from admin_views.labels import labels

    with login_as(people["colleague"]).application.test_request_context():
        from flask_login import login_user

        login_user(people["colleague"])
        message = conflict_message(edited_report, "", labels())
    assert "反映内容" in message
    assert NAME not in message and ID_NUMBER not in message


# -- the case form cannot do a step's work -----------------------------------------------------
def _form(case: Case, **changes) -> dict:
    data = {
        "channel": case.channel.value,
        "received_at": (case.received_at + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S"),
        "category": str(case.category_id or "__None"),
        "priority": case.priority.value,
        "subject": case.subject,
        "content": case.content,
        "expected_version": f"{case.version}@",
    }
    data.update(changes)
    return data


def test_case_form_offers_no_step_owned_field_and_ignores_them(
    create_case, people, two_units, login_as
):
    unit_a, unit_b = two_units
    office, colleague = people["office"], people["colleague"]
    case = create_case(by=office, handling_unit=unit_a)
    client = login_as(office)
    page = client.get(f"/admin/case/edit/?id={case.id}").get_data(as_text=True)
    for field in ("handling_unit", "handler", "assistants", "status", "result_approved_at"):
        assert f'name="{field}"' not in page, field
    response = client.post(
        f"/admin/case/edit/?id={case.id}",
        data=_form(
            case,
            subject="标题已改",
            handling_unit=str(unit_b.id),
            handler=str(colleague.id),
            assistants=str(colleague.id),
            status="closed",
        ),
    )
    assert response.status_code == 302
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert case.subject == "标题已改"
    assert case.handling_unit_id == unit_a.id and case.handler_id is None
    assert case.assistants == [] and case.status == CaseStatus.registered


def test_category_into_or_out_of_report_needs_confidential_view(
    create_case, people, two_units, login_as
):
    unit_a, _unit_b = two_units
    head = people["head_a"]
    ordinary = _category(CategoryKind.complaint)
    report = _category(CategoryKind.report)
    case = create_case(by=people["office"], handling_unit=unit_a, category=report)
    # The unit head edits the case but lacks 查看保密信息: lifting the masking is refused.
    client = login_as(head)
    client.post(f"/admin/case/edit/?id={case.id}", data=_form(case, category=str(ordinary.id)))
    db.session.expire_all()
    assert db.session.get(Case, case.id).category_id == report.id
    # The office may, and the change is a timeline line of its own.
    client = login_as(people["office"])
    case = db.session.get(Case, case.id)
    response = client.post(
        f"/admin/case/edit/?id={case.id}", data=_form(case, category=str(ordinary.id))
    )
    assert response.status_code == 302
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert case.category_id == ordinary.id and not case.is_confidential
    edits = db.session.scalars(
        sa.select(CaseEvent)
        .where(CaseEvent.case_id == case.id, CaseEvent.kind == EventKind.edited)
        .order_by(CaseEvent.id)
    ).all()
    [event] = [e for e in edits if "confidential" in e.data]
    assert event.data["confidential"] is False
    assert event.data["category"] == [str(report), str(ordinary)]
    details = client.get(f"/admin/case/details/?id={case.id}").get_data(as_text=True)
    assert "举报人身份不再保密" in details
    # And back into 举报, by the service layer directly: refused without the permission.
    case.category = report
    with pytest.raises(NotPermitted):
        record_case_edit(case, by=head)
    db.session.rollback()


# -- joining the circle -------------------------------------------------------------------------
@pytest.fixture
def unnamed_report(create_case, people, two_units):
    unit_a, _unit_b = two_units
    case = create_case(by=people["office"], category=_category(CategoryKind.report))
    perform("instruct", case, by=people["leader"], instruction="请查处", handling_unit=unit_a)
    db.session.commit()
    return case


def test_an_ordinary_member_cannot_sign_an_unnamed_report(unnamed_report, people, login_as):
    colleague = people["colleague"]
    with pytest.raises(InvalidTransition) as refused:
        perform("acknowledge", unnamed_report, by=colleague)
    assert "部门负责人指定承办人" in str(refused.value)
    db.session.rollback()
    assert unnamed_report.handler_id is None
    # No button either.
    page = login_as(colleague).get(f"/admin/case/details/?id={unnamed_report.id}")
    assert "step=acknowledge" not in page.get_data(as_text=True).replace("&amp;", "&")


def test_the_head_signs_an_unnamed_report(unnamed_report, people):
    perform("acknowledge", unnamed_report, by=people["head_a"])
    db.session.commit()
    assert unnamed_report.handler_id == people["head_a"].id
    assert unnamed_report.status == CaseStatus.in_progress


def test_an_ordinary_case_is_signed_by_any_member(create_case, people, two_units):
    case = create_case(by=people["office"])
    perform("instruct", case, by=people["leader"], instruction="请办理", handling_unit=two_units[0])
    perform("acknowledge", case, by=people["colleague"])
    db.session.commit()
    assert case.handler_id == people["colleague"].id


def test_assistants_join_a_report_only_when_named_by_an_insider(
    unnamed_report, people, create_user, two_units
):
    head = people["head_a"]
    perform("acknowledge", unnamed_report, by=head)
    db.session.commit()
    # The head sees the reporter: naming a colleague brings them into the circle.
    perform("add_assistant", unnamed_report, by=head, assistant=people["colleague"])
    db.session.commit()
    assert people["colleague"] in unnamed_report.assistants
    # Someone who may assign but does not see the reporter cannot name anyone into it.
    assigner = create_user("handler", unit=two_units[0])
    from models import Role

    role = db.session.scalar(sa.select(Role).where(Role.code == "handler"))
    role.permissions = sorted({*role.permissions, "workflow.assign"})
    db.session.commit()
    outsider = create_user("handler", unit=two_units[0])
    assert not unnamed_report.is_deleted
    with pytest.raises(ValidationFailed) as refused:
        perform("add_assistant", unnamed_report, by=assigner, assistant=outsider)
    assert "举报人身份保密" in str(refused.value)
    db.session.rollback()


def _with_opinion_and_order(case, people):
    """The callback's opinion quotes the reporter, and a rectification order copies it."""
    from models import RectificationOrder
    from models.enums import RectificationSource

    callback = db.session.scalar(sa.select(Callback).where(Callback.case_id == case.id))
    callback.opinion = f"{NAME}不满意，问题仍存在"
    order = RectificationOrder(
        source=RectificationSource.callback,
        case=case,
        callback=callback,
        unit_id=case.handling_unit_id,
        addressee="某科室",
        content=callback.opinion,
        notice_due_at=utcnow() + timedelta(hours=24),
        due_on=utcnow().date() + timedelta(days=3),
        created_by_id=people["office"].id,
    )
    db.session.add(order)
    db.session.commit()
    return callback, order


def test_the_reporters_words_show_to_the_circle_and_are_found_by_its_search(
    edited_report, people, login_as
):
    callback, order = _with_opinion_and_order(edited_report, people)
    opinion = callback.opinion
    for who in ("named", "office"):
        client = login_as(people[who])
        details = client.get(f"/admin/case/details/?id={edited_report.id}").get_data(as_text=True)
        assert opinion in details, who
        page = client.get(f"/admin/callback/details/?id={callback.id}").get_data(as_text=True)
        assert opinion in page, who
        found = client.get(f"/admin/callback/?search={NAME}").get_data(as_text=True)
        assert edited_report.number in found, who
        page = client.get(f"/admin/rectificationorder/details/?id={order.id}").get_data(
            as_text=True
        )
        assert opinion in page, who


def test_outsiders_search_by_subject_not_by_reporter_and_an_edit_keeps_the_order(
    edited_report, people, login_as
):
    callback, order = _with_opinion_and_order(edited_report, people)
    client = login_as(people["colleague"])
    # The case's subject still finds its callbacks and timeline; the reporter's name does not.
    for url in ("/admin/callback/", "/admin/caseevent/"):
        by_subject = client.get(f"{url}?search=违规收费").get_data(as_text=True)
        assert edited_report.number in by_subject, url
        by_name = client.get(f"{url}?search={NAME}").get_data(as_text=True)
        assert edited_report.number not in by_name, url
    edit_url = f"/admin/rectificationorder/edit/?id={order.id}"
    form = client.get(edit_url).get_data(as_text=True)
    assert NAME not in form and 'name="content"' not in form
    response = client.post(
        edit_url,
        data={
            "addressee": "某科室负责人",
            "unit": str(order.unit_id),
            "due_on": order.due_on.isoformat(),
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    saved = db.session.get(type(order), order.id)
    assert saved.addressee == "某科室负责人"
    assert saved.content == callback.opinion


def test_timeline_names_the_fields_of_edited_callbacks(edited_report, people, login_as):
    """The before/after lines of a callback or call edit use the screens' labels, not keys."""
    details = (
        login_as(people["office"])
        .get(f"/admin/case/details/?id={edited_report.id}")
        .get_data(as_text=True)
    )
    assert "<b>被回访人</b>" in details and "<b>person_reached</b>" not in details
    assert "<b>caller_number</b>" not in details
