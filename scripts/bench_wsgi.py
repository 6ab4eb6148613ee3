"""WSGI entry point of the HTTP benchmark: our app plus a stock Flask-Admin view of ``Case``.

``scripts/benchmark_http.py`` serves this module with gunicorn. One process holds both:

- our application, built by ``create_app`` exactly as in production (``/admin/...``), and
- a second ``flask_admin.Admin`` at ``/stock`` with one plain ``ModelView`` of the same ``Case``
  model, configured the way a Flask-Admin user would: the default pager (it counts all matching
  rows), ILIKE search on the number, the subject and the petitioners' names (through the
  ``petitioners`` relationship), a filter on the status, and a details page. It is open only to
  a signed-in user, so both sides pay the same session and login cost.

Environment: ``BENCH_DATABASE_URL`` (required) and ``BENCH_SECRET_KEY``. CSRF protection is
off in this process only because the benchmark's client posts forms without first fetching
them (the register and the reply letter); GET requests are unaffected.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask import redirect, request, url_for  # noqa: E402
from flask_admin import Admin, AdminIndexView  # noqa: E402
from flask_admin.contrib.sqla import ModelView  # noqa: E402
from flask_admin.theme import Bootstrap4Theme  # noqa: E402
from flask_login import current_user  # noqa: E402

from app import create_app  # noqa: E402
from models import Case, db  # noqa: E402

STOCK_URL = "/stock"


class _SignedIn:
    def is_accessible(self):
        return current_user.is_authenticated

    def inaccessible_callback(self, name, **kwargs):
        return redirect(url_for("admin.login_view", next=request.full_path))


class StockIndexView(_SignedIn, AdminIndexView):
    pass


class StockCaseView(_SignedIn, ModelView):
    """What ``ModelView(Case, db.session)`` gives with search, a filter and details switched on."""

    can_view_details = True
    column_searchable_list = ["number", "subject", "petitioners.name"]
    column_filters = ["status"]


def build_app():
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": os.environ["BENCH_DATABASE_URL"],
            "SECRET_KEY": os.environ.get("BENCH_SECRET_KEY", "http-benchmark-secret-key"),
            "WTF_CSRF_ENABLED": False,
        }
    )
    stock = Admin(
        app,
        name="stock",
        url=STOCK_URL,
        endpoint="stockadmin",
        theme=Bootstrap4Theme(),
        index_view=StockIndexView(url=STOCK_URL, endpoint="stockadmin"),
    )
    stock.add_view(StockCaseView(Case, db.session, endpoint="stockcase", url="case"))
    return app


app = build_app()
