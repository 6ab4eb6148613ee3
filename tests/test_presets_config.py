"""Presets as complete set-ups, the set-up wizard, and configuration export / import."""

from __future__ import annotations

import copy
import io
import json

import pytest
import sqlalchemy as sa

from models import Case, Category, DocumentTemplate, Role, SystemSetting, Unit, db
from models.deadlines import DeadlineRule, EscalationRule
from models.enums import CaseChannel, Clock, TimeUnit
from models.maintenance import configuration
from models.maintenance.configuration import (
    apply_configuration,
    configuration_text,
    diff_configuration,
    export_configuration,
    parse_configuration,
)
from models.maintenance.presets import (
    PRESETS,
    is_set_up,
    load_preset,
    preset_configuration,
)
from models.operations import ValidationFailed
from models.operations.deadlines import matching_rule
from models.operations.documents import check_wording
from models.operations.numbering import validate_number_pattern
from tests.conftest import row_counts, wipe_tables

PRESET_NAMES = list(PRESETS)


def _units() -> dict[str, Unit]:
    return {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}


def _roles() -> dict[str, str]:
    return {role.code: role.name for role in db.session.scalars(sa.select(Role))}


def _rules(clock: Clock) -> dict[str, DeadlineRule]:
    return {
        rule.name: rule
        for rule in db.session.scalars(sa.select(DeadlineRule).where(DeadlineRule.clock == clock))
    }


def _forget(case: Case) -> None:
    """A case built only to ask which rule fits it never reaches the database."""
    if case in db.session:
        db.session.expunge(case)


def _category(code: str) -> Category:
    return db.session.scalar(sa.select(Category).where(Category.code == code))


# --- each preset is a whole working set-up ------------------------------------------------------


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_each_preset_loads_everything_and_twice_changes_nothing(app, name):
    preset = PRESETS[name]
    load_preset(name)
    db.session.commit()

    units = _units()
    assert {item["name"] for item in preset["units"]} <= set(units)
    office = [u for u in units.values() if u.kind.value == "office"]
    assert office and all(u.doc_code for u in office)
    roles = _roles()
    for code, display_name in preset["role_names"].items():
        assert roles[code] == display_name
    assert len(roles) == 7
    codes = {c.code: c for c in db.session.scalars(sa.select(Category))}
    for item in preset["categories"]:
        assert codes[item["code"]].kind.value == item["kind"]
        assert codes[item["code"]].name == item["name"]
    rules = db.session.scalars(sa.select(DeadlineRule)).all()
    assert len(rules) == len(preset["deadline_rules"])
    assert db.session.scalar(sa.select(sa.func.count(EscalationRule.id))) == len(
        preset["escalation_rules"]
    )
    for key, value in preset["settings"].items():
        assert SystemSetting.get(key) == value
    assert SystemSetting.get("organisation_name") == preset["organisation_name"]
    stored = db.session.get(SystemSetting, "vocabulary")
    assert json.loads(stored.value) == preset["vocabulary"]
    for item in preset["document_templates"]:
        row = db.session.get(DocumentTemplate, item["kind"])
        assert row.title == item["title"]
        check_wording(row.kind, row.title, row.body)  # the wording only uses real placeholders
    assert validate_number_pattern(SystemSetting.get("case_number_pattern")) is None
    assert is_set_up()

    before, counts = export_configuration(), row_counts()
    load_preset(name)
    db.session.commit()
    assert export_configuration() == before
    assert row_counts() == counts


def test_government_preset_is_unchanged_for_the_demo(app):
    load_preset("government")
    db.session.commit()
    assert _category("0102").name == "物业管理" and _category("01").name == "城乡建设"
    assert _units()["县信访局"].doc_code == "县信复"
    assert _roles()["office"] == "信访办/办公室"
    assert SystemSetting.get("case_number_pattern") == "XF{year}-{seq:06d}"
    assert json.loads(db.session.get(SystemSetting, "vocabulary").value) == {}
    assert not db.session.scalars(sa.select(DocumentTemplate)).all()


