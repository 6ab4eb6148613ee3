"""Registers (台账): the form, bad input, in-request and background rendering (local thread
and, when Redis answers, RQ), progress and download, permissions."""

from __future__ import annotations

import io
import os
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from models import Category, Letter, RegisterJob, SystemSetting, db
from models.base import to_local, utcnow
from models.enums import LetterForm, LetterOrigin, RegisterJobStatus
from models.operations import registers as register_ops
from models.operations.registers import QUEUE_NAME
from models.rendering import registers as register_documents
from tests.conftest import row_counts, worker_redis_url

REDIS_URL = os.environ.get("TEST_REDIS_URL") or worker_redis_url((5, 1, 2, 3, 4))


def pdf_pages(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


@pytest.fixture
def staff(app, government, create_user):
    return {
        "office": create_user("office"),
        "supervisor": create_user("supervisor"),
        "handler": create_user("handler"),
    }


@pytest.fixture
def letters(staff, create_case, create_party):
    """60 letters this month, one with a rare name and markup."""
    category = db.session.scalar(sa.select(Category).where(Category.name == "物业管理"))
    cases = []
    for number in range(60):
        party = create_party(name="王堃" if number == 0 else f"来信人{number}")
        case = create_case(
            by=staff["office"],
            subject="<b>电梯</b>停运" if number == 0 else f"道路破损第{number}号",
            petitioners=[party],
            category_id=category.id,
        )
        db.session.add(
            Letter(
                case_id=case.id,
                writer_id=party.id,
                received_at=case.received_at,
                form=LetterForm.paper,
                origin=LetterOrigin.direct,
            )
        )
        cases.append(case)
    db.session.commit()
    return cases


def _form(**values):
    today = to_local(utcnow()).date()
    data = {
        "kind": "letters",
        "start": (today - timedelta(days=1)).isoformat(),
        "end": today.isoformat(),
        "unit_id": "",
        "category_id": "",
    }
    data.update(values)
    return data


@pytest.mark.parametrize("parallel_min_rows", [None, 10], ids=["one-part", "two-parts"])
def test_small_register_renders_in_the_request(
    client, login_as, staff, letters, monkeypatch, parallel_min_rows
):
    if parallel_min_rows:
        # Long registers render as two parts side by side, joined, footers stamped afterwards.
        monkeypatch.setattr(register_documents, "PARALLEL_MIN_ROWS", parallel_min_rows)
    # Above the default threshold (50 rows): this office renders up to 100 in the request.
    db.session.get(SystemSetting, "register_background_rows").value = "100"
    db.session.commit()
    login_as(staff["supervisor"])
    page = client.get("/admin/registers/")
    assert page.status_code == 200 and "来信登记台账" in page.get_data(as_text=True)
    response = client.post("/admin/registers/", data=_form())
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    pages = pdf_pages(response.data)
    assert len(pages) >= 3
    # Header row on every page, "第 N 页 共 M 页" on every page, every row present.
    for number, text in enumerate(pages, start=1):
        assert "登记编号" in text and "事由" in text
        assert f"第 {number} 页 共 {len(pages)} 页" in text
    everything = re.sub(r"\s+", "", "".join(pages))
    assert "王堃" in everything and "<b>电梯</b>停运" in everything
    for case in letters:
        assert case.number in everything
    # The heading once, rows in order and numbered without a gap across the parts.
    assert everything.count("共60条") == 1
    numbers = [int(n) for n in re.findall(r"^\s*(\d+) ", "\n".join(pages), re.MULTILINE)]
    assert numbers == list(range(1, 61))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RegisterJob)) == 0


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"start": "2026-13-01"}, "有效的开始日期"),
        ({"end": "yesterday"}, "有效的结束日期"),
        ({"start": "2026-03-02", "end": "2026-03-01"}, "结束日期不能早于开始日期"),
        ({"start": "2020-01-01", "end": "2026-03-01"}, "不能超过三年"),
        ({"kind": "everything"}, "请选择台账种类"),
        ({"unit_id": "1 OR 1=1"}, "有效的承办单位"),
    ],
)
def test_bad_register_input(client, login_as, staff, values, message):
    login_as(staff["office"])
    before = row_counts()
    response = client.post("/admin/registers/", data=_form(**values))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert row_counts() == before


def test_permission(client, login_as, staff):
    login_as(staff["handler"])
    assert client.get("/admin/registers/").status_code == 403
    assert client.post("/admin/registers/", data=_form()).status_code == 403


def _lower_threshold():
    setting = db.session.get(SystemSetting, "register_background_rows")
    setting.value = "50"
    db.session.commit()


