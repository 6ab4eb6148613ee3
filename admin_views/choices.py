"""Select fields for references to other records (a case's category, a user's roles …).

Flask-Admin's own fields have two silent failures this module closes:

* A posted id that matches no offered option became "nothing selected" on optional selects
  and on every AJAX picker, so a typo'd or forged id — or the id of a unit deactivated after
  the form was opened — emptied the field without a word. Here such an id is refused with a
  message on the field, and nothing is saved.
* Option lists offer active records only, so a record whose current value had been
  deactivated lost it on the next save. Here the record's current value stays offered and
  selected, labelled "（已停用）"; new records are still offered active values only.
"""

from __future__ import annotations

from flask_admin.contrib.sqla.fields import QuerySelectField, QuerySelectMultipleField
from flask_admin.model.fields import AjaxSelectField, AjaxSelectMultipleField
from flask_login import current_user
from wtforms.validators import ValidationError

from models import Unit, db
from models.policies import assignable_units_clause
from models.texts import lazy_gettext as _l

#: Shown on a field whose posted value is not one of the values it may take.
NOT_A_CHOICE = _l("所选的项不存在或不能选用，请重新选择。")
#: Appended to the label of a deactivated record that is still offered.
INACTIVE_SUFFIX = _l("（已停用）")
#: What a select posts for "nothing chosen".
BLANK_VALUES = ("", "__None")


def is_inactive(record) -> bool:
    """Whether ``record`` was switched off (units, categories, rules … and user accounts)."""
    return getattr(record, "is_active", True) is False or (
        getattr(record, "is_active_user", True) is False
    )


def active_query(model):
    """The default option query for a reference to ``model``: its active rows only."""

    def query():
        query = db.session.query(model)
        for flag in ("is_active", "is_active_user"):
            column = getattr(model, flag, None)
            if column is not None and hasattr(column, "is_"):
                query = query.filter(column.is_(True))
        return query

    return query


def _label_marking_inactive(get_label):
    def label(record):
        text = str(get_label(record))
        return text + str(INACTIVE_SUFFIX) if is_inactive(record) else text

    return label


def _current_values(field) -> list:
    """The values the record had when the form was built (``[]`` on a new record)."""
    current = getattr(field, "object_data", None)
    if current is None:
        return []
    if isinstance(current, list | tuple | set):
        return [value for value in current if value is not None]
    return [current]


def _offered_with_current(field, load_offered) -> list:
    """The query's options plus the record's current values the query no longer returns."""
    if field._object_list is None:
        offered = load_offered()
        known = {pk for pk, _record in offered}
        for record in _current_values(field):
            pk = str(field.get_pk(record))
            if pk not in known:
                offered.append((pk, record))
                known.add(pk)
    return field._object_list


class ModelSelectField(QuerySelectField):
    """One record from a query; the record's current value stays offered."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.get_label = _label_marking_inactive(self.get_label)

    def _get_object_list(self):
        return _offered_with_current(self, super()._get_object_list)

    def process_formdata(self, valuelist) -> None:
        if valuelist and valuelist[0] in BLANK_VALUES:
            self.data = None
            return
        super().process_formdata(valuelist)

    def pre_validate(self, form) -> None:
        posted = self._formdata
        chosen = self.data  # resolves the posted id against the offered records
        if posted is not None and chosen is None:
            raise ValidationError(str(NOT_A_CHOICE))
        if chosen is None:
            if not self.allow_blank:
                raise ValidationError(str(NOT_A_CHOICE))
            return
        if all(chosen != record for _pk, record in self._get_object_list()):
            raise ValidationError(str(NOT_A_CHOICE))


class ModelSelectMultipleField(QuerySelectMultipleField):
    """Several records from a query; the record's current values stay offered."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.get_label = _label_marking_inactive(self.get_label)

    def _get_object_list(self):
        return _offered_with_current(self, super()._get_object_list)

    def process_formdata(self, valuelist) -> None:
        self._formdata = {value for value in valuelist if value not in BLANK_VALUES}

    def pre_validate(self, form) -> None:
        chosen = self.data  # sets ``_invalid_formdata`` for ids that match nothing
        if self._invalid_formdata:
            raise ValidationError(str(NOT_A_CHOICE))
        offered = [record for _pk, record in self._get_object_list()]
        if any(record not in offered for record in chosen or ()):
            raise ValidationError(str(NOT_A_CHOICE))


def _key(value) -> str:
    return str(value).strip()


def _kept_or_loaded(field, posted):
    """The current value with id ``posted`` if the record has it, else the loader's answer."""
    for record in _current_values(field):
        if _key(field.loader.format(record)[0]) == _key(posted):
            return record
    return field.loader.get_one(posted)


class KeptAjaxSelectField(AjaxSelectField):
    """An AJAX picker that refuses unknown ids and keeps the record's current value."""

    def _get_data(self):
        if self._formdata:
            record = _kept_or_loaded(self, self._formdata)
            if record is not None:
                self._set_data(record)
        return self._data

    data = property(_get_data, AjaxSelectField._set_data)

    def process_formdata(self, valuelist) -> None:
        if valuelist and valuelist[0] in BLANK_VALUES:
            self.data = None
            return
        super().process_formdata(valuelist)

    def pre_validate(self, form) -> None:
        chosen = self.data
        if self._formdata:  # still set: the posted id matched nothing
            raise ValidationError(str(NOT_A_CHOICE))
        if chosen is None and not self.allow_blank:
            raise ValidationError(str(NOT_A_CHOICE))


class KeptAjaxSelectMultipleField(AjaxSelectMultipleField):
    """An AJAX multi-picker that refuses unknown ids and keeps the record's current values."""

    def _get_data(self):
        posted = self._formdata
        if posted is not None:
            chosen = []
            for item in posted:
                record = _kept_or_loaded(self, item)
                if record is None:
                    self._invalid_formdata = True
                elif record not in chosen:
                    chosen.append(record)
            self._set_data(chosen)
        return self._data

    data = property(_get_data, AjaxSelectMultipleField._set_data)

    def process_formdata(self, valuelist) -> None:
        self._formdata = {
            item.strip()
            for value in valuelist
            for item in value.split(self.separator)
            if item.strip() not in BLANK_VALUES
        }

    def pre_validate(self, form) -> None:
        self.data  # noqa: B018 - resolving the ids is what flags unknown ones
        if self._invalid_formdata:
            raise ValidationError(str(NOT_A_CHOICE))


def assignable_units():
    """Active units the signed-in user may give a schedule or a survey to: their own, or any
    for the office (``models.policies.may_assign_to_unit``)."""
    return Unit.query.filter(
        Unit.is_active.is_(True), assignable_units_clause(current_user)
    ).order_by(Unit.sort_order, Unit.id)
