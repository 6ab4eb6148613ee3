"""Fuzzing every create and edit form, every list's query string and every id in a URL.

Each form field gets each payload of its kind once, on top of otherwise valid data; each list
gets each payload in its search box and in all its filters at once. Whatever happens: never a
500, a refused request changes no row, nothing stored holds a control character or a year
outside 1900..2100, and rare CJK (𠮷, 䶮) and emoji that are accepted come back intact.
"""

from __future__ import annotations

import itertools
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from flask_admin.contrib.sqla import ModelView
from flask_login import login_user

from models import Appointment, db
from models.base import local_zone, utcnow
from tests.conftest import row_counts

RARE_CJK = "𠮷䶮"
EMOJI = "😀👨‍👩‍👧"
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

TEXT_PAYLOADS = {
    "empty": "",
    "long": "长" * 100_000,
    "nul": "甲\x00乙",
    "controls": "甲\x1b[31m\x07\u202e乙\x85",
    "rare_cjk": f"王{RARE_CJK}{EMOJI}",
    "line_breaks": "第一行\n第二行\t尾",
}
DATE_PAYLOADS = {"year_1": "0001-01-01", "year_9999": "9999-12-31", "feb_30": "2026-02-30"}
DATETIME_PAYLOADS = {
    "year_1": "0001-01-01T00:00",
    "year_9999": "9999-12-31T23:59",
    "feb_30": "2026-02-30T10:00",
}
NUMBER_PAYLOADS = {"huge": str(2**70), "int32": str(2**31), "negative": "-5", "nan": "abc"}
CHOICE_PAYLOADS = {"unknown": "no_such_value", "huge_id": str(2**64), "missing_id": "987654"}

SEARCH_PAYLOADS = ["\x00\x1b\u202e\x07" + RARE_CJK + EMOJI, "长" * 100_000, str(2**70)]
FILTER_PAYLOADS = [
    "\x00",
    "0001-01-01",
    "9999-12-31",
    "2026-02-30",
    "0001-01-01 to 9999-12-31",
    "0001-01-01 00:00:00 to 9999-12-31 23:59:59",
    str(2**70),
    str(2**40),
    "-1",
    "no_such_value",
]
FILTER_TURNS = 4

_unique = itertools.count(1)


def stored_garbage() -> list[str]:
    """Text with control characters, or dates outside 1900..2100, anywhere in the database."""
    found = []
    for table in db.metadata.sorted_tables:
        columns = [
            column
            for column in table.columns
            if isinstance(column.type, sa.String | sa.Text | sa.Date | sa.DateTime)
        ]
        if not columns:
            continue
        for row in db.session.execute(sa.select(*columns)):
            for column, value in zip(columns, row, strict=True):
                if isinstance(value, str) and CONTROL.search(value):
                    found.append(f"{table.name}.{column.name}={value[:40]!r}")
                elif isinstance(value, date) and not 1900 <= value.year <= 2100:
                    found.append(f"{table.name}.{column.name}={value!r}")
    return found


def _model_views(app):
    return [view for view in app.extensions["admin"][0]._views if isinstance(view, ModelView)]


def _first_id(model):
    return db.session.scalar(sa.select(model.id).order_by(model.id).limit(1))


def _text_value(name: str) -> str:
    number = next(_unique)
    if "email" in name:
        return f"fuzz{number}@example.com"
    if "phone" in name or name in ("contact", "caller_number", "line_number"):
        return "13800138000"
    if name.endswith("id_number"):
        return "11010519491231002X"
    if name in ("username", "code", "doc_code", "pass_number", "recipient_role"):
        return f"fz{number}"
    if name == "new_password":
        return "fuzz12345abc"
    return f"测试{number}"


def field_kind(field) -> str | None:
    kind = field.type
    if kind in (
        "HiddenField",
        "FileField",
        "BooleanField",
        "InlineModelFormList",
        "CSRFTokenField",
    ):
        return None
    if kind in ("LocalDateTimeField", "FutureDateTimeField", "DateTimeField"):
        return "datetime"
    if kind == "DateField":
        return "date"
    if kind == "TimeField":
        return "time"
    if kind in ("IntegerField", "DecimalField", "FloatField"):
        return "number"
    if "Select" in kind or kind == "PermissionsField":
        return "choice"
    return "text"


