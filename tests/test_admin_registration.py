"""Registering, finding and editing through the generated admin forms."""

import io
from datetime import timedelta

import pytest
import sqlalchemy as sa

from models import Attachment, Call, Callback, Case, CaseEvent, Letter, Party, Visit, db
from models.base import local_zone, utcnow
from models.enums import CaseStatus, EventKind, Satisfaction

PAST = (utcnow() - timedelta(hours=3)).astimezone(local_zone()).strftime("%Y-%m-%d %H:%M:%S")


def _only(model):
    return db.session.scalars(sa.select(model)).one()


def test_letter_with_new_case_and_new_writer(create_user, login_as, government):
    client = login_as(create_user("registrar"))
    response = client.post(
        "/admin/letter/new/",
        data={
            "new_person_name": "陈晓明",
            "new_person_phone": "13912345678",
            "new_person_id_type": "resident_id",
            "new_person_id_number": "11010519491231002x",
            "new_subject": "小区外墙渗水",
            "new_content": "外墙渗水已三个月，多次报修无人处理。",
            "new_demands": "尽快维修",
            "new_priority": "urgent",
            "received_at": PAST,
            "form": "paper",
            "origin": "direct",
            "envelope_intact": "y",
            "stamp_intact": "y",
        },
    )
    assert response.status_code == 302
    letter, case, party = _only(Letter), _only(Case), _only(Party)
    assert letter.case_id == case.id
    assert letter.writer_id == party.id
    assert party.id_number == "11010519491231002X"
    assert case.status == CaseStatus.registered
    assert case.priority.value == "urgent"
    assert case.number.startswith("XF")
    assert case.petitioners == [party]
    # The time typed in Beijing time is stored in UTC.
    assert letter.received_at.astimezone(local_zone()).strftime("%Y-%m-%d %H:%M:%S") == PAST

    found = client.get(f"/admin/case/?search={case.number}").get_data(as_text=True)
    assert "小区外墙渗水" in found
    details = client.get(f"/admin/case/details/?id={case.id}").get_data(as_text=True)
    for text in ("小区外墙渗水", "陈晓明", "纸质信函", "登记来信", "来信（1）"):
        assert text in details


def test_visit_and_call_attach_to_an_existing_case(create_user, create_case, login_as):
    registrar = create_user("registrar")
    case = create_case()
    client = login_as(registrar)
    visit = client.post(
        "/admin/visit/new/",
        data={
            "case": str(case.id),
            "new_person_name": "刘大爷",
            "visited_at": PAST,
            "kind": "individual",
            "head_count": "1",
            "purpose": "催问处理进度",
            "new_priority": "normal",
        },
    )
    call = client.post(
        "/admin/call/new/",
        data={
            "case": str(case.id),
            "called_at": PAST,
            "line": "hotline",
            "line_number": "12345",
            "caller_number": "0851-88886666",
            "record": "再次来电询问",
            "new_priority": "normal",
        },
    )
    assert (visit.status_code, call.status_code) == (302, 302)
    assert db.session.scalar(sa.select(sa.func.count(Case.id))) == 1
    assert _only(Visit).case_id == case.id and not _only(Visit).is_first_contact
    assert _only(Call).case_id == case.id
    details = client.get(f"/admin/case/details/?id={case.id}").get_data(as_text=True)
    assert "催问处理进度" in details
    assert "0851-88886666" in details
    assert "刘大爷" in db.session.get(Case, case.id).petitioner_names


def test_case_page_links_prefill_the_case(create_user, create_case, login_as):
    case = create_case()
    client = login_as(create_user("registrar"))
    form = client.get(f"/admin/letter/new/?case_id={case.id}").get_data(as_text=True)
    assert case.number in form


def test_editing_a_letter_is_on_the_timeline(create_user, create_case, login_as):
    registrar = create_user("registrar")
    client = login_as(registrar)
    client.post(
        "/admin/letter/new/",
        data={
            "new_subject": "噪声扰民",
            "new_content": "夜间施工",
            "new_priority": "normal",
            "received_at": PAST,
            "form": "paper",
            "origin": "direct",
        },
    )
    letter = _only(Letter)
    response = client.post(
        f"/admin/letter/edit/?id={letter.id}",
        data={"received_at": PAST, "form": "email", "origin": "direct", "summary": "补充摘要"},
    )
    assert response.status_code == 302
    event = db.session.scalars(
        sa.select(CaseEvent).where(CaseEvent.kind == EventKind.contact_edited)
    ).one()
    assert event.data["form"] == ["paper", "email"]
    assert event.created_by_id == registrar.id


def test_editing_a_case_records_who_changed_what(create_user, create_case, login_as):
    case = create_case()
    office = create_user("office")
    response = login_as(office).post(
        f"/admin/case/edit/?id={case.id}",
        data={
            "channel": "letter",
            "received_at": PAST,
            "priority": "emergency",
            "subject": "小区道路破损",
            "content": "已补充现场照片",
            "head_count": "1",
        },
    )
    assert response.status_code == 302
    event = db.session.scalars(sa.select(CaseEvent).where(CaseEvent.kind == EventKind.edited)).one()
    assert event.data["priority"] == ["normal", "emergency"]
    assert event.created_by_id == office.id