def test_property_callbacks_per_category_and_the_numbering_of_s12(app):
    load_preset("property")
    db.session.commit()
    assert SystemSetting.get("case_number_pattern").format(year=2025, seq=14) == "TS-2025-014"
    assert _roles()["dept_head"] == "主管"
    assert db.session.get(DocumentTemplate, "complaint_notice").title == "客户投诉处理通知单"

    # S13: a fire-door closer (safety facility), a pipe leak, a light fitting.
    expected = {"WX01": 2, "WX02": 3, "WX09": 7}
    for code, days in expected.items():
        case = Case(category=_category(code), channel=CaseChannel.visit, subject="维修")
        rule = matching_rule(case, Clock.callback)
        assert (rule.amount, rule.unit) == (days, TimeUnit.calendar_days), code
        _forget(case)
    remedial = _rules(Clock.remedial_plan)
    assert [(r.amount, r.unit) for r in remedial.values()] == [(3, TimeUnit.calendar_days)]


def test_enterprise_quality_clocks_and_95598(app):
    load_preset("enterprise")
    db.session.commit()
    defect = Case(category=_category("ZL01"), channel=CaseChannel.letter, subject="变色")
    assert matching_rule(defect, Clock.interim_reply).amount == 5
    assert matching_rule(defect, Clock.reply).amount == 8
    outage = Case(category=_category("GD01"), channel=CaseChannel.call, subject="停电")
    assert matching_rule(outage, Clock.first_contact) is not None
    assert matching_rule(outage, Clock.superior_reply).unit == TimeUnit.working_days
    assert matching_rule(outage, Clock.closing).amount == 3
    _forget(defect)
    _forget(outage)
    roles = _roles()
    assert (roles["office"], roles["leader"]) == ("客服中心", "总经理")
    assert _units()["质保部"].kind.value == "department"
    routes = {r["name"]: r for r in PRESETS["enterprise"]["routing_rules"]}
    assert routes["产品质量投诉→质保部"]["category"] == "ZL"


def test_hospital_fields_routing_and_wording_are_data(app):
    load_preset("hospital")
    db.session.commit()
    fields = {f["key"]: f for f in PRESETS["hospital"]["custom_fields"]}
    assert fields["patient_type"]["choices"] == ["门诊", "住院"]
    assert fields["patient_type"]["required"] is True
    route = next(r for r in PRESETS["hospital"]["routing_rules"] if r["unit"] == "医务科")
    assert (route["field_key"], route["field_value"]) == ("patient_type", "住院")
    assert {"院行风办", "医务科", "护理部", "门诊部", "院领导"} <= set(_units())
    assert _roles()["office"] == "院行风办"
    assert db.session.get(DocumentTemplate, "complaint_notice").title == "信访投诉处理通知单"
    closing = _rules(Clock.closing)
    assert [r.amount for r in closing.values()] == [14]


def test_preset_references_are_consistent():
    """Every unit, category and role a preset's rules, fields and routes name exists in it."""
    for name, preset in PRESETS.items():
        units = {item["name"] for item in preset["units"]}
        codes = {item["code"] for item in preset["categories"]}
        assert all(i["parent"] in (None, *units) for i in preset["units"]), name
        assert all(i["parent"] in (None, *codes) for i in preset["categories"]), name
        assert all(r["category"] in (None, *codes) for r in preset["deadline_rules"]), name
        assert all(f["category"] in (None, *codes) for f in preset["custom_fields"]), name
        fields = {f["key"] for f in preset["custom_fields"]}
        for route in preset["routing_rules"]:
            assert route["unit"] in units and route["category"] in (None, *codes), name
            assert route["field_key"] in (None, *fields), name
        words = set(preset["role_names"].values())
        assert len(words) == len(preset["role_names"]), name


# --- export and import ------------------------------------------------------------------------


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_export_import_round_trips_into_an_empty_database(app, name):
    load_preset(name)
    db.session.commit()
    exported = export_configuration()
    text = configuration_text(exported)
    assert "\\u" not in text and text.index('"format"') < text.index('"version"')
    db.session.remove()
    wipe_tables()

    apply_configuration(parse_configuration(text.encode()))
    db.session.commit()
    assert export_configuration() == exported
    # The wizard's way (a preset as a file) gives the same set-up as loading the preset.
    assert export_configuration() == _normalised(preset_configuration(name))


def _normalised(data: dict) -> dict:
    """``data`` applied to an empty database and exported again."""
    db.session.remove()
    wipe_tables()
    apply_configuration(copy.deepcopy(data))
    db.session.commit()
    return export_configuration()


