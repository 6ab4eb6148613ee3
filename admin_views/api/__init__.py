"""The JSON API for other systems (hotlines, OA): ``/api/v1``, described by OpenAPI.

flask-smorest builds the endpoints from marshmallow schemas (``schemas.py``) and serves the
description at ``/api/v1/openapi.json``; ``/api/v1/docs`` shows it as a page. Tokens are
managed in 设置 → 接口令牌 (``tokens.py``). The rules stay in ``models``: the service side in
``models/operations/api.py``, who sees what in ``models/policies.py``.
"""

from __future__ import annotations

import flask_smorest
from flask import Blueprint, Flask, current_app, render_template
from flask_babel import gettext as _

from .views import bp, default_limits

docs_bp = Blueprint("api_docs", __name__)


class Api(flask_smorest.Api):
    def _register_error_handlers(self):
        # flask-smorest would answer every error of the whole app in JSON; the admin keeps its
        # pages, and the API's blueprint has its own JSON handlers (views.py).
        return None


@docs_bp.route("/api/v1/docs")
def docs():
    spec = current_app.extensions["xinfang_api"].spec.to_dict()
    return render_template("admin/api/docs.html", spec=spec)


@docs_bp.route("/api/v1/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(rest):
    """Addresses under the API that do not exist answer in JSON too."""
    return {"code": 404, "status": "Not Found", "message": _("接口地址不存在")}, 404


def init_api(app: Flask) -> Api:
    app.config.setdefault("API_TITLE", "信访通接口")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    default_limits(app)
    api = Api(
        app,
        spec_kwargs={
            "security": [{"bearerAuth": []}],
            "info": {
                "description": "其他系统（热线、办公系统）登记和查询信访事项的接口。"
                "每个请求带 Authorization: Bearer <令牌>；令牌在“设置 → 接口令牌”中创建。"
            },
        },
    )
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "接口令牌 xft_…"}
    )
    api.register_blueprint(bp)
    app.register_blueprint(docs_bp)
    app.extensions["csrf"].exempt(bp)
    app.extensions["csrf"].exempt(docs_bp)
    app.extensions["xinfang_api"] = api
    return api
