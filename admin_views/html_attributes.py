"""WTForms' ``html_params`` with the same output, without ``Markup.format``.

Every input, select option and label of a form page goes through ``html_params``, and
WTForms builds each ``name="value"`` pair with ``Markup('{k}="{v}"').format(...)``:
MarkupSafe's escaping formatter runs ``string.Formatter`` in Python, about 35 µs a pair.
A registration form with its pickers has a few thousand pairs, so a third of its render
went there. :func:`install` swaps the function, in WTForms and in the Flask-Admin modules
that imported it by name, for one that escapes the same things in the same way and joins
plain strings: the same markup, byte for byte (``tests/test_html_attributes.py`` compares
the two on generated attributes).
"""

from __future__ import annotations

from markupsafe import Markup, escape
from wtforms.widgets import core as wtforms_widgets
from wtforms.widgets.core import clean_key

_wtforms_html_params = wtforms_widgets.html_params


def html_params(**kwargs) -> Markup:
    """``wtforms.widgets.html_params``: attributes sorted by keyword, ``True`` as a bare
    name, ``False`` left out, values escaped (``"`` as ``&quot;`` in a value that is
    already markup)."""
    pairs = []
    for key, value in sorted(kwargs.items()):
        name = escape(clean_key(key))
        if value is True:
            pairs.append(name)
        elif value is not False:
            text = escape(value)
            if '"' in text:  # only markup passed in as such can still hold a bare quote
                text = str.replace(text, '"', "&quot;")
            pairs.append(f'{name}="{text}"')
    # Every part above is escaped already: the join only has to be marked as markup.
    return Markup(" ".join(pairs))  # noqa: S704


def install() -> None:
    """Use :func:`html_params` wherever WTForms and Flask-Admin look the name up."""
    from flask_admin.form import upload
    from flask_admin.model import widgets as admin_widgets
    from wtforms import widgets as wtforms_package

    for module in (wtforms_widgets, wtforms_package, admin_widgets, upload):
        if getattr(module, "html_params", None) is _wtforms_html_params:
            module.html_params = html_params
    # Input and Button keep it as a static method of their own.
    for widget in vars(wtforms_widgets).values():
        attribute = vars(widget).get("html_params") if isinstance(widget, type) else None
        if getattr(attribute, "__func__", None) is _wtforms_html_params:
            widget.html_params = staticmethod(html_params)
