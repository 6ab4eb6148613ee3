"""Case fields defined by administrators in the browser (自定义字段).

One module owns them: which fields apply to a case (:func:`fields_for`), turning what was typed
or imported into the stored value with a Chinese message when it cannot be (:func:`clean_value`,
:func:`validate_custom_values`), their text on screens, exports and documents
(:func:`display_value`), the SQL that filters on them (:func:`value_equals_clause`) and their
configuration export (:func:`export_custom_fields` / :func:`apply_custom_fields`).

Values live in ``Case.custom_values`` (JSON; JSONB on PostgreSQL), keyed by the field's key:
text -> str, number -> int/float, date -> "YYYY-MM-DD", datetime -> ISO string with the local
offset, choice -> the choice's text, boolean -> true/false, person -> a staff user's id.
An empty value is not stored at all.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .base import local_zone, to_local
from .cases import Case
from .categories import Category
from .enums import CategoryKind, CustomFieldType, enum_column
from .mixins import TimestampMixin
from .operations import ValidationFailed
from .users import User

T = CustomFieldType

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_TEXT = {T.text: 500, T.long_text: 5000}
#: Larger numbers lose digits in JSON readers (JavaScript, spreadsheets).
MAX_NUMBER = 10**15
EARLIEST_YEAR, LATEST_YEAR = 1900, 2100
TRUE_TEXTS = {"true", "1", "y", "yes", "on", "是"}
FALSE_TEXTS = {"false", "0", "n", "no", "off", "否"}
#: Types whose values may be swapped for each other without touching stored values.
COMPATIBLE_TYPES = {frozenset({T.text, T.long_text})}


class CustomField(TimestampMixin, db.Model):
    __tablename__ = "custom_fields"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The name values are stored under (``Case.custom_values``) and exports refer to.
    key: Mapped[str] = mapped_column(sa.String(40), unique=True)
    label: Mapped[str] = mapped_column(sa.String(40))
    field_type: Mapped[CustomFieldType] = mapped_column(
        enum_column(CustomFieldType, "custom_field_type"), default=CustomFieldType.text
    )
    #: The options of a choice field, in order.
    choices: Mapped[list] = mapped_column(sa.JSON, default=list, nullable=False)
    required: Mapped[bool] = mapped_column(default=False, nullable=False)
    help_text: Mapped[str | None] = mapped_column(sa.String(200))
    #: Applies to this category and those below it (empty: every category).
    category_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("categories.id", ondelete="SET NULL"), index=True
    )
    #: Applies to categories of this kind (empty: every kind).
    category_kind: Mapped[CategoryKind | None] = mapped_column(
        enum_column(CategoryKind, "category_kind")
    )
    sort_order: Mapped[int] = mapped_column(default=0, nullable=False)
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)
    show_in_list: Mapped[bool] = mapped_column(default=False, nullable=False)
    filterable: Mapped[bool] = mapped_column(default=False, nullable=False)

    category = relationship("Category", lazy="select")

    def __str__(self) -> str:
        return self.label

    @property
    def form_name(self) -> str:
        """The input's name on the registration and edit forms."""
        return f"cf_{self.key}"

    @property
    def placeholder(self) -> str:
        """The document placeholder: the label when it can be one (``{{ 患者类型 }}``)."""
        return self.label if self.label.isidentifier() else self.key

    @property
    def is_scoped(self) -> bool:
        return self.category_id is not None or self.category_kind is not None


# --- which fields apply --------------------------------------------------------------------


def active_fields() -> list[CustomField]:
    return list(
        db.session.scalars(
            sa.select(CustomField)
            .where(CustomField.is_active.is_(True))
            .order_by(CustomField.sort_order, CustomField.id)
        )
    )


def category_lineage(category: Category | None) -> list[int]:
    """The ids of ``category`` and every category above it."""
    ids: list[int] = []
    while category is not None and category.id not in ids and len(ids) < 50:
        ids.append(category.id)
        category = category.parent
    return ids


def applies_to(field: CustomField, category: Category | None, lineage=None) -> bool:
    if not field.is_scoped:
        return True
    if category is None:
        return False
    if field.category_kind is not None and category.kind != field.category_kind:
        return False
    if field.category_id is not None:
        return field.category_id in (lineage if lineage is not None else category_lineage(category))
    return True


