"""The list's bulk delete (``POST /admin/<view>/action/`` with action=delete): the posted ids are
turned into integers (PostgreSQL compares no text with an integer key), each selected row goes
through the view's scope and the same delete operation as the single delete, and every deleted
row leaves its audit entry."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from models import AuditEntry, CallbackSchedule, Letter, Unit, db
from models.audit import AuditAction
from models.base import utcnow
from models.operations.contacts import register_contact


def _schedule(name: str, unit: Unit | None) -> CallbackSchedule:
    schedule = CallbackSchedule(name=name, delivered_on=date.today(), unit_id=unit and unit.id)
    db.session.add(schedule)
    db.session.commit()
    return schedule


def _bulk_delete(client, endpoint: str, ids) -> object:
    data = {"action": "delete", "rowid": [str(key) for key in ids]}
    return client.post(f"/admin/{endpoint}/action/", data=data)


def _audit_rows(table: str, key: int, action: str) -> int:
    return db.session.scalar(
        sa.select(sa.func.count(AuditEntry.id)).where(
            AuditEntry.target_type == table,
            AuditEntry.target_id == str(key),
            AuditEntry.action == action,
        )
    )


@pytest.fixture
def units(app, government):
    first, second = db.session.scalars(sa.select(Unit).order_by(Unit.id).limit(2)).all()
    return first, second


def test_admin_bulk_deletes_exactly_the_selected_rows(
    units, create_user, create_case, client, login_as
):
    admin = create_user("admin")
    case = create_case()
    letters = [
        register_contact(
            Letter(received_at=utcnow() - timedelta(hours=1), summary=f"来信{n}"),
            by=admin,
            case=case,
        )
        for n in range(3)
    ]
    schedules = [_schedule(f"项目{n}", units[0]) for n in range(3)]
    db.session.commit()
    letter_ids = [letter.id for letter in letters]
    schedule_ids = [schedule.id for schedule in schedules]
    login_as(admin)

    # A row id that cannot be one (text, beyond the largest key) refuses the whole request.
    for junk in ("abc", 2**63):
        assert _bulk_delete(client, "letter", [letter_ids[0], junk]).status_code == 404
    db.session.expire_all()
    assert db.session.get(Letter, letter_ids[0]).is_deleted is False

    answer = _bulk_delete(client, "letter", letter_ids[:2])
    assert answer.status_code == 302
    answer = _bulk_delete(client, "callbackschedule", schedule_ids[:2])
    assert answer.status_code == 302

    db.session.expire_all()
    # Letters are hidden (soft delete), the third stays as it was.
    hidden = {letter.id: letter.is_deleted for letter in db.session.scalars(sa.select(Letter))}
    assert hidden == {letter_ids[0]: True, letter_ids[1]: True, letter_ids[2]: False}
    for key in letter_ids[:2]:  # a soft delete is audited as a delete
        assert _audit_rows("letters", key, AuditAction.delete) == 1
    assert _audit_rows("letters", letter_ids[2], AuditAction.delete) == 0
    # Schedules keep no deleted rows: the two are gone, the third is there.
    remaining = db.session.scalars(sa.select(CallbackSchedule.id)).all()
    assert remaining == [schedule_ids[2]]
    for key in schedule_ids[:2]:
        assert _audit_rows("callback_schedules", key, AuditAction.delete) == 1
    assert _audit_rows("callback_schedules", schedule_ids[2], AuditAction.delete) == 0


def test_bulk_delete_of_another_units_rows_deletes_nothing(units, create_user, client, login_as):
    unit_a, unit_b = units
    handler = create_user("handler", unit=unit_a)
    own = _schedule("甲单位项目", unit_a)
    other = _schedule("乙单位项目", unit_b)
    own_id, other_id = own.id, other.id
    login_as(handler)

    answer = _bulk_delete(client, "callbackschedule", [other_id])
    assert answer.status_code == 302
    db.session.expire_all()
    assert db.session.get(CallbackSchedule, other_id) is not None
    assert _audit_rows("callback_schedules", other_id, AuditAction.delete) == 0

    # Named together with one of their own, only their own goes.
    answer = _bulk_delete(client, "callbackschedule", [own_id, other_id])
    assert answer.status_code == 302
    db.session.expire_all()
    assert db.session.get(CallbackSchedule, own_id) is None
    assert db.session.get(CallbackSchedule, other_id) is not None
    assert _audit_rows("callback_schedules", own_id, AuditAction.delete) == 1