def test_deleting_a_case_hides_it(create_user, create_case, login_as):
    case = create_case()
    client = login_as(create_user("office"))
    assert client.post("/admin/case/delete/", data={"id": case.id}).status_code == 302
    assert db.session.get(Case, case.id).is_deleted
    assert case.number not in client.get("/admin/case/").get_data(as_text=True)


def test_callback_is_recorded_on_the_case(create_user, create_case, login_as):
    case = create_case()
    client = login_as(create_user("office"))
    response = client.post(
        "/admin/callback/new/",
        data={
            "case": str(case.id),
            "method": "phone",
            "person_reached": "张三",
            "done_at": PAST,
            "satisfaction": "basically_satisfied",
            "opinion": "基本满意",
        },
    )
    assert response.status_code == 302
    callback = _only(Callback)
    assert callback.satisfaction == Satisfaction.basically_satisfied
    details = client.get(f"/admin/case/details/?id={case.id}").get_data(as_text=True)
    assert "基本满意" in details


def test_attachment_upload_and_download(create_user, create_case, login_as):
    case = create_case()
    client = login_as(create_user("registrar"))
    response = client.post(
        f"/admin/attachment/new/?case_id={case.id}",
        data={
            "case": str(case.id),
            "kind": "scanned_letter",
            "title": "来信原件",
            "file": (io.BytesIO(b"%PDF-1.4 scanned letter"), "来信.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    attachment = _only(Attachment)
    download = client.get(f"/admin/attachment/download/?id={attachment.id}")
    assert download.status_code == 200
    assert download.data == b"%PDF-1.4 scanned letter"
    assert "attachment" in download.headers["Content-Disposition"]


def test_attachment_of_another_units_case_cannot_be_downloaded(
    create_user, create_case, login_as, government
):
    from models import Unit
    from models.operations.attachments import store_attachment

    units = db.session.scalars(sa.select(Unit).where(Unit.parent_id.is_not(None))).all()
    case = create_case(handling_unit=units[0])
    attachment = store_attachment(
        Attachment(case=case), filename="a.pdf", data=b"%PDF-1.4", by=create_user("registrar")
    )
    db.session.commit()
    outsider = login_as(create_user("handler", unit=units[1]))
    assert outsider.get(f"/admin/attachment/download/?id={attachment.id}").status_code == 404


@pytest.mark.own_connections
def test_new_user_can_log_in(create_user, login_as, client):
    admin_client = login_as(create_user("admin"))
    from models import Role

    role = db.session.scalars(sa.select(Role).where(Role.code == "handler")).one()
    response = admin_client.post(
        "/admin/user/new/",
        data={
            "username": "zhangsan",
            "full_name": "张三",
            "roles": str(role.id),
            "is_active_user": "y",
            "new_password": "Handler2026",
        },
    )
    assert response.status_code == 302
    admin_client.post("/admin/logout/")
    login = client.post("/admin/login/", data={"username": "zhangsan", "password": "Handler2026"})
    assert login.status_code == 302
    assert "承办人" in client.get("/admin/").get_data(as_text=True)


def test_case_details_show_flags_together(create_user, create_case, login_as):
    case = create_case(is_important=True, is_sensitive=True)
    html = login_as(create_user("office")).get(f"/admin/case/details/?id={case.id}")
    text = html.get_data(as_text=True)
    assert "标记" in text
    assert "重要" in text and "敏感" in text


def test_statistics_count_batches_and_people(create_user, create_case, login_as, government):
    from models.enums import CaseChannel

    create_case(channel=CaseChannel.visit, is_group=True, head_count=12)
    create_case(channel=CaseChannel.letter)
    html = login_as(create_user("leader")).get("/admin/stats/").get_data(as_text=True)
    # A group visit of 12 is 1 batch and 12 person-visits.
    assert "2 / 13" in html and "1 / 12" in html
    bad = login_as(create_user("leader")).get("/admin/stats/?start=2026-12-01&end=2026-01-01")
    assert "结束日期不能早于开始日期" in bad.get_data(as_text=True)


def test_concurrent_edits_do_not_overwrite_each_other(create_user, create_case, app):
    case = create_case()
    first, second = app.test_client(), app.test_client()
    office = create_user("office")
    for client in (first, second):
        with client.session_transaction() as session:
            session["_user_id"] = office.session_token
    form = {
        "channel": "letter",
        "received_at": PAST,
        "priority": "normal",
        "content": "内容",
        "head_count": "1",
        "expected_version": "1",
    }
    assert first.get(f"/admin/case/edit/?id={case.id}").status_code == 200
    saved = first.post(f"/admin/case/edit/?id={case.id}", data={**form, "subject": "第一人修改"})
    assert saved.status_code == 302
    refused = second.post(f"/admin/case/edit/?id={case.id}", data={**form, "subject": "第二人修改"})
    assert "已被他人修改" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Case, case.id).subject == "第一人修改"


def test_home_page_counts_and_my_cases_link(create_user, create_case, login_as):
    import re

    # The office sees every case, so only the filter can hide the others.
    office = create_user("office")
    mine = create_case(subject="我承办的事项", handler=office)
    create_case(subject="别人的事项")
    client = login_as(office)
    home = client.get("/admin/").get_data(as_text=True)
    link = re.search(r'href="(/admin/case/\?flt0_\d+=1)"', home)
    assert link, "the home page links to the user's own cases"
    listing = client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert mine.number in listing
    assert "别人的事项" not in listing


def test_case_search_by_name_part_and_subject(create_user, create_case, create_party, login_as):
    create_case(subject="路灯不亮", petitioners=[create_party("陈晓明")])
    create_case(subject="收费上涨100%")
    create_case(subject="其他事项")
    client = login_as(create_user("office"))

    def found(term):
        html = client.get("/admin/case/", query_string={"search": term}).get_data(as_text=True)
        return {s for s in ("路灯不亮", "收费上涨100%", "其他事项") if s in html}

    assert found("晓明") == {"路灯不亮"}
    assert found("100%") == {"收费上涨100%"}
    assert found("%") == {"收费上涨100%"}
    assert found("路灯 晓明") == {"路灯不亮"}
    assert found("不存在") == set()


CONTACT_FORMS = {
    "letter": (Letter, {"received_at": PAST, "form": "paper", "origin": "direct"}),
    "visit": (
        Visit,
        {"visited_at": PAST, "kind": "group", "head_count": "6", "purpose": "集体反映"},
    ),
    "call": (Call, {"called_at": PAST, "line": "hotline", "record": "来电反映问题"}),
}


@pytest.mark.parametrize("endpoint", sorted(CONTACT_FORMS))
@pytest.mark.parametrize("existing", [False, True], ids=["new-case", "existing-case"])
def test_each_contact_registers_is_found_and_edited(
    endpoint, existing, create_user, create_case, login_as
):
    model, fields = CONTACT_FORMS[endpoint]
    client = login_as(create_user("registrar"))
    data = {**fields, "new_person_name": "林小燕", "new_priority": "normal"}
    if existing:
        data["case"] = str(create_case(subject="已有事项").id)
    else:
        data.update(new_subject="新反映的事项", new_content="具体内容")
    assert client.post(f"/admin/{endpoint}/new/", data=data).status_code == 302

    contact = _only(model)
    case = db.session.get(Case, contact.case_id)
    assert case.subject == ("已有事项" if existing else "新反映的事项")
    assert "林小燕" in case.petitioner_names
    listing = client.get(f"/admin/{endpoint}/?search={case.number}").get_data(as_text=True)
    assert case.number in listing
    edit = client.post(f"/admin/{endpoint}/edit/?id={contact.id}", data={**fields})
    assert edit.status_code == 302
    details = client.get(f"/admin/case/details/?id={case.id}").get_data(as_text=True)
    assert "林小燕" in details
    if endpoint == "visit" and not existing:
        assert case.is_group and case.head_count == 6


@pytest.mark.own_connections
def test_each_demo_account_logs_in_to_a_chinese_menu(app):
    from models.maintenance.demo import DEMO_USERS, seed_demo

    seed_demo(case_count=10, password="demo12345")
    db.session.commit()
    for username, _name, _role, _unit in DEMO_USERS:
        client = app.test_client()
        response = client.post(
            "/admin/login/", data={"username": username, "password": "demo12345"}
        )
        assert response.status_code == 302, username
        home = client.get("/admin/").get_data(as_text=True)
        assert "登记" in home and "办理" in home and "退出" in home, username
        assert client.get("/admin/case/").status_code == 200


def test_attachment_uploaded_from_a_letter_belongs_to_it(create_user, login_as):
    client = login_as(create_user("registrar"))
    client.post(
        "/admin/letter/new/",
        data={
            "new_subject": "附件测试",
            "new_content": "内容",
            "new_priority": "normal",
            "received_at": PAST,
            "form": "paper",
            "origin": "direct",
        },
    )
    letter = _only(Letter)
    details = client.get(f"/admin/letter/details/?id={letter.id}").get_data(as_text=True)
    assert f"letter_id={letter.id}" in details
    response = client.post(
        f"/admin/attachment/new/?case_id={letter.case_id}&letter_id={letter.id}",
        data={
            "case": str(letter.case_id),
            "kind": "envelope",
            "title": "信封正面",
            "file": (io.BytesIO(b"\xff\xd8\xff\xe0 jpeg"), "envelope.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert _only(Attachment).letter_id == letter.id
    details = client.get(f"/admin/letter/details/?id={letter.id}").get_data(as_text=True)
    assert "信封正面" in details


def test_party_list_masks_identity_numbers(create_user, create_party, login_as):
    party = create_party("赵敏", id_type="resident_id", id_number="11010519491231002X")
    client = login_as(create_user("registrar"))
    listing = client.get("/admin/party/").get_data(as_text=True)
    assert "110105********002X" in listing
    assert "11010519491231002X" not in listing
    details = client.get(f"/admin/party/details/?id={party.id}").get_data(as_text=True)
    assert "11010519491231002X" in details