def fields_for(category: Category | None, fields=None) -> list[CustomField]:
    """The active fields a case of ``category`` carries (all unscoped ones when it has none)."""
    lineage = category_lineage(category)
    candidates = active_fields() if fields is None else fields
    return [field for field in candidates if applies_to(field, category, lineage)]


# --- values ------------------------------------------------------------------------------------


def _is_empty(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _user_ok(user_id: int, previous) -> bool:
    user = db.session.get(User, user_id)
    # A person chosen before may have left since: the case keeps naming them.
    return user is not None and (user.is_active_user or user_id == previous)


def clean_value(field: CustomField, value, previous=None, *, enforce_required: bool = True):
    """The stored form of ``value`` (typed text or an imported value), ``None`` when empty.

    Raises ``ValidationFailed`` (on the form's input ``cf_<key>``) when it cannot be one, or is
    empty and the field is required. ``previous`` (the value stored before) stays acceptable
    when a choice was since removed or a chosen person deactivated.
    """
    label = field.label
    where = field.form_name
    if _is_empty(value):
        if field.required and enforce_required:
            raise ValidationFailed(_("请填写%(label)s", label=label), field=where)
        return None
    kind = field.field_type
    if kind in (T.text, T.long_text):
        text = str(value).strip()
        if len(text) > MAX_TEXT[kind]:
            raise ValidationFailed(
                _("%(label)s不能超过 %(limit)s 个字", label=label, limit=MAX_TEXT[kind]),
                field=where,
            )
        return text
    if kind == T.number:
        if isinstance(value, bool):
            raise ValidationFailed(_("%(label)s：数字格式不正确", label=label), field=where)
        if isinstance(value, int | float):
            number = value
        else:
            text = str(value).strip().replace(",", "")
            if not re.fullmatch(r"-?\d+(\.\d+)?", text):
                raise ValidationFailed(_("%(label)s：数字格式不正确", label=label), field=where)
            number = float(text) if "." in text else int(text)
        if (isinstance(number, float) and not math.isfinite(number)) or abs(number) >= MAX_NUMBER:
            raise ValidationFailed(_("%(label)s：数值超出范围", label=label), field=where)
        if isinstance(number, float) and number.is_integer():
            number = int(number)
        return number
    if kind == T.date:
        try:
            day = value if isinstance(value, date) else date.fromisoformat(str(value).strip())
        except ValueError:
            raise ValidationFailed(
                _("%(label)s：日期格式不正确（如 2026-03-01）", label=label), field=where
            ) from None
        if isinstance(day, datetime):
            day = to_local(day).date() if day.tzinfo else day.date()
        _check_year(field, day.year)
        return day.isoformat()
    if kind == T.datetime:
        try:
            moment = (
                value
                if isinstance(value, datetime)
                else datetime.fromisoformat(str(value).strip().replace(" ", "T", 1))
            )
        except ValueError:
            raise ValidationFailed(
                _("%(label)s：时间格式不正确（如 2026-03-01 09:30）", label=label), field=where
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=local_zone())
        _check_year(field, moment.year)
        return to_local(moment).replace(microsecond=0).isoformat()
    if kind == T.choice:
        text = str(value).strip()
        if text not in (field.choices or []) and text != previous:
            raise ValidationFailed(
                _("%(label)s：“%(value)s”不在可选项中", label=label, value=text[:40]),
                field=where,
            )
        return text
    if kind == T.boolean:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in TRUE_TEXTS:
            return True
        if text in FALSE_TEXTS:
            return False
        raise ValidationFailed(_("%(label)s：请选择“是”或“否”", label=label), field=where)
    if kind == T.person:
        text = str(value).strip()
        if isinstance(value, bool) or not text.isdigit() or not 0 < int(text) < 2**31:
            raise ValidationFailed(_("%(label)s：请选择人员", label=label), field=where)
        if not _user_ok(int(text), previous):
            raise ValidationFailed(_("%(label)s：所选人员不存在或已停用", label=label), field=where)
        return int(text)
    raise ValidationFailed(_("%(label)s：不支持的字段类型", label=label), field=where)


def _check_year(field: CustomField, year: int) -> None:
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise ValidationFailed(
            _(
                "%(label)s：年份应在 %(first)s 至 %(last)s 之间",
                label=field.label,
                first=EARLIEST_YEAR,
                last=LATEST_YEAR,
            ),
            field=field.form_name,
        )


def stored_values(case: Case) -> dict:
    """``case.custom_values`` as loaded from the database, before this request changed it."""
    state = sa.inspect(case)
    if state.transient or state.pending:
        return {}
    history = state.attrs.custom_values.history
    loaded = list(history.deleted) or list(history.unchanged)
    return dict(loaded[0] or {}) if loaded else dict(case.custom_values or {})


def _category_of(case: Case) -> Category | None:
    if case.category is None and case.category_id is not None:
        return db.session.get(Category, case.category_id)
    return case.category


def validate_custom_values(case: Case, before: dict | None = None) -> dict[str, list]:
    """Check and normalise the values of the fields that apply to ``case``'s category.

    Values of fields that do not apply (another category's, a deactivated field's) are kept as
    they are. Raises ``ValidationFailed`` on the first bad or missing value. Returns the
    changes as ``{label: [before, after]}`` display texts for the timeline. ``before``: the
    values as loaded (:func:`stored_values`, read before anything could autoflush).
    """
    before = stored_values(case) if before is None else before
    values = dict(case.custom_values or {})
    category = _category_of(case)
    for field in fields_for(category):
        # Quick intake (the reception queue, an opinion box) registers a matter before anyone
        # classifies it: a required field is required once the case has its category.
        value = clean_value(
            field,
            values.get(field.key),
            previous=before.get(field.key),
            enforce_required=category is not None,
        )
        if value is None:
            values.pop(field.key, None)
        else:
            values[field.key] = value
    if values != (case.custom_values or {}) or case.custom_values is None:
        case.custom_values = values
    changes = {}
    if values != before:
        by_key = {field.key: field for field in active_fields()}
        for key in sorted(set(before) | set(values), key=str):
            if before.get(key) == values.get(key):
                continue
            field = by_key.get(key)
            label = field.label if field is not None else key
            old, new = before.get(key), values.get(key)
            changes[label] = [
                display_value(field, old) if field is not None and old is not None else old,
                display_value(field, new) if field is not None and new is not None else new,
            ]
    return changes


def display_value(field: CustomField, value, people: dict[int, str] | None = None) -> str:
    """The value as text for screens, exports, registers and documents."""
    if value is None or value == "":
        return ""
    kind = field.field_type
    if kind == T.boolean:
        return _("是") if value else _("否")
    if kind == T.number:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value)
    if kind == T.datetime:
        try:
            return to_local(datetime.fromisoformat(str(value))).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            return str(value)
    if kind == T.person:
        if people is not None and value in people:
            return people[value]
        user = db.session.get(User, value) if isinstance(value, int) else None
        return str(user) if user is not None else str(value)
    return str(value)


