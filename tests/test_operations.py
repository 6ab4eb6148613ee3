from datetime import timedelta

import pytest
import sqlalchemy as sa

from models import Attachment, Callback, Case, CaseEvent, Letter, Visit, db
from models.base import utcnow
from models.enums import (
    CaseChannel,
    CaseStatus,
    EventKind,
    LetterOrigin,
    Satisfaction,
    VisitKind,
)
from models.operations import NotPermitted, ValidationFailed
from models.operations.attachments import check_upload, store_attachment
from models.operations.callbacks import record_callback
from models.operations.cases import delete_case, record_case_edit, register_case
from models.operations.contacts import register_contact


def _events(case, kind=None):
    query = sa.select(CaseEvent).where(CaseEvent.case_id == case.id)
    if kind is not None:
        query = query.where(CaseEvent.kind == kind)
    return db.session.scalars(query).all()


def test_letter_creates_registered_case_with_writer(create_user, create_party):
    registrar = create_user("registrar")
    writer = create_party("李四", phone="13800138000")
    letter = Letter(writer=writer, received_at=utcnow() - timedelta(hours=3))
    new_case = Case(subject="拖欠工资", content="工地拖欠工资三个月")
    register_contact(letter, by=registrar, new_case=new_case)
    db.session.commit()

    case = letter.case
    assert case.status == CaseStatus.registered
    assert case.channel == CaseChannel.letter
    assert case.petitioners == [writer]
    assert case.petitioner_names == "李四"
    assert case.received_at == letter.received_at
    assert letter.is_first_contact
    assert [e.kind for e in _events(case)] == [EventKind.registered, EventKind.letter_added]


def test_forwarded_letter_becomes_higher_assignment(create_user, government):
    from models import Unit

    body = db.session.scalar(sa.select(Unit).where(Unit.name == "市信访局"))
    letter = Letter(
        received_at=utcnow() - timedelta(hours=1),
        origin=LetterOrigin.forwarded,
        forwarding_unit=body,
    )
    register_contact(letter, by=create_user("registrar"), new_case=Case(subject="s", content="c"))
    assert letter.case.channel == CaseChannel.higher_assignment


def test_forwarded_letter_needs_forwarding_unit(create_user):
    letter = Letter(received_at=utcnow(), origin=LetterOrigin.forwarded)
    with pytest.raises(ValidationFailed, match="原批转单位"):
        register_contact(
            letter, by=create_user("registrar"), new_case=Case(subject="s", content="c")
        )


def test_repeat_visit_attaches_to_existing_case(create_user, create_case, create_party):
    case = create_case()
    visitor = create_party("王五")
    visit = Visit(
        visitor=visitor, visited_at=utcnow(), purpose="催问进度", kind=VisitKind.individual
    )
    register_contact(visit, by=create_user("registrar"), case=case)
    db.session.commit()
    assert visit.case_id == case.id
    assert not visit.is_first_contact
    assert visitor in case.petitioners
    assert case.number == db.session.get(Case, case.id).number
    assert len(_events(case, EventKind.visit_added)) == 1


def test_group_visit_marks_case_as_group(create_user):
    visit = Visit(visited_at=utcnow(), purpose="集体反映", kind=VisitKind.group, head_count=12)
    register_contact(visit, by=create_user("registrar"), new_case=Case(subject="s", content="c"))
    assert visit.case.is_group
    assert visit.case.head_count == 12


def test_contact_needs_exactly_one_case_choice(create_user, create_case):
    registrar = create_user("registrar")
    with pytest.raises(ValidationFailed):
        register_contact(Letter(received_at=utcnow()), by=registrar)
    with pytest.raises(ValidationFailed):
        register_contact(
            Letter(received_at=utcnow()),
            by=registrar,
            case=create_case(),
            new_case=Case(subject="s", content="c"),
        )


def test_future_received_time_is_rejected(create_user):
    letter = Letter(received_at=utcnow() + timedelta(days=1))
    with pytest.raises(ValidationFailed, match="不能晚于当前时间"):
        register_contact(
            letter, by=create_user("registrar"), new_case=Case(subject="s", content="c")
        )