@pytest.mark.own_connections
def test_large_register_runs_in_a_local_thread(app, client, login_as, staff, letters, monkeypatch):
    app.config.pop("REDIS_URL", None)
    monkeypatch.setattr(register_documents, "PARALLEL_MIN_ROWS", 10)  # as a long register
    _lower_threshold()
    login_as(staff["office"])
    response = client.post("/admin/registers/", data=_form(category_id=str(letters[0].category_id)))
    assert response.status_code == 302
    job = db.session.scalars(sa.select(RegisterJob)).one()
    assert job.runner == "thread" and job.row_count == 60
    register_ops.local_threads[job.id].join(120)
    db.session.expire_all()
    job = db.session.get(RegisterJob, job.id)
    assert job.status == RegisterJobStatus.done and job.progress == 100, job.message
    assert job.page_count and job.page_count >= 3

    page = client.get(f"/admin/registers/job/{job.id}").get_data(as_text=True)
    assert "台账已生成" in page and f"/admin/registers/job/{job.id}/pdf" in page
    pdf = client.get(f"/admin/registers/job/{job.id}/pdf")
    assert pdf.mimetype == "application/pdf" and pdf.data == job.pdf
    assert len(pdf_pages(pdf.data)) == job.page_count
    # Only the person who asked for it sees the job.
    login_as(staff["supervisor"])
    assert client.get(f"/admin/registers/job/{job.id}").status_code == 404
    assert client.get(f"/admin/registers/job/{job.id}/pdf").status_code == 404


def test_running_job_page_refreshes_itself(client, login_as, staff):
    job = RegisterJob(
        kind="letters",
        params={"start": "2026-03-01", "end": "2026-03-31"},
        status=RegisterJobStatus.running,
        progress=40,
        page_count=12,
        row_count=900,
        created_by_id=staff["office"].id,
    )
    db.session.add(job)
    db.session.commit()
    login_as(staff["office"])
    page = client.get(f"/admin/registers/job/{job.id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' in page and "40%" in page and "已排版 12 页" in page


def _redis_or_skip():
    try:
        from redis import Redis

        connection = Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
        connection.ping()
    except Exception:
        pytest.skip("Redis is not available")
    return connection


def test_large_register_goes_to_rq(app, client, login_as, staff, letters):
    connection = _redis_or_skip()
    from rq import Queue

    from scripts.worker import AppContextWorker

    queue = Queue(QUEUE_NAME, connection=connection)
    queue.empty()
    app.config["REDIS_URL"] = REDIS_URL
    try:
        _lower_threshold()
        login_as(staff["office"])
        response = client.post("/admin/registers/", data=_form())
        assert response.status_code == 302
        job = db.session.scalars(sa.select(RegisterJob)).one()
        assert job.runner == "rq" and job.status == RegisterJobStatus.queued
        assert queue.count == 1
        job_id = job.id
        # The job worker's own class runs the job here, inside the test's app context; it
        # ends the session afterwards, as it does after every job.
        AppContextWorker([queue], connection=connection).work(burst=True)
        job = db.session.get(RegisterJob, job_id)
        assert job.status == RegisterJobStatus.done, job.message
        assert job.pdf.startswith(b"%PDF-")
    finally:
        app.config.pop("REDIS_URL", None)
        queue.empty()


def test_oversized_register_is_refused(client, login_as, staff, letters, monkeypatch):
    monkeypatch.setattr(register_ops, "MAX_ROWS", 10)
    login_as(staff["office"])
    before = row_counts()
    response = client.post("/admin/registers/", data=_form())
    assert response.status_code == 400
    assert "超过单册 10 条的上限" in response.get_data(as_text=True)
    assert row_counts() == before


@pytest.mark.parametrize("kind", ["visits", "calls", "complaints", "callbacks", "overdue"])
def test_every_register_kind_prints(client, login_as, staff, create_case, kind):
    from models import Call, Callback, Visit
    from models.enums import CallbackMethod, CallLine, Satisfaction, VisitKind
    from models.operations.workflow import perform

    complaint = db.session.scalar(sa.select(Category).where(Category.name == "物业管理"))
    case = create_case(by=staff["office"], subject="噪声扰民堃", category_id=complaint.id)
    now = utcnow() - timedelta(hours=1)
    db.session.add_all(
        [
            Visit(case_id=case.id, visited_at=now, kind=VisitKind.individual, purpose="噪声扰民堃"),
            Call(case_id=case.id, called_at=now, line=CallLine.hotline, record="噪声扰民堃"),
            Callback(
                case_id=case.id,
                method=CallbackMethod.phone,
                done_at=now,
                satisfaction=Satisfaction.satisfied,
                opinion="满意堃",
            ),
        ]
    )
    perform("accept", case, by=staff["office"])
    for clock in case.clocks:
        clock.due_at = now - timedelta(minutes=5)  # overdue within the range
    db.session.commit()
    login_as(staff["office"])
    response = client.post("/admin/registers/", data=_form(kind=kind))
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = re.sub(r"\s+", "", "".join(pdf_pages(response.data)))
    assert case.number in text and "堃" in text
