"""What the API accepts and returns (marshmallow), with its messages in Chinese.

Every field refuses what the admin's forms refuse (admin_views/input.py): invisible control
characters, dates outside 1900–2100, numbers beyond a database id; texts are cut to the
lengths of their columns. A message is a lazy string, made text by the error handler.
"""

from __future__ import annotations

from datetime import UTC

import marshmallow as ma
from marshmallow import validate

from admin_views.input import has_control_characters
from models.base import local_zone
from models.enums import CasePriority
from models.operations.api import API_CHANNELS
from models.texts import lazy_gettext as _l

MAX_ID = 2**31 - 1

_COMMON = {
    "required": _l("此项必填"),
    "null": _l("此项不能为空"),
    "validator_failed": _l("取值无效"),
}


class Text(ma.fields.String):
    default_error_messages = {**_COMMON, "invalid": _l("应为文字")}

    def __init__(self, *args, max_length: int, multiline: bool = False, **kwargs):
        self.multiline = multiline
        self.max_length = max_length
        super().__init__(*args, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if has_control_characters(text, multiline=self.multiline):
            raise ma.ValidationError(str(_l("不能包含不可见的控制字符")))
        if len(text) > self.max_length:
            raise ma.ValidationError(str(_l("不能超过 %(count)s 个字", count=self.max_length)))
        if self.required and not text.strip():
            raise ma.ValidationError(str(_l("此项必填")))
        return text


class Integer(ma.fields.Integer):
    default_error_messages = {**_COMMON, "invalid": _l("应为整数"), "too_large": _l("数值太大")}

    def __init__(self, *args, low: int = 0, high: int = MAX_ID, strict: bool = True, **kwargs):
        kwargs.setdefault(
            "validate",
            validate.Range(
                min=low,
                max=high,
                error=_l("应在 %(low)s 到 %(high)s 之间", low=low, high=high),
            ),
        )
        super().__init__(*args, strict=strict, **kwargs)

    def _validated(self, value):
        # A bool is no number here.
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._validated(value)


class Boolean(ma.fields.Boolean):
    default_error_messages = {**_COMMON, "invalid": _l("应为 true 或 false")}
    truthy = {True}
    falsy = {False}


class DateTime(ma.fields.DateTime):
    """ISO 8601; a time without zone is local time (``TIMEZONE``), stored in UTC."""

    default_error_messages = {
        **_COMMON,
        "invalid": _l("日期时间格式不正确，应如 2026-05-13T08:48:00+08:00"),
        "invalid_awareness": _l("日期时间格式不正确，应如 2026-05-13T08:48:00+08:00"),
        "format": _l("日期时间格式不正确"),
    }

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        if not 1900 <= moment.year <= 2100:
            raise ma.ValidationError(str(_l("日期应在 1900 年到 2100 年之间")))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=local_zone())
        return moment.astimezone(UTC)


class Nested(ma.fields.Nested):
    default_error_messages = {**_COMMON, "type": _l("应为 JSON 对象")}


class ApiSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    error_messages = {
        "unknown": _l("不认识的字段"),
        "type": _l("请求内容应为 JSON 对象"),
    }


def _one_of(values) -> validate.OneOf:
    return validate.OneOf(
        list(values), error=_l("取值应为以下之一：%(choices)s", choices=", ".join(values))
    )


# -- input ----------------------------------------------------------------------------------------


class PetitionerIn(ApiSchema):
    name = Text(required=True, max_length=64, metadata={"description": "姓名"})
    phone = Text(max_length=32, load_default=None, metadata={"description": "联系电话"})
    id_number = Text(max_length=40, load_default=None, metadata={"description": "身份证号码"})


