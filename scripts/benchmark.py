"""Benchmark the case list screens on a large register (100,000 cases by default).

Loads generated cases into SQLite and PostgreSQL with bulk Core inserts (not through the
service layer), then times list, search and filter requests through the Flask test client,
logged in as an administrator, and prints one Markdown table per backend (SQLite twice: as
loaded, as the app leaves it, and after ``ANALYZE``; skip that with ``--no-sqlite-analyze``).

Run from the project root::

    .venv/bin/python scripts/benchmark.py --backends sqlite,postgresql --cases 100000

PostgreSQL is reached at 127.0.0.1:5432 as ``postgres`` (trust auth); the script drops and
recreates its own database ``xinfang_bench`` and never touches any other database. SQLite
uses a file under /tmp. With ``--output`` the generated section of the report is written
between the ``benchmark:start``/``benchmark:end`` markers, leaving the rest of the file alone.
"""

from __future__ import annotations

import argparse
import enum
import json
import math
import os
import platform
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from faker import Faker  # noqa: E402
from flask_admin.contrib.sqla import filters  # noqa: E402

from app import create_app  # noqa: E402
from models import Case, Category, NumberSequence, Party, Unit, case_petitioners, db  # noqa: E402
from models.base import local_zone  # noqa: E402
from models.enums import CaseChannel, CasePriority, CaseStatus, Gender, IdType  # noqa: E402
from models.maintenance.demo import SUBJECTS  # noqa: E402
from models.maintenance.presets import load_preset  # noqa: E402
from models.operations.users import create_user  # noqa: E402

SQLITE_PATH = Path(tempfile.gettempdir()) / "xinfang_bench.db"
PG_HOST, PG_PORT, PG_USER, PG_DATABASE = "127.0.0.1", 5432, "postgres", "xinfang_bench"
ADMIN_USERNAME, ADMIN_PASSWORD = "bench_admin", "bench12345"
BATCH_SIZE = 5000
SEED = 2026
GIT_STATUS = ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"]
MARK_START, MARK_END = "<!-- benchmark:start -->", "<!-- benchmark:end -->"

BENCH_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "benchmark-secret-key",
    "WTF_CSRF_ENABLED": False,
    "ARGON2_PARAMS": {"time_cost": 1, "memory_cost": 8192, "parallelism": 1},
}

CHANNEL_WEIGHTS = {
    CaseChannel.letter: 35,
    CaseChannel.visit: 20,
    CaseChannel.call: 25,
    CaseChannel.online: 12,
    CaseChannel.opinion_box: 2,
    CaseChannel.higher_assignment: 3,
    CaseChannel.leader_instruction: 2,
    CaseChannel.agent: 1,
}
PRIORITY_WEIGHTS = {CasePriority.normal: 80, CasePriority.urgent: 15, CasePriority.emergency: 5}
#: Cases older than three months are mostly finished; recent ones mostly still open.
OLD_STATUS_WEIGHTS = {
    CaseStatus.closed: 42,
    CaseStatus.archived: 28,
    CaseStatus.replied: 6,
    CaseStatus.transferred: 8,
    CaseStatus.not_accepted: 5,
    CaseStatus.no_longer_accepted: 2,
    CaseStatus.kept: 3,
    CaseStatus.returned: 2,
    CaseStatus.destroyed: 1,
    CaseStatus.in_progress: 2,
    CaseStatus.under_review: 1,
}
NEW_STATUS_WEIGHTS = {
    CaseStatus.registered: 12,
    CaseStatus.accepted: 14,
    CaseStatus.awaiting_instruction: 5,
    CaseStatus.assigned: 14,
    CaseStatus.in_progress: 25,
    CaseStatus.result_reported: 8,
    CaseStatus.replied: 8,
    CaseStatus.closed: 10,
    CaseStatus.not_accepted: 2,
    CaseStatus.transferred: 2,
}


# -- small helpers -------------------------------------------------------------------------


