"""Returned survey forms from a spreadsheet: the template to fill in, and the all-or-nothing import.

The template's columns come from the campaign's own questionnaire: the form number, the return
date, who filled it in, one column per rated item (in the questionnaire's order) and the opinion.
The import checks every row before it adds anything; one bad row refuses the whole file, with
every problem listed by its row number, so a corrected file can simply be uploaded again.
"""

from __future__ import annotations

import io
import logging
import re
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import gettext as _

from .. import db
from ..audit import AuditAction
from ..enums import Satisfaction
from ..spreadsheets import SpreadsheetError, excel_serial_to_date, read_first_sheet
from ..surveys import SurveyCampaign, SurveyResponse
from . import ValidationFailed
from .audit_log import record_audit
from .guards import ensure_permission
from .surveys import EMPTY_FORM, ensure_campaign_visible, new_survey_response, returned_on_problem

logger = logging.getLogger(__name__)

FORM_NUMBER = "问卷编号"
RETURNED_ON = "回收日期"
RESPONDENT = "填表人/房号"
OPINION = "意见和建议"
#: Spreadsheet rows accepted at once (the header row included).
MAX_ROWS = 5001
MAX_FILE_BYTES = 10 * 1024 * 1024
#: What a rating cell may say (the Chinese words of the paper form; blank means "not rated").
RATING_WORDS = {
    "满意": Satisfaction.satisfied,
    "基本满意": Satisfaction.basically_satisfied,
    "不满意": Satisfaction.dissatisfied,
}
#: Errors listed in full; past this many the message says how many more there are.
MAX_LISTED_ERRORS = 50


class SurveyImportFailed(ValidationFailed):
    """The file was refused; ``errors`` lists every problem (row number first)."""

    def __init__(self, errors: list[str]) -> None:
        shown = errors[:MAX_LISTED_ERRORS]
        more = len(errors) - len(shown)
        summary = _("没有导入任何问卷，请改正以下问题后重新上传：")
        text = summary + "；".join(shown)
        if more:
            text += _("……另有 %(n)s 处问题", n=more)
        super().__init__(text, field="file")
        self.errors = errors


def template_columns(campaign: SurveyCampaign) -> list[str]:
    """The template's header row, in order."""
    titles = [item.title for item in campaign.template.items]
    return [FORM_NUMBER, RETURNED_ON, RESPONDENT, *titles, OPINION]


def _check_columns_unique(campaign: SurveyCampaign) -> None:
    columns = template_columns(campaign)
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise ValidationFailed(
            _(
                "问卷模板中有重名的评价项目或与固定列重名：%(names)s，请先在问卷模板中改名",
                names="、".join(repeated),
            )
        )


def survey_form_template_xlsx(campaign: SurveyCampaign, *, by) -> bytes:
    """The workbook to type the returned forms into: one row per form."""
    import xlsxwriter

    ensure_permission(by, "survey.manage")
    ensure_campaign_visible(campaign, by=by)
    _check_columns_unique(campaign)
    columns = template_columns(campaign)
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    header = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    text = book.add_format({"num_format": "@"})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet = book.add_worksheet("回收问卷")
    sheet.write_row(0, 0, columns, header)
    sheet.freeze_panes(1, 0)
    last_row = MAX_ROWS - 1
    sheet.set_column(0, 0, 12, text)
    sheet.set_column(1, 1, 12, day)
    sheet.set_column(2, 2, 14, text)
    first_item, last_item = 3, len(columns) - 2
    if last_item >= first_item:
        sheet.set_column(first_item, last_item, 10)
        sheet.data_validation(
            1,
            first_item,
            last_row,
            last_item,
            {
                "validate": "list",
                "source": list(RATING_WORDS),
                "error_message": "只能填 满意、基本满意、不满意，或留空",
            },
        )
    sheet.set_column(len(columns) - 1, len(columns) - 1, 40, text)
    notes = book.add_worksheet("填写说明")
    notes.set_column(0, 0, 90)
    for row, line in enumerate(
        [
            f"调查：{campaign.name}（问卷：{campaign.template.name}）",
            "每份回收的问卷填一行；第一行是列名，请不要改动、删除或增加列。",
            "问卷编号：必填，同一次调查内不能重复（已导入过的编号会被拒绝）。",
            "回收日期：必填，如 2026-03-01；不能晚于今天，也不能早于调查开始日期"
            f"（{campaign.starts_on.isoformat()}）。",
            "各评价项目：填 满意、基本满意、不满意；问卷上没有评价的项目留空。",
            "每份问卷至少要有一项评价或填写了意见和建议。",
            "导入时先检查全部行：有任何一行出错，整个文件都不导入，并列出每一行的问题。",
        ]
    ):
        notes.write(row, 0, line)
    book.close()
    return buffer.getvalue()


_DATE_TEXT = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:\s.*)?")


def _parse_day(value) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 1 <= value <= 2958465:  # Excel's own date range (1900-01-01 … 9999-12-31)
            return excel_serial_to_date(value)
        return None
    match = _DATE_TEXT.fullmatch(str(value).strip())
    if not match:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _header(row: list) -> list[str]:
    return [_cell_text(value) for value in row]