def valid_value(field) -> str | list[str] | None:
    """A plausible value for ``field`` (the rest of the form, around the one bad payload)."""
    kind = field_kind(field)
    now = utcnow().astimezone(local_zone())
    if kind == "datetime":
        when = now + timedelta(days=1) if field.type == "FutureDateTimeField" else now
        return (when - timedelta(hours=2) if when is now else when).strftime("%Y-%m-%dT%H:%M")
    if kind == "date":
        return now.date().isoformat()
    if kind == "time":
        return "17:00" if "end" in field.name else "09:00"
    if kind == "number":
        return {"interval_days": "7", "min_percent": "10", "day_of_month": "1"}.get(field.name, "1")
    if kind == "choice":
        loader = getattr(field, "loader", None)
        if loader is not None:
            found = _first_id(loader.model)
            return str(found) if found is not None else None
        for choice in field.iter_choices():
            if choice[0] not in ("", "__None", None):
                return str(choice[0])
        return None
    if kind == "text":
        return _text_value(field.name)
    return None


def payloads_for(field) -> dict[str, str]:
    return {
        "text": TEXT_PAYLOADS,
        "date": DATE_PAYLOADS,
        "datetime": DATETIME_PAYLOADS,
        "time": {"bad": "25:99", "nul": "09:\x0000"},
        "number": NUMBER_PAYLOADS,
        "choice": CHOICE_PAYLOADS,
    }.get(field_kind(field), {})


def form_fields(app, view, admin, obj=None):
    """(name, field) of the view's create form, or of its edit form for ``obj``."""
    with app.test_request_context("/"):
        login_user(admin)
        form = view.edit_form(obj) if obj is not None else view.create_form()
        return [(field.name, field) for field in form if field_kind(field) is not None]


def base_data(fields) -> dict:
    data = {}
    for name, field in fields:
        value = valid_value(field)
        if value is not None:
            data[name] = value
    return data


def post_one(client, url, data, context, failures, accepted):
    before = row_counts()
    response = client.post(url, data=data)
    db.session.rollback()
    if response.status_code >= 500:
        failures.append(f"{response.status_code} {context}")
    elif response.status_code == 200 and row_counts() != before:
        failures.append(f"refused but rows changed: {context}")
    elif response.status_code in (301, 302, 303):
        accepted.append(context)
    return response


@pytest.fixture
def fuzz_admin(app, government, create_user, client):
    admin = create_user("admin")
    with client.session_transaction() as session:
        session["_user_id"] = admin.session_token
        session["_fresh"] = True
    return admin


@pytest.fixture
def demo_data(app, government):
    """A few realistic cases with letters, visits, callbacks, orders and a survey to edit."""
    from models.maintenance.demo import seed_demo

    seed_demo(case_count=3, password="demo12345")
    db.session.commit()


def form_targets(app, admin):
    """(view, url, record) of every create form and of every edit form with a record to edit."""
    targets = []
    with app.test_request_context("/"):
        login_user(admin)
        for view in _model_views(app):
            if view.can_create:
                targets.append((view, f"/admin/{view.endpoint}/new/", None))
            obj = view.get_query().first() if view.can_edit else None
            if obj is not None:
                edit_url = f"/admin/{view.endpoint}/edit/?id={view.get_pk_value(obj)}"
                targets.append((view, edit_url, obj))
    return targets


