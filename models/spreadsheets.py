"""Reading the first sheet of an uploaded XLSX workbook into rows of cell values.

XlsxWriter writes the project's workbooks but cannot read them; openpyxl reads uploads. With
defusedxml installed (a pinned requirement) openpyxl refuses XML parts that declare entities,
and the zip's declared sizes are checked before anything is decompressed, so a zip bomb stops at
the limit. Dates typed into date-formatted cells arrive as dates; a date typed into a plain
number cell arrives as an Excel serial number, which :func:`excel_serial_to_date` converts.
"""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, timedelta

import openpyxl
from flask_babel import gettext as _
from openpyxl.xml import DEFUSEDXML

#: Largest total decompressed size of the workbook's parts.
MAX_UNPACKED_BYTES = 80 * 1024 * 1024
#: Largest column index kept (column ZZ); cells further right are ignored.
MAX_COLUMNS = 702

if not DEFUSEDXML:  # without it openpyxl would parse entity declarations in uploads
    raise ImportError("defusedxml must be installed (requirements.txt) to read uploaded workbooks")


class SpreadsheetError(ValueError):
    """The upload is not a workbook this reader can open; ``str()`` is for the user."""


def _not_a_workbook() -> SpreadsheetError:
    return SpreadsheetError(_("不是 Excel 工作簿（.xlsx），请用下载的模板填写后上传"))


def _damaged() -> SpreadsheetError:
    return SpreadsheetError(_("文件内容损坏，不是有效的 Excel 工作簿"))


def _check_sizes(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError) as error:
        raise _not_a_workbook() from error
    if unpacked > MAX_UNPACKED_BYTES:
        raise SpreadsheetError(_("工作表太大"))


def _cell(value):
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, datetime):
        return value.date() if value.time() == datetime.min.time() else value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def read_first_sheet(data: bytes, *, max_rows: int) -> list[tuple[int, list]]:
    """``(row number as shown in the spreadsheet, [cell values])`` for every non-empty row.

    Raises :class:`SpreadsheetError` for a file that is not an XLSX workbook (or one that
    declares XML entities), and when the sheet has more than ``max_rows`` rows with content.
    """
    _check_sizes(data)
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # a zip, but damaged, foreign, or declaring XML entities
        raise _damaged() from error
    try:
        if not workbook.worksheets:
            raise SpreadsheetError(_("工作簿里没有工作表"))
        sheet = workbook.worksheets[0]
        rows: list[tuple[int, list]] = []
        try:
            for number, cells in enumerate(
                sheet.iter_rows(min_row=1, max_col=MAX_COLUMNS, values_only=True), start=1
            ):
                values = [_cell(value) for value in cells]
                while values and values[-1] in (None, ""):
                    values.pop()
                values = [None if value == "" else value for value in values]
                if not values:
                    continue
                if len(rows) >= max_rows:
                    raise SpreadsheetError(
                        _("一次最多导入 %(count)s 份，请分批导入", count=max_rows - 1)
                    )
                rows.append((number, values))
        except SpreadsheetError:
            raise
        except Exception as error:  # entity declarations (defusedxml), broken sheet XML
            raise _damaged() from error
        return rows
    finally:
        workbook.close()


def excel_serial_to_date(serial: float) -> date:
    """A date typed into Excel is stored as days since 1899-12-30 (the 1900 leap-year quirk)."""
    return date(1899, 12, 30) + timedelta(days=int(serial))
