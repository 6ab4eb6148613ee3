"""One input layer for every form and every query string.

Whatever a browser (or anyone with curl) sends passes through here before a view or the
database sees it:

* form fields (every admin model form through ``checked_form_base``, every other form through
  ``CheckedForm``): invisible control characters are refused with a message on the field
  (tabs and line breaks are kept in multi-line text, refused in one-line fields); dates must
  lie within a sane range; integers must fit the column they are stored in and respect its
  simple check constraints (``amount > 0``, ``head_count >= 1``);
* query strings and URL parts (``install_input_checks``): control characters are stripped
  (they never belong in a search or a filter), ids that no record can have answer 404, and
  filter values or dates out of range are dropped with a Chinese notice.

PostgreSQL refuses NUL bytes and numbers beyond its column types with an exception, and
control characters that it does accept (ESC, BEL, U+202E) end up printed in letterheads;
checking here means the views never see such input.
"""

from __future__ import annotations

import re
from datetime import date, datetime

import sqlalchemy as sa
from flask import abort, current_app, flash, g, request
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.datastructures import ImmutableMultiDict
from wtforms import widgets
from wtforms.validators import StopValidation

#: Years outside this range are typing slips (or probes); no record of the office has them.
EARLIEST_YEAR = 1900
LATEST_YEAR = 2100

#: The largest id any table can hold (PostgreSQL BIGINT); a larger id cannot exist.
MAX_ID = 2**63 - 1

#: Longer searches are pasted documents, not searches.
MAX_SEARCH_LENGTH = 200

#: Value ranges of the SQL integer types.
_INTEGER_RANGES = (
    (sa.SmallInteger, -(2**15), 2**15 - 1),
    (sa.BigInteger, -(2**63), 2**63 - 1),
    (sa.Integer, -(2**31), 2**31 - 1),
)

#: Line breaks and tabs: fine in multi-line text, not in a name or a subject.
_LINE_CHARACTERS = "\t\n\r"
#: C0 and C1 controls, DEL, bidi marks, embeddings, overrides and isolates, line and
#: paragraph separators, the byte-order mark and non-characters. Zero-width joiners
#: (U+200C, U+200D) are not here: emoji sequences and some scripts need them.
_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
    "\u061c\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069\ufeff\ufffe\uffff]"
)
_CONTROL_OR_LINE = re.compile(_CONTROL.pattern[:-1] + "\t\n\r]")

_INTEGER_TEXT = re.compile(r"^\s*[-+]?\d+\s*$")
_ISO_DATE_PREFIX = re.compile(r"^\s*([-+]?\d{1,6})-(\d{1,2})-(\d{1,2})")
#: Simple check constraints on one integer column: ``name >= 1``, ``name > 0``,
#: ``name <= 366``, ``name BETWEEN 0 AND 100``.
_BOUND = re.compile(r"\b(\w+)\s*(>=|>|<=|<)\s*(-?\d+)\b")
_BETWEEN = re.compile(r"\b(\w+)\s+BETWEEN\s+(-?\d+)\s+AND\s+(-?\d+)", re.IGNORECASE)


# -- text ------------------------------------------------------------------------------------
def has_control_characters(text: str, multiline: bool = False) -> bool:
    pattern = _CONTROL if multiline else _CONTROL_OR_LINE
    return bool(pattern.search(text))


def strip_control_characters(text: str, multiline: bool = False) -> str:
    pattern = _CONTROL if multiline else _CONTROL_OR_LINE
    return pattern.sub("", text)


def _is_multiline(field) -> bool:
    return isinstance(field.widget, widgets.TextArea)


def _raw_texts(field) -> list[str]:
    return [value for value in (getattr(field, "raw_data", None) or []) if isinstance(value, str)]


def _is_reference(field) -> bool:
    """A picker of records (its value is an id that it looks up when read)."""
    return hasattr(field, "loader") or hasattr(field, "query_factory")


def _text_problem(field) -> str | None:
    values = _raw_texts(field)
    if not _is_reference(field) and isinstance(field.data, str):
        values.append(field.data)
    multiline = _is_multiline(field)
    stripped_by_request_check = field.name in g.get("fields_with_control_characters", ())
    if stripped_by_request_check or any(_CONTROL.search(value) for value in values):
        return _(
            "含有不可见的控制字符（如 NUL、ESC、响铃或文字方向控制符），"
            "请删除后重新填写（可从记事本重新复制）。"
        )
    if not multiline and any(_CONTROL_OR_LINE.search(value) for value in values):
        return _("此项只能填写一行，请去掉换行符和制表符。")
    return None


