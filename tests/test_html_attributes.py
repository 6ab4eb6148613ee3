"""admin_views.html_attributes gives the same markup as WTForms' own html_params."""

from __future__ import annotations

import wtforms
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup
from wtforms.widgets import core as wtforms_widgets

from admin_views import html_attributes
from admin_views.html_attributes import html_params


class HasHtml:
    def __init__(self, text):
        self.text = text

    def __html__(self):
        return self.text


TEXT = st.text(alphabet=st.sampled_from("ab\"'<>&_- 长𠮷\x00"), max_size=8)
KEYS = st.one_of(
    st.sampled_from(["class_", "for_", "data_x_y", "aria_label", "id", "name", "value", "x__"]),
    TEXT.filter(bool),
)
VALUES = st.one_of(
    st.booleans(),
    st.none(),
    st.integers(),
    st.floats(allow_nan=False),
    TEXT,
    TEXT.map(Markup),
    TEXT.map(HasHtml),
)


@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_same_markup_as_wtforms(attributes):
    ours = html_params(**attributes)
    theirs = html_attributes._wtforms_html_params(**attributes)
    assert isinstance(ours, Markup)
    assert str(ours) == str(theirs)


def test_examples_from_wtforms_documentation():
    # Sorted by keyword, as the code does (its docstring shows them unsorted).
    assert html_params(data_attr="user.name", aria_labeledby="name") == (
        'aria-labeledby="name" data-attr="user.name"'
    )
    assert html_params(name="text1", id="f", class_="text") == 'class="text" id="f" name="text1"'
    assert html_params(checked=True, readonly=False, name="text1", abc="hello") == (
        'abc="hello" checked name="text1"'
    )
    assert html_params(value=Markup('a"b'), title='<"x">') == (
        'title="&lt;&#34;x&#34;&gt;" value="a&quot;b"'
    )


def test_installed_wherever_widgets_look_it_up(app):
    from flask_admin.form import upload
    from flask_admin.model import widgets as admin_widgets

    for module in (wtforms_widgets, wtforms.widgets, admin_widgets, upload):
        assert module.html_params is html_params, module.__name__
    assert wtforms_widgets.Input.html_params is html_params
    assert wtforms_widgets.Button.html_params is html_params


def test_a_rendered_field_is_the_same_markup(app):
    class Form(wtforms.Form):
        name = wtforms.StringField(render_kw={"data_hint": '"引号"'})
        kind = wtforms.SelectField(choices=[("a", "甲<>"), ("b", 'B"')])

    form = Form(data={"name": "<张三>", "kind": "b"})
    assert str(form.name()) == (
        '<input data-hint="&#34;引号&#34;" id="name" name="name" type="text" value="&lt;张三&gt;">'
    )
    assert str(form.kind()) == (
        '<select id="kind" name="kind"><option value="a">甲&lt;&gt;</option>'
        '<option selected value="b">B&#34;</option></select>'
    )
