import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from models import Case, SystemSetting, db
from models.enums import CaseChannel
from models.operations import ValidationFailed
from models.operations.cases import register_case
from models.operations.numbering import validate_number_pattern


def _new_case(**fields):
    values = {
        "channel": CaseChannel.letter,
        "subject": "测试",
        "content": "内容",
        "received_at": datetime.now(UTC) - timedelta(hours=1),
    }
    values.update(fields)
    return Case(**values)


def test_numbers_follow_the_default_pattern_and_year(create_user):
    user = create_user("registrar")
    first = register_case(_new_case(), by=user, at=datetime(2026, 3, 1, 2, tzinfo=UTC))
    second = register_case(_new_case(), by=user, at=datetime(2026, 3, 2, 2, tzinfo=UTC))
    db.session.commit()
    assert (first.number, second.number) == ("XF2026-000001", "XF2026-000002")


def test_numbers_restart_each_local_year(create_user):
    user = create_user("registrar")
    # 2025-12-31 17:00 UTC is already 2026-01-01 01:00 in Beijing.
    register_case(_new_case(), by=user, at=datetime(2025, 12, 31, 15, tzinfo=UTC))
    new_year = register_case(_new_case(), by=user, at=datetime(2025, 12, 31, 17, tzinfo=UTC))
    assert new_year.number == "XF2026-000001"
    assert new_year.register_year == 2026


def test_pattern_is_a_setting(create_user):
    db.session.merge(SystemSetting(key="case_number_pattern", value="FJ-{year}-{seq:04d}"))
    db.session.commit()
    case = register_case(
        _new_case(), by=create_user("registrar"), at=datetime(2026, 5, 1, tzinfo=UTC)
    )
    assert case.number == "FJ-2026-0001"


def test_rolled_back_registration_leaves_no_gap(create_user):
    user = create_user("registrar")
    register_case(_new_case(), by=user)
    db.session.rollback()
    case = register_case(_new_case(), by=user)
    db.session.commit()
    assert case.register_seq == 1


@pytest.mark.parametrize(
    ("pattern", "ok"),
    [
        ("XF{year}-{seq:06d}", True),
        ("{year}{seq}", True),
        ("XF-{seq}", False),
        ("XF{year}", False),
        ("{foo}{year}{seq}", False),
    ],
)
def test_pattern_validation(pattern, ok):
    assert (validate_number_pattern(pattern) is None) is ok


def test_bad_pattern_is_reported_not_crashed(create_user):
    db.session.merge(SystemSetting(key="case_number_pattern", value="XF{year}-{seq:zz}"))
    db.session.commit()
    with pytest.raises(ValidationFailed):
        register_case(_new_case(), by=create_user("registrar"))


@pytest.mark.own_connections
def test_concurrent_registrations_get_distinct_gap_free_numbers(app, create_user):
    """Threads register at the same moment; on PostgreSQL they really run in parallel."""
    user_id = create_user("registrar").id
    threads_count, per_thread = 6, 5
    barrier = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def worker():
        try:
            with app.app_context():
                from models import User

                user = db.session.get(User, user_id)
                barrier.wait()
                for _ in range(per_thread):
                    register_case(_new_case(), by=user)
                    db.session.commit()
                db.session.remove()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    numbers = db.session.scalars(sa.select(Case.register_seq).order_by(Case.register_seq)).all()
    assert numbers == list(range(1, threads_count * per_thread + 1))