def weighted(rng: random.Random, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def log(message: str) -> None:
    print(message, flush=True)


@dataclass
class QueryLog:
    """SQL statements run while ``active``: count, time and the slowest one."""

    active: bool = False
    statements: list[tuple[float, str, object]] = field(default_factory=list)

    def before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def after(self, conn, cursor, statement, parameters, context, executemany):
        started = conn.info["bench_started"].pop()
        if self.active:
            self.statements.append((time.perf_counter() - started, statement, parameters))

    def reset(self) -> None:
        self.statements = []


# -- databases -----------------------------------------------------------------------------


def sqlite_url() -> str:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(SQLITE_PATH) + suffix).unlink(missing_ok=True)
    return f"sqlite:///{SQLITE_PATH}"


def postgres_url() -> str | None:
    """Drop and recreate ``xinfang_bench``; ``None`` when the server cannot be reached."""
    import psycopg

    try:
        with psycopg.connect(
            host=PG_HOST,
            port=PG_PORT,
            user=PG_USER,
            dbname="postgres",
            autocommit=True,
            connect_timeout=5,
        ) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {PG_DATABASE}")
    except psycopg.OperationalError as error:
        log(f"NOTE: PostgreSQL at {PG_HOST}:{PG_PORT} is unreachable, skipping it ({error}).")
        return None
    return f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_DATABASE}"


def server_version() -> str:
    if db.engine.dialect.name == "sqlite":
        return f"SQLite {sqlite3.sqlite_version}"
    version = db.session.execute(sa.text("SHOW server_version")).scalar()
    return f"PostgreSQL {version.split()[0]}"


# -- data ----------------------------------------------------------------------------------


@dataclass
class Loaded:
    counts: dict[str, int]
    timings: dict[str, float]
    middle_id: int
    middle_number: str
    name3: str
    name2: str


def generate_parties(
    rng: random.Random, fake: Faker, count: int, admin_id: int, now: datetime, ids=None
):
    """Party rows; ``ids`` (a second ``Random``): give about 60% of them an ID card number
    (drawn from ``ids`` so that the names and phones stay those of a run without them)."""
    rows = []
    for _ in range(count):
        gender = rng.choice([Gender.male, Gender.female])
        name = fake.name_male() if gender == Gender.male else fake.name_female()
        created = now - timedelta(days=rng.uniform(0, 730))
        rows.append(
            {
                "name": name,
                "gender": gender,
                "age": rng.randint(22, 80),
                "id_type": None,
                "id_number": None,
                **(id_card(ids) if ids is not None and ids.random() < 0.6 else {}),
                "phone": f"1{rng.choice('35789')}{rng.randrange(10**9):09d}",
                "email": None,
                "work_unit": None,
                "address": None,
                "is_repeat_petitioner": rng.random() < 0.02,
                "is_important_customer": False,
                "is_banned": False,
                "note": None,
                "created_at": created,
                "updated_at": created,
                "created_by_id": admin_id,
            }
        )
    return rows


def id_card(rng: random.Random) -> dict:
    """A resident ID card number of the right shape (18 characters, checksum included)."""
    body = (
        f"{rng.choice(['110101', '320102', '440305', '510104', '610113'])}"
        f"{rng.randint(1946, 2004)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        f"{rng.randrange(1000):03d}"
    )
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
    return {"id_type": IdType.resident_id, "id_number": body + check}


