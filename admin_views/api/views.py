"""The JSON API's endpoints (``/api/v1``): register a case, read it, add a call, list changes.

Each request names its token (``Authorization: Bearer xft_…``); the token's account and limits
decide, through ``models.policies``, what it sees and does (``models.operations.api``). Every
call is rate limited per token and written to the audit log.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import g, request
from flask_babel import gettext as _
from flask_smorest import Blueprint, abort
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from admin_views.cases import timeline_entry, timeline_labels
from admin_views.public.limits import client_address, hit
from models import ApiCaseLink, Case, CaseEvent, db
from models.audit import AuditAction
from models.base import utcnow
from models.operations import NotPermitted, ValidationFailed, WorkflowError
from models.operations.api import (
    ApiConflict,
    ApiPrincipal,
    ExternalCase,
    add_call,
    authenticate,
    case_by_number,
    changes_since,
    register_external_case,
)
from models.operations.audit_log import record_audit
from models.policies import MASK, reporter_visible
from models.texts import lazy_gettext as _l

from .schemas import (
    CallIn,
    CallOut,
    CaseIn,
    CaseOut,
    ChangesArgs,
    ChangesOut,
    ErrorOut,
    TimelineOut,
)

logger = logging.getLogger(__name__)

#: Audit actions of the API (``audit_log.action``).
API_CALL = "api_call"
API_REFUSED = "api_refused"


class Parser(FlaskParser):
    #: Bad input is a 400 with the fields' messages, like the admin's forms.
    DEFAULT_VALIDATION_STATUS = 400


class ApiBlueprint(Blueprint):
    ARGUMENTS_PARSER = Parser()


bp = ApiBlueprint(
    "api_v1",
    __name__,
    url_prefix="/api/v1",
    description="信访事项接口：登记、查询状态与时间线、登记来电、变更列表",
)

ERROR_TITLES = {
    400: "请求有误",
    401: "未认证",
    403: "没有权限",
    404: "不存在",
    409: "冲突",
    429: "请求过于频繁",
}


def documented_errors(*codes):
    """Document the JSON error answers a view may give."""

    def decorate(view):
        for code in (401, 429, *codes):
            view = bp.alt_response(code, schema=ErrorOut, description=ERROR_TITLES[code])(view)
        return view

    return decorate


# -- authentication, limits and the audit row ---------------------------------------------------


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _sep, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


@bp.before_request
def _authenticate():
    token = authenticate(_bearer())
    if token is None:
        wait = hit("API_AUTH_FAILURE_LIMITS", "api-auth", client_address())
        if wait:
            _too_many(wait)
        abort(
            401,
            message=_("缺少有效的接口令牌（Authorization: Bearer …），或令牌已吊销"),
            headers={"WWW-Authenticate": 'Bearer realm="xinfang-api"'},
        )
    g.api_principal = ApiPrincipal(token)
    # The account acts: change rows of the audit log name it (models.operations.audit_log).
    g._login_user = token.user
    wait = hit("API_RATE_LIMITS", "api-token", str(token.id))
    if wait:
        _too_many(wait)


def _too_many(wait: int):
    abort(
        429,
        message=_("请求过于频繁，请在 %(seconds)s 秒后再试", seconds=wait),
        headers={"Retry-After": str(wait)},
    )


@bp.after_request
def _audit(response):
    """One audit row per API request, whatever its outcome (committed on its own)."""
    principal = g.get("api_principal")
    try:
        if response.status_code >= 400:
            # Nothing of a refused request is kept, except that the token was used.
            db.session.rollback()
            if principal is not None:
                principal.token.last_used_at = utcnow()
        record_audit(
            API_CALL if principal is not None else API_REFUSED,
            g.get("api_case"),
            by=principal.user if principal is not None else None,
            summary=f"{request.method} {request.path} → {response.status_code}"[:300],
            target_type=None if g.get("api_case") is not None else "api",
            data={
                "token": principal.token.id if principal is not None else None,
                "token_name": principal.token.name if principal is not None else None,
                "integration": principal.token.integration if principal is not None else None,
                "status": response.status_code,
            },
        )
        db.session.commit()
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        logger.exception("could not record an API call")
    response.headers["Cache-Control"] = "no-store"
    return response


def principal() -> ApiPrincipal:
    return g.api_principal


def _not_found():
    abort(404, message=_("事项不存在，或此令牌无权查看"))


#: Where the service layer's field names sit in a request: a person's details are nested.
CASE_FIELDS = {
    "name": ("petitioner", "name"),
    "phone": ("petitioner", "phone"),
    "id_number": ("petitioner", "id_number"),
    "called_at": ("received_at",),
    "category": ("category_id",),
}
CALL_FIELDS = {"name": ("caller_name",), "phone": ("caller_phone",), "case": ("number",)}


def _fail(error: WorkflowError, fields: dict | None = None):
    """A refusal of the service layer as a JSON answer; nothing it did is kept."""
    db.session.rollback()
    if isinstance(error, ApiConflict):
        abort(409, message=str(error))
    if isinstance(error, NotPermitted):
        abort(403, message=str(error))
    if isinstance(error, ValidationFailed):
        path = (fields or {}).get(error.field, (error.field or "_schema",))
        errors: dict = {path[-1]: [str(error)]}
        for part in reversed(path[:-1]):
            errors = {part: errors}
        abort(400, message=_("请求有误，请检查填写的内容"), errors={"json": errors})
    abort(409, message=str(error))


# -- the representation of a case -----------------------------------------------------------------


def case_out(case: Case) -> dict:
    viewer = principal()
    hidden = not reporter_visible(case, viewer)
    if case.is_confidential and not hidden:
        # Like the case page: seeing a reporter is written to the audit log.
        record_audit(
            AuditAction.confidential_view,
            case,
            by=viewer.user,
            data={"surface": "api", "number": case.number, "token": viewer.token.id},
        )
    link = db.session.scalar(
        sa.select(ApiCaseLink.external_id)
        .where(ApiCaseLink.case_id == case.id, ApiCaseLink.integration == viewer.token.integration)
        .limit(1)
    )
    g.api_case = case
    return {
        "number": case.number,
        "external_id": link,
        "channel": case.channel.value,
        "channel_title": case.channel.title,
        "status": case.status.value,
        "status_title": case.status.title,
        "subject": case.subject,
        "category": case.category.name if case.category is not None else None,
        "confidential": bool(case.is_confidential),
        "petitioners": [str(MASK)]
        if hidden and case.petitioners
        else [party.name for party in case.petitioners],
        "handling_unit": case.handling_unit.name if case.handling_unit is not None else None,
        "received_at": case.received_at,
        "registered_at": case.created_at,
        "accepted_at": case.accepted_at,
        "replied_at": case.replied_at,
        "closed_at": case.closed_at,
    }


# -- endpoints ------------------------------------------------------------------------------------


@bp.route("/cases", methods=["POST"])
@bp.arguments(CaseIn)
@bp.response(201, CaseOut, description="已登记新事项")
@bp.alt_response(200, schema=CaseOut, description="此外部编号已登记过：返回同一事项")
@documented_errors(400, 403, 409)
def register(data):
    """登记事项（热线、办公系统转来）

    以调用方自己的 external_id 保证幂等：同一编号、同样内容再次提交，返回原事项（200），
    不会重复登记；同一编号、不同内容返回 409。
    """
    entry = ExternalCase(**data)
    try:
        case, created = register_external_case(principal(), entry)
        db.session.flush()
    except WorkflowError as error:
        _fail(error, CASE_FIELDS)
    except sa.exc.IntegrityError:
        # The same id arrived twice at once: the other request registered it.
        db.session.rollback()
        try:
            case, created = register_external_case(principal(), entry)
        except WorkflowError as error:
            _fail(error, CASE_FIELDS)
    body = case_out(case)
    db.session.commit()
    return body, 201 if created else 200


@bp.route("/cases/<string:number>", methods=["GET"])
@bp.response(200, CaseOut)
@documented_errors(404)
def read_case(number):
    """事项状态

    令牌所代表账号能看到、且在令牌限定单位内的事项；否则 404。举报事项的举报人按权限显示为（保密）。
    """
    case = case_by_number(principal(), number)
    if case is None:
        _not_found()
    body = case_out(case)
    db.session.commit()
    return body


@bp.route("/cases/<string:number>/timeline", methods=["GET"])
@bp.response(200, TimelineOut)
@documented_errors(404)
def read_timeline(number):
    """事项时间线（与事项页面相同的遮蔽规则）"""
    viewer = principal()
    case = case_by_number(viewer, number)
    if case is None:
        _not_found()
    g.api_case = case
    hidden = not reporter_visible(case, viewer)
    labels = timeline_labels()
    events = db.session.scalars(
        sa.select(CaseEvent)
        .where(CaseEvent.case_id == case.id)
        .order_by(CaseEvent.created_at, CaseEvent.id)
        .options(sa.orm.joinedload(CaseEvent.created_by))
    ).all()
    out = []
    for event in events:
        text, changes = timeline_entry(event, labels, hidden)
        out.append(
            {
                "id": event.id,
                "at": event.created_at,
                "kind": event.kind.value,
                "kind_title": event.kind.title,
                "text": str(text or ""),
                "by": str(event.created_by) if event.created_by is not None else None,
                "changes": [{"field": str(f), "value": str(v)} for f, v in changes],
            }
        )
    return {
        "number": case.number,
        "status": case.status.value,
        "status_title": case.status.title,
        "events": out,
    }


@bp.route("/cases/<string:number>/calls", methods=["POST"])
@bp.arguments(CallIn)
@bp.response(201, CallOut, description="已登记来电")
@documented_errors(400, 403, 404, 409)
def add_contact(data, number):
    """登记来电（联系记录）

    同一事项的再次来电，与“来电登记”选择已有事项相同：计入重复次数、通知承办人。
    """
    viewer = principal()
    case = case_by_number(viewer, number)
    if case is None:
        _not_found()
    g.api_case = case
    try:
        call = add_call(viewer, case, **data)
        db.session.flush()
    except WorkflowError as error:
        _fail(error, CALL_FIELDS)
    body = {
        "id": call.id,
        "kind": "call",
        "case_number": case.number,
        "called_at": call.called_at,
        "repeat_count": case.repeat_count or 0,
    }
    db.session.commit()
    return body, 201


@bp.route("/changes", methods=["GET"])
@bp.arguments(ChangesArgs, location="query")
@bp.response(200, ChangesOut)
@documented_errors(400, 403)
def list_changes(args):
    """变更列表（游标分页）

    返回 cursor 之后、令牌能看到的事项的时间线事件，按先后排列。以返回的 next_cursor
    继续请求；has_more 为 false 时已取完，之后可定时以同一游标轮询。
    """
    try:
        events, next_cursor, has_more = changes_since(principal(), args["cursor"], args["limit"])
    except WorkflowError as error:
        _fail(error)
    return {
        "items": [
            {
                "cursor": event.id,
                "at": event.created_at,
                "case_number": event.case.number,
                "kind": event.kind.value,
                "kind_title": event.kind.title,
                "case_status": event.case.status.value,
            }
            for event in events
        ],
        "next_cursor": next_cursor,
        "has_more": has_more,
    }


def default_limits(app) -> None:
    app.config.setdefault("API_RATE_LIMITS", "120 per minute;5000 per hour")
    app.config.setdefault("API_AUTH_FAILURE_LIMITS", "30 per minute")


# -- errors as JSON ---------------------------------------------------------------------------

#: What marshmallow and webargs say in English, in the words of the admin's forms.
_ENGLISH = {
    "Invalid JSON body.": _l("请求内容不是有效的 JSON"),
    "Missing data for required field.": _l("此项必填"),
    "Unknown field.": _l("不认识的字段"),
    "Invalid input type.": _l("请求内容应为 JSON 对象"),
    "Field may not be null.": _l("此项不能为空"),
}
_MESSAGES = {
    400: _l("请求有误，请检查填写的内容"),
    401: _l("缺少有效的接口令牌"),
    403: _l("此令牌没有执行此操作的权限"),
    404: _l("接口地址或记录不存在"),
    405: _l("不支持此请求方法"),
    409: _l("与已有记录冲突"),
    413: _l("请求内容太大"),
    415: _l("请求内容应为 JSON（Content-Type: application/json）"),
    422: _l("请求有误，请检查填写的内容"),
    429: _l("请求过于频繁，请稍后再试"),
    500: _l("服务器内部错误，请稍后再试"),
}


def _texts(value):
    """Error messages (lazy strings, English leftovers) as Chinese text, at any depth; each
    field's messages as a list."""
    if isinstance(value, dict):
        return {
            str(key): _texts(item) if isinstance(item, dict | list | tuple) else [_texts(item)]
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_texts(item) for item in value]
    text = str(value)
    return str(_ENGLISH[text]) if text in _ENGLISH else text


def _json_error(code: int, message, errors=None, headers=None):
    payload = {
        "code": code,
        "status": HTTP_STATUS_CODES.get(code, str(code)),
        "message": str(message or _MESSAGES.get(code, _MESSAGES[400])),
    }
    if errors:
        payload["errors"] = _texts(errors)
    return payload, code, headers or {}


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    code = 400 if error.code == 422 else (error.code or 500)
    data = getattr(error, "data", None) or {}
    errors = data.get("errors") or data.get("messages")
    message = data.get("message")
    if message is None and code in _MESSAGES:
        message = _MESSAGES[code]
    if code >= 400:
        db.session.rollback()
    return _json_error(code, message, errors, data.get("headers"))


# The app's pages register handlers per status code, which Flask prefers to a blueprint's
# handler of the class: the API registers its own for each code it answers with.
for _code in (400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500):
    bp.register_error_handler(_code, _http_error)


@bp.errorhandler(Exception)
def _unexpected(error: Exception):
    db.session.rollback()
    logger.exception("API request failed")
    return _json_error(500, _MESSAGES[500])
