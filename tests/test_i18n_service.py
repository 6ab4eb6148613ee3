"""Refusals raised by the service layer speak the language the user chose.

The operations in ``models/operations`` word their refusals through gettext at the moment they
raise, so after ``/lang/en`` the flashed or inline message is the English catalogue entry, with
its placeholders filled in, and none of the Chinese original is left on the page.
"""

from __future__ import annotations

import io
from datetime import timedelta

import sqlalchemy as sa

from models import db
from models.base import local_zone, utcnow
from models.enums import AppointmentStatus
from models.reception import Appointment
from models.units import Unit
from tests.conftest import row_counts
from tests.test_i18n import locale_per_request  # noqa: F401 (autouse: locale per request)
from tests.test_reception import VISITOR_ID, local_text


def text_of(response) -> str:
    return response.get_data(as_text=True)


def local_seconds(delta: timedelta) -> str:
    return (utcnow() + delta).astimezone(local_zone()).strftime("%Y-%m-%d %H:%M:%S")


def test_registration_refusal_is_english(create_user, login_as, government):
    client = login_as(create_user("admin"))
    client.get("/lang/en")
    before = row_counts()
    letter = {
        "new_subject": "道路破损",
        "new_content": "小区门口道路破损",
        "new_priority": "normal",
        "form": "paper",
        "origin": "direct",
        "received_at": local_seconds(timedelta(hours=-2)),
        # Opened a day before it arrived: only the service layer knows the two belong together.
        "opened_at": local_seconds(timedelta(days=-1)),
    }
    html = text_of(client.post("/admin/letter/new/", data=letter))
    assert "The opening time cannot be earlier than the time the letter was received" in html
    assert "拆封时间不能早于收信时间" not in html
    assert row_counts() == before

    # The same refusal in Chinese once the user switches back.
    client.get("/lang/zh_Hans_CN")
    html = text_of(client.post("/admin/letter/new/", data=letter))
    assert "拆封时间不能早于收信时间" in html
    assert "The opening time" not in html


def test_upload_refusal_fills_its_placeholder_in_english(
    create_user, create_case, login_as, government
):
    client = login_as(create_user("admin"))
    case = create_case()
    client.get("/lang/en")
    before = row_counts()
    response = client.post(
        "/admin/attachment/new/",
        data={
            "case": str(case.id),
            "kind": "document",
            "title": "材料",
            "file": (io.BytesIO(b"MZ\x90"), "virus.exe"),
        },
        content_type="multipart/form-data",
    )
    html = text_of(response)
    assert "Files of this type may not be uploaded; allowed types: " in html
    assert "pdf" in html.split("allowed types: ", 1)[1][:200]
    assert "不允许上传此类型的文件" not in html and "允许的类型" not in html
    assert row_counts() == before


def test_workflow_and_permission_refusals_are_english(
    create_user, create_case, login_as, government
):
    admin = create_user("admin")
    case = create_case()
    client = login_as(admin)
    client.get("/lang/en")

    # A step the case's state does not allow: refused with the state and step in English.
    html = text_of(client.get(f"/admin/workflow/close/{case.id}/", follow_redirects=True))
    assert "The case is currently “Registered”; “" in html and "” is not possible" in html
    assert "事项当前状态为" not in html and "不能办结" not in html

    # A visit request that a registrar may not approve: NotPermitted, worded in English.
    unit = db.session.scalars(sa.select(Unit).where(Unit.parent_id.is_not(None))).first()
    registrar = create_user("registrar")
    client = login_as(registrar)
    response = client.post(
        "/admin/appointment/new/",
        data={
            "kind": "application",
            "channel": "in_person",
            "visitor_name": "孙来访",
            "gender": "male",
            "id_type": "resident_id",
            "id_number": VISITOR_ID,
            "head_count": "1",
            "unit": str(unit.id),
            "expected_at": local_text(timedelta(hours=1)),
            "purpose": "洽谈工程验收",
            "signature_confirmed": "y",
        },
    )
    assert response.status_code == 302, text_of(response)
    application = db.session.scalar(sa.select(Appointment))
    refused = text_of(
        client.post(f"/admin/appointment/approve/?id={application.id}", follow_redirects=True)
    )
    assert "You do not have permission to approve visit requests" in refused
    assert "您没有审批来访申请的权限" not in refused
    db.session.expire_all()
    assert db.session.get(Appointment, application.id).status == AppointmentStatus.pending
