"""Malformed input to every create form: a Chinese message, status 200/400, nothing saved."""

import io
from datetime import timedelta

import pytest

from models import SystemSetting, db
from models.base import local_zone, utcnow
from tests.conftest import row_counts

PAST = (utcnow() - timedelta(hours=2)).astimezone(local_zone()).strftime("%Y-%m-%d %H:%M:%S")
FUTURE = (utcnow() + timedelta(days=2)).astimezone(local_zone()).strftime("%Y-%m-%d %H:%M:%S")

NEW_CASE = {"new_subject": "道路破损", "new_content": "小区门口道路破损", "new_priority": "normal"}
LETTER = {**NEW_CASE, "received_at": PAST, "form": "paper", "origin": "direct"}
VISIT = {
    **NEW_CASE,
    "visited_at": PAST,
    "kind": "individual",
    "head_count": "1",
    "purpose": "反映问题",
}
CALL = {**NEW_CASE, "called_at": PAST, "line": "office_line", "record": "来电反映"}
CASE = {
    "channel": "online",
    "received_at": PAST,
    "priority": "normal",
    "subject": "网上反映",
    "content": "内容",
    "head_count": "1",
}

BAD_INPUT = [
    ("letter", {}, "必须填写"),
    ("letter", {**LETTER, "received_at": FUTURE}, "不能晚于当前时间"),
    ("letter", {**LETTER, "received_at": "2026-13-45 99:00"}, "时间格式不正确"),
    ("letter", {**LETTER, "new_subject": ""}, "新事项必须填写此项"),
    (
        "letter",
        {**LETTER, "new_person_name": "张三", "new_person_phone": "12345678"},
        "电话号码格式不正确",
    ),
    (
        "letter",
        {
            **LETTER,
            "new_person_name": "张三",
            "new_person_id_type": "resident_id",
            "new_person_id_number": "110105194912310021",
        },
        "校验位不正确",
    ),
    ("letter", {**LETTER, "new_person_id_number": "11010519491231002X"}, "请填写姓名"),
    ("letter", {**LETTER, "origin": "forwarded"}, "原批转单位"),
    ("letter", {**LETTER, "sender_email": "not-an-email"}, "邮箱地址格式不正确"),
    ("letter", {**LETTER, "form": "carrier-pigeon"}, "Not a valid choice"),
    ("visit", {**VISIT, "purpose": ""}, "This field is required"),
    ("visit", {**VISIT, "head_count": "0"}, "at least 1"),
    ("visit", {**VISIT, "answered_on_spot": "y"}, "请填写答复内容"),
    ("call", {**CALL, "caller_number": "abc"}, "电话号码格式不正确"),
    ("call", {**CALL, "called_at": FUTURE}, "不能晚于当前时间"),
    ("case", {**CASE, "subject": ""}, "This field is required"),
    ("case", {**CASE, "received_at": FUTURE}, "不能晚于当前时间"),
    ("case", {**CASE, "head_count": "-3"}, "人数应在1到100000之间"),
    ("party", {"name": ""}, "This field is required"),
    (
        "party",
        {"name": "张三", "id_type": "resident_id", "id_number": "110105194912310021"},
        "校验位不正确",
    ),
    ("party", {"name": "张三", "phone": "999"}, "电话号码格式不正确"),
    ("party", {"name": "张三", "age": "200"}, "年龄应在0到150之间"),
    ("party", {"name": "张三", "age": "abc"}, "Not a valid integer"),
    ("callback", {"method": "phone"}, "This field is required"),
    ("unit", {"name": "", "kind": "department", "sort_order": "0"}, "This field is required"),
    (
        "unit",
        {"name": "新部门", "kind": "department", "sort_order": "0", "contact_phone": "x"},
        "电话号码格式不正确",
    ),
    ("category", {"name": "", "kind": "complaint", "sort_order": "0"}, "This field is required"),
    ("user", {"username": "newuser", "full_name": "新用户"}, "新建用户必须设置密码"),
    (
        "user",
        {"username": "newuser", "full_name": "新用户", "new_password": "12345678"},
        "字母和数字",
    ),
    ("role", {"name": "", "code": "x"}, "This field is required"),
]


def _translated(message: str) -> list[str]:
    """WTForms' own messages appear in Chinese; accept either form of the key phrase."""
    chinese = {
        "This field is required": "必填",
        "Not a valid choice": "不是有效的选择",
        "Not a valid integer": "不是有效的整数",
        "at least 1": "必须介于 1 到",
    }
    return [message, chinese.get(message, message)]