# -- numbers and dates -----------------------------------------------------------------------
def integer_type_range(column) -> tuple[int, int]:
    """The values the SQL type of ``column`` can hold."""
    for sql_type, type_low, type_high in _INTEGER_RANGES:
        if isinstance(column.type, sql_type):
            return type_low, type_high
    return -(2**63), 2**63 - 1


def integer_range(column) -> tuple[int, int]:
    """The values ``column`` can store: its SQL type's range narrowed by its check constraints."""
    low, high = integer_type_range(column)
    for constraint in getattr(column.table, "constraints", ()):
        if not isinstance(constraint, sa.CheckConstraint):
            continue
        text = str(constraint.sqltext)
        for name, lowest, highest in _BETWEEN.findall(text):
            if name == column.name:
                low, high = max(low, int(lowest)), min(high, int(highest))
        for name, operator, number in _BOUND.findall(text):
            if name != column.name:
                continue
            bound = int(number)
            if operator == ">=":
                low = max(low, bound)
            elif operator == ">":
                low = max(low, bound + 1)
            elif operator == "<=":
                high = min(high, bound)
            else:
                high = min(high, bound - 1)
    return low, high


def _year_problem(value) -> str | None:
    if isinstance(value, date) and not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        return _(
            "日期超出合理范围（%(first)s 年至 %(last)s 年），请检查年份。",
            first=EARLIEST_YEAR,
            last=LATEST_YEAR,
        )
    return None


def _number_problem(value, low: int, high: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    if low <= value <= high:
        return None
    if low >= 0 and value < 0:
        return _("此项不能为负数。")
    return _("数值应在 %(low)s 到 %(high)s 之间。", low=low, high=high)


def _column_for(model, name):
    if model is None:
        return None
    columns = sa.inspect(model).columns
    return columns.get(name)


def field_problem(field, model=None) -> str | None:
    """Why the submitted value of ``field`` cannot be accepted, or ``None``."""
    if _is_reference(field) and any(
        _out_of_id_range(value) for value in _raw_texts(field) if _INTEGER_TEXT.match(value)
    ):
        # Reading the field would look the id up; no record can have it.
        return _("所选记录不存在，请重新选择。")
    problem = _text_problem(field)
    if problem or _is_reference(field):
        return problem
    if problem:
        return problem
    data = field.data
    if isinstance(data, date):
        return _year_problem(data)
    if isinstance(data, int) and not isinstance(data, bool):
        column = _column_for(model, field.name)
        low, high = integer_type_range(column) if column is not None else (-(2**31), 2**31 - 1)
        return _number_problem(data, low, high)
    return None


class _WithinConstraints:
    """Last in a number field's validators: the column's check constraints (``amount > 0``),
    so the form says so instead of the database refusing the whole save. Silent when a
    validator of the view has already explained the value."""

    def __init__(self, column) -> None:
        self.column = column

    def __call__(self, form, field):
        if field.errors or not isinstance(field.data, int) or isinstance(field.data, bool):
            return
        problem = _number_problem(field.data, *integer_range(self.column))
        if problem:
            raise StopValidation(problem)


def _leaf_fields(form, model):
    """Every input field of ``form``, sub-forms of inline lists included, with its model."""
    for field in form:
        entries = getattr(field, "entries", None)
        if entries is not None:
            for entry in entries:
                sub_form = getattr(entry, "form", None)
                if sub_form is not None:
                    yield from _leaf_fields(sub_form, getattr(sub_form, "input_model", None))
                else:
                    yield entry, None
        elif getattr(field, "form", None) is not None and field.type == "FormField":
            yield from _leaf_fields(field.form, None)
        else:
            yield field, model


def _chooses_itself(field, edited) -> bool:
    """A unit made its own parent: the save could never be ordered (and would fail)."""
    if not _is_reference(field) or not _raw_texts(field):
        return False
    data = field.data
    return data is edited or (isinstance(data, list | tuple) and any(d is edited for d in data))


class _Refuse:
    """Put first in a field's validators: report ``message`` and run no other validator."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __call__(self, form, field):
        raise StopValidation(self.message)


class InputChecks:
    """Form mixin: after the form has read its input, refuse what no field may hold.

    A refused field's value is cleaned at once (control characters removed, out-of-range
    dates and numbers emptied), so that no validator or query sees it before the form is
    rejected with the message on the field.
    """

    #: The model whose columns give the integer ranges (set by ``checked_form_base``).
    input_model = None

    def process(self, formdata=None, obj=None, data=None, extra_filters=None, **kwargs):
        super().process(formdata, obj, data, extra_filters, **kwargs)
        if not self.meta.wrap_formdata(self, formdata):
            return  # showing a form, not reading one
        edited = getattr(self, "_obj", None)
        for field, model in _leaf_fields(self, self.input_model):
            problem = field_problem(field, model)
            if problem is None and edited is not None and _chooses_itself(field, edited):
                problem = _("不能选择记录本身。")
            if problem is None:
                column = _column_for(model, field.name)
                if isinstance(field.data, int) and column is not None:
                    field.validators = [*field.validators, _WithinConstraints(column)]
                continue
            if _is_reference(field):
                field._formdata = None
                field.raw_data = []
            elif isinstance(field.data, str):
                field.data = strip_control_characters(field.data, _is_multiline(field))
            elif isinstance(field.data, date | int):
                field.data = None
            field.raw_data = [
                strip_control_characters(value, _is_multiline(field))
                if isinstance(value, str)
                else value
                for value in (getattr(field, "raw_data", None) or [])
            ]
            field.validators = [_Refuse(problem), *field.validators]

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        # Lazy messages (``_l("此项必填")``) as plain text: the form templates print only the
        # errors that are strings, so a lazy one would refuse the input without saying why.
        for field in self:
            if field.errors and isinstance(field.errors, list | tuple):
                field.errors = [
                    str(error) if not isinstance(error, str | list | dict | tuple) else error
                    for error in field.errors
                ]
        return valid


class CheckedForm(InputChecks, FlaskForm):
    """FlaskForm with the input checks: the base of every hand-written form."""


_checked_bases: dict = {}


def checked_form_base(base_class, model):
    """A Flask-Admin form base class that checks input against ``model``'s columns."""
    key = (base_class, model)
    if key not in _checked_bases:
        _checked_bases[key] = type(
            f"Checked{model.__name__}FormBase",
            (InputChecks, base_class),
            {"input_model": model},
        )
    return _checked_bases[key]


