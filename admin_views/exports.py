"""Streaming CSV and Excel exports of the case registers (cases, letters, visits, calls, callbacks).

Flask-Admin's own export loads every row into memory and writes cells verbatim. These exports
run the list's own query (scope, search and filters included) in batches, hide whistleblower
identities the user may not see, and neutralise cells a spreadsheet would run as a formula.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from datetime import date, datetime

import sqlalchemy as sa
import xlsxwriter
from flask import Response, abort, request, send_file, stream_with_context, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_login import current_user

from models import Case, db
from models.audit import AuditAction
from models.base import format_local, utcnow
from models.enums import TitledEnum
from models.operations.audit_log import record_audit
from models.policies import hidden_reporter_case_ids

from .confidential import masked

#: Rows fetched from the database per round trip.
BATCH_SIZE = 1000
#: A cell starting with one of these is run as a formula by Excel, WPS or LibreOffice.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """Text that a spreadsheet would treat as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def plain_value(value):
    """A Python value as a spreadsheet cell: text, number or empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return _("是") if value else _("否")
    if isinstance(value, TitledEnum):
        return str(value.title)
    if isinstance(value, datetime):
        return format_local(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float):
        return value
    if isinstance(value, list | tuple):
        return "、".join(str(item) for item in value)
    return str(value)


def _attribute(obj, path: str):
    for part in path.split("."):
        if obj is None:
            return None
        obj = getattr(obj, part)
    return obj


class ExportMixin:
    """Adds CSV and XLSX export to a list view of case records (needs ``case.export``)."""

    list_template = "admin/model/export_list.html"
    #: (attribute path, label) per exported column; defaults to the list's columns.
    export_columns: tuple[str, ...] = ()
    #: Columns that identify a 举报 case's reporter.
    export_identity_columns: frozenset[str] = frozenset()
    export_formats = ("csv", "xlsx")

    @property
    def may_export(self) -> bool:
        return current_user.is_authenticated and current_user.has_permission("case.export")

    def export_url(self, export_type: str) -> str:
        url = url_for(".export", export_type=export_type)
        query = request.query_string.decode()
        return f"{url}?{query}" if query else url

    def _case_id_column(self):
        return Case.id if self.model is Case else self.model.case_id

    def _export_query(self):
        view_args = self._get_list_extra_args()
        sort = self._get_column_by_idx(view_args.sort)
        _count, query = self.get_list(
            0,
            sort[0] if sort else None,
            view_args.sort_desc,
            view_args.search,
            view_args.filters,
            execute=False,
            page_size=0,
        )
        return query

    def _export_queries(self):
        """The ids with their masking flag (streamed), and the loader of a batch of records.

        Built while the request is being handled: the CSV is written after the view returned,
        when the signed-in user's roles can no longer be loaded.
        """
        query = self._export_query()
        hidden_ids = hidden_reporter_case_ids(current_user)
        reporter_hidden = sa.case(
            (self._case_id_column().in_(hidden_ids), sa.true()), else_=sa.false()
        )
        keys = query.with_entities(self.model.id, reporter_hidden).execution_options(
            yield_per=BATCH_SIZE
        )
        return keys, query.order_by(None)

    def _export_records(self, keys, loader):
        """``(record, reporter_hidden)`` in list order, loaded one batch at a time.

        The ids (and the masking flag) stream from one query; each batch of records is then
        loaded with the list's eager loads, which cannot be combined with streaming directly.
        """
        batch: list = []
        for row in keys:
            batch.append(row)
            if len(batch) == BATCH_SIZE:
                yield from self._load_batch(loader, batch)
                batch = []
        if batch:
            yield from self._load_batch(loader, batch)

    def _load_batch(self, loader, batch):
        ids = [key for key, _hidden in batch]
        records = {record.id: record for record in loader.filter(self.model.id.in_(ids))}
        for key, hidden in batch:
            if key in records:
                yield records[key], bool(hidden)

    def _export_header(self) -> list[str]:
        labels = dict(self._list_columns)
        return [
            str(self.column_labels.get(name, labels.get(name, name))) for name in self._columns()
        ]

    def _columns(self) -> tuple[str, ...]:
        return self.export_columns or tuple(name for name, _label in self._list_columns)

    def _export_rows(self):
        columns = self._columns()
        keys, loader = self._export_queries()
        # Its own session: the CSV is written after the request's session has been removed.
        session = sa.orm.Session(db.engine)
        keys, loader = keys.with_session(session), loader.with_session(session)
        mask = masked()
        context = self.export_context()
        return self._format_rows(columns, keys, loader, session, mask, context)

    def _format_rows(self, columns, keys, loader, session, mask, context=None):
        try:
            yield from self._formatted(columns, self._export_records(keys, loader), mask, context)
        finally:
            session.close()

    def export_context(self):
        """Whatever ``export_value`` needs, read while the request is handled (the rows are
        written after it)."""
        return None

    def export_value(self, model, name: str, context):
        """The value of column ``name`` of ``model``: an attribute path by default."""
        return _attribute(model, name)

    def _formatted(self, columns, records, mask, context=None):
        # Translated titles of enum members and yes/no, looked up once per export, not per cell.
        titles: dict = {}
        for model, hidden in records:
            row = []
            for name in columns:
                if hidden and name in self.export_identity_columns:
                    row.append(mask)
                    continue
                value = self.export_value(model, name, context)
                if isinstance(value, bool | TitledEnum):
                    if value not in titles:
                        titles[value] = plain_value(value)
                    row.append(titles[value])
                else:
                    row.append(safe_cell(plain_value(value)))
            yield row

    @expose("/export/<export_type>/")
    def export(self, export_type: str):
        if export_type not in self.export_formats:
            abort(404)
        if not self.may_export:
            abort(403)
        record_audit(
            AuditAction.export,
            by=current_user,
            target_type=self.model.__tablename__,
            summary=f"{self.endpoint} {export_type}",
            data={"format": export_type, "query": request.args.to_dict(flat=False)},
        )
        db.session.commit()
        stamp = utcnow().strftime("%Y%m%d-%H%M%S")
        filename = f"{self.endpoint}-{stamp}.{export_type}"
        if export_type == "csv":
            return self._csv_response(filename)
        return self._xlsx_response(filename)

    def _csv_response(self, filename: str) -> Response:
        header = self._export_header()
        rows = self._export_rows()

        def generate():
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            # The byte-order mark makes Excel read the file as UTF-8 (Chinese text).
            buffer.write("\ufeff")
            writer.writerow(header)
            for count, row in enumerate(rows, start=1):
                writer.writerow(row)
                if count % BATCH_SIZE == 0:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
            yield buffer.getvalue()

        response = Response(stream_with_context(generate()), mimetype="text/csv; charset=utf-8")
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    def _xlsx_response(self, filename: str):
        # constant_memory writes each row to disk as soon as the next one starts.
        handle, path = tempfile.mkstemp(suffix=".xlsx")
        os.close(handle)
        workbook = xlsxwriter.Workbook(
            path, {"constant_memory": True, "strings_to_formulas": False}
        )
        try:
            sheet = workbook.add_worksheet(str(self.name)[:31])
            bold = workbook.add_format({"bold": True})
            sheet.write_row(0, 0, self._export_header(), bold)
            for index, row in enumerate(self._export_rows(), start=1):
                # write_string keeps text as text even when it looks like a number or URL.
                for column, value in enumerate(row):
                    if isinstance(value, int | float):
                        sheet.write_number(index, column, value)
                    else:
                        sheet.write_string(index, column, value)
            workbook.close()
        except Exception:
            workbook.close()
            os.unlink(path)
            raise
        response = send_file(
            path,
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            as_attachment=True,
            download_name=filename,
        )
        response.call_on_close(lambda: os.path.exists(path) and os.unlink(path))
        return response
