"""List rows rendered in Python: the icons at the start of each row (view, edit, delete), and
the whole row around them.

Flask-Admin resolves a Jinja macro per icon per row and renders the delete button's hidden
fields through WTForms, which made the icons half the cost of a 20-row list. The markup here is
the same as ``templates/admin/model/row_actions.html`` (no inline handlers; ``csp.js`` binds
the delete confirmation); the three URLs are built once per page with a placeholder id. A
list with any other kind of row action keeps Flask-Admin's rendering.

The rest of the row (the selection checkbox and one cell per column) went through a Jinja
block per row and two template calls per cell, which cost more than the values in the cells.
:class:`ListRow` writes the same markup (Flask-Admin's ``list.html`` with the accessible name of
``labelled_list.html``); a list with editable cells keeps the template.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import current_app
from flask_admin.babel import gettext as admin_gettext
from flask_admin.model import template
from jinja2 import pass_context
from markupsafe import Markup, escape

_PLACEHOLDER = "row-id-placeholder"


class RowActions:
    """Called with a row's primary key; None when Flask-Admin must render the row's icons."""

    def __init__(self, view, actions, return_url: str, delete_form) -> None:
        self.parts = []
        for action in actions:
            kind = type(action)
            if kind is template.ViewRowAction:
                self.parts.append(self._link(view, ".details_view", return_url, action, "eye"))
            elif kind is template.EditRowAction:
                self.parts.append(self._link(view, ".edit_view", return_url, action, "pencil"))
            elif kind is template.DeleteRowAction and delete_form is not None:
                self.parts.append(self._delete(view, return_url, delete_form))
            else:
                self.parts = None
                return

    @staticmethod
    def _link(view, endpoint, return_url, action, icon) -> tuple[str, str]:
        url = view.get_url(endpoint, id=_PLACEHOLDER, url=return_url)
        glyph = "eye-open" if icon == "eye" else icon
        return (
            f'<a class="icon" href="{escape(url)}" title="{escape(action.title or "")}">'
            f'<span class="fa fa-{icon} glyphicon glyphicon-{glyph}"></span></a>',
            "url",
        )

    @staticmethod
    def _delete(view, return_url, delete_form) -> tuple[str, str]:
        if "csrf_token" in delete_form:
            csrf = str(delete_form.csrf_token)
        else:
            # The page-wide token of Flask-WTF's CSRFProtect, as the macro falls back to.
            token = current_app.jinja_env.globals.get("csrf_token")
            csrf = (
                f'<input type="hidden" name="csrf_token" value="{escape(token())}"/>'
                if token
                else ""
            )
        confirm = admin_gettext("Are you sure you want to delete this record?")
        return (
            f'<form class="icon" method="POST" action="{escape(view.get_url(".delete_view"))}">'
            f'<input id="id" name="id" type="hidden" value="{_PLACEHOLDER}">'
            f'<input id="url" name="url" type="hidden" value="{escape(return_url)}">'
            f"{csrf}"
            f'<button data-confirm="{escape(confirm)}" '
            f'title="{escape(admin_gettext("Delete Record"))}">'
            f'<span class="fa fa-trash glyphicon glyphicon-trash"></span></button></form>',
            "value",
        )

    def __call__(self, row_id) -> Markup | None:
        if self.parts is None:
            return None
        text = str(row_id)
        in_url, in_value = quote(text, safe=""), str(escape(text))
        # Separated by white space, as the macros were: the icons are inline and need the gap.
        html = "\n".join(
            part.replace(_PLACEHOLDER, in_url if where == "url" else in_value)
            for part, where in self.parts
        )
        # Every value above went through ``escape`` (or ``quote``) before it was put in.
        return Markup(html)  # noqa: S704


class ListRow:
    """Called with a row's model: the row's cells as markup, or None when the template must
    render it (an editable column, or row icons :class:`RowActions` cannot draw)."""

    def __init__(
        self,
        *,
        row_actions,
        selectable: bool,
        show_actions: bool,
        columns,
        get_value,
        get_pk_value,
        select_label: str,
    ) -> None:
        self.row_actions = row_actions
        self.show_actions = show_actions
        self.columns = [(name, f'<td class="col-{escape(name)}">') for name, _label in columns]
        self.get_value = get_value
        self.get_pk_value = get_pk_value
        self.checkbox = (
            '<td><input type="checkbox" name="rowid" class="action-checkbox" '
            f'aria-label="{escape(select_label)}" value="{{value}}" '
            f'title="{escape(admin_gettext("Select record"))}" /></td>'
            if selectable
            else ""
        )

    @pass_context
    def __call__(self, context, row) -> Markup | None:
        # The page's template context goes to the formatters, as the template's ``get_value``
        # passed it (the audit list reads the page's rows from it).
        key = self.get_pk_value(row)
        parts = []
        if self.checkbox:
            parts.append(self.checkbox.replace("{value}", str(escape(key))))
        if self.show_actions:
            icons = self.row_actions(key)
            if icons is None:
                return None
            parts.append(f'<td class="list-buttons-column">{icons}</td>')
        for name, opening in self.columns:
            # ``escape`` leaves markup (a formatter's output) as it is and escapes the rest,
            # as the template's autoescape did.
            parts.append(f"{opening}{escape(self.get_value(context, row, name))}</td>")
        return Markup("".join(parts))  # noqa: S704