def generate_cases(rng, fake, count, *, admin_id, parties, categories, units, now, pattern, zone):
    """Rows for ``cases`` (oldest first, numbered per local year) and their petitioners."""
    sentences = [fake.sentence(nb_words=20) for _ in range(500)]
    places = [fake.street_name() for _ in range(300)] + [""] * 300
    start = now - timedelta(days=730)
    span = (now - timedelta(hours=1) - start).total_seconds()
    received = sorted(start + timedelta(seconds=rng.uniform(0, span)) for _ in range(count))
    three_months_ago = now - timedelta(days=90)
    sequences: dict[int, int] = defaultdict(int)
    rows, petitioners = [], []
    for when in received:
        when = when.replace(microsecond=0)
        year = when.astimezone(zone).year
        sequences[year] += 1
        seq = sequences[year]
        category_name, subject, demands = rng.choice(SUBJECTS)
        anonymous = rng.random() < 0.04
        group = not anonymous and rng.random() < 0.03
        if anonymous:
            chosen = []
        else:
            how_many = rng.randint(3, 5) if group else rng.choices([1, 2, 3], weights=[90, 7, 3])[0]
            chosen = rng.sample(parties, k=how_many)
        names = "、".join(name for _, name in chosen)[:400] or None
        created = min(when + timedelta(minutes=rng.randint(5, 240)), now)
        deleted = rng.random() < 0.005
        status = weighted(
            rng, OLD_STATUS_WEIGHTS if when < three_months_ago else NEW_STATUS_WEIGHTS
        )
        rows.append(
            {
                "number": pattern.format(year=year, seq=seq),
                "register": "case",
                "register_year": year,
                "register_seq": seq,
                "channel": weighted(rng, CHANNEL_WEIGHTS),
                "category_id": categories.get(category_name),
                "priority": weighted(rng, PRIORITY_WEIGHTS),
                "status": status,
                "is_important": rng.random() < 0.10,
                "is_major": rng.random() < 0.02,
                "is_difficult": rng.random() < 0.03,
                "is_sensitive": rng.random() < 0.02,
                "is_anonymous": anonymous,
                "is_group": group,
                "head_count": rng.randint(5, 30) if group else 1,
                "subject": (rng.choice(places) + subject)[:200],
                "content": f"{names or '匿名信访人'}反映：{subject}。{rng.choice(sentences)}",
                "demands": demands,
                "received_at": when,
                "petitioner_names": names,
                "agent_id": None,
                "handling_unit_id": rng.choice(units) if rng.random() < 0.7 else None,
                "handler_id": admin_id if rng.random() < 0.05 else None,
                "version": 1,
                "created_at": created,
                "updated_at": created,
                "created_by_id": admin_id,
                "is_deleted": deleted,
                "deleted_at": created if deleted else None,
                "deleted_by_id": admin_id if deleted else None,
            }
        )
        petitioners.append([party_id for party_id, _ in chosen])
    return rows, petitioners, dict(sequences)


def _copy_value(value):
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


def copy_rows(table: sa.Table, rows: list[dict]) -> None:
    """``COPY … FROM STDIN`` on PostgreSQL (psycopg), in the session's transaction."""
    columns = list(rows[0])
    # Python-side column defaults, which ``insert()`` would have filled in.
    defaults = {}
    for column in table.columns:
        if column.name in rows[0] or column.default is None:
            continue
        if column.default.is_scalar:
            defaults[column.name] = column.default.arg
        elif column.default.is_callable:
            defaults[column.name] = column.default.arg(None)
    if defaults:
        rows = [{**defaults, **row} for row in rows]
        columns = list(rows[0])
    names = ", ".join(f'"{name}"' for name in columns)
    driver = db.session.connection().connection.driver_connection
    statement = f'COPY "{table.name}" ({names}) FROM STDIN'
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([_copy_value(row[name]) for name in columns])


def insert_batches(table: sa.Table, rows: list[dict]) -> None:
    """Bulk insert: ``COPY`` on PostgreSQL, ``executemany`` batches elsewhere."""
    if rows and db.session.get_bind().dialect.name == "postgresql":
        copy_rows(table, rows)
        return
    for offset in range(0, len(rows), BATCH_SIZE):
        db.session.execute(sa.insert(table), rows[offset : offset + BATCH_SIZE])