def import_survey_forms(campaign: SurveyCampaign, *, by, data: bytes) -> list[SurveyResponse]:
    """Check every row of the uploaded workbook, then save one response per row.

    Raises :class:`SurveyImportFailed` (listing each problem with its row number) without adding
    anything when any row is wrong. Never commits.
    """
    ensure_permission(by, "survey.manage")
    ensure_campaign_visible(campaign, by=by)
    _check_columns_unique(campaign)
    if not data:
        raise ValidationFailed(_("请选择要导入的 Excel 文件"), field="file")
    if len(data) > MAX_FILE_BYTES:
        raise ValidationFailed(_("文件太大（最大 10 MB）"), field="file")
    try:
        rows = read_first_sheet(data, max_rows=MAX_ROWS)
    except SpreadsheetError as error:
        raise ValidationFailed(str(error), field="file") from error
    if not rows:
        raise SurveyImportFailed([_("文件是空的：第 1 行应是列名，从第 2 行起每行一份问卷")])

    header_number, header_row = rows[0]
    header = _header(header_row)
    expected = template_columns(campaign)
    errors: list[str] = []
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        if not name:
            continue
        if name not in expected:
            errors.append(_("第 %(row)s 行：未知的列“%(name)s”", row=header_number, name=name))
        elif name in positions:
            errors.append(_("第 %(row)s 行：列“%(name)s”重复", row=header_number, name=name))
        else:
            positions[name] = index
    missing = [name for name in expected if name not in positions]
    if missing:
        errors.append(
            _(
                "第 %(row)s 行：缺少列“%(names)s”，请使用本次调查下载的模板",
                row=header_number,
                names="”“".join(missing),
            )
        )
    if errors:
        raise SurveyImportFailed(errors)

    items = [(item.id, item.title) for item in campaign.template.items]
    known_columns = set(positions.values())
    already = set(
        db.session.scalars(
            sa.select(SurveyResponse.form_number).where(
                SurveyResponse.campaign_id == campaign.id,
                SurveyResponse.form_number.is_not(None),
            )
        )
    )
    seen: dict[str, int] = {}
    checked = []
    for number, row in rows[1:]:

        def cell(name, row=row):
            index = positions[name]
            return row[index] if index < len(row) else None

        row_errors: list[str] = []
        stray = [i for i, value in enumerate(row) if value is not None and i not in known_columns]
        if stray:
            row_errors.append(_("第 %(row)s 行：有内容写在没有列名的列里", row=number))

        form_number = _cell_text(cell(FORM_NUMBER))
        if not form_number:
            row_errors.append(_("第 %(row)s 行：缺少问卷编号", row=number))
        elif len(form_number) > 40:
            row_errors.append(_("第 %(row)s 行：问卷编号超过 40 个字", row=number))
        elif form_number in seen:
            row_errors.append(
                _(
                    "第 %(row)s 行：问卷编号“%(number)s”与第 %(first)s 行重复",
                    row=number,
                    number=form_number,
                    first=seen[form_number],
                )
            )
        elif form_number in already:
            row_errors.append(
                _(
                    "第 %(row)s 行：问卷编号“%(number)s”已经录入过",
                    row=number,
                    number=form_number,
                )
            )
        else:
            seen[form_number] = number

        returned_value = cell(RETURNED_ON)
        returned_on = None
        if returned_value is None:
            row_errors.append(_("第 %(row)s 行：缺少回收日期", row=number))
        else:
            returned_on = _parse_day(returned_value)
            if returned_on is None:
                row_errors.append(
                    _(
                        "第 %(row)s 行：回收日期“%(value)s”不是有效日期（如 2026-03-01）",
                        row=number,
                        value=_cell_text(returned_value),
                    )
                )
            else:
                problem = returned_on_problem(campaign, returned_on)
                if problem:
                    row_errors.append(_("第 %(row)s 行：%(problem)s", row=number, problem=problem))

        respondent = _cell_text(cell(RESPONDENT))
        if len(respondent) > 100:
            row_errors.append(_("第 %(row)s 行：填表人/房号超过 100 个字", row=number))

        answered = {}
        for item_id, title in items:
            word = _cell_text(cell(title))
            if not word:
                continue
            rating = RATING_WORDS.get(word)
            if rating is None:
                row_errors.append(
                    _(
                        "第 %(row)s 行：“%(item)s”填的“%(value)s”不是有效评价，"
                        "只能填“满意”“基本满意”“不满意”或留空",
                        row=number,
                        item=title,
                        value=word,
                    )
                )
            else:
                answered[item_id] = rating
        opinion = _cell_text(cell(OPINION))
        if not answered and not opinion and not row_errors:
            row_errors.append(_("第 %(row)s 行：%(problem)s", row=number, problem=EMPTY_FORM))

        errors.extend(row_errors)
        checked.append((form_number, returned_on, respondent, answered, opinion))

    if not checked:
        raise SurveyImportFailed([_("文件里没有问卷：从第 2 行起每行填一份问卷")])
    if errors:
        raise SurveyImportFailed(errors)

    responses = [
        new_survey_response(
            campaign,
            by=by,
            answered=answered,
            returned_on=returned_on,
            respondent=respondent,
            opinion=opinion,
            form_number=form_number,
        )
        for form_number, returned_on, respondent, answered, opinion in checked
    ]
    try:
        db.session.flush()
    except sa.exc.IntegrityError as error:
        # Only a form number saved by another upload since the check above can get here;
        # the caller rolls back, so nothing of this file stays.
        raise SurveyImportFailed([_("有问卷编号刚被另一次导入或录入使用，请重新上传")]) from error
    record_audit(
        AuditAction.create,
        campaign,
        by=by,
        summary=f"导入回收问卷 {len(responses)} 份（{campaign.name}）",
        data={"campaign_id": campaign.id, "forms": len(responses)},
    )
    logger.info("survey %s: %s forms imported by user %s", campaign.id, len(responses), by.id)
    return responses
