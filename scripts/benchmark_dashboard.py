"""Benchmark the statistics dashboard (统计看板) and a report on 100,000 cases.

Reuses ``scripts/benchmark.py`` to load the register (bulk Core inserts), then adds what the
dashboard reads and the list benchmark does not have: closing, acceptance and instruction
times, one handling clock per handled case (some stopped late, some running past due) and the
callback tasks of closed cases with their verdicts. Times the whole dashboard request and the
XLSX monthly report through the Flask test client, for several filters, and prints a Markdown
table per backend.

The loaders write through raw connections, so the statistics rollup (``case_daily_stats``) is
rebuilt afterwards and its rebuild time printed. ``--compare`` also times the dashboard's
figures (breakdown, summary, dimensions, recurring problems) computed live from the cases against
the same figures from the rollup, for one year and for one year and one unit, and checks that
they are equal.

Run from the project root::

    .venv/bin/python scripts/benchmark_dashboard.py --backends sqlite,postgresql --cases 100000

PostgreSQL: the script drops and recreates its own database (``--pg-database``, default
``xinfang_bench_dashboard``) at 127.0.0.1:5432 and touches no other. SQLite uses a temp file.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import benchmark as base  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from app import create_app  # noqa: E402
from models import Callback, Case, CaseClock, Unit, User, db  # noqa: E402
from models.base import local_zone  # noqa: E402
from models.enums import CaseStatus, Clock, Satisfaction, TimeUnit  # noqa: E402

CLOSED = {CaseStatus.closed.value, CaseStatus.archived.value}
HANDLED = CLOSED | {
    CaseStatus.in_progress.value,
    CaseStatus.assigned.value,
    CaseStatus.result_reported.value,
    CaseStatus.replied.value,
    CaseStatus.under_review.value,
}


def enrich(app, seed: int = 7) -> dict[str, int]:
    """Add closing data, clocks and callbacks to the loaded cases (bulk, like the loader)."""
    rng = random.Random(seed)
    with app.app_context():
        now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        rows = db.session.execute(
            sa.select(Case.id, Case.status, Case.received_at, Case.handling_unit_id)
        ).all()
        updates, clocks, callbacks = [], [], []
        for case_id, status, received, _unit in rows:
            status = status.value if hasattr(status, "value") else status
            if status not in HANDLED:
                continue
            accepted = received + timedelta(hours=rng.randint(1, 48))
            closed = None
            if status in CLOSED:
                closed = min(received + timedelta(days=rng.uniform(1, 40)), now)
            update = {
                "b_id": case_id,
                "accepted_at": accepted,
                "instructed_at": accepted + timedelta(hours=8) if rng.random() < 0.9 else None,
                "closed_at": closed,
                "last_satisfaction": None,
            }
            updates.append(update)
            due = accepted + timedelta(days=7)
            stopped = closed if closed is not None else None
            clocks.append(
                {
                    "case_id": case_id,
                    "kind": Clock.handling.value,
                    "started_at": accepted,
                    "due_at": due,
                    "stopped_at": stopped,
                    "amount": 7,
                    "unit": TimeUnit.calendar_days.value,
                    "extension": 0,
                    "extension_count": 0,
                    "paused_amount": 0,
                }
            )
            if closed is not None:
                done = closed + timedelta(days=rng.randint(1, 6))
                finished = done < now and rng.random() < 0.9
                verdict = (
                    rng.choices([s.value for s in Satisfaction], weights=[70, 20, 10])[0]
                    if finished
                    else None
                )
                update["last_satisfaction"] = verdict
                callbacks.append(
                    {
                        "case_id": case_id,
                        "due_on": (closed + timedelta(days=7)).date(),
                        "method": "phone",
                        "origin": "on_close",
                        "done_at": done if finished else None,
                        "satisfaction": verdict,
                        "problem_remains": False,
                        "charges_checked": False,
                        "signature_obtained": False,
                        "follow_up": "none",
                        "is_deleted": False,
                        "created_at": closed,
                        "updated_at": closed,
                    }
                )
        table = Case.__table__
        statement = (
            table.update()
            .where(table.c.id == sa.bindparam("b_id"))
            .values(
                accepted_at=sa.bindparam("accepted_at"),
                instructed_at=sa.bindparam("instructed_at"),
                closed_at=sa.bindparam("closed_at"),
                last_satisfaction=sa.bindparam("last_satisfaction"),
            )
        )
        connection = db.session.connection()
        for offset in range(0, len(updates), base.BATCH_SIZE):
            connection.execute(statement, updates[offset : offset + base.BATCH_SIZE])
        base.insert_batches(CaseClock.__table__, clocks)
        base.insert_batches(Callback.__table__, callbacks)
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE"))
        counts = {
            "handled cases": len(updates),
            "clocks": len(clocks),
            "callbacks": len(callbacks),
        }
        db.session.remove()
    return counts


def rebuild_rollup(app) -> tuple[float, int]:
    from models.case_stats import rebuild

    with app.app_context():
        started = time.perf_counter()
        groups = rebuild()
        db.session.commit()
        elapsed = time.perf_counter() - started
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in (
                    "case_daily_stats",
                    "case_monthly_stats",
                    "case_stat_deadlines",
                    "callback_daily_stats",
                ):
                    conn.execute(sa.text(f"VACUUM ANALYZE {table}"))
        db.session.remove()
    return elapsed, groups


def compare_live_and_rollup(app, repeat: int) -> list[tuple[str, float, float]]:
    """The dashboard's figures, live from the cases vs from the rollup (median seconds)."""
    from models.queries import statistics as st

    live_scope = Case.id.is_not(None)  # every case, but not sa.true(): counted live

    def figures(flt, scope):
        rows = st.breakdown(flt, scope=scope)
        summary = st.summary(flt, scope=scope, breakdown=rows)
        summary["average_days"] = round(summary["average_days"] or 0, 6)
        grouped = st.dimensions(flt, scope=scope)
        return (
            summary,
            st.by_unit(flt, scope=scope, breakdown=rows),
            st.by_channel(flt, rows=grouped),
            st.by_category(flt, rows=grouped),
            st.by_month(flt, rows=grouped),
            st.recurring_problems(flt, scope=scope, limit=None),
        )

    def timed(flt, scope):
        timings = []
        for _ in range(repeat):
            started = time.perf_counter()
            result = figures(flt, scope)
            timings.append(time.perf_counter() - started)
            db.session.rollback()
        return statistics.median(timings), result

    results = []
    with app.app_context():
        today = datetime.now(local_zone()).date()
        unit = db.session.scalar(
            sa.select(Case.handling_unit_id)
            .where(Case.handling_unit_id.is_not(None))
            .group_by(Case.handling_unit_id)
            .order_by(sa.func.count().desc())
            .limit(1)
        )
        year = st.StatsFilter(today - timedelta(days=365), today)
        for label, flt in (
            ("figures, one year", year),
            ("figures, one year, one unit", st.with_period(year, year.start, year.end)),
        ):
            if "unit" in label:
                flt = st.StatsFilter(flt.start, flt.end, unit_id=unit)
            live, live_result = timed(flt, live_scope)
            rolled, rolled_result = timed(flt, None)
            assert live_result == rolled_result, f"{label}: rollup differs from live"
            results.append((label, live, rolled))
        db.session.remove()
    return results