def test_diff_shows_a_changed_deadline_amount_and_additions(app):
    load_preset("property")
    db.session.commit()
    data = export_configuration()
    rule = next(r for r in data["sections"]["deadline_rules"] if r["name"] == "漏水维修回访（3日）")
    rule["amount"] = 4
    unit_rule = next(r for r in data["sections"]["deadline_rules"] if r["clock"] == "remedial_plan")
    unit_rule["unit"] = "working_days"
    data["sections"]["units"].append(
        {"name": "工程部", "kind": "department", "parent": None, "sort_order": 99}
    )
    data["sections"]["categories"] = [
        c for c in data["sections"]["categories"] if c["code"] != "QT"
    ]
    changes = {c["key"]: c for c in diff_configuration(data)}
    changed_rules = {c["key"]: c["fields"] for c in changes["deadline_rules"]["changed"]}
    assert changed_rules == {
        "漏水维修回访（3日）": [("时长", "3", "4")],
        "告知补救措施（3日）": [("单位", "自然日", "工作日")],
    }
    assert changes["units"]["added"] == ["工程部"]
    assert changes["categories"]["removed"] == ["QT"]
    assert not changes["roles"]["changed"]

    apply_configuration(data)
    db.session.commit()
    assert _rules(Clock.callback)["漏水维修回访（3日）"].amount == 4
    assert _category("QT").is_active is False
    assert "工程部" in _units()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["sections"]["units"][1].update(parent="不存在的单位"), "上级单位"),
        (lambda d: d["sections"]["deadline_rules"][0].update(clock="weekly"), "weekly"),
        (lambda d: d["sections"]["deadline_rules"][0].update(category="ZZ"), "ZZ"),
        (lambda d: d["sections"]["deadline_rules"][0].update(amount=0), "时长"),
        (lambda d: d["sections"]["escalation_rules"][0].update(recipient_role="boss"), "boss"),
        (lambda d: d["sections"]["roles"][0]["permissions"].append("all.powers"), "all.powers"),
        (lambda d: d["sections"]["settings"].append({"key": "x", "value": "1"}), "x"),
        (
            lambda d: next(
                s for s in d["sections"]["settings"] if s["key"] == "leader_reading"
            ).update(value="sometimes"),
            "请从列表中选择",
        ),
        (lambda d: d["sections"]["units"][0].update(kind="castle"), "castle"),
        (lambda d: d["sections"]["units"][0].update(is_active="yes"), "true 或 false"),
        (
            lambda d: next(
                s for s in d["sections"]["settings"] if s["key"] == "attachment_max_mb"
            ).update(value="很多"),
            "之间的整数",
        ),
        (
            lambda d: d["sections"]["document_templates"][0].update(body="{{ 病历号 }}"),
            "病历号",
        ),
        (
            lambda d: d["sections"]["vocabulary"].append({"standard": "复核", "word": "100%"}),
            "符号",
        ),
        (lambda d: d["sections"].update(weather=[]), "weather"),
        (lambda d: d.update(version=99), "版本"),
    ],
)
def test_a_bad_file_changes_nothing_and_says_why_in_chinese(app, mutate, message):
    load_preset("hospital")
    db.session.commit()
    data = export_configuration()
    counts, before = row_counts(), export_configuration()
    mutate(data)
    with pytest.raises(ValidationFailed) as error:
        apply_configuration(data)
    assert message in str(error.value)
    db.session.rollback()
    assert row_counts() == counts and export_configuration() == before


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "不是有效的 JSON"),
        (b"\xff\xfe\x00", "UTF-8"),
        (b'{"format": "other"}', "不是信访通导出的配置文件"),
        (b'{"format": "xinfangtong-configuration", "version": 1}', "sections"),
    ],
)
def test_unreadable_files_are_refused(app, raw, message):
    with pytest.raises(ValidationFailed, match=message):
        parse_configuration(raw)