# -- query strings and URL parts ------------------------------------------------------------
def _admin_model_view(blueprint: str | None):
    if not blueprint:
        return None
    for admin in current_app.extensions.get("admin", []):
        for view in admin._views:
            if view.blueprint is not None and view.blueprint.name == blueprint:
                return view if hasattr(view, "_filter_args") else None
    return None


def _out_of_id_range(text: str) -> bool:
    return bool(_INTEGER_TEXT.match(text)) and not 0 < int(text) <= MAX_ID


def _date_text_problem(text: str) -> str | None:
    match = _ISO_DATE_PREFIX.match(text)
    if not match:
        return None
    year = int(match.group(1))
    if EARLIEST_YEAR <= year <= LATEST_YEAR:
        return None
    return _(
        "日期超出合理范围（%(first)s 年至 %(last)s 年），已忽略该条件。",
        first=EARLIEST_YEAR,
        last=LATEST_YEAR,
    )


def _filter_problem(view, key: str, value: str) -> str | None:
    """A list filter whose value is out of range for its column (``flt0_3=99999999999``)."""
    if view is None or not key.startswith("flt") or "_" not in key:
        return None
    entry = (view._filter_args or {}).get(key[3:].split("_", 1)[1])
    if entry is None:
        return None
    flt = entry[1]
    try:
        if not flt.validate(value):
            return None  # Flask-Admin refuses it itself, with its own notice
        cleaned = flt.clean(value)
    except (ValueError, TypeError, OverflowError):
        return None
    column = getattr(flt, "column", None)
    low, high = (-(2**63), 2**63 - 1)
    if column is not None and isinstance(getattr(column, "type", None), sa.Integer):
        for sql_type, type_low, type_high in _INTEGER_RANGES:
            if isinstance(column.type, sql_type):
                low, high = type_low, type_high
                break
    for item in cleaned if isinstance(cleaned, list | tuple) else [cleaned]:
        if isinstance(item, datetime | date):
            problem = _year_problem(item)
            if problem:
                return problem
        elif isinstance(item, int) and not isinstance(item, bool) and not low <= item <= high:
            return _("筛选条件中的数值超出范围，已忽略该条件。")
    return None


