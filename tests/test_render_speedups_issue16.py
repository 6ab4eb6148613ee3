"""Issue 16, rendering: the menu, the list rows' icons, translations, permissions and the turn
table are computed faster; these tests pin that they still say exactly what they said."""

import re

import pytest
from flask import g
from jinja2 import pass_context

from admin_views.base import ProtectedModelView
from admin_views.row_actions import ListRow, RowActions
from models import db
from models.calendar import WorkCalendar
from models.maintenance.presets import ensure_roles
from models.permissions import DEFAULT_ROLES
from models.users import Role
from models.vocabulary import VOCABULARY_SETTING, dump_vocabulary, forget_vocabulary

ROLES = sorted(DEFAULT_ROLES)


def _as_a_new_request():
    db.session.remove()
    g.pop("_login_user", None)


def _menu_links(page: str) -> set[str]:
    navbar = page.split('<ul class="nav navbar-nav mr-auto">', 1)[1].split("</ul></li></ul>")[0]
    return set(re.findall(r'href="(/admin/[^"#?]*)"', navbar))


def _accessible_views(app, user) -> set[str]:
    """The URL of every menu entry whose view says this user may open it."""
    from flask_login import login_user

    admin = app.extensions["admin"][0]
    urls = set()
    with app.test_request_context("/admin/"):
        login_user(user)
        for category in admin.menu():
            items = category._children if category.is_category() else [category]
            for item in items:
                if item.is_accessible() and item.is_visible():
                    urls.add(item.get_url())
    return urls


@pytest.mark.parametrize("role", ROLES)
def test_the_menu_lists_exactly_the_screens_the_role_may_open(
    role, app, government, create_user, login_as
):
    user = create_user(role)
    page = login_as(user).get("/admin/").get_data(as_text=True)
    expected = _accessible_views(app, user)
    assert expected, role
    assert _menu_links(page) == expected


def test_the_menu_marks_the_current_screen(government, create_user, login_as):
    page = login_as(create_user("admin")).get("/admin/case/").get_data(as_text=True)
    active = re.findall(r'<a class="dropdown-item active [^"]*" href="([^"]+)"', page)
    assert active == ["/admin/case/"]
    assert '<li class="active dropdown' in page


def _store_vocabulary(pairs: dict[str, str]) -> None:
    from models.settings import SystemSetting

    row = db.session.get(SystemSetting, VOCABULARY_SETTING) or SystemSetting(
        key=VOCABULARY_SETTING, value=""
    )
    row.value = dump_vocabulary(pairs)
    db.session.add(row)
    db.session.commit()


def _menu(page: str) -> str:
    return page.split('<ul class="nav navbar-nav mr-auto">', 1)[1].split("</ul></li></ul>")[0]


def test_a_kept_menu_follows_the_roles_permissions_and_the_wording(
    app, government, create_user, login_as
):
    """The menu's markup is kept per screen and permission set (admin_views/menu.py): a role
    that loses a permission, and a changed vocabulary, show on the very next page."""

    user = create_user("registrar")
    user_id = user.id
    client = login_as(user)
    before = client.get("/admin/case/").get_data(as_text=True)
    assert "/admin/party/" in _menu_links(before)
    assert _menu(client.get("/admin/case/").get_data(as_text=True)) == _menu(before)

    role = db.session.scalar(db.select(Role).where(Role.code == "registrar"))
    role.permissions = [p for p in role.permissions if p != "party.manage"]
    db.session.commit()
    _as_a_new_request()
    fewer = client.get("/admin/case/").get_data(as_text=True)
    assert _menu_links(fewer) == _accessible_views(app, db.session.get(type(user), user_id))
    assert "/admin/party/" not in _menu_links(fewer)

    _store_vocabulary({"信访事项": "客户诉求"})
    _as_a_new_request()
    renamed = _menu(client.get("/admin/case/").get_data(as_text=True))
    assert "客户诉求" in renamed
    assert "信访事项" not in renamed


def test_which_screens_a_user_may_open_depends_on_their_permissions_alone(
    app, government, create_user
):
    """What the kept menu relies on: two users with the same permissions (here the same role,
    one in a unit and one in none, one a department user's unit) may open the same screens."""
    from models import Unit

    units = db.session.scalars(db.select(Unit).order_by(Unit.id)).all()
    assert len(units) >= 2
    for role in ROLES:
        users = [
            create_user(role),
            create_user(role, unit=units[0]),
            create_user(role, unit=units[-1]),
        ]
        seen = [_accessible_views(app, user) for user in users]
        assert seen[0] == seen[1] == seen[2], role


def _row_cells(page: str) -> list[str]:
    cells = re.findall(r'<td class="list-buttons-column">(.*?)</td>', page, re.S)
    return [re.sub(r"\s+", "", cell).replace("/>", ">") for cell in cells]