def person_names() -> dict[int, str]:
    """Every staff user's name by id, for displaying many person values at once."""
    return {
        user_id: full_name or username
        for user_id, full_name, username in db.session.execute(
            sa.select(User.id, User.full_name, User.username)
        )
    }


def display_rows(case: Case, fields: list[CustomField] | None = None) -> list[tuple[str, str]]:
    """``(label, text)`` of the fields applying to ``case`` and any other with a value.

    ``fields``: the active fields, when the caller loaded them already."""
    values = case.custom_values or {}
    fields = active_fields() if fields is None else fields
    applying = {field.id for field in fields_for(_category_of(case), fields)}
    return [
        (field.label, display_value(field, values.get(field.key)))
        for field in fields
        if field.id in applying or values.get(field.key) is not None
    ]


def placeholder_values(case: Case | None) -> dict[str, str]:
    """The document placeholders of every field, filled from ``case``.

    Deactivated fields are included (empty when the case has no value), so wording written
    while a field was active still renders after it was switched off.
    """
    values = (case.custom_values or {}) if case is not None else {}
    every_field = db.session.scalars(
        sa.select(CustomField).order_by(CustomField.is_active, CustomField.id)
    )
    return {field.placeholder: display_value(field, values.get(field.key)) for field in every_field}


def placeholder_descriptions() -> dict[str, str]:
    return {
        field.placeholder: _("自定义字段：%(label)s", label=field.label)
        for field in active_fields()
    }