def _impossible_record_id(view, value: str) -> bool:
    """No record of ``view`` can have this id (a number out of range, text for a number)."""
    if has_control_characters(value) or _out_of_id_range(value):
        return True
    model = getattr(view, "model", None)
    if model is None:
        return False
    keys = sa.inspect(model).primary_key
    if len(keys) != 1:
        return False
    if isinstance(keys[0].type, sa.Integer):
        return not _INTEGER_TEXT.match(value)
    if isinstance(keys[0].type, sa.Date):  # calendar overrides are keyed by their day
        try:
            return _year_problem(date.fromisoformat(value)) is not None
        except ValueError:
            return True
    return False


def _is_id_key(key: str) -> bool:
    return key in ("id", "rowid") or key.endswith("_id")


#: Blueprints of the JSON API (admin_views/api: its endpoints, its description and docs).
JSON_API_BLUEPRINTS = frozenset({"api_v1", "api_docs", "api-docs"})


def check_request_input():
    """Before every request: clean the query string, refuse impossible ids in the URL."""
    for value in (request.view_args or {}).values():
        if isinstance(value, int) and not 0 < value <= MAX_ID:
            abort(404)
        if isinstance(value, str) and has_control_characters(value):
            abort(404)
    if request.blueprint in JSON_API_BLUEPRINTS:
        # The JSON API (admin_views/api) checks its own input with its schemas and answers in
        # JSON; it has no session to carry a notice.
        return
    view = _admin_model_view(request.blueprint)
    if request.method == "POST":
        for key in ("id", "rowid"):
            for value in request.form.getlist(key):
                if _impossible_record_id(view, value):
                    abort(404)
        _strip_form_controls()
    if not request.args:
        return
    kept = []
    notices = []
    changed = False
    for key, value in request.args.items(multi=True):
        clean_key = strip_control_characters(key)
        clean_value = strip_control_characters(value)
        if clean_key == "id" and (_out_of_id_range(clean_value) or clean_value != value):
            abort(404)
        problem = None
        if clean_key == "search":
            if len(clean_value) > MAX_SEARCH_LENGTH:
                # Nobody types more; SQLite refuses longer LIKE patterns outright.
                clean_value = clean_value[:MAX_SEARCH_LENGTH]
                notices.append(
                    _("搜索内容过长，只按前 %(count)s 个字搜索。", count=MAX_SEARCH_LENGTH)
                )
        elif _is_id_key(clean_key) and _out_of_id_range(clean_value):
            problem = _("链接中的编号无效，已忽略。")
        elif _INTEGER_TEXT.match(clean_value) and abs(int(clean_value)) > MAX_ID:
            problem = _("链接中的数字超出范围，已忽略。")
        else:
            problem = _date_text_problem(clean_value) or _filter_problem(
                view, clean_key, clean_value
            )
        if problem:
            notices.append(problem)
            changed = True
            continue
        if (clean_key, clean_value) != (key, value):
            changed = True
        kept.append((clean_key, clean_value))
    if changed:
        # Werkzeug caches ``args`` on the request; replacing it is how every view sees the
        # cleaned query string without each one repeating these checks.
        request.args = ImmutableMultiDict(kept)
        for notice in dict.fromkeys(notices):
            flash(notice, "warning")


def _strip_form_controls() -> None:
    """Remove control characters from posted values, and remember which fields had them.

    Views that read ``request.form`` directly (a note on an approval, a template's body) so
    never store them; the forms layer above refuses those fields with a message.
    """
    if not request.form:
        return
    tainted = {
        key
        for key, value in request.form.items(multi=True)
        if has_control_characters(value, multiline=True)
    }
    if not tainted:
        return
    g.fields_with_control_characters = tainted
    request.form = ImmutableMultiDict(
        [
            (key, strip_control_characters(value, multiline=True))
            for key, value in request.form.items(multi=True)
        ]
    )


def install_input_checks(app) -> None:
    app.before_request(check_request_input)
