"""Benchmark the streaming CSV and Excel exports of the case list on a large register.

Loads generated cases with ``scripts/benchmark.py``'s loader (bulk Core inserts), then exports
the whole case list as an administrator through the Flask test client, reading the response
in chunks as a browser would, and prints time, size and the growth of the process's peak
resident memory. Run from the project root::

    .venv/bin/python scripts/benchmark_exports.py --cases 100000
    .venv/bin/python scripts/benchmark_exports.py --cases 100000 \\
        --database postgresql://postgres@127.0.0.1:5432/some_scratch_db

The database given with ``--database`` is emptied and refilled: never point it at real data.
Without it a SQLite file in the temp directory is used.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import benchmark  # noqa: E402

from app import create_app, database_url_from_env  # noqa: E402
from models import db  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--database", default=None, help="scratch database URL (emptied)")
    args = parser.parse_args(argv)
    if args.database:
        import os

        os.environ["BENCH_EXPORT_DB"] = args.database
        url = database_url_from_env("BENCH_EXPORT_DB")
    else:
        url = benchmark.sqlite_url()
    app = create_app({**benchmark.BENCH_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        db.drop_all()
    benchmark.log(f"loading {args.cases:,} cases into {url.split('@')[-1]}")
    benchmark.load(app, args.cases)
    client = app.test_client()
    response = client.post(
        "/admin/login/",
        data={"username": benchmark.ADMIN_USERNAME, "password": benchmark.ADMIN_PASSWORD},
    )
    assert response.status_code == 302, response.status_code
    print("| export | rows | size | time | peak RSS growth |\n|---|---|---|---|---|")
    for export_type in ("csv", "xlsx"):
        before = peak_rss_mb()
        started = time.perf_counter()
        response = client.get(f"/admin/case/export/{export_type}/", buffered=False)
        size = 0
        lines = 0
        for chunk in response.response:
            size += len(chunk)
            if export_type == "csv":
                lines += chunk.count(b"\n")
        response.close()
        seconds = time.perf_counter() - started
        rows = f"{lines - 1:,}" if export_type == "csv" else "same"
        growth = peak_rss_mb() - before
        print(
            f"| {export_type} | {rows} | {size / 1e6:.1f} MB | {seconds:.1f} s | {growth:.0f} MB |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
