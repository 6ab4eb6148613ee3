"""Benchmark the streaming CSV and Excel exports of the case list on a large register.

Loads generated cases with ``scripts/benchmark.py``'s loader (bulk Core inserts), then exports
the whole case list as an administrator through the Flask test client, reading the response
in chunks as a browser would, and prints time, size and how far the process's resident memory
rose above its level before the export (sampled at every chunk). Run from the project root::

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
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import benchmark  # noqa: E402

from app import create_app, database_url_from_env  # noqa: E402
from models import db  # noqa: E402


def rss_mb() -> float:
    """Current resident memory of this process (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--database", default=None, help="scratch database URL (emptied)")
    parser.add_argument(
        "--skip-load",
        action="store_true",
        help="export what the last run loaded, in a fresh process (memory not inflated by loading)",
    )
    args = parser.parse_args(argv)
    if args.database:
        import os

        os.environ["BENCH_EXPORT_DB"] = args.database
        url = database_url_from_env("BENCH_EXPORT_DB")
    elif args.skip_load:
        url = f"sqlite:///{benchmark.SQLITE_PATH}"
    else:
        url = benchmark.sqlite_url()
    app = create_app({**benchmark.BENCH_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
    if not args.skip_load:
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
    print("| export | rows | size | time | RSS before | highest RSS rise |")
    print("|---|---|---|---|---|---|")
    for export_type in ("csv", "xlsx"):
        before = rss_mb()
        samples = [before]
        done = threading.Event()

        def sample(samples=samples, done=done):
            # The Excel file is written before the response starts: sample in the background.
            while not done.wait(0.05):
                samples.append(rss_mb())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
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
        done.set()
        sampler.join()
        highest = max(samples)
        rows = f"{lines - 1:,}" if export_type == "csv" else "same"
        print(
            f"| {export_type} | {rows} | {size / 1e6:.1f} MB | {seconds:.1f} s "
            f"| {before:.0f} MB | {highest - before:.0f} MB |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
