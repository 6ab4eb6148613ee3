"""Benchmark the PDF documents and registers (issue 5 targets D1 and D2 of perf-security.md).

Prints, as Markdown:

1. the reply letter (GB/T 9704 letter format, about 450 characters of body): warm render
   times over ``--letters`` renders (p50, p95) and the PDF size;
2. registers of ``--register-rows`` rows (default 1,000 and 5,000): render time, pages, PDF
   size and the peak memory (RSS) of the render process; each size runs in a fresh Python
   process so peaks do not mix;
3. a 5,000-row register requested through the web app: how long the request takes (it only
   queues the job), how fast other requests of the same worker answer while the register
   renders in the background, and when the job is done.

Run from the project root (uses its own SQLite files under the temp directory)::

    .venv/bin/python scripts/benchmark_documents.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from app import create_app  # noqa: E402
from models import (  # noqa: E402
    Case,
    Letter,
    NumberSequence,
    Party,
    RegisterJob,
    SystemSetting,
    db,
)
from models.enums import (  # noqa: E402
    CaseChannel,
    CaseStatus,
    DocumentKind,
    LetterForm,
    LetterOrigin,
    RegisterJobStatus,
    RegisterKind,
)
from models.maintenance.presets import load_preset  # noqa: E402
from models.operations import registers as register_ops  # noqa: E402
from models.operations.documents import build_html  # noqa: E402
from models.operations.users import create_user  # noqa: E402
from models.rendering.catalog import TYPES, sample_values  # noqa: E402
from models.rendering.pdf import render_pdf  # noqa: E402
from models.rendering.registers import RegisterParams, register_parts  # noqa: E402

BENCH_PASSWORD = "bench12345"  # noqa: S105 - a throw-away account in a temp database
CONFIG = {"TESTING": True, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False, "REDIS_URL": None}


def bench_app(name: str):
    path = Path(tempfile.gettempdir()) / f"xinfang_documents_{name}.db"
    path.unlink(missing_ok=True)
    app = create_app({**CONFIG, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    with app.app_context():
        db.create_all()
        load_preset("government")
        db.session.commit()
    return app


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def reply_letter(count: int) -> dict:
    app = bench_app("letter")
    with app.app_context(), app.test_request_context():
        doc_type = TYPES[DocumentKind.reply_letter]
        html = build_html(
            doc_type,
            sample_values(DocumentKind.reply_letter),
            authority="示范县人民政府信访局",
            number="县信复〔2026〕12号",
            issued_on=date(2026, 3, 1),
        )
        render_pdf(html)  # warm: fonts loaded, first fork done
        times, size = [], 0
        for _ in range(count):
            started = time.perf_counter()
            size = len(render_pdf(html))
            times.append(time.perf_counter() - started)
    return {
        "renders": count,
        "p50": statistics.median(times),
        "p95": percentile(times, 0.95),
        "size": size,
    }


def synthetic_rows(count: int) -> list[tuple[str, ...]]:
    subjects = ["小区道路破损积水", "噪声扰民夜间施工", "拖欠工资三个月", "物业费收费标准"]
    return [
        (
            str(n),
            f"XF2026-{n:06d}",
            "2026-03-01",
            f"来信人{n}",
            "纸质信件/直接来信",
            subjects[n % 4] + ("，要求尽快处理并答复" if n % 3 == 0 else ""),
            "城乡建设",
            "县住房和城乡建设局",
            "办理中",
            "",
        )
        for n in range(1, count + 1)
    ]


def register_once(rows: int) -> dict:
    """Runs in its own process (see ``--one-register``): render and report the child's peak."""
    app = bench_app(f"register_{rows}")
    with app.app_context(), app.test_request_context():
        params = RegisterParams(RegisterKind.letters, date(2026, 3, 1), date(2026, 3, 31))
        parts = register_parts(params, synthetic_rows(rows))
        render_pdf("<p>预热</p>")  # the fork starts from a warm, fonts-loaded parent
        base_mb = _rss_mb()
        pages = {"n": 0}
        started = time.perf_counter()
        pdf = register_ops.render_register(
            parts, timeout=600, on_page=lambda n: pages.__setitem__("n", n)
        )
        elapsed = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "rows": rows,
        "seconds": elapsed,
        "pages": pages["n"],
        "size": len(pdf),
        "peak_mb": peak_kb / 1024,
        "base_mb": base_mb,
    }


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def seed_letters(count: int) -> None:
    """Bulk-insert ``count`` cases, each with one letter received today."""
    now = datetime.now(UTC) - timedelta(minutes=5)
    db.session.execute(
        sa.insert(Party), [{"name": f"来信人{n}", "phone": "13800000000"} for n in range(count)]
    )
    party_ids = list(db.session.scalars(sa.select(Party.id).order_by(Party.id)))
    db.session.execute(
        sa.insert(Case),
        [
            {
                "number": f"XF2026-{n:06d}",
                "register": "case",
                "register_year": 2026,
                "register_seq": n,
                "channel": CaseChannel.letter,
                "status": CaseStatus.registered,
                "subject": f"道路破损第{n}号，要求尽快修复",
                "content": "小区门口道路破损，雨天积水。",
                "received_at": now,
                "petitioner_names": f"来信人{n}",
            }
            for n in range(1, count + 1)
        ],
    )
    case_ids = list(db.session.scalars(sa.select(Case.id).order_by(Case.id)))
    db.session.execute(
        sa.insert(Letter),
        [
            {
                "case_id": case_id,
                "writer_id": party_id,
                "received_at": now,
                "form": LetterForm.paper,
                "origin": LetterOrigin.direct,
            }
            for case_id, party_id in zip(case_ids, party_ids, strict=True)
        ],
    )
    db.session.add(NumberSequence(register="case", year=2026, last_value=count))
    db.session.commit()


