"""The admin's main menu, rendered in Python.

Flask-Admin draws the menu with a recursive Jinja macro that asks every entry several times
whether it is accessible and visible; with our forty-odd screens that was a third of a simple
page's time. This renders the same markup (Bootstrap 4 dropdowns, the active entry marked) and
asks each entry once per page. Every value put into the markup goes through ``escape``.

The entries' addresses and the admin's static files' addresses are the same on every page
(they carry no query of the page), so each is built once per process and mount point instead
of some sixty ``url_for`` calls a page.
"""

from __future__ import annotations

from flask import request, url_for
from flask_login import current_user
from markupsafe import Markup, escape

from models.vocabulary import current_wording

#: Menus kept per admin before the memo starts again (views × distinct permission sets).
MENUS_KEPT = 1024


def _item_url(item) -> str:
    # Kept on the entry itself (an entry lives as long as its app), per mount point.
    urls = item.__dict__.setdefault("_urls_by_root", {})
    url = urls.get(request.script_root)
    if url is None:
        url = urls[request.script_root] = item.get_url()
    return url


def static_url(admin_view, filename: str, **query) -> str:
    """The address of one of Flask-Admin's static files (``admin/static.html``)."""
    urls = admin_view.admin.__dict__.setdefault("_static_urls", {})
    key = (filename, tuple(sorted(query.items())), request.script_root)
    url = urls.get(key)
    if url is None:
        url = urls[key] = url_for(f"{admin_view.admin.endpoint}.static", filename=filename, **query)
    return url


def _shown(item) -> bool:
    return item.is_accessible() and item.is_visible()


def _icon(item) -> str:
    icon_type, value = item.get_icon_type(), item.get_icon_value()
    if value and icon_type == "glyph":
        return f'<i class="glyphicon {escape(value)}"></i>'
    if value and icon_type == "fa":
        return f'<i class="fa {escape(value)}"></i>'
    if value and icon_type == "image-url":
        return f'<img src="{escape(value)}" alt="">'
    return ""


def _link(item, admin_view, link_class: str) -> str:
    active = " active" if item.is_active(admin_view) else ""
    target = f' target="{escape(item.target)}"' if item.target else ""
    return (
        f'<a class="{link_class}{active} {escape(item.get_class_name() or "")}" '
        f'href="{escape(_item_url(item))}"{target}>{_icon(item)}{escape(str(item.name))}</a>'
    )


def _category(item, admin_view, *, top: bool) -> str:
    children = [child for child in item._children if _shown(child)]
    if not children:
        return ""
    entries = []
    for child in children:
        if child.is_category():
            entries.append(_category(child, admin_view, top=False))
        elif "dropdown-divider" in (child.get_class_name() or ""):
            entries.append(f'<li class="{escape(child.get_class_name())}"></li>')
        else:
            entries.append(f"<li>{_link(child, admin_view, 'dropdown-item')}</li>")
    class_name = item.get_class_name() or ""
    active = "active " if any(child.is_active(admin_view) for child in children) else ""
    chevron = "right" if "dropdown-submenu" in class_name else "down"
    return (
        f'<li class="{active}dropdown {escape(class_name)}">'
        f'<a class="dropdown-toggle {"nav-link" if top else "dropdown-item"}" '
        f'data-toggle="dropdown" href="#" role="button">{_icon(item)}{escape(str(item.name))}'
        f'<i class="glyphicon glyphicon-chevron-{chevron} small"></i></a>'
        f'<ul class="dropdown-menu">{"".join(entries)}</ul></li>'
    )


def main_menu(admin_view) -> Markup:
    """The ``<li>`` entries of the navigation bar for ``admin_view``'s page.

    Which entries show depends only on the user's permissions (every screen's
    ``is_accessible`` asks them and nothing else; ``is_visible`` is fixed), the active entry
    on the page's screen, and the names on the locale and the organisation's words. So the
    markup is kept per screen, mount point and permission set, for as long as the wording
    memo is the same object (a changed vocabulary or locale starts a new one)."""
    wording = current_wording()
    user = current_user._get_current_object()
    permissions = user.permissions if user.is_authenticated else None
    key = (admin_view.endpoint, request.script_root, permissions)
    kept = admin_view.admin.__dict__.setdefault("_menus", {})
    entry = kept.get(key)
    if wording is not None and entry is not None and entry[0] is wording:
        return entry[1]
    markup = render_menu(admin_view)
    if wording is not None:
        if len(kept) >= MENUS_KEPT:
            kept.clear()
        kept[key] = (wording, markup)
    return markup


def render_menu(admin_view) -> Markup:
    """The menu's markup, asking every entry whether it shows."""
    parts = []
    for item in admin_view.admin.menu():
        if item.is_category():
            parts.append(_category(item, admin_view, top=True))
        elif _shown(item):
            parts.append(f"<li>{_link(item, admin_view, 'nav-link')}</li>")
    # Every value in ``parts`` was escaped where it was put in.
    return Markup("".join(parts))  # noqa: S704
