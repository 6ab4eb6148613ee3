"""HTTP benchmark: our case screens beside a stock Flask-Admin view, one gunicorn, 20 clients.

What it does, from the project root::

    .venv/bin/python scripts/benchmark_http.py                  # 1,000,000 cases
    .venv/bin/python scripts/benchmark_http.py --cases 50000    # a quick run
    .venv/bin/python scripts/benchmark_http.py --cases 200000 --output docs/benchmarks.md

1. Drops and recreates its own PostgreSQL database (``--database``, default
   ``xinfang_http_bench`` at 127.0.0.1:5432, user ``postgres``; no other database is touched)
   and builds the schema with the real migrations (``flask db upgrade``).
2. Loads the government preset, an administrator and N generated cases with bulk Core inserts
   (``scripts/benchmark.py``'s generator: parties with phones and ID card numbers, petitioners,
   a custom field value on every case, acceptance and closing times), then adds with
   ``INSERT … SELECT`` a letter for each letter-channel case, a handling clock per handled case,
   callbacks of closed cases, timeline events (every case; a longer history on one in ten) and
   formal replies of replied and closed cases. Then ``VACUUM ANALYZE``, and every
   ``flask rebuild-*`` command the app offers (search indexes, statistics rollups: found at run
   time, so later branches' derived tables are filled too), then ``ANALYZE`` again.
3. Serves ``scripts/bench_wsgi.py`` (our app, and a stock ``ModelView`` of ``Case`` at
   ``/stock``) with gunicorn, 2 workers x 4 threads (gthread), bound to 127.0.0.1 on a free port.
4. Drives both with 20 client threads (each logged in once, keeping its session cookie, one
   keep-alive connection each). Each row runs in alternating bursts (ours, stock, stock, ours)
   so that both sides see the same machine load; a burst stops after its share of
   ``--requests`` or ``--seconds``, whichever comes first (requests in flight finish).
5. Prints a Markdown table (p50, p95, requests/s, errors, ratios) and with ``--output`` writes it
   between the ``benchmark-http:start``/``benchmark-http:end`` markers of that file.

Rows without a stock equivalent (dashboard, reply letter PDF, register PDF, custom-field filter:
Flask-Admin cannot filter on a key of a JSON column) show ours only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import benchmark as base  # noqa: E402
import sqlalchemy as sa  # noqa: E402

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/"
MARK_START, MARK_END = "<!-- benchmark-http:start -->", "<!-- benchmark-http:end -->"
CUSTOM_KEY, CUSTOM_LABEL = "involved_group", "涉及群体"
CUSTOM_CHOICES = {"企业职工": 40, "农民": 30, "城镇居民": 24, "农民工": 4, "退役军人": 2}
CUSTOM_PROBE = "退役军人"
HANDLED = {"closed", "archived", "in_progress", "assigned", "result_reported", "replied"}
CLOSED = {"closed", "archived"}
REGISTER_ROWS = 1000
BULK_TABLES = (
    "cases",
    "parties",
    "case_petitioners",
    "letters",
    "case_clocks",
    "callbacks",
    "case_events",
    "case_replies",
)
#: CLI commands that fill derived tables (search index, statistics rollup) from the cases.
REBUILD = re.compile(r"^(rebuild|reindex)|^refresh-(stat|search)|(bigram|search-index)")
LIST_LINK = {
    "ours": re.compile(r"/admin/case/details/\?id=(\d+)"),
    "stock": re.compile(r"/stock/case/details/\?id=(\d+)"),
}


def log(message: str) -> None:
    print(message, flush=True)


# -- database ------------------------------------------------------------------------------


def recreate_database(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or name in ("test", "postgres"):
        raise SystemExit(f"refusing to use database {name!r}")
    engine = sa.create_engine(PG + "postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return PG + name


def case_hook(rng: random.Random, now: datetime):
    """Columns the generator leaves empty: a custom field value, acceptance and closing."""
    choices, weights = list(CUSTOM_CHOICES), list(CUSTOM_CHOICES.values())
    satisfaction = ["satisfied", "basically_satisfied", "dissatisfied"]

    def hook(row: dict) -> None:
        status = row["status"].value
        row["custom_values"] = {CUSTOM_KEY: rng.choices(choices, weights=weights)[0]}
        accepted = instructed = closed = verdict = None
        if status in HANDLED:
            accepted = row["received_at"] + timedelta(hours=rng.randint(1, 48))
            instructed = accepted + timedelta(hours=8) if rng.random() < 0.9 else None
            if status in CLOSED:
                closed = min(row["received_at"] + timedelta(days=rng.uniform(1, 40)), now)
                if rng.random() < 0.8:
                    verdict = rng.choices(satisfaction, weights=[70, 20, 10])[0]
        row.update(
            accepted_at=accepted,
            instructed_at=instructed,
            closed_at=closed,
            last_satisfaction=verdict,
        )

    return hook


#: Derived rows, written in SQL from the cases just loaded (fast at any size).
DERIVED_SQL = {
    "letters": """
        INSERT INTO letters (case_id, writer_id, received_at, form, envelope_intact,
            stamp_intact, origin, is_first_contact, created_at, updated_at, created_by_id,
            is_deleted)
        SELECT c.id, (SELECT min(p.party_id) FROM case_petitioners p WHERE p.case_id = c.id),
            c.received_at, 'paper', true, true, 'direct', true, c.created_at, c.created_at,
            c.created_by_id, false
        FROM cases c WHERE c.channel = 'letter' AND NOT c.is_deleted
    """,
    "case_clocks": """
        INSERT INTO case_clocks (case_id, kind, started_at, amount, unit, extension,
            extension_count, paused_amount, due_at, stopped_at, calendar_fallback)
        SELECT id, 'handling', accepted_at, 60, 'calendar_days', 0, 0, 0,
            accepted_at + interval '60 days', closed_at, false
        FROM cases WHERE accepted_at IS NOT NULL
    """,
    "callbacks": """
        INSERT INTO callbacks (case_id, due_on, method, done_at, satisfaction,
            problem_remains, created_at, updated_at, is_deleted, origin, charges_checked,
            signature_obtained, follow_up)
        SELECT id, (closed_at + interval '7 days')::date, 'phone',
            CASE WHEN last_satisfaction IS NOT NULL THEN closed_at + interval '3 days' END,
            last_satisfaction, false, closed_at, closed_at, false, 'on_close', false, false,
            'none'
        FROM cases WHERE closed_at IS NOT NULL
    """,
    "case_events: registered": """
        INSERT INTO case_events (case_id, kind, summary, data, created_at, created_by_id)
        SELECT id, 'registered', 'Registered ' || number, '{}', created_at, created_by_id
        FROM cases
    """,
    "case_events: accepted": """
        INSERT INTO case_events (case_id, kind, summary, data, created_at, created_by_id)
        SELECT id, 'accept', 'Accepted', '{}', accepted_at, created_by_id
        FROM cases WHERE accepted_at IS NOT NULL
    """,
    "case_events: long history (1 in 10)": """
        INSERT INTO case_events (case_id, kind, summary, data, created_at, created_by_id)
        SELECT c.id, 'edited', 'Edited', '{}', c.created_at + n * interval '1 hour',
            c.created_by_id
        FROM cases c CROSS JOIN generate_series(1, 12) AS n WHERE c.id % 10 = 0
    """,
    "case_events: replies": """
        INSERT INTO case_events (case_id, kind, summary, data, created_at, created_by_id)
        SELECT id, 'reply', 'Replied', '{}', COALESCE(closed_at, accepted_at + interval '5 days'),
            created_by_id
        FROM cases WHERE status IN ('replied', 'closed', 'archived')
            AND accepted_at IS NOT NULL AND NOT is_anonymous
    """,
    "case_replies": """
        INSERT INTO case_replies (case_id, kind, recipient, method, replied_at, text, event_id,
            created_by_id, created_at)
        SELECT e.case_id, 'formal', COALESCE(c.petitioner_names, '信访人'), 'letter',
            e.created_at, '经调查核实，' || c.subject || '一事已按规定处理，现予答复。', e.id,
            e.created_by_id, e.created_at
        FROM case_events e JOIN cases c ON c.id = e.case_id WHERE e.kind = 'reply'
    """,
}


def load_database(url: str, cases: int) -> dict:
    """Migrate, load and enrich; returns timings (seconds) and row counts."""
    from flask_migrate import upgrade

    from app import create_app
    from models import db
    from models.custom_fields import CustomField
    from models.enums import CustomFieldType

    timings: dict[str, float] = {}
    app = create_app({**base.BENCH_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
    started = time.perf_counter()
    with app.app_context():
        upgrade()
    timings["migrations (flask db upgrade)"] = time.perf_counter() - started

    started = time.perf_counter()
    with app.app_context(), db.engine.begin() as conn:
        indexes = drop_secondary_indexes(conn)
    timings["drop secondary indexes"] = time.perf_counter() - started
    now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    loaded = base.load(
        app,
        cases,
        create_schema=False,
        analyze=False,
        id_numbers=True,
        case_hook=case_hook(random.Random(base.SEED + 2), now),
    )
    timings.update(loaded.timings)
    with app.app_context():
        started = time.perf_counter()
        db.session.add(
            CustomField(
                key=CUSTOM_KEY,
                label=CUSTOM_LABEL,
                field_type=CustomFieldType.choice,
                choices=list(CUSTOM_CHOICES),
                filterable=True,
                show_in_list=False,
            )
        )
        # The 1,000-row register is printed in the request (the default sends > 500 rows
        # to a background job, which this benchmark would then only see being queued).
        db.session.execute(
            sa.text(
                "INSERT INTO system_settings (key, value, created_at, updated_at) "
                "VALUES ('register_background_rows', :v, now(), now()) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            ),
            {"v": str(2 * REGISTER_ROWS)},
        )
        db.session.commit()
        for name, statement in DERIVED_SQL.items():
            step = time.perf_counter()
            db.session.execute(sa.text(statement))
            db.session.commit()
            timings[f"insert {name}"] = time.perf_counter() - step
        for table in ("letters", "case_clocks", "callbacks", "case_events", "case_replies"):
            db.session.execute(
                sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"COALESCE((SELECT max(id) FROM {table}), 1))"
                )
            )
        db.session.commit()
        started = time.perf_counter()
        with db.engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL maintenance_work_mem = '512MB'"))
            for ddl in indexes:
                conn.execute(sa.text(ddl))
        timings[f"recreate {len(indexes)} secondary indexes"] = time.perf_counter() - started
        started = time.perf_counter()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
        timings["VACUUM ANALYZE"] = time.perf_counter() - started
        db.session.remove()
    hooks = run_rebuild_hooks(app, timings)
    with app.app_context():
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if hooks:
                started = time.perf_counter()
                conn.execute(sa.text("ANALYZE"))
                timings["ANALYZE after rebuilds"] = time.perf_counter() - started
            counts = {
                table: conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()  # noqa: S608
                for table in (
                    "cases",
                    "parties",
                    "case_petitioners",
                    "letters",
                    "case_clocks",
                    "callbacks",
                    "case_events",
                    "case_replies",
                )
            }
        db.engine.dispose()
    return {"timings": timings, "counts": counts, "hooks": hooks}


def drop_secondary_indexes(conn) -> list[str]:
    """Drop the plain (non-unique, non-constraint) indexes of the tables bulk-loaded here and
    return their definitions: building them once after the load is much faster than keeping
    them (trigram GIN above all) up to date row by row. Whatever indexes the migrations made,
    including later ones, come back exactly as defined."""
    rows = conn.execute(
        sa.text(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
            "FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
            "WHERE t.relname = ANY(:tables) AND NOT i.indisunique AND NOT i.indisprimary "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
        ),
        {"tables": list(BULK_TABLES)},
    ).all()
    for name, _ddl in rows:
        conn.execute(sa.text(f"DROP INDEX {name}"))
    return [ddl for _name, ddl in rows]


def run_rebuild_hooks(app, timings: dict) -> list[str]:
    """Run every ``flask rebuild-*`` command the app has (derived tables after a bulk load)."""
    names = sorted(name for name in app.cli.list_commands(None) if REBUILD.search(name))
    runner = app.test_cli_runner()
    done = []
    for name in names:
        started = time.perf_counter()
        result = runner.invoke(args=[name])
        seconds = time.perf_counter() - started
        if result.exit_code != 0:
            log(f"  WARNING: flask {name} failed ({result.exit_code}): {result.output[-500:]}")
            done.append(f"{name} (FAILED)")
        else:
            done.append(name)
        timings[f"flask {name}"] = seconds
    return done


# -- what to ask ---------------------------------------------------------------------------


@dataclass
class Req:
    method: str
    path: str
    data: dict | None = None
    pdf: bool = False


@dataclass
class Row:
    label: str
    ours: Req
    stock: Req | None
    requests: int | None = None  # per side; None: --requests
    note: str = ""


def q(**params) -> str:
    return "?" + urlencode(params)


def filter_arg(view, predicate) -> str:
    view._refresh_filters_cache()
    for index, flt in enumerate(view._filters):
        if predicate(flt):
            return f"flt0_{view.get_filter_arg(index, flt)}"
    raise LookupError(f"no such filter on {view.endpoint}")


def plan(url: str) -> tuple[list[Row], dict]:
    """The rows to measure, with their parameters taken from the loaded data."""
    os.environ["BENCH_DATABASE_URL"] = url
    from bench_wsgi import build_app
    from flask_admin.contrib.sqla import filters

    from models import db
    from models.enums import DocumentKind
    from models.operations.documents import wording_of

    app = build_app()
    views = {
        getattr(v, "endpoint", None): v for admin in app.extensions["admin"] for v in admin._views
    }
    with app.app_context():
        s = db.session
        total = s.scalar(sa.text("SELECT count(*) FROM cases WHERE NOT is_deleted"))
        middle_id, number = s.execute(
            sa.text(
                "SELECT id, number FROM cases WHERE NOT is_deleted AND NOT is_anonymous "
                "AND status IN ('replied', 'closed') AND id % 10 = 0 "
                "ORDER BY id OFFSET :o LIMIT 1"
            ),
            {"o": total // 25},
        ).one()
        names = s.execute(
            sa.text(
                "SELECT p.name, p.phone, p.id_number FROM case_petitioners cp "
                "JOIN parties p ON p.id = cp.party_id WHERE cp.case_id >= :id "
                "AND length(p.name) = 3 AND p.id_number IS NOT NULL ORDER BY cp.case_id LIMIT 1"
            ),
            {"id": middle_id},
        ).one()
        name3, phone, _id_number = names
        name2 = s.scalar(
            sa.text(
                "SELECT name FROM parties WHERE length(name) = 2 AND id > "
                "(SELECT max(id) / 2 FROM parties) ORDER BY id LIMIT 1"
            )
        )
        today = datetime.now(UTC).date()
        # The newest days of letters that make about 1,000 rows.
        days = s.execute(
            sa.text(
                "SELECT (received_at AT TIME ZONE 'Asia/Shanghai')::date AS d, count(*) "
                "FROM letters WHERE NOT is_deleted GROUP BY d ORDER BY d DESC"
            )
        ).all()
        rows, start = 0, today
        for day, count in days:
            rows += count
            start = day
            if rows >= REGISTER_ROWS:
                break
        if rows > REGISTER_ROWS:  # the last day overshoots: keep the closest of with/without
            without = rows - count
            if without and REGISTER_ROWS - without < rows - REGISTER_ROWS:
                rows, start = without, start + timedelta(days=1)
        title, body = wording_of(DocumentKind.reply_letter)
        with app.test_request_context():
            ours_status = filter_arg(
                views["case"],
                lambda f: (
                    isinstance(f, filters.FilterEqual)
                    and getattr(f.column, "key", None) == "status"
                ),
            )
            stock_status = filter_arg(
                views["stockcase"],
                lambda f: (
                    isinstance(f, filters.FilterEqual)
                    and getattr(f.column, "key", None) == "status"
                ),
            )
            ours_custom = filter_arg(
                views["case"],
                lambda f: (
                    getattr(f, "key", None) == CUSTOM_KEY
                    and type(f).__name__ == "CustomFieldFilter"
                ),
            )
        db.session.remove()
        db.engine.dispose()
    year = f"start={(today - timedelta(days=365)).isoformat()}&end={today.isoformat()}"
    partial = number[-6:]
    rows_ = [
        Row("list page 1", Req("GET", "/admin/case/"), Req("GET", "/stock/case/")),
        Row(
            "list page 500",
            Req("GET", "/admin/case/" + q(page=499)),
            Req("GET", "/stock/case/" + q(page=499)),
        ),
        Row(
            f"exact number `{number}`",
            Req("GET", "/admin/case/" + q(search=number)),
            Req("GET", "/stock/case/" + q(search=number)),
        ),
        Row(
            f"partial number `{partial}`",
            Req("GET", "/admin/case/" + q(search=partial)),
            Req("GET", "/stock/case/" + q(search=partial)),
        ),
        Row(
            f"3-char name `{name3}`",
            Req("GET", "/admin/case/" + q(search=name3)),
            Req("GET", "/stock/case/" + q(search=name3)),
        ),
        Row(
            f"2-char name `{name2}`",
            Req("GET", "/admin/case/" + q(search=name2)),
            Req("GET", "/stock/case/" + q(search=name2)),
        ),
        Row(
            f"phone `{phone}`",
            Req("GET", "/admin/case/" + q(search=phone)),
            Req("GET", "/stock/case/" + q(search=phone)),
        ),
        Row(
            "status filter `in_progress`",
            Req("GET", "/admin/case/" + q(**{ours_status: "in_progress"})),
            Req("GET", "/stock/case/" + q(**{stock_status: "in_progress"})),
        ),
        Row(
            f"custom-field filter {CUSTOM_LABEL} = {CUSTOM_PROBE}",
            Req("GET", "/admin/case/" + q(**{ours_custom: CUSTOM_PROBE})),
            None,
            note="stock Flask-Admin has no filter on a key of a JSON column",
        ),
        Row(
            "case details",
            Req("GET", f"/admin/case/details/{q(id=middle_id)}"),
            Req("GET", f"/stock/case/details/{q(id=middle_id)}"),
        ),
        Row("dashboard, one year", Req("GET", f"/admin/stats/?{year}"), None, requests=40),
        Row(
            "reply letter PDF",
            Req(
                "POST",
                "/admin/documenttemplate/reply_letter/preview",
                {"case_number": number, "title": title, "body": body},
                pdf=True,
            ),
            None,
            requests=20,
            note="rendered from the case by the template preview (same code as issuing)",
        ),
        Row(
            f"register PDF, {rows:,} rows",
            Req(
                "POST",
                "/admin/registers/",
                {
                    "kind": "letters",
                    "start": start.isoformat(),
                    "end": today.isoformat(),
                    "unit_id": "",
                    "category_id": "",
                    "leader_id": "",
                },
                pdf=True,
            ),
            None,
            requests=2,
            note=f"one at a time; 来信登记台账 {start} – {today}, rendered in the request",
        ),
    ]
    facts = {"details_id": middle_id, "name2": name2, "register_rows": rows}
    return rows_, facts


# -- HTTP clients --------------------------------------------------------------------------


class Client:
    """One user: one keep-alive connection and its session cookie."""

    def __init__(self, port: int, timeout: float):
        self.port, self.timeout = port, timeout
        self.cookies: dict[str, str] = {}
        self.conn = None

    def _connect(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)

    def request(self, req: Req) -> tuple[int, str, bytes]:
        headers = {"Connection": "keep-alive"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if req.data is not None:
            body = urlencode(req.data).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            if self.conn is None:
                self._connect()
            try:
                self.conn.request(req.method, req.path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                # The server closed an idle keep-alive connection: reconnect once.
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie()
            cookie.load(header)
            for key, morsel in cookie.items():
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[key] = morsel.value
                else:
                    self.cookies.pop(key, None)
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        return response.status, response.getheader("Content-Type", ""), data

    def login(self):
        status, _, _ = self.request(
            Req(
                "POST",
                "/admin/login/",
                {"username": base.ADMIN_USERNAME, "password": base.ADMIN_PASSWORD},
            )
        )
        if status != 302:
            raise RuntimeError(f"login failed: HTTP {status}")
        status, _, _ = self.request(Req("GET", "/admin/case/"))
        if status != 200:
            raise RuntimeError(f"not logged in after login: HTTP {status}")


def ok(req: Req, status: int, content_type: str, data: bytes) -> bool:
    if status != 200:
        return False
    if req.pdf:
        return content_type.startswith("application/pdf") and data.startswith(b"%PDF")
    return content_type.startswith("text/html")


@dataclass
class Side:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    wall: float = 0.0
    shown: int | None = None
    error_samples: list[str] = field(default_factory=list)

    def p(self, pct: float) -> float:
        return base.percentile(self.latencies, pct) * 1000 if self.latencies else float("nan")

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.wall if self.wall else 0.0


def burst(clients: list[Client], req: Req, count: int, seconds: float, side: Side) -> None:
    """``count`` requests over the clients (at most ``seconds`` of new ones)."""
    queue = deque(range(count))
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker(client: Client):
        while True:
            with lock:
                if not queue or time.perf_counter() > deadline:
                    return
                queue.popleft()
            started = time.perf_counter()
            try:
                status, content_type, data = client.request(req)
                good = ok(req, status, content_type, data)
                problem = f"HTTP {status} {gist(data)}"
            except Exception as error:
                good, problem = False, repr(error)
            elapsed = time.perf_counter() - started
            with lock:
                if good:
                    side.latencies.append(elapsed)
                else:
                    side.errors += 1
                    if len(side.error_samples) < 3:
                        side.error_samples.append(problem)

    threads = [threading.Thread(target=worker, args=(c,)) for c in clients[:count]]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    side.wall += time.perf_counter() - started


def gist(data: bytes) -> str:
    """The message of an error page (a form error or an alert, else its first words)."""
    page = data.decode("utf-8", "replace")
    found = re.search(
        r'class="[^"]*(?:invalid-feedback|alert-danger|alert-error|text-danger)[^"]*"[^>]*>(.*?)</',
        page,
        flags=re.S,
    )
    if found is None:
        page = re.sub(r"<(script|style|nav)[^>]*>.*?</\1>", " ", page, flags=re.S)
    text = found.group(1) if found else page
    return " ".join(re.sub(r"<[^>]+>", " ", text).split())[:160]


def warm(client: Client, req: Req, side: Side, name: str) -> None:
    status, content_type, data = client.request(req)
    if not ok(req, status, content_type, data):
        side.errors += 1
        side.error_samples.append(f"warm-up HTTP {status} {gist(data)}")
        return
    if not req.pdf and "/details/" not in req.path and "/stats/" not in req.path:
        side.shown = len(set(LIST_LINK[name].findall(data.decode("utf-8", "replace"))))


#: Warm every worker only for requests quicker than this (see ``measure_row``).
WARM_ALL_BELOW_SECONDS = 2.0


def measure_row(clients, row: Row, requests: int, seconds: float) -> dict[str, Side]:
    sides = {"ours": row.ours, "stock": row.stock}
    sides = {name: req for name, req in sides.items() if req is not None}
    results = {name: Side() for name in sides}
    for name, req in sides.items():
        started = time.perf_counter()
        warm(clients[0], req, results[name], name)
        if time.perf_counter() - started < WARM_ALL_BELOW_SECONDS:
            # Untimed, from every client at once, so that every worker process has built its
            # templates and compiled statements before the timed bursts (one warm-up request
            # reaches one worker; the other's first requests would stall its threads
            # together). A request that takes seconds anyway is not worth twenty more.
            burst(clients, req, len(clients), 60, Side())
    count = row.requests or requests
    half = max(1, count // 2)
    orders = [("ours", "stock"), ("stock", "ours")]
    for round_ in range(2):
        for name in orders[round_]:
            if name in sides:
                burst(clients, sides[name], half, seconds / 2, results[name])
    return results


def single_client(client: Client, row: Row, repeat: int) -> dict[str, float]:
    times: dict[str, list[float]] = {"ours": [], "stock": []}
    for _ in range(repeat):
        for name, req in (("ours", row.ours), ("stock", row.stock)):
            started = time.perf_counter()
            status, content_type, data = client.request(req)
            if ok(req, status, content_type, data):
                times[name].append(time.perf_counter() - started)
    return {name: statistics.median(v) * 1000 for name, v in times.items() if v}


# -- gunicorn ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(url: str, port: int, workers: int, threads: int, logfile: Path):
    # As in a deployment of several workers (README, "Background work"), the periodic tasks
    # run in scripts/worker.py, not in the web processes: the loaded million cases have never
    # been warned of their deadlines, and the catch-up would share the server's CPU.
    env = {**os.environ, "BENCH_DATABASE_URL": url, "FLASK_BACKGROUND_SCHEDULER": "off"}
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "--chdir",
        str(ROOT / "scripts"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--timeout",
        "600",
        "--keep-alive",
        "30",
        # Its own control socket: the default path is shared by every gunicorn of the user.
        "--control-socket",
        str(Path(tempfile.gettempdir()) / f"benchmark_http_{port}.ctl"),
        "bench_wsgi:app",
    ]
    out = logfile.open("w")
    process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.time() + 120
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited: see {logfile}\n{logfile.read_text()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/admin/login/")
            if conn.getresponse().status == 200:
                conn.close()
                return process
        except OSError:
            pass
        time.sleep(0.5)
    process.terminate()
    raise RuntimeError("gunicorn did not answer within 120 s")


def stop_gunicorn(process) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


# -- report --------------------------------------------------------------------------------


def fmt(value: float, digits: int = 0) -> str:
    if value != value:  # NaN
        return "—"
    return f"{value:,.{digits}f}"


def ratio(a: float, b: float) -> str:
    if not a or not b or a != a or b != b:
        return "—"
    return f"{a / b:.1f}×"


def table(rows: list[Row], results: list[dict[str, Side]]) -> list[str]:
    lines = [
        "| request | ours p50 | ours p95 | ours req/s | stock p50 | stock p95 | stock req/s "
        "| p50 stock ÷ ours | req/s ours ÷ stock | rows shown ours / stock | errors ours / stock |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row, result in zip(rows, results, strict=True):
        ours, stock = result["ours"], result.get("stock")
        shown = "—" if ours.shown is None else str(ours.shown)
        cells = [
            row.label + (" ¹" if row.note else ""),
            fmt(ours.p(50)),
            fmt(ours.p(95)),
            fmt(ours.rps, 1 if ours.rps >= 1 else 2),
        ]
        if stock is None:
            cells += ["—"] * 5
            cells += [f"{shown} / —", f"{ours.errors} / —"]
        else:
            cells += [
                fmt(stock.p(50)),
                fmt(stock.p(95)),
                fmt(stock.rps, 1 if stock.rps >= 1 else 2),
                ratio(stock.p(50), ours.p(50)),
                ratio(ours.rps, stock.rps),
                f"{shown} / {'—' if stock.shown is None else stock.shown}",
                f"{ours.errors} / {stock.errors}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def machine() -> dict:
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    return {"nproc": os.cpu_count(), "ram_gb": mem_kb / 1024 / 1024, "cpu": cpu}


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        one, five, fifteen = os.getloadavg()
        return f"load average: {one:.2f}, {five:.2f}, {fifteen:.2f}"


def pg_version(url: str) -> str:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        version = conn.execute(sa.text("SHOW server_version")).scalar()
    engine.dispose()
    return f"PostgreSQL {version.split()[0]}"


def render(args, info: dict, rows, results, single) -> str:
    m = info["machine"]
    loaded = info.get("loaded")
    out = [
        MARK_START,
        "## HTTP benchmark: ours beside stock Flask-Admin",
        "",
        f"Generated by `scripts/benchmark_http.py --cases {args.cases}` on "
        f"{info['finished']:%Y-%m-%d %H:%M} UTC.",
        "",
        f"- Code: commit {base.code_version()}; {info['pg']}; Python {platform.python_version()}",
        f"- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram_gb']:.1f} GB RAM, "
        f"{platform.system()} {platform.release()}; shared with other work, so read the ratios "
        "rather than the absolute times",
        f"- `uptime` before the requests (after loading): {info['uptime_before']}",
        f"- `uptime` after the requests: {info['uptime_after']}",
        f"- Server: gunicorn, {args.workers} workers × {args.threads} threads (gthread), "
        f"127.0.0.1; our app at `/admin`, a stock Flask-Admin `ModelView(Case)` at `/stock` in "
        "the same processes (default COUNT pager, search on number, subject and "
        "`petitioners.name`, filter on status, details page; open to signed-in users); "
        "the periodic tasks off in the web processes, as in a deployment with "
        "`scripts/worker.py`",
        f"- Load: {args.clients} concurrent clients (threads, one keep-alive connection and a "
        "session cookie each, logged in once), alternating bursts ours → stock → stock → ours "
        f"per row; up to {args.requests} requests per side per row (fewer where shown) or "
        f"{args.seconds:g} s of new requests per side, whichever comes first; untimed "
        "warm-up requests per side first (one, then, for requests under 2 s, one from every "
        "client at once, so that both worker processes are warm). Times in ms; req/s = "
        "completed requests ÷ time of that "
        "side's bursts; *errors* = non-200 or wrong content.",
    ]
    if loaded:
        counts = ", ".join(f"{t} {n:,}" for t, n in loaded["counts"].items())
        total = sum(loaded["timings"].values())
        out += [
            f"- Data: {counts}",
            f"- Load time: {total:,.0f} s in all "
            f"({total / (args.cases / 100_000):,.0f} s per 100,000 cases); rebuild commands run: "
            f"{', '.join(loaded['hooks']) or 'none offered by the app'}",
        ]
    out += ["", *table(rows, results), ""]
    notes = [f"{row.label}: {row.note}" for row in rows if row.note]
    if notes:
        out += ["¹ " + "; ".join(notes) + ".", ""]
    if single:
        out.append(
            f"Single client, 2-character name `{info['name2']}`, p50 of {args.single} requests: "
            f"ours {fmt(single.get('ours', float('nan')))} ms, stock "
            f"{fmt(single.get('stock', float('nan')))} ms."
        )
        out.append("")
    errors = [
        f"{row.label} ({name}): {', '.join(side.error_samples)}"
        for row, result in zip(rows, results, strict=True)
        for name, side in result.items()
        if side.error_samples
    ]
    if errors:
        out += ["Error samples: " + "; ".join(errors), ""]
    if loaded:
        out += [
            "<details><summary>Load steps (seconds)</summary>",
            "",
            "| step | s |",
            "|---|---:|",
        ]
        out += [f"| {step} | {sec:,.1f} |" for step, sec in loaded["timings"].items()]
        out += ["", "</details>", ""]
    out.append(MARK_END)
    return "\n".join(out)


def write_report(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if MARK_START in text and MARK_END in text:
        before, rest = text.split(MARK_START, 1)
        text = before + section + rest.split(MARK_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
    log(f"Report written to {path}")


# -- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--database", default="xinfang_http_bench")
    parser.add_argument("--skip-load", action="store_true", help="reuse the loaded database")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=100, help="per side per row")
    parser.add_argument("--seconds", type=float, default=12, help="per side per row")
    parser.add_argument("--single", type=int, default=10, help="single-client requests")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=300, help="per request, seconds")
    parser.add_argument(
        "--only",
        default="",
        help="measure only rows whose label has one of these (comma-separated)",
    )
    parser.add_argument("--output", type=Path, default=None, help="e.g. docs/benchmarks.md")
    parser.add_argument("--json", type=Path, default=None, help="also dump raw figures here")
    args = parser.parse_args(argv)

    info: dict = {"machine": machine(), "uptime_before": uptime()}
    url = PG + args.database
    if not args.skip_load:
        log(f"== loading {args.cases:,} cases into {args.database}")
        url = recreate_database(args.database)
        started = time.perf_counter()
        info["loaded"] = load_database(url, args.cases)
        for step, seconds in info["loaded"]["timings"].items():
            log(f"  {step}: {seconds:.1f} s")
        log(f"  total {time.perf_counter() - started:.0f} s; {info['loaded']['counts']}")
    info["pg"] = pg_version(url)
    rows, facts = plan(url)
    info.update(facts)
    if args.only:
        wanted = [part.strip() for part in args.only.split(",")]
        rows = [row for row in rows if any(part in row.label for part in wanted)]

    port = free_port()
    logfile = Path(tempfile.gettempdir()) / f"benchmark_http_gunicorn_{port}.log"
    log(f"== gunicorn on 127.0.0.1:{port} (log {logfile})")
    process = start_gunicorn(url, port, args.workers, args.threads, logfile)
    results, single = [], {}
    try:
        clients = [Client(port, args.timeout) for _ in range(args.clients)]
        for client in clients:
            client.login()
        info["uptime_before"] = uptime()  # after loading: the load is over
        for row in rows:
            started = time.perf_counter()
            result = measure_row(clients, row, args.requests, args.seconds)
            results.append(result)
            parts = [
                f"{name} p50 {side.p(50):.0f} p95 {side.p(95):.0f} ms "
                f"{side.rps:.1f} req/s err {side.errors} shown {side.shown}"
                for name, side in result.items()
            ]
            log(f"  {row.label}: {' | '.join(parts)} ({time.perf_counter() - started:.0f} s)")
            for name, side in result.items():
                if side.error_samples:
                    log(f"    {name} errors: {side.error_samples}")
        two = next((row for row in rows if row.label.startswith("2-char")), None)
        if two is not None and args.single:
            single = single_client(clients[0], two, args.single)
            log(f"  single client 2-char: {single}")
    finally:
        stop_gunicorn(process)
    info["uptime_after"] = uptime()
    info["finished"] = datetime.now(UTC)
    section = render(args, info, rows, results, single)
    print()
    print(section)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "rows": [
                        {
                            "label": row.label,
                            **{
                                name: {
                                    "p50": side.p(50),
                                    "p95": side.p(95),
                                    "rps": side.rps,
                                    "errors": side.errors,
                                    "n": len(side.latencies),
                                }
                                for name, side in result.items()
                            },
                        }
                        for row, result in zip(rows, results, strict=True)
                    ],
                    "single": single,
                    "loaded": info.get("loaded"),
                },
                ensure_ascii=False,
                indent=1,
                default=str,
            )
        )
    if args.output is not None:
        write_report(args.output, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
