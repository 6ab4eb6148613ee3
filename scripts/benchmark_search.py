"""Benchmark the case-list search on PostgreSQL: before (plain LIKE) and after (indexes).

Loads N generated cases (100,000 by default) with ``scripts/benchmark.py``'s loader into a
scratch PostgreSQL database, gives the people ID numbers, and times the case list's search
through the Flask test client twice per term: with the search as it was before issue 16
(``LIKE`` on subject and names, OR-ed with the representatives; numbers, phones and ID numbers
not searched) and with the current one (``admin_views.search.matching_case_ids``). For each it
prints the request p50, the list statement's own p50 and the plan of the current statement
(``EXPLAIN ANALYZE``). Run from the project root::

    .venv/bin/python scripts/benchmark_search.py --cases 100000
    .venv/bin/python scripts/benchmark_search.py --reuse      # measure again without loading

The database (``--database``, default ``xinfang_search_bench``) is dropped and recreated;
no other database is touched.
"""

from __future__ import annotations

import argparse
import os
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

import benchmark  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from flask_login import current_user  # noqa: E402

from app import create_app  # noqa: E402
from models import Case, CaseRepresentative, Party, case_petitioners, db  # noqa: E402
from models.policies import reporter_visible_clause  # noqa: E402

NO_MATCH_2 = "犇骉"


def old_contains(column, term):
    """The search condition before issue 16 (no bigram index)."""
    from admin_views.search import like_pattern

    if any("a" <= c.lower() <= "z" for c in term):
        return column.ilike(like_pattern(term), escape="\\")
    return column.like(like_pattern(term), escape="\\")


def old_apply_search(self, query, count_query, joins, count_joins, search):
    """``CaseView._apply_search`` as it was before issue 16."""
    from admin_views.search import as_case_number

    if as_case_number(search):
        return type(self)._apply_search(self, query, count_query, joins, count_joins, search)
    names_visible = reporter_visible_clause(current_user)
    for term in search.split():
        representatives = Case.id.in_(
            sa.select(CaseRepresentative.case_id)
            .join(Party, Party.id == CaseRepresentative.party_id)
            .where(old_contains(Party.name, term))
        )
        names = sa.or_(old_contains(Case.petitioner_names, term), representatives)
        condition = sa.or_(old_contains(Case.subject, term), sa.and_(names, names_visible))
        query = query.filter(condition)
    return query, count_query, joins, count_joins