def fuzz_plan(fields, form_number: int, every_field: bool) -> list[tuple[str, str, str]]:
    """(field, payload label, payload): each payload of each kind once on some field of that
    kind, and with ``every_field`` each field once more with a payload of its kind, in turn."""
    plan = []
    by_kind: dict[str, list] = {}
    for name, field in fields:
        payloads = list(payloads_for(field).items())
        if payloads:
            by_kind.setdefault(field_kind(field), []).append((name, payloads))
    for members in by_kind.values():
        payloads = members[0][1]
        for number, (label, payload) in enumerate(payloads):
            name = members[(number + form_number) % len(members)][0]
            plan.append((name, label, payload))
        if every_field:
            for number, (name, field_payloads) in enumerate(members):
                label, payload = field_payloads[(number + form_number + 1) % len(field_payloads)]
                if (name, label, payload) not in plan:
                    plan.append((name, label, payload))
    return plan


def rare_cjk_data(fields) -> tuple[dict, list[str]]:
    """Valid data with rare CJK and emoji in every plain text field (not phones, codes …)."""
    data = base_data(fields)
    typed = []
    for name, field in fields:
        if field_kind(field) == "text" and str(data.get(name, "")).startswith("测试"):
            data[name] = f"{RARE_CJK}{EMOJI}{next(_unique)}"
            typed.append(data[name])
    return data, typed


def test_every_form_field_survives_every_payload(app, client, demo_data, fuzz_admin):
    failures: list[str] = []
    accepted: list[tuple] = []
    round_trips = 0
    for form_number, (view, url, obj) in enumerate(form_targets(app, fuzz_admin)):
        fields = form_fields(app, view, fuzz_admin, obj)
        action = "edit" if obj is not None else "new"
        for name, label, payload in fuzz_plan(fields, form_number, every_field=obj is None):
            data = {**base_data(fields), name: payload}
            post_one(client, url, data, (view.endpoint, action, name, label), failures, accepted)
        # The good path: rare characters are names, not attacks.
        data, typed = rare_cjk_data(fields)
        context = (view.endpoint, action, "*", "rare_cjk")
        if typed and post_one(client, url, data, context, failures, accepted).status_code == 302:
            round_trips += _check_round_trip(typed, context, failures)


def _check_round_trip(typed: list[str], context, failures) -> int:
    """Each rare CJK value accepted is stored exactly as typed, in some text column."""
    text_columns = [
        column
        for table in db.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, sa.String | sa.Text)
    ]
    stored = 0
    for value in typed:
        query = sa.select(sa.literal(1)).where(
            sa.or_(*[sa.exists().where(column == value) for column in text_columns])
        )
        if db.session.scalar(query):
            stored += 1
        else:
            failures.append(f"rare CJK not stored intact: {context} {value!r}")
    return stored


def test_every_list_query_string_survives_every_payload(app, client, fuzz_admin, create_case):
    create_case(subject=f"道路{RARE_CJK}")
    failures = []
    for view in _model_views(app):
        url = f"/admin/{view.endpoint}/"
        for payload in SEARCH_PAYLOADS:
            response = client.get(url, query_string={"search": payload})
            if response.status_code >= 500:
                failures.append(f"{response.status_code} {url} search={payload[:20]!r}")
        keys = list((view._filter_args or {}).keys())
        # Every filter at once, each with a different payload, in turn: each filter meets
        # several payloads and each payload several filters, in a handful of requests.
        for turn in range(FILTER_TURNS if keys else 0):
            query = {
                f"flt{position}_{key}": FILTER_PAYLOADS[
                    (position + 3 * turn) % len(FILTER_PAYLOADS)
                ]
                for position, key in enumerate(keys)
            }
            response = client.get(url, query_string=query)
            if response.status_code >= 500:
                failures.append(f"{response.status_code} {url} {query}")
            db.session.rollback()
    assert not failures, "\n".join(failures)


IMPOSSIBLE_IDS = [str(2**63), str(2**64), "-1", "0", "abc", "1\x00", "99999999"]