def test_anonymous_case_keeps_no_petitioner(create_user, create_party):
    case = register_case(
        Case(
            channel=CaseChannel.letter,
            subject="s",
            content="c",
            received_at=utcnow(),
            is_anonymous=True,
        ),
        by=create_user("registrar"),
        petitioners=[create_party("赵六")],
    )
    assert case.petitioners == []
    assert case.petitioner_names is None


@pytest.mark.parametrize("role", ["handler", "leader", "supervisor", "dept_head"])
def test_roles_without_register_permission_cannot_register(create_user, role):
    with pytest.raises(NotPermitted):
        register_case(
            Case(channel=CaseChannel.call, subject="s", content="c", received_at=utcnow()),
            by=create_user(role),
        )
    assert db.session.scalar(sa.select(sa.func.count(Case.id))) == 0


def test_edit_records_a_diff_event(create_user, create_case):
    case, office = create_case(), create_user("office")
    assert case.subject == "小区道路破损"  # loaded, as the edit form loads it
    case.subject = "新的标题"
    assert record_case_edit(case, by=office)
    db.session.commit()
    event = _events(case, EventKind.edited)[0]
    assert event.data["subject"] == ["小区道路破损", "新的标题"]


def test_edit_without_changes_writes_nothing(create_user, create_case):
    case = create_case()
    assert not record_case_edit(case, by=create_user("office"))
    assert _events(case, EventKind.edited) == []


def test_delete_is_soft_and_keeps_the_number(create_user, create_case):
    case = create_case()
    delete_case(case, by=create_user("office"))
    db.session.commit()
    assert db.session.get(Case, case.id).is_deleted
    with pytest.raises(NotPermitted):
        delete_case(create_case(), by=create_user("registrar"))


def test_callback_needs_satisfaction_when_done(create_user, create_case):
    office = create_user("office")
    case = create_case()
    with pytest.raises(ValidationFailed, match="满意度"):
        record_callback(Callback(case=case, done_at=utcnow()), by=office)
    callback = record_callback(
        Callback(case=case, done_at=utcnow(), satisfaction=Satisfaction.satisfied), by=office
    )
    db.session.commit()
    assert _events(case, EventKind.callback_added)[0].callback_id == callback.id


def test_callback_on_invisible_case_is_refused(create_user, create_case, government):
    from models import Unit

    units = db.session.scalars(sa.select(Unit).where(Unit.parent_id.is_not(None))).all()
    case = create_case()
    case.handling_unit = units[0]
    db.session.commit()
    outsider = create_user("handler", unit=units[1])
    with pytest.raises(ValidationFailed):
        record_callback(Callback(case=case), by=outsider)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("scan.exe", b"MZ...", "不允许上传"),
        ("scan.pdf", b"not a pdf", "不符"),
        ("empty.png", b"", "为空"),
        ("note.txt", b"\xff\xfe\x00bad", "编码"),
    ],
)
def test_bad_uploads_are_rejected(app, name, data, message):
    with pytest.raises(ValidationFailed, match=message):
        check_upload(name, data)


def test_oversized_upload_is_rejected(app):
    from models import SystemSetting

    db.session.merge(SystemSetting(key="attachment_max_mb", value="1"))
    db.session.commit()
    with pytest.raises(ValidationFailed, match="大小上限"):
        check_upload("big.pdf", b"%PDF-" + b"0" * (1024 * 1024 + 1))


def test_attachment_is_stored_under_instance(app, create_user, create_case):
    case = create_case()
    attachment = store_attachment(
        Attachment(case=case, title="信件扫描件"),
        filename="../../etc/scan.pdf",
        data=b"%PDF-1.4 test",
        by=create_user("registrar"),
    )
    db.session.commit()
    from pathlib import Path

    stored = Path(app.config["ATTACHMENT_FOLDER"]) / attachment.stored_name
    assert stored.read_bytes() == b"%PDF-1.4 test"
    assert attachment.original_name == "scan.pdf"
    assert ".." not in attachment.stored_name
    assert _events(case, EventKind.attachment_added)
