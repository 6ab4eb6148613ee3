"""The statistics rollup (case_daily_stats) equals the live figures after every kind of change.

Each test changes cases through the service layer (every workflow step, reopen, merge, split,
soft delete and restore, callback completion and deletion, retention erasure, edits of unit,
category and date received, a unit deleted), then checks two things: the rollup table equals a
full rebuild from the cases, and every dashboard figure computed from the rollup equals the same
figure computed live from the cases, for several periods, units and categories.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from models import Callback, Case, CaseDailyStats, Category, Unit, db
from models.base import local_zone, utcnow
from models.case_stats import CallbackDailyStats, CaseDeadline, CaseMonthlyStats, rebuild
from models.enums import CaseStatus, Satisfaction, UnitKind
from models.operations.workflow import STEPS, perform
from models.queries import statistics as st
from tests.test_workflow_states import prepare

#: A scope that means "every case" but is not ``sa.true()``: the dashboard counts live with it.
LIVE = Case.id.is_not(None)


def _today():
    return utcnow().astimezone(local_zone()).date()


def _table_rows(model=CaseDailyStats):
    table = model.__table__
    rows = db.session.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
    return [
        tuple(round(value, 6) if isinstance(value, float) else value for value in row)
        for row in rows
    ]


def _filters():
    today = _today()
    wide = (today - timedelta(days=900), today + timedelta(days=2))
    month = today.replace(day=1)
    last_month = (month - timedelta(days=1)).replace(day=1)
    periods = [
        wide,
        (today - timedelta(days=1), today),
        (today - timedelta(days=40), today),
        (last_month, month - timedelta(days=1)),  # one whole month: the monthly table alone
        (last_month, today),  # a whole month and a partial one
        (last_month + timedelta(days=3), today),  # two partial months
    ]
    units = [None, *db.session.scalars(sa.select(Unit.id).order_by(Unit.id)).all()[:3]]
    categories = [None, *db.session.scalars(sa.select(Category.id).order_by(Category.id)).all()]
    filters = [st.StatsFilter(start, end) for start, end in periods]
    filters += [st.StatsFilter(*wide, unit_id=unit) for unit in units if unit]
    filters += [
        st.StatsFilter(*wide, category_id=category) for category in categories[:4] if category
    ]
    if units[1:] and categories[1:]:
        filters.append(st.StatsFilter(*wide, unit_id=units[1], category_id=categories[1]))
    return filters


def _figures(flt, scope):
    rows = st.breakdown(flt, scope=scope)
    summary = st.summary(flt, scope=scope, breakdown=rows)
    average = summary.pop("average_days")
    grouped = st.dimensions(flt, scope=scope)
    return {
        "summary": summary,
        "average_days": None if average is None else pytest.approx(average, abs=1e-6),
        "by_unit": st.by_unit(flt, scope=scope, breakdown=rows),
        "by_channel": st.by_channel(flt, rows=grouped),
        "by_category": st.by_category(flt, rows=grouped),
        "by_month": st.by_month(flt, rows=grouped),
        "recurring": st.recurring_problems(flt, scope=scope, limit=None),
    }


def assert_rollup_equals_live(label=""):
    db.session.flush()
    tables = (CaseDailyStats, CaseMonthlyStats, CaseDeadline, CallbackDailyStats)
    stored = [_table_rows(model) for model in tables]
    savepoint = db.session.begin_nested()
    rebuild()
    rebuilt = [_table_rows(model) for model in tables]
    savepoint.rollback()
    assert stored == rebuilt, f"{label}: rollup differs from a rebuild"
    for flt in _filters():
        rolled = _figures(flt, None)
        live = _figures(flt, LIVE)
        assert rolled == live, f"{label}: {flt}"
        quotas = st.callback_quotas(flt)
        assert quotas["total"] == db.session.scalar(
            sa.select(sa.func.count(Callback.id)).where(
                Callback.is_deleted.is_(False),
                Callback.done_at >= st._local_midnight_utc(flt.start),
                Callback.done_at < st._local_midnight_utc(flt.end + timedelta(days=1)),
            )
        ), f"{label}: callbacks made in {flt}"
        # sa.true() (what the dashboard passes for a user who sees everything) uses the rollup.
        assert st.uses_rollup(sa.true()) and not st.uses_rollup(LIVE)


@pytest.fixture
def setting(app):
    from models.maintenance.presets import load_deadline_preset

    load_deadline_preset("government")
    unit = Unit(name="县住房和城乡建设局", kind=UnitKind.department)
    other = Unit(name="县自然资源局", kind=UnitKind.department)
    roads = Category(name="道路交通")
    water = Category(name="供水")
    db.session.add_all([unit, other, roads, water])
    db.session.commit()
    return unit, other, roads, water


@pytest.mark.parametrize("step", list(STEPS))
def test_every_workflow_step_keeps_the_rollup_equal(app, setting, create_user, create_case, step):
    unit, other, roads, water = setting
    user = create_user("admin", unit=unit)
    definition = STEPS[step]
    state = sorted(definition.sources, key=lambda s: s.value)[0]
    merge_target = create_case(by=user, subject="另一件事项", category=water)
    create_case(by=user, received_at=utcnow() - timedelta(days=30), category=roads)
    case = create_case(by=user, category=roads, head_count=3)
    case.status = state
    inputs = prepare(step, case, user, unit, other, merge_target)
    assert_rollup_equals_live(f"before {step}")
    perform(step, case, by=user, **inputs)
    assert_rollup_equals_live(step)
    db.session.commit()
    assert_rollup_equals_live(f"{step}, committed")


def test_edits_deletes_callbacks_and_units_keep_the_rollup_equal(
    app, setting, create_user, create_case
):
    from models.operations.callbacks import delete_callback, record_callback
    from models.operations.cases import delete_case

    unit, other, roads, water = setting
    user = create_user("admin", unit=unit)
    cases = [
        create_case(by=user, category=roads, handling_unit=unit),
        create_case(by=user, category=water, handling_unit=other, head_count=5),
        create_case(by=user, received_at=utcnow() - timedelta(days=35)),
    ]
    assert_rollup_equals_live("registered")

    # Unit, category and date received changed on edit (expired objects: no old value loaded).
    db.session.expire_all()
    first = db.session.get(Case, cases[0].id)
    first.handling_unit_id = other.id
    first.category_id = water.id
    db.session.commit()
    assert_rollup_equals_live("unit and category changed")
    db.session.expire_all()
    first = db.session.get(Case, cases[0].id)
    first.received_at = utcnow() - timedelta(days=20)
    db.session.commit()
    assert_rollup_equals_live("received date changed")

    # Closed, then a done callback (verdict refreshed by a bulk UPDATE), then the callback deleted.
    second = db.session.get(Case, cases[1].id)
    second.status = CaseStatus.closed
    second.closed_at = utcnow()
    db.session.commit()
    callback = Callback(
        case=second,
        due_on=_today(),
        done_at=utcnow(),
        satisfaction=Satisfaction.dissatisfied,
        method="phone",
    )
    record_callback(callback, by=user)
    db.session.commit()
    assert_rollup_equals_live("callback done")
    pending = Callback(case=second, due_on=_today() - timedelta(days=3), method="phone")
    db.session.add(pending)
    db.session.commit()
    assert_rollup_equals_live("callback pending and overdue")
    delete_callback(db.session.get(Callback, callback.id), by=user)
    db.session.commit()
    assert_rollup_equals_live("callback deleted")

    # Soft delete and restore.
    third = db.session.get(Case, cases[2].id)
    delete_case(third, by=user)
    db.session.commit()
    assert_rollup_equals_live("deleted")
    third = db.session.get(Case, cases[2].id)
    third.is_deleted = False
    db.session.commit()
    assert_rollup_equals_live("restored")

    # A bulk UPDATE through the session and a hard delete.
    db.session.execute(
        sa.update(Case.__table__).where(Case.__table__.c.id == cases[0].id).values(head_count=9)
    )
    assert_rollup_equals_live("bulk update")
    db.session.execute(sa.delete(Callback.__table__).where(Callback.case_id == cases[1].id))
    assert_rollup_equals_live("bulk delete of callbacks")
    db.session.commit()

    # A unit deleted: its cases fall to "not assigned" (ON DELETE SET NULL in the database).
    db.session.delete(db.session.get(Unit, other.id))
    db.session.commit()
    db.session.expire_all()
    assert_rollup_equals_live("unit deleted")


def test_retention_erasure_keeps_the_rollup_equal(app, setting, create_user, create_case):
    from models.operations.retention import erase_cases
    from models.retention import DestructionBatch

    unit, _other, roads, _water = setting
    user = create_user("admin", unit=unit)
    case = create_case(by=user, category=roads, handling_unit=unit)
    create_case(by=user, category=roads, handling_unit=unit)
    case.status = CaseStatus.archived
    case.closed_at = utcnow()
    db.session.commit()
    batch = DestructionBatch(
        number="2026-X1", case_count=1, created_at=utcnow(), created_by_id=user.id
    )
    db.session.add(batch)
    db.session.flush()
    erase_cases([case.id], batch=batch, by=user, at=utcnow())
    assert_rollup_equals_live("erased")
    db.session.commit()
    assert_rollup_equals_live("erased, committed")


def test_rebuild_command_restores_a_damaged_rollup(app, setting, create_user, create_case):
    unit, _other, roads, _water = setting
    user = create_user("admin", unit=unit)
    create_case(by=user, category=roads, handling_unit=unit)
    create_case(by=user, received_at=utcnow() - timedelta(days=3))
    good = _table_rows()
    assert sum(row[3] for row in good) == 2  # batches
    # Writes that bypass the session (raw connection) are what the rebuild is for.
    db.session.execute(sa.text("DELETE FROM case_daily_stats"))
    db.session.execute(sa.text("DELETE FROM case_monthly_stats"))
    db.session.execute(sa.text("DELETE FROM case_stat_deadlines"))
    db.session.execute(sa.text("DELETE FROM callback_daily_stats"))
    db.session.commit()
    assert _table_rows() == [] and _table_rows(CaseMonthlyStats) == []
    result = app.test_cli_runner().invoke(args=["rebuild-stats"])
    assert result.exit_code == 0, result.output
    assert "统计汇总已重建" in result.output
    db.session.expire_all()
    assert _table_rows() == good
    assert_rollup_equals_live("rebuilt")


def test_dashboard_page_from_the_rollup_matches_a_scoped_view(
    app, client, setting, create_user, create_case, login_as
):
    """The page for a user who sees everything reads the rollup and shows the live figures."""
    unit, _other, roads, _water = setting
    admin = create_user("admin", unit=unit)
    for days in (0, 3, 40):
        create_case(by=admin, category=roads, received_at=utcnow() - timedelta(days=days))
    page = login_as(admin).get("/admin/stats/").get_data(as_text=True)
    flt = st.StatsFilter(_today().replace(month=1, day=1), _today())
    live = st.summary(flt, scope=LIVE)
    assert f"{live['batches']} / {live['persons']}" in page
