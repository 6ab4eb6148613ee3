"""The English interface: the language switch, translated screens, and a complete catalogue.

Chinese needs no catalogue (the msgids are the Chinese text). English comes from
``translations/en/LC_MESSAGES/messages.po``, compiled into the instance folder at start-up.
The catalogue tests fail, naming the string, when code gains a message nobody translated.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from admin_views.translations import compile_po
from models.enums import CaseStatus
from tests.conftest import locale_chosen_per_request

ROOT = Path(__file__).resolve().parent.parent
POT = ROOT / "translations" / "messages.pot"
PO = ROOT / "translations" / "en" / "LC_MESSAGES" / "messages.po"
#: The same keywords as the extraction command in README.md.
KEYWORDS = {**DEFAULT_KEYWORDS, **parse_keywords(["_l", "lazy_gettext", "lazy_pgettext:1c,2"])}
CHINESE_MENU = ("来信登记", "来访登记", "来电登记", "办理时间线", "回访记录", "系统设置", "退出")


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def visible_text(html: str) -> str:
    """The page without scripts and tags, so hidden JSON data does not count as screen text."""
    html = re.sub(r"<script.*?</script>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


@pytest.fixture(autouse=True)
def locale_per_request(app):
    """Choose the language afresh for every request, as in production."""
    with locale_chosen_per_request(app):
        yield


@pytest.fixture
def admin_client(client, create_user, login_as):
    return login_as(create_user("admin"))


# -- switching ------------------------------------------------------------------------


def test_default_pages_are_chinese(admin_client):
    html = page(admin_client, "/admin/case/")
    assert "信访事项" in html and "登记编号" in html and "来信登记" in html
    assert 'href="/lang/en"' in html and ">English<" in html
    assert "Registration no." not in html and "Cases" not in html
    form = page(admin_client, "/admin/letter/new/")
    assert "一、归属事项" in form and "三、来信人" in form and "纸质信函" in form
    # Flask-Admin's own buttons come from its Chinese catalogue.
    assert "保存并添加另一个" in form


def test_login_page_has_the_switch(client):
    html = page(client, "/admin/login/")
    assert "信访通 · 登录" in html and 'href="/lang/en"' in html
    client.get("/lang/en")
    html = page(client, "/admin/login/")
    assert "Sign in" in html and "Username" in html and "Password" in html
    assert 'href="/lang/zh_Hans_CN"' in html and ">中文<" in html
    assert "登录" not in html and "用户名" not in html


def test_switching_to_english_translates_menu_list_and_forms(admin_client, create_case):
    response = admin_client.get("/lang/en", headers={"Referer": "http://localhost/admin/case/"})
    assert response.status_code == 302
    assert response.headers["Location"] == "http://localhost/admin/case/"

    case_list = page(admin_client, "/admin/case/")
    for english in ("Cases", "Registration no.", "Received at", "Handling unit", "Case timeline"):
        assert english in case_list, english
    for menu_item in (
        "Letters",
        "Visits",
        "Calls",
        "Callback tasks and records",
        "System settings",
    ):
        assert re.search(rf">\s*{re.escape(menu_item)}</a>", case_list), menu_item
    text = visible_text(case_list)
    for chinese in (*CHINESE_MENU, "信访事项", "登记编号"):
        assert chinese not in text, chinese
    assert ">中文<" in case_list and 'href="/lang/zh_Hans_CN"' in case_list
    # Filter options are built once at start-up, yet follow the language of the request.
    assert CaseStatus.kept.value in case_list and "Kept on file" in case_list
    assert "存信" not in case_list

    form = page(admin_client, "/admin/letter/new/")
    for english in ("1. Case", "3. Letter writer", "Letter form", "Paper letter", "Sent directly"):
        assert english in form, english
    for chinese in ("归属事项", "来信人", "纸质信函", "（未填）", "（未选择）", "（未分类）"):
        assert chinese not in form, chinese
    # Flask-Admin's own strings are English for ``en`` (its msgids).
    assert "Save and Add Another" in form and "保存并添加另一个" not in form

    case = create_case()
    details = page(admin_client, f"/admin/case/details/?id={case.id}")
    assert "Letters (0)" in details and f"Registered as {case.number}" in details
    assert "来信（" not in details and "办理时间线" not in details


def test_switching_back_restores_chinese(admin_client):
    admin_client.get("/lang/en")
    assert "Cases" in page(admin_client, "/admin/case/")
    admin_client.get("/lang/zh_Hans_CN")
    html = page(admin_client, "/admin/case/")
    assert "信访事项" in html and "来信登记" in html and ">English<" in html
    assert "Registration no." not in html


def test_unknown_language_code_is_ignored(admin_client):
    response = admin_client.get("/lang/fr")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    with admin_client.session_transaction() as session:
        assert "locale" not in session
    assert "信访事项" in page(admin_client, "/admin/case/")
    admin_client.get("/lang/en")
    admin_client.get("/lang/de")
    admin_client.get("/lang/..%2Fen")
    assert "Registration no." in page(admin_client, "/admin/case/")


def test_switch_does_not_redirect_off_site(admin_client):
    response = admin_client.get("/lang/en", headers={"Referer": "https://evil.example/"})
    assert response.headers["Location"] == "/admin/"


def test_error_pages_follow_the_language(admin_client):
    assert "页面或记录不存在" in admin_client.get("/no-such-page").get_data(as_text=True)
    admin_client.get("/lang/en")
    html = admin_client.get("/no-such-page").get_data(as_text=True)
    assert "does not exist" in html and "页面" not in html


# -- the catalogue --------------------------------------------------------------------


def read_catalog(path: Path):
    with open(path, "rb") as handle:
        return read_po(handle, locale="en" if path.suffix == ".po" else None)


def messages_in_code() -> dict[tuple[str | None, str], str]:
    """Extract (context, msgid) -> first location from the sources, as pybabel would."""
    with open(ROOT / "babel.cfg") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found: dict[tuple[str | None, str], str] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        ROOT, method_map, options_map, keywords=KEYWORDS
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        found.setdefault((context, msgid), f"{filename}:{lineno}")
    return found


def keyed(catalog) -> set[tuple[str | None, str]]:
    return {(message.context, message.id) for message in catalog if message.id}


def describe(missing, where=None) -> str:
    return "\n".join(
        f"  {msgid!r}"
        + (f" (context {ctx!r})" if ctx else "")
        + (f" at {where[ctx, msgid]}" if where else "")
        for ctx, msgid in sorted(missing, key=lambda key: (key[1], key[0] or ""))
    )


HOW_TO_UPDATE = (
    "run the extract and update commands from README.md (For developers) and translate "
    "the new entries in translations/en/LC_MESSAGES/messages.po"
)


def test_every_message_in_the_code_is_translated():
    in_code = messages_in_code()
    in_po = keyed(read_catalog(PO))
    missing = set(in_code) - in_po
    assert not missing, f"Not in the English catalogue ({HOW_TO_UPDATE}):\n" + describe(
        missing, in_code
    )


def test_template_and_catalogue_match_the_code():
    in_code = set(messages_in_code())
    in_pot = keyed(read_catalog(POT))
    assert in_pot == in_code, (
        f"translations/messages.pot is out of date ({HOW_TO_UPDATE}).\n"
        f"Missing:\n{describe(in_code - in_pot)}\nNo longer used:\n{describe(in_pot - in_code)}"
    )
    stale = keyed(read_catalog(PO)) - in_code
    assert not stale, "No longer in the code; run pybabel update:\n" + describe(stale)


def test_every_entry_has_a_proper_translation():
    catalog = read_catalog(PO)
    assert not catalog.fuzzy, "the catalogue header is marked fuzzy"
    problems = []
    for message in catalog:
        if not message.id:
            continue
        if not message.string or not str(message.string).strip():
            problems.append(f"{message.id!r}: empty msgstr")
        elif message.fuzzy:
            problems.append(f"{message.id!r}: fuzzy")
        else:
            # Chinese may stay only where the Chinese text quotes an example, like “县信复”.
            for run in re.findall(r"[\u4e00-\u9fff]+", message.string):
                if f"“{run}”" not in message.id:
                    problems.append(f"{message.id!r}: still Chinese: {message.string!r}")
    for message, errors in catalog.check():
        problems.extend(f"{message.id!r}: {error}" for error in errors)
    assert not problems, "\n".join(problems)


def test_placeholders_are_kept():
    for message in read_catalog(PO):
        if message.id:
            names = sorted(re.findall(r"%\((\w+)\)s", message.id))
            assert sorted(re.findall(r"%\((\w+)\)s", message.string)) == names, message.id
            braces = sorted(re.findall(r"\{\w+\}", message.id))
            assert sorted(re.findall(r"\{\w+\}", message.string)) == braces, message.id


def test_catalogue_is_compiled_into_the_instance_folder(app):
    directory = app.config["BABEL_TRANSLATION_DIRECTORIES"]
    assert Path(directory).is_relative_to(Path(app.instance_path))
    compiled = Path(directory) / "en" / "LC_MESSAGES" / "messages.mo"
    assert compiled.is_file()
    assert compiled.stat().st_mtime >= PO.stat().st_mtime
    assert not list((ROOT / "translations").rglob("*.mo")), "compiled catalogues are not committed"


def test_compile_po_recompiles_only_a_newer_po(tmp_path):
    source = tmp_path / "messages.po"
    target = tmp_path / "out" / "en" / "LC_MESSAGES" / "messages.mo"

    def write_po(text: str) -> None:
        source.write_text(f'msgid ""\nmsgstr ""\n\nmsgid "登记"\nmsgstr "{text}"\n', "utf-8")

    def compiled() -> str:
        with open(target, "rb") as handle:
            return read_mo(handle).get("登记").string

    write_po("Registration")
    compile_po(source, target, "en")
    assert compiled() == "Registration"
    write_po("Register")
    os.utime(source, (1, 1))  # older than the .mo: left alone
    compile_po(source, target, "en")
    assert compiled() == "Registration"
    os.utime(source, None)
    os.utime(target, (1, 1))
    compile_po(source, target, "en")
    assert compiled() == "Register"
    assert not list(target.parent.glob("*.tmp"))