def scenarios(app) -> list[tuple[str, str]]:
    with app.app_context():
        today = datetime.now(local_zone()).date()
        unit = db.session.scalar(
            sa.select(Case.handling_unit_id)
            .where(Case.handling_unit_id.is_not(None))
            .group_by(Case.handling_unit_id)
            .order_by(sa.func.count().desc())
            .limit(1)
        )
        category = db.session.scalar(
            sa.select(Case.category_id)
            .where(Case.category_id.is_not(None))
            .group_by(Case.category_id)
            .order_by(sa.func.count().desc())
            .limit(1)
        )
        unit_name = db.session.get(Unit, unit).name
    two_years = f"start={(today - timedelta(days=730)).isoformat()}&end={today.isoformat()}"
    this_year = f"start={date(today.year, 1, 1).isoformat()}&end={today.isoformat()}"
    month = f"start={today.replace(day=1).isoformat()}&end={today.isoformat()}"
    return [
        ("dashboard, default (this year)", "/admin/stats/"),
        ("dashboard, two years (all cases)", f"/admin/stats/?{two_years}"),
        (f"dashboard, two years, unit {unit_name}", f"/admin/stats/?{two_years}&unit={unit}"),
        ("dashboard, two years, one category", f"/admin/stats/?{two_years}&category={category}"),
        ("dashboard, this month", f"/admin/stats/?{month}"),
        (
            "monthly report XLSX, this year",
            f"/admin/stats/report/?kind=monthly&format=xlsx&{this_year}",
        ),
        ("drill-down list: overdue, two years", None),  # filled in from the dashboard's own link
    ]