def test_impossible_ids_in_urls_answer_404_or_a_message(app, client, fuzz_admin):
    failures = []
    for view in _model_views(app):
        for action in ("details", "edit"):
            for bad in IMPOSSIBLE_IDS:
                response = client.get(f"/admin/{view.endpoint}/{action}/", query_string={"id": bad})
                if response.status_code not in (200, 302, 404):
                    failures.append(f"{response.status_code} {view.endpoint}.{action} id={bad!r}")
        for bad in (str(2**63), "-1", "abc"):
            response = client.post(f"/admin/{view.endpoint}/delete/", data={"id": bad})
            if response.status_code >= 500:
                failures.append(f"{response.status_code} {view.endpoint}.delete id={bad!r}")
            response = client.post(
                f"/admin/{view.endpoint}/action/", data={"action": "delete", "rowid": bad}
            )
            if response.status_code >= 500:
                failures.append(f"{response.status_code} {view.endpoint}.action rowid={bad!r}")
    # Every URL with a number in its path (workflow steps, documents, orders, surveys, jobs).
    for rule in app.url_map.iter_rules():
        integer_args = [
            name
            for name, converter in rule._converters.items()
            if type(converter).__name__ == "IntegerConverter"
        ]
        if not integer_args:
            continue
        for bad in (2**63, 2**64, 987654):
            values = dict.fromkeys(rule.arguments, "intake")
            values.update(dict.fromkeys(integer_args, bad))
            path = rule.rule
            for name, value in values.items():
                path = re.sub(rf"<(?:[^:<>]+:)?{name}>", str(value), path)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                response = client.open(path, method=method, data={})
                if response.status_code >= 500:
                    failures.append(f"{response.status_code} {method} {path}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    "path",
    [
        "/admin/stats/?start=0001-01-01&end=9999-12-31",
        "/admin/stats/?start=2026-02-30&end=9999-12-31&unit=99999999999999999999",
        "/admin/stats/?start=9999-12-31&category=-1",
        "/admin/stats/drill/?start=0001-01-01&end=9999-12-31",
        "/admin/stats/export/?kind=monthly&start=0001-01-01&end=9999-12-31",
        "/admin/registers/?start=0001-01-01&end=9999-12-31",
        "/admin/reception/?day=0001-01-01",
        "/admin/reception/?day=9999-12-31",
        "/admin/reception/calendar/?start=9999-12-01&months=99999999999999999999",
        "/admin/receptionqueue/new/?day=9999-12-31&schedule_id=99999999999999999999",
        "/admin/callback/new/?case_id=99999999999999999999",
        "/admin/letter/new/?case_id=99999999999999999999",
        "/admin/attachment/new/?case_id=9223372036854775808",
        "/admin/worklist/?tab=%00",
        "/admin/case/?flt0_0=%00&search=%00",
    ],
)
def test_dates_and_ids_in_query_strings_never_fail(path, app, client, fuzz_admin):
    response = client.get(path)
    assert response.status_code in (200, 302, 400, 404), response.status_code


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "/\\evil.example", "https://evil.example/", "javascript:x"]
)
def test_reception_actions_never_redirect_off_site(target, app, client, fuzz_admin):
    from models.enums import AppointmentChannel, AppointmentKind

    appointment = Appointment(
        kind=AppointmentKind.application,
        channel=AppointmentChannel.phone,
        visitor_name="张三",
        purpose="反映问题",
        expected_at=utcnow() + timedelta(days=1),
    )
    db.session.add(appointment)
    db.session.commit()
    response = client.post(f"/admin/appointment/cancel/?id={appointment.id}", data={"next": target})
    location = response.headers.get("Location", "")
    assert response.status_code == 302
    assert location.startswith("/admin/appointment/"), location
    assert "evil" not in location and "javascript" not in location


def test_reception_actions_follow_a_local_next(app, client, fuzz_admin):
    from models.enums import AppointmentChannel, AppointmentKind

    appointment = Appointment(
        kind=AppointmentKind.application,
        channel=AppointmentChannel.phone,
        visitor_name="张三",
        purpose="反映问题",
        expected_at=utcnow() + timedelta(days=1),
    )
    db.session.add(appointment)
    db.session.commit()
    response = client.post(
        f"/admin/appointment/cancel/?id={appointment.id}", data={"next": "/admin/reception/"}
    )
    assert response.headers["Location"] == "/admin/reception/"