def test_row_icons_are_the_same_as_flask_admins(
    app, government, create_case, create_user, login_as, monkeypatch
):
    for _ in range(3):
        create_case()
    client = login_as(create_user("admin"))
    fast = _row_cells(client.get("/admin/case/?flt0_0=registered").get_data(as_text=True))
    monkeypatch.setattr(RowActions, "__call__", lambda self, row_id: None)
    _as_a_new_request()
    slow = _row_cells(client.get("/admin/case/?flt0_0=registered").get_data(as_text=True))
    assert len(fast) == 3

    def without_token(cells):
        return [re.sub(r'name="csrf_token"value="[^"]*"', "", cell) for cell in cells]

    assert without_token(fast) == without_token(slow)
    assert all("/admin/case/details/?id=" in cell and "delete" in cell for cell in fast)


def _table_body(page: str) -> str:
    body = page.split("</thead>", 1)[1].split("</table>", 1)[0]
    body = re.sub(r'name="csrf_token" value="[^"]*"', "", body)
    return re.sub(r"\s*/>", ">", re.sub(r"\s+<", "<", re.sub(r">\s+", ">", body)))


@pytest.mark.parametrize("url", ["/admin/case/", "/admin/party/", "/admin/auditlog/"])
def test_rows_drawn_in_python_are_the_same_as_the_templates(
    url, app, government, create_case, create_party, create_user, login_as, monkeypatch
):
    for number in range(3):
        create_case(subject="<b>楼顶</b> & 违建", is_major=True)
        create_party(f"<i>王</i>{number}")
    client = login_as(create_user("admin"))
    fast = _table_body(client.get(url).get_data(as_text=True))
    calls = []

    def template_instead(self, context, row):
        calls.append(row)

    monkeypatch.setattr(ListRow, "__call__", pass_context(template_instead))
    _as_a_new_request()
    slow = _table_body(client.get(url).get_data(as_text=True))
    assert calls, "the template asked for the Python row"
    assert fast.count("<tr>") == slow.count("<tr>") >= 3
    assert fast == slow
    if url == "/admin/case/":
        assert "&lt;b&gt;楼顶&lt;/b&gt; &amp; 违建" in fast
        assert 'aria-label="选择此行"' in fast


def test_row_icons_follow_what_the_user_may_do(government, create_case, create_user, login_as):
    create_case()
    page = login_as(create_user("registrar")).get("/admin/case/").get_data(as_text=True)
    cells = _row_cells(page)
    assert cells
    assert all("/admin/case/details/" in cell for cell in cells)
    assert not any("delete_view" in cell or "/admin/case/delete/" in cell for cell in cells)


def test_a_list_with_another_kind_of_row_action_keeps_flask_admins_rendering(app):
    class OtherAction:
        title = "x"

    view = next(v for v in app.extensions["admin"][0]._views if isinstance(v, ProtectedModelView))
    with app.test_request_context("/admin/"):
        assert RowActions(view, [OtherAction()], "/admin/", None)(1) is None


def test_a_changed_vocabulary_applies_within_the_same_request(app, government, create_user):
    from flask_babel import gettext

    with app.test_request_context("/admin/"):
        assert gettext("信访人") == "信访人"
        _store_vocabulary({"信访人": "客户"})
        forget_vocabulary()
        assert gettext("信访人") == "客户"
        assert gettext("来访人") == "来访人"


def test_a_changed_role_changes_the_users_permissions_at_once(app, create_user):
    user = create_user("registrar")
    assert user.has_permission("case.register")
    assert not user.has_permission("user.manage")
    role = db.session.scalar(db.select(Role).where(Role.code == "registrar"))
    role.permissions = [*role.permissions, "user.manage"]
    assert user.has_permission("user.manage")
    role.permissions = [p for p in role.permissions if p != "case.register"]
    assert not user.has_permission("case.register")
    user.roles = [ensure_roles()["admin"]]
    assert user.has_permission("user.manage")


def test_an_override_still_beats_the_holiday_package():
    from datetime import date

    new_year = date(2026, 1, 1)
    assert not WorkCalendar({}).is_working_day(new_year)
    assert WorkCalendar({new_year: True}).is_working_day(new_year)
    assert not WorkCalendar({date(2026, 3, 2): False}).is_working_day(date(2026, 3, 2))
    assert WorkCalendar({}).is_working_day(date(2026, 3, 2))


def test_the_turn_table_follows_the_closing_setting(app):
    from models.policies import _turns
    from models.settings import SystemSetting

    def closing_turn():
        return next(turn for _test, _clause, turn in _turns() if "close" in turn.steps)

    def set_sign_off(value):
        row = db.session.get(SystemSetting, "close_requires_sign_off")
        if row is None:
            row = SystemSetting(key="close_requires_sign_off")
            db.session.add(row)
        row.value = value
        db.session.commit()

    set_sign_off("0")
    assert closing_turn().permissions == ("workflow.close",)
    assert closing_turn().role == "office"
    set_sign_off("1")
    assert closing_turn().permissions == ("workflow.sign_off",)
    assert closing_turn().role == "leader"
