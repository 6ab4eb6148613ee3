"""The organisation's words (患者及家属, 客户, 投诉 …) on screens and in printed documents."""

from __future__ import annotations

import io
import json

import sqlalchemy as sa
from flask import render_template_string
from flask_babel import force_locale, gettext, lazy_gettext, ngettext
from pypdf import PdfReader

from models import SystemSetting, Unit, db
from models.enums import CaseChannel, DocumentKind
from models.maintenance.presets import load_preset
from models.operations.documents import issue_document
from models.operations.workflow import perform
from models.vocabulary import substitute, substitute_template


def pdf_text(data: bytes) -> str:
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return "".join(text.split())


def test_gettext_routes_through_the_vocabulary(app):
    load_preset("hospital")
    db.session.commit()
    assert gettext("信访人") == "患者及家属"
    # Longest first: 信访事项 is one word, not 信访 + 事项.
    assert gettext("登记信访事项") == "登记投诉"
    assert str(lazy_gettext("信访内容")) == "投诉内容"
    assert ngettext("%(num)s件信访事项", "%(num)s件信访事项", 2) == "2件投诉"
    # Values put into a message are people's data: never rewritten.
    assert gettext("来自%(name)s", name="信访人张三") == "来自信访人张三"
    assert substitute_template("{{ 信访人 }}：信访人{% if 信访人 %}复查{% endif %}") == (
        "{{ 信访人 }}：患者及家属{% if 信访人 %}复议{% endif %}"
    )
    with force_locale("en"):
        assert substitute("信访人") == "信访人"
    # Templates: _() and the |words filter of the document templates.
    rendered = render_template_string(
        "{{ _('信访人') }}/{{ '信访事项'|words }}/{{ name }}", name="信访人"
    )
    assert rendered == "患者及家属/投诉/信访人"


def test_government_keeps_the_standard_words(app):
    load_preset("government")
    db.session.commit()
    assert gettext("信访人") == "信访人" and substitute("信访事项") == "信访事项"


def test_hospital_case_form_and_printed_notice_say_patient(
    app, client, create_user, login_as, create_case
):
    load_preset("hospital")
    db.session.commit()
    units = {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}
    office = create_user("office", unit=units["院行风办"])
    registrar = create_user("registrar", unit=units["院行风办"])
    nurse_head = create_user("handler", unit=units["护理部"])
    login_as(registrar)
    form = client.get("/admin/letter/new/").get_data(as_text=True)
    assert "患者及家属" in form

    from models import Category

    attitude = db.session.scalar(sa.select(Category).where(Category.code == "TD"))
    case = create_case(
        by=registrar,
        category_id=attitude.id,
        channel=CaseChannel.visit,
        subject="护士态度生硬",
        content="住院期间护士态度生硬。",
        is_anonymous=True,
        custom_values={"patient_type": "住院"},
    )
    assert case.number.startswith("YY")
    perform("accept", case, by=office)
    perform("assign", case, by=office, handling_unit=units["护理部"], handler=nurse_head)
    document, created = issue_document(case, DocumentKind.complaint_notice, by=office)
    db.session.commit()
    text = pdf_text(document.pdf)
    assert created and "信访投诉处理通知单" in text
    assert "患者及家属" in text and "院行风办" in text

    login_as(office)
    details = client.get(f"/admin/case/details/?id={case.id}").get_data(as_text=True)
    assert "患者及家属" in details


def test_a_sectors_reply_letter_prints_an_interim_answer_as_such(app, create_user, create_case):
    """The preset's own reply wording knows the reply kinds, like the standard one."""
    from models import Category
    from models.replies import CaseReply

    load_preset("hospital")
    db.session.commit()
    units = {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}
    office = create_user("office", unit=units["院行风办"])
    attitude = db.session.scalar(sa.select(Category).where(Category.code == "TD"))
    case = create_case(
        by=office,
        category_id=attitude.id,
        subject="护士态度生硬",
        content="住院期间护士态度生硬。",
        custom_values={"patient_type": "住院"},
    )
    perform("accept", case, by=office)
    perform("send_reply", case, by=office, kind="interim", method="phone", text="医务科正在调查。")
    interim = db.session.scalars(sa.select(CaseReply)).one()
    document, _created = issue_document(case, DocumentKind.reply_letter, by=office, reply=interim)
    db.session.commit()
    text = pdf_text(document.pdf)
    assert "阶段性答复函" in text and "医务科正在调查。" in text
    assert "经调查核实" not in text and "投诉处理答复函" not in text


def test_government_case_form_unchanged(app, client, create_user, login_as):
    load_preset("government")
    db.session.commit()
    login_as(create_user("registrar"))
    form = client.get("/admin/letter/new/").get_data(as_text=True)
    assert "信访人" in form and "患者及家属" not in form


def test_administrator_edits_the_words(app, client, create_user, login_as):
    load_preset("government")
    db.session.commit()
    login_as(create_user("handler"))
    assert client.get("/admin/vocabulary/").status_code == 403
    login_as(create_user("admin"))
    page = client.get("/admin/vocabulary/").get_data(as_text=True)
    assert "标准用语" in page and 'name="信访人"' in page

    refused = client.post("/admin/vocabulary/", data={"信访人": "100%的人"})
    assert "符号" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert json.loads(db.session.get(SystemSetting, "vocabulary").value) == {}

    saved = client.post("/admin/vocabulary/", data={"信访人": "客户", "信访事项": "投诉"})
    assert saved.status_code == 302
    db.session.expire_all()
    assert json.loads(db.session.get(SystemSetting, "vocabulary").value) == {
        "信访人": "客户",
        "信访事项": "投诉",
    }
    party_list = client.get("/admin/party/").get_data(as_text=True)
    assert "客户" in party_list
    # The settings list does not show the raw JSON.
    settings_list = client.get("/admin/setting/").get_data(as_text=True)
    assert "organisation_name" in settings_list and "setup_completed" not in settings_list


def test_a_changed_vocabulary_reaches_templates_compiled_before(app):
    """The |words filter runs at each render: Jinja must not fold it into the compiled
    template with the words current when the template was first used."""
    from flask import current_app

    from models.maintenance.configuration import set_setting
    from models.vocabulary import VOCABULARY_SETTING, dump_vocabulary, forget_vocabulary

    load_preset("hospital")
    db.session.commit()
    template = current_app.jinja_env.from_string("{{ '信访事项'|words }}")
    assert template.render() == "投诉"
    set_setting(VOCABULARY_SETTING, dump_vocabulary({"信访事项": "诉求"}))
    db.session.commit()
    forget_vocabulary()
    assert template.render() == "诉求"
    set_setting(VOCABULARY_SETTING, dump_vocabulary({}))
    db.session.commit()
    forget_vocabulary()
    assert template.render() == "信访事项"