def load(
    app,
    case_count: int,
    *,
    create_schema: bool = True,
    analyze: bool = True,
    id_numbers: bool = False,
    case_hook=None,
) -> Loaded:
    """Load ``case_count`` generated cases with bulk Core inserts.

    ``create_schema=False``: the schema is already there (e.g. made by the real migrations).
    ``analyze=False``: leave ``VACUUM ANALYZE`` to the caller (which adds more rows first).
    ``id_numbers``: give about 60% of the parties an ID card number.
    ``case_hook(row)``: called on each generated case row before it is inserted (to add
    columns, e.g. custom values or closing times, without updating the rows afterwards)."""
    timings: dict[str, float] = {}
    with app.app_context():
        started = time.perf_counter()
        if create_schema:
            db.create_all()
        load_preset("government")
        admin = create_user(
            username=ADMIN_USERNAME,
            full_name="基准测试管理员",
            password=ADMIN_PASSWORD,
            role_codes=["admin"],
        )
        db.session.commit()
        admin_id = admin.id
        timings["schema, preset, admin"] = time.perf_counter() - started

        started = time.perf_counter()
        rng = random.Random(SEED)
        Faker.seed(SEED)
        fake = Faker("zh_CN")
        # Midnight UTC today: both backends of one run get identical data (and numbers).
        now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        zone = local_zone()
        pattern = db.session.scalar(
            sa.text("SELECT value FROM system_settings WHERE key = 'case_number_pattern'")
        )
        categories = dict(db.session.execute(sa.select(Category.name, Category.id)).all())
        units = db.session.scalars(sa.select(Unit.id).where(Unit.parent_id.is_not(None))).all()
        party_rows = generate_parties(
            rng,
            fake,
            max(case_count // 5, 10),
            admin_id,
            now,
            ids=random.Random(SEED + 1) if id_numbers else None,
        )
        timings["generate parties"] = time.perf_counter() - started

        started = time.perf_counter()
        insert_batches(Party.__table__, party_rows)
        db.session.commit()
        parties = db.session.execute(sa.select(Party.id, Party.name).order_by(Party.id)).all()
        timings["insert parties"] = time.perf_counter() - started

        started = time.perf_counter()
        case_rows, petitioners, sequences = generate_cases(
            rng,
            fake,
            case_count,
            admin_id=admin_id,
            parties=[tuple(row) for row in parties],
            categories=categories,
            units=units,
            now=now,
            pattern=pattern,
            zone=zone,
        )
        if case_hook is not None:
            for row in case_rows:
                case_hook(row)
        timings["generate cases"] = time.perf_counter() - started

        started = time.perf_counter()
        insert_batches(Case.__table__, case_rows)
        db.session.execute(
            sa.insert(NumberSequence.__table__),
            [
                {"register": "case", "year": year, "last_value": last}
                for year, last in sequences.items()
            ],
        )
        db.session.commit()
        timings["insert cases"] = time.perf_counter() - started

        started = time.perf_counter()
        ids = dict(db.session.execute(sa.select(Case.number, Case.id)).all())
        links = [
            {"case_id": ids[row["number"]], "party_id": party_id}
            for row, party_ids in zip(case_rows, petitioners, strict=True)
            for party_id in party_ids
        ]
        insert_batches(case_petitioners, links)
        db.session.commit()
        timings["insert case_petitioners"] = time.perf_counter() - started

        if analyze and db.engine.dialect.name == "postgresql":
            started = time.perf_counter()
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE"))
            timings["VACUUM ANALYZE"] = time.perf_counter() - started

        counts = {
            table: db.session.execute(
                sa.select(sa.func.count()).select_from(sa.table(table))
            ).scalar()
            for table in (
                "cases",
                "parties",
                "case_petitioners",
                "number_sequences",
                "units",
                "categories",
            )
        }
        index = len(case_rows) // 2
        while case_rows[index]["is_deleted"]:
            index += 1
        middle = case_rows[index]
        names = [name for _, name in parties]
        # The petitioner of the middle case (or the nearest one) with a three-character name.
        name3 = next(
            n
            for row in case_rows[index:]
            for n in (row["petitioner_names"] or "").split("、")
            if len(n) == 3
        )
        name2 = next(n for n in names[len(names) // 2 :] if len(n) == 2)
        db.session.remove()
    return Loaded(
        counts=counts,
        timings=timings,
        middle_id=ids[middle["number"]],
        middle_number=middle["number"],
        name3=name3,
        name2=name2,
    )


# -- requests ------------------------------------------------------------------------------


@dataclass
class Result:
    label: str
    url: str
    p50: float
    p95: float
    queries: str
    shown: int
    matching: int
    slowest_sql: tuple[str, object] | None = None
    sql_p50: float = 0.0
    plan: list[str] = field(default_factory=list)


DETAIL_LINK = re.compile(r"/admin/case/details/\?id=(\d+)")


def shown_ids(html: str) -> set[int]:
    return {int(match) for match in DETAIL_LINK.findall(html)}


def status_filter_arg(app, status: CaseStatus) -> str:
    """The ``flt<pos>_<arg>`` name of the CaseView filter 'status equals'."""
    view = next(
        v for v in app.extensions["admin"][0]._views if getattr(v, "endpoint", None) == "case"
    )
    with app.test_request_context():
        view._refresh_filters_cache()
        for index, flt in enumerate(view._filters):
            # FilterEqual or a subclass of it (the app may wrap it), on the status column.
            if (
                isinstance(flt, filters.FilterEqual)
                and getattr(flt.column, "key", None) == "status"
            ):
                return f"flt0_{view.get_filter_arg(index, flt)}"
    raise LookupError("status filter not found on CaseView")


def measure(
    client, queries: QueryLog, label, url, *, repeat, warmup, expect_ids, matching
) -> Result:
    for _ in range(warmup):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
    elapsed, counts = [], []
    slowest: tuple[float, str, object] = (0.0, "", None)
    html = ""
    for _ in range(repeat):
        queries.reset()
        queries.active = True
        started = time.perf_counter()
        response = client.get(url)
        elapsed.append((time.perf_counter() - started) * 1000)
        queries.active = False
        assert response.status_code == 200, (url, response.status_code)
        counts.append(len(queries.statements))
        # The list query itself (not the user or settings lookups) is the one to explain.
        listing = [s for s in queries.statements if "FROM cases" in s[1]] or queries.statements
        slowest = max([slowest, *listing], key=lambda s: s[0])
        html = response.get_data(as_text=True)
    ids = shown_ids(html)
    if expect_ids is not None:
        assert expect_ids(ids, html), f"{label}: unexpected rows {sorted(ids)[:25]}"
    low, high = min(counts), max(counts)
    return Result(
        label=label,
        url=url,
        p50=statistics.median(elapsed),
        p95=percentile(elapsed, 95),
        queries=str(low) if low == high else f"{statistics.median(counts):g} ({low}–{high})",
        shown=len(ids),
        matching=matching,
        slowest_sql=(slowest[1], slowest[2]),
    )


def time_statement(statement: str, parameters, repeat: int) -> float:
    """Median ms to execute *and fetch* one statement directly through the driver.

    A cursor listener cannot time this: SQLite does most of a streamed plan's work while rows
    are fetched, after ``after_cursor_execute``. On PostgreSQL the statement is not prepared:
    psycopg would prepare it after 5 runs on one connection and PostgreSQL could then switch
    to a generic plan, which requests never get (each request ends in a ROLLBACK, and that
    clears psycopg's prepared-statement cache).
    """
    times = []
    with db.engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        options = {"prepare": False} if conn.dialect.name == "postgresql" else {}
        for attempt in range(repeat + 1):
            started = time.perf_counter()
            cursor.execute(statement, parameters, **options)
            cursor.fetchall()
            if attempt:
                times.append((time.perf_counter() - started) * 1000)
        cursor.close()
    return statistics.median(times)


def explain(statement: str, parameters) -> list[str]:
    with db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            return [f"{'  ' * (1 if row[1] else 0)}{row[3]}" for row in rows]
        rows = conn.exec_driver_sql(
            "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, parameters
        ).all()
        return [row[0] for row in rows]


def count_where(condition) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Case).where(Case.is_deleted.is_(False), condition)
    )


def like(term: str):
    pattern = f"%{term}%"
    return sa.or_(Case.subject.ilike(pattern), Case.petitioner_names.ilike(pattern))


def run_requests(
    app, loaded: Loaded, *, repeat: int, warmup: int
) -> tuple[list[Result], tuple[float, float]]:
    """Time every scenario; return the results and the load average before and after."""
    client = app.test_client()
    response = client.post(
        "/admin/login/", data={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 302, f"login failed: {response.status_code}"
    queries = QueryLog()
    common, rare = CaseStatus.in_progress, CaseStatus.under_review
    # Requests run outside any app context, each in its own (and its own session), as in
    # production; everything the script itself asks the database happens in separate contexts.
    with app.app_context():
        engine = db.engine
        newest_id = db.session.scalar(
            sa.select(Case.id)
            .where(Case.is_deleted.is_(False))
            .order_by(Case.received_at.desc(), Case.id.desc())
            .limit(1)
        )
        with_status = {
            s: set(db.session.scalars(sa.select(Case.id).where(Case.status == s)))
            for s in (common, rare)
        }
        scenarios = [
            (
                "1. case list, page 1",
                "/admin/case/",
                lambda ids, html: newest_id in ids and len(ids) == 20,
                count_where(sa.true()),
            ),
            (
                f"2. number search `{loaded.middle_number}`",
                f"/admin/case/?search={loaded.middle_number}",
                # The number as the link the list renders, not the echoed search term.
                lambda ids, html: (
                    ids == {loaded.middle_id} and f">{loaded.middle_number}</a>" in html
                ),
                count_where(Case.number == loaded.middle_number),
            ),
            (
                f"3a. name search, 3 chars `{loaded.name3}`",
                f"/admin/case/?search={loaded.name3}",
                None,
                count_where(like(loaded.name3)),
            ),
            (
                f"3b. name search, 2 chars `{loaded.name2}`",
                f"/admin/case/?search={loaded.name2}",
                None,
                count_where(like(loaded.name2)),
            ),
            (
                "3c. search without match `赵钱孙李`",
                "/admin/case/?search=赵钱孙李",
                lambda ids, html: not ids,
                0,
            ),
            (
                f"4a. status filter `{common.value}`",
                f"/admin/case/?{status_filter_arg(app, common)}={common.value}",
                lambda ids, html: len(ids) == 20 and ids <= with_status[common],
                count_where(Case.status == common),
            ),
            (
                f"4b. status filter `{rare.value}` (rare)",
                f"/admin/case/?{status_filter_arg(app, rare)}={rare.value}",
                lambda ids, html: ids and ids <= with_status[rare],
                count_where(Case.status == rare),
            ),
        ]
        db.session.remove()
    sa.event.listen(engine, "before_cursor_execute", queries.before)
    sa.event.listen(engine, "after_cursor_execute", queries.after)
    results = []
    started_load = os.getloadavg()[0]
    for label, url, check, matching in scenarios:
        if check is None:
            expected = min(matching, 20)

            def check(ids, html, expected=expected):
                return len(ids) == expected

        result = measure(
            client,
            queries,
            label,
            url,
            repeat=repeat,
            warmup=warmup,
            expect_ids=check,
            matching=matching,
        )
        if result.shown != min(result.matching, 20):
            raise AssertionError(f"{label}: shows {result.shown} rows, {result.matching} match")
        with app.app_context():
            result.plan = explain(*result.slowest_sql)
            result.sql_p50 = time_statement(*result.slowest_sql, repeat=repeat)
        results.append(result)
        log(
            f"  {label}: p50 {result.p50:.1f} ms, p95 {result.p95:.1f} ms, "
            f"list SQL {result.sql_p50:.1f} ms, {result.queries} queries"
        )
    sa.event.remove(engine, "before_cursor_execute", queries.before)
    sa.event.remove(engine, "after_cursor_execute", queries.after)
    return results, (started_load, os.getloadavg()[0])


# -- report --------------------------------------------------------------------------------


@dataclass
class BackendReport:
    name: str
    version: str
    loaded: Loaded
    results: list[Result]
    load_average: tuple[float, float] = (0.0, 0.0)


def markdown_table(report: BackendReport, repeat: int, warmup: int) -> str:
    lines = [
        f"### {report.version}",
        "",
        f"{repeat} timed requests each after {warmup} warm-ups; times in ms, wall clock through "
        "the Flask test client (SQL + ORM + template rendering). *list SQL* is the list query "
        f"alone: the same statement and parameters executed and fetched {repeat} times directly "
        "through the driver (median). *queries* counts every SQL statement per request. "
        "1-minute load average before/after: "
        f"{report.load_average[0]:.2f} / {report.load_average[1]:.2f}.",
        "",
        "| request | p50 | p95 | list SQL | queries | rows shown / matching |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in report.results:
        lines.append(
            f"| {r.label} | {r.p50:.1f} | {r.p95:.1f} | {r.sql_p50:.1f} | {r.queries} | "
            f"{r.shown} / {r.matching:,} |"
        )
    return "\n".join(lines)


def code_version() -> str:
    """The commit measured, and whether the app code had uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        changed = subprocess.run(
            [*GIT_STATUS, "--", "app.py", "models", "admin_views", "templates"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head} (with uncommitted changes to the app)" if changed else head


def render_report(
    reports: list[BackendReport], tables: list[BackendReport], args, skipped: list[str]
) -> str:
    """``reports``: one per loaded database; ``tables``: every measured run (with variants)."""
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        models = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = models[0] if models else cpu
    out = [
        MARK_START,
        f"Generated by `scripts/benchmark.py --backends {args.backends} --cases {args.cases}` on "
        f"{datetime.now(UTC).astimezone(local_zone()):%Y-%m-%d %H:%M} (Asia/Shanghai).",
        "",
        f"- Machine: {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}",
        f"- Code: commit {code_version()}",
        *(f"- {r.name}: {r.version}" for r in reports),
        *(f"- {name}: skipped (unreachable)" for name in skipped),
        "",
        "## Data loaded",
        "",
        "| table | " + " | ".join(r.name for r in reports) + " |",
        "|---|" + "---:|" * len(reports),
    ]
    if reports:
        for table in reports[0].loaded.counts:
            out.append(
                f"| {table} | " + " | ".join(f"{r.loaded.counts[table]:,}" for r in reports) + " |"
            )
        out += [
            "",
            "Load time in seconds:",
            "",
            "| step | " + " | ".join(r.name for r in reports) + " |",
        ]
        out.append("|---|" + "---:|" * len(reports))
        steps = list(dict.fromkeys(step for r in reports for step in r.loaded.timings))
        for step in steps:
            cells = [
                f"{r.loaded.timings[step]:.1f}" if step in r.loaded.timings else "–"
                for r in reports
            ]
            out.append(f"| {step} | " + " | ".join(cells) + " |")
        totals = [f"**{sum(r.loaded.timings.values()):.1f}**" for r in reports]
        out.append("| **total** | " + " | ".join(totals) + " |")
    out += ["", "## Requests", ""]
    for report in tables:
        out += [markdown_table(report, args.repeat, args.warmup), ""]
    out += ["## Query plans of the list query per request", ""]
    for report in tables:
        out += [f"<details><summary>{report.version}</summary>", ""]
        for r in report.results:
            out += [f"**{r.label}** (`{r.url}`)", "", "```", *r.plan, "```", ""]
        out += ["</details>", ""]
    out.append(MARK_END)
    return "\n".join(out)


def write_report(path: Path, section: str) -> None:
    if path.exists() and MARK_START in (text := path.read_text()) and MARK_END in text:
        before, rest = text.split(MARK_START, 1)
        after = rest.split(MARK_END, 1)[1]
        path.write_text(before + section + after)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# Benchmarks\n\n{section}\n")
    log(f"Report written to {path}")


# -- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--backends", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql"
    )
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per scenario")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests before timing")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="Markdown report to update (e.g. docs/benchmarks.md)",
    )
    parser.add_argument(
        "--no-sqlite-analyze",
        dest="sqlite_analyze",
        action="store_false",
        help="skip the second SQLite run after ANALYZE (planner statistics)",
    )
    args = parser.parse_args(argv)
    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = set(backends) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")

    reports, tables, skipped = [], [], []
    for name in backends:
        url = sqlite_url() if name == "sqlite" else postgres_url()
        if url is None:
            skipped.append(name)
            continue
        log(f"== {name}: loading {args.cases:,} cases")
        app = create_app({**BENCH_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
        loaded = load(app, args.cases)
        for step, seconds in loaded.timings.items():
            log(f"  {step}: {seconds:.1f} s")
        with app.app_context():
            version = server_version()
        log(f"== {name}: measuring ({version})")
        results, load_average = run_requests(app, loaded, repeat=args.repeat, warmup=args.warmup)
        report = BackendReport(
            name=name,
            version=version,
            loaded=loaded,
            results=results,
            load_average=load_average,
        )
        reports.append(report)
        tables.append(report)
        print()
        print(markdown_table(report, args.repeat, args.warmup))
        print()
        if name == "sqlite" and args.sqlite_analyze:
            # The app never runs ANALYZE on SQLite; measure what planner statistics change.
            with app.app_context():
                started = time.perf_counter()
                db.session.execute(sa.text("ANALYZE"))
                db.session.commit()
                seconds = time.perf_counter() - started
            log(f"== sqlite: measuring again after ANALYZE ({seconds:.1f} s)")
            results, load_average = run_requests(
                app, loaded, repeat=args.repeat, warmup=args.warmup
            )
            variant = BackendReport(
                name="sqlite after ANALYZE",
                version=f"{version}, after ANALYZE",
                loaded=loaded,
                results=results,
                load_average=load_average,
            )
            tables.append(variant)
            print()
            print(markdown_table(variant, args.repeat, args.warmup))
            print()
        with app.app_context():
            db.engine.dispose()

    if args.output is not None:
        write_report(args.output, render_report(reports, tables, args, skipped))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