@pytest.mark.parametrize(("endpoint", "data", "message"), BAD_INPUT)
def test_bad_input_is_rejected_with_a_message(
    endpoint, data, message, create_user, login_as, government
):
    client = login_as(create_user("admin"))
    before = row_counts()
    response = client.post(f"/admin/{endpoint}/new/", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code in (200, 400)
    assert any(text in html for text in _translated(message)), message
    assert row_counts() == before


def test_attachment_uploads_are_checked(create_user, create_case, login_as, government):
    client = login_as(create_user("admin"))
    case = create_case()
    db.session.merge(SystemSetting(key="attachment_max_mb", value="1"))
    db.session.commit()
    before = row_counts()
    attempts = [
        ({}, "请选择要上传的文件"),
        ({"file": (io.BytesIO(b"MZ\x90"), "virus.exe")}, "不允许上传此类型的文件"),
        ({"file": (io.BytesIO(b"GIF89a"), "photo.png")}, "文件内容与扩展名不符"),
        ({"file": (io.BytesIO(b"%PDF-" + b"0" * (1024 * 1024 + 10)), "big.pdf")}, "大小上限"),
    ]
    for extra, message in attempts:
        data = {"case": str(case.id), "kind": "document", "title": "材料", **extra}
        response = client.post(
            "/admin/attachment/new/", data=data, content_type="multipart/form-data"
        )
        assert response.status_code in (200, 400)
        assert message in response.get_data(as_text=True)
        assert row_counts() == before


def test_invalid_number_pattern_setting_is_refused(create_user, login_as):
    client = login_as(create_user("admin"))
    response = client.post(
        "/admin/setting/edit/?id=case_number_pattern", data={"value": "XF-{seq}"}
    )
    assert "必须包含 {year}" in response.get_data(as_text=True)
    assert SystemSetting.get("case_number_pattern") == "XF{year}-{seq:06d}"


@pytest.mark.parametrize(
    "query",
    [
        "?page=-1",
        "?page=abc",
        "?page=999999",
        "?sort=999",
        "?search=%25%27%22%3C",
        "?flt0_0=abc",
        "?flt2_0=not-a-number",
        "?flt5_5=2026-99-99+to+2026-01-01",
        "?page_size=100000",
    ],
)
def test_odd_list_parameters_never_fail(query, create_user, login_as, create_case):
    client = login_as(create_user("admin"))
    create_case()
    for endpoint in ("case", "letter", "visit", "call", "callback", "party", "caseevent"):
        assert client.get(f"/admin/{endpoint}/{query}").status_code == 200, endpoint


@pytest.mark.parametrize("view", ["details", "edit"])
def test_odd_ids_never_fail(view, create_user, login_as):
    client = login_as(create_user("admin"))
    for endpoint in ("case", "letter", "party", "callback", "attachment"):
        for record_id in ("abc", "-1", "99999999", ""):
            response = client.get(f"/admin/{endpoint}/{view}/?id={record_id}")
            assert response.status_code in (302, 404), (endpoint, record_id)


@pytest.mark.parametrize("bad_id", ["abc", "99999999", "-1", "1.5", "1; DROP TABLE cases"])
def test_malformed_picker_values_are_rejected_cleanly(bad_id, create_user, login_as):
    client = login_as(create_user("admin"))
    before = row_counts()
    for endpoint, data in (
        ("letter", {**LETTER, "case": bad_id, "writer": bad_id}),
        ("visit", {**VISIT, "visitor": bad_id}),
        ("callback", {"case": bad_id, "caller": bad_id, "method": "phone"}),
        ("case", {**CASE, "petitioners": bad_id, "agent": bad_id, "handler": bad_id}),
        ("attachment", {"case": bad_id, "kind": "document"}),
    ):
        response = client.post(f"/admin/{endpoint}/new/", data=data)
        assert response.status_code in (200, 302, 400), (endpoint, bad_id)
    # Unknown ids are either refused or ignored: whatever was saved, nothing points at them.
    after = row_counts()
    assert after["parties"] == before["parties"]


def test_odd_picker_lookups_never_fail(create_user, login_as, create_case):
    client = login_as(create_user("admin"))
    create_case()
    for query in (
        {"name": "nope", "query": "x"},
        {"name": "case", "query": "%", "offset": "abc", "limit": "-5"},
        {"name": "case", "query": "XF2026-000001"},
        {"name": "writer", "query": "' OR 1=1 --"},
    ):
        response = client.get("/admin/letter/ajax/lookup/", query_string=query)
        assert response.status_code in (200, 400, 404), query