def test_a_failure_while_applying_rolls_everything_back(app, monkeypatch):
    load_preset("government")
    db.session.commit()
    data = preset_configuration("hospital")
    counts, before = row_counts(), export_configuration()

    def broken(items):
        raise sa.exc.IntegrityError("INSERT", {}, Exception("duplicate"))

    section = configuration.SECTIONS["document_templates"]
    monkeypatch.setitem(
        configuration.SECTIONS,
        "document_templates",
        configuration.Section(section.key, section.title, section.export, broken, "kind"),
    )
    with pytest.raises(ValidationFailed, match="未作任何修改"):
        apply_configuration(data)
    db.session.commit()
    assert row_counts() == counts and export_configuration() == before


def test_a_city_hotline_by_configuration_only(app):
    """S15: the government preset plus a 3-minute dispatch rule for calls, by import."""
    load_preset("government")
    db.session.commit()
    data = export_configuration()
    data["sections"]["deadline_rules"].append(
        {"name": "96310派遣（3分钟）", "clock": "dispatch", "amount": 3, "unit": "minutes"}
        | {"channel": "call", "max_extension": None, "category": None}
    )
    apply_configuration(data)
    db.session.commit()
    call = Case(channel=CaseChannel.call, subject="占道经营")
    rule = matching_rule(call, Clock.dispatch)
    assert (rule.amount, rule.unit) == (3, TimeUnit.minutes)
    _forget(call)


# --- screens ---------------------------------------------------------------------------------


