"""Reading the first sheet of an uploaded XLSX workbook into rows of cell values.

XlsxWriter (which writes the project's workbooks) cannot read, so this is a small reader on the
standard library: an XLSX file is a zip of XML parts. It reads what a spreadsheet program saves
for typed-in data: shared strings, inline strings, numbers and booleans. Formulas give their
cached value. Dates typed into cells arrive as Excel serial numbers; the caller that expects a
date converts them with :func:`excel_serial_to_date`.

Untrusted input: the zip's parts are size-checked before they are decompressed (a zip bomb
stops at the limit), a part declaring a DTD or entities is refused, and the standard library's
parser never fetches external entities.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from datetime import date, timedelta
from xml.etree import ElementTree

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
OFFICE_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"

#: Largest decompressed part read (sheet XML or shared strings).
MAX_PART_BYTES = 40 * 1024 * 1024
#: Largest column index kept (column ZZ); cells further right are ignored.
MAX_COLUMNS = 702


class SpreadsheetError(ValueError):
    """The upload is not a workbook this reader can open; ``str()`` is for the user."""


def _part(archive: zipfile.ZipFile, name: str) -> bytes | None:
    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    if info.file_size > MAX_PART_BYTES:
        raise SpreadsheetError("工作表太大")
    with archive.open(info) as handle:
        data = handle.read(MAX_PART_BYTES + 1)
    if len(data) > MAX_PART_BYTES:
        raise SpreadsheetError("工作表太大")
    return data


def _xml(data: bytes):
    # A spreadsheet part never declares a DTD; refusing one shuts out entity tricks whatever
    # the expat version underneath.
    if b"<!DOCTYPE" in data[:2048].upper() or b"<!ENTITY" in data.upper():
        raise SpreadsheetError("文件内容损坏，不是有效的 Excel 工作簿")
    try:
        return ElementTree.fromstring(data)  # noqa: S314 - no DTD (checked above), expat ≥ 2.4.1
    except ElementTree.ParseError as error:
        raise SpreadsheetError("文件内容损坏，不是有效的 Excel 工作簿") from error


def _first_sheet_path(archive: zipfile.ZipFile) -> str:
    workbook = _part(archive, "xl/workbook.xml")
    if workbook is None:
        raise SpreadsheetError("不是 Excel 工作簿（.xlsx）")
    sheet = _xml(workbook).find(f"{MAIN}sheets/{MAIN}sheet")
    if sheet is None:
        raise SpreadsheetError("工作簿里没有工作表")
    rel_id = sheet.get(f"{OFFICE_REL}id")
    rels = _part(archive, "xl/_rels/workbook.xml.rels")
    if rels is not None:
        for rel in _xml(rels).iter(f"{RELS}Relationship"):
            if rel.get("Id") == rel_id:
                target = rel.get("Target", "")
                if target.startswith("/"):
                    return target.lstrip("/")
                return posixpath.normpath(posixpath.join("xl", target))
    return "xl/worksheets/sheet1.xml"


def _shared_strings(archive: zipfile.ZipFile) -> list[str]:
    data = _part(archive, "xl/sharedStrings.xml")
    if data is None:
        return []
    return ["".join(t.text or "" for t in si.iter(f"{MAIN}t")) for si in _xml(data)]


_REFERENCE = re.compile(r"([A-Z]+)(\d+)")


def _column_index(reference: str) -> int | None:
    match = _REFERENCE.fullmatch(reference or "")
    if not match:
        return None
    index = 0
    for letter in match.group(1):
        index = index * 26 + ord(letter) - 64
    return index - 1


def _cell_value(cell, strings: list[str]):
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        return "".join(t.text or "" for t in cell.iter(f"{MAIN}t"))
    value = cell.findtext(f"{MAIN}v")
    if value is None:
        return None
    if kind == "s":
        try:
            return strings[int(value)]
        except (ValueError, IndexError):
            return None
    if kind == "b":
        return value == "1"
    if kind in ("str", "e"):
        return value
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() else number


def read_first_sheet(data: bytes, *, max_rows: int) -> list[tuple[int, list]]:
    """``(row number as shown in the spreadsheet, [cell values])`` for every non-empty row.

    Raises :class:`SpreadsheetError` for a file that is not an XLSX workbook, and when the sheet
    has more than ``max_rows`` rows with content.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as error:
        raise SpreadsheetError("不是 Excel 工作簿（.xlsx），请用下载的模板填写后上传") from error
    with archive:
        strings = _shared_strings(archive)
        sheet = _part(archive, _first_sheet_path(archive))
        if sheet is None:
            raise SpreadsheetError("工作簿里没有工作表")
        rows: list[tuple[int, list]] = []
        next_number = 1
        for row in _xml(sheet).iter(f"{MAIN}row"):
            try:
                number = int(row.get("r") or next_number)
            except ValueError:
                number = next_number
            next_number = number + 1
            values: list = []
            position = 0
            for cell in row.iter(f"{MAIN}c"):
                column = _column_index(cell.get("r", "").lstrip("$"))
                position = position if column is None else column
                if position >= MAX_COLUMNS:
                    break
                value = _cell_value(cell, strings)
                if isinstance(value, str):
                    value = value.strip()
                if value not in (None, ""):
                    values.extend([None] * (position + 1 - len(values)))
                    values[position] = value
                position += 1
            if values:
                if len(rows) >= max_rows:
                    raise SpreadsheetError(f"一次最多导入 {max_rows - 1} 份，请分批导入")
                rows.append((number, values))
        return rows


def excel_serial_to_date(serial: float) -> date:
    """A date typed into Excel is stored as days since 1899-12-30 (the 1900 leap-year quirk)."""
    return date(1899, 12, 30) + timedelta(days=int(serial))
