"""Every screen of the menu, as every role, on the HTTP benchmark's database: time and SQL.

``scripts/benchmark_http.py`` measures a dozen requests as the administrator, who sees every
unit. A department user sees one unit's cases, a registrar no hidden reporter, and their pages
take other plans: at a million cases the 回访 list took 110 s for a handler and the 信访人
search 2.4 s for a registrar, which no admin-only benchmark showed. This script signs in as
one user per role (created once, through the service layer, in the unit that handles the most
cases) plus the benchmark's administrator, opens every screen of that user's menu and a few
searches, and prints one line per page: wall time of the second request (the first warms the
caches), its statements and their time, and its slowest statement.

Run it after ``scripts/benchmark_http.py`` has loaded its database (nothing is loaded here)::

    .venv/bin/python scripts/benchmark_pages.py
    .venv/bin/python scripts/benchmark_pages.py --roles handler,registrar --slower-than 100

It adds the role users to that database (``bench_page_<role>``); the HTTP benchmark's pages,
read as the administrator, do not depend on them.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import sqlalchemy as sa  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/xinfang_http_bench"
PASSWORD = "bench-pages-12345"  # noqa: S105 (a benchmark database's own accounts)
ROLES = ("admin", "office", "leader", "registrar", "dept_head", "handler", "supervisor")
#: Searches opened besides the menu: a common surname, a two-character name, part of a phone.
EXTRA = ("/admin/party/?search=王", "/admin/party/?search=王建", "/admin/case/?search=1380")


def role_users(app, roles) -> dict[str, str]:
    """``{role: username}``; the administrator is the HTTP benchmark's own."""
    import benchmark as base

    from models import Case, Unit, User, db
    from models.operations.users import create_user

    names = {}
    with app.app_context():
        busiest = db.session.scalar(
            sa.select(Case.handling_unit_id)
            .where(Case.handling_unit_id.is_not(None))
            .group_by(Case.handling_unit_id)
            .order_by(sa.func.count().desc())
            .limit(1)
        )
        unit = db.session.get(Unit, busiest) if busiest else None
        for role in roles:
            if role == "admin":
                names[role] = base.ADMIN_USERNAME
                continue
            username = f"bench_page_{role}"
            if db.session.scalar(sa.select(User.id).where(User.username == username)) is None:
                user = create_user(
                    username=username,
                    full_name=f"页面基准{role}",
                    password=PASSWORD,
                    role_codes=[role],
                )
                user.unit = unit
            names[role] = username
        db.session.commit()
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--roles", default=",".join(ROLES))
    parser.add_argument("--slower-than", type=float, default=0, help="print only pages above (ms)")
    args = parser.parse_args(argv)
    os.environ["BENCH_DATABASE_URL"] = args.database_url
    os.environ.setdefault("FLASK_BACKGROUND_SCHEDULER", "off")

    import benchmark as base
    from bench_wsgi import build_app

    from models import db

    app = build_app()
    users = role_users(app, [role.strip() for role in args.roles.split(",") if role.strip()])
    timings: list[tuple[float, str]] = []
    with app.app_context():
        engine = db.engine

    @sa.event.listens_for(engine, "before_cursor_execute")
    def started(conn, cursor, statement, params, context, many):
        conn.info["started"] = time.perf_counter()

    @sa.event.listens_for(engine, "after_cursor_execute")
    def finished(conn, cursor, statement, params, context, many):
        timings.append(((time.perf_counter() - conn.info["started"]) * 1000, statement))

    print("| role | page | status | ms | statements | SQL ms | slowest statement (ms) |")
    print("|---|---|---:|---:|---:|---:|---|")
    for role, username in users.items():
        client = app.test_client()
        password = base.ADMIN_PASSWORD if role == "admin" else PASSWORD
        client.post("/admin/login/", data={"username": username, "password": password})
        home = client.get("/admin/").get_data(as_text=True)
        menu = home.split('class="nav navbar-nav mr-auto"', 1)[-1].split("</nav>", 1)[0]
        pages = sorted(set(re.findall(r'href="(/admin/[^"#]*)"', menu)))
        for page in [*pages, *EXTRA]:
            client.get(page)  # warms the process's caches and the remembered totals
            timings.clear()
            started_at = time.perf_counter()
            status = client.get(page).status_code
            wall = (time.perf_counter() - started_at) * 1000
            if wall < args.slower_than:
                continue
            slowest = max(timings, default=(0.0, ""))
            what = " ".join(slowest[1].split())[:60].replace("|", "/")
            print(
                f"| {role} | `{page}` | {status} | {wall:,.0f} | {len(timings)} | "
                f"{sum(ms for ms, _ in timings):,.0f} | {slowest[0]:,.0f} `{what}` |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