# --- SQL ---------------------------------------------------------------------------------------


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def value_equals_clause(field: CustomField, value):
    """Cases whose ``field`` holds ``value`` (already cleaned).

    On PostgreSQL a JSONB containment test (``custom_values @> '{"key": value}'``) that the
    GIN index ``ix_cases_custom_values`` answers; on SQLite ``json_extract``.
    """
    if _dialect() == "postgresql":
        return sa.type_coerce(Case.custom_values, JSONB).contains({field.key: value})
    extracted = sa.func.json_extract(Case.custom_values, f'$."{field.key}"')
    if isinstance(value, bool):
        return extracted == (1 if value else 0)
    return extracted == value


def value_text(field: CustomField):
    """The stored value as text (dates and times compare as text: ISO order is time order)."""
    if _dialect() == "postgresql":
        return sa.type_coerce(Case.custom_values, JSONB)[field.key].astext
    return sa.func.json_extract(Case.custom_values, f'$."{field.key}"')


def value_bound_clause(field: CustomField, bound, *, upper: bool):
    """Cases whose date, time or number ``field`` is at least (or, ``upper``, at most)
    ``bound``: a number, or a day ("YYYY-MM-DD", inclusive; stored times carry the local
    offset, so their text sorts by time within the day)."""
    if field.field_type == T.number:
        if _dialect() == "postgresql":
            number = sa.cast(value_text(field), sa.Numeric)
        else:
            number = sa.func.json_extract(Case.custom_values, f'$."{field.key}"')
        return number <= bound if upper else number >= bound
    text = value_text(field)
    if upper:
        following = date.fromordinal(date.fromisoformat(bound).toordinal() + 1).isoformat()
        return text < following
    return text >= bound


def has_value_clause(key: str):
    if _dialect() == "postgresql":
        return sa.type_coerce(Case.custom_values, JSONB).has_key(key)
    return sa.func.json_extract(Case.custom_values, f'$."{key}"').is_not(None)


def cases_with_value(key: str) -> int:
    return db.session.scalar(sa.select(sa.func.count(Case.id)).where(has_value_clause(key)))


# --- defining fields ---------------------------------------------------------------------------


def key_from_label(label: str) -> str:
    """A key for a new field: the label's Latin letters and digits, else ``field_<n>``."""
    slug = re.sub(r"[^a-z0-9]+", "_", (label or "").lower()).strip("_")
    if not slug or not slug[0].isalpha():
        slug = "field"
    slug = slug[:32]
    taken = set(db.session.scalars(sa.select(CustomField.key)))
    if slug != "field" and slug not in taken:
        return slug
    number = 1
    while f"{slug}_{number}" in taken:
        number += 1
    return f"{slug}_{number}"


def check_definition(field: CustomField) -> None:
    """Refuse a definition that cannot work; fill the key from the label when left empty.

    Once cases hold values under a field, its key and type stay: the values would be orphaned
    or unreadable. (Text and long text may be swapped; everything else: deactivate the field
    and create a new one.)
    """
    field.label = (field.label or "").strip()
    if not field.label:
        raise ValidationFailed(_("请填写字段名称"), field="label")
    field.key = (field.key or "").strip().lower()
    if not field.key:
        field.key = key_from_label(field.label)
    if not KEY_PATTERN.match(field.key):
        raise ValidationFailed(
            _("字段标识只能用小写字母、数字和下划线，以字母开头，不超过40个字符"), field="key"
        )
    clash = db.session.scalar(
        sa.select(CustomField.id).where(CustomField.key == field.key, CustomField.id != field.id)
    )
    if clash is not None:
        raise ValidationFailed(_("字段标识“%(key)s”已被使用", key=field.key), field="key")
    field.choices = [text for text in (str(c).strip() for c in (field.choices or [])) if text]
    if field.field_type == T.choice:
        if not field.choices:
            raise ValidationFailed(_("选项字段须至少填写一个选项"), field="choices")
        if len(set(field.choices)) != len(field.choices):
            raise ValidationFailed(_("选项不能重复"), field="choices")
        if any(len(text) > 60 for text in field.choices):
            raise ValidationFailed(_("每个选项不超过60个字"), field="choices")
    else:
        field.choices = []
    if field.id is not None:
        _check_key_and_type_change(field)