class CaseIn(ApiSchema):
    external_id = Text(
        required=True,
        max_length=100,
        metadata={"description": "调用方系统自己的编号：同一编号重复提交返回同一事项"},
    )
    channel = Text(
        required=True,
        max_length=40,
        validate=_one_of([c.value for c in API_CHANNELS]),
        metadata={"description": "登记渠道：call 来电，online 网上，higher_assignment 上级交办"},
    )
    subject = Text(required=True, max_length=200, metadata={"description": "标题"})
    content = Text(
        required=True, max_length=20000, multiline=True, metadata={"description": "反映内容"}
    )
    demands = Text(
        max_length=5000, multiline=True, load_default=None, metadata={"description": "诉求"}
    )
    category_id = Integer(low=1, load_default=None, metadata={"description": "事项分类编号"})
    priority = Text(
        max_length=20,
        load_default=None,
        validate=_one_of([p.value for p in CasePriority]),
        metadata={"description": "紧急程度"},
    )
    anonymous = Boolean(load_default=False, metadata={"description": "匿名反映"})
    received_at = DateTime(load_default=None, metadata={"description": "收到时间，默认为现在"})
    petitioner = Nested(
        PetitionerIn, load_default=None, metadata={"description": "信访人（匿名时不填）"}
    )
    line_number = Text(
        max_length=20, load_default=None, metadata={"description": "来电：所拨号码，如 12345"}
    )
    caller_number = Text(
        max_length=32, load_default=None, metadata={"description": "来电：来电号码"}
    )


class CallIn(ApiSchema):
    record = Text(
        required=True, max_length=20000, multiline=True, metadata={"description": "来电内容"}
    )
    called_at = DateTime(load_default=None, metadata={"description": "来电时间，默认为现在"})
    line_number = Text(max_length=20, load_default=None)
    caller_name = Text(max_length=64, load_default=None)
    caller_phone = Text(max_length=32, load_default=None)


class ChangesArgs(ApiSchema):
    cursor = Integer(
        strict=False,
        low=0,
        load_default=0,
        metadata={"description": "上一页返回的 next_cursor；首次为 0"},
    )
    limit = Integer(
        strict=False,
        low=1,
        high=200,
        load_default=50,
        metadata={"description": "每页条数（1–200）"},
    )


# -- output ---------------------------------------------------------------------------------------


class CaseOut(ma.Schema):
    number = ma.fields.String(required=True)
    external_id = ma.fields.String(allow_none=True)
    channel = ma.fields.String(required=True)
    channel_title = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    status_title = ma.fields.String(required=True)
    subject = ma.fields.String(required=True)
    category = ma.fields.String(allow_none=True)
    confidential = ma.fields.Boolean(required=True)
    petitioners = ma.fields.List(ma.fields.String(), required=True)
    handling_unit = ma.fields.String(allow_none=True)
    received_at = ma.fields.DateTime(required=True)
    registered_at = ma.fields.DateTime(required=True)
    accepted_at = ma.fields.DateTime(allow_none=True)
    replied_at = ma.fields.DateTime(allow_none=True)
    closed_at = ma.fields.DateTime(allow_none=True)


class ChangeOut(ma.Schema):
    field = ma.fields.String(required=True)
    value = ma.fields.String(required=True)


class EventOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    at = ma.fields.DateTime(required=True)
    kind = ma.fields.String(required=True)
    kind_title = ma.fields.String(required=True)
    text = ma.fields.String(required=True)
    by = ma.fields.String(allow_none=True)
    changes = ma.fields.List(ma.fields.Nested(ChangeOut), required=True)


class TimelineOut(ma.Schema):
    number = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    status_title = ma.fields.String(required=True)
    events = ma.fields.List(ma.fields.Nested(EventOut), required=True)


class CallOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True)
    case_number = ma.fields.String(required=True)
    called_at = ma.fields.DateTime(required=True)
    repeat_count = ma.fields.Integer(required=True)


class ChangeItemOut(ma.Schema):
    cursor = ma.fields.Integer(required=True)
    at = ma.fields.DateTime(required=True)
    case_number = ma.fields.String(required=True)
    kind = ma.fields.String(required=True)
    kind_title = ma.fields.String(required=True)
    case_status = ma.fields.String(required=True)


class ChangesOut(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(ChangeItemOut), required=True)
    next_cursor = ma.fields.Integer(required=True)
    has_more = ma.fields.Boolean(required=True)


class ErrorOut(ma.Schema):
    code = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True)
    message = ma.fields.String(required=True)
    errors = ma.fields.Dict(metadata={"description": "各字段的错误信息"})