def test_configuration_screen_download_upload_diff_confirm(app, client, create_user, login_as):
    load_preset("enterprise")
    db.session.commit()
    admin = create_user("admin")
    office = create_user("office")
    login_as(office)
    assert client.get("/admin/configuration/").status_code == 403
    assert client.get("/admin/configuration/download").status_code == 403

    login_as(admin)
    download = client.get("/admin/configuration/download")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    data = json.loads(download.get_data(as_text=True))
    assert data["sections"]["roles"] == export_configuration()["sections"]["roles"]
    rule = next(r for r in data["sections"]["deadline_rules"] if r["clock"] == "interim_reply")
    rule["amount"] = 6
    body = json.dumps(data, ensure_ascii=False).encode()

    page = client.post(
        "/admin/configuration/upload",
        data={"file": (io.BytesIO(body), "config.json")},
        content_type="multipart/form-data",
    ).get_data(as_text=True)
    assert "质量投诉阶段性答复（5日）" in page and "5 → 6" in page
    digest = page.split('name="digest" value="')[1].split('"')[0]
    assert _rules(Clock.interim_reply)["质量投诉阶段性答复（5日）"].amount == 5

    # A digest that is not the pending upload is refused; nothing changes.
    refused = client.post("/admin/configuration/apply", data={"digest": "0" * 64})
    assert refused.status_code == 302
    assert _rules(Clock.interim_reply)["质量投诉阶段性答复（5日）"].amount == 5

    applied = client.post("/admin/configuration/apply", data={"digest": digest})
    assert applied.status_code == 302
    db.session.expire_all()
    assert _rules(Clock.interim_reply)["质量投诉阶段性答复（5日）"].amount == 6
    from models import AuditEntry

    actions = set(db.session.scalars(sa.select(AuditEntry.action)))
    assert {"config_export", "config_import"} <= actions
    # The same confirmation cannot be replayed.
    again = client.post("/admin/configuration/apply", data={"digest": digest})
    assert again.status_code == 302

    bad = client.post(
        "/admin/configuration/upload",
        data={"file": (io.BytesIO(b"{oops"), "config.json")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "不是有效的 JSON" in bad.get_data(as_text=True)


@pytest.mark.own_connections
def test_wizard_on_first_login_then_dashboard(app, client, create_user):
    create_user("admin", username="root", password="right123")
    assert not is_set_up()
    login = client.post("/admin/login/", data={"username": "root", "password": "right123"})
    assert login.headers["Location"] == "/admin/setup/"
    assert "尚未完成初始设置" in client.get("/admin/").get_data(as_text=True)
    page = client.get("/admin/setup/").get_data(as_text=True)
    for preset in PRESETS.values():
        assert preset["title"] in page
    missing = client.post("/admin/setup/", data={"preset": "", "organisation_name": "某医院"})
    assert "请选择一种预设" in missing.get_data(as_text=True)
    assert not _units()

    done = client.post(
        "/admin/setup/", data={"preset": "hospital", "organisation_name": "示范县中医院"}
    )
    assert done.status_code == 302 and done.headers["Location"] == "/admin/"
    db.session.expire_all()
    assert is_set_up() and "医务科" in _units()
    assert SystemSetting.get("organisation_name") == "示范县中医院"
    assert _roles()["office"] == "院行风办"
    client.post("/admin/logout/")
    again = client.post("/admin/login/", data={"username": "root", "password": "right123"})
    assert again.headers["Location"] == "/admin/"
    assert "尚未完成初始设置" not in client.get("/admin/").get_data(as_text=True)


def test_wizard_is_for_administrators_and_refused_once_cases_exist(
    app, client, create_user, login_as, create_case
):
    for role in ("office", "registrar", "leader", "supervisor", "handler", "dept_head"):
        login_as(create_user(role))
        assert client.get("/admin/setup/").status_code == 403
        assert client.post("/admin/setup/", data={"preset": "hospital"}).status_code == 403
    assert not _units()

    load_preset("government")
    db.session.commit()
    create_case()
    login_as(create_user("admin"))
    assert "不能再进行初始设置" in client.get("/admin/setup/").get_data(as_text=True)
    counts = row_counts()
    refused = client.post(
        "/admin/setup/", data={"preset": "hospital", "organisation_name": "某医院"}
    )
    assert "不能再进行初始设置" in refused.get_data(as_text=True)
    assert row_counts() == counts


def test_wizard_replaces_a_preset_while_no_case_exists(app, client, create_user, login_as):
    load_preset("government")
    db.session.commit()
    login_as(create_user("admin"))
    client.post("/admin/setup/", data={"preset": "property", "organisation_name": "某物业"})
    db.session.expire_all()
    units = _units()
    assert units["维修班"].is_active and not units["县信访局"].is_active
    assert SystemSetting.get("case_number_pattern") == "TS-{year}-{seq:03d}"
    assert {r.name for r in db.session.scalars(sa.select(DeadlineRule))} == {
        r["name"] for r in PRESETS["property"]["deadline_rules"]
    }


def test_command_line_export_and_import(app, tmp_path):
    load_preset("property")
    db.session.commit()
    path = tmp_path / "config.json"
    runner = app.test_cli_runner()
    assert runner.invoke(args=["export-config", str(path)]).exit_code == 0
    exported = json.loads(path.read_text(encoding="utf-8"))
    assert exported == export_configuration()
    rule = next(r for r in exported["sections"]["deadline_rules"] if r["clock"] == "remedial_plan")
    rule["amount"] = 2
    path.write_text(json.dumps(exported, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(args=["import-config", str(path), "--yes"])
    assert result.exit_code == 0 and "办理时限规则：新增 0，修改 1" in result.output
    db.session.expire_all()
    assert _rules(Clock.remedial_plan)["告知补救措施（3日）"].amount == 2
    path.write_text("{", encoding="utf-8")
    refused = runner.invoke(args=["import-config", str(path), "--yes"])
    assert refused.exit_code != 0 and "不是有效的 JSON" in refused.output


def test_a_role_name_taken_by_a_role_outside_the_file_is_refused(app):
    load_preset("government")
    db.session.add(Role(code="auditor", name="院行风办", permissions=[]))
    db.session.commit()
    counts = row_counts()
    with pytest.raises(ValidationFailed, match="已被角色“auditor”使用"):
        apply_configuration(preset_configuration("hospital"))
    db.session.rollback()
    assert row_counts() == counts


def test_custom_fields_and_routing_rules_load_and_round_trip(app):
    from models.custom_fields import CustomField
    from models.routing import RoutingRule

    load_preset("hospital")
    db.session.commit()
    fields = {field.key: field for field in db.session.scalars(sa.select(CustomField))}
    assert fields["patient_type"].choices == ["门诊", "住院"] and fields["patient_type"].required
    rules = db.session.scalars(sa.select(RoutingRule).order_by(RoutingRule.id)).all()
    assert [(rule.field_value, rule.unit.name) for rule in rules] == [
        ("住院", "医务科"),
        ("门诊", "门诊部"),
    ]
    exported = export_configuration()
    assert exported["sections"]["routing_rules"][0]["unit"] == "医务科"
    assert "routing_rules" in preset_configuration("hospital")["sections"]

    db.session.remove()
    wipe_tables()
    apply_configuration(exported)
    db.session.commit()
    assert export_configuration() == exported