def time_requests(app, repeat: int, warmup: int) -> list[tuple[str, float, float, int]]:
    import html
    import re

    results = []
    with app.app_context():
        admin = db.session.scalar(sa.select(User).where(User.username == base.ADMIN_USERNAME))
        token = admin.session_token
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = token
        session["_fresh"] = True
    plan = scenarios(app)
    two_years_url = plan[1][1]
    for label, url in plan:
        if url is None:
            page = client.get(two_years_url).get_data(as_text=True)
            url = html.unescape(re.search(r'href="([^"]*m%3Doverdue)"', page).group(1))
        for _ in range(warmup):
            assert client.get(url).status_code == 200, url
        timings = []
        size = 0
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get(url)
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200, url
            size = len(response.data)
        timings.sort()
        p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
        results.append((label, statistics.median(timings), p95, size))
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--pg-database", default="xinfang_bench_dashboard")
    parser.add_argument(
        "--compare", action="store_true", help="also time the figures live vs from the rollup"
    )
    parser.add_argument("--skip-requests", action="store_true", help="only --compare")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="PostgreSQL: time the database a previous run loaded (no reload; rollup rebuilt)",
    )
    args = parser.parse_args(argv)
    base.PG_DATABASE = args.pg_database
    base.SQLITE_PATH = Path(tempfile.gettempdir()) / "xinfang_bench_dashboard.db"
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if args.reuse and name == "postgresql":
            url = f"postgresql+psycopg://{base.PG_USER}@{base.PG_HOST}:{base.PG_PORT}/"
            app = create_app(
                {**base.BENCH_CONFIG, "SQLALCHEMY_DATABASE_URI": url + base.PG_DATABASE}
            )
            with app.app_context():
                db.create_all()  # tables added since the load
                extra = {
                    "callbacks": db.session.scalar(sa.select(sa.func.count(Callback.id))),
                    "clocks": db.session.scalar(sa.select(sa.func.count(CaseClock.id))),
                }
                args.cases = db.session.scalar(sa.select(sa.func.count(Case.id)))
                db.session.remove()
            base.log(f"== {name}: reusing {args.cases:,} cases in {base.PG_DATABASE}")
        else:
            url = base.sqlite_url() if name == "sqlite" else base.postgres_url()
            if url is None:
                continue
            base.log(f"== {name}: loading {args.cases:,} cases")
            app = create_app({**base.BENCH_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
            started = time.perf_counter()
            loaded = base.load(app, args.cases)
            extra = enrich(app)
            elapsed = time.perf_counter() - started
            base.log(f"  loaded in {elapsed:.1f} s: {loaded.counts} {extra}")
        rebuilt, groups = rebuild_rollup(app)
        base.log(f"  statistics rollup rebuilt in {rebuilt:.1f} s: {groups:,} rows")
        with app.app_context():
            version = base.server_version()
        if args.compare:
            print(f"\n### {version}: {args.cases:,} cases, rollup {groups:,} rows\n")
            print(f"| figures ({args.repeat} timed) | live | rollup | ratio |")
            print("|---|---:|---:|---:|")
            for label, live, rolled in compare_live_and_rollup(app, args.repeat):
                print(
                    f"| {label} | {live * 1000:.0f} ms | {rolled * 1000:.0f} ms "
                    f"| {live / rolled:.1f}× |"
                )
            print()
        if args.skip_requests:
            with app.app_context():
                db.engine.dispose()
            continue
        results = time_requests(app, args.repeat, args.warmup)
        print(
            f"\n### {version}: {args.cases:,} cases, {extra['callbacks']:,} callbacks, "
            f"{extra['clocks']:,} clocks\n"
        )
        print(f"| request ({args.repeat} timed, {args.warmup} warm-up) | p50 | p95 | bytes |")
        print("|---|---:|---:|---:|")
        for label, p50, p95, size in results:
            print(f"| {label} | {p50 * 1000:.0f} ms | {p95 * 1000:.0f} ms | {size:,} |")
        print()
        with app.app_context():
            db.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