def _check_key_and_type_change(field: CustomField) -> None:
    state = sa.inspect(field)
    old_key = _old(state, "key")
    old_type = _old(state, "field_type")
    if old_key is not None and old_key != field.key:
        count = cases_with_value(old_key)
        if count:
            raise ValidationFailed(
                _(
                    "已有 %(count)s 个事项填写了该字段，不能修改字段标识；"
                    "如需调整，请停用该字段并新建一个",
                    count=count,
                ),
                field="key",
            )
    if (
        old_type is not None
        and old_type != field.field_type
        and frozenset({old_type, field.field_type}) not in COMPATIBLE_TYPES
    ):
        count = cases_with_value(old_key or field.key)
        if count:
            raise ValidationFailed(
                _(
                    "已有 %(count)s 个事项填写了该字段，不能修改字段类型（已填的值会无法读取）；"
                    "如需调整，请停用该字段并新建一个",
                    count=count,
                ),
                field="field_type",
            )


def _old(state, name: str):
    history = state.attrs[name].history
    if not history.has_changes():
        return None
    old = list(history.deleted)
    return old[0] if old else None


# --- configuration export / import ---------------------------------------------------------------


def export_custom_fields() -> list[dict]:
    """Every field definition as a plain dict (category by its code)."""
    codes = dict(db.session.execute(sa.select(Category.id, Category.code)).all())
    rows = db.session.scalars(
        sa.select(CustomField).order_by(CustomField.sort_order, CustomField.id)
    )
    return [
        {
            "key": field.key,
            "label": field.label,
            "field_type": field.field_type.value,
            "choices": list(field.choices or []),
            "required": field.required,
            "help_text": field.help_text,
            "category": codes.get(field.category_id) if field.category_id else None,
            "category_kind": field.category_kind.value if field.category_kind else None,
            "sort_order": field.sort_order,
            "is_active": field.is_active,
            "show_in_list": field.show_in_list,
            "filterable": field.filterable,
        }
        for field in rows
    ]


def apply_custom_fields(items: list[dict]) -> list[CustomField]:
    """Create or update the fields of ``items`` by key; fields not listed are deactivated
    (never deleted: cases may hold their values). Flushes, never commits."""
    by_key = {field.key: field for field in db.session.scalars(sa.select(CustomField))}
    seen = set()
    applied = []
    for item in items:
        key = str(item.get("key") or "").strip()
        if not key:
            raise ValidationFailed(_("自定义字段缺少字段标识"), field="key")
        field = by_key.get(key) or CustomField(key=key)
        field.label = str(item.get("label") or "")
        try:
            field.field_type = CustomFieldType(item.get("field_type") or "text")
            kind = item.get("category_kind")
            field.category_kind = CategoryKind(kind) if kind else None
        except ValueError:
            raise ValidationFailed(
                _("自定义字段“%(key)s”的类型或事项性质无效", key=key), field="field_type"
            ) from None
        code = item.get("category")
        if code:
            category = db.session.scalar(sa.select(Category).where(Category.code == code))
            if category is None:
                raise ValidationFailed(
                    _("自定义字段“%(key)s”引用的分类代码“%(code)s”不存在", key=key, code=code),
                    field="category",
                )
            field.category = category
        else:
            field.category = None
        field.choices = list(item.get("choices") or [])
        field.required = bool(item.get("required", False))
        field.help_text = item.get("help_text") or None
        field.sort_order = int(item.get("sort_order") or 0)
        field.is_active = bool(item.get("is_active", True))
        field.show_in_list = bool(item.get("show_in_list", False))
        field.filterable = bool(item.get("filterable", False))
        check_definition(field)
        db.session.add(field)
        seen.add(key)
        applied.append(field)
    for key, field in by_key.items():
        if key not in seen:
            field.is_active = False
    db.session.flush()
    return applied