def database_url(name: str, *, recreate: bool) -> str:
    import psycopg

    if recreate:
        with psycopg.connect(
            host=benchmark.PG_HOST, user=benchmark.PG_USER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
            with psycopg.connect(
                host=benchmark.PG_HOST, user=benchmark.PG_USER, dbname=name, autocommit=True
            ) as new:
                new.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    return f"postgresql+psycopg://{benchmark.PG_USER}@{benchmark.PG_HOST}/{name}"


def give_id_numbers() -> None:
    """18-character identity numbers (one in eleven ending in X) for every person."""
    db.session.execute(
        sa.text(
            "UPDATE parties SET id_number = '3301'"
            " || lpad(((id * 48271) % 1000000)::text, 6, '0') || '19'"
            " || lpad(((id * 16807) % 100000)::text, 5, '0')"
            " || CASE WHEN id % 11 = 0 THEN 'X' ELSE (id % 10)::text END"
        )
    )
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE parties"))


def terms() -> list[tuple[str, str]]:
    """(label, term) pairs drawn from the loaded data."""
    total = db.session.scalar(sa.select(sa.func.count()).select_from(Case))
    middle = db.session.execute(
        sa.select(Case.id, Case.number).where(Case.id == total // 2 + 1)
    ).one()
    person = db.session.execute(
        sa.select(Party.name, Party.phone, Party.id_number)
        .join(case_petitioners, case_petitioners.c.party_id == Party.id)
        .where(case_petitioners.c.case_id == middle.id)
        .limit(1)
    ).one()
    names = db.session.scalars(
        sa.select(Party.name).where(sa.func.char_length(Party.name) == 2).limit(200)
    ).all()
    names3 = db.session.scalars(
        sa.select(Party.name).where(sa.func.char_length(Party.name) == 3).limit(200)
    ).all()
    return [
        ("2-char name", names[len(names) // 2]),
        ("2-char, no match", NO_MATCH_2),
        ("2-char, common word", "小区"),
        ("1 char (no index; walks the list)", "张"),
        ("3-char name", names3[len(names3) // 2]),
        ("3-char, no match", "赵钱孙"),
        ("partial number", middle.number.rsplit("-", 1)[-1]),
        ("full number", middle.number),
        ("phone (last 8)", person.phone[-8:]),
        ("phone (full)", person.phone),
        ("ID number (full)", person.id_number),
        ("ID number (last 6)", person.id_number[-6:]),
        ("two terms (name + 2 chars)", f"{person.name} {NO_MATCH_2[:1]}事"),
    ]


def run(app, repeat: int, warmup: int) -> None:
    client = app.test_client()
    response = client.post(
        "/admin/login/",
        data={"username": benchmark.ADMIN_USERNAME, "password": benchmark.ADMIN_PASSWORD},
    )
    assert response.status_code == 302, response.status_code
    view = next(
        v for v in app.extensions["admin"][0]._views if getattr(v, "endpoint", None) == "case"
    )
    with app.app_context():
        engine = db.engine
        cases = terms()
        db.session.remove()
    queries = benchmark.QueryLog()
    sa.event.listen(engine, "before_cursor_execute", queries.before)
    sa.event.listen(engine, "after_cursor_execute", queries.after)
    rows, plans = [], []
    for label, term in cases:
        figures = {}
        for mode in ("before", "after"):
            if mode == "before":
                view._apply_search = types.MethodType(old_apply_search, view)
            else:
                view.__dict__.pop("_apply_search", None)
            result = benchmark.measure(
                client,
                queries,
                f"{label} ({mode})",
                f"/admin/case/?search={term}",
                repeat=repeat,
                warmup=warmup,
                expect_ids=None,
                matching=0,
            )
            with app.app_context():
                sql_p50 = benchmark.time_statement(*result.slowest_sql, repeat=repeat)
                plan = benchmark.explain(*result.slowest_sql) if mode == "after" else []
            figures[mode] = (result.p50, sql_p50, result.shown)
            if plan:
                plans.append((label, term, plan))
        before, after = figures["before"], figures["after"]
        rows.append((label, term, before, after))
        benchmark.log(
            f"  {label} `{term}`: before {before[0]:.1f} ms (SQL {before[1]:.1f}, "
            f"{before[2]} shown), after {after[0]:.1f} ms (SQL {after[1]:.1f}, "
            f"{after[2]} shown)"
        )
    sa.event.remove(engine, "before_cursor_execute", queries.before)
    sa.event.remove(engine, "after_cursor_execute", queries.after)

    print()
    print(
        "| search | term | before: request p50 | before: SQL p50 | after: request p50 "
        "| after: SQL p50 | rows shown before → after |"
    )
    print("|---|---|--:|--:|--:|--:|--:|")
    for label, term, before, after in rows:
        print(
            f"| {label} | `{term}` | {before[0]:.1f} ms | {before[1]:.1f} ms "
            f"| {after[0]:.1f} ms | {after[1]:.1f} ms | {before[2]} → {after[2]} |"
        )
    print()
    for label, term, plan in plans:
        print(f"#### after: {label} `{term}`")
        print("```")
        print("\n".join(plan))
        print("```")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--database", default="xinfang_search_bench")
    parser.add_argument("--reuse", action="store_true", help="measure the loaded database")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args(argv)
    url = database_url(args.database, recreate=not args.reuse)
    app = create_app({**benchmark.BENCH_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
    if not args.reuse:
        benchmark.log(f"== loading {args.cases:,} cases into {args.database}")
        loaded = benchmark.load(app, args.cases)
        for step, seconds in loaded.timings.items():
            benchmark.log(f"  {step}: {seconds:.1f} s")
        with app.app_context():
            give_id_numbers()
    benchmark.log(f"== measuring (load average {os.getloadavg()[0]:.2f})")
    run(app, args.repeat, args.warmup)
    benchmark.log(f"== done (load average {os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
