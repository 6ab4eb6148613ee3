"""Good input saves: every admin screen, through its real HTTP form.

For every ModelView registered in the admin: a valid create makes exactly one new row (and one
audit row for it), a valid edit changes the edited field and keeps every column the form did
not change, and a delete removes or hides the row. The form is read from the page itself (the
values it shows, the hidden fields, the selected options), then the per-view values below are
filled in, as a user would.
"""

from __future__ import annotations

import io
import re
from datetime import date, time, timedelta
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from models import (
    AuditEntry,
    Category,
    OpinionBox,
    Party,
    ReceptionLeader,
    ReceptionSchedule,
    Role,
    SurveyCampaign,
    SurveyItem,
    SurveyTemplate,
    Unit,
    db,
)
from models.base import to_local, utcnow
from models.enums import Satisfaction
from models.operations.surveys import order_rectification, record_survey_response

# -- reading a form from its page ----------------------------------------------------------


class FormReader(HTMLParser):
    """The (name, value) pairs a browser would send for the page's admin form."""

    def __init__(self) -> None:
        super().__init__()
        self.pairs: list[tuple[str, str]] = []
        self.in_form = False
        self._select: str | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "").lower() == "post":
            self.in_form = "admin-form" in (attrs.get("class") or "") or bool(attrs.get("enctype"))
        if not self.in_form:
            return
        name = attrs.get("name")
        if tag == "input" and name:
            kind = (attrs.get("type") or "text").lower()
            if kind in ("submit", "file", "button"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            self.pairs.append((name, attrs.get("value") or ("y" if kind == "checkbox" else "")))
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in attrs:
            self.pairs.append((self._select, attrs.get("value") or ""))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def handle_data(self, data):
        if self._textarea:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "form":
            self.in_form = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            text = "".join(self._text)
            # A browser drops the line break that follows <textarea>.
            for newline in ("\r\n", "\n"):
                if text.startswith(newline):
                    text = text[len(newline) :]
                    break
            self.pairs.append((self._textarea, text))
            self._textarea = None


def read_form(client, url: str) -> dict[str, list[str]]:
    response = client.get(url)
    assert response.status_code == 200, url
    reader = FormReader()
    reader.feed(response.get_data(as_text=True))
    values: dict[str, list[str]] = {}
    for name, value in reader.pairs:
        values.setdefault(name, []).append(value)
    assert values, f"no form on {url}"
    return values


def fill(form: dict[str, list[str]], values: dict) -> dict:
    """The form's own values overridden by ``values`` (``None`` unticks / removes a field)."""
    data = {name: list(items) for name, items in form.items()}
    for name, value in values.items():
        if value is None:
            data.pop(name, None)
        elif isinstance(value, tuple) and isinstance(value[0], io.BytesIO):
            data[name] = value  # an uploaded file: (content, file name)
        elif isinstance(value, list | tuple):
            data[name] = [str(item) for item in value]
        else:
            data[name] = [str(value)]
    return data


def local_minute(days: int = 0, hours: int = -1) -> str:
    moment = to_local(utcnow() + timedelta(days=days, hours=hours))
    return moment.strftime("%Y-%m-%dT%H:%M")


# -- the world the forms refer to ----------------------------------------------------------


@pytest.fixture
def world(government, create_user, create_case, login_as):
    admin = create_user("admin")
    party = Party(name="王五", phone="13800000001")
    db.session.add(party)
    db.session.commit()
    case = create_case(petitioners=[party], subject="供水管道漏水")
    leader = ReceptionLeader(name="赵局长", post="局长")
    deputy = ReceptionLeader(name="钱副局长", post="副局长")
    db.session.add_all([leader, deputy])
    db.session.flush()
    schedule = ReceptionSchedule(
        name="每周一领导接待日",
        weekday=0,
        start_time=time(9),
        end_time=time(11),
        place="接待大厅",
        leader=leader,
        starts_on=date.today() - timedelta(days=30),
    )
    box = OpinionBox(name="大厅意见箱", next_due_on=date.today())
    template = SurveyTemplate(name="满意度问卷", items=[SurveyItem(title="服务态度")])
    db.session.add_all([schedule, box, template])
    db.session.commit()
    units = db.session.scalars(
        sa.select(Unit).where(Unit.parent_id.is_not(None)).order_by(Unit.id)
    ).all()
    categories = db.session.scalars(sa.select(Category).order_by(Category.id)).all()
    return {
        "client": login_as(admin),
        "admin": admin,
        "party": party,
        "case": case,
        "leader": leader,
        "deputy": deputy,
        "schedule": schedule,
        "box": box,
        "template": template,
        "unit": units[0],
        "category": categories[0],
        "role": db.session.scalar(sa.select(Role).where(Role.code == "handler")),
    }


def next_weekday(weekday: int) -> date:
    day = date.today() + timedelta(days=1)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return day


#: endpoint -> values for a valid new record (``w`` is the ``world`` fixture).
CREATE = {
    "letter": lambda w: {
        "case": w["case"].id,
        "received_at": local_minute(),
        "writer": w["party"].id,
        "summary": "来信反映供水问题",
    },
    "visit": lambda w: {
        "case": w["case"].id,
        "visited_at": local_minute(),
        "visitor": w["party"].id,
        "purpose": "询问办理进度",
    },
    "call": lambda w: {
        "case": w["case"].id,
        "called_at": local_minute(),
        "caller": w["party"].id,
        "record": "来电询问办理进度",
    },
    "party": lambda w: {"name": "孙六", "address": "幸福小区3号楼"},
    "case": lambda w: {
        "channel": "letter",
        "received_at": local_minute(),
        "category": w["category"].id,
        "subject": "路灯不亮",
        "content": "小区路灯已坏一周。",
        "petitioners": w["party"].id,
        "handling_unit": w["unit"].id,
    },
    "attachment": lambda w: {
        "case": w["case"].id,
        "title": "现场照片说明",
        "file": (io.BytesIO("现场情况说明".encode()), "说明.txt"),
    },
    "callback": lambda w: {
        "case": w["case"].id,
        "due_on": (date.today() + timedelta(days=3)).isoformat(),
        "caller": w["admin"].id,
        "note": "三日内回访",
    },
    "callbackschedule": lambda w: {
        "name": "幸福小区交付回访",
        "delivered_on": (date.today() - timedelta(days=40)).isoformat(),
        "first_year_months": 1,
        "later_months": 3,
        "unit": w["unit"].id,
        "note": "交付后定期回访",
    },
    "callbackquota": lambda w: {"role": w["role"].id, "min_percent": 30},
    "surveycampaign": lambda w: {
        "name": "2026年满意度调查",
        "template": w["template"].id,
        "starts_on": date.today().isoformat(),
        "forms_sent": 100,
    },
    "surveytemplate": lambda w: {"name": "物业服务问卷", "description": "每年一次"},
    "appointment": lambda w: {
        "visitor_name": "周七",
        "expected_at": local_minute(days=2, hours=0),
        "purpose": "反映噪音问题",
        "head_count": 1,
    },
    "visitorpass": lambda w: {
        "visitor_name": "吴八",
        "id_number": "11010519491231002X",
        "id_checked": "y",
        "pass_number": "T-0001",
        "host_name": "李主任",
        "purpose": "递交材料",
    },
    "visitincident": lambda w: {
        "visitor_name": "郑九",
        "occurred_at": local_minute(),
        "kind": "disruptive",
        "measure": "warning",
        "description": "在大厅大声喧哗，经劝说后离开。",
    },
    "receptionqueue": lambda w: {
        "day": next_weekday(0).isoformat(),
        "schedule": w["schedule"].id,
        "party": w["party"].id,
        "purpose": "当面反映漏水问题",
        "case": w["case"].id,
    },
    "receptionschedule": lambda w: {
        "name": "每月第一个周三接待日",
        "recurrence": "weekly",
        "weekday": 2,
        "start_time": "14:00",
        "end_time": "16:00",
        "place": "第二会议室",
        "leader": w["leader"].id,
        "starts_on": date.today().isoformat(),
        "is_active": "y",
    },
    "receptionleader": lambda w: {"name": "孙处长", "post": "处长", "is_active": "y"},
    "leaderabsence": lambda w: {
        "leader": w["leader"].id,
        "first_day": (date.today() + timedelta(days=7)).isoformat(),
        "last_day": (date.today() + timedelta(days=9)).isoformat(),
        "deputy": w["deputy"].id,
        "reason": "外出开会",
    },
    "opinionbox": lambda w: {
        "name": "东门意见箱",
        "location": "东门",
        "interval_days": 7,
        "next_due_on": date.today().isoformat(),
        "is_active": "y",
    },
    "opinionboxopening": lambda w: {
        "box": w["box"].id,
        "opened_on": date.today().isoformat(),
        "opener": w["admin"].id,
        "slip_count": 0,
        "note": "箱内无意见",
    },
    "unit": lambda w: {"name": "城市管理局", "kind": "department", "sort_order": 90},
    "category": lambda w: {"name": "噪音扰民", "code": "ZY", "kind": "complaint"},
    "user": lambda w: {
        "username": "newclerk",
        "full_name": "新办事员",
        "unit": w["unit"].id,
        "roles": [w["role"].id],
        "is_active_user": "y",
        "new_password": "Clerk-2026-pass",
    },
    "role": lambda w: {
        "name": "档案员",
        "code": "archivist",
        "permissions": ["case.view_all", "stats.view"],
    },
    "customfield": lambda w: {
        "label": "患者类型",
        "key": "patient_type",
        "field_type": "choice",
        "choices": "门诊\n住院",
        "category": w["category"].id,
        "sort_order": 1,
        "is_active": "y",
    },
    "deadlinerule": lambda w: {
        "name": "咨询类15日",
        "clock": "handling",
        "category": w["category"].id,
        "amount": 15,
        "unit": "calendar_days",
        "is_active": "y",
    },
    "escalationrule": lambda w: {
        "name": "用时过八成提醒负责人",
        "level": 1,
        "trigger": "percent_elapsed",
        "threshold": 80,
        "recipient_role": "dept_head",
        "is_active": "y",
    },
    "calendar": lambda w: {"day": "2031-02-03", "note": "春节调休"},
    "routingrule": lambda w: {
        "name": "来电投诉归本部门",
        "sort_order": 10,
        "moment": "registration",
        "action": "suggest",
        "channel": "call",
        "unit": w["unit"].id,
        "is_active": "y",
    },
    "retentionrule": lambda w: {
        "name": "办结事项保存8年",
        "outcome": "closed",
        "years": "8",
        "is_active": "y",
    },
}

#: endpoint -> (form field, new value, model attribute, expected value) for a valid edit.
EDIT = {
    "letter": ("summary", "改后的摘要", "summary", "改后的摘要"),
    "visit": ("purpose", "改后的目的", "purpose", "改后的目的"),
    "call": ("record", "改后的记录", "record", "改后的记录"),
    "party": ("address", "新地址", "address", "新地址"),
    "case": ("subject", "改后的标题", "subject", "改后的标题"),
    "callback": ("note", "改后的备注", "note", "改后的备注"),
    "callbackschedule": ("contact", "张先生 13900000000", "contact", "张先生 13900000000"),
    "callbackquota": ("min_percent", "45", "min_percent", 45),
    "surveycampaign": ("forms_sent", "120", "forms_sent", 120),
    "surveytemplate": ("description", "每半年一次", "description", "每半年一次"),
    "appointment": ("purpose", "改后的事由", "purpose", "改后的事由"),
    "receptionschedule": ("place", "第三会议室", "place", "第三会议室"),
    "receptionleader": ("portfolio", "分管城建", "portfolio", "分管城建"),
    "leaderabsence": ("reason", "外出学习", "reason", "外出学习"),
    "opinionbox": ("location", "东门岗亭", "location", "东门岗亭"),
    "unit": ("contact_phone", "010-12345678", "contact_phone", "010-12345678"),
    "category": ("description", "夜间施工等", "description", "夜间施工等"),
    "user": ("position", "科员", "position", "科员"),
    "role": ("description", "只读档案", "description", "只读档案"),
    "customfield": ("help_text", "门诊或住院", "help_text", "门诊或住院"),
    "deadlinerule": ("note", "依条例", "note", "依条例"),
    "escalationrule": ("threshold", "90", "threshold", 90),
    "calendar": ("note", "春节放假", "note", "春节放假"),
    "routingrule": ("note", "夜间来电", "note", "夜间来电"),
    "retentionrule": ("years", "6", "years", 6),
    "setting": ("value", "信访复查机关", "value", "信访复查机关"),
    "rectificationorder": ("content", "三日内修复", "content", "三日内修复"),
}

#: Columns a save rewrites by design besides the edited one.
BOOKKEEPING = {"updated_at", "version", "password_hash", "petitioner_names"}


def _registered_views():
    """The endpoint of every ModelView, read from a throwaway app's admin at collection."""
    from tests.conftest import collection_app

    app = collection_app()
    return [view.endpoint for view in app.extensions["admin"][0]._views if hasattr(view, "model")]


MODEL_VIEW_ENDPOINTS = _registered_views()


def view_for(app, endpoint):
    return next(v for v in app.extensions["admin"][0]._views if v.endpoint == endpoint)


def allowed(app, view, user, what: str) -> bool:
    from flask_login import login_user

    with app.test_request_context():
        login_user(user)
        return bool(getattr(view, what))


def row_values(record) -> dict:
    db.session.refresh(record)
    return {
        attr.key: getattr(record, attr.key)
        for attr in sa.inspect(type(record)).column_attrs
        if attr.key not in BOOKKEEPING
    }


def audit_count(table: str, action: str, target_id=None) -> int:
    query = sa.select(sa.func.count(AuditEntry.id)).where(
        AuditEntry.target_type == table, AuditEntry.action == action
    )
    if target_id is not None:
        query = query.where(AuditEntry.target_id == str(target_id))
    return db.session.scalar(query)


def test_the_table_names_every_model_view(app):
    assert set(MODEL_VIEW_ENDPOINTS) == {
        v.endpoint for v in app.extensions["admin"][0]._views if hasattr(v, "model")
    }
    assert len(MODEL_VIEW_ENDPOINTS) >= 30


@pytest.mark.parametrize("endpoint", MODEL_VIEW_ENDPOINTS)
def test_every_model_view_saves_what_its_form_says(app, world, endpoint):
    view = view_for(app, endpoint)
    model = view.model
    table = sa.inspect(model).local_table
    client, admin = world["client"], world["admin"]
    pk = sa.inspect(model).primary_key[0]

    if not any(
        allowed(app, view, admin, what) for what in ("can_create", "can_edit", "can_delete")
    ):
        pytest.skip(f"{endpoint} is read-only: no create, edit or delete to check")

    # -- create --------------------------------------------------------------------------
    if not allowed(app, view, admin, "can_create"):
        assert endpoint not in CREATE, f"{endpoint} has create data but cannot create"
        # Records of this kind come from workflow steps or the system, never a blank form.
        record = _existing_record(world, endpoint, model)
    else:
        before = set(db.session.scalars(sa.select(pk)).all())
        audits_before = audit_count(table.name, "create")
        form = read_form(client, f"/admin/{endpoint}/new/")
        data = fill(form, CREATE[endpoint](world))
        response = client.post(
            f"/admin/{endpoint}/new/", data=data, content_type="multipart/form-data"
        )
        page = response.get_data(as_text=True)
        assert response.status_code == 302, (endpoint, _errors(page))
        db.session.expire_all()
        created = set(db.session.scalars(sa.select(pk)).all()) - before
        assert len(created) == 1, (endpoint, created)
        (new_key,) = created
        assert audit_count(table.name, "create") - audits_before == 1, endpoint
        assert audit_count(table.name, "create", new_key) == 1, endpoint
        record = db.session.get(model, new_key)
        if hasattr(record, "is_deleted"):
            assert record.is_deleted is False

    # -- edit ----------------------------------------------------------------------------
    record_key = sa.inspect(record).identity[0]
    if allowed(app, view, admin, "can_edit") and record is not None:
        field, value, attribute, expected = EDIT[endpoint]
        before_values = row_values(record)
        url = f"/admin/{endpoint}/edit/?id={record_key}"
        form = read_form(client, url)
        assert field in form, (endpoint, field, sorted(form))
        response = client.post(
            url, data=fill(form, {field: value}), content_type="multipart/form-data"
        )
        assert response.status_code == 302, (endpoint, _errors(response.get_data(as_text=True)))
        db.session.expire_all()
        record = db.session.get(model, record_key)
        assert getattr(record, attribute) == expected, endpoint
        after_values = row_values(record)
        changed = {
            key
            for key in before_values
            if before_values[key] != after_values[key] and key != attribute
        }
        assert not changed, (endpoint, {k: (before_values[k], after_values[k]) for k in changed})
        assert audit_count(table.name, "update", record_key) >= 1, endpoint

    # -- delete --------------------------------------------------------------------------
    if allowed(app, view, admin, "can_delete"):
        response = client.post(f"/admin/{endpoint}/delete/", data={"id": str(record_key)})
        assert response.status_code == 302, endpoint
        db.session.expire_all()
        gone = db.session.get(model, record_key)
        assert gone is None or getattr(gone, "is_deleted", False) is True, endpoint
        assert audit_count(table.name, "delete", record_key) >= 1, endpoint


def _errors(page: str) -> list[str]:
    """The error messages on a page that was sent back instead of saved."""
    found = re.findall(
        r'class="[^"]*(?:invalid-feedback|help-block|alert-danger|alert-error)[^"]*"[^>]*>(.*?)</',
        page,
        re.S,
    )
    return [re.sub(r"<[^>]+>|\s+", " ", text).strip() for text in found if text.strip()][:10]


def _existing_record(world, endpoint, model):
    """A record of a view without a create form, made the way the application makes it."""
    from models import SystemSetting

    if endpoint == "setting":
        return db.session.scalar(
            sa.select(SystemSetting).where(SystemSetting.key == "review_body_name")
        )
    if endpoint in ("caseevent", "auditlog"):
        return db.session.scalar(sa.select(model).order_by(model.id))
    campaign = _campaign(world)
    if endpoint == "rectificationorder":
        record = order_rectification(
            campaign,
            by=world["admin"],
            item=world["template"].items[0],
            addressee="物业服务中心",
            content="改进服务态度",
            due_on=date.today() + timedelta(days=10),
        )
    elif endpoint == "surveyresponse":
        record = record_survey_response(
            campaign,
            by=world["admin"],
            ratings={world["template"].items[0].id: Satisfaction.satisfied},
            respondent="3号楼201",
        )
    else:
        raise AssertionError(f"no fixture for {endpoint}: add one here")
    db.session.commit()
    return record


def _campaign(world):
    campaign = SurveyCampaign(
        name="年度满意度调查",
        template=world["template"],
        starts_on=date.today() - timedelta(days=5),
        created_by_id=world["admin"].id,
    )
    db.session.add(campaign)
    db.session.flush()
    return campaign