def web_worker_stays_free(rows: int) -> dict:
    app = bench_app("web")
    with app.app_context():
        seed_letters(rows)
        # Anything above this goes to the background; keep the default unless rows are few.
        threshold = db.session.get(SystemSetting, "register_background_rows")
        threshold.value = str(min(500, rows - 1))
        user = create_user(
            username="bench_office",
            full_name="办公室",
            password=BENCH_PASSWORD,
            role_codes=["office"],
        )
        db.session.commit()
        token = user.session_token
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = token
        session["_fresh"] = True
    today = datetime.now(UTC).astimezone().date()
    form = {
        "kind": "letters",
        "start": (today - timedelta(days=1)).isoformat(),
        "end": (today + timedelta(days=1)).isoformat(),
        "unit_id": "",
        "category_id": "",
    }
    with app.app_context():
        started = time.perf_counter()
        response = client.post("/admin/registers/", data=form)
        request_seconds = time.perf_counter() - started
        assert response.status_code == 302, response.status_code
        job_id = db.session.scalar(sa.select(RegisterJob.id))
        job_started = started
        latencies = []
        while True:
            t0 = time.perf_counter()
            page = client.get(f"/admin/registers/job/{job_id}")
            latencies.append(time.perf_counter() - t0)
            assert page.status_code == 200
            db.session.expire_all()
            job = db.session.get(RegisterJob, job_id)
            if job.status in (RegisterJobStatus.done, RegisterJobStatus.failed):
                break
            time.sleep(0.5)
        thread = register_ops.local_threads.get(job_id)
        if thread is not None:
            thread.join()
        total = time.perf_counter() - job_started
        return {
            "rows": rows,
            "request_seconds": request_seconds,
            "polls": len(latencies),
            "poll_p50": statistics.median(latencies),
            "poll_max": max(latencies),
            "job_seconds": total,
            "status": job.status.value,
            "pages": job.page_count,
            "size": job.size or 0,
            "message": job.message,
        }


def run_register_subprocess(rows: int) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--one-register", str(rows)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--letters", type=int, default=21)
    parser.add_argument("--register-rows", default="1000,5000")
    parser.add_argument("--web-rows", type=int, default=5000)
    parser.add_argument("--one-register", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_register:
        print(json.dumps(register_once(args.one_register)))
        return

    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"Load average at start: {os.getloadavg()[0]:.2f}\n")
    letter = reply_letter(args.letters)
    print("### Reply letter (答复意见书), warm\n")
    print("| renders | p50 | p95 | PDF size |\n|---|---|---|---|")
    print(
        f"| {letter['renders']} | {letter['p50']:.3f} s | {letter['p95']:.3f} s "
        f"| {letter['size'] / 1024:.0f} KB |\n"
    )
    print("### Registers (A4 landscape, fixed column widths)\n")
    print(
        "| rows | time | per 1,000 rows | pages | PDF size "
        "| peak RSS of the render process | RSS of the process it forks from |"
    )
    print("|---|---|---|---|---|---|---|")
    for rows in (int(value) for value in args.register_rows.split(",")):
        result = run_register_subprocess(rows)
        print(
            f"| {rows:,} | {result['seconds']:.1f} s | {result['seconds'] * 1000 / rows:.1f} s "
            f"| {result['pages']} | {result['size'] / 1024:.0f} KB | {result['peak_mb']:.0f} MB "
            f"| {result['base_mb']:.0f} MB |"
        )
    print()
    if args.web_rows <= 0:  # --web-rows 0 skips the web-worker measurement
        print(f"Load average at the end: {os.getloadavg()[0]:.2f}")
        return
    web = web_worker_stays_free(args.web_rows)
    print(f"### A {web['rows']:,}-row register requested through the web app\n")
    print("| POST (queues the job) | job page while rendering: p50 / max | job done after |")
    print("|---|---|---|")
    print(
        f"| {web['request_seconds']:.2f} s | {web['poll_p50'] * 1000:.0f} ms / "
        f"{web['poll_max'] * 1000:.0f} ms over {web['polls']} requests | "
        f"{web['job_seconds']:.1f} s ({web['status']}, {web['pages']} pages, "
        f"{web['size'] / 1024:.0f} KB) |"
    )
    if web["message"]:
        print(f"\nJob message: {web['message']}")
    print(f"\nLoad average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
